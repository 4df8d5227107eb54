"""Compositions of grad, value_and_grad, vjp, jvp and vmap, and jacrev / jacfwd / hessian.

Each composition is checked against a closed form, a Python loop of the inner transform, or
central finite differences in float64."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy

rng = np.random.default_rng(1)


def arr(*shape, dtype=mx.float64):
    return mx.array(rng.standard_normal(shape), dtype=dtype)


def np64(a):
    return to_numpy(a).astype(np.float64)


def fd_jacobian(f, x, h=1e-6):
    """Central-difference Jacobian of f: R^shape -> R^out_shape, shaped out + in (float64)."""
    x0 = np64(x)
    out0 = np64(f(mx.array(x0, dtype=mx.float64)))
    jac = np.zeros(out0.shape + x0.shape)
    for idx in np.ndindex(x0.shape):
        p, m = x0.copy(), x0.copy()
        p[idx] += h
        m[idx] -= h
        jac[(Ellipsis,) + idx] = (np64(f(mx.array(p, dtype=mx.float64))) -
                                  np64(f(mx.array(m, dtype=mx.float64)))) / (2 * h)
    return jac


def mlp_loss(params, x, y):
    h = mx.tanh(x @ params["w1"] + params["b1"])
    out = h @ params["w2"] + params["b2"]
    return mx.mean(mx.square(out - y))


def mlp_params(din=5, dh=7, dout=3):
    return {"w1": arr(din, dh) * 0.5, "b1": arr(dh) * 0.1, "w2": arr(dh, dout) * 0.5,
            "b2": arr(dout) * 0.1}


def assert_tree_close(got, want, rtol=1e-10, atol=1e-12):
    if isinstance(want, dict):
        assert set(got) == set(want)
        for k in want:
            assert_tree_close(got[k], want[k], rtol, atol)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_tree_close(g, w, rtol, atol)
    else:
        w = want if isinstance(want, np.ndarray) else np64(want)
        assert tuple(got.shape) == w.shape, (got.shape, w.shape)
        np.testing.assert_allclose(np64(got), w, rtol=rtol, atol=atol)


# ---- per-example gradients ----

def test_vmap_of_grad_gives_per_example_gradients():
    params = mlp_params()
    xs, ys = arr(6, 5), arr(6, 3)

    def example_loss(p, x, y):
        return mlp_loss(p, x[None], y[None])

    got = mx.vmap(mx.grad(example_loss), in_axes=(None, 0, 0))(params, xs, ys)
    for i in range(6):
        want = mx.grad(example_loss)(params, xs[i], ys[i])
        assert_tree_close({k: v[i] for k, v in got.items()}, want)


def test_vmap_of_value_and_grad_with_aux():
    w = arr(4)

    def f(w, x):
        pred = (w * x).sum()
        return mx.square(pred), pred

    xs = arr(5, 4)
    (loss, pred), g = mx.vmap(mx.value_and_grad(f), in_axes=(None, 0))(w, xs)
    pn = np64(xs) @ np64(w)
    np.testing.assert_allclose(np64(pred), pn, rtol=1e-12)
    np.testing.assert_allclose(np64(loss), pn ** 2, rtol=1e-12)
    np.testing.assert_allclose(np64(g), 2 * pn[:, None] * np64(xs), rtol=1e-12)


def test_grad_of_vmap_of_grad():
    # f(x) = sum(x^3): grad = 3x^2; sum over the batch of per-example sum(grad) -> d/dx = 6x.
    x = arr(4, 3)
    inner = mx.grad(lambda v: mx.sum(v ** 3))
    g = mx.grad(lambda z: mx.sum(mx.vmap(inner)(z)))(x)
    np.testing.assert_allclose(np64(g), 6 * np64(x), rtol=1e-12)


def test_jvp_of_grad_is_a_hessian_vector_product():
    x, v = arr(5), arr(5)
    f = lambda z: mx.sum(mx.sin(z) * z ** 2)  # noqa: E731
    _, (hvp,) = mx.jvp(mx.grad(f), [x], [v])
    xn = np64(x)
    diag = -np.sin(xn) * xn ** 2 + 4 * xn * np.cos(xn) + 2 * np.sin(xn)
    np.testing.assert_allclose(np64(hvp), diag * np64(v), rtol=1e-10)


def test_vmap_of_vjp_gives_the_jacobian():
    A = arr(3, 4)
    f = lambda x: mx.tanh(A @ x)  # noqa: E731
    x = arr(4)
    rows = mx.vmap(lambda ct: mx.vjp(f, [x], [ct])[1][0])(mx.eye(3, dtype=mx.float64))
    np.testing.assert_allclose(np64(rows), fd_jacobian(f, x), rtol=1e-7, atol=1e-9)


def test_vmap_of_jvp_gives_the_jacobian():
    A = arr(3, 4)
    f = lambda x: mx.exp(A @ x) / 10  # noqa: E731
    x = arr(4) * 0.3
    cols = mx.vmap(lambda t: mx.jvp(f, [x], [t])[1][0])(mx.eye(4, dtype=mx.float64))
    np.testing.assert_allclose(np64(cols).T, fd_jacobian(f, x), rtol=1e-7, atol=1e-9)


def test_grad_to_third_order():
    x = mx.array(0.7, dtype=mx.float64)
    f = lambda z: mx.sin(z) * z  # noqa: E731
    g3 = mx.grad(mx.grad(mx.grad(f)))(x)
    xv = 0.7
    want = -3 * np.sin(xv) - xv * np.cos(xv)
    np.testing.assert_allclose(float(g3.item()), want, rtol=1e-12)


def test_vmap_of_vmap_of_grad():
    x = arr(3, 4, 2)
    f = lambda v: mx.sum(mx.exp(v) * v)  # noqa: E731
    g = mx.vmap(mx.vmap(mx.grad(f)))(x)
    xn = np64(x)
    np.testing.assert_allclose(np64(g), np.exp(xn) * (1 + xn), rtol=1e-12)


def test_grad_of_a_function_that_calls_vmap_with_in_axes_1():
    W = arr(3, 5)

    def f(w):
        per_col = mx.vmap(lambda col: mx.sum(mx.tanh(col * w[0, 0])), in_axes=1)(w)
        return mx.sum(per_col * mx.arange(5, dtype=mx.float64))

    g = mx.grad(f)(W)
    want = fd_jacobian(f, W)
    np.testing.assert_allclose(np64(g), want, rtol=1e-7, atol=1e-9)


def test_vmap_of_grad_with_in_axes_not_zero():
    xs = arr(4, 6)  # examples along axis 1
    g = mx.vmap(mx.grad(lambda v: mx.sum(v ** 2 * mx.cos(v))), in_axes=1, out_axes=1)(xs)
    xn = np64(xs)
    np.testing.assert_allclose(np64(g), 2 * xn * np.cos(xn) - xn ** 2 * np.sin(xn), rtol=1e-12)


def test_vmap_of_grad_of_captured_array():
    # The gradient with respect to an argument that multiplies a captured, mapped value.
    ys = arr(5, 3)
    w = arr(3)
    g = mx.vmap(lambda y: mx.grad(lambda v: mx.sum(mx.sin(v * y)))(w))(ys)
    np.testing.assert_allclose(np64(g), np64(ys) * np.cos(np64(w) * np64(ys)), rtol=1e-12)


def test_jvp_of_vmap():
    x, t = arr(4, 3), arr(4, 3)
    f = mx.vmap(lambda v: mx.sin(v) * v.sum())
    _, (jt,) = mx.jvp(f, [x], [t])
    xn, tn = np64(x), np64(t)
    want = np.cos(xn) * tn * xn.sum(1, keepdims=True) + np.sin(xn) * tn.sum(1, keepdims=True)
    np.testing.assert_allclose(np64(jt), want, rtol=1e-12)


# ---- jacrev / jacfwd / hessian ----

@pytest.mark.parametrize("jac", [mx.jacrev, mx.jacfwd])
def test_jacobian_of_a_vector_function(jac):
    A = arr(3, 4)
    f = lambda x: mx.tanh(A @ x)  # noqa: E731
    x = arr(4)
    J = jac(f)(x)
    assert J.shape == (3, 4)
    np.testing.assert_allclose(np64(J), fd_jacobian(f, x), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("jac", [mx.jacrev, mx.jacfwd])
def test_jacobian_shapes_are_out_plus_in(jac):
    x = arr(2, 3)
    f = lambda v: mx.stack([v * 2, mx.sin(v)])  # noqa: E731  (2, 2, 3)
    J = jac(f)(x)
    assert J.shape == (2, 2, 3, 2, 3)
    np.testing.assert_allclose(np64(J), fd_jacobian(f, x), rtol=1e-7, atol=1e-9)
    s = jac(lambda v: mx.sum(v * v))(x)
    assert s.shape == (2, 3)
    np.testing.assert_allclose(np64(s), 2 * np64(x), rtol=1e-12)


@pytest.mark.parametrize("jac", [mx.jacrev, mx.jacfwd])
def test_jacobian_of_pytrees_and_argnums(jac):
    a, b = arr(3), arr(2)

    def f(p, q):
        return {"u": p["x"] * q[0], "v": mx.sum(p["x"]) * q}

    p = {"x": a}
    J = jac(f, argnums=(0, 1))(p, b)
    # J["u"] = (d u / d p, d u / d q) with d u / d p = {"x": ...}
    assert J["u"][0]["x"].shape == (3, 3) and J["u"][1].shape == (3, 2)
    assert J["v"][0]["x"].shape == (2, 3) and J["v"][1].shape == (2, 2)
    an, bn = np64(a), np64(b)
    np.testing.assert_allclose(np64(J["u"][0]["x"]), np.eye(3) * bn[0], rtol=1e-12)
    du_dq = np.zeros((3, 2))
    du_dq[:, 0] = an
    np.testing.assert_allclose(np64(J["u"][1]), du_dq, rtol=1e-12)
    np.testing.assert_allclose(np64(J["v"][0]["x"]), np.outer(bn, np.ones(3)), rtol=1e-12)
    np.testing.assert_allclose(np64(J["v"][1]), np.eye(2) * an.sum(), rtol=1e-12)
    single = jac(f)(p, b)
    assert set(single["u"]) == {"x"}


@pytest.mark.parametrize("jac", [mx.jacrev, mx.jacfwd])
def test_jacobian_has_aux(jac):
    x = arr(3)
    J, aux = jac(lambda v: (v * v, {"n": mx.sum(v)}), has_aux=True)(x)
    np.testing.assert_allclose(np64(J), np.diag(2 * np64(x)), rtol=1e-12)
    np.testing.assert_allclose(float(aux["n"].item()), np64(x).sum(), rtol=1e-12)


def test_jacrev_equals_jacfwd_on_an_mlp():
    params = mlp_params(4, 6, 2)
    f = lambda x: mx.tanh(x @ params["w1"] + params["b1"]) @ params["w2"]  # noqa: E731
    x = arr(4)
    np.testing.assert_allclose(np64(mx.jacrev(f)(x)), np64(mx.jacfwd(f)(x)), rtol=1e-10,
                               atol=1e-12)


def test_hessian():
    A = arr(4, 4)
    A = A @ A.T
    f = lambda x: 0.5 * x @ (A @ x) + mx.sum(mx.sin(x))  # noqa: E731
    x = arr(4)
    H = mx.hessian(f)(x)
    want = np64(A) - np.diag(np.sin(np64(x)))
    assert H.shape == (4, 4)
    np.testing.assert_allclose(np64(H), want, rtol=1e-10, atol=1e-12)


def test_hessian_of_a_matrix_argument_against_finite_differences():
    x = arr(2, 2)
    f = lambda m: mx.sum(mx.exp(m) * m[::-1])  # noqa: E731
    H = mx.hessian(f)(x)
    assert H.shape == (2, 2, 2, 2)
    want = fd_jacobian(mx.grad(f), x)
    np.testing.assert_allclose(np64(H), want, rtol=1e-7, atol=1e-9)


def test_jacobian_float32():
    x = arr(3, dtype=mx.float32)
    J = mx.jacrev(lambda v: v * 2)(x)
    assert J.dtype == mx.float32
    np.testing.assert_allclose(to_numpy(J), 2 * np.eye(3), rtol=1e-6)
