"""vmap of compiled functions: the batching rule of Fused (a fused elementwise chain) against a
Python loop over examples, for mapped axes first, middle, last and None, strided inputs,
nested vmap, and vmap of the gradient of a compiled function."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy
from vmap_support import check_vmap, loop_vmap

VMAP_COVERED = {"Fused"}


def chain(x, y):
    s = mx.sin(x) * 1.5 - 0.25
    return mx.tanh(s * y + 1.0) - mx.exp(-mx.square(y)) * 0.5


def rand(*shape, seed=0):
    return mx.array(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def fused_graph(fn):
    names = [n for g in fn._compiled._graphs() for n in g.node_names]
    assert "Fused" in names
    return names


@pytest.mark.parametrize("in_axes, x_shape, y_shape", [
    ((0, 0), (4, 5, 6), (4, 5, 6)),
    ((1, 1), (4, 5, 6), (4, 5, 6)),
    ((2, 0), (4, 5, 6), (6, 4, 5)),
    ((-1, None), (4, 5, 6), (5,)),
    ((None, 1), (4, 6), (4, 5, 6)),
])
def test_vmap_of_a_fused_chain_matches_the_loop(in_axes, x_shape, y_shape):
    x, y = rand(*x_shape), rand(*y_shape, seed=1)
    f = mx.compile(chain)
    check_vmap(f, x, y, in_axes=in_axes)
    fused_graph(f)


def test_the_batched_chain_stays_fused():
    f = mx.compile(chain)
    x, y = rand(3, 8), rand(8, seed=2)
    vf = mx.compile(mx.vmap(f, in_axes=(0, None)))
    (want,) = loop_vmap(chain, (x, y), (0, None))
    np.testing.assert_allclose(to_numpy(vf(x, y)), to_numpy(want), rtol=1e-6, atol=1e-6)
    assert "Fused" in fused_graph(vf)


def test_strided_inputs_and_nested_vmap():
    x = rand(6, 4, 10)[:, :, ::2]
    y = mx.transpose(rand(5, 4, 6, seed=3), (2, 1, 0))
    f = mx.compile(chain)
    check_vmap(mx.vmap(f), x, y)
    check_vmap(f, x, y, in_axes=(2, 2))


def test_vmap_of_grad_of_compile():
    f = mx.compile(lambda x, y: chain(x, y).sum())
    x, y = rand(5, 7), rand(5, 7, seed=4)
    check_vmap(mx.grad(f, argnums=(0, 1)), x, y, rtol=1e-5, atol=1e-5)
