"""Unary and binary elementwise ops, operators, where and stop_gradient, against NumPy."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import (FLOAT_NAMES, NP_DTYPE, assert_close, dt, erf_reference, erfinv_reference,
                     rounded, to_numpy)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (float64 reference, (low, high) of the sampled inputs)
UNARY = {
    "abs": (np.abs, (-3, 3)),
    "negative": (np.negative, (-3, 3)),
    "sign": (np.sign, (-3, 3)),
    "exp": (np.exp, (-5, 5)),
    "expm1": (np.expm1, (-1, 1)),
    "log": (np.log, (0.05, 5)),
    "log1p": (np.log1p, (-0.5, 3)),
    "log2": (np.log2, (0.05, 5)),
    "log10": (np.log10, (0.05, 5)),
    "sqrt": (np.sqrt, (0, 5)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), (0.1, 5)),
    "square": (np.square, (-3, 3)),
    "reciprocal": (np.reciprocal, (0.2, 3)),
    "sin": (np.sin, (-5, 5)),
    "cos": (np.cos, (-5, 5)),
    "tan": (np.tan, (-1.3, 1.3)),
    "arcsin": (np.arcsin, (-0.95, 0.95)),
    "arccos": (np.arccos, (-0.95, 0.95)),
    "arctan": (np.arctan, (-5, 5)),
    "sinh": (np.sinh, (-3, 3)),
    "cosh": (np.cosh, (-3, 3)),
    "tanh": (np.tanh, (-4, 4)),
    "arcsinh": (np.arcsinh, (-5, 5)),
    "arccosh": (np.arccosh, (1, 5)),
    "arctanh": (np.arctanh, (-0.95, 0.95)),
    "sigmoid": (_sigmoid, (-8, 8)),
    "erf": (erf_reference, (-3, 3)),
    "erfinv": (erfinv_reference, (-0.95, 0.95)),
    "floor": (np.floor, (-5, 5)),
    "ceil": (np.ceil, (-5, 5)),
    "round": (np.round, (-5, 5)),
}


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("op", list(UNARY))
def test_unary_float(op, dtype, rng):
    ref, (lo, hi) = UNARY[op]
    x = rounded(rng.uniform(lo, hi, size=(3, 5)), dtype)
    a = mx.array(x, dtype=dt(dtype))
    assert_close(getattr(mx, op)(a), ref(x), dtype=dt(dtype))


@pytest.mark.parametrize("op", ["abs", "exp", "log", "sin", "cos", "sqrt", "square", "round",
                                "reciprocal", "rsqrt", "log10", "log2", "log1p"])
def test_unary_methods(op, rng):
    ref, (lo, hi) = UNARY[op]
    x = rng.uniform(max(lo, 0.1), hi, size=(4,)).astype(np.float32)
    assert_close(getattr(mx.array(x), op)(), ref(x.astype(np.float64)), dtype=mx.float32)


@pytest.mark.parametrize("op", ["exp", "sin", "log", "tanh", "sigmoid", "sqrt", "erf", "abs"])
@pytest.mark.parametrize("layout", ["transposed", "strided", "broadcast", "reversed"])
def test_unary_on_views(op, layout, rng):
    ref, (lo, hi) = UNARY[op]
    x = rng.uniform(max(lo, 0.05), hi, size=(6, 5))
    a = mx.array(x, dtype=mx.float64)
    view = {
        "transposed": lambda t: t.T,
        "strided": lambda t: t[::2, 1::3],
        "broadcast": lambda t: mx.broadcast_to(t[:1], (4, 5)) if isinstance(t, mx.array)
        else np.broadcast_to(t[:1], (4, 5)),
        "reversed": lambda t: t[::-1, ::-2],
    }[layout]
    assert_close(getattr(mx, op)(view(a)), ref(view(x)), dtype=mx.float64)


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 16, 17, 31, 33, 1000, 100_003])
@pytest.mark.parametrize("op", ["exp", "log", "sin", "tanh", "sigmoid", "erf", "sqrt"])
def test_unary_float32_sizes(op, n, rng):
    # Lengths around vector widths and thread splits exercise kernel tails.
    ref, (lo, hi) = UNARY[op]
    x = rng.uniform(max(lo, 0.05), hi, size=n).astype(np.float32)
    assert_close(getattr(mx, op)(mx.array(x)), ref(x.astype(np.float64)), dtype=mx.float32)


@pytest.mark.parametrize("op, lo, hi, rtol, atol", [
    ("exp", -87, 88, 2e-6, 0),
    ("log", 1e-30, 1e30, 2e-6, 1e-6),
    ("sin", -1e4, 1e4, 0, 2e-5),
    ("cos", -1e4, 1e4, 0, 2e-5),
    ("tanh", -20, 20, 1e-5, 1e-6),
    ("sigmoid", -80, 80, 1e-5, 1e-7),
    ("expm1", -20, 20, 2e-6, 1e-7),
    ("log1p", -0.999, 1e6, 2e-6, 1e-7),
])
def test_unary_float32_wide_range(op, lo, hi, rtol, atol, rng):
    ref, _ = UNARY[op]
    if op == "log":
        x = np.exp(rng.uniform(np.log(lo), np.log(hi), size=4096)).astype(np.float32)
    else:
        x = rng.uniform(lo, hi, size=4096).astype(np.float32)
    assert_close(getattr(mx, op)(mx.array(x)), ref(x.astype(np.float64)), rtol=rtol, atol=atol)


def test_unary_special_values():
    inf, nan = float("inf"), float("nan")
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        d = dt(dtype)
        x = mx.array([0.0, -0.0, inf, -inf, nan, 1.0], dtype=d)
        np.testing.assert_array_equal(np.array(mx.isnan(x)), [0, 0, 0, 0, 1, 0])
        np.testing.assert_array_equal(np.array(mx.isinf(x)), [0, 0, 1, 1, 0, 0])
        np.testing.assert_array_equal(np.array(mx.isfinite(x)), [1, 1, 0, 0, 0, 1])
        assert mx.isnan(x).dtype == mx.bool_
        e = to_numpy(mx.exp(mx.array([inf, -inf, nan, 0.0], dtype=d))).astype(np.float64)
        np.testing.assert_array_equal(e, [inf, 0, nan, 1])
        lg = to_numpy(mx.log(mx.array([0.0, -1.0, inf], dtype=d))).astype(np.float64)
        np.testing.assert_array_equal(lg, [-inf, nan, inf])
        assert np.isnan(to_numpy(mx.sqrt(mx.array([-1.0], dtype=d)))[0])
        s = to_numpy(mx.sigmoid(mx.array([-100.0, 100.0, -inf, inf], dtype=d))).astype(float)
        np.testing.assert_allclose(s, [0, 1, 0, 1], atol=1e-30)
        t = to_numpy(mx.tanh(mx.array([-100.0, 100.0, inf], dtype=d))).astype(float)
        np.testing.assert_array_equal(t, [-1, 1, 1])
        ei = to_numpy(mx.erfinv(mx.array([1.0, -1.0, 0.0], dtype=d))).astype(float)
        np.testing.assert_array_equal(ei, [inf, -inf, 0])
        sg = to_numpy(mx.sign(mx.array([0.0, -2.0, 3.0], dtype=d))).astype(float)
        np.testing.assert_array_equal(sg, [0, -1, 1])
    assert mx.exp(mx.array(100.0)).item() == inf
    # Large vectors must keep special values in their lanes.
    big = np.linspace(-3, 3, 101).astype(np.float32)
    big[[0, 13, 50, 100]] = [nan, inf, -inf, nan]
    for op in ("exp", "sin", "tanh", "sigmoid", "log", "sqrt"):
        with np.errstate(all="ignore"):
            assert_close(getattr(mx, op)(mx.array(big)), UNARY[op][0](big.astype(np.float64)))


def test_unary_small_argument_precision():
    x = mx.array([1e-10, -1e-12, 1e-20], dtype=mx.float32)
    np.testing.assert_allclose(np.array(mx.expm1(x)), [1e-10, -1e-12, 1e-20], rtol=1e-6)
    np.testing.assert_allclose(np.array(mx.log1p(x)), [1e-10, -1e-12, 1e-20], rtol=1e-6)
    np.testing.assert_allclose(np.array(mx.sin(x)), [1e-10, -1e-12, 1e-20], rtol=1e-6)
    np.testing.assert_allclose(np.array(mx.arcsinh(x)), [1e-10, -1e-12, 1e-20], rtol=1e-6)


def test_round_half_to_even_and_decimals():
    x = mx.array([0.5, 1.5, 2.5, -0.5, -1.5, 3.7])
    assert mx.round(x).tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, 4.0]
    y = np.array([1.2345, -2.5678, 3.14159])
    assert_close(mx.round(mx.array(y, dtype=mx.float64), 2), np.round(y, 2))
    assert_close(mx.array(y).round(1), np.round(y, 1), rtol=1e-6)


@pytest.mark.parametrize("name", ["int8", "int16", "int32", "int64"])
def test_unary_signed_int(name):
    x = np.array([-3, 0, 2, 5], dtype=NP_DTYPE[name])
    a = mx.array(x)
    for op, ref in (("abs", np.abs), ("negative", np.negative), ("sign", np.sign),
                    ("square", np.square)):
        r = getattr(mx, op)(a)
        assert r.dtype == dt(name), op
        np.testing.assert_array_equal(np.array(r), ref(x))
    np.testing.assert_array_equal(np.array(-a), -x)
    np.testing.assert_array_equal(np.array(abs(a)), np.abs(x))


@pytest.mark.parametrize("name", ["bool_", "uint8", "int32", "int64"])
@pytest.mark.parametrize("op", ["exp", "sqrt", "sin", "log1p", "sigmoid", "erf"])
def test_unary_float_ops_on_integers_give_float32(op, name):
    x = np.array([0, 1, 3], dtype=NP_DTYPE[name])
    r = getattr(mx, op)(mx.array(x))
    assert r.dtype == mx.float32
    assert_close(r, UNARY[op][0](x.astype(np.float64)))


def test_unary_predicates_and_rounding_on_integers():
    a = mx.array([1, -2, 3])
    assert mx.isnan(a).tolist() == [False] * 3
    assert mx.isinf(a).tolist() == [False] * 3
    assert mx.isfinite(a).tolist() == [True] * 3
    for op in (mx.floor, mx.ceil, mx.round):
        assert op(a).tolist() == [1, -2, 3]


def test_logical_not():
    assert mx.logical_not(mx.array([True, False])).tolist() == [False, True]
    r = mx.logical_not(mx.array([0, 2, -1]))
    assert r.dtype == mx.bool_ and r.tolist() == [True, False, False]
    assert mx.logical_not(mx.array([0.0, 0.5])).tolist() == [True, False]


# ---------------------------------------------------------------- binary


def _away_from_zero(rng, shape, lo=0.5, hi=3.0):
    return rng.uniform(lo, hi, size=shape) * rng.choice([-1.0, 1.0], size=shape)


BINARY = {
    "add": (np.add, None),
    "subtract": (np.subtract, None),
    "multiply": (np.multiply, None),
    "divide": (np.divide, "b_nonzero"),
    "floor_divide": (np.floor_divide, "b_nonzero"),
    "remainder": (np.remainder, "b_nonzero"),
    "power": (np.power, "a_positive"),
    "maximum": (np.maximum, None),
    "minimum": (np.minimum, None),
    "arctan2": (np.arctan2, None),
    "logaddexp": (np.logaddexp, None),
    "equal": (np.equal, "ties"),
    "not_equal": (np.not_equal, "ties"),
    "less": (np.less, "ties"),
    "less_equal": (np.less_equal, "ties"),
    "greater": (np.greater, "ties"),
    "greater_equal": (np.greater_equal, "ties"),
    "logical_and": (np.logical_and, "ties"),
    "logical_or": (np.logical_or, "ties"),
}
COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
               "logical_and", "logical_or"}

SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5,), ()),
          ((1,), (5,)), ((4, 1), (1, 6)), ((0, 3), (1, 3))]


def _binary_inputs(kind, rng, sa, sb):
    if kind == "ties":
        return rng.integers(-2, 3, size=sa).astype(float), rng.integers(-2, 3, size=sb).astype(float)
    a = rng.uniform(-3, 3, size=sa)
    b = rng.uniform(-3, 3, size=sb)
    if kind == "b_nonzero":
        b = _away_from_zero(rng, sb)
    if kind == "a_positive":
        a = rng.uniform(0.2, 3, size=sa)
    return a, b


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_broadcasting(op, shapes, rng):
    ref, kind = BINARY[op]
    x, y = _binary_inputs(kind, rng, *shapes)
    r = getattr(mx, op)(mx.array(x, dtype=mx.float64), mx.array(y, dtype=mx.float64))
    expected = ref(x, y)
    assert_close(r, expected, dtype=mx.bool_ if op in COMPARISONS else mx.float64)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("op", [o for o in BINARY if o not in COMPARISONS])
def test_binary_float_dtypes(op, dtype, rng):
    ref, kind = BINARY[op]
    x, y = _binary_inputs(kind, rng, (4, 3), (4, 3))
    if op in ("floor_divide", "remainder"):
        # Keep a/b away from integers so rounding of the inputs cannot flip the floor.
        y = np.where(np.abs(y) < 1, np.sign(y), y).round()
        x = y * (rng.integers(-3, 4, size=x.shape) + rng.uniform(0.2, 0.8, size=x.shape))
    x, y = rounded(x, dtype), rounded(y, dtype)
    r = getattr(mx, op)(mx.array(x, dtype=dt(dtype)), mx.array(y, dtype=dt(dtype)))
    assert_close(r, ref(x, y), dtype=dt(dtype))


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("op", ["equal", "less", "greater_equal", "not_equal"])
def test_comparisons_float_dtypes(op, dtype, rng):
    x, y = _binary_inputs("ties", rng, (4, 3), (4, 3))
    r = getattr(mx, op)(mx.array(x, dtype=dt(dtype)), mx.array(y, dtype=dt(dtype)))
    assert_close(r, BINARY[op][0](x, y), dtype=mx.bool_)


@pytest.mark.parametrize("name", ["int8", "int16", "int32", "int64", "uint8", "uint32"])
@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "maximum", "minimum",
                                "floor_divide", "remainder", "power", "equal", "less"])
def test_binary_integers(op, name, rng):
    signed = name.startswith("int")
    x = rng.integers(-20 if signed else 0, 21, size=(3, 4)).astype(NP_DTYPE[name])
    y = rng.integers(1, 6, size=(3, 4)) * (rng.choice([-1, 1], size=(3, 4)) if signed else 1)
    y = y.astype(NP_DTYPE[name])
    if op == "power":
        x = rng.integers(0, 4, size=(3, 4)).astype(NP_DTYPE[name])
        y = rng.integers(0, 4, size=(3, 4)).astype(NP_DTYPE[name])
    if op == "subtract" and not signed:
        x = x + 10
        y = y % 10
    r = getattr(mx, op)(mx.array(x), mx.array(y))
    expected = getattr(np, op)(x, y)
    assert r.dtype == (mx.bool_ if op in COMPARISONS else dt(name))
    np.testing.assert_array_equal(np.array(r), expected)


def test_integer_floor_semantics_match_python():
    a = mx.array([-7, 7, -7, 7, -6])
    b = mx.array([2, -2, -2, 2, 3])
    assert (a // b).tolist() == [-7 // 2, 7 // -2, -7 // -2, 7 // 2, -6 // 3]
    assert (a % b).tolist() == [-7 % 2, 7 % -2, -7 % -2, 7 % 2, -6 % 3]


def test_float_floor_semantics_match_python():
    a = mx.array([-7.5, 7.5, -7.5, 7.5])
    b = mx.array([2.0, -2.0, -2.0, 2.0])
    assert (a // b).tolist() == [-7.5 // 2, 7.5 // -2, -7.5 // -2, 7.5 // 2]
    assert (a % b).tolist() == [-7.5 % 2, 7.5 % -2, -7.5 % -2, 7.5 % 2]


def test_integer_division_is_true_division():
    r = mx.array([1, 2, 7]) / mx.array([2, 2, 2])
    assert r.dtype == mx.float32 and r.tolist() == [0.5, 1.0, 3.5]
    assert mx.divide(mx.array([1], dtype=mx.int64), mx.array([4], dtype=mx.int64)).tolist() == [0.25]


def test_unsigned_wraparound():
    a = mx.array([250], dtype=mx.uint8)
    assert (a + mx.array([10], dtype=mx.uint8)).tolist() == [4]


def test_binary_special_values():
    inf, nan = float("inf"), float("nan")
    z = np.array(mx.array([1.0, -1.0, 0.0]) / mx.array([0.0, 0.0, 0.0]))
    assert z[0] == inf and z[1] == -inf and np.isnan(z[2])
    m = mx.maximum(mx.array([nan, 1.0, 2.0]), mx.array([0.0, nan, 1.0]))
    np.testing.assert_array_equal(np.array(m), [nan, nan, 2.0])
    m = mx.minimum(mx.array([nan, 1.0, 2.0]), mx.array([0.0, nan, 1.0]))
    np.testing.assert_array_equal(np.array(m), [nan, nan, 1.0])
    lae = mx.logaddexp(mx.array([-inf, 1000.0, -1000.0]), mx.array([-inf, 1000.0, 0.0]))
    np.testing.assert_allclose(np.array(lae), [-inf, 1000 + np.log(2), 0.0], rtol=1e-6)
    assert mx.equal(mx.array([nan]), mx.array([nan])).item() is False
    assert mx.not_equal(mx.array([nan]), mx.array([nan])).item() is True
    assert mx.power(mx.array(0.0), mx.array(0.0)).item() == 1.0
    assert mx.power(mx.array(2.0), -1).item() == 0.5
    np.testing.assert_allclose(
        np.array(mx.arctan2(mx.array([1.0, 1.0, -1.0, -1.0, 0.0]), mx.array([1.0, -1.0, 1.0, -1.0, -1.0]))),
        np.arctan2([1.0, 1.0, -1.0, -1.0, 0.0], [1.0, -1.0, 1.0, -1.0, -1.0]), rtol=1e-6)


def test_logical_ops_cast_to_bool():
    a, b = mx.array([0, 1, 2, 0]), mx.array([0.0, 0.0, 3.0, -1.0])
    assert mx.logical_and(a, b).tolist() == [False, False, True, False]
    assert mx.logical_or(a, b).tolist() == [False, True, True, True]
    assert mx.logical_and(a, b).dtype == mx.bool_


@pytest.mark.parametrize("op", ["add", "multiply", "subtract", "maximum", "divide"])
def test_binary_views_and_large(op, rng):
    x = rng.standard_normal((64, 33))
    y = _away_from_zero(rng, (33, 64))
    a, b = mx.array(x, dtype=mx.float32), mx.array(y, dtype=mx.float32)
    ref = getattr(np, op)
    assert_close(getattr(mx, op)(a, b.T), ref(x, y.T), rtol=1e-5, atol=1e-5)
    assert_close(getattr(mx, op)(a[::-2], b.T[1::2]), ref(x[::-2], y.T[1::2]), rtol=1e-5, atol=1e-5)
    assert_close(getattr(mx, op)(a[:, :1], b[:1, :].T), ref(x[:, :1], y[:1, :].T), rtol=1e-5, atol=1e-5)
    assert_close(getattr(mx, op)(a[::-1, ::-1], b.T[::-1, ::-1]), ref(x[::-1, ::-1], y.T[::-1, ::-1]),
                 rtol=1e-5, atol=1e-5)
    assert_close(getattr(mx, op)(a[0, ::-1], b[::-1, 0]), ref(x[0, ::-1], y[::-1, 0]), rtol=1e-5, atol=1e-5)
    big_x = rng.standard_normal(200_001).astype(np.float32)
    big_y = _away_from_zero(rng, 200_001).astype(np.float32)
    assert_close(getattr(mx, op)(mx.array(big_x), mx.array(big_y)),
                 ref(big_x.astype(np.float64), big_y.astype(np.float64)), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- operators


def test_operators(rng):
    x = rng.uniform(0.5, 3, size=(3, 4))
    y = rng.uniform(0.5, 3, size=(4,))
    a, b = mx.array(x, dtype=mx.float64), mx.array(y, dtype=mx.float64)
    cases = [
        (a + b, x + y), (a - b, x - y), (a * b, x * y), (a / b, x / y), (a // b, x // y),
        (a % b, x % y), (a ** b, x ** y), (-a, -x), (abs(-a), x),
        (a + 2, x + 2), (2 + a, 2 + x), (a - 2, x - 2), (2 - a, 2 - x), (2 * a, 2 * x),
        (a / 2, x / 2), (2 / a, 2 / x), (a // 2, x // 2), (7 // a, 7 // x), (a % 2, x % 2),
        (7 % a, 7 % x), (a ** 2, x ** 2), (2 ** a, 2 ** x), (a ** 0.5, x ** 0.5),
    ]
    for got, expected in cases:
        assert_close(got, expected, dtype=mx.float64)
    for got, expected in [(a == b, x == y), (a != b, x != y), (a < b, x < y), (a <= b, x <= y),
                          (a > b, x > y), (a >= b, x >= y), (a > 1.5, x > 1.5),
                          (1.5 < a, 1.5 < x), (a == a, np.ones_like(x, bool))]:
        assert_close(got, expected, dtype=mx.bool_)


def test_inplace_operators():
    a = mx.array([1, 2, 3])
    a += 1
    assert a.tolist() == [2, 3, 4]
    a -= 2
    a *= 3
    assert a.tolist() == [0, 3, 6]
    f = mx.array([1.0, 2.0])
    f /= 4
    assert f.tolist() == [0.25, 0.5]
    f **= 2
    assert f.tolist() == [0.0625, 0.25]
    g = mx.array([7, 8])
    g //= 3
    assert g.tolist() == [2, 2]
    h = mx.array([7, 8])
    h %= 3
    assert h.tolist() == [1, 2]


def test_inplace_add_updates_the_object_like_mlx():
    a = mx.array([1.0, 2.0])
    b = a
    b += 1
    assert b is a
    assert a.tolist() == [2.0, 3.0]


# ---------------------------------------------------------------- where / stop_gradient


def test_where(rng):
    cond = rng.random((3, 4)) > 0.5
    x = rng.standard_normal((3, 4))
    y = rng.standard_normal((4,))
    r = mx.where(mx.array(cond), mx.array(x, dtype=mx.float64), mx.array(y, dtype=mx.float64))
    assert_close(r, np.where(cond, x, y), dtype=mx.float64)
    r = mx.where(mx.array(cond[:, :1]), mx.array(x, dtype=mx.float32), 0.0)
    assert_close(r, np.where(cond[:, :1], x, 0.0), dtype=mx.float32)
    assert mx.where(mx.array([True, False]), 1, 0).tolist() == [1, 0]
    assert mx.where(mx.array([True, False]), 1, 0).dtype == mx.int32
    assert mx.where(mx.array([1, 0, 2]), mx.array([1.0, 2.0, 3.0]), -1.0).tolist() == [1.0, -1.0, 3.0]
    h = mx.where(mx.array([True]), mx.array([1.0], dtype=mx.float16), 0.0)
    assert h.dtype == mx.float16
    assert mx.where(True, mx.array([1, 2]), mx.array([3, 4])).tolist() == [1, 2]


@pytest.mark.parametrize("name", ["uint8", "float16", "float32", "int64"])
def test_where_long_arrays_with_scalar_sides(rng, name):
    # Long enough for the threaded, vectorized loop (an odd length leaves a tail); each side a
    # full array or one value, as in relu's backward where(mask, g, 0).
    n = 100_003
    cond = rng.random(n) > 0.5
    x = rng.integers(1, 100, n).astype(NP_DTYPE[name])
    y = rng.integers(1, 100, n).astype(NP_DTYPE[name])
    c, a, b = mx.array(cond), mx.array(x), mx.array(y)
    zero = mx.array(0, dtype=dt(name))
    for got, want in [(mx.where(c, a, b), np.where(cond, x, y)),
                      (mx.where(c, a, zero), np.where(cond, x, 0)),
                      (mx.where(c, zero, b), np.where(cond, 0, y)),
                      (mx.where(c, zero, mx.array(7, dtype=dt(name))), np.where(cond, 0, 7))]:
        assert got.dtype == dt(name)
        np.testing.assert_array_equal(np.array(got), want.astype(NP_DTYPE[name]))


def test_stop_gradient_values():
    a = mx.array([[1.0, -2.0]])
    s = mx.stop_gradient(a)
    assert s.dtype == a.dtype and s.shape == a.shape and s.tolist() == a.tolist()


# ---------------------------------------------------------------- bitwise ops and shifts

INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


@pytest.mark.parametrize("name", INT_DTYPES + ["bool"])
def test_bitwise_ops_match_numpy(name):
    rng = np.random.default_rng(11)
    npdt = np.dtype(name)
    if name == "bool":
        a = rng.integers(0, 2, size=(3, 5)).astype(bool)
        b = rng.integers(0, 2, size=(5,)).astype(bool)
    else:
        info = np.iinfo(npdt)
        a = rng.integers(info.min, info.max, size=(3, 5), dtype=npdt, endpoint=True)
        b = rng.integers(info.min, info.max, size=(5,), dtype=npdt, endpoint=True)
    x, y = mx.array(a), mx.array(b)
    for op, ref in ((mx.bitwise_and, np.bitwise_and), (mx.bitwise_or, np.bitwise_or),
                    (mx.bitwise_xor, np.bitwise_xor)):
        np.testing.assert_array_equal(np.array(op(x, y)), ref(a, b))
        np.testing.assert_array_equal(np.array(op(x.T, y[:3])), ref(a.T, b[:3]))  # strided
    np.testing.assert_array_equal(np.array(mx.bitwise_invert(x)), np.invert(a))
    np.testing.assert_array_equal(np.array(~x), np.invert(a))
    np.testing.assert_array_equal(np.array(x & y), a & b)
    np.testing.assert_array_equal(np.array(x | y), a | b)
    np.testing.assert_array_equal(np.array(x ^ y), a ^ b)


@pytest.mark.parametrize("name", INT_DTYPES)
def test_shifts_match_numpy_for_every_count(name):
    npdt = np.dtype(name)
    bits = 8 * npdt.itemsize
    info = np.iinfo(npdt)
    values = np.array([0, 1, 5, info.max, info.min, info.max // 3 + 1], dtype=npdt)
    lo = -3 if info.min < 0 else 0
    counts = np.arange(lo, bits + 4).astype(npdt)
    a, c = values[:, None], counts[None, :]
    x, y = mx.array(a), mx.array(c)
    np.testing.assert_array_equal(np.array(mx.left_shift(x, y)), np.left_shift(a, c))
    np.testing.assert_array_equal(np.array(mx.right_shift(x, y)), np.right_shift(a, c))
    np.testing.assert_array_equal(np.array(x << y), a << c)
    np.testing.assert_array_equal(np.array(x >> y), a >> c)


def test_bitwise_errors_and_scalars():
    for op in (mx.bitwise_and, mx.bitwise_or, mx.bitwise_xor, mx.left_shift, mx.right_shift):
        with pytest.raises(ValueError, match=r"Only integer and boolean arrays"):
            op(mx.array([1.0]), 1)
    with pytest.raises(ValueError, match=r"^\[bitwise_invert\]"):
        mx.bitwise_invert(mx.array([1.0]))
    assert (1 << mx.array([3])).tolist() == [8]
    assert (mx.array([3], dtype=mx.uint8) & 6).dtype == mx.uint8
    assert mx.bitwise_and(mx.array([1], dtype=mx.uint8), mx.array([3], dtype=mx.int8)).dtype == mx.int16
    # No derivative flows through bitwise ops; gradients are zero, not errors.
    g = mx.grad(lambda x: (x * (mx.array([3]) & 1)).sum())(mx.array([2.0]))
    assert g.tolist() == [1.0]


@pytest.mark.parametrize("perm", [(1, 0, 2), (2, 0, 1), (2, 1, 0)])
def test_transposed_operands_keep_values_and_layouts(perm):
    # Dense permuted operands run in storage order and the result keeps their layout; values
    # must not depend on that.
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((3, 4, 5)).astype(np.float32)
    x, y = mx.array(a).transpose(perm), mx.array(b).transpose(perm)
    at, bt = a.transpose(perm), b.transpose(perm)
    np.testing.assert_array_equal(np.array(x + 1), at + 1)
    np.testing.assert_array_equal(np.array(2 * x - y), 2 * at - bt)
    np.testing.assert_array_equal(np.array(-x), -at)
    np.testing.assert_allclose(np.array(mx.exp(x)), np.exp(at), rtol=1e-6)
    np.testing.assert_array_equal(np.array(x > y), at > bt)
    xi = x.astype(mx.int32)
    np.testing.assert_array_equal(np.array(xi * 3 + xi), at.astype(np.int32) * 4)
    # The results feed every other kind of op correctly.
    z = mx.exp(x) + y
    np.testing.assert_allclose(np.array(z.sum(axis=0)), (np.exp(at) + bt).sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.array(z.reshape(-1)), (np.exp(at) + bt).reshape(-1), rtol=1e-6)
    np.testing.assert_allclose(np.array(z[1:, ::-1]), (np.exp(at) + bt)[1:, ::-1], rtol=1e-6)
    np.testing.assert_allclose(np.array(z @ mx.ones((z.shape[-1], 2))),
                               (np.exp(at) + bt) @ np.ones((at.shape[-1], 2), np.float32), rtol=1e-5)


def test_integer_and_bool_division_edges_follow_mlx():
    # Values checked against mlx 0.32: x % 0 = x and x // 0 = 0 for integers; booleans act as
    # 0/1 and stay bool in power, floor_divide and remainder; divmod returns a list.
    a = mx.array([-7, 7, 0, 5], dtype=mx.int8)
    b = mx.array([0, 0, 0, 3], dtype=mx.int8)
    assert mx.remainder(a, b).tolist() == [-7, 7, 0, 2]
    assert mx.floor_divide(a, b).tolist() == [0, 0, 0, 1]
    u = mx.array([249, 7, 0, 5], dtype=mx.uint8)
    assert mx.remainder(u, mx.array([0, 0, 0, 3], dtype=mx.uint8)).tolist() == [249, 7, 0, 2]
    p, q = mx.array([True, True, False, False]), mx.array([True, False, True, False])
    for op, want in [(mx.power, [True, True, False, True]),
                     (mx.remainder, [False, True, False, False]),
                     (mx.floor_divide, [True, False, False, False])]:
        r = op(p, q)
        assert r.dtype == mx.bool_ and r.tolist() == want
    assert mx.power(mx.array([True, False]), True).tolist() == [True, False]
    out = mx.divmod(mx.array([7, -7]), mx.array([2, 2]))
    assert isinstance(out, list) and [o.tolist() for o in out] == [[3, -4], [1, 1]]


def test_integer_rounding_has_zero_derivative_and_predicate_tangent_dtypes():
    # MLX: floor/ceil/round of integers are the integers, with derivative 0 as for floats.
    x = mx.array([-3, 0, 2])
    for op in (mx.floor, mx.ceil, mx.round):
        assert op(x).tolist() == [-3, 0, 2]
        assert mx.grad(lambda v: op(v).sum())(x).tolist() == [0, 0, 0]
    # A predicate's tangent: the tangent's dtype where MLX compares x (isnan, isposinf,
    # isneginf of floats), bool where it is a logical op (isinf, isfinite, logical_not).
    f = mx.array([1.0, float("nan"), float("inf")])
    t = mx.ones(3)
    for op, dtype in [(mx.isnan, mx.float32), (mx.isposinf, mx.float32), (mx.isneginf, mx.float32),
                      (mx.isinf, mx.bool_), (mx.isfinite, mx.bool_), (mx.logical_not, mx.bool_)]:
        _, (tan,) = mx.jvp(op, [f], [t])
        assert tan.dtype == dtype and not np.array(tan).any(), op
    _, (tan,) = mx.jvp(mx.isnan, [mx.array([1, 2])], [mx.array([1, 1])])
    assert tan.dtype == mx.bool_


def test_logical_ops_read_python_numbers_for_their_truth():
    # MLX: a Python number next to a narrow integer array is only tested for truth, so values
    # outside the array's range are fine (they raise in arithmetic ops).
    u = mx.array([0, 1, 2], dtype=mx.uint8)
    assert mx.logical_and(u, -1).tolist() == [False, True, True]
    assert mx.logical_or(300, mx.array([0, 0], dtype=mx.int8)).tolist() == [True, True]
    assert mx.logical_xor(u, 0.0).tolist() == [False, True, True]
    assert mx.logical_and(2, 0).item() is False
    with pytest.raises(ValueError, match=r"\[add\]"):
        mx.add(u, -1)
