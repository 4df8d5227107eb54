"""vmap rules of the fused attention and cross-entropy primitives (primitives/attention.h),
each against a loop over the examples: the forward, its fused backward (a vmapped vjp), and
masks and sinks batched or shared."""

import numpy as np
import pytest

import pullback.core as mx
from vmap_support import check_vmap

VMAP_COVERED = {"ScaledDotProductAttention", "ScaledDotProductAttentionVJP", "AttentionOutput",
                "CrossEntropy", "CrossEntropyVJP"}

RNG = np.random.default_rng(11)
sdpa = mx.fast.scaled_dot_product_attention


def f32(*shape):
    return mx.array(RNG.standard_normal(shape), mx.float32)


@pytest.mark.parametrize("mask", [None, "causal", "bool", "additive"])
@pytest.mark.parametrize("in_axes", [(0, 0, 0), (1, None, 0), (None, 2, None)])
def test_sdpa_forward(mask, in_axes):
    n, b, h, hkv, tq, tk = 3, 2, 4, 2, 5, 7
    shapes = [(b, h, tq, 8), (b, hkv, tk, 8), (b, hkv, tk, 6)]
    args = []
    for shape, ax in zip(shapes, in_axes):
        shape = list(shape)
        if ax is not None:
            shape.insert(ax, n)
        args.append(f32(*shape))
    m = mask
    if mask == "bool":
        m = mx.array(RNG.uniform(size=(tq, tk)) < 0.6)
    elif mask == "additive":
        m = f32(h, 1, tk)
    check_vmap(lambda q, k, v: sdpa(q, k, v, scale=0.3, mask=m), *args, in_axes=in_axes,
               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["bool", "additive"])
@pytest.mark.parametrize("mask_shape", [(3, 5, 7), (3, 2, 1, 5, 7), (3, 1, 4, 1, 7)])
def test_sdpa_batched_mask(kind, mask_shape):
    q, k, v = f32(2, 4, 5, 8), f32(2, 4, 7, 8), f32(2, 4, 7, 8)
    mask = mx.array(RNG.uniform(size=mask_shape) < 0.7) if kind == "bool" else f32(*mask_shape)
    check_vmap(lambda m, q: sdpa(q, k, v, scale=0.3, mask=m), mask, q, in_axes=(0, None),
               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("in_axes", [(0, 0), (None, 0), (0, None)])
def test_sdpa_sinks(in_axes):
    q, k, v = f32(3, 2, 4, 5, 8), f32(2, 4, 7, 8), f32(2, 4, 7, 8)
    sinks = f32(3, 4) if in_axes[1] == 0 else f32(4)
    q = q if in_axes[0] == 0 else q[0]
    check_vmap(lambda q, s: sdpa(q, k, v, scale=0.3, mask="causal", sinks=s), q, sinks,
               in_axes=in_axes, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("with_sinks", [False, True])
def test_sdpa_backward(with_sinks):
    """A vmapped vjp replays the fused backward's rule (per-example cotangents of the sinks)."""
    q, k, v = f32(3, 2, 4, 5, 8), f32(3, 2, 2, 7, 8), f32(2, 2, 7, 6)
    ct = f32(3, 2, 4, 5, 6)
    sinks = f32(4)

    def grads(q, k, ct):
        if with_sinks:
            f = lambda q, k, s: sdpa(q, k, v, scale=0.3, mask="causal", sinks=s)
            return mx.vjp(f, [q, k, sinks], [ct])[1]
        f = lambda q, k: sdpa(q, k, v, scale=0.3, mask="causal")
        return mx.vjp(f, [q, k], [ct])[1]

    check_vmap(grads, q, k, ct, rtol=1e-4, atol=1e-5)


def test_sdpa_grad_of_vmap():
    q, k, v = f32(3, 1, 2, 4, 8), f32(1, 2, 6, 8), f32(1, 2, 6, 8)
    loss = lambda q: mx.sum(mx.sin(mx.vmap(lambda x: sdpa(x, k, v, scale=0.5))(q)))
    loop = lambda q: sum(mx.sum(mx.sin(sdpa(q[i], k, v, scale=0.5))) for i in range(3))
    np.testing.assert_allclose(np.array(mx.grad(loss)(q)), np.array(mx.grad(loop)(q)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("in_axes", [(0, 0), (1, None), (None, 0)])
def test_cross_entropy(in_axes):
    logits = f32(3, 4, 10) if in_axes[0] is not None else f32(4, 10)
    if in_axes[0] == 1:
        logits = f32(4, 3, 10)
    targets = mx.array(RNG.integers(0, 10, (3, 4) if in_axes[1] == 0 else (4,)))
    check_vmap(mx.fast.cross_entropy, logits, targets, in_axes=in_axes, rtol=1e-6, atol=1e-6)
    check_vmap(lambda x, t: mx.grad(lambda z: mx.sum(mx.fast.cross_entropy(z, t)))(x),
               logits, targets, in_axes=in_axes, rtol=1e-6, atol=1e-6)
