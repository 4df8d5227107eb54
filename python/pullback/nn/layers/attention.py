"""MultiHeadAttention from core ops (softmax(q k^T / sqrt(d) + mask) v per head)."""

from __future__ import annotations

import math
from typing import Optional

import pullback.core as mx
from pullback.nn.layers.base import Module
from pullback.nn.layers.linear import Linear


def scaled_dot_product_attention(q: mx.array, k: mx.array, v: mx.array, scale: float,
                                 mask: Optional[mx.array] = None) -> mx.array:
    """(B, H, Lq, D) attention; a boolean ``mask`` keeps the True positions, any other mask
    is added to the scores. Runs as the fused mx.fast primitive (blocked, one pass over the
    keys per query block, a fused backward), as MLX's layer does."""
    return mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)


class MultiHeadAttention(Module):
    """Projects queries, keys and values to ``num_heads`` heads, attends per head and projects
    the concatenated heads back with ``out_proj``."""

    def __init__(self, dims: int, num_heads: int, query_input_dims: Optional[int] = None,
                 key_input_dims: Optional[int] = None, value_input_dims: Optional[int] = None,
                 value_dims: Optional[int] = None, value_output_dims: Optional[int] = None,
                 bias: bool = False):
        super().__init__()
        if num_heads < 1 or dims % num_heads:
            raise ValueError(f"[MultiHeadAttention] The input feature dimensions should be "
                             f"divisible by the number of heads ({dims} % {num_heads}) != 0.")
        query_input_dims = query_input_dims or dims
        key_input_dims = key_input_dims or dims
        value_input_dims = value_input_dims or key_input_dims
        value_dims = value_dims or dims
        value_output_dims = value_output_dims or dims
        self.num_heads = num_heads
        self.query_proj = Linear(query_input_dims, dims, bias=bias)
        self.key_proj = Linear(key_input_dims, dims, bias=bias)
        self.value_proj = Linear(value_input_dims, value_dims, bias=bias)
        self.out_proj = Linear(value_dims, value_output_dims, bias=bias)

    def _heads(self, x: mx.array) -> mx.array:
        return mx.unflatten(x, -1, (self.num_heads, -1)).transpose(0, 2, 1, 3)

    def __call__(self, queries: mx.array, keys: mx.array, values: mx.array,
                 mask: Optional[mx.array] = None) -> mx.array:
        q = self._heads(self.query_proj(queries))
        k = self._heads(self.key_proj(keys))
        v = self._heads(self.value_proj(values))
        out = scaled_dot_product_attention(q, k, v, 1.0 / math.sqrt(q.shape[-1]), mask)
        return self.out_proj(out.transpose(0, 2, 1, 3).flatten(-2, -1))

    @staticmethod
    def create_additive_causal_mask(N: int, dtype=mx.float32) -> mx.array:
        """(N, N) mask with the dtype's lowest value above the diagonal, 0 elsewhere."""
        idx = mx.arange(N)
        return (idx[:, None] < idx[None]).astype(dtype) * mx.finfo(dtype).min
