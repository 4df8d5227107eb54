"""Dtype limits (finfo, iinfo), print options, and the device namespaces MLX programs expect
(``mx.metal``, ``mx.cuda``), which report no accelerator on this CPU-only build."""

from __future__ import annotations

import contextlib
import platform
import types
from typing import Dict, Iterator, Union

import numpy as np

from pullback import __version__  # noqa: F401  (re-exported as mx.__version__)
from pullback._core import (Dtype, _get_print_precision, _set_print_precision, bfloat16,
                            clear_cache, complex64, float16, float32, float64,
                            get_active_memory, get_cache_memory, get_peak_memory,
                            reset_peak_memory, set_cache_limit, set_memory_limit)

_NUMPY_FLOATS = {float16: np.float16, float32: np.float32, float64: np.float64,
                 complex64: np.float32}


class finfo:
    """Limits of a floating dtype: ``min``, ``max``, ``eps``, ``smallest_normal``, ``bits``."""

    def __init__(self, dtype: Dtype) -> None:
        if dtype == bfloat16:
            # bfloat16 is float32's upper half: 8 exponent bits, 7 mantissa bits.
            self.bits, self.eps = 16, 2.0 ** -7
            self.max = float(np.float32(np.frombuffer(np.uint32(0x7F7F0000).tobytes(), np.float32)[0]))
            self.smallest_normal = 2.0 ** -126
        elif dtype in _NUMPY_FLOATS:
            info = np.finfo(_NUMPY_FLOATS[dtype])
            self.bits, self.eps = info.bits, float(info.eps)
            self.max, self.smallest_normal = float(info.max), float(info.smallest_normal)
        else:
            raise ValueError(f"[finfo] dtype {dtype} is not inexact.")
        self.min = -self.max
        self.dtype = float32 if dtype == complex64 else dtype

    def __repr__(self) -> str:
        return f"finfo(min={self.min:g}, max={self.max:g}, dtype={str(self.dtype).split('.')[-1]})"


class iinfo:
    """Limits of an integer dtype: ``min`` and ``max``."""

    def __init__(self, dtype: Dtype) -> None:
        name = str(dtype).split(".")[-1]
        if not (name.startswith("int") or name.startswith("uint")):
            raise ValueError(f"[iinfo] dtype {dtype} is not an integer dtype.")
        info = np.iinfo(np.dtype(name))
        self.min, self.max, self.dtype = int(info.min), int(info.max), dtype

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={str(self.dtype).split('.')[-1]})"


class PrintOptions:
    """The options ``repr`` of an array uses (``precision``: decimals, -1 for the default)."""

    def __init__(self, precision: int) -> None:
        self.precision = precision

    def __repr__(self) -> str:
        return f"PrintOptions(precision={self.precision})"


def set_printoptions(precision: int = -1) -> None:
    """Sets how many decimals floats print with (-1: MLX's default formatting)."""
    _set_print_precision(int(precision))


def get_printoptions() -> PrintOptions:
    return PrintOptions(_get_print_precision())


@contextlib.contextmanager
def printoptions(precision: int = -1) -> Iterator[PrintOptions]:
    """``set_printoptions`` for the ``with`` block only."""
    old = _get_print_precision()
    _set_print_precision(int(precision))
    try:
        yield get_printoptions()
    finally:
        _set_print_precision(old)


_wired_limit = 0


def set_wired_limit(limit: int) -> int:
    """Recorded for compatibility (wired memory is a Metal notion); returns the previous limit."""
    global _wired_limit
    if limit < 0:
        raise ValueError("[set_wired_limit] The limit must be non-negative.")
    previous, _wired_limit = _wired_limit, int(limit)
    return previous


def device_info(d: object = None) -> Dict[str, Union[str, int]]:
    """What pullback knows about the CPU it runs on."""
    return {"architecture": platform.machine(), "device_name": platform.processor() or "cpu"}


def _no_accelerator(name: str):
    def unavailable(*args, **kwargs):
        raise RuntimeError(f"[{name}] No {name.split('.')[0]} device: pullback runs on the CPU here.")
    return unavailable


# mx.metal and mx.cuda: the memory functions act on the CPU allocator, as MLX's CPU build does.
metal = types.ModuleType("pullback.core.metal", "Metal is not available on this build.")
metal.is_available = lambda: False
metal.device_info = _no_accelerator("metal.device_info")
metal.start_capture = _no_accelerator("metal.start_capture")
metal.stop_capture = _no_accelerator("metal.stop_capture")
for _fn in (clear_cache, get_active_memory, get_cache_memory, get_peak_memory, reset_peak_memory,
            set_cache_limit, set_memory_limit, set_wired_limit):
    setattr(metal, _fn.__name__, _fn)

cuda = types.ModuleType("pullback.core.cuda", "CUDA is not available on this build.")
cuda.is_available = lambda: False
