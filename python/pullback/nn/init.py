"""nn.init: initializer factories. Each factory returns a function that takes an array (only
its shape is used) and returns a freshly drawn array of that shape, drawn with mx.random."""

from __future__ import annotations

import math
from typing import Callable, Literal, Tuple

import pullback.core as mx

__all__ = ["constant", "normal", "uniform", "identity", "glorot_normal", "glorot_uniform",
           "he_normal", "he_uniform", "orthogonal", "sparse"]


def constant(value: float, dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """Fills the array with ``value``."""

    def initializer(a: mx.array) -> mx.array:
        return mx.full(a.shape, value, dtype=dtype)

    return initializer


def normal(mean: float = 0.0, std: float = 1.0,
           dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """Samples from N(mean, std^2)."""

    def initializer(a: mx.array) -> mx.array:
        return mx.random.normal(shape=a.shape, scale=std, loc=mean, dtype=dtype)

    return initializer


def uniform(low: float = 0.0, high: float = 1.0,
            dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """Samples from U[low, high)."""

    def initializer(a: mx.array) -> mx.array:
        return mx.random.uniform(low, high, a.shape, dtype=dtype)

    return initializer


def identity(dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """The identity matrix; the array must be square and 2-D."""

    def initializer(a: mx.array) -> mx.array:
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"[identity] The input array must be a square matrix but got shape "
                             f"{tuple(a.shape)}.")
        return mx.eye(a.shape[0], dtype=dtype)

    return initializer


def _fans(x: mx.array, who: str) -> Tuple[int, int]:
    """(fan_in, fan_out) of a weight laid out as (out, *kernel, in), the layout of Linear and
    of the Conv layers: the kernel's spatial extent multiplies both."""
    if x.ndim < 2:
        raise ValueError(f"[{who}] Glorot and He initialization need at least 2 dimensions but "
                         f"got an array of shape {tuple(x.shape)}.")
    receptive = math.prod(x.shape[1:-1])
    return x.shape[-1] * receptive, x.shape[0] * receptive


def glorot_normal(dtype: mx.Dtype = mx.float32) -> Callable[[mx.array, float], mx.array]:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""

    def initializer(a: mx.array, gain: float = 1.0) -> mx.array:
        fan_in, fan_out = _fans(a, "glorot_normal")
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        return mx.random.normal(shape=a.shape, scale=std, dtype=dtype)

    return initializer


def glorot_uniform(dtype: mx.Dtype = mx.float32) -> Callable[[mx.array, float], mx.array]:
    """U[-limit, limit) with limit = gain * sqrt(6 / (fan_in + fan_out))."""

    def initializer(a: mx.array, gain: float = 1.0) -> mx.array:
        fan_in, fan_out = _fans(a, "glorot_uniform")
        limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return mx.random.uniform(-limit, limit, a.shape, dtype=dtype)

    return initializer


def _he_fan(a: mx.array, mode: str, who: str) -> int:
    fan_in, fan_out = _fans(a, who)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"[{who}] Invalid mode: {mode!r}. Valid modes are 'fan_in' and 'fan_out'.")


def he_normal(dtype: mx.Dtype = mx.float32
              ) -> Callable[[mx.array, Literal["fan_in", "fan_out"], float], mx.array]:
    """N(0, std^2) with std = gain / sqrt(fan), fan chosen by ``mode``."""

    def initializer(a: mx.array, mode: Literal["fan_in", "fan_out"] = "fan_in",
                    gain: float = 1.0) -> mx.array:
        std = gain / math.sqrt(_he_fan(a, mode, "he_normal"))
        return mx.random.normal(shape=a.shape, scale=std, dtype=dtype)

    return initializer


def he_uniform(dtype: mx.Dtype = mx.float32
               ) -> Callable[[mx.array, Literal["fan_in", "fan_out"], float], mx.array]:
    """U[-limit, limit) with limit = gain * sqrt(3 / fan), fan chosen by ``mode``."""

    def initializer(a: mx.array, mode: Literal["fan_in", "fan_out"] = "fan_in",
                    gain: float = 1.0) -> mx.array:
        limit = gain * math.sqrt(3.0 / _he_fan(a, mode, "he_uniform"))
        return mx.random.uniform(-limit, limit, a.shape, dtype=dtype)

    return initializer


def orthogonal(gain: float = 1.0, dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """``gain`` times a matrix with orthonormal rows or columns (whichever are fewer), the Q
    of a Gaussian matrix with the signs fixed by R's diagonal so it is Haar distributed."""

    def initializer(a: mx.array) -> mx.array:
        if a.ndim != 2:
            raise ValueError(f"[orthogonal] Orthogonal initialization requires a 2D array but "
                             f"got shape {tuple(a.shape)}.")
        rows, cols = a.shape
        n = max(rows, cols)
        q, r = mx.linalg.qr(mx.random.normal(shape=(n, n)), stream=mx.cpu)
        q = q * mx.sign(mx.diag(r))
        return (q[:rows, :cols] * gain).astype(dtype)

    return initializer


def sparse(sparsity: float, mean: float = 0.0, std: float = 1.0,
           dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """N(mean, std^2) with ``ceil(sparsity * cols)`` randomly chosen entries of every row set
    to zero."""

    def initializer(a: mx.array) -> mx.array:
        if a.ndim != 2:
            raise ValueError(f"[sparse] Only 2D arrays are supported but got shape "
                             f"{tuple(a.shape)}.")
        rows, cols = a.shape
        num_zeros = int(math.ceil(sparsity * cols))
        # The rank of a uniform key within its row is a uniformly random permutation of the
        # columns; zeroing the ranks below num_zeros picks num_zeros columns per row.
        rank = mx.argsort(mx.argsort(mx.random.uniform(shape=a.shape), axis=1), axis=1)
        w = mx.random.normal(shape=a.shape, scale=std, loc=mean, dtype=dtype)
        return mx.where(rank < num_zeros, mx.zeros((), dtype=dtype), w)

    return initializer
