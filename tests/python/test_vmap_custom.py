"""The vmap rule of CustomTransforms (custom_function and checkpoint) against a loop over the
examples: the user's rule where given, else one batched custom node whose rules are the
original ones mapped over the batch (so derivatives of the batched call stay custom)."""

import numpy as np
import pytest

import pullback.core as mx
from vmap_support import check_vmap

VMAP_COVERED = {"CustomTransforms"}

RNG = np.random.default_rng(3)


def rand(*shape, dtype=mx.float32):
    return mx.array(RNG.standard_normal(shape), dtype=dtype)


def two_outputs(x, y):
    return mx.sin(x) * y, mx.exp(x) - y


def with_vmap_rule():
    f = mx.custom_function(lambda x, y: x * y + 1)

    @f.vmap
    def f_vmap(inputs, axes):
        # Each input with its batch axis first (a size-1 one where unbatched) and its example
        # axes padded on the left to the result's rank, so broadcasting pairs example axes.
        rank = max(a.ndim - (ax is not None) for a, ax in zip(inputs, axes))
        ready = []
        for a, ax in zip(inputs, axes):
            a = mx.expand_dims(a, 0) if ax is None else mx.moveaxis(a, ax, 0)
            ready.append(a.reshape((a.shape[0],) + (1,) * (rank + 1 - a.ndim) + a.shape[1:]))
        return ready[0] * ready[1] + 1, 0

    return f


@pytest.mark.parametrize("dtype", [mx.float32, mx.float64])
@pytest.mark.parametrize("in_axes", [0, 1, (0, None), (None, 1), (-1, 0)])
@pytest.mark.parametrize("make", [lambda: mx.custom_function(two_outputs),
                                  lambda: mx.checkpoint(two_outputs), with_vmap_rule],
                         ids=["custom_function", "checkpoint", "user_rule"])
def test_vmap_matches_loop(make, in_axes, dtype):
    check_vmap(make(), rand(3, 3, dtype=dtype), rand(3, 3, dtype=dtype), in_axes=in_axes)


@pytest.mark.parametrize("out_axes", [0, 1, -1])
def test_out_axes(out_axes):
    check_vmap(mx.custom_function(two_outputs), rand(2, 3), rand(2, 3), out_axes=out_axes)


def test_derivatives_of_the_batched_call_match_loop():
    f = mx.custom_function(lambda x, y: mx.tanh(x) * y)
    f.vjp(lambda p, c, o: (c * (1 - mx.tanh(p[0]) ** 2) * p[1], c * mx.tanh(p[0])))
    x, y = rand(4, 3, dtype=mx.float64), rand(4, 3, dtype=mx.float64)
    check_vmap(mx.grad(lambda x, y: f(x, y).sum(), argnums=(0, 1)), x, y)
    check_vmap(lambda x, y: mx.jvp(lambda x: f(x, y), [x], [mx.ones_like(x)])[1][0], x, y)
    check_vmap(mx.vmap(mx.checkpoint(two_outputs)), rand(2, 3, 2), rand(2, 3, 2))


def test_batched_capture():
    def g(x, y):
        return mx.checkpoint(lambda x: mx.sin(x) * y)(x)

    check_vmap(g, rand(3, 2), rand(3, 2))
    check_vmap(g, rand(3, 2), rand(2), in_axes=(0, None))
