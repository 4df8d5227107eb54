"""Upsample: nearest, linear and cubic resizing of channels-last inputs (N, *spatial, C),
applied one spatial axis at a time (the interpolations are separable)."""

from __future__ import annotations

from typing import Literal, Tuple, Union

import numpy as np

import pullback.core as mx
from pullback.nn.layers.base import Module


def _source_positions(n: int, m: int, scale: float, align_corners: bool) -> np.ndarray:
    """Where each of the ``m`` outputs samples the ``n`` inputs, in input coordinates."""
    out = np.arange(m, dtype=np.float64)
    if align_corners:
        return out * ((n - 1) / max(m - 1, 1))
    # Outputs spaced 1/scale apart, the whole grid centred on the input's extent (the
    # half-pixel rule when m == scale * n exactly; it stays symmetric when m is rounded down).
    step = 1.0 / scale
    return out * step - ((m - 1) * step - (n - 1)) / 2.0


def _nearest_taps(n: int, m: int):
    out = np.arange(m, dtype=np.float64)
    if m > n:
        idx = np.round((out + 0.5) * (n / m) - 0.5)
    else:
        idx = np.floor(out * (n / m))
    return [(np.clip(idx, 0, n - 1).astype(np.int32), None)]


def _linear_taps(n: int, m: int, scale: float, align_corners: bool):
    pos = np.clip(_source_positions(n, m, scale, align_corners), 0, n - 1)
    left = np.floor(pos)
    frac = pos - left
    right = np.minimum(left + 1, n - 1)
    return [(left.astype(np.int32), 1.0 - frac), (right.astype(np.int32), frac)]


def _keys_cubic(d: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Keys' cubic convolution kernel at distance ``d`` (support 2)."""
    d = np.abs(d)
    near = ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
    far = ((d - 5.0) * d + 8.0) * d * a - 4.0 * a
    return np.where(d <= 1.0, near, np.where(d < 2.0, far, 0.0))


def _cubic_taps(n: int, m: int, scale: float, align_corners: bool):
    pos = _source_positions(n, m, scale, align_corners)
    base = np.floor(pos)
    taps = []
    for k in (-1, 0, 1, 2):
        src = base + k
        taps.append((np.clip(src, 0, n - 1).astype(np.int32), _keys_cubic(pos - src)))
    return taps


def _antialias_taps(n: int, m: int, scale: float, cubic: bool):
    """Taps of a low-pass resampling filter: each output samples the inputs around its source
    position with a triangle (linear) or Keys' cubic with a = -0.5 (cubic) kernel, stretched by
    1 / scale when downsampling so that it averages every input it covers; taps outside the
    input get no weight and each output's weights are normalised to sum to 1 (MLX's rule, the
    same as PyTorch's interpolate(antialias=True) for integer downscales)."""
    pos = _source_positions(n, m, scale, False)
    stretch = 1.0 / scale if scale < 1 else 1.0
    radius = 2.0 if cubic else 1.0
    reach = int(np.ceil(radius * stretch)) + 1
    src = np.floor(pos)[:, None] + np.arange(-reach + 1, reach)[None, :]
    d = np.abs(pos[:, None] - src) / stretch
    w = _keys_cubic(d, -0.5) if cubic else np.maximum(1.0 - d, 0.0)
    w = np.where((src >= 0) & (src < n), w, 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = w / np.where(total > 0, total, 1.0)
    src = np.clip(src, 0, n - 1).astype(np.int32)
    return [(src[:, k], w[:, k]) for k in range(src.shape[1])]


class Upsample(Module):
    """Resizes the spatial axes of (N, *spatial, C) by ``scale_factor`` (one number for all
    axes or one per axis) with ``mode`` 'nearest', 'linear' or 'cubic'. ``align_corners``
    maps the corner samples onto each other (linear and cubic only)."""

    def __init__(self, scale_factor: Union[float, Tuple], mode: Literal["nearest", "linear",
                 "cubic"] = "nearest", align_corners: bool = False,
                 antialias: bool = False) -> None:
        super().__init__()
        if mode not in ("nearest", "linear", "cubic"):
            raise ValueError(f"[Upsample] Got unsupported upsampling algorithm: {mode!r}.")
        if antialias and mode == "nearest":
            raise ValueError("[Upsample] Antialiasing is not supported for nearest neighbor "
                             "upsampling.")
        if antialias and align_corners:
            raise ValueError("[Upsample] antialias=True is not supported with "
                             "align_corners=True.")
        factors = scale_factor if isinstance(scale_factor, (list, tuple)) else (scale_factor,)
        if not all(isinstance(f, (int, float)) and f > 0 for f in factors):
            raise ValueError(f"[Upsample] scale_factor must be positive but got {scale_factor}.")
        self._scale = tuple(float(f) for f in factors) if isinstance(
            scale_factor, (list, tuple)) else float(scale_factor)
        self.mode = mode
        self.align_corners = align_corners
        self.antialias = antialias

    @property
    def scale_factor(self):
        return self._scale

    def _extra_repr(self) -> str:
        return (f"scale_factor={self._scale}, mode={self.mode!r}, "
                f"align_corners={self.align_corners}" +
                (", antialias=True" if self.antialias else ""))

    def __call__(self, x: mx.array) -> mx.array:
        dims = x.ndim - 2
        if dims <= 0:
            raise ValueError(f"[Upsample] The input should have at least 1 spatial dimension "
                             f"(shape (N, ..., C)) but got shape {tuple(x.shape)}.")
        scales = self._scale if isinstance(self._scale, tuple) else (self._scale,) * dims
        if len(scales) != dims:
            raise ValueError(f"[Upsample] A scale_factor of {len(scales)} values does not match "
                             f"the {dims} spatial dimensions of shape {tuple(x.shape)}.")
        if self.mode != "nearest" and not mx.issubdtype(x.dtype, mx.floating):
            # Interpolated values are fractions: integer inputs give float32, as in MLX (and
            # the weights must not be cast to the integer type).
            x = x.astype(mx.float32)
        for axis, scale in zip(range(1, dims + 1), scales):
            n = x.shape[axis]
            m = int(scale * n)
            if m < 1:
                raise ValueError(f"[Upsample] Scale {scale} leaves no output along axis {axis} "
                                 f"of shape {tuple(x.shape)}.")
            if self.mode == "nearest":
                taps = _nearest_taps(n, m)
            elif self.antialias:
                taps = _antialias_taps(n, m, scale, self.mode == "cubic")
            elif self.mode == "linear":
                taps = _linear_taps(n, m, scale, self.align_corners)
            else:
                taps = _cubic_taps(n, m, scale, self.align_corners)
            x = self._combine(x, axis, taps)
        return x

    @staticmethod
    def _combine(x: mx.array, axis: int, taps) -> mx.array:
        """sum over taps of ``take(x, idx, axis) * weight`` with the weight broadcast along
        ``axis``."""
        shape = [1] * x.ndim
        out = None
        for idx, weight in taps:
            picked = mx.take(x, mx.array(idx), axis=axis)
            if weight is not None:
                shape[axis] = len(weight)
                picked = picked * mx.array(weight.reshape(shape), dtype=x.dtype)
            out = picked if out is None else out + picked
        return out
