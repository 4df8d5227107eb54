"""Convolution layers (channels-last, like pullback.core's conv ops): weights of shape
(out, *kernel, in) drawn from U(-s, s) with s = 1/sqrt(in * prod(kernel)), bias zeros."""

from __future__ import annotations

import math
from typing import Tuple, Union

import pullback.core as mx
from pullback.nn.layers.base import Module


def _tuple(value: Union[int, tuple], n: int, name: str, layer: str) -> Tuple[int, ...]:
    """``value`` as n ints (an int repeats); a ValueError naming ``layer`` otherwise."""
    value = (value,) * n if isinstance(value, int) else tuple(value)
    if len(value) != n or not all(isinstance(v, int) for v in value):
        raise ValueError(f"[{layer}] '{name}' must be an int or a tuple of {n} ints but got "
                         f"{value}.")
    return value


class _ConvNd(Module):
    _n = 1
    _transpose = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, output_padding=0) -> None:
        super().__init__()
        layer = type(self).__name__
        n = self._n
        kernel = _tuple(kernel_size, n, "kernel_size", layer)
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"[{layer}] The number of input channels ({in_channels}) and "
                             f"output channels ({out_channels}) must be divisible by the "
                             f"number of groups ({groups}).")
        scale = math.sqrt(1.0 / (in_channels * math.prod(kernel)))
        per_group_in = in_channels if self._transpose else in_channels // groups
        self.weight = mx.random.uniform(-scale, scale, (out_channels, *kernel, per_group_in))
        if bias:
            self.bias = mx.zeros((out_channels,))
        # Plain ints keep these out of the parameter tree (tuples would be stored as members).
        self._stride = _tuple(stride, n, "stride", layer)
        self._padding = _tuple(padding, n, "padding", layer)
        self._dilation = _tuple(dilation, n, "dilation", layer)
        self._output_padding = _tuple(output_padding, n, "output_padding", layer)
        self.groups = groups

    @property
    def stride(self):
        return self._stride[0] if self._n == 1 else self._stride

    @property
    def padding(self):
        return self._padding[0] if self._n == 1 else self._padding

    @property
    def dilation(self):
        return self._dilation[0] if self._n == 1 else self._dilation

    def _extra_repr(self) -> str:
        w = self.weight.shape
        text = (f"{w[-1]}, {w[0]}, kernel_size={tuple(w[1:-1])}, stride={self._stride}, "
                f"padding={self._padding}, dilation={self._dilation}")
        if self._transpose:
            text += f", output_padding={self._output_padding}"
        elif self.groups != 1:
            text += f", groups={self.groups}"
        return text + f", bias={'bias' in self}"

    def _apply(self, x: mx.array) -> mx.array:
        raise NotImplementedError

    def __call__(self, x: mx.array) -> mx.array:
        y = self._apply(x)
        return y + self["bias"] if "bias" in self else y


def _unwrap(t: Tuple[int, ...], n: int):
    return t[0] if n == 1 else t


class Conv1d(_ConvNd):
    """1-D convolution over (N, L, C_in) inputs."""
    _n = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, groups: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias)

    def _apply(self, x):
        return mx.conv1d(x, self["weight"], self._stride[0], self._padding[0],
                         self._dilation[0], self.groups)


class Conv2d(_ConvNd):
    """2-D convolution over (N, H, W, C_in) inputs."""
    _n = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias)

    def _apply(self, x):
        return mx.conv2d(x, self["weight"], self._stride, self._padding, self._dilation,
                         self.groups)


class Conv3d(_ConvNd):
    """3-D convolution over (N, D, H, W, C_in) inputs."""
    _n = 3

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         1, bias)

    def _apply(self, x):
        return mx.conv3d(x, self["weight"], self._stride, self._padding, self._dilation)


class _ConvTransposeNd(_ConvNd):
    _transpose = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, output_padding=0, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         1, bias, output_padding)

    def _apply(self, x):
        op = {1: mx.conv_transpose1d, 2: mx.conv_transpose2d, 3: mx.conv_transpose3d}[self._n]
        n = self._n
        return op(x, self["weight"], _unwrap(self._stride, n), _unwrap(self._padding, n),
                  _unwrap(self._dilation, n), _unwrap(self._output_padding, n))


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, L, C_in) inputs."""
    _n = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over (N, H, W, C_in) inputs."""
    _n = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over (N, D, H, W, C_in) inputs."""
    _n = 3
