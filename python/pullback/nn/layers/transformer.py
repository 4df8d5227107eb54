"""Transformer encoder/decoder stacks from MultiHeadAttention, LayerNorm, Linear and Dropout,
with MLX's member names (attention / self_attention / cross_attention, ln1.., linear1/2,
dropout1..) so weights load across. With ``checkpoint=True`` each layer runs under
nn.utils.checkpoint: its activations are recomputed in the backward pass instead of kept."""

from __future__ import annotations

from typing import Any, Callable, Optional

import pullback.core as mx
from pullback.nn.layers.activations import relu
from pullback.nn.layers.attention import MultiHeadAttention
from pullback.nn.layers.base import Module
from pullback.nn.layers.dropout import Dropout
from pullback.nn.layers.linear import Linear
from pullback.nn.layers.normalization import LayerNorm


def _residual(x: mx.array, norm: LayerNorm, block: Callable, norm_first: bool) -> mx.array:
    """Pre-norm ``x + block(norm(x))`` or post-norm ``norm(x + block(x))``."""
    if norm_first:
        return x + block(norm(x))
    return norm(x + block(x))


class _FeedForward:
    """linear2(dropout(activation(linear1(y)))) of a layer that owns those members."""

    def _mlp(self, y: mx.array, dropout: Dropout) -> mx.array:
        return self.linear2(dropout(self.activation(self.linear1(y))))


class TransformerEncoderLayer(Module, _FeedForward):
    """Self-attention then a two-layer MLP, each with a residual connection and LayerNorm."""

    def __init__(self, dims: int, num_heads: int, mlp_dims: Optional[int] = None,
                 dropout: float = 0.0, activation: Callable[[Any], Any] = relu,
                 norm_first: bool = True):
        super().__init__()
        mlp_dims = mlp_dims or dims * 4
        self.attention = MultiHeadAttention(dims, num_heads)
        self.ln1, self.ln2 = LayerNorm(dims), LayerNorm(dims)
        self.linear1, self.linear2 = Linear(dims, mlp_dims), Linear(mlp_dims, dims)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        self.activation = activation
        self.norm_first = norm_first

    def __call__(self, x: mx.array, mask: Optional[mx.array]) -> mx.array:
        x = _residual(x, self.ln1, lambda y: self.dropout1(self.attention(y, y, y, mask)),
                      self.norm_first)
        return _residual(x, self.ln2, lambda y: self._mlp(y, self.dropout2), self.norm_first)


class TransformerDecoderLayer(Module, _FeedForward):
    """Masked self-attention, cross-attention to ``memory``, then a two-layer MLP."""

    def __init__(self, dims: int, num_heads: int, mlp_dims: Optional[int] = None,
                 dropout: float = 0.0, activation: Callable[[Any], Any] = relu,
                 norm_first: bool = True):
        super().__init__()
        mlp_dims = mlp_dims or dims * 4
        self.self_attention = MultiHeadAttention(dims, num_heads)
        self.cross_attention = MultiHeadAttention(dims, num_heads)
        self.ln1, self.ln2, self.ln3 = LayerNorm(dims), LayerNorm(dims), LayerNorm(dims)
        self.linear1, self.linear2 = Linear(dims, mlp_dims), Linear(mlp_dims, dims)
        self.dropout1, self.dropout2, self.dropout3 = (Dropout(dropout), Dropout(dropout),
                                                       Dropout(dropout))
        self.activation = activation
        self.norm_first = norm_first

    def __call__(self, x: mx.array, memory: mx.array, x_mask: Optional[mx.array],
                 memory_mask: Optional[mx.array]) -> mx.array:
        x = _residual(x, self.ln1,
                      lambda y: self.dropout1(self.self_attention(y, y, y, x_mask)),
                      self.norm_first)
        x = _residual(x, self.ln2,
                      lambda y: self.dropout2(self.cross_attention(y, memory, memory,
                                                                   memory_mask)),
                      self.norm_first)
        return _residual(x, self.ln3, lambda y: self._mlp(y, self.dropout3), self.norm_first)


class TransformerEncoder(Module):
    """``num_layers`` encoder layers followed by a final LayerNorm."""

    def __init__(self, num_layers: int, dims: int, num_heads: int,
                 mlp_dims: Optional[int] = None, dropout: float = 0.0, activation=relu,
                 norm_first: bool = True, checkpoint: bool = False):
        super().__init__()
        self.layers = [TransformerEncoderLayer(dims, num_heads, mlp_dims, dropout, activation,
                                               norm_first) for _ in range(num_layers)]
        self.ln = LayerNorm(dims)
        self.checkpoint = checkpoint

    def __call__(self, x: mx.array, mask: Optional[mx.array]) -> mx.array:
        for layer in self.layers:
            x = _maybe_checkpointed(layer, self.checkpoint)(x, mask)
        return self.ln(x)


def _maybe_checkpointed(layer: Module, checkpoint: bool) -> Callable:
    if not checkpoint:
        return layer
    from pullback.nn.utils import checkpoint as checkpointed  # nn.utils imports the layers
    return checkpointed(layer)


class TransformerDecoder(Module):
    """``num_layers`` decoder layers followed by a final LayerNorm."""

    def __init__(self, num_layers: int, dims: int, num_heads: int,
                 mlp_dims: Optional[int] = None, dropout: float = 0.0, activation=relu,
                 norm_first: bool = True, checkpoint: bool = False):
        super().__init__()
        self.layers = [TransformerDecoderLayer(dims, num_heads, mlp_dims, dropout, activation,
                                               norm_first) for _ in range(num_layers)]
        self.ln = LayerNorm(dims)
        self.checkpoint = checkpoint

    def __call__(self, x: mx.array, memory: mx.array, x_mask: Optional[mx.array],
                 memory_mask: Optional[mx.array]) -> mx.array:
        for layer in self.layers:
            x = _maybe_checkpointed(layer, self.checkpoint)(x, memory, x_mask, memory_mask)
        return self.ln(x)


class Transformer(Module):
    """Encoder over ``src`` and decoder over ``tgt`` attending to the encoder's output."""

    def __init__(self, dims: int = 512, num_heads: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, mlp_dims: Optional[int] = None,
                 dropout: float = 0.0, activation: Callable[[Any], Any] = relu,
                 custom_encoder: Optional[Any] = None, custom_decoder: Optional[Any] = None,
                 norm_first: bool = True, checkpoint: bool = False):
        super().__init__()
        self.encoder = custom_encoder if custom_encoder is not None else TransformerEncoder(
            num_encoder_layers, dims, num_heads, mlp_dims, dropout, activation, norm_first,
            checkpoint)
        self.decoder = custom_decoder if custom_decoder is not None else TransformerDecoder(
            num_decoder_layers, dims, num_heads, mlp_dims, dropout, activation, norm_first,
            checkpoint)

    def __call__(self, src: mx.array, tgt: mx.array, src_mask: Optional[mx.array],
                 tgt_mask: Optional[mx.array], memory_mask: Optional[mx.array]) -> mx.array:
        return self.decoder(tgt, self.encoder(src, src_mask), tgt_mask, memory_mask)
