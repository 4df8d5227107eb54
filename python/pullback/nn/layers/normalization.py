"""Normalization layers. LayerNorm and RMSNorm run as the fused mx.fast primitives (one pass
forward and one backward); the others are built from core ops.

Every layer normalizes over the last (feature) axis or groups of it; the affine parameters
start as weight = 1, bias = 0, so no random initialization is involved.
"""

from __future__ import annotations

from typing import Tuple

import pullback.core as mx
from pullback.nn.layers.base import Module


def _check_eps(layer: str, eps: float) -> None:
    if not eps > 0.0:
        raise ValueError(f"[{layer}] 'eps' must be positive but got {eps}.")


def _normalize(x: mx.array, axes, eps: float) -> mx.array:
    """``(x - mean) / sqrt(var + eps)`` over ``axes``."""
    mean = mx.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = mx.mean(mx.square(centered), axis=axes, keepdims=True)
    return centered * mx.rsqrt(var + eps)


class LayerNorm(Module):
    """Normalizes each vector along the last axis to zero mean and unit variance, then scales
    by ``weight`` and shifts by ``bias`` (when ``affine``; ``bias=False`` drops the shift)."""

    def __init__(self, dims: int, eps: float = 1e-5, affine: bool = True, bias: bool = True):
        super().__init__()
        _check_eps("LayerNorm", eps)
        if affine:
            self.weight = mx.ones((dims,))
            if bias:
                self.bias = mx.zeros((dims,))
        self.eps = eps
        self.dims = dims

    def _extra_repr(self) -> str:
        return f"{self.dims}, eps={self.eps}, affine={'weight' in self}"

    def __call__(self, x: mx.array) -> mx.array:
        weight = self["weight"] if "weight" in self else None
        bias = self["bias"] if "bias" in self else None
        return mx.fast.layer_norm(x, weight, bias, self.eps)


class RMSNorm(Module):
    """Divides each vector along the last axis by its root mean square (plus ``eps``), then
    scales it by ``weight``."""

    def __init__(self, dims: int, eps: float = 1e-5):
        super().__init__()
        _check_eps("RMSNorm", eps)
        self.weight = mx.ones((dims,))
        self.eps = eps

    def _extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"

    def __call__(self, x: mx.array) -> mx.array:
        return mx.fast.rms_norm(x, self["weight"], self.eps)


class InstanceNorm(Module):
    """Normalizes each channel (last axis) of each sample over its spatial axes; inputs are
    ``(N, ..., C)`` with at least one spatial axis."""

    def __init__(self, dims: int, eps: float = 1e-5, affine: bool = False):
        super().__init__()
        _check_eps("InstanceNorm", eps)
        if affine:
            self.weight = mx.ones((dims,))
            self.bias = mx.zeros((dims,))
        self.dims = dims
        self.eps = eps

    def _extra_repr(self) -> str:
        return f"{self.dims}, eps={self.eps}, affine={'weight' in self}"

    def __call__(self, x: mx.array) -> mx.array:
        if x.ndim < 3:
            raise ValueError(f"[InstanceNorm] Expects inputs with at least 3 dimensions "
                             f"(N, ..., C) but the input has shape {tuple(x.shape)}.")
        y = _normalize(x, tuple(range(1, x.ndim - 1)), self.eps)
        return (self["weight"] * y + self["bias"]) if "weight" in self else y


class GroupNorm(Module):
    """Splits the ``dims`` features (last axis) into ``num_groups`` groups and normalizes each
    group of each sample over its features and spatial positions.

    As in MLX, the default groups are the features ``g, g + num_groups, ...`` (interleaved);
    ``pytorch_compatible=True`` uses contiguous blocks of features, as PyTorch does."""

    def __init__(self, num_groups: int, dims: int, eps: float = 1e-5, affine: bool = True,
                 pytorch_compatible: bool = False):
        super().__init__()
        _check_eps("GroupNorm", eps)
        if num_groups <= 0:
            raise ValueError(f"[GroupNorm] The number of groups ({num_groups}) must be a "
                             "positive integer.")
        if dims <= 0:
            raise ValueError(f"[GroupNorm] The number of features ({dims}) must be a positive "
                             "integer.")
        if dims % num_groups != 0:
            raise ValueError(f"[GroupNorm] The number of features ({dims}) must be evenly "
                             f"divisible by the number of groups ({num_groups}).")
        if affine:
            self.bias = mx.zeros((dims,))
            self.weight = mx.ones((dims,))
        self.num_groups = num_groups
        self.dims = dims
        self.eps = eps
        self.pytorch_compatible = pytorch_compatible

    def _extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.dims}, eps={self.eps}, affine={'weight' in self}, "
                f"pytorch_compatible={self.pytorch_compatible}")

    def __call__(self, x: mx.array) -> mx.array:
        if x.ndim < 2 or x.shape[-1] != self.dims:
            raise ValueError(f"[GroupNorm] Expects inputs of shape (N, ..., {self.dims}) but "
                             f"the input has shape {tuple(x.shape)}.")
        shape = x.shape
        groups = self.num_groups
        if self.pytorch_compatible:
            # (N, positions, groups, group_size): a group is a block of adjacent features.
            y = _normalize(x.reshape(shape[0], -1, groups, self.dims // groups), (1, 3),
                           self.eps)
        else:
            # (N, positions * group_size, groups): feature f belongs to group f % groups.
            y = _normalize(x.reshape(shape[0], -1, groups), 1, self.eps)
        y = y.reshape(shape)
        return (self["weight"] * y + self["bias"]) if "weight" in self else y


class BatchNorm(Module):
    """Normalizes each feature (last axis) over the batch and spatial axes, for inputs of 2 to
    4 dimensions. In training it uses the batch's statistics and, with
    ``track_running_stats``, updates ``running_mean``/``running_var`` (unbiased) by
    ``momentum``; in eval mode it uses the running statistics. The running statistics are
    parameters (they are saved) but always frozen."""

    _always_frozen = ("running_mean", "running_var")

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        _check_eps("BatchNorm", eps)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = mx.ones((num_features,))
            self.bias = mx.zeros((num_features,))
        if track_running_stats:
            self.running_mean = mx.zeros((num_features,))
            self.running_var = mx.ones((num_features,))
            self.freeze(keys=["running_mean", "running_var"], recurse=False)

    def unfreeze(self, *args, **kwargs) -> "BatchNorm":
        """Unfreezes as :meth:`Module.unfreeze`; the running statistics stay frozen."""
        return super().unfreeze(*args, **kwargs)

    def _extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={'weight' in self}, track_running_stats={self.track_running_stats}")

    def _statistics(self, x: mx.array, ddof: int = 0) -> Tuple[mx.array, mx.array]:
        axes = tuple(range(x.ndim - 1))
        return mx.mean(x, axis=axes), mx.var(x, axis=axes, ddof=ddof)

    def __call__(self, x: mx.array) -> mx.array:
        if x.ndim < 2 or x.ndim > 4:
            raise ValueError(f"[BatchNorm] Expects inputs with 2, 3 or 4 dimensions but the "
                             f"input has shape {tuple(x.shape)}.")
        if self.training and x.size // max(x.shape[-1], 1) <= 1:
            raise ValueError("[BatchNorm] Training needs more than one value per channel; the "
                             f"input has shape {tuple(x.shape)}.")
        mean, var = self._statistics(x)
        if self.track_running_stats:
            if self.training:
                rate = self.momentum
                _, unbiased = self._statistics(x, ddof=1)
                self.running_mean = (1 - rate) * self["running_mean"] + rate * mean
                self.running_var = (1 - rate) * self["running_var"] + rate * unbiased
            else:
                mean, var = self["running_mean"], self["running_var"]
        y = (x - mean) * mx.rsqrt(var + self.eps)
        return (self["weight"] * y + self["bias"]) if "weight" in self else y
