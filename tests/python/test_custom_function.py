"""mx.custom_function: user vjp/jvp/vmap rules, the fallbacks that differentiate (or batch) the
re-run traced function, MLX's calling conventions, pytrees, closure captures, every
composition of transforms, and errors."""

import threading

import numpy as np
import pytest

import pullback.core as mx
from helpers import check_grad, to_numpy
from vmap_support import loop_vmap

RNG = np.random.default_rng(11)


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b) if isinstance(b, mx.array) else b,
                               rtol=rtol, atol=atol)


def sin_times(x, y):
    return mx.sin(x) * y


# ---- fallbacks: no rules, derivatives from the replayed forward

VIEWS = {
    "contiguous": lambda x: x,
    "transposed": lambda x: x.T,
    "reversed": lambda x: x[::-1],
    "sliced": lambda x: x[:, ::2],
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_fallback_derivatives_match_finite_differences(view):
    f = mx.custom_function(lambda x, y: (mx.tanh(x) * y, mx.exp(x).sum(axis=0)))
    v = VIEWS[view]
    shape = (4, 4)
    check_grad(lambda x, y: f(v(x), v(y)), [RNG.standard_normal(shape),
                                           RNG.standard_normal(shape)])


def test_fallback_second_order():
    f = mx.custom_function(lambda x: mx.sin(x) * x)
    check_grad(mx.grad(lambda x: f(x).sum()), [RNG.standard_normal((3,))])


def test_forward_values_and_structures():
    x, y = mx.array([1.0, 2.0]), mx.array([3.0, 4.0])
    f = mx.custom_function(lambda d, s: {"p": d["a"] * s, "q": [d["b"] + s, d["a"]]})
    out = f({"a": x, "b": y}, 2.0)
    assert set(out) == {"p", "q"} and isinstance(out["q"], list)
    close(out["p"], [2.0, 4.0])
    close(out["q"][0], [5.0, 6.0])
    close(out["q"][1], x)
    close(mx.custom_function(sin_times)(x, y), mx.sin(x) * y)


# ---- user rules and MLX's calling conventions

def test_user_vjp_is_used_and_sees_mlx_conventions():
    f = mx.custom_function(sin_times)
    seen = {}

    @f.vjp
    def f_vjp(primals, cotangent, output):
        seen["types"] = (type(primals), type(cotangent), type(output))
        x, y = primals
        close(output, mx.sin(x) * y)
        return 10 * cotangent * mx.cos(x) * y, cotangent * mx.sin(x)

    assert f_vjp is f
    x, y = mx.array([0.5, 1.0]), mx.array([2.0, 3.0])
    gx, gy = mx.grad(lambda x, y: f(x, y).sum(), argnums=(0, 1))(x, y)
    close(gx, 10 * mx.cos(x) * y)
    close(gy, mx.sin(x))
    assert seen["types"] == (tuple, mx.array, mx.array)


def test_single_primal_and_several_outputs():
    f = mx.custom_function(lambda x: (x * 2, x * 3))
    seen = {}

    @f.vjp
    def f_vjp(primal, cotangents, outputs):
        seen["types"] = (type(primal), type(cotangents), len(cotangents))
        return (cotangents[0] * 7 + cotangents[1],)  # a 1-tuple is accepted, as in MLX

    x = mx.array([1.0, 2.0])
    close(mx.grad(lambda x: sum(f(x)).sum())(x), [8.0, 8.0])
    assert seen["types"] == (mx.array, tuple, 2)


def test_vjp_none_means_zero_cotangent():
    f = mx.custom_function(sin_times)
    f.vjp(lambda primals, c, o: (c * 3, None))
    x, y = mx.array([0.5]), mx.array([2.0])
    gx, gy = mx.grad(lambda x, y: f(x, y).sum(), argnums=(0, 1))(x, y)
    close(gx, [3.0])
    close(gy, [0.0])


def test_user_jvp_gets_none_for_undifferentiated_arguments():
    f = mx.custom_function(sin_times)
    seen = []

    @f.jvp
    def f_jvp(primals, tangents):
        x, y = primals
        dx, dy = tangents
        seen.append((dx is None, dy is None))
        out = 0
        if dx is not None:
            out = out + 100 * dx * mx.cos(x) * y
        if dy is not None:
            out = out + dy * mx.sin(x)
        return out

    x, y = mx.array([0.5, 1.0]), mx.array([2.0, 3.0])
    _, (t,) = mx.jvp(lambda x: f(x, y), [x], [mx.ones(2)])
    close(t, 100 * mx.cos(x) * y)
    _, (t,) = mx.jvp(f, [x, y], [mx.ones(2), mx.ones(2)])
    close(t, 100 * mx.cos(x) * y + mx.sin(x))
    assert seen == [(False, True), (False, False)]


def test_keyword_arguments_reach_the_rules():
    f = mx.custom_function(lambda x, scale=1.0: x * scale)
    f.vjp(lambda x, c, o, scale=1.0: c * scale * 10)
    x = mx.array([1.0, 2.0])
    close(mx.grad(lambda x: f(x, scale=3.0).sum())(x), [30.0, 30.0])


def test_pytree_arguments_and_outputs_in_rules():
    f = mx.custom_function(lambda d: {"out": d["a"] * d["b"]})

    @f.vjp
    def f_vjp(d, cot, out):
        return {"a": cot["out"] * d["b"] * 2, "b": None}

    d = {"a": mx.array([1.0, 2.0]), "b": mx.array([3.0, 4.0])}
    g = mx.grad(lambda d: f(d)["out"].sum())(d)
    close(g["a"], [6.0, 8.0])
    close(g["b"], [0.0, 0.0])


# ---- closure captures

def test_captured_arrays_get_gradients_from_the_replay():
    x = mx.array([0.3, -0.7, 1.1], dtype=mx.float64)

    def g(y):
        f = mx.custom_function(lambda x: mx.sin(x * y))
        f.vjp(lambda x, c, o: c * 0)  # the inputs' rule; y's derivative comes from the replay
        return f(x).sum()

    y = mx.array([0.5, 2.0, -1.0], dtype=mx.float64)
    close(mx.grad(g)(y), x * mx.cos(x * y), rtol=1e-12, atol=1e-12)
    check_grad(g, [np.array([0.5, 2.0, -1.0])])


def test_captured_arrays_get_tangents():
    x = mx.array([0.3, -0.7], dtype=mx.float64)

    def g(y):
        f = mx.custom_function(lambda x: x * y)
        f.jvp(lambda x, t: t * 0)
        return f(x)

    _, (t,) = mx.jvp(g, [mx.array([2.0, 3.0], dtype=mx.float64)],
                     [mx.array([1.0, 1.0], dtype=mx.float64)])
    close(t, x)


def test_constant_captures_are_not_inputs():
    c = mx.array([2.0, 3.0])
    mx.eval(c)
    f = mx.custom_function(lambda x: x * c)
    x = mx.array([1.0, 1.0])
    close(mx.grad(lambda x: f(x).sum())(x), c)


# ---- vmap

def test_user_vmap_rule_is_used():
    f = mx.custom_function(lambda x, y: x * y)
    seen = []

    @f.vmap
    def f_vmap(inputs, axes):
        seen.append(axes)
        x, y = inputs
        ax, ay = axes
        if ax is not None and ax != 0:
            x = mx.moveaxis(x, ax, 0)
        return x * y * 10, 0

    x, y = mx.ones((2, 3)), mx.full((2,), 2.0)
    out = mx.vmap(f, in_axes=(1, None))(x, y)
    assert seen == [(1, None)]
    close(out, mx.full((3, 2), 20.0))


@pytest.mark.parametrize("in_axes", [0, 1, (0, None)])
def test_default_vmap_matches_loop(in_axes):
    f = mx.custom_function(lambda x, y: mx.tanh(x) * y + x)
    x = mx.array(RNG.standard_normal((3, 3)).astype(np.float32))
    y = mx.array(RNG.standard_normal((3, 3)).astype(np.float32))
    args = (x, y) if in_axes != (0, None) else (x, y[0])
    got = mx.vmap(f, in_axes=in_axes)(*args)
    (want,) = loop_vmap(f, args, in_axes)
    close(got, want)


def test_custom_vjp_survives_vmap():
    f = mx.custom_function(lambda x: mx.sin(x))
    f.vjp(lambda x, c, o: c * 5)
    x = mx.array(RNG.standard_normal((4, 3)).astype(np.float32))
    g = mx.grad(lambda x: mx.vmap(f)(x).sum())(x)       # grad of vmap
    close(g, mx.full((4, 3), 5.0))
    g = mx.vmap(mx.grad(lambda x: f(x).sum()))(x)        # vmap of grad
    close(g, mx.full((4, 3), 5.0))
    _, (t,) = mx.jvp(mx.vmap(f), [x], [mx.ones((4, 3))])  # jvp of vmap: the fallback jvp
    close(t, mx.cos(x))


def test_vmap_with_batched_capture_falls_back():
    f_calls = []

    def g(y):
        f = mx.custom_function(lambda x: x * y)
        f.vmap(lambda x, ax: f_calls.append(ax) or (x * 0, ax))
        return f(mx.array([1.0, 2.0]))

    y = mx.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    close(mx.vmap(g)(y), y * mx.array([1.0, 2.0]))
    assert f_calls == []  # the user's rule cannot see the batched capture


def test_nested_vmap_and_grad():
    f = mx.custom_function(lambda x: mx.sin(x) * x)
    x = mx.array(RNG.standard_normal((2, 3, 2)), dtype=mx.float64)
    got = mx.vmap(mx.vmap(mx.grad(lambda x: f(x).sum())))(x)
    close(got, mx.cos(x) * x + mx.sin(x), rtol=1e-12, atol=1e-12)
    got = mx.grad(lambda x: mx.vmap(mx.vmap(f))(x).sum())(x)
    close(got, mx.cos(x) * x + mx.sin(x), rtol=1e-12, atol=1e-12)


def test_custom_function_inside_custom_function():
    inner = mx.custom_function(lambda x: x * 2)
    inner.vjp(lambda x, c, o: c * 100)
    outer = mx.custom_function(lambda x: inner(x) + x)
    close(mx.grad(lambda x: outer(x).sum())(mx.array([1.0])), [101.0])


def test_python_runs_once_per_call():
    calls = []

    def fun(x):
        calls.append(1)
        return mx.sin(x)

    f = mx.custom_function(fun)
    x = mx.array([0.1, 0.2], dtype=mx.float64)
    close(mx.grad(lambda x: f(x).sum())(x), mx.cos(x))
    assert len(calls) == 1  # the derivative replays the trace, it does not call fun again
    _, (t,) = mx.jvp(f, [x], [mx.ones(2, dtype=mx.float64)])
    close(t, mx.cos(x))
    assert len(calls) == 2


def test_control_flow_on_concrete_values_inside():
    def fun(x):
        return x * 2 if x.sum().item() > 0 else x * 3

    f = mx.custom_function(fun)
    close(mx.grad(lambda x: f(x).sum())(mx.array([1.0])), [2.0])
    close(mx.grad(lambda x: f(x).sum())(mx.array([-1.0])), [3.0])


def test_rules_are_released_from_another_thread():
    f = mx.custom_function(lambda x: x * 2)
    f.vjp(lambda x, c, o: c)
    holder = [f(mx.array([1.0]))]
    del f
    t = threading.Thread(target=holder.clear)
    t.start()
    t.join()
    assert holder == []


# ---- errors

def test_wrong_number_of_cotangents_is_a_value_error():
    f = mx.custom_function(sin_times)
    f.vjp(lambda primals, c, o: (c,))
    x = mx.array([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\[custom_function\].*vjp"):
        mx.grad(lambda x, y: f(x, y).sum())(x, x)


def test_wrong_shape_of_cotangent_is_a_value_error():
    f = mx.custom_function(sin_times)
    f.vjp(lambda primals, c, o: (c[:1], c))
    x = mx.array([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\[custom_function\].*shape \(1,\)"):
        mx.grad(lambda x, y: f(x, y).sum())(x, x)


def test_wrong_jvp_and_vmap_answers_are_value_errors():
    f = mx.custom_function(lambda x: x * 2)
    f.jvp(lambda x, t: [t, t])
    with pytest.raises(ValueError, match=r"\[custom_function\]"):
        mx.jvp(f, [mx.array([1.0])], [mx.array([1.0])])
    g = mx.custom_function(lambda x: x * 2)
    g.jvp(lambda x, t: t[:0])
    with pytest.raises(ValueError, match=r"\[custom_function\].*shape"):
        mx.jvp(g, [mx.array([1.0])], [mx.array([1.0])])
    h = mx.custom_function(lambda x: x * 2)
    h.vmap(lambda x, ax: x)
    with pytest.raises(ValueError, match=r"\[custom_function\].*vmap"):
        mx.vmap(h)(mx.ones((2, 2)))
    k = mx.custom_function(lambda x: x * 2)
    k.vmap(lambda x, ax: (x, 5))
    with pytest.raises(ValueError, match=r"\[custom_function\].*axis 5"):
        mx.vmap(k)(mx.ones((2, 2)))


def test_type_errors():
    with pytest.raises(TypeError, match=r"\[custom_function\]"):
        mx.custom_function(3)
    f = mx.custom_function(lambda x: x)
    with pytest.raises(TypeError, match=r"\[custom_function\]"):
        f.vjp("not a function")
    with pytest.raises(ValueError, match=r"\[custom_function\]"):
        mx.custom_function(lambda x: "no array")(mx.array(1.0))
