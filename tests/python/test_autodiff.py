"""grad, value_and_grad, vjp and jvp: every differentiable op against finite differences, and the
transform API (argnums, argnames, pytrees, higher order)."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import assert_close, check_grad

RNG = np.random.default_rng(7)


def uniform(lo, hi, shape=(2, 3)):
    return RNG.uniform(lo, hi, size=shape)


def away_from_zero(shape=(2, 3), lo=0.3, hi=2.0):
    return RNG.uniform(lo, hi, size=shape) * RNG.choice([-1.0, 1.0], size=shape)


def off_grid(shape=(2, 3)):
    """Values k + (0.1..0.4): away from the jumps of floor/ceil/round/sign."""
    return RNG.integers(-3, 3, size=shape) + RNG.uniform(0.1, 0.4, size=shape)


def distinct(shape):
    """Values whose pairwise gaps are at least 0.1, so max/min have no ties."""
    n = int(np.prod(shape))
    return (RNG.permutation(n) * 0.3 - n * 0.15 + RNG.uniform(0, 0.1, size=n)).reshape(shape)


# ---------------------------------------------------------------- unary

UNARY_INPUTS = {
    "abs": away_from_zero, "negative": lambda: uniform(-2, 2), "sign": away_from_zero,
    "exp": lambda: uniform(-2, 2), "expm1": lambda: uniform(-2, 2),
    "log": lambda: uniform(0.3, 3), "log1p": lambda: uniform(-0.5, 3),
    "log2": lambda: uniform(0.3, 3), "log10": lambda: uniform(0.3, 3),
    "sqrt": lambda: uniform(0.3, 3), "rsqrt": lambda: uniform(0.3, 3),
    "square": lambda: uniform(-2, 2), "reciprocal": away_from_zero,
    "sin": lambda: uniform(-3, 3), "cos": lambda: uniform(-3, 3), "tan": lambda: uniform(-1.2, 1.2),
    "arcsin": lambda: uniform(-0.8, 0.8), "arccos": lambda: uniform(-0.8, 0.8),
    "arctan": lambda: uniform(-3, 3), "sinh": lambda: uniform(-2, 2), "cosh": lambda: uniform(-2, 2),
    "tanh": lambda: uniform(-2, 2), "arcsinh": lambda: uniform(-3, 3),
    "arccosh": lambda: uniform(1.3, 3), "arctanh": lambda: uniform(-0.8, 0.8),
    "sigmoid": lambda: uniform(-4, 4), "erf": lambda: uniform(-2, 2),
    "erfinv": lambda: uniform(-0.8, 0.8),
    "floor": off_grid, "ceil": off_grid, "round": off_grid,
}


@pytest.mark.parametrize("op", list(UNARY_INPUTS))
def test_unary_grad(op):
    fn = getattr(mx, op)
    check_grad(fn, [UNARY_INPUTS[op]()])


@pytest.mark.parametrize("op", list(UNARY_INPUTS))
def test_unary_second_order(op):
    fn = getattr(mx, op)
    check_grad(lambda x: mx.grad(lambda y: mx.sum(fn(y)))(x), [UNARY_INPUTS[op]()],
               f32_rtol=5e-3, f32_atol=5e-3)


def test_unary_methods_and_operators_grad():
    check_grad(lambda x: (-x).exp() + abs(x).log() + x.square().sqrt() + x.sin().cos(),
               [away_from_zero()])
    check_grad(lambda x: x.rsqrt() + x.reciprocal() + x.log1p() + x.log2() + x.log10(),
               [uniform(0.3, 3)])


# ---------------------------------------------------------------- binary


def _pair(kind, sa, sb):
    if kind == "positive_base":
        return uniform(0.4, 2.0, sa), uniform(-2, 2, sb)
    if kind == "nonzero_b":
        return uniform(-2, 2, sa), away_from_zero(sb)
    if kind == "separated":
        a = RNG.integers(-2, 3, size=sa) + RNG.uniform(0, 0.3, size=sa)
        b = RNG.integers(-2, 3, size=sb) + 0.5 + RNG.uniform(0, 0.3, size=sb)
        return a, b
    if kind == "floor":
        b = away_from_zero(sb, 0.5, 2.0)
        shape = np.broadcast_shapes(sa, sb)
        q = RNG.integers(-3, 3, size=shape) + RNG.uniform(0.2, 0.8, size=shape)
        if shape == tuple(sa):
            return q * b, b
        a = away_from_zero(sa, 0.5, 2.0)
        return a, a / q
    if kind == "plane":
        return away_from_zero(sa), away_from_zero(sb)
    return uniform(-2, 2, sa), uniform(-2, 2, sb)


BINARY_KINDS = {
    "add": None, "subtract": None, "multiply": None, "divide": "nonzero_b",
    "floor_divide": "floor", "remainder": "floor", "power": "positive_base",
    "maximum": "separated", "minimum": "separated", "arctan2": "plane", "logaddexp": None,
}
BINARY_SHAPES = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ()),
                 ((3, 1, 2), (2,))]


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("op", list(BINARY_KINDS))
def test_binary_grad(op, shapes):
    sa, sb = shapes
    if BINARY_KINDS[op] == "floor" and np.broadcast_shapes(sa, sb) not in (sa, sb):
        pytest.skip("the quotient grid is built on the shape of one operand")
    a, b = _pair(BINARY_KINDS[op], sa, sb)
    check_grad(getattr(mx, op), [a, b])


@pytest.mark.parametrize("op", list(BINARY_KINDS))
def test_binary_second_order(op):
    a, b = _pair(BINARY_KINDS[op], (2, 3), (2, 3))
    fn = getattr(mx, op)
    check_grad(lambda x, y: mx.grad(lambda p, q: mx.sum(fn(p, q) * fn(p, q)), argnums=(0, 1))(x, y),
               [a, b], f32_rtol=5e-3, f32_atol=5e-3)


def test_operator_grads():
    a, b = uniform(0.5, 2), uniform(0.5, 2, (3,))
    check_grad(lambda x, y: (x + y) * (x - y) / y + x ** y - 2 / x + 3 - x + (2 ** y) * x,
               [a, b])
    check_grad(lambda x, y: x % y + x // y, list(_pair("floor", (2, 3), (2, 3))))


def test_where_grad():
    cond = mx.array([[True, False, True], [False, False, True]])
    check_grad(lambda x, y: mx.where(cond, x, y), [uniform(-1, 1), uniform(-1, 1)])
    check_grad(lambda x, y: mx.where(cond, x, y), [uniform(-1, 1, (3,)), uniform(-1, 1, (2, 1))])
    check_grad(lambda x: mx.where(x > 0, x * x, -x), [away_from_zero()])
    check_grad(lambda x: mx.where(cond, x, 0.0), [uniform(-1, 1)])


# ---------------------------------------------------------------- reductions

REDUCE_AXES = [None, 0, -1, (0, 2), (1,)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", REDUCE_AXES, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "prod", "max", "min", "logsumexp", "var", "std"])
def test_reduction_grad(op, axis, keepdims):
    x = distinct((2, 3, 4)) if op in ("max", "min") else uniform(0.5, 1.5, (2, 3, 4))
    check_grad(lambda a: getattr(mx, op)(a, axis=axis, keepdims=keepdims), [x])


@pytest.mark.parametrize("ddof", [1, 2])
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_ddof_grad(op, ddof):
    check_grad(lambda a: getattr(mx, op)(a, axis=1, ddof=ddof), [uniform(-1, 1, (3, 4))])
    check_grad(lambda a: getattr(mx, op)(a, ddof=ddof), [uniform(-1, 1, (3, 4))])


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=str)
def test_softmax_grad(axis):
    check_grad(lambda a: mx.softmax(a, axis=axis), [uniform(-2, 2, (2, 3, 4))])


@pytest.mark.parametrize("op", ["softmax", "logsumexp", "var", "std", "prod", "max", "mean"])
def test_reduction_second_order(op):
    x = distinct((3, 4)) if op == "max" else uniform(0.5, 1.5, (3, 4))
    fn = getattr(mx, op)
    check_grad(lambda a: mx.grad(lambda b: mx.sum(fn(b, axis=-1) ** 2))(a), [x],
               f32_rtol=5e-3, f32_atol=5e-3)


def test_reduction_of_views_grad():
    check_grad(lambda a: mx.sum(a.T * 2, axis=0), [uniform(-1, 1, (3, 4))])
    check_grad(lambda a: mx.max(a[::-1, 1:], axis=1), [distinct((3, 4))])
    check_grad(lambda a: mx.logsumexp(mx.broadcast_to(a, (2, 3, 4)), axis=(0, 2)),
               [uniform(-1, 1, (3, 4))])


def test_max_grad_with_ties_splits_or_picks_consistently():
    # At a tie the derivative is not unique; a sensible rule keeps the total equal to 1.
    x = mx.array([1.0, 3.0, 3.0, 2.0])
    g = mx.grad(lambda a: mx.max(a))(x)
    assert g.shape == (4,)
    assert g[0].item() == 0 and g[3].item() == 0
    assert mx.sum(g).item() == pytest.approx(1.0)


def test_max_min_reduce_derivatives_at_ties_and_nan_follow_mlx():
    # Values checked against mlx 0.32. The vjp splits the cotangent among ties; the jvp takes
    # the tangent of the element argmax/argmin picks (the first tie, or the NaN).
    x = mx.array([[1.0, 3.0, 3.0, -2.0], [2.0, -1.0, 2.0, 2.0]])
    t = mx.array([[0.0, 1.0, 2.0, 3.0], [8.0, 9.0, 10.0, 11.0]])
    np.testing.assert_allclose(np.array(mx.grad(lambda a: mx.max(a, axis=1).sum())(x)),
                               [[0.0, 0.5, 0.5, 0.0], [1 / 3, 0.0, 1 / 3, 1 / 3]], rtol=1e-6)
    _, (jt,) = mx.jvp(lambda a: mx.max(a, axis=1), [x], [t])
    assert jt.tolist() == [1.0, 8.0]
    _, (jt,) = mx.jvp(lambda a: mx.min(a, axis=1), [x], [t])
    assert jt.tolist() == [3.0, 9.0]
    _, (jt,) = mx.jvp(lambda a: mx.max(a), [x], [t])
    assert jt.item() == 1.0
    _, (jt,) = mx.jvp(lambda a: mx.max(a, axis=0), [x.T], [t.T])
    assert jt.tolist() == [1.0, 8.0]
    # A NaN in the group: the vjp is NaN over the whole group, the jvp the NaN's tangent.
    y = mx.array([[1.0, float("nan"), 3.0], [4.0, 5.0, 6.0]])
    ty = mx.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    for op in (mx.max, mx.min):
        g = mx.grad(lambda a: op(a, axis=1).sum())(y)
        assert np.isnan(np.array(g[0])).all()
        _, (jt,) = mx.jvp(lambda a: op(a, axis=1), [y], [ty])
        assert jt[0].item() == 2.0
    assert mx.grad(lambda a: mx.max(a, axis=1).sum())(y)[1].tolist() == [0.0, 0.0, 1.0]



def test_maximum_minimum_ties_send_the_derivative_to_the_second_operand():
    # MLX's rule (checked against mlx 0.32): at a tie the whole derivative goes to b, so
    # relu's derivative at 0 is 0 and clip's is 0 at both bounds.
    a, b = mx.array([0.0, 1.0, -2.0]), mx.array([0.0, 0.0, 0.0])
    ga, gb = mx.grad(lambda x, y: mx.maximum(x, y).sum(), argnums=(0, 1))(a, b)
    assert ga.tolist() == [0.0, 1.0, 0.0] and gb.tolist() == [1.0, 0.0, 1.0]
    ga, gb = mx.grad(lambda x, y: mx.minimum(x, y).sum(), argnums=(0, 1))(a, b)
    assert ga.tolist() == [0.0, 0.0, 1.0] and gb.tolist() == [1.0, 1.0, 0.0]
    _, (t,) = mx.jvp(mx.maximum, [a, b], [mx.array([1.0, 1.0, 1.0]), mx.array([10.0] * 3)])
    assert t.tolist() == [10.0, 1.0, 10.0]
    _, (t,) = mx.jvp(mx.minimum, [a, b], [mx.array([1.0, 1.0, 1.0]), mx.array([10.0] * 3)])
    assert t.tolist() == [10.0, 10.0, 1.0]
    x = mx.array([0.0, 1.0, -1.0, 0.5])
    assert mx.grad(lambda v: mx.clip(v, 0.0, 1.0).sum())(x).tolist() == [0.0, 0.0, 0.0, 1.0]
    import pullback.nn as nn
    assert mx.grad(lambda v: nn.relu(v).sum())(x).tolist() == [0.0, 1.0, 0.0, 1.0]
    assert mx.grad(lambda v: nn.elu(v).sum())(x).tolist()[0] == 1.0  # the exp branch at 0



def test_sign_abs_and_power_exponent_edges_follow_mlx():
    nan = float("nan")
    assert mx.sign(mx.array([nan, -0.0, 2.0, -3.0])).tolist() == [0.0, 0.0, 1.0, -1.0]
    assert mx.grad(lambda v: mx.abs(v).sum())(mx.array([nan, 0.0, -2.0])).tolist() == [0.0, 0.0, -1.0]
    a = mx.array([0.0, 0.0, -100.0, 2.0, 4.0])
    b = mx.array([-1.0, 2.0, -100.0, 0.0, 0.5])
    g = mx.grad(lambda e: mx.power(a, e).sum())(b)
    # a^b log a, and 0 wherever a^b is 0 (0 to a positive power, or an underflow).
    np.testing.assert_allclose(np.array(g), [-np.inf, 0.0, 0.0, np.log(2.0), 2 * np.log(4.0)],
                               rtol=1e-6)
    _, (t,) = mx.jvp(lambda e: mx.power(a, e), [b], [mx.ones_like(b)])
    np.testing.assert_allclose(np.array(t), np.array(g), rtol=1e-6)


# ---------------------------------------------------------------- matmul

MATMUL_SHAPES = [((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)),
                 ((2, 2, 3), (2, 3, 2)), ((2, 3), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 1)),
                 ((1, 3), (3, 1))]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=str)
def test_matmul_grad(sa, sb):
    check_grad(mx.matmul, [uniform(-1, 1, sa), uniform(-1, 1, sb)])


def test_matmul_grad_views_and_operator():
    check_grad(lambda a, b: a.T @ b[::-1], [uniform(-1, 1, (3, 2)), uniform(-1, 1, (3, 4))])
    check_grad(lambda a: a @ a.T, [uniform(-1, 1, (2, 3))])


def test_matmul_second_order():
    check_grad(lambda a, b: mx.grad(lambda p, q: mx.sum(mx.sin(p @ q)), argnums=(0, 1))(a, b),
               [uniform(-1, 1, (2, 3)), uniform(-1, 1, (3, 2))], f32_rtol=5e-3, f32_atol=5e-3)


# ---------------------------------------------------------------- shape ops and slicing

SHAPE_FNS = {
    "reshape": lambda a: mx.reshape(a, (4, 6)),
    "reshape_method": lambda a: a.reshape(6, -1),
    "reshape_of_transpose": lambda a: a.T.reshape(-1),
    "transpose": lambda a: mx.transpose(a, (2, 0, 1)),
    "transpose_default": lambda a: mx.transpose(a),
    "T": lambda a: a.T,
    "swapaxes": lambda a: mx.swapaxes(a, 0, 2),
    "moveaxis": lambda a: mx.moveaxis(a, 0, -1),
    "squeeze": lambda a: mx.squeeze(mx.reshape(a, (1, 2, 1, 12)), (0, 2)),
    "squeeze_all": lambda a: mx.squeeze(a[:1, :, :1]),
    "expand_dims": lambda a: mx.expand_dims(a, (0, 3)),
    "broadcast_to": lambda a: mx.broadcast_to(a[:, :1], (5, 2, 3, 4)),
    "flatten": lambda a: mx.flatten(a, 1, 2),
    "flatten_all": lambda a: a.flatten(),
    "split": lambda a: mx.split(a, [1, 3], axis=2),
    "split_sections": lambda a: mx.split(a, 3, axis=1),
    "astype_same": lambda a: a.astype(a.dtype) * 2,
}


@pytest.mark.parametrize("name", list(SHAPE_FNS))
def test_shape_op_grad(name):
    check_grad(SHAPE_FNS[name], [uniform(-1, 1, (2, 3, 4))])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_stack_grad(axis):
    x, y = uniform(-1, 1, (2, 3)), uniform(-1, 1, (2, 3))
    check_grad(lambda a, b: mx.concatenate([a, b, a * 2], axis=axis), [x, y])
    check_grad(lambda a, b: mx.stack([a, b], axis=axis), [x, y])
    check_grad(lambda a, b: mx.concatenate([a, b], axis=None), [x, y])


SLICES = [
    (1,), (slice(1, None),), (slice(None, None, -1),), (slice(None, None, -2), slice(1, 3)),
    (None, Ellipsis, 1), (Ellipsis, slice(3, 0, -2)), (-1, slice(None), None, 2),
    (slice(0, 2), None, slice(None, None, 3)), (slice(5, 9),),
]


@pytest.mark.parametrize("index", SLICES, ids=repr)
def test_getitem_grad(index):
    check_grad(lambda a: a[index], [uniform(-1, 1, (2, 3, 4))])


def test_overlapping_slices_accumulate():
    check_grad(lambda a: a[1:] * a[:-1] + a[::2].sum(), [uniform(-1, 1, (5,))])


@pytest.mark.parametrize("src, dst, grid, eps, tol", [
    ("float64", "float32", 1 / 64, 0.25, 1e-6),
    ("float64", "float16", 1 / 64, 0.25, 1e-3),
    ("float64", "bfloat16", 1 / 16, 0.25, 1e-2),
])
def test_astype_grad(src, dst, grid, eps, tol):
    # Inputs and steps on a grid the target dtype represents exactly, so that the finite
    # differences of the rounding function are exact.
    x = RNG.integers(-64, 64, size=(2, 3)) * grid
    target = getattr(mx, dst)
    check_grad(lambda a: mx.astype(a, target), [x], eps=eps, rtol=tol, atol=tol, f32_rtol=tol,
               f32_atol=tol, integer_tangents=True)
    check_grad(lambda a: a.astype(target).astype(mx.float32) * 3, [x], eps=eps, rtol=tol,
               atol=tol, f32_rtol=tol, f32_atol=tol, integer_tangents=True)


def test_astype_grad_dtypes():
    x = mx.array([1.0, 2.0], dtype=mx.float32)
    g = mx.grad(lambda a: mx.sum(a.astype(mx.float16) * 2))(x)
    assert g.dtype == mx.float32 and g.tolist() == [2.0, 2.0]
    h = mx.array([1.0, 2.0], dtype=mx.float16)
    g = mx.grad(lambda a: mx.sum(a.astype(mx.float64) ** 2))(h)
    assert g.dtype == mx.float16 and g.tolist() == [2.0, 4.0]


# ---------------------------------------------------------------- a composite model


def test_mlp_loss_grad():
    def loss(w1, b1, w2, x):
        h = mx.tanh(x @ w1 + b1)
        logits = h @ w2
        return mx.mean(mx.logsumexp(logits, axis=-1) - logits[:, 0])

    check_grad(loss, [uniform(-1, 1, (3, 4)), uniform(-1, 1, (4,)), uniform(-1, 1, (4, 2)),
                      uniform(-1, 1, (5, 3))], argnums=(0, 1, 2))


# ---------------------------------------------------------------- stop_gradient


def test_stop_gradient_grad():
    x = mx.array([1.0, -2.0, 3.0])
    g = mx.grad(lambda a: mx.sum(mx.stop_gradient(a) * a))(x)
    assert_close(g, np.array([1.0, -2.0, 3.0]))
    g = mx.grad(lambda a: mx.sum(mx.stop_gradient(a * a)))(x)
    assert_close(g, np.zeros(3))
    _, (t,) = mx.jvp(lambda a: mx.stop_gradient(a) * 2 + a, [x], [mx.ones((3,))])
    assert_close(t, np.ones(3))


# ---------------------------------------------------------------- API


def f3(x, y, z):
    return mx.sum(x * y * y + mx.sin(z))


def test_grad_argnums():
    x, y, z = mx.array([1.0, 2.0]), mx.array([3.0, -1.0]), mx.array([0.5, 0.25])
    assert_close(mx.grad(f3)(x, y, z), np.array([9.0, 1.0]))
    assert_close(mx.grad(f3, argnums=1)(x, y, z), np.array([6.0, -4.0]))
    gx, gz = mx.grad(f3, argnums=(0, 2))(x, y, z)
    assert_close(gx, np.array([9.0, 1.0]))
    assert_close(gz, np.cos([0.5, 0.25]))
    gx, gy = mx.grad(f3, argnums=[0, 1])(x, y, z)
    assert_close(gy, np.array([6.0, -4.0]))


def test_value_and_grad():
    x, y, z = mx.array([1.0, 2.0]), mx.array([3.0, -1.0]), mx.array([0.5, 0.25])
    value, g = mx.value_and_grad(f3)(x, y, z)
    assert value.item() == pytest.approx(9 + 2 + np.sin(0.5) + np.sin(0.25), rel=1e-6)
    assert_close(g, np.array([9.0, 1.0]))
    value, (gx, gy) = mx.value_and_grad(f3, argnums=(0, 1))(x, y, z)
    assert_close(gy, np.array([6.0, -4.0]))


def test_argnames():
    def f(x, y=None, z=None):
        return mx.sum(x * y + 2 * z)

    x, y, z = mx.array([1.0, 2.0]), mx.array([3.0, 4.0]), mx.array([5.0, 6.0])
    positional, named = mx.grad(f, argnames="y")(x, y=y, z=z)
    assert positional is None
    assert set(named) == {"y"}
    assert_close(named["y"], np.array([1.0, 2.0]))
    gx, named = mx.grad(f, argnums=0, argnames=["y", "z"])(x, y=y, z=z)
    assert_close(gx, np.array([3.0, 4.0]))
    assert_close(named["z"], np.array([2.0, 2.0]))
    value, (gx, named) = mx.value_and_grad(f, argnums=0, argnames="z")(x, y=y, z=z)
    assert value.item() == 3 + 8 + 22
    assert_close(named["z"], np.array([2.0, 2.0]))


def test_pytree_arguments():
    def loss(params, x):
        w, (b,) = params["w"], params["b"]
        return mx.sum(mx.tanh(x @ w + b) * params["scale"][0])

    params = {"w": mx.array(RNG.standard_normal((3, 2)), dtype=mx.float64),
              "b": (mx.array([0.1, -0.2], dtype=mx.float64),),
              "scale": [mx.array(1.5, dtype=mx.float64)]}
    x = mx.array(RNG.standard_normal((4, 3)), dtype=mx.float64)
    grads = mx.grad(loss)(params, x)
    assert set(grads) == {"w", "b", "scale"}
    assert isinstance(grads["b"], tuple) and len(grads["b"]) == 1
    assert isinstance(grads["scale"], list) and len(grads["scale"]) == 1
    assert grads["w"].shape == (3, 2) and grads["b"][0].shape == (2,) and grads["scale"][0].shape == ()

    # Compare every leaf with finite differences, flattening the tree by hand.
    def flat_loss(w, b, s, xx):
        return loss({"w": w, "b": (b,), "scale": [s]}, xx)

    leaves = [np.array(params["w"]), np.array(params["b"][0]), np.array(params["scale"][0])]
    check_grad(flat_loss, leaves + [np.array(x)], argnums=(0, 1, 2))
    g_w, g_b, g_s = mx.grad(flat_loss, argnums=(0, 1, 2))(params["w"], params["b"][0],
                                                         params["scale"][0], x)
    assert_close(grads["w"], np.array(g_w))
    assert_close(grads["b"][0], np.array(g_b))
    assert_close(grads["scale"][0], np.array(g_s))


def test_pytree_list_and_tuple_arguments():
    def f(xs, pair):
        return mx.sum(xs[0] * xs[1]) + mx.sum(pair[0] * 3) + mx.sum(pair[1]["k"] ** 2)

    xs = [mx.array([1.0, 2.0]), mx.array([3.0, 4.0])]
    pair = (mx.array([1.0]), {"k": mx.array([2.0, -1.0])})
    g_xs, g_pair = mx.grad(f, argnums=(0, 1))(xs, pair)
    assert isinstance(g_xs, list) and isinstance(g_pair, tuple) and isinstance(g_pair[1], dict)
    assert_close(g_xs[0], np.array([3.0, 4.0]))
    assert_close(g_xs[1], np.array([1.0, 2.0]))
    assert_close(g_pair[0], np.array([3.0]))
    assert_close(g_pair[1]["k"], np.array([4.0, -2.0]))


def test_value_and_grad_with_aux_tuple():
    def f(x):
        y = x * 2
        return mx.sum(y * y), {"y": y, "n": 3}

    x = mx.array([1.0, 2.0])
    (loss, aux), g = mx.value_and_grad(f)(x)
    assert loss.item() == 20.0
    assert aux["n"] == 3
    assert_close(aux["y"], np.array([2.0, 4.0]))
    assert_close(g, np.array([8.0, 16.0]))


def test_non_array_arguments_pass_through():
    def f(x, n, scale=1.0):
        return mx.sum(x ** n) * scale

    x = mx.array([1.0, 2.0])
    assert_close(mx.grad(f)(x, 3, scale=2.0), np.array([6.0, 24.0]))


def test_closure_constants_and_unused_inputs():
    c = mx.array([2.0, 3.0])

    def f(x, unused):
        return mx.sum(x * c)

    gx, gu = mx.grad(f, argnums=(0, 1))(mx.array([1.0, 1.0]), mx.array([[5.0, 5.0]]))
    assert_close(gx, np.array([2.0, 3.0]))
    assert gu.shape == (1, 2)
    assert_close(gu, np.zeros((1, 2)))
    g = mx.grad(lambda x: mx.array(3.0))(mx.array([1.0, 2.0]))
    assert_close(g, np.zeros(2))


def test_grad_dtype_follows_primal():
    for dtype in (mx.float16, mx.bfloat16, mx.float32, mx.float64):
        x = mx.array([1.0, 2.0], dtype=dtype)
        g = mx.grad(lambda a: mx.sum(a * a))(x)
        assert g.dtype == dtype
        assert g.astype(mx.float32).tolist() == [2.0, 4.0]


def test_vjp_signature():
    def f(x, y):
        return x * y, mx.sin(x)

    x, y = mx.array([1.0, 2.0]), mx.array([3.0, 4.0])
    outs, vjps = mx.vjp(f, [x, y], [mx.array([1.0, 1.0]), mx.array([0.0, 2.0])])
    assert isinstance(outs, list) and isinstance(vjps, list) and len(outs) == 2 and len(vjps) == 2
    assert_close(outs[0], np.array([3.0, 8.0]))
    assert_close(vjps[0], np.array([3.0, 4.0 + 2 * np.cos(2.0)]))
    assert_close(vjps[1], np.array([1.0, 2.0]))
    outs, vjps = mx.vjp(lambda a: a * 2, [x], [mx.array([1.0, -1.0])])
    assert len(outs) == 1 and len(vjps) == 1
    assert_close(vjps[0], np.array([2.0, -2.0]))


def test_jvp_signature():
    def f(x, y):
        return x * y, mx.exp(x)

    x, y = mx.array([1.0, 2.0]), mx.array([3.0, 4.0])
    outs, jvps = mx.jvp(f, [x, y], [mx.array([1.0, 0.0]), mx.array([0.0, 1.0])])
    assert isinstance(outs, list) and isinstance(jvps, list) and len(jvps) == 2
    assert_close(jvps[0], np.array([3.0, 2.0]))
    assert_close(jvps[1], np.array([np.e, 0.0]), rtol=1e-6)


def test_higher_order_scalars():
    f = lambda x: x ** 4  # noqa: E731
    x = mx.array(2.0)
    assert mx.grad(f)(x).item() == pytest.approx(32)
    assert mx.grad(mx.grad(f))(x).item() == pytest.approx(48)
    assert mx.grad(mx.grad(mx.grad(f)))(x).item() == pytest.approx(48)
    assert mx.grad(mx.grad(mx.grad(mx.grad(f))))(x).item() == pytest.approx(24)
    g2 = mx.grad(mx.grad(mx.sin))(mx.array(0.7))
    assert g2.item() == pytest.approx(-np.sin(0.7), rel=1e-6)


def test_jvp_of_grad_and_grad_of_vjp():
    x = mx.array([0.3, -0.4], dtype=mx.float64)
    hvp = mx.jvp(mx.grad(lambda a: mx.sum(mx.exp(a) * a)), [x], [mx.ones((2,), mx.float64)])[1][0]
    xs = np.array([0.3, -0.4])
    assert_close(hvp, np.exp(xs) * (xs + 2))
    g = mx.grad(lambda a: mx.vjp(mx.sin, [a], [mx.ones((2,), mx.float64)])[1][0].sum())(x)
    assert_close(g, -np.sin(xs))


def test_eval_inside_grad_keeps_graph():
    def f(x):
        y = mx.exp(x)
        mx.eval(y)
        return mx.sum(y * x)

    x = np.array([0.5, -1.0])
    assert_close(mx.grad(f)(mx.array(x, dtype=mx.float64)), np.exp(x) * (x + 1))


def test_grad_through_long_chain():
    def f(x):
        for _ in range(100_000):
            x = x + 0.5
        return mx.sum(x)

    g = mx.grad(f)(mx.array([1.0, 2.0]))
    assert g.tolist() == [1.0, 1.0]


def test_grad_requires_scalar_output():
    with pytest.raises(ValueError, match=r"\[(grad|value_and_grad|vjp)\]"):
        mx.grad(lambda x: x * 2)(mx.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        mx.value_and_grad(lambda x: x * 2)(mx.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        mx.grad(lambda x: 3.0)(mx.array([1.0]))


def test_eval_inside_grad_keeps_inputs_intact():
    # Evaluating inside a traced function must not let a kernel overwrite (donate) an input
    # that a derivative rule reads later.
    def f(x):
        t = x * 2.0
        y = mx.sin(t)
        mx.eval(y)
        return y.sum()

    x = mx.array([0.1, 0.5, 1.0])
    g = mx.grad(f)(x)
    assert_close(g, 2.0 * np.cos(2.0 * np.array([0.1, 0.5, 1.0])), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- MLX's rules for integers, tangents
# of constant ops, grad's return value and mutated arguments


def test_tangent_of_a_comparison_is_a_zero_in_the_tangent_dtype():
    _, (t,) = mx.jvp(lambda x: mx.greater(x, 0.5), [mx.array([0.0, 1.0])], [mx.array([1.0, 1.0])])
    assert t.dtype == mx.float32 and t.tolist() == [0.0, 0.0]
    _, (t,) = mx.jvp(mx.isnan, [mx.array([1.0, 2.0], dtype=mx.float16)],
                     [mx.array([1.0, 3.0], dtype=mx.float16)])
    assert t.dtype == mx.float16 and t.tolist() == [0.0, 0.0]
    # It flows into later ops like any tangent.
    _, (t,) = mx.jvp(lambda x: mx.where(x > 1.5, x, 0.0) + (x > 0), [mx.array([1.0, 2.0])],
                     [mx.array([1.0, 3.0])])
    assert t.tolist() == [0.0, 3.0]


def test_prod_jvp_with_a_zero():
    _, (t,) = mx.jvp(mx.prod, [mx.arange(4).astype(mx.float32)], [mx.array([3.0, 2.0, 1.0, 0.0])])
    assert t.item() == 18.0
    _, (t,) = mx.jvp(mx.prod, [mx.arange(4)], [mx.array([3, 2, 1, 0])])
    assert t.dtype == mx.int32 and t.item() == 18


def test_integer_inputs_get_integer_derivatives():
    g = mx.grad(lambda x: (x * x).sum())(mx.array([1, 2]))
    assert g.dtype == mx.int32 and g.tolist() == [2, 4]
    _, (t,) = mx.jvp(mx.max, [mx.array([1, 5, 2])], [mx.array([1, 2, 3])])
    assert t.dtype == mx.int32 and t.item() == 2
    _, (t,) = mx.jvp(lambda x: x * 3, [mx.array([1, 2])], [mx.array([1, 1])])
    assert t.tolist() == [3, 3]
    # Through a cast: the float derivative, cast back to the integer dtype (MLX truncates).
    g = mx.grad(lambda x: mx.exp(x.astype(mx.float32)).sum())(mx.array([1, 2]))
    assert g.dtype == mx.int32 and g.tolist() == [2, 7]
    g = mx.grad(lambda x: x.astype(mx.int32).astype(mx.float32).sum())(mx.array([1.5, 2.5]))
    assert g.tolist() == [1.0, 1.0]


def test_grad_rejects_a_tuple_and_takes_one_element_argnums():
    with pytest.raises(ValueError, match=r"^\[grad\] The function must return a scalar array"):
        mx.grad(lambda x: (x.sum(), x))(mx.array([1.0, 2.0]))
    value, g = mx.value_and_grad(lambda x: (x.sum(), x))(mx.array([1.0, 2.0]))
    assert value[0].item() == 3.0 and g.tolist() == [1.0, 1.0]
    f = lambda x, y: (x * y).sum()
    a, b = mx.array([1.0, 2.0]), mx.array([3.0, 4.0])
    for nums in ([0], (0,)):
        assert mx.grad(f, argnums=nums)(a, b).tolist() == [3.0, 4.0]
        assert mx.value_and_grad(f, argnums=nums)(a, b)[1].tolist() == [3.0, 4.0]
    ga, gb = mx.grad(f, argnums=[0, 1])(a, b)
    assert ga.tolist() == [3.0, 4.0] and gb.tolist() == [1.0, 2.0]


def test_changes_to_list_and_dict_arguments_reach_the_caller():
    def f(model, x):
        model[1] = x * 2
        return (model[0] * x).sum()

    first = mx.array([1.0, 2.0])
    model = [first, mx.array([0.0, 0.0])]
    g = mx.grad(f)(model, mx.array([3.0, 4.0]))
    assert g[0].tolist() == [3.0, 4.0] and g[1].tolist() == [0.0, 0.0]
    assert model[0] is first and model[1].tolist() == [6.0, 8.0]

    def h(state):
        state["b"] = state["a"] * 3
        del state["c"]
        return state["a"] * 2

    a, keep = mx.array(1.0), mx.array(5.0)
    state = {"a": a, "c": mx.array(0.0), "k": keep}
    g = mx.grad(h)(state)
    assert g["a"].item() == 2.0
    assert sorted(state) == ["a", "b", "k"] and state["a"] is a and state["k"] is keep
    assert state["b"].item() == 3.0
    # Lists inside a tuple argument are updated in place as well.
    inner = [mx.array(1.0)]

    def t(pair):
        pair[0].append(pair[1] + 1)
        return pair[1] * 4

    assert mx.grad(t)((inner, mx.array(2.0)))[1].item() == 4.0
    assert len(inner) == 2 and inner[1].item() == 3.0
