"""Shape ops and basic indexing, against NumPy."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import DTYPE_NAMES, assert_close, dt, to_numpy

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def _a():
    return mx.array(X)


def check(got, expected):
    assert isinstance(got, mx.array)
    assert got.shape == expected.shape, f"{got.shape} != {expected.shape}"
    np.testing.assert_array_equal(to_numpy(got), expected)


@pytest.mark.parametrize("shape", [(24,), (4, 6), (6, -1), (-1,), (2, 2, 2, 3), (1, 24, 1), [3, 8]],
                         ids=str)
def test_reshape(shape):
    check(mx.reshape(_a(), shape), X.reshape(shape))
    check(_a().reshape(shape), X.reshape(shape))
    check(_a().reshape(*shape), X.reshape(shape))


def test_reshape_scalar_and_empty():
    check(mx.reshape(mx.array([5]), ()), np.array(5))
    check(mx.array(5).reshape(1, 1), np.array([[5]]))
    check(mx.zeros((0, 3)).reshape(3, 0, 1), np.zeros((3, 0, 1)))
    check(mx.zeros((0, 4)).reshape(-1), np.zeros((0,)))


def test_reshape_of_non_contiguous():
    check(_a().transpose(2, 0, 1).reshape(4, 6), X.transpose(2, 0, 1).reshape(4, 6))
    check(_a()[:, ::2].reshape(-1), X[:, ::2].reshape(-1))
    check(mx.broadcast_to(mx.array([1, 2, 3]), (2, 3)).reshape(3, 2),
          np.broadcast_to(np.array([1, 2, 3]), (2, 3)).reshape(3, 2))


@pytest.mark.parametrize("axes", [None, (0, 1, 2), (2, 1, 0), (1, 0, 2), (0, 2, 1), (-1, 0, 1)],
                         ids=str)
def test_transpose(axes):
    check(mx.transpose(_a(), axes), np.transpose(X, axes))
    if axes is None:
        check(_a().transpose(), X.transpose())
        check(_a().T, X.T)
    else:
        check(_a().transpose(axes), X.transpose(axes))
        check(_a().transpose(*axes), X.transpose(*axes))


def test_transpose_then_compute():
    a = _a()
    check(a.T + 1, X.T + 1)
    check(mx.transpose(a, (1, 2, 0)) * mx.transpose(a, (1, 2, 0)), X.transpose(1, 2, 0) ** 2)
    check(mx.array([1, 2]).T, np.array([1, 2]))


@pytest.mark.parametrize("a1, a2", [(0, 1), (0, 2), (1, 2), (-1, 0), (2, 2)])
def test_swapaxes(a1, a2):
    check(mx.swapaxes(_a(), a1, a2), np.swapaxes(X, a1, a2))
    check(_a().swapaxes(a1, a2), np.swapaxes(X, a1, a2))


@pytest.mark.parametrize("src, dst", [(0, 2), (2, 0), (1, -1), (-1, 1), (0, 0)])
def test_moveaxis(src, dst):
    check(mx.moveaxis(_a(), src, dst), np.moveaxis(X, src, dst))
    check(_a().moveaxis(src, dst), np.moveaxis(X, src, dst))


@pytest.mark.parametrize("axis", [None, 0, 2, -1, (0, 2), [0, -1], (0, 2, 4)], ids=str)
def test_squeeze(axis):
    y = np.arange(12).reshape(1, 3, 1, 4, 1)
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    check(mx.squeeze(mx.array(y), axis), np.squeeze(y, np_axis))
    check(mx.array(y).squeeze(axis), np.squeeze(y, np_axis))


def test_squeeze_method_default():
    check(mx.zeros((1, 3, 1)).squeeze(), np.zeros(3))
    check(mx.zeros((1,)).squeeze(), np.zeros(()))


@pytest.mark.parametrize("axis", [0, 1, 3, -1, -4, (0, 1), (0, 4), (-1, -2), [1, 3]], ids=str)
def test_expand_dims(axis):
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    check(mx.expand_dims(_a(), axis), np.expand_dims(X, np_axis))


@pytest.mark.parametrize("src, shape", [
    ((3,), (2, 3)), ((1, 3), (4, 3)), ((2, 1, 4), (2, 5, 4)), ((), (2, 2)), ((4, 1), (3, 4, 6)),
    ((3,), (3,)), ((1,), (0,)),
], ids=str)
def test_broadcast_to(src, shape):
    x = np.arange(int(np.prod(src)), dtype=np.float32).reshape(src)
    check(mx.broadcast_to(mx.array(x), shape), np.broadcast_to(x, shape))
    check(mx.broadcast_to(mx.array(x), shape) + 0, np.broadcast_to(x, shape))


def test_broadcast_to_scalar_value():
    check(mx.broadcast_to(2.5, (2, 2)), np.full((2, 2), 2.5, np.float32))


@pytest.mark.parametrize("start, end", [(0, -1), (1, 2), (0, 1), (-2, -1), (1, 1), (2, 2)])
def test_flatten(start, end):
    expected_shape = X.shape[:start] + (-1,) + X.shape[(end % 3) + 1:]
    check(mx.flatten(_a(), start, end), X.reshape(expected_shape))
    check(_a().flatten(start, end), X.reshape(expected_shape))
    check(mx.flatten(_a(), start_axis=start, end_axis=end), X.reshape(expected_shape))


def test_flatten_default_and_scalar():
    check(mx.flatten(_a()), X.ravel())
    check(_a().flatten(), X.ravel())
    check(mx.flatten(_a().T), X.T.ravel())
    check(mx.flatten(mx.array(3)), np.array([3]))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_concatenate(axis):
    parts = [X, X[:1] + 100, X * 2] if axis == 0 else [X, X + 100]
    check(mx.concatenate([mx.array(p) for p in parts], axis=axis), np.concatenate(parts, axis=axis))
    check(mx.concatenate([mx.array(p) for p in parts], axis), np.concatenate(parts, axis=axis))


def test_concatenate_default_none_and_promotion():
    a, b = mx.array([[1, 2]]), mx.array([[3, 4]])
    check(mx.concatenate([a, b]), np.array([[1, 2], [3, 4]]))
    check(mx.concatenate([a, b], axis=None), np.array([1, 2, 3, 4]))
    check(mx.concatenate([a]), np.array([[1, 2]]))
    c = mx.concatenate([mx.array([1], dtype=mx.int32), mx.array([2.5], dtype=mx.float16)])
    assert c.dtype == mx.float16 and c.tolist() == [1.0, 2.5]
    check(mx.concatenate([_a().T, _a().T], axis=1), np.concatenate([X.T, X.T], axis=1))
    check(mx.concatenate([mx.zeros((0, 3)), mx.ones((2, 3))]), np.ones((2, 3)))


@pytest.mark.parametrize("axis", [0, 1, 3, -1, -4])
def test_stack(axis):
    parts = [X, X + 100, X * 2]
    check(mx.stack([mx.array(p) for p in parts], axis=axis), np.stack(parts, axis=axis))


def test_stack_default_and_scalars():
    check(mx.stack([mx.array(1), mx.array(2)]), np.array([1, 2]))
    check(mx.stack([mx.array([1, 2]), mx.array([3, 4])]), np.array([[1, 2], [3, 4]]))


@pytest.mark.parametrize("sections, axis", [
    (2, 0), (3, 1), (4, 2), (1, 0), (2, -1), ([1], 1), ([1, 3], 2), ([0, 2], 1), ([2, 2], 2),
    ([1, 10], 1),
], ids=str)
def test_split(sections, axis):
    got = mx.split(_a(), sections, axis=axis)
    expected = np.split(X, sections, axis=axis)
    assert isinstance(got, (list, tuple)) and len(got) == len(expected)
    for g, e in zip(got, expected):
        check(g, e)
    method = _a().split(sections, axis=axis)
    for g, e in zip(method, expected):
        check(g, e)


def test_split_default_axis():
    parts = mx.split(mx.arange(6), 3)
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_shape_ops_keep_dtype(name):
    a = mx.ones((2, 3), dtype=dt(name))
    for r in (a.reshape(3, 2), a.T, mx.expand_dims(a, 0), mx.broadcast_to(a, (4, 2, 3)), a[::-1],
              mx.concatenate([a, a]), mx.stack([a, a]), mx.split(a, 3, axis=1)[1], a.flatten(),
              mx.squeeze(a[None]), mx.swapaxes(a, 0, 1), mx.moveaxis(a, 0, 1)):
        assert r.dtype == dt(name)
        assert np.all(to_numpy(r) == 1)


# ---------------------------------------------------------------- indexing

Y = np.arange(60, dtype=np.int32).reshape(3, 4, 5)

INDICES = [
    0, 2, -1, -3,
    slice(None), slice(1, None), slice(None, 2), slice(1, 3), slice(-2, None), slice(None, -1),
    slice(None, None, 2), slice(None, None, -1), slice(None, None, -2), slice(2, 0, -1),
    slice(10, 20), slice(-10, 2), slice(1, 1), slice(5, None, -2),
    None, Ellipsis,
    (0, 1), (0, 1, 2), (-1, -1, -1), (slice(None), 1), (1, slice(None), 2),
    (slice(None, None, -1), slice(1, None, 2)), (Ellipsis, 1), (Ellipsis, None), (None, Ellipsis),
    (1, Ellipsis, 2), (None, 0, None, slice(None), None), (slice(None), None, 1),
    (Ellipsis, slice(None, None, -3)), (slice(2, None, -2), Ellipsis, slice(0, 5, 4)),
    (), (0, Ellipsis),
]


@pytest.mark.parametrize("index", INDICES, ids=repr)
def test_getitem(index):
    a = mx.array(Y)
    check(a[index], Y[index])


def test_getitem_of_views_and_chained():
    a = mx.array(Y)
    check(a.T[1:, ::-1][0], Y.T[1:, ::-1][0])
    check(a[::-1][1][::2], Y[::-1][1][::2])
    check(mx.broadcast_to(a[:1], (2, 4, 5))[:, 1, ::-2], np.broadcast_to(Y[:1], (2, 4, 5))[:, 1, ::-2])
    check((a[1:, 2:] + 1)[0], (Y[1:, 2:] + 1)[0])


def test_getitem_scalar_results():
    a = mx.array([10, 20, 30])
    assert a[1].shape == () and a[1].item() == 20
    assert a[-1].item() == 30
    assert mx.array(5)[None].shape == (1,)
    assert mx.array(5)[...].shape == ()
    assert_close(mx.array([[1.5, 2.5]])[0, 1], np.array(2.5))


def test_getitem_numpy_integer_index():
    a = mx.array(Y)
    check(a[np.int64(1)], Y[1])
    check(a[np.int32(-1), 2], Y[-1, 2])


def test_views_share_values_with_base():
    a = mx.arange(10)
    b = a[2:8:2]
    c = b + 0
    assert c.tolist() == [2, 4, 6]
    assert a.tolist() == list(range(10))
