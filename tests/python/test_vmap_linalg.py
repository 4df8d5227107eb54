"""vmap of the linalg primitives (mx.linalg) and of FFT (mx.fft), checked against a loop over
the examples: every op and variant, batch axes in front, among the leading (stack) axes, on a
matrix axis and negative, unbatched operands, float32/float64, non-contiguous inputs, nested
vmap, and vmap of each primitive's vjp (per-example gradients) and jvp (a batch of tangents)."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy
from vmap_support import check_vmap, loop_vmap

VMAP_COVERED = {"Inverse", "Solve", "Cholesky", "QR", "SVD", "Eigh", "Eig", "LUFactor",
                "Determinant", "FFT"}

DTYPES = [mx.float32, mx.float64]
B = 3


def tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == mx.float32 else dict(rtol=1e-10, atol=1e-12)


def rng(seed=0):
    return np.random.default_rng(seed)


def general(shape, dtype, seed=0):
    """Well-conditioned square matrices (last two axes)."""
    r = rng(seed)
    a = r.standard_normal(shape) + 2 * shape[-1] * np.eye(shape[-1])
    return mx.array(a.astype(np.float64)).astype(dtype)


def spd(shape, dtype, seed=0):
    r = rng(seed)
    a = r.standard_normal(shape)
    a = a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])
    return mx.array(a).astype(dtype)


def dense(shape, dtype, seed=0):
    return mx.array(rng(seed).standard_normal(shape)).astype(dtype)


def batched(make, example, axis, dtype, seed=0):
    """A batch of B examples of shape `example`, the batch at `axis` (negative: from the end)."""
    stacked = make((B,) + tuple(example), dtype, seed)
    return mx.moveaxis(stacked, 0, axis)


# Per-example square ops (one input): name -> (f, maker). Matrices that a kernel reads one
# triangle of get a full matrix: the test also checks that the other triangle is ignored alike.
SQUARE_OPS = {
    "inv": (mx.linalg.inv, general),
    "tri_inv_lower": (lambda a: mx.linalg.tri_inv(a, upper=False), general),
    "tri_inv_upper": (lambda a: mx.linalg.tri_inv(a, upper=True), general),
    "cholesky": (mx.linalg.cholesky, spd),
    "cholesky_upper": (lambda a: mx.linalg.cholesky(a, upper=True), spd),
    "eigh": (mx.linalg.eigh, spd),
    "eigh_U": (lambda a: mx.linalg.eigh(a, UPLO="U"), spd),
    "eigvalsh": (mx.linalg.eigvalsh, spd),
    "eigvalsh_U": (lambda a: mx.linalg.eigvalsh(a, UPLO="U"), spd),
    "det": (mx.linalg.det, general),
    "slogdet": (mx.linalg.slogdet, general),
    "lu_factor": (mx.linalg.lu_factor, dense),
}

# Ops on any (m, n) matrix.
RECT_OPS = {
    "qr": mx.linalg.qr,
    "svd": mx.linalg.svd,
    "svd_values": lambda a: mx.linalg.svd(a, compute_uv=False),
    "lu_factor": mx.linalg.lu_factor,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SQUARE_OPS))
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_square_ops(name, axis, dtype):
    f, make = SQUARE_OPS[name]
    check_vmap(f, batched(make, (4, 4), axis, dtype), in_axes=axis, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SQUARE_OPS))
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_square_ops_on_stacks(name, axis, dtype):
    # Examples that are themselves stacks (2, 3, 3): a batch axis at 0 or 1 stays among the
    # stack axes, at 2 or 3 (a matrix axis) it moves.
    f, make = SQUARE_OPS[name]
    x = mx.moveaxis(make((2, B, 3, 3), dtype, seed=1), 1, axis)
    check_vmap(f, x, in_axes=axis, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(RECT_OPS))
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_rectangular_ops(name, shape, axis, dtype):
    check_vmap(RECT_OPS[name], batched(dense, shape, axis, dtype), in_axes=axis, **tol(dtype))


@pytest.mark.parametrize("vectors", [True, False])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_eig(vectors, axis):
    f = mx.linalg.eig if vectors else mx.linalg.eigvals
    for dtype in DTYPES:
        check_vmap(f, batched(dense, (4, 4), axis, dtype, seed=3), in_axes=axis, rtol=1e-4,
                   atol=1e-5)


@pytest.mark.parametrize("name", ["inv", "tri_inv_upper", "cholesky", "eigh", "slogdet", "lu_factor"])
def test_non_contiguous_inputs(name):
    f, make = SQUARE_OPS[name]
    for dtype in DTYPES:
        stacked = make((B, 4, 4), dtype, seed=2)
        # Transposed matrices (a symmetric one stays valid), reversed batch, batch axis last
        # with reversed columns, every other element of an interleaved stack.
        check_vmap(f, mx.swapaxes(stacked, -1, -2), **tol(dtype))
        check_vmap(f, stacked[::-1], **tol(dtype))
        if make is not spd:
            check_vmap(f, mx.moveaxis(stacked, 0, -1)[:, ::-1], in_axes=-1, **tol(dtype))
            check_vmap(f, mx.stack([stacked, stacked + 1], axis=-1)[..., 0], **tol(dtype))


# ---- solve, solve_triangular ----

SOLVERS = {
    "solve": (mx.linalg.solve, general),
    "solve_triangular_lower": (lambda a, b: mx.linalg.solve_triangular(a, b, upper=False), general),
    "solve_triangular_upper": (lambda a, b: mx.linalg.solve_triangular(a, b, upper=True), general),
}

# (a's batch axis, b's batch axis): None for an operand shared by all examples.
SOLVE_AXES = [(0, 0), (None, 0), (0, None), (2, 1), (-1, -1), (1, None), (None, -1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SOLVERS))
@pytest.mark.parametrize("axes", SOLVE_AXES, ids=str)
@pytest.mark.parametrize("rhs", [(4,), (4, 2)], ids=["vector", "matrix"])
def test_solve(name, axes, rhs, dtype):
    f, make = SOLVERS[name]
    a_axis, b_axis = axes
    a = make((4, 4), dtype, seed=4) if a_axis is None else batched(make, (4, 4), a_axis, dtype, 4)
    b = dense(rhs, dtype, 5) if b_axis is None else batched(dense, rhs, b_axis, dtype, 5)
    check_vmap(f, a, b, in_axes=(a_axis, b_axis), **tol(dtype))


@pytest.mark.parametrize("name", sorted(SOLVERS))
@pytest.mark.parametrize("axes", [(0, 0), (None, 0), (1, 1), (None, 2), (3, None), (1, 0)],
                         ids=str)
def test_solve_on_stacks(name, axes):
    # Examples that are stacks: a (2, 3, 3) with b (2, 3, 2); batch axes among the stack axes
    # (0, 1) stay, on matrix axes (2, 3) they move.
    f, make = SOLVERS[name]
    a_axis, b_axis = axes
    for dtype in DTYPES:
        a = (make((2, 3, 3), dtype, 6) if a_axis is None
             else mx.moveaxis(make((2, B, 3, 3), dtype, 6), 1, a_axis))
        b = (dense((2, 3, 2), dtype, 7) if b_axis is None
             else mx.moveaxis(dense((2, B, 3, 2), dtype, 7), 1, b_axis))
        check_vmap(f, a, b, in_axes=(a_axis, b_axis), **tol(dtype))


@pytest.mark.parametrize("name", sorted(SOLVERS))
@pytest.mark.parametrize("axes", [(0, 0), (None, 0), (0, None)], ids=str)
def test_solve_broadcasting_inside_the_op(name, axes):
    # One matrix per example against a stack of right-hand sides (2, 3, 2), and a stack of
    # matrices against one vector: the op broadcasts before the primitive.
    f, make = SOLVERS[name]
    for dtype in DTYPES:
        a = make((3, 3), dtype, 8) if axes[0] is None else make((B, 3, 3), dtype, 8)
        b = dense((2, 3, 2), dtype, 9) if axes[1] is None else dense((B, 2, 3, 2), dtype, 9)
        check_vmap(f, a, b, in_axes=axes, **tol(dtype))
        a = make((2, 3, 3), dtype, 10) if axes[0] is None else make((B, 2, 3, 3), dtype, 10)
        b = dense((3,), dtype, 11) if axes[1] is None else dense((B, 3), dtype, 11)
        check_vmap(f, a, b, in_axes=axes, **tol(dtype))


def test_solve_shared_matrix_folds_into_one_system():
    # A batch of right-hand sides against one matrix solves one system with B k columns: the
    # result must still be each example's solution, with k = 1 (vectors) and k > 1.
    for dtype in DTYPES:
        a = general((5, 5), dtype, 9)
        for rhs in [(5,), (5, 3)]:
            b = batched(dense, rhs, 0, dtype, 10)
            got = mx.vmap(mx.linalg.solve, in_axes=(None, 0))(a, b)
            want = np.linalg.solve(to_numpy(a), np.moveaxis(to_numpy(b), 0, -1).reshape(5, -1))
            want = np.moveaxis(want.reshape((5,) + rhs[1:] + (B,)), -1, 0)
            np.testing.assert_allclose(to_numpy(got), want, **tol(dtype))


# ---- compositions (ops built from the primitives and ordinary ops) ----

COMPOSED = {
    "pinv": (mx.linalg.pinv, (4, 3), dense),
    "pinv_wide": (mx.linalg.pinv, (2, 5), dense),
    "cholesky_inv": (mx.linalg.cholesky_inv, (4, 4),
                     lambda s, t, seed=0: mx.linalg.cholesky(spd(s, t, seed))),
    "cholesky_inv_upper": (lambda a: mx.linalg.cholesky_inv(a, upper=True), (4, 4),
                           lambda s, t, seed=0: mx.linalg.cholesky(spd(s, t, seed), upper=True)),
    "lu": (mx.linalg.lu, (4, 4), dense),
    "lu_rect": (mx.linalg.lu, (5, 3), dense),
    "norm_fro": (lambda a: mx.linalg.norm(a, "fro"), (3, 4), dense),
    "norm_nuc": (lambda a: mx.linalg.norm(a, "nuc"), (3, 4), dense),
    "norm_2": (lambda a: mx.linalg.norm(a, 2), (3, 4), dense),
    "norm_-2": (lambda a: mx.linalg.norm(a, -2), (4, 3), dense),
    "norm_1": (lambda a: mx.linalg.norm(a, 1), (3, 4), dense),
    "norm_inf_keepdims": (lambda a: mx.linalg.norm(a, float("inf"), keepdims=True), (3, 4), dense),
    "norm_vector_axis": (lambda a: mx.linalg.norm(a, 3.0, axis=-1), (3, 4), dense),
    "norm_flat": (lambda a: mx.linalg.norm(a), (3, 4), dense),
    "norm_axes_10": (lambda a: mx.linalg.norm(a, 2, axis=(1, 0)), (3, 4), dense),
}


@pytest.mark.parametrize("name", sorted(COMPOSED))
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_composed_ops(name, axis):
    f, example, make = COMPOSED[name]
    for dtype in DTYPES:
        x = mx.moveaxis(make((B,) + example, dtype, seed=11), 0, axis)
        check_vmap(f, x, in_axes=axis, **tol(dtype))


@pytest.mark.parametrize("axes", [(0, 0), (None, 0), (0, None), (1, -1)], ids=str)
@pytest.mark.parametrize("axis", [-1, 0])
def test_cross(axes, axis):
    for dtype in DTYPES:
        for d in (2, 3):
            example = (d, 4) if axis == 0 else (4, d)
            a = dense(example, dtype, 12) if axes[0] is None else batched(dense, example, axes[0], dtype, 12)
            b = dense(example, dtype, 13) if axes[1] is None else batched(dense, example, axes[1], dtype, 13)
            check_vmap(lambda u, v: mx.linalg.cross(u, v, axis=axis), a, b, in_axes=axes,
                       **tol(dtype))


def test_nested_vmap():
    # (3, 4, 4, 2): the outer vmap over the last axis, the inner one over the first.
    for dtype in DTYPES:
        x = mx.moveaxis(general((3, 2, 4, 4), dtype, 14), 1, -1)
        inner = mx.vmap(mx.linalg.inv, in_axes=0)
        got = mx.vmap(inner, in_axes=-1)(x)
        want = np.linalg.inv(np.moveaxis(to_numpy(x), -1, 0))
        np.testing.assert_allclose(to_numpy(got), want, **tol(dtype))
        check_vmap(mx.vmap(mx.linalg.slogdet, in_axes=1), mx.moveaxis(x, 0, 1), in_axes=-1,
                   **tol(dtype))
        a = general((4, 4), dtype, 15)
        b = dense((2, 3, 4), dtype, 16)
        got = mx.vmap(mx.vmap(mx.linalg.solve, in_axes=(None, 0)), in_axes=(None, 0))(a, b)
        want = np.linalg.solve(to_numpy(a), to_numpy(b).reshape(-1, 4).T).T.reshape(2, 3, 4)
        np.testing.assert_allclose(to_numpy(got), want, **tol(dtype))


# ---- vmap of the derivatives ----

def scalar_of(f):
    """A scalar function of a matrix through f's outputs, weighted so that every output entry
    matters (plain sums can hide sign conventions)."""
    def g(a):
        outs = f(a)
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        total = 0.0
        for k, o in enumerate(outs):
            w = mx.reshape(mx.arange(o.size, dtype=o.dtype) / o.size + k + 1, o.shape)
            total = total + (o * w).sum()
        return total
    return g


# Functions whose derivatives are unambiguous (vectors enter squared, so their signs do not
# matter). Every output of a multi-output op is used: the vjp transform hands a rule a stand-in
# without data for a sibling output nothing referenced (see the report), outside vmap too.
DIFFERENTIABLE = {
    "inv": (mx.linalg.inv, general, (4, 4)),
    "tri_inv": (lambda a: mx.linalg.tri_inv(a, upper=True), general, (4, 4)),
    "cholesky": (mx.linalg.cholesky, spd, (4, 4)),
    "det": (mx.linalg.det, general, (3, 3)),
    "slogdet_logabs": (lambda a: mx.linalg.slogdet(a)[1], general, (4, 4)),
    "eigvalsh": (mx.linalg.eigvalsh, spd, (4, 4)),
    "eigh": (lambda a: (lambda wv: [wv[0], mx.square(wv[1])])(mx.linalg.eigh(a)), spd, (4, 4)),
    "svd_values": (lambda a: mx.linalg.svd(a, compute_uv=False), dense, (4, 3)),
    "svd_uv": (lambda a: [mx.square(u) for u in mx.linalg.svd(a)], dense, (3, 3)),
    "qr": (lambda a: mx.linalg.qr(a), dense, (4, 3)),
    "qr_wide": (lambda a: mx.linalg.qr(a), dense, (3, 5)),
}


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
@pytest.mark.parametrize("axis", [0, -1])
def test_vmap_of_grad(name, axis):
    f, make, example = DIFFERENTIABLE[name]
    g = mx.grad(scalar_of(f))
    for dtype in DTYPES:
        x = batched(make, example, axis, dtype, seed=16)
        check_vmap(g, x, in_axes=axis, **tol(dtype))


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_vmap_of_jvp_over_tangents(name):
    f, make, example = DIFFERENTIABLE[name]
    h = scalar_of(f)
    for dtype in DTYPES:
        x = make(example, dtype, seed=17)
        tangents = dense((B,) + example, dtype, seed=18)
        check_vmap(lambda t: mx.jvp(h, [x], [t])[1][0], tangents, in_axes=0, **tol(dtype))
        # Both the point and the tangent per example.
        xs = batched(make, example, 0, dtype, seed=19)
        check_vmap(lambda p, t: mx.jvp(h, [p], [t])[1][0], xs, tangents, in_axes=(0, 0),
                   **tol(dtype))


@pytest.mark.parametrize("name", sorted(SOLVERS))
@pytest.mark.parametrize("axes", [(0, 0), (None, 0), (0, None)], ids=str)
def test_vmap_of_solve_derivatives(name, axes):
    f, make = SOLVERS[name]
    h = lambda a, b: (f(a, b) * mx.array([1.0, 2.0, -1.0, 0.5], dtype=b.dtype)[:, None]).sum()
    for dtype in DTYPES:
        a = make((4, 4), dtype, 20) if axes[0] is None else batched(make, (4, 4), axes[0], dtype, 20)
        b = dense((4, 2), dtype, 21) if axes[1] is None else batched(dense, (4, 2), axes[1], dtype, 21)
        check_vmap(mx.grad(h, argnums=(0, 1)), a, b, in_axes=axes, **tol(dtype))
        ta, tb = dense((B, 4, 4), dtype, 22), dense((B, 4, 2), dtype, 23)
        a0, b0 = make((4, 4), dtype, 24), dense((4, 2), dtype, 25)
        check_vmap(lambda u, v: mx.jvp(h, [a0, b0], [u, v])[1][0], ta, tb, in_axes=(0, 0),
                   **tol(dtype))


def test_per_example_gradient_matches_finite_differences():
    # An independent check of vmap(grad): central differences in float64, per example.
    f = lambda a: mx.linalg.slogdet(a)[1] + mx.linalg.inv(a)[0, 1]
    x = general((B, 3, 3), mx.float64, 26)
    got = to_numpy(mx.vmap(mx.grad(f))(x))
    xn = to_numpy(x)
    eps = 1e-6
    for b in range(B):
        for i in range(3):
            for j in range(3):
                up, down = xn[b].copy(), xn[b].copy()
                up[i, j] += eps
                down[i, j] -= eps
                fd = (f(mx.array(up, dtype=mx.float64)).item() -
                      f(mx.array(down, dtype=mx.float64)).item()) / (2 * eps)
                assert abs(got[b, i, j] - fd) < 1e-6 * max(1.0, abs(fd))


# ---- FFT ----

def complex_batch(shape, seed):
    r = rng(seed)
    return mx.array((r.standard_normal(shape) + 1j * r.standard_normal(shape)).astype(np.complex64))


def real_batch(shape, seed):
    return mx.array(rng(seed).standard_normal(shape).astype(np.float32))


FFT_1D = {
    "fft": (mx.fft.fft, complex_batch),
    "ifft": (mx.fft.ifft, complex_batch),
    "rfft": (mx.fft.rfft, real_batch),
    "irfft": (mx.fft.irfft, complex_batch),
    "fft_real_input": (mx.fft.fft, real_batch),
}


@pytest.mark.parametrize("name", sorted(FFT_1D))
@pytest.mark.parametrize("fft_axis", [0, 1, -1, -2])
@pytest.mark.parametrize("n", [None, 4, 9])
@pytest.mark.parametrize("in_axis", [0, 1, -1])
def test_fft_1d(name, fft_axis, n, in_axis):
    op, make = FFT_1D[name]
    x = mx.moveaxis(make((B, 6, 8), seed=27), 0, in_axis)
    check_vmap(lambda y: op(y, n=n, axis=fft_axis), x, in_axes=in_axis, rtol=1e-4, atol=1e-4)


FFT_ND = {
    "fft2": mx.fft.fft2, "ifft2": mx.fft.ifft2, "fftn": mx.fft.fftn, "ifftn": mx.fft.ifftn,
    "rfft2": mx.fft.rfft2, "irfft2": mx.fft.irfft2, "rfftn": mx.fft.rfftn,
    "irfftn": mx.fft.irfftn,
}


@pytest.mark.parametrize("name", sorted(FFT_ND))
@pytest.mark.parametrize("args", [{}, {"axes": [0, 2]}, {"axes": [-1, -3]}, {"s": [4, 6], "axes": [1, -1]},
                                  {"s": [3, 5, 6], "axes": [0, 1, 2]}], ids=str)
@pytest.mark.parametrize("in_axis", [0, 2, -1])
def test_fft_nd(name, args, in_axis):
    op = FFT_ND[name]
    make = real_batch if name.startswith("rfft") else complex_batch
    x = mx.moveaxis(make((B, 4, 5, 6), seed=28), 0, in_axis)
    check_vmap(lambda y: op(y, **args), x, in_axes=in_axis, rtol=1e-4, atol=1e-4)


def test_fft_nested_and_unbatched_operand():
    x = complex_batch((2, B, 8), seed=29)
    got = mx.vmap(mx.vmap(mx.fft.fft), in_axes=1)(x)
    want = np.fft.fft(np.moveaxis(to_numpy(x), 1, 0), axis=-1)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-4, atol=1e-4)
    y = complex_batch((8,), seed=30)
    check_vmap(lambda a, b: mx.fft.fft(a) * mx.fft.ifft(b), x[0], y, in_axes=(0, None),
               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft"])
@pytest.mark.parametrize("n", [None, 6, 11])
def test_fft_vmap_of_grad_and_jvp(name, n):
    op, _ = FFT_1D[name]
    if name == "irfft":
        # A real input made complex (the cotangent of a complex input is not a real gradient).
        inner = lambda x: op(x.astype(mx.complex64) * mx.array(1 + 0.5j, dtype=mx.complex64), n=n)
    else:
        inner = lambda x: mx.abs(op(x, n=n)) ** 2
    h = scalar_of(inner)
    x = real_batch((B, 8), seed=31)
    check_vmap(mx.grad(h), x, rtol=1e-3, atol=1e-3)
    check_vmap(mx.grad(h), mx.moveaxis(x, 0, 1), in_axes=1, rtol=1e-3, atol=1e-3)
    x0 = real_batch((8,), seed=32)
    check_vmap(lambda t: mx.jvp(h, [x0], [t])[1][0], x, rtol=1e-3, atol=1e-3)
