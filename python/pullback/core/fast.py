"""Fused operations (``mx.fast``), as MLX's ``mlx.core.fast``.

rms_norm, layer_norm, rope, scaled_dot_product_attention and cross_entropy are fused C++
primitives (``pullback._core._fast``); gated_delta_update is composed here. There is no Metal or
CUDA backend, so the custom-kernel builders raise.
"""

from typing import List as _List
from typing import Optional as _Optional

import pullback._core as _core
from pullback._core import _fast

# The module's own names only (as MLX's mx.fast): helpers are reached through _core.

rms_norm = _fast.rms_norm
layer_norm = _fast.layer_norm
rope = _fast.rope
scaled_dot_product_attention = _fast.scaled_dot_product_attention


cross_entropy = _fast.cross_entropy


def gated_delta_update(q: _core.array, k: _core.array, v: _core.array, gamma: _core.array,
                       beta: _core.array, initial_state: _Optional[_core.array] = None,
                       mask: _Optional[_core.array] = None,
                       stream=None) -> _List[_core.array]:
    """Gated delta network recurrence over the time axis, as MLX's ``fast.gated_delta_update``.

    With ``q``, ``k`` of shape ``[B, T, Hk, Dk]``, ``v`` of shape ``[B, T, Hv, Dv]`` (``Hv`` a
    multiple of ``Hk``; value head ``h`` reads key head ``h // (Hv // Hk)``), ``gamma`` and
    ``beta`` of shape ``[B, T, Hv]`` and a state ``S`` of shape ``[B, Hv, Dv, Dk]`` (zeros
    unless ``initial_state`` is given), each step ``t`` does::

        S = gamma_t * S
        S = S + beta_t * (v_t - S k_t) k_t^T
        o_t = S q_t

    A ``mask`` of shape ``[B, T]`` that is false (zero) at a step leaves the state as it was and
    gives a zero output there. Returns ``[o, S]`` with ``o`` of shape ``[B, T, Hv, Dv]``.
    """
    for name, a, nd in (("q", q, 4), ("k", k, 4), ("v", v, 4), ("gamma", gamma, 3),
                        ("beta", beta, 3)):
        if not isinstance(a, _core.array):
            raise TypeError(f"[gated_delta_update] {name} must be an array.")
        if a.ndim != nd:
            raise ValueError(f"[gated_delta_update] {name} must have {nd} dimensions but has "
                             f"shape {tuple(a.shape)}.")
    b, t, hk, dk = q.shape
    hv, dv = v.shape[2], v.shape[3]
    if (tuple(k.shape) != (b, t, hk, dk) or tuple(v.shape[:2]) != (b, t)
            or tuple(gamma.shape) != (b, t, hv) or tuple(beta.shape) != (b, t, hv)):
        raise ValueError(
            f"[gated_delta_update] Incompatible shapes: q {tuple(q.shape)}, k {tuple(k.shape)}, "
            f"v {tuple(v.shape)}, gamma {tuple(gamma.shape)}, beta {tuple(beta.shape)}.")
    if hk == 0 or hv % hk != 0:
        raise ValueError(f"[gated_delta_update] The value heads ({hv}) must be a multiple of the "
                         f"key heads ({hk}).")
    if initial_state is None:
        state = _core.zeros((b, hv, dv, dk), dtype=v.dtype, stream=stream)
    else:
        if tuple(initial_state.shape) != (b, hv, dv, dk):
            raise ValueError(f"[gated_delta_update] initial_state must have shape "
                             f"{(b, hv, dv, dk)} but has shape {tuple(initial_state.shape)}.")
        state = initial_state
    if mask is not None and tuple(mask.shape) != (b, t):
        raise ValueError(f"[gated_delta_update] mask must have shape {(b, t)} but has shape "
                         f"{tuple(mask.shape)}.")
    rep = hv // hk
    if rep > 1:
        q = _core.repeat(q, rep, axis=2, stream=stream)
        k = _core.repeat(k, rep, axis=2, stream=stream)
    outs = []
    for step in range(t):
        qt, kt, vt = q[:, step], k[:, step], v[:, step]  # [B, Hv, D]
        g = gamma[:, step][..., None, None]
        bt = beta[:, step][..., None]
        decayed = state * g
        remembered = _core.squeeze(
            _core.matmul(decayed, _core.expand_dims(kt, -1, stream=stream), stream=stream), -1,
            stream=stream)
        delta = (vt - remembered) * bt
        updated = decayed + (_core.expand_dims(delta, -1, stream=stream)
                             * _core.expand_dims(kt, -2, stream=stream))
        out = _core.squeeze(
            _core.matmul(updated, _core.expand_dims(qt, -1, stream=stream), stream=stream), -1,
            stream=stream)
        if mask is not None:
            keep = mask[:, step].astype(_core.bool_)
            updated = _core.where(keep[:, None, None, None], updated, state, stream=stream)
            out = _core.where(keep[:, None, None], out, _core.zeros_like(out, stream=stream),
                              stream=stream)
        state = updated
        outs.append(out)
    o = (_core.stack(outs, axis=1, stream=stream) if outs
         else _core.zeros((b, 0, hv, dv), dtype=v.dtype))
    return [o, state]


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
           "gated_delta_update",
           "metal_kernel", "cuda_kernel", "precompiled_cuda_kernel"]
