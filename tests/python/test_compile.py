"""mx.compile: one trace per signature, fusion of float32 elementwise chains, common
subexpressions, captured state, shapeless replays, composition with every transform, and the
control-flow error."""

import numpy as np
import pytest

import pullback.core as mx
import pullback.nn as nn
import pullback.optimizers as optim
from helpers import check_grad, to_numpy
from pullback.utils import tree_flatten


def graphs(fn):
    return fn._compiled._graphs()


def chain(x):
    for _ in range(12):
        x = x * 1.01 + 0.1
    return x


def mixed(x, y, b):
    # Unary table ops, vector-vector and scalar operands, a broadcast row, a repeated subterm.
    s = mx.sin(x)
    t = mx.exp(-mx.abs(s)) * y + b
    u = mx.tanh(t) - 2.0 * mx.sigmoid(x) + mx.sqrt(mx.square(y) + 1.0)
    v = mx.maximum(u, 0.5 - s) / (1.5 + mx.erf(y))
    return mx.log1p(mx.square(v)) + mx.expm1(-mx.square(x)) + mx.cos(s) * mx.log(y * y + 2.0)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- values and fusion ----

@pytest.mark.parametrize("n", [0, 1, 7, 2048, 2049, 70001, 300000])
def test_fused_chain_gives_the_unfused_bits(n):
    x = mx.array(rand(n))
    f = mx.compile(chain)
    np.testing.assert_array_equal(to_numpy(f(x)), to_numpy(chain(x)))
    (g,) = graphs(f)
    assert g.node_names == ["Fused"] and g.fused == 1


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced", "broadcast_row"])
def test_mixed_chain_matches_eager_on_every_layout(layout):
    x, y = rand(96, 64, seed=1), rand(96, 64, seed=2) + 3
    if layout == "transposed":
        x, y = x.T.copy().T, y.T.copy().T  # F-ordered copies
        xa, ya = mx.array(x.T).T, mx.array(y.T).T
    elif layout == "sliced":
        xa, ya = mx.array(rand(96, 128, seed=1))[:, ::2], mx.array(rand(96, 128, seed=2) + 3)[:, 1::2]
    elif layout == "broadcast_row":
        xa, ya = mx.array(x), mx.broadcast_to(mx.array(y[:1]), (96, 64))
    else:
        xa, ya = mx.array(x), mx.array(y)
    b = mx.array(rand(64, seed=3))
    f = mx.compile(mixed)
    got, want = f(xa, ya, b), mixed(xa, ya, b)
    np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-6, atol=1e-6)
    assert "Fused" in graphs(f)[0].node_names


def test_special_values_pass_through_the_fused_kernel():
    x = mx.array(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e-30, 88.0, 1e5],
                          dtype=np.float32))

    def f(x):
        return mx.sin(x * 3.0) + mx.exp(x) * 0.5 - x * -0.0

    np.testing.assert_array_equal(to_numpy(mx.compile(f)(x)), to_numpy(f(x)))
    # Signs of zeros survive the merged scalar steps.
    z = mx.array(np.array([0.0, -0.0], dtype=np.float32))
    for g in (lambda x: x * 2.0, lambda x: -x, lambda x: 0.0 - x, lambda x: x - 0.0,
              lambda x: (x * -1.0) * 3.0 + 0.0 - 0.0):
        np.testing.assert_array_equal(np.signbit(to_numpy(mx.compile(g)(z))),
                                      np.signbit(to_numpy(g(z))))


def test_a_chain_of_scalars_only_fills_its_output():
    def f(x):
        c = mx.broadcast_to(mx.array(2.0), x.shape)
        return x * 0.0 + (c * 3.0 + 1.0)

    x = mx.array(rand(5000))
    np.testing.assert_array_equal(to_numpy(mx.compile(f)(x)), to_numpy(f(x)))


def shared_values(x, y):
    """An inner value read by two later chains and returned itself (exported), a graph output
    inside a chain, and a value a non-elementwise op reads before the chain ends."""
    s = mx.sin(x) * y + 0.5          # read by both chains below and returned
    a = mx.exp(-mx.square(s)) - y    # returned, and read by the chain of c
    b = s * 3.0 + mx.tanh(a)
    c = mx.sqrt(mx.abs(a) + 1.0) * s
    return b, c, s, a


def test_values_read_outside_their_chain_become_extra_outputs():
    x, y = mx.array(rand(3000)), mx.array(rand(3000, seed=2))
    f = mx.compile(shared_values)
    for got, want in zip(f(x, y), shared_values(x, y)):
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))
    (g,) = graphs(f)
    # One pass computes s and a (s also leaves it as an extra output), then b's and c's (the
    # greedy grouping, in trace order, keeps b and c apart from the first: s*3 comes before
    # tanh(a) in the trace). Unfused, s alone would be a pass of its own.
    assert g.node_names == ["Fused", "Fused", "Fused"], g.node_names


def test_an_early_outside_reader_keeps_its_value_out_of_the_later_chain():
    def f(x):
        a = x * 2.0 + 1.0
        b = mx.cumsum(a)             # reads a before the chain of c ends
        return mx.sin(a) * b + a

    x = mx.array(rand(4097))
    cf = mx.compile(f)
    np.testing.assert_array_equal(to_numpy(cf(x)), to_numpy(f(x)))
    assert graphs(cf)[0].node_names == ["Fused", "CumSum", "Fused"]


def test_an_optimizer_like_step_is_one_pass_with_three_outputs():
    def step(p, g, m, v):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * mx.square(g)
        return p - 0.01 * m / (mx.sqrt(v) + 1e-8), m, v

    args = [mx.array(rand(257, 33, seed=k)) for k in range(4)]
    args[3] = mx.abs(args[3])
    f = mx.compile(step)
    for got, want in zip(f(*args), step(*args)):
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))
    assert graphs(f)[0].node_names == ["Fused"]


def test_fused_outputs_update_their_inputs_in_place_only_where_safe():
    """Arrays nothing else holds lend their buffers to a fused step's outputs (the optimizer
    step's in-place update); a leaf read after an output is written must keep its values."""
    def step(a, b, c):
        m = a * 0.9 + b * 0.1          # written first
        v = c * 0.5 + m * m            # c still read after m is written
        return a - m / (mx.sqrt(v) + 1e-3) + c, m, v

    def address(x):
        return np.asarray(x).__array_interface__["data"][0]

    f = mx.compile(step)
    for n in (5, 4099, 100003):
        a, b, c = (rand(n, seed=k) for k in range(3))
        c = np.abs(c)
        want = [to_numpy(t) for t in step(mx.array(a), mx.array(b), mx.array(c))]
        # Temporaries: only the graph holds them once the call returns.
        got = f(mx.array(a) * 1.0, mx.array(b) * 1.0, mx.array(c) * 1.0)
        for x, y in zip(got, want):
            np.testing.assert_array_equal(to_numpy(x), y)
    p, g, m, v = (mx.array(rand(300, seed=k)) for k in range(4))
    v = mx.abs(v)
    mx.eval(p, m, v)
    before = {address(x) for x in (p, m, v)}

    def adam_like(p, g, m, v):
        m = 0.9 * m + g
        v = 0.9 * v + g * g
        return p - 0.1 * m / (mx.sqrt(v) + 1.0), m, v

    out = mx.compile(adam_like)(p, g, m, v)
    del p, m, v
    mx.eval(out)
    assert {address(x) for x in out} == before


def test_derivatives_and_vmap_through_extra_outputs():
    def loss(x, y):
        b, c, s, a = shared_values(x, y)
        return (b * c).sum() + (s * a).sum()

    x, y = mx.array(rand(40)), mx.array(rand(40, seed=3))
    got = mx.grad(mx.compile(loss), argnums=(0, 1))(x, y)
    want = mx.grad(loss, argnums=(0, 1))(x, y)
    for g1, g2 in zip(got, want):
        np.testing.assert_allclose(to_numpy(g1), to_numpy(g2), rtol=1e-5, atol=1e-6)
    tx, ty = mx.array(rand(40, seed=5)), mx.array(rand(40, seed=6))
    _, jc = mx.jvp(mx.compile(shared_values), [x, y], [tx, ty])
    _, je = mx.jvp(shared_values, [x, y], [tx, ty])
    for t1, t2 in zip(jc, je):
        np.testing.assert_allclose(to_numpy(t1), to_numpy(t2), rtol=1e-5, atol=1e-6)
    xs, ys = mx.array(rand(3, 40, seed=7)), mx.array(rand(3, 40, seed=8))
    batched = mx.vmap(mx.compile(shared_values))(xs, ys)
    for i, got_i in enumerate(batched):
        loop = mx.stack([shared_values(xs[j], ys[j])[i] for j in range(3)])
        np.testing.assert_allclose(to_numpy(got_i), to_numpy(loop), rtol=1e-6, atol=1e-7)


def test_common_subexpressions_are_merged():
    def f(x, y):
        return mx.sin(x) * y + mx.sin(x), mx.exp(x * y) - mx.exp(x * y)

    x, y = mx.array(rand(50)), mx.array(rand(50, seed=4))
    cf = mx.compile(f)
    for got, want in zip(cf(x, y), f(x, y)):
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))
    assert graphs(cf)[0].merged >= 2


def test_other_dtypes_and_ops_compile_unfused():
    def f(x, i):
        return (x.astype(mx.float16) * 2 + 1).astype(mx.float32) @ x.T, (i * 3) // 2, x > 0

    x, i = mx.array(rand(6, 6)), mx.arange(10)
    got, want = mx.compile(f)(x, i), f(x, i)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(to_numpy(g), to_numpy(w))


# ---- tracing and the signature cache ----

def test_traces_once_per_signature():
    calls = []

    def f(x, scale, flag=True):
        calls.append(1)
        return x * scale if flag else x

    cf = mx.compile(f)
    x = mx.array(rand(8))
    for _ in range(3):
        np.testing.assert_array_equal(to_numpy(cf(x, 2.0)), to_numpy(x * 2.0))
    assert len(calls) == 1
    cf(mx.array(rand(8, seed=5)), 2.0)  # new values, same signature
    assert len(calls) == 1
    np.testing.assert_array_equal(to_numpy(cf(x, 3.0)), to_numpy(x * 3.0))  # non-array value
    assert len(calls) == 2
    cf(mx.array(rand(9)), 2.0)  # shape
    cf(x.astype(mx.float64), 2.0)  # dtype
    cf(x, 2.0, flag=False)  # keyword
    assert len(calls) == 5


def test_pytrees_in_and_out():
    def f(d, xs):
        return {"sum": d["a"] + xs[0], "pair": (d["b"] * 2, xs[1] - 1)}

    d = {"a": mx.array(rand(4)), "b": mx.array(rand(3))}
    xs = [mx.array(rand(4, seed=1)), mx.array(rand(2))]
    got, want = mx.compile(f)(d, xs), f(d, xs)
    assert isinstance(got["pair"], tuple)
    for (kg, g), (kw, w) in zip(tree_flatten(got), tree_flatten(want)):
        assert kg == kw
        np.testing.assert_array_equal(to_numpy(g), to_numpy(w))


def test_shapeless_reuses_the_trace_across_shapes():
    calls = []

    def f(x, b):
        calls.append(1)
        return mx.tanh(x * 2.0 + b) - 0.5 * x

    cf = mx.compile(f, shapeless=True)
    for shape in [(4, 3), (7, 3), (7, 5), (1000, 33)]:
        x, b = mx.array(rand(*shape)), mx.array(rand(shape[-1], seed=2))
        np.testing.assert_allclose(to_numpy(cf(x, b)), to_numpy(f(x, b)), rtol=1e-6, atol=1e-6)
    assert len(calls) == 1 + 4  # one trace, plus the eager reference calls
    cf(mx.array(rand(3, 4, 3)), mx.array(rand(3)))  # a new rank traces again
    assert len(calls) == 6


def test_disable_and_enable_compile():
    calls = []

    def f(x):
        calls.append(1)
        return x + 1

    cf = mx.compile(f)
    x = mx.array(rand(3))
    cf(x)
    cf(x)
    assert len(calls) == 1
    mx.disable_compile()
    try:
        cf(x)
        cf(x)
        assert len(calls) == 3
    finally:
        mx.enable_compile()
    cf(x)
    assert len(calls) == 3


# ---- the control-flow gotcha ----

def test_evaluating_inside_a_compiled_function_names_the_cause():
    def branchy(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(ValueError, match="mx.where"):
        mx.compile(branchy)(mx.array(rand(4)))
    with pytest.raises(ValueError, match="compile"):
        mx.compile(lambda x: x * x.max().item())(mx.array(rand(4)))
    # The same Python `if` inside grad keeps working: grad evaluates eagerly.
    x = mx.array(np.array([1.0, 2.0], dtype=np.float32))
    np.testing.assert_array_equal(to_numpy(mx.grad(lambda x: branchy(x).sum())(x)), [1, 1])
    # mx.where is the compiled form; its gradient flows through the selected values only.
    f = mx.compile(lambda x: mx.where(x > 0, x * x, -3 * x))
    np.testing.assert_allclose(to_numpy(f(mx.array([-1.0, 2.0]))), [3.0, 4.0])
    g = mx.grad(lambda x: f(x).sum())(mx.array([-1.0, 2.0]))
    np.testing.assert_allclose(to_numpy(g), [-3.0, 4.0])


def test_errors():
    with pytest.raises(TypeError, match="compile"):
        mx.compile(3)
    with pytest.raises(TypeError, match="shapeless"):
        mx.compile(chain, shapeless="yes")
    with pytest.raises((TypeError, ValueError), match="compile"):
        mx.compile(lambda x: "no")(mx.array(1.0))
    with pytest.raises(ValueError, match="outputs"):
        mx.compile(lambda x: x, outputs=mx.array(1.0))(mx.array(1.0))


# ---- composition ----

def test_derivatives_of_a_compiled_function_match_finite_differences():
    cf = mx.compile(lambda x, y: mixed(x, y + 3.0, mx.zeros((5,))))
    check_grad(cf, [rand(4, 5), rand(4, 5, seed=7)])


def test_grad_of_compile_and_compile_of_grad():
    x, y = mx.array(rand(40, 5)), mx.array(rand(40, 5, seed=3) + 3)
    b = mx.array(rand(5, seed=9))

    def loss(x, y):
        return mixed(x, y, b).sum()

    want = mx.grad(loss, argnums=(0, 1))(x, y)
    for got in (mx.grad(mx.compile(loss), argnums=(0, 1))(x, y),
                mx.compile(mx.grad(loss, argnums=(0, 1)))(x, y)):
        for g, w in zip(got, want):
            np.testing.assert_allclose(to_numpy(g), to_numpy(w), rtol=1e-5, atol=1e-5)
    cg = mx.compile(mx.grad(loss))
    cg(x, y)
    assert any("Fused" in g.node_names for g in graphs(cg))  # the backward graph fuses too


def test_jvp_and_vjp_of_compile():
    f = mx.compile(lambda x: mx.sin(x) * mx.exp(x * 0.5) + x)
    x, t = mx.array(rand(30)), mx.array(rand(30, seed=2))
    (out,), (tan,) = mx.jvp(f, [x], [t])
    xn, tn = to_numpy(x).astype(np.float64), to_numpy(t).astype(np.float64)
    d = np.cos(xn) * np.exp(xn / 2) + 0.5 * np.sin(xn) * np.exp(xn / 2) + 1
    np.testing.assert_allclose(to_numpy(tan), d * tn, rtol=1e-5, atol=1e-6)
    _, (ct,) = mx.vjp(f, [x], [t])
    np.testing.assert_allclose(to_numpy(ct), d * tn, rtol=1e-5, atol=1e-6)


def test_nested_compile_and_checkpoint_inside():
    inner = mx.compile(lambda x: mx.tanh(x * 2.0 + 1.0))
    outer = mx.compile(lambda x: mx.checkpoint(inner)(x) * 3.0 - x)
    x = mx.array(rand(100))
    want = mx.tanh(x * 2.0 + 1.0) * 3.0 - x
    np.testing.assert_allclose(to_numpy(outer(x)), to_numpy(want), rtol=1e-6, atol=1e-6)
    g = mx.grad(lambda x: outer(x).sum())(x)
    th = np.tanh(to_numpy(x) * 2 + 1)
    np.testing.assert_allclose(to_numpy(g), 6 * (1 - th ** 2) - 1, rtol=1e-5, atol=1e-5)


# ---- captured state: a whole training step ----

def make_model(seed):
    mx.random.seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 3))
    mx.eval(model.parameters())
    return model


def test_a_training_step_with_model_and_optimizer_state_compiles():
    data = mx.array(rand(32, 6))
    target = mx.array(rand(32, 3, seed=1))

    def run(compiled):
        model = make_model(0)
        opt = optim.Adam(learning_rate=1e-2)
        opt.init(model.trainable_parameters())

        def loss_fn(model, x, y):
            return nn.losses.mse_loss(model(x), y)

        def step(x, y):
            loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
            opt.update(model, grads)
            return loss

        state = [model.state, opt.state]
        if compiled:
            step = mx.compile(step, inputs=state, outputs=state)
        losses = []
        for _ in range(5):
            losses.append(step(data, target).item())
            mx.eval(state)
        return losses, tree_flatten(model.parameters()), step

    want, want_params, _ = run(False)
    got, got_params, step = run(True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got[-1] < got[0]
    for (kg, g), (kw, w) in zip(got_params, want_params):
        assert kg == kw
        np.testing.assert_allclose(to_numpy(g), to_numpy(w), rtol=1e-5, atol=1e-6)
    assert len(graphs(step)) == 1


def test_inputs_only_state_is_read_at_every_call():
    state = {"w": mx.array(2.0)}
    f = mx.compile(lambda x: x * state["w"], inputs=state)
    x = mx.array(rand(4))
    np.testing.assert_array_equal(to_numpy(f(x)), to_numpy(x * 2.0))
    state["w"] = mx.array(5.0)
    np.testing.assert_array_equal(to_numpy(f(x)), to_numpy(x * 5.0))
    assert float(state["w"].item()) == 5.0  # the stand-in was put back


def test_closure_arrays_are_constants_of_the_trace():
    w = mx.array(2.0)
    f = mx.compile(lambda x: x * w)
    x = mx.array(rand(4))
    np.testing.assert_array_equal(to_numpy(f(x)), to_numpy(x * 2.0))
    w = mx.array(7.0)  # rebinding the name does not reach the traced graph (as in MLX)
    np.testing.assert_array_equal(to_numpy(f(x)), to_numpy(x * 2.0))


def test_module_arguments_pass_their_parameters_as_inputs():
    model = make_model(1)
    f = mx.compile(lambda m, x: m(x))
    x = mx.array(rand(5, 6))
    np.testing.assert_allclose(to_numpy(f(model, x)), to_numpy(model(x)), rtol=1e-6, atol=1e-6)
    # New parameter values reach the same trace; the module keeps its own arrays.
    model.update({"layers": [{"weight": mx.zeros((16, 6)), "bias": mx.ones((16,))}, {}, {}]})
    np.testing.assert_allclose(to_numpy(f(model, x)), to_numpy(model(x)), rtol=1e-6, atol=1e-6)
    assert len(graphs(f)) == 1
    assert isinstance(model.layers[0].weight, mx.array) and model.layers[0].weight.shape == (16, 6)


def test_compile_composes_with_an_interval_checkpoint():
    mx.random.seed(2)
    ws = [mx.random.normal((8, 8)) * 0.3 for _ in range(6)]

    def f(x):
        for w in ws:
            x = mx.tanh(x @ w)
        return x

    x = mx.random.normal((4, 8))
    want = mx.grad(lambda x: f(x).sum())(x)
    ckpt = lambda x: mx.checkpoint(f, interval=2)(x).sum()  # noqa: E731
    for got in (mx.compile(mx.grad(ckpt))(x), mx.grad(mx.compile(ckpt))(x)):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-5, atol=1e-6)


def test_constants_are_computed_once_outside_the_replayed_graph():
    def f(x):
        table = mx.exp(mx.arange(6, dtype=mx.float32) / 6.0) * 2.0  # reads no input
        return x * table

    cf = mx.compile(f)
    x = mx.array(rand(3, 6))
    for _ in range(2):
        np.testing.assert_array_equal(to_numpy(cf(x)), to_numpy(f(x)))
    assert graphs(cf)[0].node_names == ["Multiply"]
