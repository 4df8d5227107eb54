"""finfo / iinfo against NumPy, print options, and the device namespaces MLX programs touch."""

import subprocess
import sys

import numpy as np
import pytest

import pullback
import pullback.core as mx


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_matches_numpy(name):
    got, want = mx.finfo(getattr(mx, name)), np.finfo(np.dtype(name))
    assert (got.min, got.max, got.eps, got.bits) == (float(want.min), float(want.max), float(want.eps), want.bits)
    assert got.smallest_normal == float(want.smallest_normal)


def test_finfo_of_bfloat16_and_complex64():
    b = mx.finfo(mx.bfloat16)
    assert b.eps == 2.0 ** -7 and b.bits == 16 and b.max == -b.min
    # max is the largest finite bfloat16: casting it back and forth keeps it.
    assert mx.array(b.max, dtype=mx.bfloat16).astype(mx.float32).item() == b.max
    assert mx.finfo(mx.complex64).dtype == mx.float32
    with pytest.raises(ValueError, match=r"^\[finfo\]"):
        mx.finfo(mx.int32)


@pytest.mark.parametrize("name", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"])
def test_iinfo_matches_numpy(name):
    got, want = mx.iinfo(getattr(mx, name)), np.iinfo(np.dtype(name))
    assert (got.min, got.max) == (int(want.min), int(want.max))
    with pytest.raises(ValueError, match=r"^\[iinfo\]"):
        mx.iinfo(mx.float32)


def test_print_options():
    x = mx.array([1.123456789, 2.5, 1e-8])
    assert repr(x) == "array([1.12346, 2.5, 1e-08], dtype=float32)"
    assert repr(mx.array([1 / 3], dtype=mx.float64)) == "array([0.333333], dtype=float64)"
    mx.set_printoptions(precision=2)
    try:
        assert mx.get_printoptions().precision == 2
        assert repr(x) == "array([1.12, 2.50, 0.00], dtype=float32)"
        with mx.printoptions(precision=4):
            assert repr(x) == "array([1.1235, 2.5000, 0.0000], dtype=float32)"
        assert repr(x) == "array([1.12, 2.50, 0.00], dtype=float32)"
    finally:
        mx.set_printoptions(precision=-1)
    assert mx.get_printoptions().precision == -1


def test_device_namespaces_and_version():
    assert mx.metal.is_available() is False and mx.cuda.is_available() is False
    assert mx.metal.get_active_memory() == mx.get_active_memory()
    with pytest.raises(RuntimeError, match="metal"):
        mx.metal.start_capture("trace.gputrace")
    assert mx.__version__ == pullback.__version__
    assert mx.set_wired_limit(10) == 0 and mx.set_wired_limit(0) == 10
    assert "architecture" in mx.device_info()


def test_dlpack_both_ways():
    a = mx.arange(6).reshape(2, 3).T  # strided: the consumer sees the logical layout
    n = np.from_dlpack(a)
    np.testing.assert_array_equal(n, np.arange(6).reshape(2, 3).T)
    assert a.__dlpack_device__() == (1, 0)
    b = mx.from_dlpack(np.arange(4, dtype=np.float64))
    assert b.dtype == mx.float32 and b.tolist() == [0.0, 1.0, 2.0, 3.0]  # as MLX (float64 data)
    assert mx.from_dlpack(np.arange(3)).dtype == mx.int64
    with pytest.raises(ValueError, match=r"^\[from_dlpack\]"):
        mx.from_dlpack(np.ones(2), copy=False)
    assert a.__array_namespace__() is mx


def test_bfloat16_numpy_interop_through_ml_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")  # installed by scripts/test.sh
    a = mx.array([[1.5, -2.25], [3.0, 0.0078125]], dtype=mx.bfloat16)
    n = np.array(a.T)
    assert n.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(n.astype(np.float32), np.array([[1.5, 3.0], [-2.25, 0.0078125]]))
    back = mx.array(n)
    assert back.dtype == mx.bfloat16 and back.tolist() == [[1.5, 3.0], [-2.25, 0.0078125]]
    assert mx.array(n, dtype=mx.float32).dtype == mx.float32


def test_numpy_conversion_leaves_ml_dtypes_unimported():
    # Its import takes most of a second; a bfloat16 NumPy array cannot exist before it.
    code = ("import sys, numpy as np, pullback.core as mx; mx.array(np.zeros(3)); "
            "np.array(mx.ones(2)); print('ml_dtypes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_equality_with_python_sequences_compares_objects():
    a = mx.array([1, 2])
    assert (a == [1, 2]) is False and (a != (1, 2)) is True
    assert (a == mx.array([1, 3])).tolist() == [True, False]
    assert mx.equal(a, [1, 2]).tolist() == [True, True]
