"""Dropout layers: active in training mode only; kept entries are scaled by 1 / (1 - p) so
the expectation is unchanged."""

from __future__ import annotations

import pullback.core as mx
from pullback.nn.layers.base import Module


class _DropoutBase(Module):
    _name = "Dropout"

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"[{self._name}] The dropout probability {p} is not in [0, 1).")
        self._p_1 = 1.0 - p

    def _extra_repr(self) -> str:
        return f"p={1.0 - self._p_1}"

    def _mask_shape(self, x: mx.array):
        return x.shape

    def __call__(self, x: mx.array) -> mx.array:
        if self._p_1 == 1.0 or not self.training:
            return x
        mask = mx.random.bernoulli(self._p_1, self._mask_shape(x))
        if not mx.issubdtype(x.dtype, mx.floating):
            # The scaled kept entries are fractions: integer inputs give float32, as in MLX.
            return x * mask * (1.0 / self._p_1)
        return x * (mask.astype(x.dtype) * (1.0 / self._p_1)).astype(x.dtype)


class Dropout(_DropoutBase):
    """Zeroes each entry independently with probability ``p``."""


class _ChannelDropout(_DropoutBase):
    _spatial = 2

    def _mask_shape(self, x: mx.array):
        # Channels-last: one draw per (batch, channel), shared over the spatial axes.
        allowed = (self._spatial + 1, self._spatial + 2)
        if x.ndim not in allowed:
            raise ValueError(f"[{self._name}] Expected an input with {allowed[0]} or "
                             f"{allowed[1]} dimensions but got shape {tuple(x.shape)}.")
        shape = list(x.shape)
        for axis in range(2, self._spatial + 2):
            shape[-axis] = 1
        return shape


class Dropout2d(_ChannelDropout):
    """Zeroes whole channels of (N, H, W, C) or (H, W, C) inputs with probability ``p``."""
    _name = "Dropout2d"
    _spatial = 2


class Dropout3d(_ChannelDropout):
    """Zeroes whole channels of (N, D, H, W, C) or (D, H, W, C) inputs with probability ``p``."""
    _name = "Dropout3d"
    _spatial = 3
