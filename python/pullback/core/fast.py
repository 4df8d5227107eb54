"""Fused operations (``mx.fast``), as MLX's ``mlx.core.fast``.

rms_norm, layer_norm and rope are fused C++ primitives and scaled_dot_product_attention a C++
composition (``pullback._core._fast``); cross_entropy is composed here. There is no Metal or
CUDA backend, so the custom-kernel builders raise.
"""

from __future__ import annotations

from pullback._core import _fast
from pullback._core import array, logsumexp, take_along_axis, expand_dims, squeeze

rms_norm = _fast.rms_norm
layer_norm = _fast.layer_norm
rope = _fast.rope
scaled_dot_product_attention = _fast.scaled_dot_product_attention


def cross_entropy(logits: array, targets: array, *, stream=None) -> array:
    """Cross entropy loss with class indices as targets: ``logsumexp(logits, -1) - logits[..., target]``."""
    picked = take_along_axis(logits, expand_dims(targets, -1, stream=stream), axis=-1,
                             stream=stream)
    return logsumexp(logits, axis=-1, stream=stream) - squeeze(picked, -1, stream=stream)


def metal_kernel(name: str, input_names, output_names, source: str, header: str = "",
                 ensure_row_contiguous: bool = True, atomic_outputs: bool = False,
                 compile_options=None):
    """Custom Metal kernels need a Metal backend, which this build does not have."""
    raise RuntimeError(f"[metal_kernel] No Metal back-end: cannot build the kernel {name!r}.")


def cuda_kernel(name: str, input_names, output_names, source: str, header: str = "",
                ensure_row_contiguous: bool = True, shared_memory: int = 0):
    """Custom CUDA kernels need a CUDA backend, which this build does not have."""
    raise RuntimeError(f"[cuda_kernel] No CUDA back-end: cannot build the kernel {name!r}.")


def precompiled_cuda_kernel(name: str, *args, **kwargs):
    """Precompiled CUDA kernels need a CUDA backend, which this build does not have."""
    raise RuntimeError(f"[precompiled_cuda_kernel] No CUDA back-end: cannot load {name!r}.")


__all__ = ["rms_norm", "layer_norm", "rope", "scaled_dot_product_attention", "cross_entropy",
           "metal_kernel", "cuda_kernel", "precompiled_cuda_kernel"]
