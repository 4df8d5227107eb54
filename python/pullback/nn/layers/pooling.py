"""Max and average pooling over the spatial axes of channels-last inputs (N, *spatial, C).

Each window position is a strided slice of the (padded) input, so the pools are plain
compositions of slicing, maximum and add and differentiate through the existing ops.
Average pooling counts padded zeros, like MLX; like MLX too, the inputs must be batched, any
non-negative padding is accepted (max pooling pads with the lowest value) and average pooling
of integers gives float32."""

from __future__ import annotations

import itertools
import math

import pullback.core as mx
from pullback.nn.layers.base import Module
from pullback.nn.layers.convolution import _tuple


class _Pool(Module):
    _n = 1
    _is_max = True

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        layer = type(self).__name__
        n = self._n
        self._kernel = _tuple(kernel_size, n, "kernel_size", layer)
        self._stride = self._kernel if stride is None else _tuple(stride, n, "stride", layer)
        self._pad = _tuple(padding or 0, n, "padding", layer)
        if any(k < 1 for k in self._kernel) or any(s < 1 for s in self._stride):
            raise ValueError(f"[{layer}] kernel_size {self._kernel} and stride {self._stride} "
                             "must be positive.")
        if any(p < 0 for p in self._pad):
            raise ValueError(f"[{layer}] padding {self._pad} must be non-negative.")

    def _extra_repr(self) -> str:
        return f"kernel_size={self._kernel}, stride={self._stride}, padding={self._pad}"

    def __call__(self, x: mx.array) -> mx.array:
        n, layer = self._n, type(self).__name__
        if x.ndim != n + 2:
            raise ValueError(f"[{layer}] Expected an input of shape (N, *{n} spatial, C) but "
                             f"got {tuple(x.shape)}.")
        first = 1
        # Averages of integers are fractions: float32, as MLX's mean gives.
        out_dtype = x.dtype if self._is_max or mx.issubdtype(x.dtype, mx.floating) \
            else mx.float32
        if any(self._pad):
            fill = -math.inf if self._is_max else 0.0
            widths = [(0, 0)] * first + [(p, p) for p in self._pad] + [(0, 0)]
            x = mx.pad(x, widths, constant_values=fill)
        spatial = x.shape[first:first + n]
        out = [(size - k) // s + 1 for size, k, s in zip(spatial, self._kernel, self._stride)]
        # A window that overhangs the (padded) input by less than one stride leaves an empty
        # output axis, as in MLX; overhanging by more is an error there and here.
        if any(o < 0 for o in out):
            raise ValueError(f"[{layer}] The (padded) input of shape {tuple(x.shape)} is smaller "
                             f"than the kernel {self._kernel}.")
        if any(o == 0 for o in out):
            return mx.zeros((x.shape[0], *out, x.shape[-1]), dtype=out_dtype)
        result = None
        for offset in itertools.product(*(range(k) for k in self._kernel)):
            index = [slice(None)] * first + [
                slice(o, o + s * (m - 1) + 1, s) for o, s, m in zip(offset, self._stride, out)]
            window = x[tuple(index)]
            if result is None:
                result = window
            elif self._is_max:
                result = mx.maximum(result, window)
            else:
                result = result + window
        if not self._is_max:
            result = result * (1.0 / math.prod(self._kernel))
            result = result.astype(out_dtype)
        return result


class MaxPool1d(_Pool):
    """Max over windows of (N, L, C) inputs."""
    _n, _is_max = 1, True


class MaxPool2d(_Pool):
    """Max over windows of (N, H, W, C) inputs."""
    _n, _is_max = 2, True


class MaxPool3d(_Pool):
    """Max over windows of (N, D, H, W, C) inputs."""
    _n, _is_max = 3, True


class AvgPool1d(_Pool):
    """Mean over windows of (N, L, C) inputs."""
    _n, _is_max = 1, False


class AvgPool2d(_Pool):
    """Mean over windows of (N, H, W, C) inputs."""
    _n, _is_max = 2, False


class AvgPool3d(_Pool):
    """Mean over windows of (N, D, H, W, C) inputs."""
    _n, _is_max = 3, False
