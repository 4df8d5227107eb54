"""The special ops (as_strided, view, depends, convolve, windows, hadamard_transform,
block_masked_mm, gather_mm, segmented_mm), the stream utilities, ArrayIterator and
get_array_buffer_size: values against NumPy / loops of matmul / MLX where installed, and every
derivative against central finite differences (non-contiguous inputs included)."""

import threading

import numpy as np
import pytest

import pullback.core as mx
from helpers import assert_close, check_grad, dt, to_numpy

try:
    import mlx.core as mlxc
except ImportError:  # pragma: no cover - MLX is installed on the dev machines
    mlxc = None

needs_mlx = pytest.mark.skipif(mlxc is None, reason="mlx not installed")
rng = np.random.default_rng(0)


# ---- as_strided ------------------------------------------------------------------------------

def np_as_strided(x, shape, strides, offset):
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(shape, flat.dtype)
    for idx in np.ndindex(*shape):
        out[idx] = flat[offset + sum(i * s for i, s in zip(idx, strides))]
    return out


@pytest.mark.parametrize("shape,strides,offset", [
    ((2, 2), (1, 4), 1), ((3, 3), (4, 1), 0), ((4, 3), (2, 1), 0), ((5,), (0,), 7),
    ((3,), (-1,), 11), ((2, 3), (-4, 1), 8), ((0, 3), (100, 100), 0), ((), (), 5),
])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
def test_as_strided_values(shape, strides, offset, layout):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    if layout == "transposed":
        x = base.T[:, :2]  # (6, 2) -> 12 elements
        xm = mx.array(base).T[:, :2]
    elif layout == "sliced":
        x = base[::-1, ::2]  # (4, 3)
        xm = mx.array(base)[::-1, ::2]
    else:
        x = base[:2]
        xm = mx.array(base)[:2]
    got = mx.as_strided(xm, shape, strides, offset)
    assert_close(got, np_as_strided(x, shape, strides, offset), dtype=mx.float32)


def test_as_strided_defaults_and_dtypes():
    for name in ["bool_", "int8", "uint16", "int64", "float16", "bfloat16", "float64", "complex64"]:
        x = mx.arange(12).reshape(3, 4).astype(dt(name))
        assert mx.array_equal(mx.as_strided(x), x).item()
        assert mx.as_strided(x).dtype == dt(name)
    x = mx.arange(12).reshape(3, 4)
    assert mx.as_strided(x, (2, 6)).tolist() == np.arange(12).reshape(2, 6).tolist()
    assert mx.as_strided(x.T, (12,)).tolist() == np.arange(12).reshape(3, 4).T.reshape(-1).tolist()


@pytest.mark.parametrize("shape,strides,offset", [
    ((13,), (1,), 0), ((3,), (1,), 10), ((4, 4), (4, 1), 0), ((2,), (-1,), 0), ((1,), (1,), -1),
    ((2,), (2**62,), 0), ((3, 2), (2**62, 2**62), 0),
])
def test_as_strided_out_of_bounds_raises(shape, strides, offset):
    x = mx.arange(12).reshape(3, 4)
    with pytest.raises(ValueError, match=r"\[as_strided\].*outside"):
        mx.as_strided(x, shape, strides, offset)


def test_as_strided_bad_arguments():
    x = mx.arange(12)
    with pytest.raises(ValueError, match=r"\[as_strided\]"):
        mx.as_strided(x, (2, 2), (1,))
    with pytest.raises(ValueError):
        mx.as_strided(x, (-2,), (1,))
    with pytest.raises(TypeError):
        mx.as_strided(x, (2,), (1.5,))


def test_as_strided_overlapping_gradient_scatter_adds():
    x = mx.arange(6, dtype=mx.float32)
    g = mx.grad(lambda x: (mx.as_strided(x, (4, 3), (1, 1)) * mx.arange(12).reshape(4, 3)).sum())(x)
    w = np.arange(12).reshape(4, 3)
    ref = np.zeros(6)
    for i in range(4):
        for j in range(3):
            ref[i + j] += w[i, j]
    assert_close(g, ref)


@pytest.mark.parametrize("make", ["plain", "transposed", "reversed"])
def test_as_strided_derivatives(make):
    prep = {"plain": lambda x: x, "transposed": lambda x: x.T, "reversed": lambda x: x[::-1]}[make]
    check_grad(lambda x: mx.as_strided(prep(x), (3, 3), (2, 1), 1), [rng.standard_normal((3, 4))])
    check_grad(lambda x: mx.as_strided(prep(x), (2, 3), (-3, 2), 7), [rng.standard_normal((3, 4))])


# ---- view ------------------------------------------------------------------------------------

@pytest.mark.parametrize("src,dst", [
    ("float32", "int32"), ("float32", "int16"), ("float32", "uint8"), ("int16", "float32"),
    ("uint8", "float64"), ("float64", "complex64"), ("complex64", "float32"), ("int8", "uint8"),
    ("float16", "bfloat16"), ("bool_", "uint8"), ("int64", "uint16"),
])
def test_view_matches_numpy(src, dst):
    x = np.arange(48).reshape(3, 16) * 3 - 20
    xm = mx.array(x).astype(dt(src))
    xn = to_numpy(xm) if src != "bfloat16" else None
    got = mx.view(xm, dt(dst))
    assert got.dtype == dt(dst)
    if dst == "bfloat16":
        ref = xn.view(np.uint16)
        assert np.array_equal(np.array(mx.view(got, mx.uint16)), ref)
    else:
        assert np.array_equal(np.array(got), xn.view(dt(dst) and np.dtype(
            {"bool_": np.bool_}.get(dst, dst))), equal_nan=False) or np.array_equal(
            np.array(got).view(np.uint8), xn.view(np.uint8))
    assert np.array_equal(np.array(xm.view(dt(dst))).view(np.uint8) if dst != "bfloat16" else
                          np.array(mx.view(xm.view(dt(dst)), mx.uint16)).view(np.uint8),
                          xn.view(np.uint8))


@pytest.mark.parametrize("layout", ["transposed", "sliced", "offset"])
def test_view_of_non_contiguous_and_misaligned(layout):
    base = np.arange(32, dtype=np.float16).reshape(4, 8)
    if layout == "transposed":
        xn, xm = base.T, mx.array(base).T
    elif layout == "sliced":
        xn, xm = base[:, ::2], mx.array(base)[:, ::2]
    else:  # starts one float16 in: a float32 view of it may not share the buffer
        xn, xm = base[:, 1:5], mx.array(base)[:, 1:5]
    got = mx.view(xm, mx.float32)
    assert np.array_equal(np.array(got), np.ascontiguousarray(xn).view(np.float32))


def test_view_to_bool_normalizes_and_scalars():
    got = mx.view(mx.array([0, 1, 2, 255], mx.uint8), mx.bool_)
    assert got.tolist() == [False, True, True, True]
    assert mx.view(mx.array(1.0), mx.int32).item() == 1065353216
    assert mx.view(3, mx.int32).item() == 3
    assert mx.view(mx.zeros((2, 0)), mx.float64).shape == (2, 0)
    x = mx.arange(3, dtype=mx.float32)
    assert mx.view(x, mx.float32) is x or mx.array_equal(mx.view(x, mx.float32), x).item()


def test_view_errors():
    with pytest.raises(ValueError, match=r"\[view\].*scalar"):
        mx.view(mx.array(1.0), mx.float16)
    with pytest.raises(ValueError, match=r"\[view\].*multiple"):
        mx.view(mx.zeros((2, 3)), mx.float64)
    with pytest.raises(TypeError):
        mx.view(mx.zeros(2), None)


def test_view_derivatives():
    check_grad(lambda x: mx.view(x, x.dtype) * 2, [rng.standard_normal((3,))])
    with pytest.raises(ValueError, match=r"\[View\].*vjp"):
        mx.grad(lambda x: mx.view(x, mx.int32).astype(mx.float32).sum())(mx.ones(2))
    with pytest.raises(ValueError, match=r"\[View\].*jvp"):
        mx.jvp(lambda x: mx.view(x, mx.int32), [mx.ones(2)], [mx.ones(2)])


@needs_mlx
def test_view_matches_mlx():
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 12)
    for d in ["int32", "int16", "float16", "uint8", "float64"]:
        ours = np.array(mx.view(mx.array(x), dt(d)))
        theirs = np.array(mlxc.view(mlxc.array(x), getattr(mlxc, d)))
        assert ours.shape == theirs.shape and np.array_equal(ours.view(np.uint8), theirs.view(np.uint8))


# ---- depends ---------------------------------------------------------------------------------

def test_depends_values_structure_and_order():
    x, y = mx.array([1.0, 2.0]), mx.array([3.0])
    out = mx.depends(x, y)
    assert isinstance(out, mx.array) and out.tolist() == [1.0, 2.0]
    outs = mx.depends([x, x * 2], [y, y + 1])
    assert isinstance(outs, list) and [o.tolist() for o in outs] == [[1.0, 2.0], [2.0, 4.0]]
    d = y + 1
    r = mx.depends(x, d)
    mx.eval(r)
    # The dependency was evaluated along with the output.
    assert mx.get_array_buffer_size(d) >= 4
    with pytest.raises(ValueError, match=r"\[depends\]"):
        mx.depends([], [y])
    with pytest.raises(TypeError, match=r"\[depends\]"):
        mx.depends([1.0], [y])


def test_depends_derivatives():
    check_grad(lambda x, y: mx.depends(x * 2, y) * 3, [rng.standard_normal(3), rng.standard_normal(2)])
    check_grad(lambda x, y: mx.depends([x * 2, x + y], [y * y]), [rng.standard_normal(2),
                                                                   rng.standard_normal(2)])
    gx, gy = mx.grad(lambda x, y: mx.depends(x * 2, y).sum(), argnums=(0, 1))(
        mx.array([1.0, 2.0]), mx.array([3.0]))
    assert gx.tolist() == [2.0, 2.0] and gy.tolist() == [0.0]


# ---- convolve --------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n,m", [(5, 3), (3, 5), (4, 4), (1, 1), (7, 2), (2, 7), (6, 1), (8, 5),
                                 (4, 2), (3, 4), (10, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_convolve_matches_numpy(mode, n, m, dtype):
    a, v = rng.standard_normal(n), rng.standard_normal(m)
    got = mx.convolve(mx.array(a, dtype=dt(dtype)), mx.array(v, dtype=dt(dtype)), mode)
    assert_close(got, np.convolve(a, v, mode), dtype=dt(dtype))


def test_convolve_dtypes_and_errors():
    got = mx.convolve(mx.array([1, 2, 3], mx.float16), mx.array([1, 1]))
    assert got.dtype == mx.float16 and got.tolist() == [1, 3, 5, 3]
    got = mx.convolve(mx.array([1.0, 2.0], mx.bfloat16), mx.array([1.0, 1.0], mx.bfloat16))
    assert got.dtype == mx.bfloat16 and got.tolist() == [1, 3, 2]
    with pytest.raises(ValueError, match=r"\[convolve\].*mode"):
        mx.convolve(mx.ones(3), mx.ones(2), "xx")
    with pytest.raises(ValueError, match=r"\[convolve\].*1D"):
        mx.convolve(mx.ones((3, 1)), mx.ones(2))
    with pytest.raises(ValueError, match=r"\[convolve\].*1D"):
        mx.convolve(mx.array(1.0), mx.ones(1))
    with pytest.raises(ValueError, match=r"\[convolve\].*empty"):
        mx.convolve(mx.ones(3), mx.ones(0))
    with pytest.raises(ValueError, match=r"\[convolve\].*floating"):
        mx.convolve(mx.array([1, 2, 3]), mx.array([1, 1]))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolve_derivatives(mode):
    check_grad(lambda a, v: mx.convolve(a, v, mode), [rng.standard_normal(6), rng.standard_normal(3)])
    check_grad(lambda a, v: mx.convolve(a[::-2], v, mode), [rng.standard_normal(9),
                                                              rng.standard_normal(4)])
    check_grad(lambda a, v: mx.convolve(a, v, mode), [rng.standard_normal(2), rng.standard_normal(5)])


@needs_mlx
def test_convolve_matches_mlx_same_mode():
    for n, m in [(4, 2), (4, 4), (3, 5), (3, 4), (10, 3)]:
        a, v = rng.standard_normal(n).astype(np.float32), rng.standard_normal(m).astype(np.float32)
        ours = np.array(mx.convolve(mx.array(a), mx.array(v), "same"))
        theirs = np.array(mlxc.convolve(mlxc.array(a), mlxc.array(v), "same"))
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


# ---- windows ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bartlett", "blackman", "hamming", "hanning"])
@pytest.mark.parametrize("M", [-3, 0, 1, 2, 5, 6, 33])
def test_windows_match_numpy(name, M):
    got = getattr(mx, name)(M)
    assert got.dtype == mx.float32
    assert_close(got, getattr(np, name)(M), rtol=1e-6, atol=1e-7)


def test_windows_reject_non_integers():
    with pytest.raises(TypeError):
        mx.hanning(3.0)


# ---- hadamard_transform ----------------------------------------------------------------------

def sylvester(n):
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


@pytest.mark.parametrize("n", [1, 2, 4, 8, 64, 1024])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_hadamard_matches_matrix(n, dtype):
    x = rng.standard_normal((3, n))
    got = mx.hadamard_transform(mx.array(x, dtype=dt(dtype)))
    assert got.dtype == dt(dtype)
    xr = to_numpy(mx.array(x, dtype=dt(dtype))).astype(np.float64)
    tol = {"float16": 2e-2, "bfloat16": 6e-2}.get(dtype)
    assert_close(got, xr @ sylvester(n).T / np.sqrt(n), rtol=tol, atol=tol)


def test_hadamard_scale_layouts_and_dtypes():
    x = rng.standard_normal((4, 8))
    ref = x.T @ sylvester(4).T * 0.5
    assert_close(mx.hadamard_transform(mx.array(x).T, scale=0.5), ref)
    assert_close(mx.hadamard_transform(mx.array(x)[::-1, ::2], 2.0),
                 x[::-1, ::2] @ sylvester(4).T * 2)
    got = mx.hadamard_transform(mx.array([1, 2, 3, 4]))
    assert got.dtype == mx.float32
    assert_close(got, np.array([1, 2, 3, 4]) @ sylvester(4).T / 2)
    assert mx.hadamard_transform(mx.array(3.0)).item() == 3.0
    for bad in (3, 6, 36, 10, 60, 84):
        with pytest.raises(ValueError, match=r"\[hadamard_transform\].*m \* 2\^k.*got " + str(bad)):
            mx.hadamard_transform(mx.ones(bad))
    with pytest.raises(ValueError, match=r"\[hadamard_transform\].*empty"):
        mx.hadamard_transform(mx.ones((0,)))


@needs_mlx
def test_hadamard_matches_mlx():
    x = rng.standard_normal((5, 32)).astype(np.float32)
    np.testing.assert_allclose(np.array(mx.hadamard_transform(mx.array(x), 0.3)),
                               np.array(mlxc.hadamard_transform(mlxc.array(x), 0.3)), rtol=1e-5,
                               atol=1e-5)


def test_hadamard_derivatives():
    check_grad(lambda x: mx.hadamard_transform(x), [rng.standard_normal((2, 8))])
    check_grad(lambda x: mx.hadamard_transform(x.T, 0.7), [rng.standard_normal((4, 3))])


# Sizes m * 2^k with m = 12, 20, 28: H_n = kron(H_m, S_{2^k}), H_m MLX's matrix of order m.
ORDERS = [12, 24, 48, 20, 40, 28, 56, 28 * 64]


def hadamard_matrix(n):
    """The unscaled matrix M of y = M x, read back from the transform of the unit vectors."""
    return to_numpy(mx.hadamard_transform(mx.eye(n, dtype=mx.float64), scale=1.0)).T


@pytest.mark.parametrize("n", [12, 20, 28])
def test_hadamard_orders_are_hadamard_matrices(n):
    h = hadamard_matrix(n)
    assert set(np.unique(h)) == {-1.0, 1.0}
    np.testing.assert_array_equal(h @ h.T, n * np.eye(n))
    for p in (2, 8):
        np.testing.assert_array_equal(hadamard_matrix(n * p), np.kron(h, sylvester(p)))


@pytest.mark.parametrize("n", ORDERS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_hadamard_orders_values(n, dtype):
    m = next(m for m in (12, 20, 28) if n % m == 0 and ((n // m) & (n // m - 1)) == 0)
    ref_matrix = np.kron(hadamard_matrix(m), sylvester(n // m))
    x = rng.standard_normal((3, n))
    xr = to_numpy(mx.array(x, dtype=dt(dtype))).astype(np.float64)
    got = mx.hadamard_transform(mx.array(x, dtype=dt(dtype)), scale=0.25)
    assert got.dtype == dt(dtype)
    tol = {"float16": 3e-2, "float32": 1e-5}.get(dtype)
    assert_close(got, xr @ ref_matrix.T * 0.25, rtol=tol, atol=tol)
    # Transposed and reversed views.
    xt = rng.standard_normal((n, 2))
    assert_close(mx.hadamard_transform(mx.array(xt, dtype=mx.float64).T),
                 xt.T @ ref_matrix.T / np.sqrt(n))
    assert_close(mx.hadamard_transform(mx.array(x, dtype=mx.float64)[::-1, ::-1]),
                 x[::-1, ::-1] @ ref_matrix.T / np.sqrt(n))


@needs_mlx
@pytest.mark.parametrize("n", ORDERS + [12 * 1024])
def test_hadamard_orders_match_mlx(n):
    x = rng.standard_normal((4, n)).astype(np.float32)
    np.testing.assert_allclose(np.array(mx.hadamard_transform(mx.array(x))),
                               np.array(mlxc.hadamard_transform(mlxc.array(x))), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(np.array(mx.hadamard_transform(mx.array(x), 0.3)),
                               np.array(mlxc.hadamard_transform(mlxc.array(x), 0.3)), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("n", [12, 20, 28, 40])
def test_hadamard_orders_derivatives(n):
    # H_20 and H_28 are not symmetric: the vjp applies the transpose.
    check_grad(lambda x: mx.hadamard_transform(x), [rng.standard_normal((2, n))])
    check_grad(lambda x: mx.hadamard_transform(x.T[::-1], 0.7), [rng.standard_normal((n, 3))])


# ---- block_masked_mm -------------------------------------------------------------------------

def expand(mask, bs, rows, cols):
    m = np.asarray(mask)
    return np.repeat(np.repeat(m, bs, -2), bs, -1)[..., :rows, :cols]


def block_masked_ref(a, b, bs, mo=None, ml=None, mr=None):
    M, K = a.shape[-2:]
    N = b.shape[-1]
    if ml is not None:
        a = a * expand(ml, bs, M, K)
    if mr is not None:
        b = b * expand(mr, bs, K, N)
    out = a @ b
    if mo is not None:
        out = out * expand(mo, bs, M, N)
    return out


@pytest.mark.parametrize("bs", [32, 64, 16, 5])
@pytest.mark.parametrize("masks", ["none", "out", "lhs", "rhs", "all", "float"])
def test_block_masked_mm_matches_reference(bs, masks):
    M, K, N = 40, 70, 50
    a, b = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    cb = lambda n: -(-n // bs)  # noqa: E731
    r = np.random.default_rng(bs)
    mo = r.random((cb(M), cb(N))) > 0.4
    ml = r.random((cb(M), cb(K))) > 0.4
    mr = r.random((cb(K), cb(N))) > 0.4
    if masks == "float":
        mo, ml, mr = [m * r.uniform(0.5, 2, m.shape) for m in (mo, ml, mr)]
    use = {"none": (None, None, None), "out": (mo, None, None), "lhs": (None, ml, None),
           "rhs": (None, None, mr)}.get(masks, (mo, ml, mr))
    args = [None if m is None else mx.array(m, dtype=mx.float64 if m.dtype != bool else mx.bool_)
            for m in use]
    got = mx.block_masked_mm(mx.array(a, dtype=mx.float64), mx.array(b, dtype=mx.float64), bs, *args)
    assert_close(got, block_masked_ref(a, b, bs, *use))


def test_block_masked_mm_batched_and_errors():
    a, b = rng.standard_normal((3, 40, 20)), rng.standard_normal((20, 10))
    mo = rng.random((3, 2, 1)) > 0.5
    got = mx.block_masked_mm(mx.array(a), mx.array(b), 32, mx.array(mo))
    assert_close(got, block_masked_ref(a, b, 32, mo), rtol=1e-5, atol=1e-5)
    # A masked-out block of a holding inf does not poison the output.
    a2 = np.ones((4, 4))
    a2[0, 0] = np.inf
    got = mx.block_masked_mm(mx.array(a2), mx.ones((4, 4)), 2, None, mx.array([[False, True], [True, True]]))
    assert np.isfinite(np.array(got)).all()
    with pytest.raises(ValueError, match=r"\[block_masked_mm\].*mask_out"):
        mx.block_masked_mm(mx.ones((40, 70)), mx.ones((70, 50)), 32, mx.ones((1, 2, 2), mx.bool_))
    with pytest.raises(ValueError, match=r"\[block_masked_mm\].*block_size"):
        mx.block_masked_mm(mx.ones((4, 4)), mx.ones((4, 4)), 0)
    with pytest.raises(ValueError, match=r"\[block_masked_mm\]"):
        mx.block_masked_mm(mx.ones((4, 3)), mx.ones((4, 4)), 2)
    with pytest.raises(ValueError, match=r"\[block_masked_mm\].*floating"):
        mx.block_masked_mm(mx.ones((4, 4), mx.int32), mx.ones((4, 4), mx.int32), 2)


def test_block_masked_mm_derivatives():
    ml = mx.array([[True, False], [True, True]])
    mr = mx.array([[1.0, 2.0], [0.5, 0.0]])
    mo = mx.array([[True, True], [False, True]])
    check_grad(lambda a, b: mx.block_masked_mm(a, b, 2, mo, ml, mr),
               [rng.standard_normal((4, 3)), rng.standard_normal((3, 4))])
    check_grad(lambda a, b: mx.block_masked_mm(a.T, b, 2, mo),
               [rng.standard_normal((3, 4)), rng.standard_normal((3, 3))])


@needs_mlx
def test_block_masked_mm_matches_mlx():
    a, b = rng.standard_normal((2, 40, 70)).astype(np.float32), rng.standard_normal((70, 50)).astype(np.float32)
    mo = rng.random((2, 2, 2)) > 0.3
    ml = rng.uniform(0, 2, (2, 2, 3)).astype(np.float32)
    mr = rng.random((3, 2)) > 0.3
    ours = mx.block_masked_mm(mx.array(a), mx.array(b), 32, mx.array(mo), mx.array(ml), mx.array(mr))
    theirs = mlxc.block_masked_mm(mlxc.array(a), mlxc.array(b), 32, mlxc.array(mo), mlxc.array(ml),
                                  mlxc.array(mr))
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-4, atol=1e-4)


# ---- gather_mm -------------------------------------------------------------------------------

def gather_ref(a, b, li, ri):
    af = a.reshape(-1, *a.shape[-2:])
    bf = b.reshape(-1, *b.shape[-2:])
    if li is None:
        li = np.arange(af.shape[0]).reshape(a.shape[:-2])
    if ri is None:
        ri = np.arange(bf.shape[0]).reshape(b.shape[:-2])
    li, ri = np.broadcast_arrays(li, ri)
    out = np.empty(li.shape + (a.shape[-2], b.shape[-1]))
    for idx in np.ndindex(*li.shape):
        out[idx] = af[li[idx]] @ bf[ri[idx]]
    return out


@pytest.mark.parametrize("case", range(6))
def test_gather_mm_matches_loop_of_matmul(case):
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((2, 5, 6))
    li, ri = [(np.array([0, 2, 1]), np.array([1, 1, 0])), (np.array([[0], [2]]), np.array([1, 1, 0])),
              (None, np.array([1, 1, 0])), (np.array([0, 1]), None), (np.array(2), np.array([0, 1, 1, 0])),
              (np.array([2, 2, 0, 0]), np.array([0, 0, 1, 1]))][case]
    got = mx.gather_mm(mx.array(a, dtype=mx.float64), mx.array(b, dtype=mx.float64),
                       None if li is None else mx.array(li), None if ri is None else mx.array(ri),
                       sorted_indices=case == 5)
    if li is None:
        li_full = np.arange(3)
    else:
        li_full = li
    assert_close(got, gather_ref(a, b, li_full, ri if ri is not None else np.arange(2)))


def test_gather_mm_shapes_and_errors():
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((2, 1, 5, 6))
    got = mx.gather_mm(mx.array(a), mx.array(b))
    assert got.shape == (2, 3, 4, 6)
    assert_close(got, a[None] @ b, rtol=1e-5, atol=1e-5)
    got = mx.gather_mm(mx.array(a[0, 0]), mx.array(b[0, 0]))
    assert_close(got, a[0, 0] @ b[0, 0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"\[gather_mm\].*integers"):
        mx.gather_mm(mx.array(a), mx.array(b), mx.array([0.0]), mx.array([0]))
    with pytest.raises(ValueError, match=r"\[gather_mm\].*broadcast"):
        mx.gather_mm(mx.array(a), mx.array(b[:, 0]))
    with pytest.raises(ValueError, match=r"\[gather_mm\]"):
        mx.gather_mm(mx.array(a), mx.array(b[..., :4, :]))
    with pytest.raises(IndexError):
        mx.eval(mx.gather_mm(mx.array(a), mx.array(b), mx.array([0, 5]), mx.array([0, 1])))
    with pytest.raises(ValueError, match=r"\[gather_mm\].*floating"):
        mx.gather_mm(mx.ones((2, 2), mx.int32), mx.ones((2, 2), mx.int32))


def test_gather_mm_derivatives():
    li, ri = mx.array([0, 2, 1, 0]), mx.array([1, 1, 0, 1])
    check_grad(lambda a, b: mx.gather_mm(a, b, li, ri),
               [rng.standard_normal((3, 2, 3)), rng.standard_normal((2, 3, 2))])
    check_grad(lambda a, b: mx.gather_mm(mx.swapaxes(a, -1, -2), b, None, mx.array([1, 0, 0])),
               [rng.standard_normal((3, 3, 2)), rng.standard_normal((2, 3, 2))])


@needs_mlx
def test_gather_mm_matches_mlx():
    a, b = rng.standard_normal((3, 4, 5)).astype(np.float32), rng.standard_normal((2, 5, 6)).astype(np.float32)
    li, ri = np.array([[0], [2]], np.uint32), np.array([1, 1, 0], np.int32)
    ours = mx.gather_mm(mx.array(a), mx.array(b), mx.array(li), mx.array(ri))
    theirs = mlxc.gather_mm(mlxc.array(a), mlxc.array(b), mlxc.array(li), mlxc.array(ri))
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, atol=1e-5)


# ---- segmented_mm ----------------------------------------------------------------------------

def segmented_ref(a, b, seg):
    seg = np.asarray(seg)
    out = np.empty(seg.shape[:-1] + (a.shape[0], b.shape[1]))
    K = a.shape[1]
    for idx in np.ndindex(*seg.shape[:-1]):
        lo, hi = max(0, min(K, seg[idx][0])), max(0, min(K, seg[idx][1]))
        out[idx] = a[:, lo:hi] @ b[lo:hi] if hi > lo else 0
    return out


@pytest.mark.parametrize("seg", [[[0, 3], [3, 10], [2, 2], [5, 9]], [0, 3], [[[0, 3], [3, 10]]],
                                 [[5, 2]], [[0, 20], [-3, 4]]])
def test_segmented_mm_matches_reference(seg):
    a, b = rng.standard_normal((3, 10)), rng.standard_normal((10, 4))
    got = mx.segmented_mm(mx.array(a, dtype=mx.float64), mx.array(b, dtype=mx.float64), mx.array(seg))
    assert_close(got, segmented_ref(a, b, seg))


def test_segmented_mm_errors():
    a, b = mx.ones((3, 10)), mx.ones((10, 4))
    with pytest.raises(ValueError, match=r"\[segmented_mm\].*integers"):
        mx.segmented_mm(a, b, mx.array([[0.0, 3.0]]))
    with pytest.raises(ValueError, match=r"\[segmented_mm\].*2-D"):
        mx.segmented_mm(a[None], b, mx.array([[0, 3]]))
    with pytest.raises(ValueError, match=r"\[segmented_mm\].*\(\.\.\., 2\)"):
        mx.segmented_mm(a, b, mx.array([[0, 3, 4]]))


def test_segmented_mm_derivatives():
    seg = mx.array([[0, 2], [1, 4], [3, 3]])
    check_grad(lambda a, b: mx.segmented_mm(a, b, seg), [rng.standard_normal((2, 4)),
                                                         rng.standard_normal((4, 3))])
    check_grad(lambda a, b: mx.segmented_mm(a.T, b[::-1], seg), [rng.standard_normal((4, 2)),
                                                                 rng.standard_normal((4, 3))])


@needs_mlx
def test_segmented_mm_matches_mlx():
    a, b = rng.standard_normal((3, 10)).astype(np.float32), rng.standard_normal((10, 4)).astype(np.float32)
    seg = np.array([[0, 3], [3, 10], [2, 2], [5, 9]], np.int32)
    np.testing.assert_allclose(np.array(mx.segmented_mm(mx.array(a), mx.array(b), mx.array(seg))),
                               np.array(mlxc.segmented_mm(mlxc.array(a), mlxc.array(b), mlxc.array(seg))),
                               rtol=1e-5, atol=1e-5)


# ---- slice_update with a 0-d update (MLX fills the whole of the other axes) -------------------

@pytest.mark.parametrize("start,axes", [([1], [0]), ([1], [1]), ([1, 2], [0, 1]), ([2], [-1])])
def test_slice_update_scalar_fills_other_axes(start, axes):
    a = np.zeros((3, 4))
    ref = a.copy()
    index = [slice(None)] * 2
    for s, ax in zip(start, axes):
        index[ax] = s
    ref[tuple(index)] = 5
    got = mx.slice_update(mx.array(a), mx.array(5.0), mx.array(start), axes)
    assert_close(got, ref)
    if mlxc is not None:
        theirs = mlxc.slice_update(mlxc.array(a.astype(np.float32)), mlxc.array(5.0),
                                   mlxc.array(start), axes)
        assert np.array_equal(np.array(got), np.array(theirs))


def test_slice_update_scalar_derivative():
    check_grad(lambda a, u: mx.slice_update(a, u, mx.array([1]), [0]),
               [rng.standard_normal((3, 2)), np.array(0.5)])


# ---- streams, iteration, buffer sizes --------------------------------------------------------

def test_thread_local_streams():
    tls = mx.new_thread_local_stream(mx.cpu)
    assert isinstance(tls, mx.ThreadLocalStream) and tls.device == mx.cpu
    got = {}

    def run(key):
        x = mx.add(mx.ones(2), 1, stream=tls)
        got[key] = x.tolist()
        with mx.stream(tls) as s:
            got[key + "_stream"] = s
    run("main")
    t = threading.Thread(target=run, args=("other",))
    t.start()
    t.join()
    assert got["main"] == got["other"] == [2.0, 2.0]
    assert got["main_stream"] != got["other_stream"]
    with mx.stream(tls) as s1:
        pass
    assert s1 == got["main_stream"]
    mx.clear_streams()
    with mx.stream(tls) as s2:
        pass
    assert s2 != s1
    s = mx.new_thread_unsafe_stream(mx.cpu)
    assert isinstance(s, mx.Stream) and s.device == mx.cpu
    assert mx.add(mx.ones(1), 1, stream=s).item() == 2.0
    with pytest.raises(ValueError):
        mx.new_thread_local_stream(mx.gpu)


def test_stream_context_object():
    ctx = mx.stream(mx.cpu)
    assert isinstance(ctx, mx.StreamContext)
    before = mx.default_stream(mx.cpu)
    s = mx.new_stream(mx.cpu)
    with mx.StreamContext(s):
        assert mx.default_stream(mx.cpu) == s
    assert mx.default_stream(mx.cpu) == before


def test_array_iterator():
    x = mx.arange(6).reshape(3, 2)
    it = iter(x)
    assert isinstance(it, mx.ArrayIterator)
    assert [r.tolist() for r in it] == [[0, 1], [2, 3], [4, 5]]
    assert list(iter(mx.zeros((0, 2)))) == []
    with pytest.raises(TypeError):
        iter(mx.array(1.0))
    a, b = mx.array([1, 2])
    assert (a.item(), b.item()) == (1, 2)


def test_get_array_buffer_size():
    x = mx.zeros((100,), mx.float32)
    y = mx.zeros((10, 10), mx.float64)
    mx.eval(x, y)
    assert mx.get_array_buffer_size(x) >= 400
    tail = x[2:]
    mx.eval(tail)
    assert mx.get_array_buffer_size(x, tail, {"a": [x]}) == mx.get_array_buffer_size(x)
    assert mx.get_array_buffer_size([x, y], "leaf") == mx.get_array_buffer_size(x) + mx.get_array_buffer_size(y)
    assert mx.get_array_buffer_size() == 0
    with pytest.raises(ValueError, match=r"\[get_array_buffer_size\]"):
        mx.get_array_buffer_size(x + 1)
