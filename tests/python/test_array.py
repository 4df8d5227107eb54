"""The array object: creation, properties, conversion to Python/NumPy, printing, pickling, eval."""

import copy
import pickle
import time

import numpy as np
import pytest

import pullback.core as mx
from helpers import DTYPE_NAMES, ITEMSIZE, NP_DTYPE, dt, to_numpy

# ---------------------------------------------------------------- creation from Python / NumPy


@pytest.mark.parametrize(
    "value, dtype, shape",
    [
        (1, "int32", ()),
        (-7, "int32", ()),
        (1.5, "float32", ()),
        (True, "bool_", ()),
        (1 + 2j, "complex64", ()),
        ([1, 2, 3], "int32", (3,)),
        ([1.0, 2, 3], "float32", (3,)),
        ([True, False], "bool_", (2,)),
        ([[1, 2, 3], [4, 5, 6]], "int32", (2, 3)),
        ([[[1.5]], [[2.5]]], "float32", (2, 1, 1)),
        ([], "float32", (0,)),
    ],
)
def test_array_from_python(value, dtype, shape):
    a = mx.array(value)
    assert a.dtype == dt(dtype)
    assert a.shape == shape
    assert isinstance(a.shape, tuple)
    np.testing.assert_array_equal(np.array(a), np.array(value, dtype=NP_DTYPE[dtype]))


def test_array_from_mixed_int_float_list_is_float():
    a = mx.array([[1, 2.5], [3, 4]])
    assert a.dtype == mx.float32
    assert a.tolist() == [[1.0, 2.5], [3.0, 4.0]]


def test_array_from_tuple_and_nested_arrays():
    assert mx.array((1, 2)).tolist() == [1, 2]
    a = mx.array([mx.array([1, 2]), mx.array([3, 4])])
    assert a.shape == (2, 2)
    assert a.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("name", [n for n in DTYPE_NAMES if n != "bfloat16"])
def test_array_with_dtype_from_list(name):
    a = mx.array([0, 1, 1], dtype=dt(name))
    assert a.dtype == dt(name)
    np.testing.assert_array_equal(np.array(a), np.array([0, 1, 1], dtype=NP_DTYPE[name]))


def test_array_with_dtype_converts_values():
    assert mx.array([1.7, -1.7], dtype=mx.int32).tolist() == [1, -1]
    assert mx.array([0, 2], dtype=mx.bool_).tolist() == [False, True]
    assert mx.array([1, 2], dtype=mx.float16).dtype == mx.float16
    assert mx.array([1.5, 2.25], dtype=mx.bfloat16).tolist() == [1.5, 2.25]


@pytest.mark.parametrize("name", [n for n in DTYPE_NAMES if n not in ("bfloat16", "float64")])
def test_array_from_numpy_keeps_dtype(name, rng):
    x = (rng.standard_normal((3, 4)) * 10).astype(NP_DTYPE[name])
    a = mx.array(x)
    assert a.dtype == dt(name)
    assert a.shape == (3, 4)
    np.testing.assert_array_equal(np.array(a), x)


def test_array_from_numpy_float64_defaults_to_float32_like_mlx():
    # MLX converts float64 NumPy arrays to float32 unless a dtype is given.
    a = mx.array(np.array([1.5, 2.5]))
    assert a.dtype == mx.float32
    b = mx.array(np.array([1.5, 2.5]), dtype=mx.float64)
    assert b.dtype == mx.float64
    np.testing.assert_array_equal(np.array(b), [1.5, 2.5])


def test_array_from_noncontiguous_numpy(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    for view in (x.T, x[::2, 1::3], x[:, 1], np.broadcast_to(x[0], (3, 6))):
        np.testing.assert_array_equal(np.array(mx.array(view)), view)


def test_array_from_numpy_negative_strides(rng):
    # MLX itself refuses these; NumPy users expect them to convert.
    x = rng.standard_normal((4, 6)).astype(np.float32)
    for view in (x[::-1], x[::2, ::-3]):
        np.testing.assert_array_equal(np.array(mx.array(view)), view)


def test_array_from_numpy_scalar_and_0d():
    assert mx.array(np.float32(2.5)).item() == 2.5
    assert mx.array(np.array(3, dtype=np.int64)).dtype == mx.int64
    assert mx.array(np.array(3, dtype=np.int64)).item() == 3


def test_array_from_array_with_dtype():
    a = mx.array([1, 2, 3])
    b = mx.array(a, dtype=mx.float32)
    assert b.dtype == mx.float32 and a.dtype == mx.int32
    assert b.tolist() == [1.0, 2.0, 3.0]


def test_ragged_list_raises():
    with pytest.raises(ValueError):
        mx.array([[1, 2], [3]])


# ---------------------------------------------------------------- creation functions


@pytest.mark.parametrize("shape", [3, (3,), (2, 3), [2, 3], (), (0, 4)])
@pytest.mark.parametrize("fn, fill", [(mx.zeros, 0), (mx.ones, 1)])
def test_zeros_ones(fn, fill, shape):
    a = fn(shape)
    assert a.dtype == mx.float32
    expected = np.full(shape, fill, dtype=np.float32)
    assert a.shape == expected.shape
    np.testing.assert_array_equal(np.array(a), expected)


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_zeros_ones_dtype(name):
    z, o = mx.zeros((2, 2), dtype=dt(name)), mx.ones((2, 2), dtype=dt(name))
    assert z.dtype == dt(name) and o.dtype == dt(name)
    assert to_numpy(z).tolist() == [[0, 0], [0, 0]]
    assert to_numpy(o).tolist() == [[1, 1], [1, 1]]


def test_full():
    a = mx.full((2, 3), 2.5)
    assert a.dtype == mx.float32
    np.testing.assert_array_equal(np.array(a), np.full((2, 3), 2.5, np.float32))
    b = mx.full((2,), 7)
    assert b.dtype == mx.int32 and b.tolist() == [7, 7]
    c = mx.full((2, 2), 3, dtype=mx.float16)
    assert c.dtype == mx.float16 and c.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    d = mx.full((2, 3), mx.array([1.0, 2.0, 3.0]))  # broadcast an array of values
    np.testing.assert_array_equal(np.array(d), [[1, 2, 3], [1, 2, 3]])
    assert mx.full(4, True).dtype == mx.bool_


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        ((5,), {}, np.arange(5, dtype=np.int32)),
        ((2, 7), {}, np.arange(2, 7, dtype=np.int32)),
        ((2, 11, 3), {}, np.arange(2, 11, 3, dtype=np.int32)),
        ((10, 0, -3), {}, np.arange(10, 0, -3, dtype=np.int32)),
        ((0.0, 1.0, 0.25), {}, np.arange(0, 1, 0.25, dtype=np.float32)),
        ((5.0,), {}, np.arange(5, dtype=np.float32)),
        ((4,), {"dtype": mx.float32}, np.arange(4, dtype=np.float32)),
        ((0, 3), {"dtype": mx.float64}, np.arange(3, dtype=np.float64)),
        ((5, 2), {}, np.arange(5, 2, dtype=np.int32)),  # empty
        ((-1.5, 1.5, 0.5), {}, np.arange(-1.5, 1.5, 0.5, dtype=np.float32)),
    ],
)
def test_arange(args, kwargs, expected):
    a = mx.arange(*args, **kwargs)
    assert a.dtype == dt(np.dtype(expected.dtype).name)
    assert a.shape == expected.shape
    np.testing.assert_allclose(np.array(a), expected, rtol=1e-6)


def test_arange_keyword_step():
    np.testing.assert_array_equal(np.array(mx.arange(0, 10, step=4)), [0, 4, 8])


@pytest.mark.parametrize("num", [1, 2, 5, 50])
def test_linspace(num):
    a = mx.linspace(-1.0, 3.0, num)
    assert a.dtype == mx.float32
    np.testing.assert_allclose(np.array(a), np.linspace(-1, 3, num), rtol=1e-6, atol=1e-6)


def test_linspace_defaults_and_dtype():
    a = mx.linspace(0, 1)
    assert a.shape == (50,)
    np.testing.assert_allclose(np.array(a), np.linspace(0, 1, 50), atol=1e-6)
    b = mx.linspace(0, 1, 11, dtype=mx.float64)
    assert b.dtype == mx.float64
    np.testing.assert_allclose(np.array(b), np.linspace(0, 1, 11), rtol=1e-14)


@pytest.mark.parametrize(
    "args, kwargs",
    [((3,), {}), ((3, 5), {}), ((4, 3), {}), ((4,), {"k": 1}), ((4, 5), {"k": -2}),
     ((3,), {"dtype": mx.int32}), ((3, 2), {"k": 1})],
)
def test_eye(args, kwargs):
    a = mx.eye(*args, **kwargs)
    np_kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
    expected = np.eye(*args, **np_kwargs)
    assert a.dtype == kwargs.get("dtype", mx.float32)
    np.testing.assert_array_equal(np.array(a), expected)


def test_identity():
    a = mx.identity(4)
    assert a.dtype == mx.float32
    np.testing.assert_array_equal(np.array(a), np.eye(4))
    assert mx.identity(2, dtype=mx.int64).dtype == mx.int64


@pytest.mark.parametrize("name", ["bool_", "int32", "uint8", "float16", "float32", "float64"])
def test_like_functions(name):
    a = mx.array([[1, 0, 2]], dtype=dt(name))
    for fn, fill in ((mx.zeros_like, 0), (mx.ones_like, 1)):
        b = fn(a)
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(np.array(b), np.full((1, 3), fill, NP_DTYPE[name]))
    c = mx.full_like(a, 1)
    assert c.dtype == a.dtype and c.shape == (1, 3)
    np.testing.assert_array_equal(np.array(c), np.ones((1, 3), NP_DTYPE[name]))


def test_like_functions_with_dtype():
    a = mx.array([1, 2, 3])
    assert mx.zeros_like(a, dtype=mx.float16).dtype == mx.float16
    assert mx.ones_like(a, dtype=mx.bool_).tolist() == [True] * 3
    b = mx.full_like(a, 2.5, dtype=mx.float32)
    assert b.dtype == mx.float32 and b.tolist() == [2.5] * 3
    # full_like keeps the array's dtype, converting the value.
    assert mx.full_like(a, 2.7).tolist() == [2, 2, 2]


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_properties(name):
    a = mx.zeros((2, 3, 4), dtype=dt(name))
    assert a.ndim == 3
    assert a.size == 24
    assert a.itemsize == ITEMSIZE[name]
    assert a.nbytes == 24 * ITEMSIZE[name]
    assert a.dtype == dt(name)


def test_scalar_properties():
    a = mx.array(3.0)
    assert a.shape == () and a.ndim == 0 and a.size == 1 and a.nbytes == 4


def test_len_and_iteration():
    a = mx.array([[1, 2], [3, 4], [5, 6]])
    assert len(a) == 3
    rows = list(a)
    assert len(rows) == 3
    assert all(isinstance(r, mx.array) and r.shape == (2,) for r in rows)
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4], [5, 6]]
    assert [x.item() for x in mx.array([7, 8])] == [7, 8]
    with pytest.raises(TypeError):
        len(mx.array(1))
    with pytest.raises(TypeError):
        list(mx.array(1))


def test_bool_of_scalar():
    assert bool(mx.array(True)) is True
    assert bool(mx.array(0)) is False
    assert bool(mx.array([2.5])) is True
    assert bool(mx.array(1) == 1) is True
    with pytest.raises(ValueError):
        bool(mx.array([1, 2]))


def test_int_float_conversion():
    assert int(mx.array(3.7)) == 3
    assert float(mx.array(2)) == 2.0
    assert isinstance(float(mx.array(2)), float)


# ---------------------------------------------------------------- item / tolist


@pytest.mark.parametrize(
    "value, dtype, expected, pytype",
    [
        (3, mx.int32, 3, int),
        (3, mx.uint8, 3, int),
        (-5, mx.int64, -5, int),
        (2**40, mx.int64, 2**40, int),
        (2.5, mx.float32, 2.5, float),
        (2.5, mx.float16, 2.5, float),
        (2.5, mx.bfloat16, 2.5, float),
        (0.1, mx.float64, 0.1, float),
        (True, mx.bool_, True, bool),
        (1 - 2j, mx.complex64, 1 - 2j, complex),
    ],
)
def test_item(value, dtype, expected, pytype):
    v = mx.array(value, dtype=dtype).item()
    assert type(v) is pytype
    assert v == expected


def test_item_of_size_one_array_and_error():
    assert mx.array([[4]]).item() == 4
    with pytest.raises(ValueError):
        mx.array([1, 2]).item()


def test_tolist():
    assert mx.array([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert mx.array(5).tolist() == 5
    fl = mx.array([0.5, 1.5], dtype=mx.float16).tolist()
    assert fl == [0.5, 1.5] and all(type(x) is float for x in fl)
    bl = mx.array([True, False]).tolist()
    assert bl == [True, False] and all(type(x) is bool for x in bl)
    assert mx.zeros((2, 0)).tolist() == [[], []]
    assert mx.arange(6).reshape(2, 3).T.tolist() == [[0, 3], [1, 4], [2, 5]]


# ---------------------------------------------------------------- NumPy interop


@pytest.mark.parametrize("name", [n for n in DTYPE_NAMES if n != "bfloat16"])
def test_numpy_roundtrip(name, rng):
    x = (rng.standard_normal((2, 3)) * 5).astype(NP_DTYPE[name])
    y = np.array(mx.array(x, dtype=dt(name)))
    assert y.dtype == NP_DTYPE[name]
    np.testing.assert_array_equal(y, x)


def test_numpy_of_lazy_and_view_arrays():
    a = mx.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(np.array(a + 1), np.arange(12).reshape(3, 4) + 1)
    np.testing.assert_array_equal(np.array(a.T), np.arange(12).reshape(3, 4).T)
    np.testing.assert_array_equal(np.array(a[::2, ::-1]), np.arange(12).reshape(3, 4)[::2, ::-1])
    np.testing.assert_array_equal(np.array(mx.broadcast_to(mx.array([1, 2]), (3, 2))),
                                  [[1, 2]] * 3)


def test_numpy_copy_is_independent():
    a = mx.array([1.0, 2.0])
    y = np.array(a)
    y[0] = 100
    assert a.tolist() == [1.0, 2.0]


def test_buffer_protocol():
    a = mx.array([[1, 2, 3], [4, 5, 6]], dtype=mx.int32)
    m = memoryview(a)
    assert m.shape == (2, 3)
    assert m.itemsize == 4
    np.testing.assert_array_equal(np.asarray(m), [[1, 2, 3], [4, 5, 6]])
    f = memoryview(mx.array([1.5, 2.5], dtype=mx.float32))
    assert f.format == "f"
    np.testing.assert_array_equal(np.frombuffer(f, dtype=np.float32), [1.5, 2.5])
    np.testing.assert_array_equal(np.asarray(memoryview(a.T)), [[1, 4], [2, 5], [3, 6]])


def test_array_dunder():
    a = mx.array([1.0, 2.0])
    assert isinstance(a.__array__(), np.ndarray)
    assert np.add(np.array(a), 1).tolist() == [2.0, 3.0]


# ---------------------------------------------------------------- repr


@pytest.mark.parametrize(
    "a, text",
    [
        (lambda: mx.array([1, 2, 3]), "array([1, 2, 3], dtype=int32)"),
        (lambda: mx.array(7), "array(7, dtype=int32)"),
        (lambda: mx.array([True, False]), "array([True, False], dtype=bool)"),
        (lambda: mx.array([1.5, 2.5]), "array([1.5, 2.5], dtype=float32)"),
        (lambda: mx.array([[1, 2], [3, 4]]), "array([[1, 2],\n       [3, 4]], dtype=int32)"),
        (lambda: mx.array([1, 2], dtype=mx.int64), "array([1, 2], dtype=int64)"),
        (lambda: mx.array([0.5], dtype=mx.float16), "array([0.5], dtype=float16)"),
        # MLX prints integral floats without a trailing point.
        (lambda: mx.array([1.0, 2.5]), "array([1, 2.5], dtype=float32)"),
        (lambda: mx.array(3.0), "array(3, dtype=float32)"),
        (lambda: mx.array([[1.5, 2], [3, 4]]), "array([[1.5, 2],\n       [3, 4]], dtype=float32)"),
        (lambda: mx.zeros((0,)), "array([], dtype=float32)"),
    ],
)
def test_repr(a, text):
    assert repr(a()) == text


def test_format_and_constants():
    assert f"{mx.array(2.5):.1f}" == "2.5"
    assert f"{mx.array(3)}" == "3"
    assert mx.pi == np.pi and mx.e == np.e
    assert mx.inf == float("inf") and np.isnan(mx.nan)
    assert mx.newaxis is None


def test_str_is_printable():
    s = str(mx.arange(6).reshape(2, 3))
    assert "0" in s and "5" in s


# ---------------------------------------------------------------- pickling and copies


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_pickle(name):
    a = mx.array([[0, 1, 2], [3, 4, 5]], dtype=dt(name))
    b = pickle.loads(pickle.dumps(a))
    assert isinstance(b, mx.array)
    assert b.dtype == a.dtype and b.shape == a.shape
    assert b.tolist() == a.tolist()


def test_pickle_view_and_lazy():
    a = (mx.arange(6).reshape(2, 3) * 2).T
    b = pickle.loads(pickle.dumps(a))
    assert b.tolist() == [[0, 6], [2, 8], [4, 10]]


def test_copy_and_deepcopy():
    a = mx.array([1, 2, 3])
    for b in (copy.copy(a), copy.deepcopy(a)):
        assert isinstance(b, mx.array) and b.tolist() == [1, 2, 3]


def test_hashable():
    a, b = mx.array(1), mx.array(1)
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b"


# ---------------------------------------------------------------- eval


def test_eval_pytrees():
    x = mx.array([1.0, 2.0]) * 2
    y = mx.arange(3) + 1
    z = mx.exp(mx.array(0.0))
    assert mx.eval({"a": x, "b": [y, (z,)]}) is None
    assert x.tolist() == [2.0, 4.0] and y.tolist() == [1, 2, 3] and z.item() == 1.0
    p, q = mx.array(1) + 1, mx.array(2) + 2
    mx.eval(p, q)
    mx.eval([p], {"k": q}, None, 3, "text")  # non-array leaves are ignored
    assert (p.item(), q.item()) == (2, 4)
    mx.eval()


def test_long_chain_evaluates():
    # A deep graph must be evaluated (and freed) without recursion.
    x = mx.array(0.0)
    start = time.time()
    for _ in range(1_000_000):
        x = x + 1
    mx.eval(x)
    assert x.item() == 1_000_000.0
    assert time.time() - start < 30


def test_long_chain_freed_without_eval():
    x = mx.array(0)
    for _ in range(200_000):
        x = x + 1
    del x  # dropping an unevaluated deep graph must not overflow the stack


def test_arrays_are_reusable_after_eval():
    a = mx.array([1.0, 2.0])
    b = a * 3
    mx.eval(b)
    c = b + a
    assert c.tolist() == [4.0, 8.0]
    assert b.tolist() == [3.0, 6.0]


def test_array_like_objects_convert_through_mlx_array():
    class Wrapped(mx.ArrayLike):
        def __init__(self, values):
            self.values = values

        def __mlx_array__(self):
            return mx.array(self.values)

    w = Wrapped([1.0, 2.0])
    np.testing.assert_array_equal(np.array(mx.array(w)), [1.0, 2.0])
    np.testing.assert_allclose(np.array(mx.exp(w)), np.exp([1.0, 2.0]), rtol=1e-6)
    np.testing.assert_array_equal(np.array(mx.add(w, 1)), [2.0, 3.0])
    np.testing.assert_array_equal(np.array(mx.array(3.0) * w), [3.0, 6.0])
    np.testing.assert_array_equal(np.array(mx.concatenate([w, w])), [1.0, 2.0, 1.0, 2.0])
    assert mx.array(w, dtype=mx.int32).dtype == mx.int32

    class Broken:
        def __mlx_array__(self):
            return 3

    with pytest.raises(TypeError, match=r"__mlx_array__\(\) returned int, not an array"):
        mx.array(Broken())


def test_numpy_complex128_narrows_to_complex64():
    z = np.array([[1 + 2j, 3j], [1.5, -2 - 0.25j]])
    for src in (z, z.T, z[::-1]):
        a = mx.array(src)
        assert a.dtype == mx.complex64 and a.shape == src.shape
        np.testing.assert_array_equal(np.array(a), src.astype(np.complex64))
    np.testing.assert_array_equal(np.array(mx.array(z, dtype=mx.float32)), z.real.astype(np.float32))
