"""mx.linalg on complex64 input: svd, eigh, eigvalsh, eig, eigvals and the singular-value norms
(the ops MLX takes complex64 for) against numpy.linalg, on contiguous and non-contiguous views,
batched; the other ops and the derivatives refuse complex64 as MLX does."""

import numpy as np
import pytest

import pullback.core as mx

L = mx.linalg
RNG = np.random.default_rng(11)
TOL = 2e-4  # complex64 LAPACK results against numpy's complex128 ones, on O(1) matrices


def crand(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


def hermitian(*shape):
    x = crand(*shape)
    return (x + np.conj(np.swapaxes(x, -1, -2))).astype(np.complex64)


def carr(x):
    return mx.array(np.asarray(x).astype(np.complex64), dtype=mx.complex64)


def views(x):
    """(name, pullback array) pairs holding x: contiguous, a transposed view, a reversed view and
    a strided slice."""
    t = mx.swapaxes(carr(np.swapaxes(x, -1, -2).copy()), -1, -2)
    r = carr(np.flip(x, -2).copy())[..., ::-1, :]
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), np.complex64)
    wide[..., 1::2] = x
    s = carr(wide)[..., 1::2]
    return [("contiguous", carr(x)), ("transposed", t), ("reversed", r), ("strided", s)]


def H(x):
    return np.conj(np.swapaxes(x, -1, -2))


def unitary_error(q):
    eye = np.eye(q.shape[-1])
    return np.abs(H(q) @ q - eye).max()


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (5, 5), (2, 5, 3), (3, 2, 4), (1, 1), (3, 0)])
def test_svd(shape):
    a = crand(*shape)
    m, n = shape[-2:]
    k = min(m, n)
    expected_s = np.linalg.svd(a.astype(np.complex128), compute_uv=False)
    for name, x in views(a):
        u, s, vt = L.svd(x, stream=mx.cpu)
        assert (u.dtype, s.dtype, vt.dtype) == (mx.complex64, mx.float32, mx.complex64), name
        assert u.shape == shape[:-2] + (m, m) and vt.shape == shape[:-2] + (n, n), name
        u, s, vt = np.array(u), np.array(s), np.array(vt)
        np.testing.assert_allclose(s, expected_s, atol=TOL, err_msg=name)
        if m > 0 and n > 0:
            assert unitary_error(u) < TOL and unitary_error(vt) < TOL, name
        rebuilt = (u[..., :, :k] * s[..., None, :]) @ vt[..., :k, :]
        np.testing.assert_allclose(rebuilt, a, atol=TOL, err_msg=name)
        values = L.svd(x, compute_uv=False, stream=mx.cpu)
        assert values.dtype == mx.float32
        np.testing.assert_allclose(np.array(values), expected_s, atol=TOL, err_msg=name)


@pytest.mark.parametrize("uplo", ["L", "U"])
@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3), (1, 1), (0, 0)])
def test_eigh_eigvalsh(shape, uplo):
    # A general complex matrix: only the triangle that UPLO names is read (its diagonal's real
    # part), as numpy.linalg.eigh does.
    a = crand(*shape)
    expected_w, _ = np.linalg.eigh(a.astype(np.complex128), UPLO=uplo)
    tri = np.tril if uplo == "L" else np.triu
    h = tri(a.astype(np.complex128))
    h = h + H(h)
    h[..., np.arange(shape[-1]), np.arange(shape[-1])] /= 2
    for name, x in views(a):
        w, v = L.eigh(x, UPLO=uplo, stream=mx.cpu)
        assert (w.dtype, v.dtype) == (mx.float32, mx.complex64), name
        w, v = np.array(w), np.array(v)
        np.testing.assert_allclose(w, expected_w, atol=TOL, err_msg=name)
        if shape[-1] > 0:
            assert unitary_error(v) < TOL, name
        np.testing.assert_allclose(h @ v, v * w[..., None, :], atol=5 * TOL, err_msg=name)
        wv = L.eigvalsh(x, UPLO=uplo, stream=mx.cpu)
        assert wv.dtype == mx.float32
        np.testing.assert_allclose(np.array(wv), expected_w, atol=TOL, err_msg=name)


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3), (1, 1), (0, 0)])
def test_eig_eigvals(shape):
    a = crand(*shape)
    expected = np.sort_complex(np.linalg.eigvals(a.astype(np.complex128)).reshape(-1))
    for name, x in views(a):
        w, v = L.eig(x, stream=mx.cpu)
        assert (w.dtype, v.dtype) == (mx.complex64, mx.complex64), name
        w, v = np.array(w).astype(np.complex128), np.array(v).astype(np.complex128)
        np.testing.assert_allclose(np.sort_complex(w.reshape(-1)), expected, atol=TOL, err_msg=name)
        np.testing.assert_allclose(a @ v, v * w[..., None, :], atol=5 * TOL, err_msg=name)
        if shape[-1] > 0:
            np.testing.assert_allclose(np.linalg.norm(v, axis=-2), 1.0, atol=TOL, err_msg=name)
        wv = np.array(L.eigvals(x, stream=mx.cpu)).astype(np.complex128)
        np.testing.assert_allclose(np.sort_complex(wv.reshape(-1)), expected, atol=TOL, err_msg=name)


def test_eig_of_a_real_matrix_as_complex():
    # A rotation has eigenvalues +-i, whether it arrives real or complex.
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    w = np.array(L.eigvals(carr(rot), stream=mx.cpu))
    np.testing.assert_allclose(sorted(w, key=lambda z: z.imag), [-1j, 1j], atol=1e-6)


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_singular_value_norms(ord):
    a = crand(3, 4, 5)
    expected = np.linalg.norm(a.astype(np.complex128), ord=ord, axis=(1, 2))
    got = L.norm(carr(a), ord=ord, axis=(1, 2), stream=mx.cpu)
    assert got.dtype == mx.float32
    np.testing.assert_allclose(np.array(got), expected, rtol=TOL)
    # Over other axes, with keepdims.
    expected_k = np.linalg.norm(a.astype(np.complex128), ord=ord, axis=(2, 0), keepdims=True)
    got_k = L.norm(carr(a), ord=ord, axis=(2, 0), keepdims=True, stream=mx.cpu)
    assert got_k.shape == expected_k.shape
    np.testing.assert_allclose(np.array(got_k), expected_k, rtol=TOL)


def test_batch_runs_on_the_pool():
    # Enough matrices that the batch is split over the threads; each must match its own.
    a = crand(64, 6, 6)
    s = np.array(L.svd(carr(a), compute_uv=False, stream=mx.cpu))
    w = np.array(L.eigvalsh(carr(a), stream=mx.cpu))
    for i in range(64):
        np.testing.assert_allclose(s[i], np.linalg.svd(a[i].astype(np.complex128), compute_uv=False),
                                   atol=TOL)
        np.testing.assert_allclose(w[i], np.linalg.eigvalsh(a[i].astype(np.complex128)), atol=TOL)


def test_refusals_match_mlx():
    a = carr(hermitian(3, 3) + 4 * np.eye(3))

    def raises(text, f):
        with pytest.raises(ValueError, match=text):
            mx.eval(f())

    # The ops MLX refuses complex64 for.
    raises(r"\[linalg::inv\]", lambda: L.inv(a))
    raises(r"\[linalg::tri_inv\]", lambda: L.tri_inv(a))
    raises(r"\[linalg::solve\]", lambda: L.solve(a, a[:, :1]))
    raises(r"\[linalg::solve_triangular\]", lambda: L.solve_triangular(a, a[:, :1]))
    raises(r"\[linalg::qr\]", lambda: L.qr(a))
    raises(r"\[linalg::cholesky\]", lambda: L.cholesky(a))
    raises(r"\[linalg::cholesky_inv\]", lambda: L.cholesky_inv(a))
    raises(r"\[linalg::lu", lambda: L.lu(a))
    raises(r"\[linalg::lu_factor\]", lambda: L.lu_factor(a))
    raises(r"\[linalg::pinv\]", lambda: L.pinv(a))
    raises(r"\[linalg::det\]", lambda: L.det(a))
    raises(r"\[linalg::slogdet\]", lambda: L.slogdet(a))
    # Non-finite input.
    bad = carr(np.array([[np.nan, 1], [1, 1]]))
    raises(r"\[linalg::svd\] .*NaN", lambda: L.svd(bad))
    raises(r"\[linalg::eigh\] .*NaN", lambda: L.eigh(bad))
    raises(r"\[linalg::eigvals\] .*NaN", lambda: L.eigvals(bad))
    # No derivatives for complex input (MLX has none either).
    cot_s = mx.ones((3,))
    raises(r"\[SVD\] The vjp of a complex64 input",
           lambda: mx.vjp(lambda x: L.svd(x, compute_uv=False), [a], [cot_s])[1][0])
    raises(r"\[SVD\] The jvp of a complex64 input",
           lambda: mx.jvp(lambda x: L.svd(x, compute_uv=False), [a], [a])[1][0])
    raises(r"\[Eigh\] The vjp of a complex64 input",
           lambda: mx.vjp(lambda x: L.eigvalsh(x), [a], [cot_s])[1][0])
    raises(r"\[Eigh\] The jvp of a complex64 input",
           lambda: mx.jvp(lambda x: L.eigh(x)[1], [a], [a])[1][0])
    raises(r"\[Eig\] The vjp", lambda: mx.vjp(lambda x: L.eigvals(x), [a], [a[0]])[1][0])
