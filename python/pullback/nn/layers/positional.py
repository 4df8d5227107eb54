"""Positional encodings: RoPE (the fused mx.fast.rope), SinusoidalPositionalEncoding and ALiBi."""

from __future__ import annotations

import math
from typing import List, Optional

import pullback.core as mx
from pullback.nn.layers.base import Module


class RoPE(Module):
    """Rotary positional encoding of (..., L, D) inputs: feature pairs of the first ``dims``
    features are rotated by ``scale * (offset + position) * base ** (-2 i / dims)``. Pairs are
    (i, i + dims/2), or consecutive features (2i, 2i + 1) when ``traditional``; features past
    ``dims`` pass through."""

    def __init__(self, dims: int, traditional: bool = False, base: float = 10000,
                 scale: float = 1.0):
        super().__init__()
        if dims <= 0 or dims % 2:
            raise ValueError(f"[RoPE] dims must be positive and even but got {dims}.")
        self.dims = dims
        self.traditional = traditional
        self.base = base
        self.scale = scale

    def _extra_repr(self) -> str:
        return f"{self.dims}, traditional={self.traditional}"

    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        if x.ndim < 2 or x.shape[-1] < self.dims:
            raise ValueError(f"[RoPE] Expected an input of shape (..., L, D) with D >= "
                             f"{self.dims} but got {tuple(x.shape)}.")
        return mx.fast.rope(x, self.dims, traditional=self.traditional, base=self.base,
                            scale=self.scale, offset=offset)


class SinusoidalPositionalEncoding(Module):
    """Maps positions ``x`` (any shape) to ``[sin(x * f); cos(x * f)]`` (or cos first) times
    ``scale``, with ``dims / 2`` frequencies ``f`` spaced geometrically from ``max_freq`` down
    to ``min_freq`` (times 2 pi when ``full_turns``)."""

    def __init__(self, dims: int, min_freq: float = 0.0001, max_freq: float = 1,
                 scale: Optional[float] = None, cos_first: bool = False,
                 full_turns: bool = False):
        super().__init__()
        if dims <= 0 or dims % 2:
            raise ValueError(f"[SinusoidalPositionalEncoding] dims must be positive and even "
                             f"but got {dims}.")
        if not (min_freq > 0 and max_freq > 0):
            raise ValueError(f"[SinusoidalPositionalEncoding] min_freq and max_freq must be "
                             f"positive but got {min_freq} and {max_freq}.")
        half = dims // 2
        fraction = mx.array([1.0]) if half == 1 else 1 - mx.arange(half) / (half - 1)
        lo, hi = math.log(min_freq), math.log(max_freq)
        sigmas = mx.exp(fraction * (hi - lo) + lo)
        # Underscored: a constant, not a parameter.
        self._sigmas = sigmas * (2 * math.pi) if full_turns else sigmas
        self.scale = scale if scale is not None else math.sqrt(2 / dims)
        self.cos_first = cos_first

    def __call__(self, x: mx.array) -> mx.array:
        y = x[..., None] * self._sigmas
        parts = [mx.cos(y), mx.sin(y)] if self.cos_first else [mx.sin(y), mx.cos(y)]
        y = mx.concatenate(parts, axis=-1)
        return y * self.scale if self.scale != 1 else y


def _alibi_slopes(n: int) -> List[float]:
    if math.log2(n).is_integer():
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]
    # Between powers of two: all slopes of the power below, then every other slope of the
    # power above.
    below = 2 ** math.floor(math.log2(n))
    return _alibi_slopes(below) + _alibi_slopes(2 * below)[0::2][: n - below]


class ALiBi(Module):
    """Attention with linear biases: adds ``-slope_h * |i - j|`` to the (B, H, Lq, Lk)
    attention scores, with one geometric slope per head."""

    @staticmethod
    def create_alibi_slope(num_heads: int, dtype=mx.float32) -> mx.array:
        if num_heads < 1:
            raise ValueError(f"[ALiBi] num_heads must be positive but got {num_heads}.")
        return mx.array(_alibi_slopes(num_heads), dtype=dtype).reshape(num_heads, 1, 1)

    @staticmethod
    def create_alibi_matrix(q_sequence_length: int, k_sequence_length: int, num_heads: int,
                            offset: int = 0, dtype=mx.float32) -> mx.array:
        q = mx.arange(offset, q_sequence_length)
        k = mx.arange(0, k_sequence_length)
        distance = -mx.abs(q[:, None] - k[None, :])[None, None]
        return (distance * ALiBi.create_alibi_slope(num_heads, dtype)).astype(dtype)

    def __call__(self, attention_scores: mx.array, offset: int = 0,
                 mask: Optional[mx.array] = None) -> mx.array:
        if attention_scores.ndim != 4:
            raise ValueError(f"[ALiBi] Expected scores of shape (B, H, Lq, Lk) but got "
                             f"{tuple(attention_scores.shape)}.")
        bias = ALiBi.create_alibi_matrix(attention_scores.shape[-2] + offset,
                                         attention_scores.shape[-1], attention_scores.shape[1],
                                         offset, attention_scores.dtype)
        if mask is not None:
            bias = bias + mask
        return attention_scores + bias
