"""Linear, Bilinear and Embedding, initialized like MLX: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
for the linear maps, N(0, 1/dims) for embeddings."""

from __future__ import annotations

import math

import pullback.core as mx
from pullback.nn.layers.base import Module


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape (output_dims, input_dims)."""

    def __init__(self, input_dims: int, output_dims: int, bias: bool = True) -> None:
        super().__init__()
        scale = math.sqrt(1.0 / input_dims)
        self.weight = mx.random.uniform(-scale, scale, (output_dims, input_dims))
        if bias:
            self.bias = mx.random.uniform(-scale, scale, (output_dims,))

    def _extra_repr(self) -> str:
        return (f"input_dims={self.weight.shape[1]}, output_dims={self.weight.shape[0]}, "
                f"bias={'bias' in self}")

    def __call__(self, x: mx.array) -> mx.array:
        weight = self["weight"]
        if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(f"[Linear] Expected an input of shape (..., {weight.shape[1]}) but "
                             f"got {tuple(x.shape)}.")
        y = x @ weight.T
        return y + self["bias"] if "bias" in self else y


class Bilinear(Module):
    """``y[..., o] = x1 @ weight[o].T @ x2 + bias[o]`` with ``weight`` of shape
    (output_dims, input2_dims, input1_dims)."""

    def __init__(self, input1_dims: int, input2_dims: int, output_dims: int,
                 bias: bool = True) -> None:
        super().__init__()
        scale = math.sqrt(1.0 / input1_dims)
        self.weight = mx.random.uniform(-scale, scale, (output_dims, input2_dims, input1_dims))
        if bias:
            self.bias = mx.random.uniform(-scale, scale, (output_dims,))

    def _extra_repr(self) -> str:
        out, in2, in1 = self.weight.shape
        return f"input1_dims={in1}, input2_dims={in2}, output_dims={out}, bias={'bias' in self}"

    def __call__(self, x1: mx.array, x2: mx.array) -> mx.array:
        out, in2, in1 = self["weight"].shape
        if x1.ndim < 1 or x2.ndim < 1 or x1.shape[-1] != in1 or x2.shape[-1] != in2 \
                or x1.shape[:-1] != x2.shape[:-1]:
            raise ValueError(f"[Bilinear] Expected inputs of shapes (..., {in1}) and "
                             f"(..., {in2}) with equal leading axes but got {tuple(x1.shape)} "
                             f"and {tuple(x2.shape)}.")
        lead = tuple(x1.shape[:-1])
        # One matmul against all (o, j) rows of the weight, then the contraction with x2.
        t = x1.reshape(-1, in1) @ self["weight"].reshape(out * in2, in1).T
        y = mx.sum(t.reshape(-1, out, in2) * x2.reshape(-1, 1, in2), axis=-1)
        if "bias" in self:
            y = y + self["bias"]
        return y.reshape(*lead, out)


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``dims``."""

    def __init__(self, num_embeddings: int, dims: int) -> None:
        super().__init__()
        scale = math.sqrt(1.0 / dims)
        self.weight = mx.random.normal(shape=(num_embeddings, dims), scale=scale)

    def _extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}"

    def __call__(self, x: mx.array) -> mx.array:
        return mx.take(self["weight"], x, axis=0)

    def as_linear(self, x: mx.array) -> mx.array:
        """Uses the table as a linear layer with tied weights: scores against every row."""
        return x @ self["weight"].T
