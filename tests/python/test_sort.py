"""Sorting ops (sort, argsort, partition, argpartition, topk, median, searchsorted, unique)
against NumPy, their derivatives against finite differences, and their errors."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import DTYPE_NAMES, NP_DTYPE, check_grad, dt, to_numpy

try:
    import mlx.core as mlx
except ImportError:  # pragma: no cover
    mlx = None


def sample(rng, dname, shape, special=True):
    """Values of dtype `dname` with many ties; floats include NaN, +-inf and -0.0."""
    if dname == "bool_":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dname.startswith("uint"):
        return rng.integers(0, 50, size=shape).astype(NP_DTYPE[dname])
    if dname.startswith("int"):
        return rng.integers(-50, 50, size=shape).astype(NP_DTYPE[dname])
    x = rng.integers(-20, 20, size=shape).astype(np.float64) / 4
    if dname == "complex64":
        x = x + 1j * rng.integers(-2, 3, size=shape) / 2
    if special and x.size >= 8:
        flat = x.reshape(-1)
        picks = rng.choice(flat.size, size=min(flat.size, 6), replace=False)
        specials = [np.nan, np.inf, -np.inf, -0.0, np.nan, 0.0]
        if dname == "complex64":
            specials = [complex(np.nan, 0), complex(1, np.nan), complex(np.inf, 1), -0.0,
                        complex(np.nan, np.nan), 0.0]
        for p, v in zip(picks, specials):
            flat[p] = v
    return x.astype(np.float32 if dname == "bfloat16" else NP_DTYPE[dname])


def to_mx(x, dname):
    return mx.array(x, dtype=dt(dname))


@pytest.mark.parametrize("dname", DTYPE_NAMES)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, -2])
def test_sort_argsort_dtypes(dname, axis, rng):
    x = sample(rng, dname, (5, 37))
    a = to_mx(x, dname)
    s = mx.sort(a, axis=axis)
    i = mx.argsort(a, axis=axis)
    assert s.dtype == dt(dname) and i.dtype == mx.uint32
    want_s = np.sort(x, axis=axis)
    want_i = np.argsort(x, axis=axis, kind="stable")
    np.testing.assert_array_equal(to_numpy(s), want_s)
    np.testing.assert_array_equal(to_numpy(i), want_i)


@pytest.mark.parametrize("dname", ["float32", "int32", "uint32", "float64", "int64", "float16"])
@pytest.mark.parametrize("shape,axis", [((3, 5000), -1), ((4100,), 0), ((3000, 2), 0)])
def test_sort_long_rows(dname, shape, axis, rng):
    # Rows long enough for the radix sort (4-byte keys), with many ties, NaNs and -0.0.
    x = sample(rng, dname, shape)
    if dname.startswith("float"):
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, size=flat.size // 10, replace=False)] = np.nan
        flat[rng.choice(flat.size, size=flat.size // 10, replace=False)] = -0.0
    a = to_mx(x, dname)
    np.testing.assert_array_equal(to_numpy(mx.sort(a, axis=axis)), np.sort(x, axis=axis))
    np.testing.assert_array_equal(to_numpy(mx.argsort(a, axis=axis)),
                                  np.argsort(x, axis=axis, kind="stable"))


def test_sort_extreme_values():
    for dname, vals in [("float32", [np.inf, -np.inf, 3.4e38, -3.4e38, 1e-45, -1e-45, 0.0, -0.0,
                                     np.nan]),
                        ("int32", [2**31 - 1, -2**31, 0, -1, 1]),
                        ("uint32", [2**32 - 1, 0, 2**31, 2**31 - 1])]:
        x = np.array(vals * 300, dtype=NP_DTYPE[dname])
        np.random.default_rng(0).shuffle(x)
        a = mx.array(x)
        np.testing.assert_array_equal(to_numpy(mx.sort(a)), np.sort(x))
        np.testing.assert_array_equal(to_numpy(mx.argsort(a)), np.argsort(x, kind="stable"))
        small = x[:17]
        np.testing.assert_array_equal(to_numpy(mx.sort(mx.array(small))), np.sort(small))


@pytest.mark.parametrize("view", ["transposed", "stepped", "reversed", "broadcast"])
@pytest.mark.parametrize("axis", [0, 1, None])
def test_sort_non_contiguous(view, axis, rng):
    base = rng.standard_normal((40, 30)).astype(np.float32)
    a = mx.array(base)
    if view == "transposed":
        x, v = base.T, a.T
    elif view == "stepped":
        x, v = base[::3, 1::2], a[::3, 1::2]
    elif view == "reversed":
        x, v = base[::-1, ::-1], a[::-1, ::-1]
    else:
        x, v = np.broadcast_to(base[:1], (40, 30)), mx.broadcast_to(a[:1], (40, 30))
    for f, g in [(mx.sort, np.sort), (mx.argsort, lambda y, axis: np.argsort(y, axis, kind="stable"))]:
        np.testing.assert_array_equal(to_numpy(f(v, axis=axis)), g(x, axis=axis))
    p = mx.partition(v, 7, axis=axis)
    np.testing.assert_array_equal(np.take(to_numpy(p), 7, axis=0 if axis is None else axis),
                                  np.take(np.sort(x, axis=axis), 7, axis=0 if axis is None else axis))


def test_sort_shapes_and_empty():
    assert mx.sort(mx.zeros((2, 0))).shape == (2, 0)
    assert mx.argsort(mx.zeros((0, 3)), axis=0).shape == (0, 3)
    assert mx.sort(mx.zeros((0, 3)), axis=None).shape == (0,)
    assert mx.sort(mx.array(3.0), axis=None).tolist() == [3.0]
    assert mx.argsort(mx.array(3.0), axis=None).tolist() == [0]
    assert mx.sort(mx.array([[3, 1], [2, 4]]), axis=None).tolist() == [1, 2, 3, 4]
    assert mx.topk(mx.zeros((3, 4)), 0).shape == (3, 0)
    assert mx.sort([3, 1, 2]).tolist() == [1, 2, 3]


@pytest.mark.parametrize("dname", DTYPE_NAMES)
@pytest.mark.parametrize("kth", [0, 3, 20, -1, -36])
def test_partition(dname, kth, rng):
    x = sample(rng, dname, (4, 36))
    a = to_mx(x, dname)
    p = to_numpy(mx.partition(a, kth))
    ip = mx.argpartition(a, kth)
    assert ip.dtype == mx.uint32
    ip = to_numpy(ip)
    k = kth % 36
    srt = np.sort(x, axis=-1)
    # The kth element is in place; the values are the input at the indices, a permutation.
    np.testing.assert_array_equal(p[:, k], srt[:, k])
    np.testing.assert_array_equal(np.sort(p, axis=-1), srt)
    np.testing.assert_array_equal(np.take_along_axis(x, ip, -1), p)
    np.testing.assert_array_equal(np.sort(ip, axis=-1), np.tile(np.arange(36), (4, 1)))
    # The order is a total one (value, then index): exactly the elements ranked below kth by a
    # stable sort come before it.
    rank = np.argsort(np.argsort(x, axis=-1, kind="stable"), axis=-1, kind="stable")
    r = np.take_along_axis(rank, ip, -1)
    np.testing.assert_array_equal(np.sort(r[:, :k], axis=-1), np.tile(np.arange(k), (4, 1)))
    np.testing.assert_array_equal(r[:, k], np.full(4, k))


def test_partition_axis_none_and_negative(rng):
    x = rng.standard_normal((6, 7)).astype(np.float32)
    p = to_numpy(mx.partition(mx.array(x), 10, axis=None))
    assert p.shape == (42,)
    assert p[10] == np.sort(x, axis=None)[10]
    assert np.all(p[:10] <= p[10]) and np.all(p[11:] >= p[10])
    p0 = to_numpy(mx.partition(mx.array(x), -2, axis=0))
    np.testing.assert_array_equal(p0[4], np.sort(x, axis=0)[4])


@pytest.mark.parametrize("dname", ["int32", "float32", "float16", "bfloat16", "float64", "uint8",
                                   "complex64", "bool_"])
@pytest.mark.parametrize("k", [0, 1, 5, 30])
@pytest.mark.parametrize("axis", [-1, 0, None])
def test_topk(dname, k, axis, rng):
    x = sample(rng, dname, (30, 30))
    t = mx.topk(to_mx(x, dname), k, axis=axis)
    srt = np.sort(x, axis=axis)
    n = srt.shape[-1 if axis is None else axis]
    want = np.take(srt, np.arange(n - k, n), axis=-1 if axis is None else axis)
    assert t.dtype == dt(dname)
    np.testing.assert_array_equal(np.sort(to_numpy(t), axis=-1 if axis is None else axis), want)


def test_topk_matches_mlx_order():
    x = [3.0, np.nan, 1.0, 2.0, -np.inf, 1.0]
    assert np.array_equal(to_numpy(mx.topk(mx.array(x), 3)), [2.0, 3.0, np.nan], equal_nan=True)
    assert to_numpy(mx.topk(mx.array([[1, 2, 3], [4, 5, 6]]), 2, axis=None)).tolist() == [5, 6]


@pytest.mark.parametrize("dname", ["float32", "float64", "float16", "bfloat16", "int32", "uint8",
                                   "bool_", "complex64"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (2, 0), [0, 1, 2]])
@pytest.mark.parametrize("keepdims", [False, True])
def test_median(dname, axis, keepdims, rng):
    x = sample(rng, dname, (3, 4, 5), special=False)
    got = mx.median(to_mx(x, dname), axis=axis, keepdims=keepdims)
    want_dtype = dt(dname) if dname in ("float16", "bfloat16", "float64", "complex64", "float32") \
        else mx.float32
    assert got.dtype == want_dtype
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    if dname == "complex64":
        # NumPy's median of complex values sorts them the same way (real, then imaginary).
        want = np.median(x, axis=np_axis, keepdims=keepdims)
    else:
        want = np.median(x.astype(np.float64), axis=np_axis, keepdims=keepdims)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-2 if dname in ("float16", "bfloat16") else 1e-6)


def test_median_nan_and_mlx_cases():
    assert np.isnan(mx.median(mx.array([1.0, np.nan, 3.0])).item())
    got = to_numpy(mx.median(mx.array([[1.0, np.nan, 3.0], [1.0, 2.0, 4.0]]), axis=1))
    np.testing.assert_array_equal(got, [np.nan, 2.0])
    assert mx.median(mx.array([[1.0, 5, 3], [2, 2, 9]])).item() == 2.5
    assert mx.median(mx.array([True, False])).item() == 0.5
    assert mx.median(mx.array([1 + 1j, 2])).item() == 1.5 + 0.5j
    assert mx.median(mx.zeros((2, 3, 4)), axis=(0, 2)).shape == (3,)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("dname", ["float32", "float64", "int32", "uint8", "float16", "int64"])
def test_searchsorted(side, dname, rng):
    seq = np.sort(sample(rng, dname, (40,), special=False))
    vals = sample(rng, dname, (3, 7), special=False)
    got = mx.searchsorted(to_mx(seq, dname), to_mx(vals, dname), side=side)
    assert got.dtype == mx.uint32 and got.shape == (3, 7)
    np.testing.assert_array_equal(to_numpy(got), np.searchsorted(seq, vals, side=side))
    # Strided values, and the default side.
    got = mx.searchsorted(to_mx(seq, dname), to_mx(vals, dname).T)
    np.testing.assert_array_equal(to_numpy(got), np.searchsorted(seq, vals.T))


def test_searchsorted_nan_and_promotion():
    seq = mx.array([1.0, 2.0, np.nan])
    assert mx.searchsorted(seq, mx.array([np.nan, 3.0])).tolist() == [2, 2]
    assert mx.searchsorted(mx.array([1, 2, 2, 3]), mx.array([1.5])).tolist() == [1]
    np.testing.assert_array_equal(
        to_numpy(mx.searchsorted(mx.array([1, 2, 2, 3]), mx.array([[2, 0], [5, 2]]), side="right")),
        [[3, 0], [4, 3]])
    assert mx.searchsorted(mx.array([1.0, 2.0]), mx.zeros((0, 2))).shape == (0, 2)
    assert mx.searchsorted(mx.zeros((0,)), mx.array([1.0, 2.0])).tolist() == [0, 0]


def unique_reference(x, size, fill=None):
    """MLX's unique from np.unique: padded with fill (default the smallest element; index of
    the first one) or truncated to the smallest `size`."""
    flat = x.reshape(-1)
    perm = np.argsort(flat, kind="stable")
    srt = flat[perm]
    new = np.ones(len(srt), bool)
    new[1:] = srt[1:] != srt[:-1]
    groups = np.cumsum(new) - 1
    starts = list(np.nonzero(new)[0]) + [len(srt)]
    nu = len(starts) - 1
    vals, index, counts = [], [], []
    for u in range(size):
        if u < nu:
            vals.append(srt[starts[u]])
            index.append(perm[starts[u]])
            counts.append(starts[u + 1] - starts[u])
        else:
            vals.append(srt[0] if fill is None else fill)
            index.append(perm[0])
            counts.append(0)
    inv = np.empty(len(flat), np.int64)
    inv[perm] = np.minimum(groups, max(size - 1, 0))
    return (np.array(vals, dtype=x.dtype), np.array(index), inv.reshape(x.shape),
            np.array(counts))


@pytest.mark.parametrize("dname", ["int32", "float32", "uint8", "bool_", "float64", "complex64"])
@pytest.mark.parametrize("size", [0, 1, 3, 8, 40])
def test_unique(dname, size, rng):
    x = sample(rng, dname, (4, 5))
    v, i, inv, c = mx.unique(to_mx(x, dname), size, True, True, True)
    rv, ri, rinv, rc = unique_reference(x, size)
    assert v.dtype == dt(dname) and i.dtype == mx.uint32 and inv.dtype == mx.uint32
    assert c.dtype == mx.int32 and inv.shape == x.shape
    np.testing.assert_array_equal(to_numpy(v), rv)
    np.testing.assert_array_equal(to_numpy(i), ri)
    np.testing.assert_array_equal(to_numpy(c), rc)
    if size > 0:
        np.testing.assert_array_equal(to_numpy(inv), rinv)
    nv = mx.unique(to_mx(x, dname), size)
    assert isinstance(nv, mx.array)
    np.testing.assert_array_equal(to_numpy(nv), rv)
    # Without truncation the values are NumPy's unique (NaNs each their own entry).
    if size == 40 and dname not in ("float32", "float64", "complex64"):
        nu = len(np.unique(x))
        np.testing.assert_array_equal(to_numpy(v)[:nu], np.unique(x))


def test_unique_fill_and_edge_cases():
    assert mx.unique(mx.array([3, 1]), 3, fill_value=7).tolist() == [1, 3, 7]
    assert mx.unique(mx.array([3, 1]), 3, fill_value=2.5).tolist() == [1, 3, 2]
    assert mx.unique(mx.array([3, 1]), 3).tolist() == [1, 3, 1]
    assert mx.unique(mx.array(3), 3).tolist() == [3, 3, 3]
    v, inv = mx.unique(mx.array([3, 1]), 0, return_inverse=True)
    assert v.shape == (0,) and inv.tolist() == [0, 0]
    v, i, inv, c = mx.unique(mx.zeros((0, 2)), 2, True, True, True, fill_value=5.0)
    assert v.tolist() == [5.0, 5.0] and c.tolist() == [0, 0] and inv.shape == (0, 2)
    assert mx.unique(mx.zeros((0,)), 0).shape == (0,)


# mlx.core.unique(array(data), size, True, True, True) as produced by mlx 0.32.4:
# (values, indices, inverse, counts), each as a list.
MLX_UNIQUE = [
    (([3, 1, 3, 2], 5), [[1, 2, 3, 1, 1], [1, 3, 0, 1, 1], [2, 0, 2, 1], [1, 1, 2, 0, 0]]),
    (([3, 1, 3, 2], 2), [[1, 2], [1, 3], [1, 0, 1, 1], [1, 1]]),
    (([[3.0, np.nan], [np.nan, 2.0]], 4),
     [[2.0, 3.0, np.nan, np.nan], [3, 0, 1, 2], [[1, 2], [3, 0]], [1, 1, 1, 1]]),
]


def test_unique_matches_values_stored_from_mlx():
    for (data, size), want in MLX_UNIQUE:
        ours = mx.unique(mx.array(data), size, True, True, True)
        assert len(ours) == len(want)
        for o, t in zip(ours, want):
            np.testing.assert_array_equal(to_numpy(o), np.array(t))


def test_argsort_is_stable():
    x = np.array([1, 1, 1, 0, 0, 1, 1, 2, 0] * 3, dtype=np.int32)
    np.testing.assert_array_equal(to_numpy(mx.argsort(mx.array(x))),
                                  np.argsort(x, kind="stable"))


@pytest.mark.skipif(mlx is None, reason="mlx not installed")
def test_unique_matches_mlx():
    cases = [([3, 1, 3, 2], 5), ([3, 1, 3, 2], 2), ([[3.0, np.nan], [np.nan, 2.0]], 4)]
    for data, size in cases:
        ours = mx.unique(mx.array(data), size, True, True, True)
        theirs = mlx.unique(mlx.array(data), size, True, True, True)
        for o, t in zip(ours, theirs):
            np.testing.assert_array_equal(to_numpy(o), np.array(t))


@pytest.mark.skipif(mlx is None, reason="mlx not installed")
def test_argsort_stable_matches_mlx():
    x = np.array([1, 1, 1, 0, 0, 1, 1, 2, 0] * 3, dtype=np.int32)
    np.testing.assert_array_equal(to_numpy(mx.argsort(mx.array(x))),
                                  np.array(mlx.argsort(mlx.array(x))))


# ---- derivatives (inputs without ties) ----

def distinct(rng, shape):
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) + rng.uniform(0.1, 0.4, size=shape)) / n


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_sort_grad(axis, rng):
    x = distinct(rng, (3, 5))
    check_grad(lambda a: mx.sort(a, axis=axis), [x])


@pytest.mark.parametrize("kth", [0, 2, -1])
def test_partition_grad(kth, rng):
    x = distinct(rng, (4, 5))
    check_grad(lambda a: mx.partition(a, kth, axis=0), [x])
    check_grad(lambda a: mx.partition(a, kth, axis=None), [x])


@pytest.mark.parametrize("k", [1, 3])
def test_topk_grad(k, rng):
    x = distinct(rng, (3, 6))
    check_grad(lambda a: mx.topk(a, k), [x])
    check_grad(lambda a: mx.topk(a, k, axis=0), [x])


@pytest.mark.parametrize("axis", [None, 0, (0, 2)])
def test_median_grad(axis, rng):
    x = distinct(rng, (2, 3, 4))
    check_grad(lambda a: mx.median(a, axis=axis), [x])
    check_grad(lambda a: mx.median(a, axis=axis, keepdims=True), [x])


def test_sort_second_derivative(rng):
    x = distinct(rng, (7,))
    f = lambda a: mx.sum(mx.sort(a) ** 3 * mx.arange(7))
    g = mx.grad(lambda a: mx.sum(mx.grad(f)(a) * mx.arange(7)))(mx.array(x, dtype=mx.float64))
    rank = np.argsort(np.argsort(x))
    # f = sum_j sorted_j^3 * j;  df/dx_i = 3 x_i^2 rank_i;  d(sum_i df/dx_i * i)/dx_i = 6 x_i rank_i i
    np.testing.assert_allclose(to_numpy(g), 6 * x * rank * np.arange(7), rtol=1e-10)


def test_index_outputs_have_zero_derivatives(rng):
    x = mx.array(distinct(rng, (3, 4)), dtype=mx.float32)
    for f in [lambda a: mx.argsort(a), lambda a: mx.argpartition(a, 1),
              lambda a: mx.searchsorted(mx.array([0.1, 0.5]), a)]:
        (ct,) = mx.vjp(lambda a: f(a), [x], [mx.ones(f(x).shape, dtype=mx.uint32)])[1]
        assert ct.shape == x.shape and not np.any(to_numpy(ct))
        _, (t,) = mx.jvp(lambda a: f(a), [x], [mx.ones_like(x)])
        assert t.dtype == mx.uint32 and not np.any(to_numpy(t))


# ---- errors ----

@pytest.mark.parametrize("call,exc,op", [
    (lambda: mx.sort(mx.array(3.0)), IndexError, "sort"),
    (lambda: mx.sort(mx.zeros((2, 3)), axis=2), IndexError, "sort"),
    (lambda: mx.argsort(mx.zeros((2, 3)), axis=-3), IndexError, "argsort"),
    (lambda: mx.sort(mx.zeros((2, 3)), axis=1.0), TypeError, "sort"),
    (lambda: mx.sort(mx.zeros((2, 3)), axis="x"), TypeError, "sort"),
    (lambda: mx.sort(None), (TypeError, ValueError), "sort"),
    (lambda: mx.partition(mx.zeros(6), 6), ValueError, "partition"),
    (lambda: mx.partition(mx.zeros(6), -7), ValueError, "partition"),
    (lambda: mx.argpartition(mx.zeros((0,)), 0), ValueError, "argpartition"),
    (lambda: mx.partition(mx.zeros(6), 1.5), TypeError, "partition"),
    (lambda: mx.partition(mx.zeros(6), 1, axis=1), IndexError, "partition"),
    (lambda: mx.topk(mx.zeros(6), 7), ValueError, "topk"),
    (lambda: mx.topk(mx.zeros(6), -1), ValueError, "topk"),
    (lambda: mx.topk(mx.zeros((2, 3)), 1, axis=3), IndexError, "topk"),
    (lambda: mx.topk(mx.zeros(6), None), TypeError, "topk"),
    (lambda: mx.median(mx.zeros((0, 3)), axis=0), ValueError, "median"),
    (lambda: mx.median(mx.zeros((0, 3))), ValueError, "median"),
    (lambda: mx.median(mx.zeros((2, 3)), axis=(0, 0)), ValueError, "median"),
    (lambda: mx.median(mx.zeros((2, 3)), axis=()), ValueError, "median"),
    (lambda: mx.median(mx.zeros((2, 3)), axis=3), IndexError, "median"),
    (lambda: mx.median(mx.zeros((2, 3)), axis=0.5), TypeError, "median"),
    (lambda: mx.searchsorted(mx.zeros((2, 2)), mx.zeros(2)), ValueError, "searchsorted"),
    (lambda: mx.searchsorted(mx.array(1.0), mx.zeros(2)), ValueError, "searchsorted"),
    (lambda: mx.searchsorted(mx.zeros(2), mx.zeros(2), side="mid"), ValueError, "searchsorted"),
    (lambda: mx.searchsorted(mx.zeros(2), mx.zeros(2), side=1), TypeError, "searchsorted"),
    (lambda: mx.unique(mx.array([3, 1]), -1), ValueError, "unique"),
    (lambda: mx.unique(mx.array([3, 1]), 2.0), TypeError, "unique"),
    (lambda: mx.unique(mx.array([3, 1]), 3, fill_value=mx.array([1, 2])), ValueError, "unique"),
    (lambda: mx.unique(mx.zeros((0,)), 2), ValueError, "unique"),
    (lambda: mx.sort(mx.zeros(3), stream="cpu"), (TypeError, ValueError), "sort"),
])
def test_errors(call, exc, op):
    with pytest.raises(exc) as e:
        call()
    if exc is not TypeError and not isinstance(exc, tuple):
        assert str(e.value).startswith(f"[{op}]"), str(e.value)


@pytest.mark.parametrize("dname", ["float32", "int32", "uint32"])
def test_sort_one_long_row_parallel(dname, rng):
    # Long enough that one row is radix sorted by all threads, one slice each.
    x = sample(rng, dname, (300001,))
    if dname == "float32":
        x[rng.choice(x.size, size=5000, replace=False)] = np.nan
        x[rng.choice(x.size, size=5000, replace=False)] = -0.0
    a = mx.array(x)
    np.testing.assert_array_equal(to_numpy(mx.sort(a)), np.sort(x))
    np.testing.assert_array_equal(to_numpy(mx.argsort(a)), np.argsort(x, kind="stable"))
    two = np.stack([x, x[::-1]])
    np.testing.assert_array_equal(to_numpy(mx.argsort(mx.array(two))),
                                  np.argsort(two, axis=-1, kind="stable"))


def test_zero_d_and_other_dtypes():
    assert mx.median(mx.array(3.0)).item() == 3.0
    assert mx.median(mx.array(3.0), keepdims=True).shape == ()
    assert mx.topk(mx.array(3.0), 1, axis=None).tolist() == [3.0]
    assert mx.partition(mx.array(3.0), 0, axis=None).tolist() == [3.0]
    got = mx.searchsorted(mx.array([1, 2, 3]), mx.broadcast_to(mx.array([2]), (2, 3)))
    assert got.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert mx.searchsorted(mx.array([False, True]), mx.array([True])).tolist() == [1]
    assert mx.searchsorted(mx.array([1 + 1j, 2 + 0j]), mx.array([1.5 + 0j])).tolist() == [1]
    assert mx.median(mx.array([1, 2], mx.int64)).dtype == mx.float32
    assert mx.unique(mx.array([1.0, 2.0]), 3, fill_value=mx.array([[9]])).tolist() == [1, 2, 9]
