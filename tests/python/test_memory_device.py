"""Memory counters, cache and limits; devices."""

import gc

import numpy as np
import pytest

import pullback.core as mx

MB = 1 << 20


def _big(n_floats=4 * MB // 4):
    a = mx.arange(n_floats, dtype=mx.float32) + 1  # a real allocation, not a broadcast scalar
    mx.eval(a)
    return a


@pytest.mark.parametrize("fn", [mx.get_active_memory, mx.get_peak_memory, mx.get_cache_memory,
                                mx.get_memory_limit])
def test_counters_are_non_negative_ints(fn):
    v = fn()
    assert isinstance(v, int) and v >= 0


def test_active_memory_tracks_allocations():
    gc.collect()
    before = mx.get_active_memory()
    a = _big()
    during = mx.get_active_memory()
    assert during - before >= 4 * MB
    del a
    gc.collect()
    after = mx.get_active_memory()
    assert after <= during - 4 * MB


def test_intermediates_are_released():
    gc.collect()
    base = mx.get_active_memory()
    x = _big()
    y = ((x * 2 + 1) * 3 - 4) / 5  # each intermediate is 4 MB
    mx.eval(y)
    # x and y stay alive; the three intermediates must not.
    assert mx.get_active_memory() - base <= 3 * 4 * MB
    del x, y
    gc.collect()
    assert mx.get_active_memory() - base < 4 * MB


def test_peak_memory():
    mx.reset_peak_memory()
    start = mx.get_peak_memory()
    a = _big()
    assert mx.get_peak_memory() >= max(start, 4 * MB)
    assert mx.get_peak_memory() >= mx.get_active_memory()
    del a
    gc.collect()
    peak = mx.get_peak_memory()
    assert peak >= 4 * MB  # the peak does not fall when memory is freed
    mx.reset_peak_memory()
    assert mx.get_peak_memory() <= mx.get_active_memory()


def test_cache_and_clear_cache():
    a = _big()
    del a
    gc.collect()
    mx.clear_cache()
    assert mx.get_cache_memory() == 0
    b = _big()  # still works after the cache is emptied
    assert b[-1].item() == 4 * MB // 4
    del b


def test_set_cache_limit():
    previous = mx.set_cache_limit(0)
    try:
        assert isinstance(previous, int) and previous >= 0
        a = _big()
        del a
        gc.collect()
        assert mx.get_cache_memory() == 0
    finally:
        assert mx.set_cache_limit(previous) == 0


def test_set_memory_limit():
    previous = mx.set_memory_limit(1 << 40)
    try:
        assert isinstance(previous, int) and previous > 0
        assert mx.get_memory_limit() == 1 << 40
    finally:
        assert mx.set_memory_limit(previous) == 1 << 40
    assert mx.get_memory_limit() == previous


def test_buffer_reuse_gives_correct_values():
    # Buffers handed out again by the cache must not leak old contents into results.
    for i in range(5):
        a = mx.zeros((1000,)) + i
        mx.eval(a)
        assert a.tolist() == [float(i)] * 1000
        del a


# ---------------------------------------------------------------- devices


def test_device_types():
    assert mx.cpu != mx.gpu
    assert mx.is_available(mx.cpu) is True
    assert mx.is_available(mx.gpu) is False


def test_default_device_is_cpu():
    d = mx.default_device()
    assert isinstance(d, mx.Device)
    assert d.type == mx.cpu
    assert d == mx.cpu
    assert d == mx.Device(mx.cpu)
    assert "cpu" in repr(d)


def test_set_default_device():
    mx.set_default_device(mx.cpu)
    assert mx.default_device() == mx.cpu
    mx.set_default_device(mx.Device(mx.cpu))
    assert mx.default_device() == mx.cpu


def test_set_default_device_gpu_is_refused():
    try:
        with pytest.raises(ValueError):
            mx.set_default_device(mx.gpu)
    finally:
        mx.set_default_device(mx.cpu)
    assert mx.default_device() == mx.cpu


def test_stream_argument():
    a, b = mx.array([1.0, 2.0]), mx.array([3.0, 4.0])
    assert mx.add(a, b, stream=mx.cpu).tolist() == [4.0, 6.0]
    assert mx.sum(a, stream=mx.cpu).item() == 3.0
    assert mx.matmul(a, b, stream=mx.cpu).item() == 11.0
    assert mx.reshape(a, (2, 1), stream=mx.Device(mx.cpu)).shape == (2, 1)
    assert mx.zeros((2,), stream=mx.cpu).tolist() == [0.0, 0.0]
    np.testing.assert_allclose(np.array(mx.exp(a, stream=mx.cpu)), np.exp([1.0, 2.0]), rtol=1e-6)
