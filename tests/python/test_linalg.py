"""mx.linalg against numpy.linalg / scipy.linalg (values, batching, layouts, errors) and every
derivative (vjp, jvp, grad) against central differences in float64 (helpers.check_grad)."""

import numpy as np
import pytest
import scipy.linalg as sl

import pullback.core as mx
import pullback.core.linalg as pl
from helpers import assert_close, check_grad

L = mx.linalg
RNG = np.random.default_rng(7)
DTYPES = [("float32", np.float32), ("float64", np.float64)]


def rand(*shape):
    return RNG.standard_normal(shape)


def well_conditioned(*shape):
    n = shape[-1]
    return rand(*shape) + 3 * np.eye(n)


def spd(*shape):
    x = rand(*shape)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def symmetric(*shape):
    x = rand(*shape)
    return x + np.swapaxes(x, -1, -2)


def arr(x, dtype="float64"):
    return mx.array(np.asarray(x), dtype=getattr(mx, dtype))


def layouts(x):
    """x itself, as a transposed view, as a reversed view and as a strided slice: (name, NumPy
    value, pullback array), all holding the same values."""
    base = arr(x)
    t = mx.swapaxes(arr(np.swapaxes(x, -1, -2).copy()), -1, -2)
    r = arr(np.flip(x, -2).copy())[..., ::-1, :]
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],))
    wide[..., ::2] = x
    s = arr(wide)[..., ::2]
    return [("contiguous", base), ("transposed", t), ("reversed", r), ("strided", s)]


def test_module_and_import():
    assert mx.linalg is pl
    assert set(pl.__all__) == {"cholesky", "cholesky_inv", "cross", "det", "eig", "eigh",
                               "eigvals", "eigvalsh", "inv", "lu", "lu_factor", "norm", "pinv",
                               "qr", "slogdet", "solve", "solve_triangular", "svd", "tri_inv"}
    # The stream argument is accepted (MLX requires stream=mx.cpu; it is optional here).
    assert_close(L.inv(arr([[2.0]]), stream=mx.cpu), [[0.5]])


# ---------------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize("dname,npt", DTYPES)
def test_inverse_family_values(dname, npt):
    tol = dict(rtol=1e-4, atol=1e-5) if dname == "float32" else {}
    a = well_conditioned(2, 3, 4, 4)
    for name, x in layouts(a):
        x = x.astype(getattr(mx, dname))
        assert_close(L.inv(x), np.linalg.inv(a), dtype=getattr(mx, dname), **tol)
        assert_close(L.tri_inv(x), np.linalg.inv(np.tril(a)), **tol)
        assert_close(L.tri_inv(x, upper=True), np.linalg.inv(np.triu(a)), **tol)
    s = spd(3, 5, 5)
    c = np.linalg.cholesky(s)
    assert_close(L.cholesky(arr(s, dname)), c, **tol)
    assert_close(L.cholesky(arr(s, dname), upper=True), np.swapaxes(c, -1, -2), **tol)
    # Only one triangle is read.
    assert_close(L.cholesky(arr(np.tril(s), dname)), c, **tol)
    assert_close(L.cholesky(arr(np.triu(s), dname), upper=True), np.swapaxes(c, -1, -2), **tol)
    assert_close(L.cholesky_inv(arr(c, dname)), np.linalg.inv(s), **tol)
    assert_close(L.cholesky_inv(arr(np.swapaxes(c, -1, -2), dname), upper=True),
                 np.linalg.inv(s), **tol)


@pytest.mark.parametrize("dname,npt", DTYPES)
def test_solve_values(dname, npt):
    tol = dict(rtol=1e-4, atol=1e-5) if dname == "float32" else {}
    a = well_conditioned(3, 4, 4)
    b = rand(3, 4, 2)
    for name, x in layouts(a):
        x = x.astype(getattr(mx, dname))
        assert_close(L.solve(x, arr(b, dname)), np.linalg.solve(a, b), **tol)
        assert_close(L.solve_triangular(x, arr(b, dname)), np.linalg.solve(np.tril(a), b), **tol)
        assert_close(L.solve_triangular(x, arr(b, dname), upper=True),
                     np.linalg.solve(np.triu(a), b), **tol)
    # A vector b, a broadcast batch, transposed right-hand sides, mixed dtypes.
    assert_close(L.solve(arr(a[0], dname), arr(b[0, :, 0], dname)),
                 np.linalg.solve(a[0], b[0, :, 0]), **tol)
    assert_close(L.solve(arr(a, dname), arr(b[0], dname)), np.linalg.solve(a, b[0]), **tol)
    assert_close(L.solve(arr(a[0], dname), arr(b, dname)), np.linalg.solve(a[0], b), **tol)
    bt = mx.swapaxes(arr(np.swapaxes(b, -1, -2).copy(), dname), -1, -2)
    assert_close(L.solve(arr(a, dname), bt), np.linalg.solve(a, b), **tol)
    assert_close(L.solve_triangular(arr(a[0], dname), arr(b[0, :, 0], dname), upper=True),
                 sl.solve_triangular(a[0], b[0, :, 0], lower=False), **tol)
    out = L.solve(arr(a, "float32"), arr(b, "float64"))
    assert out.dtype == mx.float64


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (4, 4), (2, 5, 3), (2, 3, 5), (3, 1, 1)])
@pytest.mark.parametrize("dname", ["float32", "float64"])
def test_factorizations(shape, dname):
    tol = dict(rtol=1e-4, atol=1e-5) if dname == "float32" else dict(rtol=1e-10, atol=1e-12)
    x = rand(*shape)
    m, n = shape[-2:]
    k = min(m, n)
    for name, xa in layouts(x):
        xa = xa.astype(getattr(mx, dname))
        q, r = L.qr(xa)
        assert q.shape == shape[:-2] + (m, k) and r.shape == shape[:-2] + (k, n)
        nq, nr = np.linalg.qr(x)
        # LAPACK's signs, as NumPy's (both Householder).
        assert_close(q, nq, **tol)
        assert_close(r, nr, **tol)
        u, s, vt = L.svd(xa)
        assert u.shape == shape[:-2] + (m, m) and vt.shape == shape[:-2] + (n, n)
        assert_close(s, np.linalg.svd(x, compute_uv=False), **tol)
        un, sn, vtn = (np.array(t).astype(np.float64) for t in (u, s, vt))
        np.testing.assert_allclose((un[..., :k] * sn[..., None, :]) @ vtn[..., :k, :], x, **tol)
        np.testing.assert_allclose(np.swapaxes(un, -1, -2) @ un, np.broadcast_to(np.eye(m), un.shape), atol=1e-5)
        np.testing.assert_allclose(vtn @ np.swapaxes(vtn, -1, -2), np.broadcast_to(np.eye(n), vtn.shape), atol=1e-5)
        sv = L.svd(xa, compute_uv=False)
        assert_close(sv, np.linalg.svd(x, compute_uv=False), **tol)
        assert_close(L.pinv(xa), np.linalg.pinv(x), **{**tol, "rtol": tol["rtol"] * 10})
        p, lo, up = L.lu(xa)
        assert p.dtype == mx.uint32 and p.shape == shape[:-1]
        pn, ln, unn = (np.array(t) for t in (p, lo, up))
        rec = np.take_along_axis(ln, pn[..., None].astype(np.int64), axis=-2) @ unn
        np.testing.assert_allclose(rec, x, rtol=1e-4, atol=1e-5)
        lu, piv = L.lu_factor(xa)
        flat = x.reshape(-1, m, n)
        ref = [sl.lu_factor(f) for f in flat]
        assert_close(lu, np.stack([r_[0] for r_ in ref]).reshape(x.shape), **tol)
        np.testing.assert_array_equal(np.array(piv).reshape(-1, k), np.stack([r_[1] for r_ in ref]))


def test_lu_permutation_matches_scipy():
    # MLX's permutation p (which ours follows) is the row index of the one in each row of
    # SciPy's P, where x = P @ L @ U.
    for shape in [(5, 5), (6, 4), (4, 6)]:
        x = rand(*shape).astype(np.float32)
        p = L.lu(mx.array(x))[0]
        np.testing.assert_array_equal(np.array(p), np.argmax(sl.lu(x)[0], axis=1))


def test_lu_matches_mlx_permutation():
    mlxc = pytest.importorskip("mlx.core")
    for shape in [(5, 5), (6, 4), (4, 6)]:
        x = rand(*shape).astype(np.float32)
        p = L.lu(mx.array(x))[0]
        mp = mlxc.linalg.lu(mlxc.array(x), stream=mlxc.cpu)[0]
        np.testing.assert_array_equal(np.array(p), np.array(mp))


@pytest.mark.parametrize("dname", ["float32", "float64"])
def test_eigen_values(dname):
    tol = dict(rtol=1e-4, atol=1e-4) if dname == "float32" else dict(rtol=1e-10, atol=1e-11)
    s = symmetric(2, 5, 5)
    lower = np.tril(s) + np.swapaxes(np.tril(s, -1), -1, -2)
    for name, x in layouts(rand(2, 5, 5)):
        xv = np.array(x)
        x = x.astype(getattr(mx, dname))
        w, v = L.eigh(x)
        nw, nv = np.linalg.eigh(xv, UPLO="L")
        assert_close(w, nw, **tol)
        # Eigenvectors up to sign.
        vn = np.array(v).astype(np.float64)
        sign = np.sign(np.sum(vn * nv, axis=-2, keepdims=True))
        np.testing.assert_allclose(vn * sign, nv, atol=1e-4)
        assert_close(L.eigvalsh(x, UPLO="U"), np.linalg.eigvalsh(xv, UPLO="U"), **tol)
    assert_close(L.eigvalsh(arr(lower, dname)), np.linalg.eigvalsh(s), **tol)
    a = rand(3, 4, 4)
    w, v = L.eig(arr(a, dname))
    assert w.dtype == mx.complex64 and v.dtype == mx.complex64
    w, v = np.array(w).astype(np.complex128), np.array(v).astype(np.complex128)
    np.testing.assert_allclose(a @ v, v * w[..., None, :], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-2), 1, atol=1e-5)
    np.testing.assert_allclose(np.sort_complex(np.array(L.eigvals(arr(a, dname))).ravel()),
                               np.sort_complex(np.linalg.eigvals(a).ravel()), atol=1e-4)
    # A rotation: a complex pair.
    w = np.array(L.eigvals(arr([[0.0, -1.0], [1.0, 0.0]], dname)))
    np.testing.assert_allclose(np.sort_complex(w), [-1j, 1j], atol=1e-6)


@pytest.mark.parametrize("dname", ["float16", "bfloat16", "float32", "float64", "int32"])
def test_det_slogdet(dname):
    a = well_conditioned(3, 3, 3) if dname != "int32" else RNG.integers(-3, 4, (3, 3, 3))
    x = arr(a, dname)
    ref = np.linalg.det(np.array(x.astype(mx.float64)))
    want = {"float16": mx.float16, "bfloat16": mx.bfloat16, "float64": mx.float64}.get(dname, mx.float32)
    d = L.det(x)
    assert d.dtype == want
    tol = {"float16": 1e-2, "bfloat16": 5e-2}.get(dname, 1e-5)
    np.testing.assert_allclose(np.array(d.astype(mx.float64)), ref, rtol=tol, atol=tol)
    sign, logabs = L.slogdet(x)
    np.testing.assert_allclose(np.array(sign.astype(mx.float64)), np.sign(ref))
    np.testing.assert_allclose(np.array(logabs.astype(mx.float64)), np.log(np.abs(ref)), rtol=tol, atol=tol)
    # Singular: det 0, slogdet (0, -inf), no error (NumPy's and MLX's results).
    sing = arr([[1.0, 2.0], [2.0, 4.0]])
    assert float(L.det(sing)) == 0
    sign, logabs = L.slogdet(sing)
    assert float(sign) == 0 and float(logabs) == -np.inf


def test_cross_values():
    a, b = rand(4, 3), rand(4, 3)
    assert_close(L.cross(arr(a), arr(b)), np.cross(a, b))
    assert_close(L.cross(arr(a.T), arr(b.T), axis=0), np.cross(a.T, b.T, axis=0))
    assert_close(L.cross(arr(a), arr(b[0])), np.cross(a, b[0]))
    assert_close(L.cross(arr(a)[::-1], arr(b)), np.cross(a[::-1], b))
    # 2-vectors count as 3-vectors with a zero third component (MLX).
    assert_close(L.cross(arr([1.0, 1.0, 1.0]), arr([1.0, 1.0])), [-1.0, 1.0, 0.0])
    c = L.cross(mx.array([1, 2, 3]), mx.array([4, 5, 6]))
    assert c.dtype == mx.int32 and c.tolist() == [-3, 6, -3]


MATRIX_ORDS = [None, "fro", "nuc", np.inf, -np.inf, 1, -1, 2, -2]
VECTOR_ORDS = [None, np.inf, -np.inf, 0, 1, -1, 2, 3, 0.5]


@pytest.mark.parametrize("dname", ["float32", "float64"])
def test_norm_values(dname):
    tol = dict(rtol=1e-5, atol=1e-5) if dname == "float32" else {}
    x = rand(2, 3, 4)
    xa = arr(x, dname)
    for o in MATRIX_ORDS:
        for axes in [(1, 2), (2, 0), (-1, -3)]:
            for kd in (False, True):
                assert_close(L.norm(xa, ord=o, axis=axes, keepdims=kd),
                             np.linalg.norm(x, ord=o, axis=axes, keepdims=kd), **tol)
    for o in VECTOR_ORDS:
        for ax in (0, 1, -1):
            assert_close(L.norm(xa, ord=o, axis=ax), np.linalg.norm(x, ord=o, axis=ax), **tol)
    assert_close(L.norm(xa), np.linalg.norm(x), **tol)
    assert_close(L.norm(xa, keepdims=True), np.linalg.norm(x, keepdims=True), **tol)
    assert_close(L.norm(arr(x[0, 0], dname), ord=3), np.linalg.norm(x[0, 0], ord=3), **tol)
    assert_close(L.norm(arr(x[0], dname), ord=2), np.linalg.norm(x[0], ord=2), **tol)
    assert_close(L.norm(arr(x[0], dname).T, ord="nuc"), np.linalg.norm(x[0].T, ord="nuc"), **tol)


def test_norm_dtypes():
    assert L.norm(mx.array([3, 4])).dtype == mx.float32
    assert float(L.norm(mx.array([3, 4]))) == 5.0
    assert L.norm(mx.array([3.0, 4.0], dtype=mx.float16)).dtype == mx.float16
    z = mx.array([3 + 4j, 0j])
    assert L.norm(z).dtype == mx.float32 and abs(float(L.norm(z)) - 5) < 1e-6
    assert abs(float(L.norm(z, ord=1)) - 5) < 1e-6
    assert L.norm(mx.ones((2, 2), dtype=mx.float16), ord=2).dtype == mx.float16


def test_batched_parallel_and_empty():
    # Many small problems take the pool path; compare each with NumPy.
    a = well_conditioned(64, 8, 8)
    assert_close(L.inv(arr(a)), np.linalg.inv(a))
    s = spd(64, 8, 8)
    assert_close(L.eigvalsh(arr(s)), np.linalg.eigvalsh(s))
    assert_close(L.svd(arr(a), compute_uv=False), np.linalg.svd(a, compute_uv=False))
    # Empty batches and 0 x 0 matrices.
    for f in (L.inv, L.cholesky, L.det, L.pinv, L.eigvalsh):
        assert f(mx.zeros((0, 3, 3))).shape[0] == 0
    assert L.inv(mx.zeros((2, 0, 0))).shape == (2, 0, 0)
    assert L.det(mx.zeros((0, 0))).item() == 1.0
    assert [t.shape for t in L.qr(mx.zeros((0, 3)))] == [(0, 0), (0, 3)]
    assert [t.shape for t in L.svd(mx.zeros((2, 0)))] == [(2, 2), (0,), (0, 0)]
    assert L.solve(mx.eye(3), mx.zeros((3, 0))).shape == (3, 0)


def test_errors():
    def raises(exc, text, f):
        with pytest.raises(exc, match=text):
            mx.eval(f())

    sing = arr([[1.0, 2.0], [2.0, 4.0]])
    raises(ValueError, r"\[linalg::inv\] The matrix is singular", lambda: L.inv(sing))
    raises(ValueError, r"matrix 1 of the batch", lambda: L.inv(mx.stack([mx.eye(2), sing])))
    raises(ValueError, r"\[linalg::solve\] The matrix is singular", lambda: L.solve(sing, mx.ones(2)))
    raises(ValueError, r"\[linalg::tri_inv\] .*singular", lambda: L.tri_inv(arr([[0.0, 0], [1, 1]])))
    raises(ValueError, r"\[linalg::solve_triangular\] .*singular",
           lambda: L.solve_triangular(arr([[0.0, 0], [1, 1]]), mx.ones(2)))
    raises(ValueError, r"\[linalg::cholesky\] .*not positive definite", lambda: L.cholesky(-mx.eye(2)))
    raises(ValueError, r"\[linalg::svd\] .*NaN", lambda: L.svd(arr([[np.nan, 1.0], [1, 1]])))
    raises(ValueError, r"\[linalg::eigh\] .*NaN", lambda: L.eigh(arr([[np.inf, 1.0], [1, 1]])))
    raises(ValueError, r"\[linalg::inv\] .*square", lambda: L.inv(mx.ones((2, 3))))
    raises(ValueError, r"\[linalg::inv\] .*>= 2 dimensions", lambda: L.inv(mx.ones((2,))))
    raises(ValueError, r"\[linalg::inv\] .*float32 or float64", lambda: L.inv(mx.array([[1, 2], [3, 4]])))
    raises(ValueError, r"\[linalg::qr\] .*float32 or float64", lambda: L.qr(mx.ones((2, 2), dtype=mx.float16)))
    raises(ValueError, r"\[linalg::solve\] .*promote", lambda: L.solve(mx.array([[1, 0], [0, 1]]), mx.array([1, 2])))
    raises(ValueError, r"\[linalg::solve\] Last dimension", lambda: L.solve(mx.eye(2), mx.ones(3)))
    raises(ValueError, r"\[linalg::solve\] .*broadcast", lambda: L.solve(mx.ones((2, 2, 2)), mx.ones((3, 2, 1))))
    raises(ValueError, r"\[linalg::eigh\] UPLO", lambda: L.eigh(mx.eye(2), UPLO="X"))
    raises(ValueError, r"\[linalg::norm\] Invalid ord 3", lambda: L.norm(mx.eye(2), ord=3))
    raises(ValueError, r"\[linalg::norm\] Invalid ord 'bad'", lambda: L.norm(mx.eye(2), ord="bad"))
    raises(ValueError, r"\[linalg::norm\] Norm 'fro' only supported for matrices",
           lambda: L.norm(mx.ones(3), ord="fro"))
    raises(ValueError, r"\[linalg::norm\] Received 3 axes", lambda: L.norm(mx.ones((2, 2, 2)), ord=2))
    raises(ValueError, r"\[linalg::norm\] Duplicate", lambda: L.norm(mx.ones((2, 2)), axis=(1, 1)))
    raises(ValueError, r"\[linalg::cross\] .*size 2 or 3", lambda: L.cross(mx.ones(4), mx.ones(4)))
    raises(IndexError, r"\[linalg::cross\] Axis 1", lambda: L.cross(mx.ones(3), mx.ones(3), axis=1))
    raises(ValueError, r"\[linalg::cross\] .*bool", lambda: L.cross(mx.ones(3, mx.bool_), mx.ones(3, mx.bool_)))
    raises(ValueError, r"\[Eig\] The vjp", lambda: mx.grad(lambda x: mx.sum(mx.real(L.eigvals(x))))(mx.eye(2)))
    raises(ValueError, r"\[LUFactor\] The jvp",
           lambda: mx.jvp(lambda x: L.lu_factor(x)[0], [mx.eye(2)], [mx.eye(2)])[1][0])
    with pytest.raises(TypeError):
        L.cholesky(mx.eye(2), upper="yes")


# ---------------------------------------------------------------------------------------------
# Derivatives: vjp, jvp and grad against central differences (float64 tight, float32 loose),
# on contiguous and non-contiguous (transposed / reversed) views.

T = lambda x: mx.swapaxes(x, -1, -2)  # noqa: E731


def test_grad_inverse_family():
    a = well_conditioned(2, 3, 3)
    check_grad(lambda x: L.inv(x), [a])
    check_grad(lambda x: L.inv(T(x)[::-1]), [a])
    check_grad(lambda x: L.tri_inv(x), [a])
    check_grad(lambda x: L.tri_inv(T(x), upper=True), [a])
    c = np.linalg.cholesky(spd(3, 3))
    check_grad(lambda x: L.cholesky_inv(x), [c])
    check_grad(lambda x: L.cholesky_inv(T(x), upper=True), [c])


def test_grad_solve():
    a, b = well_conditioned(2, 3, 3), rand(2, 3, 2)
    check_grad(lambda x, y: L.solve(x, y), [a, b])
    check_grad(lambda x, y: L.solve(T(x), y[..., ::-1, :]), [a, b])
    check_grad(lambda x, y: L.solve(x, y), [a, b[0, :, 0]])  # vector b, broadcast over a's batch
    check_grad(lambda x, y: L.solve(x, y), [a[0], b])  # a broadcast over b's batch
    check_grad(lambda x, y: L.solve_triangular(x, y), [a, b])
    check_grad(lambda x, y: L.solve_triangular(T(x), y, upper=True), [a, b])
    check_grad(lambda x, y: L.solve_triangular(x, y, upper=True), [a[0], b[0, :, 0]])


def test_grad_cholesky():
    s = spd(2, 3, 3)
    check_grad(lambda x: L.cholesky(x), [s])
    check_grad(lambda x: L.cholesky(x, upper=True), [s])
    check_grad(lambda x: L.cholesky(T(x)[..., ::-1, ::-1]), [s])


def test_grad_det_slogdet():
    a = well_conditioned(2, 3, 3)
    check_grad(lambda x: L.det(x), [a])
    check_grad(lambda x: L.det(T(x)), [a])
    check_grad(lambda x: L.slogdet(x)[1], [a])
    check_grad(lambda x: L.slogdet(x[..., ::-1, :]), [a])


def _eig_signs(v):
    # Eigen/singular vectors are defined up to sign: fix it by the first row.
    return v * mx.stop_gradient(mx.sign(v[..., :1, :]))


def test_grad_eigh():
    s = symmetric(2, 4, 4)
    check_grad(lambda x: L.eigvalsh(x), [s])
    check_grad(lambda x: L.eigvalsh(x, UPLO="U"), [rand(4, 4)])
    check_grad(lambda x: L.eigvalsh(T(x)), [rand(4, 4)])

    def eigh_fixed(x, uplo="L"):
        w, v = L.eigh(x, UPLO=uplo)
        return w, _eig_signs(v)

    check_grad(eigh_fixed, [s])
    check_grad(lambda x: eigh_fixed(x, "U"), [rand(4, 4)])
    check_grad(lambda x: eigh_fixed(x[::-1, ::-1]), [rand(4, 4)])


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 3, 3)])
def test_grad_svd(shape):
    x = rand(*shape)
    k = min(shape[-2:])
    check_grad(lambda a: L.svd(a, compute_uv=False), [x])

    def svd_fixed(a):
        u, s, vt = L.svd(a)
        u, vt = u[..., :, :k], vt[..., :k, :]
        sign = mx.stop_gradient(mx.sign(u[..., :1, :]))
        return u * sign, s, vt * T(sign)

    check_grad(svd_fixed, [x])
    check_grad(lambda a: svd_fixed(T(a)), [np.swapaxes(x, -1, -2).copy()])


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 2)])
def test_grad_qr(shape):
    x = rand(*shape)
    check_grad(lambda a: L.qr(a), [x])
    check_grad(lambda a: L.qr(a[..., ::-1, :]), [x])


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (3, 3)])
def test_grad_pinv(shape):
    check_grad(lambda a: L.pinv(a), [rand(*shape)])


def test_grad_norm():
    x = rand(3, 4)
    for o in MATRIX_ORDS:
        check_grad(lambda a, o=o: L.norm(a, ord=o), [x])
        check_grad(lambda a, o=o: L.norm(T(a), ord=o, axis=(1, 0), keepdims=True), [x])
    for o in [None, np.inf, -np.inf, 1, 2, 3, 0.5, -1]:
        check_grad(lambda a, o=o: L.norm(a, ord=o, axis=1), [x])
    check_grad(lambda a: L.norm(a), [rand(2, 3, 2)])


def test_grad_cross():
    a, b = rand(4, 3), rand(4, 3)
    check_grad(lambda x, y: L.cross(x, y), [a, b])
    check_grad(lambda x, y: L.cross(T(x), T(y)[..., ::-1], axis=0), [a, b])
    check_grad(lambda x, y: L.cross(x, y), [a, b[0, :2]])


def test_second_derivative_inv():
    # Gradients of gradients go through the same rules.
    a = well_conditioned(3, 3)

    def f(x):
        return mx.sum(mx.grad(lambda y: mx.sum(L.inv(y) ** 2))(x) * x)

    check_grad(f, [a], dtypes=("float64",))


def test_grad_through_one_output_of_a_multi_output_op():
    # Only qr's Q (or eigh's vectors) is used: the dropped sibling output must not break the
    # backward pass, which reads every output of the call.
    rng = np.random.default_rng(11)
    a = rng.standard_normal((4, 4))
    a = a @ a.T + 4 * np.eye(4)
    for f in (lambda m: mx.linalg.qr(m)[0].sum(),
              lambda m: (mx.linalg.eigh(m)[1] ** 2 * mx.arange(4, dtype=mx.float64)).sum()):
        g = mx.grad(f)(mx.array(a, dtype=mx.float64))
        fd = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            p, m = a.copy(), a.copy()
            p[idx] += 1e-6
            m[idx] -= 1e-6
            fd[idx] = (f(mx.array(p, dtype=mx.float64)).item() -
                       f(mx.array(m, dtype=mx.float64)).item()) / 2e-6
        np.testing.assert_allclose(np.array(g), fd, rtol=1e-5, atol=1e-7)
