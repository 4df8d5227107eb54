"""Dtypes, type promotion (MLX's table, weak Python scalars) and astype conversions."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import DTYPE_NAMES, FLOAT_NAMES, INT_NAMES, ITEMSIZE, NP_DTYPE, dt, name_of, to_numpy


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtype_objects(name):
    d = dt(name)
    assert d == dt(name)
    assert d.size == ITEMSIZE[name]
    assert repr(d).endswith(name.rstrip("_"))
    assert {d: 1}[dt(name)] == 1
    assert all(d != dt(other) for other in DTYPE_NAMES if other != name)


# promote_types(row, column), MLX's table. Column order is DTYPE_NAMES.
_ABBREV = {
    "b": "bool_", "u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64",
    "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64", "f16": "float16",
    "bf16": "bfloat16", "f32": "float32", "f64": "float64", "c64": "complex64",
}
PROMOTION_TABLE = """
      b    u8   u16  u32  u64  i8   i16  i32  i64  f16  bf16 f32  f64  c64
b     b    u8   u16  u32  u64  i8   i16  i32  i64  f16  bf16 f32  f64  c64
u8    u8   u8   u16  u32  u64  i16  i16  i32  i64  f16  bf16 f32  f64  c64
u16   u16  u16  u16  u32  u64  i32  i32  i32  i64  f16  bf16 f32  f64  c64
u32   u32  u32  u32  u32  u64  i64  i64  i64  i64  f16  bf16 f32  f64  c64
u64   u64  u64  u64  u64  u64  f32  f32  f32  f32  f16  bf16 f32  f64  c64
i8    i8   i16  i32  i64  f32  i8   i16  i32  i64  f16  bf16 f32  f64  c64
i16   i16  i16  i32  i64  f32  i16  i16  i32  i64  f16  bf16 f32  f64  c64
i32   i32  i32  i32  i64  f32  i32  i32  i32  i64  f16  bf16 f32  f64  c64
i64   i64  i64  i64  i64  f32  i64  i64  i64  i64  f16  bf16 f32  f64  c64
f16   f16  f16  f16  f16  f16  f16  f16  f16  f16  f16  f32  f32  f64  c64
bf16  bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 f32  bf16 f32  f64  c64
f32   f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f64  c64
f64   f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  c64
c64   c64  c64  c64  c64  c64  c64  c64  c64  c64  c64  c64  c64  c64  c64
"""


def _promotion():
    lines = PROMOTION_TABLE.strip().splitlines()
    cols = [_ABBREV[c] for c in lines[0].split()]
    table = {}
    for line in lines[1:]:
        row, *cells = line.split()
        for col, cell in zip(cols, cells):
            table[(_ABBREV[row], col)] = _ABBREV[cell]
    return table


PROMOTION = _promotion()


def test_promotion_table_is_symmetric():
    assert len(PROMOTION) == 14 * 14
    for (a, b), c in PROMOTION.items():
        assert PROMOTION[(b, a)] == c


@pytest.mark.parametrize("row", DTYPE_NAMES)
def test_binary_promotion(row):
    x = mx.ones((2,), dtype=dt(row))
    for col in DTYPE_NAMES:
        y = mx.ones((2,), dtype=dt(col))
        expected = dt(PROMOTION[(row, col)])
        ops = [mx.add, mx.multiply]
        if expected != mx.complex64:
            ops.append(mx.maximum)
        if expected != mx.bool_:
            ops.append(mx.subtract)
        for op in ops:
            got = op(x, y).dtype
            assert got == expected, f"{op.__name__}({row}, {col}) -> {got}, expected {expected}"
        assert mx.where(mx.array([True, False]), x, y).dtype == expected


@pytest.mark.parametrize("row", DTYPE_NAMES)
def test_result_type(row):
    for col in DTYPE_NAMES:
        assert mx.result_type(dt(row), dt(col)) == dt(PROMOTION[(row, col)])
        assert mx.result_type(mx.ones((1,), dt(row)), dt(col)) == dt(PROMOTION[(row, col)])


@pytest.mark.parametrize("pair, expected", [
    (("int64", "float16"), "float16"),
    (("uint64", "int64"), "float32"),
    (("float16", "bfloat16"), "float32"),
    (("uint8", "int8"), "int16"),
    (("uint32", "int32"), "int64"),
    (("bool_", "int8"), "int8"),
])
def test_promotion_values_are_correct(pair, expected):
    a = mx.array([1], dtype=dt(pair[0]))
    b = mx.array([2], dtype=dt(pair[1]))
    c = a + b
    assert c.dtype == dt(expected)
    assert to_numpy(c).tolist() == [3]


# Weak Python scalars: the dtype of `array op scalar` for each array dtype.
def _weak(scalar_kind, name):
    if scalar_kind == "bool":
        return name
    if scalar_kind == "complex":
        return "complex64"
    if scalar_kind == "int":
        return "int32" if name == "bool_" else name
    # float
    return name if name in FLOAT_NAMES or name == "complex64" else "float32"


@pytest.mark.parametrize("name", DTYPE_NAMES)
@pytest.mark.parametrize("scalar_kind, scalar", [
    ("int", 2), ("float", 2.0), ("bool", True), ("complex", 2 + 0j),
])
def test_weak_scalar_promotion(name, scalar_kind, scalar):
    a = mx.ones((3,), dtype=dt(name))
    expected = dt(_weak(scalar_kind, name))
    results = [a + scalar, scalar + a, a * scalar, scalar * a, mx.add(a, scalar),
               mx.multiply(scalar, a)]
    if expected != mx.complex64:
        results.append(mx.maximum(a, scalar))
    for result in results:
        assert result.dtype == expected, f"{name} with {scalar!r} -> {result.dtype}"


@pytest.mark.parametrize("expr, dtype, values", [
    (lambda: mx.array([1, 2], dtype=mx.int32) * 2.0, "float32", [2.0, 4.0]),
    (lambda: mx.array([1, 2], dtype=mx.int32) * 2.5, "float32", [2.5, 5.0]),
    (lambda: mx.array([1, 2], dtype=mx.float16) + 1.0, "float16", [2.0, 3.0]),
    (lambda: mx.array([1, 2], dtype=mx.bfloat16) + 1, "bfloat16", [2.0, 3.0]),
    (lambda: mx.array([1, 2], dtype=mx.uint8) + 1, "uint8", [2, 3]),
    (lambda: mx.array([True, False]) + 1, "int32", [2, 1]),
    (lambda: mx.array([True, False]) + 1.5, "float32", [2.5, 1.5]),
    (lambda: mx.array([1, 2], dtype=mx.int64) * 3, "int64", [3, 6]),
    (lambda: mx.array([2**40], dtype=mx.int64) + 1, "int64", [2**40 + 1]),
    (lambda: mx.array([1, 2], dtype=mx.int8) - 3, "int8", [-2, -1]),
    (lambda: 10 - mx.array([1, 2], dtype=mx.uint16), "uint16", [9, 8]),
    (lambda: mx.array([1, 2]) / 2, "float32", [0.5, 1.0]),
    (lambda: mx.array([1, 2], dtype=mx.float16) / 2, "float16", [0.5, 1.0]),
    (lambda: mx.array([1.5], dtype=mx.float64) * 2, "float64", [3.0]),
    (lambda: mx.array([1, 2], dtype=mx.int32) + True, "int32", [2, 3]),
])
def test_weak_scalar_values(expr, dtype, values):
    r = expr()
    assert r.dtype == dt(dtype)
    assert to_numpy(r).tolist() == values


def test_comparison_with_scalars_is_bool():
    a = mx.array([1, 2, 3], dtype=mx.uint8)
    assert (a > 1).dtype == mx.bool_
    assert (a > 1).tolist() == [False, True, True]
    assert (a == 2.0).tolist() == [False, True, False]
    assert (1.5 < a).tolist() == [False, True, True]


# ---------------------------------------------------------------- astype


@pytest.mark.parametrize("src", DTYPE_NAMES)
def test_astype_all_pairs(src):
    values = np.array([0, 1, 2, 100])
    a = mx.array(values, dtype=dt(src))
    for dst in DTYPE_NAMES:
        b = a.astype(dt(dst))
        assert b.dtype == dt(dst) and b.shape == (4,)
        src_values = values != 0 if src == "bool_" else values
        expected = src_values.astype(NP_DTYPE["float32" if dst == "bfloat16" else dst])
        np.testing.assert_array_equal(to_numpy(b), expected, err_msg=f"{src} -> {dst}")
        assert mx.astype(a, dt(dst)).dtype == dt(dst)


@pytest.mark.parametrize("dst", INT_NAMES)
def test_astype_float_to_int_truncates(dst):
    vals = [1.7, 2.2, 0.9, 126.9] if dst.startswith("u") else [1.7, -1.7, -0.5, 126.9]
    a = mx.array(vals, dtype=mx.float32).astype(dt(dst))
    assert a.tolist() == [int(v) for v in vals]


def test_astype_to_bool_and_back():
    a = mx.array([0.0, -0.5, 3.0, float("nan")])
    assert a.astype(mx.bool_).tolist() == [False, True, True, True]
    assert mx.array([True, False]).astype(mx.float32).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("dst", DTYPE_NAMES)
def test_astype_of_a_long_bool_array(rng, dst):
    # Threaded and vectorized (the mask read as bytes), with an odd tail.
    mask = rng.random(100_003) > 0.5
    got = mx.array(mask).astype(dt(dst))
    want = mask.astype(NP_DTYPE["float32" if dst == "bfloat16" else dst])
    np.testing.assert_array_equal(to_numpy(got), want)


def test_astype_rounding_of_small_floats():
    big = mx.array([70000.0, -70000.0, 65504.0]).astype(mx.float16)
    assert big.tolist() == [float("inf"), float("-inf"), 65504.0]
    # 1 + 2**-9 is exactly halfway between two bfloat16 values; ties go to even.
    bf = mx.array([1 + 2**-9, 1 + 3 * 2**-9, 3.0e38], dtype=mx.float32).astype(mx.bfloat16)
    got = bf.astype(mx.float32).tolist()
    assert got[0] == 1.0 and got[1] == 1 + 2**-7
    assert np.isfinite(got[2])
    assert mx.array([1 + 2**-12]).astype(mx.float16).item() == 1.0


def test_astype_of_views_and_nan():
    a = mx.arange(6, dtype=mx.float32).reshape(2, 3).T
    np.testing.assert_array_equal(np.array(a.astype(mx.int16)), np.arange(6).reshape(2, 3).T)
    n = mx.array([float("nan"), float("inf")])
    for name in FLOAT_NAMES:
        v = to_numpy(n.astype(dt(name))).astype(np.float64)
        assert np.isnan(v[0]) and v[1] == np.inf


def test_float64_precision_is_kept():
    a = mx.array(0.1, dtype=mx.float64)
    assert (a * 3).item() == 0.1 * 3
    assert mx.exp(mx.array(1.0, dtype=mx.float64)).item() == pytest.approx(np.e, rel=1e-15)
    big = mx.array([2**53 - 1], dtype=mx.int64) - 1
    assert big.item() == 2**53 - 2


def test_complex64_arithmetic():
    a = mx.array([1 + 2j, 3 - 1j])
    b = a * a
    assert b.dtype == mx.complex64
    np.testing.assert_allclose(np.array(b), np.array([1 + 2j, 3 - 1j]) ** 2, rtol=1e-6)
    assert name_of((a + 1).dtype) == "complex64"
