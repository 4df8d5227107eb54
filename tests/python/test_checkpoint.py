"""mx.checkpoint and nn.utils.checkpoint: derivatives of the re-run function against finite
differences, closure captures and modules under nn.value_and_grad, compositions with vmap and
jvp, and the memory a checkpointed training step peaks at."""

from functools import partial

import numpy as np
import pytest

import pullback.core as mx
import pullback.nn as nn
from helpers import check_grad, to_numpy
from pullback.utils import tree_flatten
from vmap_support import loop_vmap

RNG = np.random.default_rng(5)


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b) if isinstance(b, mx.array) else b,
                               rtol=rtol, atol=atol)


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    fa, fb = tree_flatten(a), tree_flatten(b)
    assert [k for k, _ in fa] == [k for k, _ in fb]
    for (k, x), (_, y) in zip(fa, fb):
        np.testing.assert_allclose(to_numpy(x), to_numpy(y), rtol=rtol, atol=atol, err_msg=k)


VIEWS = {
    "contiguous": lambda x: x,
    "transposed": lambda x: x.T,
    "reversed": lambda x: x[::-1],
    "sliced": lambda x: x[1:, ::2],
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_derivatives_match_finite_differences(view):
    f = mx.checkpoint(lambda x, w: mx.tanh(x @ w) * mx.exp(-x.sum()))
    v = VIEWS[view]
    check_grad(lambda x, w: f(v(x), w), [RNG.standard_normal((4, 4)) * 0.5,
                                         RNG.standard_normal((4 if view != "sliced" else 2, 3))])


def test_second_order():
    f = mx.checkpoint(lambda x: mx.sin(x) * x)
    check_grad(mx.grad(lambda x: f(x).sum()), [RNG.standard_normal((3,))])


def test_the_function_runs_once_and_replays():
    calls = []

    def fun(x):
        calls.append(1)
        return mx.sin(x)

    x = mx.array([0.1, 0.4])
    close(mx.grad(lambda x: mx.checkpoint(fun)(x).sum())(x), mx.cos(x))
    assert len(calls) == 1


def test_closure_captures_get_gradients():
    x = np.array([0.3, -0.7, 1.1])

    def loss(w, b):
        f = mx.checkpoint(lambda x: mx.tanh(x * w + b))
        return f(mx.array(x, dtype=w.dtype)).sum()

    check_grad(loss, [RNG.standard_normal(3), RNG.standard_normal(3)])


def test_random_values_are_the_same_in_the_replay():
    mx.random.seed(3)

    def fun(x):
        return x * mx.random.uniform(shape=x.shape)

    x = mx.ones((5,))
    out, (g,) = mx.vjp(mx.checkpoint(fun), [x], [mx.ones((5,))])
    close(g, out[0])


def test_pytree_and_keyword_arguments():
    f = mx.checkpoint(lambda d, scale, bias=None: {"y": d["a"] * d["b"] * scale + bias})
    d = {"a": mx.array([1.0, 2.0]), "b": mx.array([3.0, 4.0])}
    g = mx.grad(lambda d: f(d, 2.0, bias=mx.array(1.0))["y"].sum())(d)
    close(g["a"], [6.0, 8.0])
    close(g["b"], [2.0, 4.0])


def test_vmap_and_jvp_compositions():
    f = mx.checkpoint(lambda x, y: mx.sin(x) * y)
    x = mx.array(RNG.standard_normal((3, 2)), dtype=mx.float64)
    y = mx.array(RNG.standard_normal((3, 2)), dtype=mx.float64)
    (want,) = loop_vmap(f, (x, y))
    close(mx.vmap(f)(x, y), want)
    gx = mx.cos(x) * y
    close(mx.vmap(mx.grad(lambda x, y: f(x, y).sum()))(x, y), gx)
    close(mx.grad(lambda x: mx.vmap(f)(x, y).sum())(x), gx)
    _, (t,) = mx.jvp(lambda x: f(x, y), [x], [mx.ones_like(x)])
    close(t, gx)
    # forward over reverse
    _, (t,) = mx.jvp(mx.grad(lambda x: f(x, y).sum()), [x], [mx.ones_like(x)])
    close(t, -mx.sin(x) * y)


def test_nested_checkpoints():
    inner = mx.checkpoint(lambda x: mx.exp(x) * 2)
    outer = mx.checkpoint(lambda x: inner(x) * x)
    check_grad(lambda x: outer(x), [RNG.standard_normal((3,))])


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.0, TypeError),
                                        ("4", TypeError), (True, TypeError)])
def test_interval_must_be_a_positive_int(bad, error):
    with pytest.raises(error, match=r"\[checkpoint\] interval"):
        mx.checkpoint(lambda x: x, interval=bad)


def test_type_error_for_a_non_callable():
    with pytest.raises(TypeError, match=r"\[checkpoint\]"):
        mx.checkpoint(3)


# ---- modules

class MLP(nn.Module):
    def __init__(self, depth, width):
        super().__init__()
        self.layers = [nn.Linear(width, width) for _ in range(depth)]


def plain_forward(model, x):
    for layer in model.layers:
        x = mx.tanh(layer(x))
    return x


def per_layer_checkpoints(model, x):
    for layer in model.layers:
        x = mx.checkpoint(lambda x, layer=layer: mx.tanh(layer(x)))(x)
    return x


def segment(x, layers):
    for layer in layers:
        x = mx.tanh(layer(x))
    return x


def segment_checkpoints(model, x, every=4):
    for i in range(0, len(model.layers), every):
        x = mx.checkpoint(segment)(x, model.layers[i:i + every])
    return x


def module_argument(model, x):
    for layer in model.layers:
        x = mx.checkpoint(lambda layer, x: mx.tanh(layer(x)))(layer, x)
    return x


def nn_utils_checkpoint(model, x):
    for layer in model.layers:
        x = mx.tanh(nn.utils.checkpoint(layer)(x))
    return x


@pytest.mark.parametrize("forward", [per_layer_checkpoints, segment_checkpoints, module_argument,
                                     nn_utils_checkpoint])
def test_module_gradients_equal_the_plain_step(forward):
    mx.random.seed(0)
    model = MLP(6, 16)
    x = mx.random.normal((8, 16))
    want = nn.value_and_grad(model, lambda x: plain_forward(model, x).sum())(x)
    got = nn.value_and_grad(model, lambda x: forward(model, x).sum())(x)
    close(got[0], want[0])
    assert_trees_close(got[1], want[1])


def test_module_argument_is_restored():
    layer = nn.Linear(3, 3)
    before = (layer.weight, layer.bias)
    inside = []
    mx.checkpoint(lambda m, x: inside.append(m.weight) or m(x))(layer, mx.ones((2, 3)))
    assert inside[0] is not before[0]  # the traced stand-in, while fun runs
    assert layer.weight is before[0] and layer.bias is before[1]


def test_nn_utils_checkpoint_with_fn():
    layer = nn.Linear(4, 4)
    x = mx.random.normal((2, 4))
    wrapped = nn.utils.checkpoint(layer, lambda x: mx.sin(layer(x)))
    close(wrapped(x), mx.sin(layer(x)))
    g = nn.value_and_grad(layer, lambda x: wrapped(x).sum())(x)[1]
    want = nn.value_and_grad(layer, lambda x: mx.sin(layer(x)).sum())(x)[1]
    assert_trees_close(g, want)


# ---- interval: segments recomputed one at a time

def interval_forward(interval):
    @partial(mx.checkpoint, interval=interval)
    def forward(model, x):
        for layer in model.layers:
            x = mx.tanh(layer(x))
        return x
    return forward


@pytest.mark.parametrize("interval", [None, 1, 2, 4, 5, 24, 100])
def test_interval_module_gradients_equal_the_plain_step(interval):
    mx.random.seed(1)
    model = MLP(24, 8)
    x = mx.random.normal((5, 8))
    forward = interval_forward(interval)
    want = nn.value_and_grad(model, lambda x: plain_forward(model, x).sum())(x)
    got = nn.value_and_grad(model, lambda x: forward(model, x).sum())(x)
    close(got[0], want[0])
    assert_trees_close(got[1], want[1])


def mlp_of_arrays(ws, bs, x):
    for w, b in zip(ws, bs):
        x = mx.tanh(x @ w + b)
    return x


@pytest.mark.parametrize("interval", [1, 2, 4, 24, 100])
def test_interval_array_gradients_equal_the_plain_step(interval):
    mx.random.seed(2)
    ws = [mx.random.normal((6, 6)) * 0.5 for _ in range(24)]
    bs = [mx.random.normal((6,)) for _ in range(24)]
    x = mx.random.normal((3, 6))
    f = mx.checkpoint(mlp_of_arrays, interval=interval)
    want = mx.grad(lambda ws, bs, x: (mlp_of_arrays(ws, bs, x) ** 2).sum(), argnums=(0, 1, 2))
    got = mx.grad(lambda ws, bs, x: (f(ws, bs, x) ** 2).sum(), argnums=(0, 1, 2))
    assert_trees_close(got(ws, bs, x), want(ws, bs, x))


@pytest.mark.parametrize("inner", [per_layer_checkpoints, segment_checkpoints])
def test_interval_over_nested_checkpoints(inner):
    mx.random.seed(4)
    model = MLP(8, 8)
    x = mx.random.normal((4, 8))
    forward = mx.checkpoint(inner, interval=2)
    want = nn.value_and_grad(model, lambda x: plain_forward(model, x).sum())(x)
    got = nn.value_and_grad(model, lambda x: forward(model, x).sum())(x)
    close(got[0], want[0])
    assert_trees_close(got[1], want[1])


def test_interval_with_closure_captured_layers():
    # The layers' parameters are captures (lifted inputs of the node), not arguments.
    mx.random.seed(3)
    model = MLP(8, 8)
    x = mx.random.normal((4, 8))
    forward = mx.checkpoint(lambda x: plain_forward(model, x), interval=2)
    want = nn.value_and_grad(model, lambda x: plain_forward(model, x).sum())(x)
    got = nn.value_and_grad(model, lambda x: forward(x).sum())(x)
    close(got[0], want[0])
    assert_trees_close(got[1], want[1])


def residual_net(x, w1, w2, w3, v):
    # Residual blocks over a shared weight, a layer reading the argument again, a transposed
    # weight computed once and read by every block, and a product in every stage.
    wt = w3.T
    for w in (w1, w2, w1):
        x = x + mx.sin(x @ w) * 0.5
        x = mx.tanh(x @ wt) + v[1:] * x
    return mx.exp(x[::-1] * 0.3)


@pytest.mark.parametrize("interval", [1, 2, 3])
@pytest.mark.parametrize("view", list(VIEWS))
def test_interval_derivatives_match_finite_differences(interval, view):
    f = mx.checkpoint(residual_net, interval=interval)
    v = VIEWS[view]
    x = RNG.standard_normal((4, 6) if view == "sliced" else (3, 3))
    args = [x] + [RNG.standard_normal((3, 3)) * 0.5 for _ in range(3)] + \
        [RNG.standard_normal((4, 3))]
    check_grad(lambda x, w1, w2, w3, vv: f(v(x), w1, w2, w3, vv), args)


def test_interval_second_order():
    f = mx.checkpoint(lambda x, w: mx.tanh(mx.tanh(x @ w) @ w), interval=1)
    check_grad(mx.grad(lambda x, w: f(x, w).sum(), argnums=(0, 1)),
               [RNG.standard_normal((2, 3)), RNG.standard_normal((3, 3))])


def test_interval_without_a_place_to_cut():
    # Elementwise only (no stage) and one product: the whole function is recomputed.
    for fun in (lambda x: mx.sin(mx.exp(x) * x), lambda x: mx.tanh(x @ x.T)):
        check_grad(mx.checkpoint(fun, interval=1), [RNG.standard_normal((3, 3))])


def test_interval_with_several_outputs_and_an_intermediate_output():
    def fun(x, w):
        h = mx.tanh(x @ w)
        g = mx.tanh(h @ w)
        y = mx.tanh(g @ w)
        return {"h": h, "y": mx.tanh(y @ w), "x": x}

    f = mx.checkpoint(fun, interval=1)
    check_grad(lambda x, w: list(f(x, w).values()),
               [RNG.standard_normal((2, 3)), RNG.standard_normal((3, 3))])


def test_interval_jvp_and_vmap():
    w = mx.array(RNG.standard_normal((4, 3, 3)) * 0.5, dtype=mx.float64)

    def fun(x, w):
        for i in range(4):
            x = mx.sin(x @ w[i])
        return x

    f = mx.checkpoint(fun, interval=2)
    x = mx.array(RNG.standard_normal((5, 2, 3)), dtype=mx.float64)
    t = mx.array(RNG.standard_normal((5, 2, 3)), dtype=mx.float64)
    _, (want,) = mx.jvp(lambda x: fun(x, w), [x], [t])
    _, (got,) = mx.jvp(lambda x: f(x, w), [x], [t])
    close(got, want)
    (want,) = loop_vmap(lambda x: fun(x, w), (x,))
    close(mx.vmap(lambda x: f(x, w))(x), want)
    gw = mx.grad(lambda w: fun(x, w).sum())(w)
    # vmap of the gradient (per-example), and the gradient of the vmapped function
    per_example = mx.vmap(mx.grad(lambda x, w: f(x, w).sum(), argnums=1), in_axes=(0, None))(x, w)
    close(per_example.sum(0), gw)
    close(mx.grad(lambda w: mx.vmap(lambda x: f(x, w))(x).sum())(w), gw)
    # forward over reverse
    _, (h,) = mx.jvp(mx.grad(lambda x: f(x, w).sum()), [x], [t])
    _, (h_want,) = mx.jvp(mx.grad(lambda x: fun(x, w).sum()), [x], [t])
    close(h, h_want)


# ---- memory

def peak_step_memory(model, forward, x):
    step = nn.value_and_grad(model, lambda x: forward(model, x).sum())
    mx.reset_peak_memory()
    base = mx.get_active_memory()
    loss, grads = step(x)
    mx.eval(loss, grads)
    return mx.get_peak_memory() - base, grads


def test_checkpointing_lowers_the_peak_memory_of_a_training_step():
    # The 24-layer, 512-wide tanh(Linear) MLP at batch 1024. Memory (unlike time) is
    # deterministic here: the same buffers are allocated in the same order on every run.
    mx.random.seed(0)
    model = MLP(24, 512)
    mx.eval(model.parameters())
    x = mx.random.normal((1024, 512))
    mx.eval(x)
    plain, want = peak_step_memory(model, plain_forward, x)
    per_layer, got = peak_step_memory(model, per_layer_checkpoints, x)
    assert_trees_close(got, want, rtol=1e-4, atol=1e-5)
    del got
    segments, got = peak_step_memory(model, segment_checkpoints, x)
    assert_trees_close(got, want, rtol=1e-4, atol=1e-5)
    del got
    by_interval = {}
    for interval in (1, 2, 4):
        by_interval[interval], got = peak_step_memory(model, interval_forward(interval), x)
        assert_trees_close(got, want, rtol=1e-4, atol=1e-5)
        del got
    # A layer whose kept activation is its output (tanh's derivative reads it) keeps exactly
    # what a per-layer checkpoint keeps: its input. Checkpoints of four layers keep a quarter.
    print(f"peak MB: plain {plain / 1e6:.1f}, per-layer {per_layer / 1e6:.1f}, "
          f"4-layer segments {segments / 1e6:.1f}, " +
          ", ".join(f"interval={k} {v / 1e6:.1f} ({v / plain:.2f} of plain)"
                    for k, v in by_interval.items()))
    assert per_layer <= 1.05 * plain, (per_layer, plain)
    assert segments < 0.8 * plain, (segments, plain)
    # interval=k keeps the output of every k-th layer (2 MB each) and recomputes k layers at a
    # time. The floor of any step is the 25 MB of parameter gradients it returns (0.45 of the
    # plain step's peak), which exist at its end together with the first segment's values.
    assert by_interval[1] <= 1.05 * plain, (by_interval, plain)
    assert by_interval[2] < 0.65 * plain, (by_interval, plain)
    assert by_interval[4] < 0.65 * plain, (by_interval, plain)


def test_interval_over_a_transformer_encoder():
    # Attention, layer norms and residual connections: each layer is cut into stages, so the
    # step keeps a few arrays per layer instead of all its intermediates.
    mx.random.seed(6)
    encoder = nn.TransformerEncoder(num_layers=4, dims=64, num_heads=4)
    x = mx.random.normal((8, 32, 64))
    mask = nn.MultiHeadAttention.create_additive_causal_mask(32)
    mx.eval(x, mask, encoder.parameters())

    def forward(model, x):
        return model(x, mask)

    plain, want = peak_step_memory(encoder, forward, x)
    segmented, got = peak_step_memory(encoder, mx.checkpoint(forward, interval=1), x)
    assert_trees_close(got, want, rtol=2e-4, atol=2e-5)
    print(f"transformer encoder peak MB: plain {plain / 1e6:.1f}, interval=1 "
          f"{segmented / 1e6:.1f}")
    assert segmented < 0.6 * plain, (segmented, plain)


def test_transformer_checkpoint_flag_keeps_gradients():
    results = []
    for flag in (False, True):
        mx.random.seed(3)
        model = nn.Transformer(dims=16, num_heads=2, num_encoder_layers=2, num_decoder_layers=2,
                               checkpoint=flag)
        src, tgt = mx.random.normal((2, 5, 16)), mx.random.normal((2, 4, 16))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(4)
        loss, grads = nn.value_and_grad(
            model, lambda m: mx.sum(mx.sin(m(src, tgt, None, mask, None))))(model)
        results.append((loss, dict(tree_flatten(grads))))
    (l0, g0), (l1, g1) = results
    np.testing.assert_allclose(l0.item(), l1.item(), rtol=1e-6)
    assert set(g0) == set(g1) and len(g0) > 20
    for name in g0:
        np.testing.assert_allclose(np.array(g1[name]), np.array(g0[name]), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
