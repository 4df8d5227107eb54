"""DLPack both ways and the array API namespace hook, built on the NumPy view of an array (the
view shares the array's memory; evaluation happens first); array methods that forward to ops
defined outside the array bindings."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from pullback._core import array

_KDLCPU = 1  # DLPack's device type for host memory


def _dlpack(self: array, stream: Any = None, max_version: Optional[Tuple[int, int]] = None,
            dl_device: Any = None, copy: Optional[bool] = None) -> Any:
    """A DLPack capsule of the array's data (on the CPU). DLPack before 1.0 cannot mark memory
    read-only, so older consumers get a private copy instead of a view of the array."""
    if dl_device is not None and tuple(dl_device)[0] != _KDLCPU:
        raise BufferError("[__dlpack__] pullback arrays live in host memory; only kDLCPU is available.")
    view = np.asarray(self)
    if copy or max_version is None or tuple(max_version) < (1, 0):
        return np.array(view, copy=True).__dlpack__()
    return view.__dlpack__(max_version=max_version)


def _dlpack_device(self: array) -> Tuple[int, int]:
    return (_KDLCPU, 0)


def _array_namespace(self: array, api_version: Optional[str] = None) -> Any:
    import pullback.core

    return pullback.core


def from_dlpack(x: Any, /, *, copy: Optional[bool] = None) -> array:
    """An array holding the data of a DLPack-capable object (a NumPy array, a torch tensor...)."""
    if copy is False:
        raise ValueError("[from_dlpack] pullback arrays own their memory; copy=False is not possible.")
    return array(np.from_dlpack(x))


def _diag(self: array, k: int = 0, *, stream: Any = None) -> array:
    """See :func:`diag`."""
    from pullback._core import diag

    return diag(self, k, stream=stream)


def _diagonal(self: array, offset: int = 0, axis1: int = 0, axis2: int = 1,
              stream: Any = None) -> array:
    """See :func:`diagonal`."""
    from pullback._core import diagonal

    return diagonal(self, offset, axis1, axis2, stream=stream)


array.diag = _diag
array.diagonal = _diagonal
array.__dlpack__ = _dlpack
array.__dlpack_device__ = _dlpack_device
array.__array_namespace__ = _array_namespace
