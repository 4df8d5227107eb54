"""NumPy indexing: __getitem__/__setitem__ with every kind of key against NumPy, .at[...] updates
against NumPy's ufunc.at, take / take_along_axis / put_along_axis, bounds errors, and the
derivatives of all of them against finite differences (VJP and JVP)."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import check_grad

SHAPE = (3, 4, 5)
BASE = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)


def as_mx_key(key):
    """The key with NumPy arrays as pullback arrays (lists, ints and slices stay)."""
    if not isinstance(key, tuple):
        key = (key,)
    return tuple(mx.array(k) if isinstance(k, np.ndarray) else k for k in key)


# Keys NumPy gives a result for; each mixes the kinds differently (advanced axes adjacent or
# not, integers among arrays, None and Ellipsis between them, boolean masks, broadcasting).
KEYS = [
    1, -1, slice(None), slice(1, None, 2), slice(None, None, -1), (Ellipsis, 2), (None, 0, ..., None),
    np.array([2, 0, 2]), [1, 0], (slice(None), [3, 0, 1]), (slice(None), [2, 0], [1, 4]),
    ([1, 0], slice(None), [0, 3]), (0, slice(None), [1, 2]), (slice(None), 0, [4, 1]),
    (slice(None), None, [1, 2]), ([[0], [2]], [0, 3, 1]), (..., [4, 0]),
    (slice(None, None, -1), [2, -1]), (1, [0, 2], slice(1, None, 2)),
    ([[0, 1], [2, 0]], slice(None), [[4], [0]]), (np.array([], dtype=np.int32),),
    (np.array([[True, False, True, False]] * 3),), (BASE[:, 0, 0] > 20,),
    (slice(None), BASE[0, :, 0] > 6), (True,), (False,), (None, True), (BASE > 30,),
    (np.int64(2), np.array([1, 1, 0], dtype=np.uint8)), ([-3, 2], [-1, 0], [0, -5]),
    (slice(-100, 100), [0]), (slice(10, 0, -3), [1, 2]),
]


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
def test_getitem_matches_numpy(key):
    want = BASE[key]
    got = mx.array(BASE)[as_mx_key(key)]
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.array(got), want)


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
def test_setitem_matches_numpy(key):
    want = BASE.copy()
    region = want[key]
    value = (np.arange(region.size, dtype=np.float32) + 1000).reshape(region.shape)
    want[key] = value
    got = mx.array(BASE)
    got[as_mx_key(key)] = mx.array(value)
    np.testing.assert_array_equal(np.array(got), want)
    # A broadcast scalar too.
    want = BASE.copy()
    want[key] = -7
    got = mx.array(BASE)
    got[as_mx_key(key)] = -7
    np.testing.assert_array_equal(np.array(got), want)


def test_random_keys_against_numpy():
    rng = np.random.default_rng(7)
    cases = 0
    for _ in range(300):
        ndim = int(rng.integers(1, 4))
        shape = tuple(int(s) for s in rng.integers(1, 5, size=ndim))
        a = rng.standard_normal(shape).astype(np.float32)
        key = []
        for d in range(ndim):
            kind = rng.integers(0, 5)
            if kind == 0:
                key.append(int(rng.integers(-shape[d], shape[d])))
            elif kind == 1:
                lo, hi = sorted(rng.integers(-6, 7, size=2))
                key.append(slice(int(lo), int(hi), int(rng.choice([-2, -1, 1, 3]))))
            elif kind == 2:
                key.append(rng.integers(-shape[d], shape[d], size=int(rng.integers(1, 4))))
            elif kind == 3:
                key.append(None)
                key.append(slice(None))
            else:
                key.append(slice(None))
        key = tuple(key)
        try:
            want = a[key]
        except IndexError:  # index arrays that do not broadcast: a ValueError in MLX
            with pytest.raises(ValueError):
                mx.array(a)[as_mx_key(key)]
            continue
        got = mx.array(a)[as_mx_key(key)]
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(np.array(got), want)
        b = a.copy()
        b[key] = 5.0
        c = mx.array(a)
        c[as_mx_key(key)] = 5.0
        np.testing.assert_array_equal(np.array(c), b)
        cases += 1
    assert cases > 200


def test_index_dtypes_and_value_dtypes():
    a = mx.arange(10)
    for dt in (mx.int8, mx.uint8, mx.int16, mx.uint16, mx.int32, mx.uint32, mx.int64, mx.uint64):
        assert a[mx.array([9, 1], dtype=dt)].tolist() == [9, 1]
    b = mx.zeros(3, dtype=mx.int32)
    b[mx.array([0, 2])] = 2.7  # cast to the array's dtype, as MLX does
    assert b.dtype == mx.int32 and b.tolist() == [2, 0, 2]


def test_assignment_with_repeated_indices_keeps_the_last():
    a = mx.zeros(4)
    a[mx.array([1, 3, 1])] = mx.array([5.0, 6.0, 7.0])
    assert a.tolist() == [0, 7, 0, 6]


@pytest.mark.parametrize("method,ufunc", [("add", np.add), ("subtract", np.subtract),
                                          ("multiply", np.multiply), ("divide", np.divide),
                                          ("maximum", np.maximum), ("minimum", np.minimum)])
def test_at_updates_match_numpy_ufunc_at(method, ufunc):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 3)).astype(np.float32)
    idx = np.array([0, 4, 0, 2, 0])
    vals = rng.standard_normal((5, 3)).astype(np.float32) + 2
    want = a.copy()
    ufunc.at(want, idx, vals)
    got = getattr(mx.array(a).at[mx.array(idx)], method)(mx.array(vals))
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6)
    # Tuple keys with slices and a scalar value.
    want = a.copy()
    ufunc.at(want, (slice(None), [2, 2]), np.float32(3.0))
    got = getattr(mx.array(a).at[:, [2, 2]], method)(3.0)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6)


def test_at_leaves_the_array_unchanged():
    a = mx.array([1.0, 2.0])
    b = a.at[0].add(5.0)
    assert a.tolist() == [1.0, 2.0] and b.tolist() == [6.0, 2.0]


def test_take_and_along_axis_match_numpy():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((4, 5, 6)).astype(np.float32)
    idx = np.array([[3, -1], [0, 2]])
    for axis in (None, 0, 1, -1):
        np.testing.assert_array_equal(np.array(mx.take(mx.array(a), mx.array(idx), axis=axis)),
                                      np.take(a, idx, axis=axis))
    assert mx.take(mx.array(a), 2, axis=1).shape == (4, 6)
    for axis in (0, 1, 2, -1):
        order = np.argsort(a, axis=axis)
        np.testing.assert_array_equal(
            np.array(mx.take_along_axis(mx.array(a), mx.array(order), axis=axis)),
            np.take_along_axis(a, order, axis=axis))
    # Indices broadcast against the array's other axes.
    col = np.array([[[1], [0], [4], [2], [3]]])  # shape (1, 5, 1)
    np.testing.assert_array_equal(np.array(mx.take_along_axis(mx.array(a), mx.array(col), axis=2)),
                                  np.take_along_axis(a, col, axis=2))
    np.testing.assert_array_equal(
        np.array(mx.take_along_axis(mx.array(a), mx.array(idx.ravel()), axis=None)),
        np.take_along_axis(a, idx.ravel(), axis=None))
    order1 = np.argsort(a, axis=1)
    want = a.copy()
    np.put_along_axis(want, order1[:, :2], -1.0, axis=1)
    got = mx.put_along_axis(mx.array(a), mx.array(order1[:, :2]), -1.0, axis=1)
    np.testing.assert_array_equal(np.array(got), want)
    vals = rng.standard_normal((4, 5, 2)).astype(np.float32)
    want = a.copy()
    np.put_along_axis(want, order[:, :, :2], vals, axis=2)
    got = mx.put_along_axis(mx.array(a), mx.array(order[:, :, :2]), mx.array(vals), axis=2)
    np.testing.assert_array_equal(np.array(got), want)


def test_index_errors():
    a = mx.arange(6).reshape(2, 3)
    with pytest.raises(IndexError, match=r"^\[__getitem__\] Index 2 is out of bounds for axis 0"):
        a[2]
    # A malformed key is a ValueError (as in MLX); only out-of-range values are IndexErrors.
    with pytest.raises(ValueError, match=r"^\[__getitem__\] Too many indices"):
        a[0, 0, 0]
    with pytest.raises(ValueError, match=r"integer or boolean"):
        a[mx.array([0.5])]
    with pytest.raises(ValueError, match=r"boolean index of shape \(3,\)"):
        a[mx.array([True, False, True])]
    with pytest.raises(ValueError, match=r"could not be broadcast together with shapes \(2,\) \(3,\)"):
        a[mx.array([0, 1]), mx.array([0, 1, 2])]
    # Array entries out of range raise when the result is evaluated, naming the op.
    b = a[mx.array([0, 5])]
    with pytest.raises(IndexError, match=r"^\[gather\] Index 5 is out of bounds for axis 0 with size 2"):
        mx.eval(b)
    c = mx.zeros(3)
    c[mx.array([7])] = 1.0
    with pytest.raises(IndexError, match=r"^\[scatter\] Index 7 is out of bounds"):
        mx.eval(c)
    with pytest.raises(IndexError):
        mx.eval(mx.take(a, mx.array([-7])))
    with pytest.raises(ValueError, match=r"single ellipsis"):
        a[..., ...]
    with pytest.raises(ValueError, match=r"valid indices"):
        a[1.0]
    with pytest.raises(ValueError, match=r"^\[__setitem__\] Cannot assign a value of shape \(4,\)"):
        a[mx.array([0, 1])] = mx.zeros(4)
    with pytest.raises(ValueError, match=r"^\[take_along_axis\]"):
        mx.take_along_axis(a, mx.array([0, 1]), axis=0)
    with pytest.raises(TypeError, match=r"^\[take\] axis"):
        mx.take(a, mx.array([0]), axis=1.5)


# ---- derivatives (float64, against central differences, VJP and JVP) ----

X = np.linspace(-1.3, 2.1, 12).reshape(3, 4)


def test_getitem_gradients():
    idx = mx.array([2, 0, 2])
    check_grad(lambda x: x[idx], [X])
    check_grad(lambda x: x[:, mx.array([3, 3, 1])] * x[0, 1], [X])
    check_grad(lambda x: x[mx.array([[0], [2]]), mx.array([1, 3])], [X])
    check_grad(lambda x: x[mx.array(X > 0)], [X])
    check_grad(lambda x: mx.take(x, mx.array([5, 0, 5]), axis=None), [X])
    check_grad(lambda x: mx.take_along_axis(x, mx.array([[1], [0], [3]]), axis=1), [X])


def test_setitem_and_at_gradients():
    idx = mx.array([2, 0, 2])

    def assign(x, v):
        y = x * 1.0
        y[idx] = v
        return y * y

    check_grad(assign, [X, np.linspace(0.5, 1.5, 12).reshape(3, 4)])

    def mask_assign(x, v):
        y = x * 1.0
        y[y > 0.5] = v
        return y * x

    check_grad(mask_assign, [X, np.array(0.75)])
    v = np.linspace(0.5, 1.5, 12).reshape(3, 4)
    for method in ("add", "subtract", "multiply", "divide", "maximum", "minimum"):
        check_grad(lambda x, u, m=method: getattr(x.at[idx], m)(u), [X, v])
    check_grad(lambda x, u: mx.put_along_axis(x, mx.array([[1], [0], [3]]), u, axis=1),
               [X, np.array([[0.5], [1.5], [-2.0]])])


def test_slices_with_array_starts():
    b = mx.arange(12).reshape(3, 4)
    assert mx.slice(b, mx.array([1, 2]), [0, 1], [2, 2]).tolist() == [[6, 7], [10, 11]]
    assert mx.slice(b, mx.array(1), [1], [3, 2]).tolist() == [[1, 2], [5, 6], [9, 10]]
    assert mx.slice(b, mx.array([-1]), [0], [1, 4]).tolist() == [[8, 9, 10, 11]]
    got = mx.slice_update(b, mx.array([[100, 101]]), mx.array([1, 2]), [0, 1])
    assert got.tolist() == [[0, 1, 2, 3], [4, 5, 100, 101], [8, 9, 10, 11]]
    with pytest.raises(IndexError, match=r"does not fit for axis 1 with size 4"):
        mx.eval(mx.slice(b, mx.array([3]), [1], [3, 2]))
    with pytest.raises(ValueError, match=r"^\[slice\]"):
        mx.slice(b, mx.array([1]), [1], [2])
    with pytest.raises(ValueError, match=r"^\[slice\] start_indices of shape \(2,\)"):
        mx.slice(b, mx.array([1, 2]), [1], [3, 2])
    check_grad(lambda x: mx.slice(x, mx.array([1, 1]), [0, 1], [2, 3]), [X])
    check_grad(lambda x, u: mx.slice_update(x, u, mx.array([2, 0]), [0, 1]),
               [X, np.array([[0.5, -1.5]])])


def test_assignment_is_differentiable_as_in_the_issue():
    def fn(x):
        out = mx.zeros([4])
        out[mx.array([0, 1])] = x
        return out.sum()

    assert mx.grad(fn)(mx.array([2.0, 3.0])).tolist() == [1.0, 1.0]


def test_derivative_with_respect_to_indices_is_an_error():
    f = lambda x: mx.take(x, mx.astype(x, mx.int32)).sum()
    with pytest.raises(ValueError, match="stop_gradient"):
        mx.grad(f)(mx.array([0.0, 1.0]))
    g = lambda x: mx.take(x, mx.stop_gradient(mx.astype(x, mx.int32))).sum()
    assert mx.grad(g)(mx.array([0.0, 1.0])).tolist() == [1.0, 1.0]


def test_scatter_max_min_vjp_at_ties_follows_mlx():
    # MLX's rule (checked against mlx 0.32): every source equal to the result (the original
    # element and each tied update) gets the whole cotangent.
    y0 = mx.array([[1.0, 2.0, 3.0, 4.0], [1.0, 0.0, 3.0, 5.0], [2.0, 2.0, 2.0, 2.0]])
    w = mx.arange(12.0).reshape(3, 4)
    g = mx.grad(lambda y: mx.sum(y.at[mx.array([0, 0])].maximum(y[1:3]) * w))(y0)
    assert g.tolist() == [[0, 1, 2, 0], [4, 5, 8, 10], [8, 10, 10, 11]]
    g = mx.grad(lambda y: mx.sum(y.at[mx.array([0])].minimum(y[1:2]) * w))(y0)
    assert g.tolist() == [[0, 0, 2, 3], [4, 6, 8, 7], [8, 9, 10, 11]]
