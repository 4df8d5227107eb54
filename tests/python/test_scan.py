"""Cumulative scans (cumsum, cumprod, cummax, cummin, logcumsumexp) against NumPy and MLX, and
their derivatives against finite differences."""

import itertools

import numpy as np
import pytest

import pullback.core as mx
from helpers import DTYPE_NAMES, NP_DTYPE, assert_close, check_grad, dt, name_of, to_numpy

OPS = ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"]


def _identity(op, dtype):
    if op == "cumsum":
        return 0
    if op == "cumprod":
        return 1
    if op == "logcumsumexp":
        return -np.inf
    high = op == "cummin"
    if dtype == np.bool_:
        return high
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.max if high else info.min
    if np.issubdtype(dtype, np.complexfloating):
        return complex(np.inf, np.inf) if high else complex(-np.inf, -np.inf)
    return np.inf if high else -np.inf


def _accumulate(op, x, axis):
    """The inclusive scan in NumPy, in x's dtype (integers wrap), along `axis`."""
    if op == "cumsum":
        return np.cumsum(x, axis=axis, dtype=x.dtype)
    if op == "cumprod":
        if x.dtype == np.bool_:
            return np.logical_and.accumulate(x, axis=axis)
        return np.cumprod(x, axis=axis, dtype=x.dtype)
    if op == "cummax":
        return np.maximum.accumulate(x, axis=axis)
    if op == "cummin":
        return np.minimum.accumulate(x, axis=axis)
    return np.logaddexp.accumulate(x, axis=axis)


def reference(op, x, axis=None, reverse=False, inclusive=True):
    """NumPy's result for pullback's op (x already in the dtype the op scans in)."""
    if axis is None:
        x = x.reshape(-1)
        axis = 0
    if reverse:
        x = np.flip(x, axis)
    with np.errstate(all="ignore"):
        out = _accumulate(op, x, axis)
    if not inclusive and out.shape[axis] > 0:
        ident = np.full_like(np.take(out, [0], axis=axis), _identity(op, x.dtype))
        out = np.concatenate([ident, np.take(out, np.arange(out.shape[axis] - 1), axis=axis)],
                             axis=axis)
    return np.flip(out, axis) if reverse else out


def scan_dtype(op, name):
    """The dtype pullback's op computes in (MLX's)."""
    if op == "cumsum" and name == "bool_":
        return "int32"
    if op == "logcumsumexp" and name not in ("float16", "bfloat16", "float32", "float64",
                                              "complex64"):
        return "float32"
    return name


def sample(name, shape, rng):
    if name == "bool_":
        return rng.random(shape) > 0.4
    if name.startswith("uint"):
        return rng.integers(0, 5, shape).astype(NP_DTYPE[name])
    if name.startswith("int"):
        return rng.integers(-4, 5, shape).astype(NP_DTYPE[name])
    if name == "complex64":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    if name == "bfloat16":
        return rng.standard_normal(shape).astype(np.float32)
    return rng.standard_normal(shape).astype(NP_DTYPE[name])


def compare(op, x_np, name, axis=None, reverse=False, inclusive=True, **tol):
    a = mx.array(x_np, dtype=dt(name))
    got = getattr(mx, op)(a, axis=axis, reverse=reverse, inclusive=inclusive)
    sname = scan_dtype(op, name)
    # The reference sees the values the kernel sees: rounded to the dtype, then widened for
    # float16/bfloat16 (which accumulate in float32).
    src = to_numpy(a.astype(dt(sname)))
    if sname in ("float16", "bfloat16"):
        src = src.astype(np.float32)
    expected = reference(op, src, axis, reverse, inclusive)
    assert_close(got, expected, dtype=dt(sname), **tol)


# ---- values ------------------------------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_every_dtype(op, name):
    if op == "logcumsumexp" and name == "complex64":
        pytest.skip("NumPy has no complex logaddexp: see test_complex_logcumsumexp")
    rng = np.random.default_rng(0)
    x = sample(name, (3, 5, 4), rng)
    if op == "cumprod" and name in ("float16", "bfloat16"):
        x = np.clip(x, -1.5, 1.5)
    for axis, reverse, inclusive in itertools.product([None, 0, 1, -1], [False, True],
                                                      [True, False]):
        compare(op, x, name, axis, reverse, inclusive)


# Result dtypes of each scan per input dtype, produced by mlx 0.32.4
# (getattr(mlx.core, op)(mlx.core.ones((3,), dtype)).dtype); "bool" written "bool_".
MLX_SCAN_DTYPES = {
    'cumsum': {
        'bool_': 'int32', 'uint8': 'uint8', 'uint16': 'uint16', 'uint32': 'uint32',
        'uint64': 'uint64', 'int8': 'int8', 'int16': 'int16', 'int32': 'int32', 'int64': 'int64',
        'float16': 'float16', 'bfloat16': 'bfloat16', 'float32': 'float32', 'float64': 'float64',
        'complex64': 'complex64',
    },
    'cumprod': {
        'bool_': 'bool_', 'uint8': 'uint8', 'uint16': 'uint16', 'uint32': 'uint32',
        'uint64': 'uint64', 'int8': 'int8', 'int16': 'int16', 'int32': 'int32', 'int64': 'int64',
        'float16': 'float16', 'bfloat16': 'bfloat16', 'float32': 'float32', 'float64': 'float64',
        'complex64': 'complex64',
    },
    'cummax': {
        'bool_': 'bool_', 'uint8': 'uint8', 'uint16': 'uint16', 'uint32': 'uint32',
        'uint64': 'uint64', 'int8': 'int8', 'int16': 'int16', 'int32': 'int32', 'int64': 'int64',
        'float16': 'float16', 'bfloat16': 'bfloat16', 'float32': 'float32', 'float64': 'float64',
        'complex64': 'complex64',
    },
    'cummin': {
        'bool_': 'bool_', 'uint8': 'uint8', 'uint16': 'uint16', 'uint32': 'uint32',
        'uint64': 'uint64', 'int8': 'int8', 'int16': 'int16', 'int32': 'int32', 'int64': 'int64',
        'float16': 'float16', 'bfloat16': 'bfloat16', 'float32': 'float32', 'float64': 'float64',
        'complex64': 'complex64',
    },
    'logcumsumexp': {
        'bool_': 'float32', 'uint8': 'float32', 'uint16': 'float32', 'uint32': 'float32',
        'uint64': 'float32', 'int8': 'float32', 'int16': 'float32', 'int32': 'float32',
        'int64': 'float32', 'float16': 'float16', 'bfloat16': 'bfloat16', 'float32': 'float32',
        'float64': 'float64', 'complex64': 'complex64',
    },
}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtypes_match_those_stored_from_mlx(op, name):
    got = getattr(mx, op)(mx.ones((3,), dtype=dt(name)))
    assert name_of(got.dtype) == MLX_SCAN_DTYPES[op][name]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtypes_match_mlx(op, name):
    mlx = pytest.importorskip("mlx.core")
    got = getattr(mx, op)(mx.ones((3,), dtype=dt(name)))
    want = getattr(mlx, op)(mlx.ones((3,), dtype=getattr(mlx, name)))
    assert name_of(got.dtype) == str(want.dtype).split(".")[-1].replace("bool", "bool_")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("reverse,inclusive", list(itertools.product([False, True], [True, False])))
def test_values_match_mlx(op, reverse, inclusive):
    mlx = pytest.importorskip("mlx.core")
    x = np.random.default_rng(3).standard_normal((4, 7)).astype(np.float32)
    for axis in [None, 0, 1]:
        got = getattr(mx, op)(mx.array(x), axis=axis, reverse=reverse, inclusive=inclusive)
        want = getattr(mlx, op)(mlx.array(x), axis=axis, reverse=reverse, inclusive=inclusive)
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", OPS)
def test_non_contiguous_inputs(op):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 8, 5)).astype(np.float32)
    a = mx.array(base)
    views = {
        "transposed": (mx.transpose(a, (2, 0, 1)), base.transpose(2, 0, 1)),
        "stepped": (a[::2, 1::3, ::-1], base[::2, 1::3, ::-1]),
        "reversed": (a[::-1], base[::-1]),
        "broadcast": (mx.broadcast_to(a[:, :1, :], (6, 8, 5)),
                      np.broadcast_to(base[:, :1, :], (6, 8, 5))),
    }
    for key, (view, ref) in views.items():
        for axis in [None, 0, 1, 2]:
            for reverse, inclusive in itertools.product([False, True], [True, False]):
                got = getattr(mx, op)(view, axis=axis, reverse=reverse, inclusive=inclusive)
                assert_close(got, reference(op, np.ascontiguousarray(ref), axis, reverse,
                                            inclusive))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape,axis", [
    ((1 << 18,), 0), ((200003,), 0), ((3, 1 << 17), 1), ((1 << 12, 70), 0), ((70, 1 << 12), 1),
    ((9, 2000, 3), 1), ((5, 3000), 0), ((2, 1500, 1100), 1),
])
def test_large_parallel_layouts(op, shape, axis):
    """Long rows split into pieces, many rows, wide and narrow column tiles."""
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float64)
    if op == "cumprod":
        x = 1 + x * 1e-3
    for reverse, inclusive in [(False, True), (True, False)]:
        got = getattr(mx, op)(mx.array(x, dtype=mx.float64), axis=axis, reverse=reverse,
                              inclusive=inclusive)
        assert_close(got, reference(op, x, axis, reverse, inclusive), rtol=1e-9, atol=1e-9)


def test_integer_sums_wrap():
    x = np.array([100, 100, 100, -128], dtype=np.int8)
    assert_close(mx.cumsum(mx.array(x)), np.cumsum(x, dtype=np.int8), dtype=mx.int8)
    big = np.array([2**62, 2**62, 2**62], dtype=np.int64)
    assert_close(mx.cumsum(mx.array(big)), np.cumsum(big, dtype=np.int64))
    assert_close(mx.cumprod(mx.array(big)), np.cumprod(big, dtype=np.int64))
    u = np.array([255, 2, 3], dtype=np.uint8)
    assert_close(mx.cumprod(mx.array(u)), np.cumprod(u, dtype=np.uint8), dtype=mx.uint8)


def test_half_floats_accumulate_in_float32():
    ones = mx.ones((10000,), dtype=mx.float16)
    assert mx.cumsum(ones)[-1].item() == 10000  # a float16 running sum would stop at 2048
    assert mx.cumsum(ones.astype(mx.bfloat16))[-1].item() == 9984  # 10000 rounded to bf16


def test_dtype_argument():
    a = mx.array([1, 2, 3], dtype=mx.int8)
    assert_close(mx.cumsum(a, dtype=mx.float32), np.array([1, 3, 6.0]), dtype=mx.float32)
    assert_close(mx.cumprod(a, dtype=mx.int64), np.array([1, 2, 6]), dtype=mx.int64)
    assert_close(mx.cumsum(a, dtype=mx.bool_), np.array([1, 2, 3]), dtype=mx.int32)
    assert_close(mx.cumprod(a, dtype=mx.bool_), np.array([True] * 3), dtype=mx.bool_)


def test_nan_and_inf():
    nan, inf = np.nan, np.inf
    x = np.array([1.0, nan, 3.0, -inf, 2.0])
    for op in OPS:
        for reverse in [False, True]:
            got = getattr(mx, op)(mx.array(x, dtype=mx.float64), reverse=reverse)
            assert_close(got, reference(op, x, None, reverse))
    x = np.array([-inf, -inf, inf, 0.0, inf])
    assert_close(mx.logcumsumexp(mx.array(x, dtype=mx.float64)), reference("logcumsumexp", x))
    huge = np.array([1000.0, 1000.0, -1000.0, 2000.0])
    assert_close(mx.logcumsumexp(mx.array(huge, dtype=mx.float64)),
                 np.logaddexp.accumulate(huge))
    c = np.array([1 + 2j, nan + 0j, 3 + 1j], dtype=np.complex64)
    assert_close(mx.cummax(mx.array(c)), np.maximum.accumulate(c))


def test_complex_logcumsumexp():
    x = (np.random.default_rng(4).standard_normal(6)
         + 1j * np.random.default_rng(5).standard_normal(6)).astype(np.complex64)
    expected = np.log(np.cumsum(np.exp(x.astype(np.complex128))))
    got = to_numpy(mx.logcumsumexp(mx.array(x)))
    # Compare the exponentials: the imaginary part is only defined modulo 2*pi.
    np.testing.assert_allclose(np.exp(got), np.exp(expected), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", OPS)
def test_edge_shapes(op):
    f = getattr(mx, op)
    s = f(mx.array(2.0))  # 0-d: scans the flattened array, as MLX
    assert s.shape == (1,)
    for shape, axis in [((0,), None), ((0, 3), 0), ((0, 3), 1), ((3, 0), 1), ((4, 1), 1),
                        ((1,), 0)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        for reverse, inclusive in itertools.product([False, True], [True, False]):
            got = f(mx.array(x), axis=axis, reverse=reverse, inclusive=inclusive)
            assert_close(got, reference(op, x, axis, reverse, inclusive))


@pytest.mark.parametrize("op", OPS)
def test_array_methods(op):
    x = np.random.default_rng(6).standard_normal((3, 4)).astype(np.float32)
    a = mx.array(x)
    for kwargs in [{}, {"axis": 1}, {"axis": 0, "reverse": True, "inclusive": False}]:
        got = getattr(a, op)(**kwargs)
        want = getattr(mx, op)(a, **kwargs)
        np.testing.assert_array_equal(np.array(got), np.array(want))


@pytest.mark.parametrize("op", OPS)
def test_errors(op):
    f = getattr(mx, op)
    a = mx.ones((2, 3))
    # an axis out of range is an IndexError, as in MLX
    with pytest.raises(IndexError, match=rf"\[{op}\]"):
        f(a, axis=2)
    with pytest.raises(IndexError, match=rf"\[{op}\]"):
        f(a, axis=-3)
    with pytest.raises(IndexError, match=rf"\[{op}\]"):
        f(mx.array(1.0), axis=0)
    with pytest.raises(TypeError):
        f(a, axis=1.5)
    with pytest.raises(TypeError):
        f(a, axis="0")
    with pytest.raises((TypeError, ValueError)):
        f("abc")
    with pytest.raises(TypeError):
        f(a, 0, True)  # reverse and inclusive are keyword-only
    with pytest.raises(TypeError):
        getattr(a, op)(axis=[0])


def test_dtype_argument_errors():
    with pytest.raises((TypeError, ValueError), match=r"cumsum"):
        mx.cumsum(mx.ones(3), dtype="float99")


# ---- derivatives -------------------------------------------------------------------------

def without_identity(out, axis, reverse, inclusive):
    """An exclusive scan's first output is a constant (-inf for cummax and logcumsumexp), which
    finite differences cannot difference: it is left out."""
    if inclusive:
        return out
    axis = 0 if axis is None else axis
    key = [slice(None)] * out.ndim
    key[axis] = slice(None, -1) if reverse else slice(1, None)
    return out[tuple(key)]


VARIANTS = list(itertools.product([False, True], [True, False]))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("reverse,inclusive", VARIANTS)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_derivatives(op, reverse, inclusive, axis):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4))
    if op in ("cummax", "cummin"):
        x = rng.permutation(12).reshape(3, 4) * 0.37  # distinct values: differentiable
    check_grad(lambda a: without_identity(
        getattr(mx, op)(a, axis=axis, reverse=reverse, inclusive=inclusive), axis, reverse,
        inclusive), [x])


@pytest.mark.parametrize("reverse,inclusive", VARIANTS)
def test_cumprod_derivatives_with_zeros(reverse, inclusive):
    for x in ([2.0, 0.0, 3.0, 0.5, 4.0], [0.0, 1.5, 2.0, -1.0], [1.5, 2.0, -1.0, 0.0],
              [2.0, 0.0, 3.0, 0.0, 4.0], [0.0, 0.0, 1.0]):
        check_grad(lambda a: mx.cumprod(a, reverse=reverse, inclusive=inclusive),
                   [np.array(x)])
    x = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [2.0, 0.5, -1.0]])
    check_grad(lambda a: mx.cumprod(a, axis=0, reverse=reverse, inclusive=inclusive), [x])
    g = mx.grad(lambda a: mx.cumprod(a, reverse=reverse, inclusive=inclusive).sum())(
        mx.array([0.0, 0.0, 0.0]))
    assert np.all(np.isfinite(np.array(g)))


def test_cummax_ties_follow_mlx():
    """With ties the cotangent goes to the latest (in scan order) of the tied elements."""
    x = mx.array([1.0, 3.0, 3.0, 2.0, 5.0, 5.0])
    w = mx.arange(1, 7).astype(mx.float32)
    expect = {
        (False, True): [1, 2, 7, 0, 5, 6],
        (False, False): [2, 3, 9, 0, 6, 0],
        (True, True): [0, 0, 0, 0, 15, 6],
    }
    for (reverse, inclusive), want in expect.items():
        g = mx.grad(lambda a: (mx.cummax(a, reverse=reverse, inclusive=inclusive) * w).sum())(x)
        np.testing.assert_array_equal(np.array(g), want)
    # The jvp picks the same element: linear in the tangent, so a one-hot tangent shows it.
    _, (t,) = mx.jvp(lambda a: mx.cummin(a), [mx.array([2.0, 1.0, 1.0, 3.0])],
                     [mx.array([0.0, 1.0, 0.0, 0.0])])
    np.testing.assert_array_equal(np.array(t), [0, 1, 0, 0])


def test_logcumsumexp_derivatives_extreme_values():
    check_grad(lambda a: mx.logcumsumexp(a), [np.array([1000.0, -1000.0, 999.0, 0.0])])
    check_grad(lambda a: mx.logcumsumexp(a, reverse=True),
               [np.array([-800.0, 20.0, -30.0, 700.0])])
    g = mx.grad(lambda a: mx.logcumsumexp(a).sum())(mx.array([-np.inf, -np.inf, 0.0]))
    np.testing.assert_allclose(np.array(g), [0.0, 0.0, 1.0])


def test_second_derivatives():
    x = np.array([0.5, -1.2, 2.0, 0.3])
    for op in ["cumsum", "cumprod", "logcumsumexp"]:
        f = lambda a, op=op: mx.grad(lambda b: (getattr(mx, op)(b) ** 2).sum())(a)  # noqa: E731
        check_grad(f, [x], dtypes=("float64",))


def test_integer_and_bool_derivatives():
    x = mx.array([1, 2, 3], dtype=mx.int32)
    for op in ["cumsum", "cumprod", "cummax", "cummin"]:
        _, (g,) = mx.vjp(lambda a: getattr(mx, op)(a), [x], [mx.ones((3,), dtype=mx.int32)])
        assert g.dtype == mx.int32
    _, (g,) = mx.vjp(lambda a: mx.cumprod(a), [x], [mx.ones((3,), dtype=mx.int32)])
    np.testing.assert_array_equal(np.array(g), [9, 4, 2])  # 1+2+6, 1+3, 2
    b = mx.array([True, False, True])
    _, (g,) = mx.vjp(lambda a: mx.cummax(a), [b], [mx.array([True, True, True])])
    assert g.dtype == mx.bool_ and not np.any(np.array(g))


def test_complex_derivatives():
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex64)
    ct = (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex64)
    eps = 1e-3
    for op in ["cumsum", "cumprod", "logcumsumexp"]:
        f = getattr(mx, op)
        _, (g,) = mx.vjp(f, [mx.array(x)], [mx.array(ct)])
        # For a holomorphic f, the vjp is J^H ct: check against a numerical J.
        jac = np.zeros((4, 4), dtype=np.complex128)
        for i in range(4):
            d = np.zeros(4, dtype=np.complex64)
            d[i] = eps
            jac[:, i] = (np.array(f(mx.array(x + d))) - np.array(f(mx.array(x - d)))) / (2 * eps)
        np.testing.assert_allclose(np.array(g), jac.conj().T @ ct, rtol=2e-2, atol=2e-2)
        _, (t,) = mx.jvp(f, [mx.array(x)], [mx.array(ct)])
        np.testing.assert_allclose(np.array(t), jac @ ct, rtol=2e-2, atol=2e-2)


def test_cummax_cummin_second_derivatives_follow_mlx():
    # The positions that route the cotangent are constant in x, so grad of grad works (it used
    # to raise from the scatter of the first vjp); values checked against mlx 0.32.
    x = mx.array([[0.5, -1.0, 2.0, 2.0], [3.0, 1.0, 0.0, 4.0]], dtype=mx.float64)
    expect = {mx.cummax: [[4, 0, 2, 2], [6, 0, 0, 2]], mx.cummin: [[2, 6, 0, 0], [2, 2, 4, 0]]}
    for op, want in expect.items():
        gg = mx.grad(lambda z: mx.sum(mx.grad(lambda y: mx.sum(op(y, axis=1) ** 2))(z)))(x)
        assert gg.tolist() == want
    g2 = mx.grad(lambda z: mx.sum(mx.grad(lambda y: mx.sum(mx.cummax(y, axis=1)))(z)))(x)
    assert g2.tolist() == [[0.0] * 4, [0.0] * 4]
