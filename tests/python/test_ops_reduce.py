"""Reductions (sum, mean, prod, max, min, all, any, var, std, logsumexp, argmax, argmin) and softmax."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import FLOAT_NAMES, NP_DTYPE, assert_close, dt, rounded


def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCTIONS = {
    "sum": np.sum,
    "mean": np.mean,
    "prod": np.prod,
    "max": np.max,
    "min": np.min,
    "var": np.var,
    "std": np.std,
    "logsumexp": _logsumexp,
}
AXES = [None, 0, 1, 2, -1, -3, (0, 2), (2, 0), (1, -1), (0, 1, 2), [0, 1]]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("op", list(REDUCTIONS))
def test_reduction_axes(op, axis, keepdims, rng):
    x = rng.uniform(0.5, 1.5, size=(2, 3, 4)) * rng.choice([-1, 1], size=(2, 3, 4))
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    expected = REDUCTIONS[op](x, axis=np_axis, keepdims=keepdims)
    got = getattr(mx, op)(mx.array(x, dtype=mx.float64), axis=axis, keepdims=keepdims)
    assert_close(got, expected, dtype=mx.float64)
    method = getattr(mx.array(x, dtype=mx.float64), op)(axis=axis, keepdims=keepdims)
    assert_close(method, expected, dtype=mx.float64)


@pytest.mark.parametrize("op", list(REDUCTIONS))
def test_reduction_defaults(op, rng):
    x = rng.uniform(0.5, 1.5, size=(3, 4))
    assert_close(getattr(mx, op)(mx.array(x, dtype=mx.float64)), REDUCTIONS[op](x))
    assert_close(getattr(mx.array(x, dtype=mx.float64), op)(), REDUCTIONS[op](x))
    # The axis may be passed positionally to the method, as in MLX.
    assert_close(getattr(mx.array(x, dtype=mx.float64), op)(1), REDUCTIONS[op](x, axis=1))


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)], ids=str)
def test_var_std_ddof(ddof, axis, rng):
    x = rng.standard_normal((4, 5))
    a = mx.array(x, dtype=mx.float64)
    assert_close(mx.var(a, axis=axis, ddof=ddof), np.var(x, axis=axis, ddof=ddof))
    assert_close(mx.std(a, axis=axis, ddof=ddof), np.std(x, axis=axis, ddof=ddof))
    assert_close(a.var(axis=axis, ddof=ddof, keepdims=True),
                 np.var(x, axis=axis, ddof=ddof, keepdims=True))
    assert_close(a.std(axis=axis, ddof=ddof), np.std(x, axis=axis, ddof=ddof))


def test_var_is_accurate_with_large_mean():
    x = (1e4 + np.arange(10)).astype(np.float32)
    assert_close(mx.var(mx.array(x)), np.var(x.astype(np.float64)), rtol=1e-3)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("op", list(REDUCTIONS))
def test_reduction_float_dtypes(op, dtype, rng):
    x = rounded(rng.uniform(0.5, 1.5, size=(4, 6)), dtype)
    got = getattr(mx, op)(mx.array(x, dtype=dt(dtype)), axis=1)
    rtol = {"float16": 1e-2, "bfloat16": 5e-2}.get(dtype)
    assert_close(got, REDUCTIONS[op](x, axis=1), dtype=dt(dtype), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("shape, axis", [
    ((1_000_003,), None),
    ((257, 1031), 0),
    ((257, 1031), 1),
    ((37, 513, 7), 1),
    ((37, 513, 7), (0, 2)),
    ((16, 16, 16, 16), (1, 3)),
], ids=str)
@pytest.mark.parametrize("op", ["sum", "max", "min", "mean", "logsumexp", "var"])
def test_large_reductions(op, shape, axis, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    got = getattr(mx, op)(mx.array(x), axis=axis)
    expected = REDUCTIONS[op](x.astype(np.float64), axis=axis)
    assert_close(got, expected, dtype=mx.float32, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["sum", "max", "prod", "var", "logsumexp", "all"])
def test_reductions_of_views(op, rng):
    x = rng.uniform(0.5, 1.5, size=(6, 5, 4))
    a = mx.array(x, dtype=mx.float64)
    ref = {"all": lambda v, axis: np.all(v > 1, axis=axis)}.get(op, REDUCTIONS.get(op))
    f = (lambda t, axis: mx.all(t > 1, axis=axis)) if op == "all" else getattr(mx, op)
    for view, np_view in ((a.transpose(2, 0, 1), x.transpose(2, 0, 1)), (a[::2, ::-1], x[::2, ::-1]),
                          (mx.broadcast_to(a[:1], (3, 5, 4)), np.broadcast_to(x[:1], (3, 5, 4)))):
        for axis in (None, 0, 1, (0, 2)):
            assert_close(f(view, axis=axis), ref(np_view, axis=axis))


def test_half_precision_sums_accumulate_in_float32():
    # Accumulating in the element type would stall at 2048 for float16.
    h = mx.sum(mx.ones((10_000,), dtype=mx.float16))
    assert h.dtype == mx.float16 and h.item() == 10_000
    b = mx.sum(mx.ones((1000,), dtype=mx.bfloat16))
    assert b.dtype == mx.bfloat16 and b.item() == 1000
    assert mx.mean(mx.full((4096,), 3.0, dtype=mx.float16)).item() == 3.0


def test_float32_sum_accuracy():
    # A single running float32 sum is off by ~1% here; NumPy's pairwise sum by ~1e-8.
    f = mx.sum(mx.full((1_000_000,), 0.1))
    assert f.item() == pytest.approx(100_000, rel=1e-4)
    m = mx.mean(mx.full((1_000_000,), 0.1))
    assert m.item() == pytest.approx(0.1, rel=1e-4)


def test_reduction_result_dtypes():
    i = mx.array([[1, 2], [3, 4]])
    assert mx.sum(i).dtype == mx.int32 and mx.sum(i).item() == 10
    assert mx.prod(i).dtype == mx.int32 and mx.prod(i).item() == 24
    assert mx.max(i).dtype == mx.int32 and mx.min(i).item() == 1
    assert mx.mean(i).dtype == mx.float32 and mx.mean(i).item() == 2.5
    assert mx.var(i).dtype == mx.float32 and mx.var(i).item() == 1.25
    b = mx.array([True, True, False])
    assert mx.sum(b).dtype == mx.int32 and mx.sum(b).item() == 2
    assert mx.all(i).dtype == mx.bool_ and mx.any(i).dtype == mx.bool_
    assert mx.sum(mx.array([1, 2], dtype=mx.int64)).dtype == mx.int64
    assert mx.sum(mx.array([2**40, 1], dtype=mx.int64)).item() == 2**40 + 1


@pytest.mark.parametrize("name", ["int8", "uint8", "int32", "uint32", "int64", "float16", "float32"])
def test_max_min_extreme_values(name):
    info = np.iinfo(NP_DTYPE[name]) if "int" in name else np.finfo(NP_DTYPE[name])
    x = np.array([info.min, 0, info.max, 1], dtype=NP_DTYPE[name])
    a = mx.array(x)
    assert mx.max(a).item() == info.max
    assert mx.min(a).item() == info.min
    assert mx.argmax(a).item() == 2 and mx.argmin(a).item() == 0


def test_max_min_with_infinities_and_nan():
    inf = float("inf")
    assert mx.max(mx.array([-inf, -inf])).item() == -inf
    assert mx.min(mx.array([inf, inf])).item() == inf
    assert np.isnan(mx.max(mx.array([1.0, float("nan"), 2.0])).item())
    assert np.isnan(mx.min(mx.array([1.0, float("nan"), 2.0])).item())
    assert np.isnan(mx.sum(mx.array([1.0, float("nan")])).item())


def test_logsumexp_is_stable():
    x = mx.array([1000.0, 1000.0, -1000.0])
    assert mx.logsumexp(x).item() == pytest.approx(1000 + np.log(2), rel=1e-6)
    y = mx.array([-1000.0, -1000.0])
    assert mx.logsumexp(y).item() == pytest.approx(-1000 + np.log(2), rel=1e-6)
    assert mx.logsumexp(mx.array([-np.inf, -np.inf])).item() == -np.inf
    assert mx.logsumexp(mx.array([np.inf, 1.0])).item() == np.inf


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("op", ["all", "any"])
def test_all_any(op, axis, keepdims, rng):
    x = rng.random((3, 4)) > 0.3
    x[0] = True
    x[1] = False
    got = getattr(mx, op)(mx.array(x), axis=axis, keepdims=keepdims)
    assert_close(got, getattr(np, op)(x, axis=axis, keepdims=keepdims), dtype=mx.bool_)
    ints = x.astype(np.int32) * 3
    assert_close(getattr(mx, op)(mx.array(ints), axis=axis, keepdims=keepdims),
                 getattr(np, op)(ints, axis=axis, keepdims=keepdims), dtype=mx.bool_)
    assert_close(getattr(mx.array(x), op)(axis=axis, keepdims=keepdims),
                 getattr(np, op)(x, axis=axis, keepdims=keepdims))


def test_all_any_tuple_axes_and_empty():
    x = np.zeros((2, 3, 4), bool)
    x[1, 2, 3] = True
    assert_close(mx.any(mx.array(x), axis=(0, 2)), np.any(x, axis=(0, 2)))
    assert_close(mx.all(mx.array(~x), axis=(1, 2)), np.all(~x, axis=(1, 2)))
    assert mx.all(mx.zeros((0,))).item() is True
    assert mx.any(mx.zeros((0,))).item() is False


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1])
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(op, axis, keepdims, rng):
    x = rng.permutation(24).reshape(2, 3, 4).astype(np.float32)
    got = getattr(mx, op)(mx.array(x), axis=axis, keepdims=keepdims)
    expected = getattr(np, op)(x, axis=axis, keepdims=keepdims)
    assert got.dtype == mx.uint32
    assert got.shape == expected.shape
    np.testing.assert_array_equal(np.array(got), expected)
    method = getattr(mx.array(x), op)(axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(np.array(method), expected)


def test_argmax_ties_take_first_and_views():
    x = np.array([[1, 3, 3, 0], [2, 2, 1, 2], [1, 0, 1, 0]], dtype=np.int32)
    np.testing.assert_array_equal(np.array(mx.argmax(mx.array(x), axis=1)), [1, 0, 0])
    np.testing.assert_array_equal(np.array(mx.argmin(mx.array(x), axis=0)), [0, 2, 1, 0])
    np.testing.assert_array_equal(np.array(mx.argmin(mx.array(x), axis=1)), [3, 2, 1])
    assert mx.argmax(mx.array(x)).item() == 1
    np.testing.assert_array_equal(np.array(mx.argmax(mx.array(x).T, axis=1)), np.argmax(x.T, axis=1))
    big = np.random.default_rng(3).standard_normal((7, 100_003)).astype(np.float32)
    np.testing.assert_array_equal(np.array(mx.argmax(mx.array(big), axis=1)), np.argmax(big, axis=1))
    np.testing.assert_array_equal(np.array(mx.argmin(mx.array(big), axis=0)), np.argmin(big, axis=0))


def test_empty_reductions():
    e = mx.zeros((0, 3))
    assert mx.sum(e).item() == 0
    assert mx.prod(e).item() == 1
    assert mx.sum(e, axis=0).tolist() == [0, 0, 0]
    assert mx.sum(e, axis=1).shape == (0,)


# ---------------------------------------------------------------- softmax


def _softmax(x, axis=None):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (1, 2)], ids=str)
def test_softmax(axis, rng):
    x = rng.standard_normal((2, 3, 4)) * 3
    got = mx.softmax(mx.array(x, dtype=mx.float64), axis=axis)
    assert_close(got, _softmax(x, axis), dtype=mx.float64)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_softmax_dtypes_and_stability(dtype, rng):
    x = rounded(rng.standard_normal((3, 5)) * 2, dtype)
    got = mx.softmax(mx.array(x, dtype=dt(dtype)), axis=-1)
    assert_close(got, _softmax(x, -1), dtype=dt(dtype))
    big = mx.softmax(mx.array([1000.0, 1000.0, -1000.0], dtype=dt("float32")), axis=0)
    np.testing.assert_allclose(np.array(big), [0.5, 0.5, 0.0], atol=1e-7)
    assert mx.softmax(mx.array([1.0, 2.0]), axis=-1).dtype == mx.float32


def test_softmax_rows_sum_to_one(rng):
    x = rng.standard_normal((64, 1000)).astype(np.float32) * 10
    s = mx.softmax(mx.array(x), axis=-1)
    np.testing.assert_allclose(np.array(mx.sum(s, axis=-1)), np.ones(64), rtol=1e-5)
    assert_close(s, _softmax(x.astype(np.float64), -1), rtol=1e-4, atol=1e-7)
