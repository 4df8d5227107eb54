"""vmap of the random primitives (RandomBits, RandomNormal) and of mx.fast's fused primitives
(RMSNorm, LayerNorm, RoPE, and the norms' fused backward NormVJP), checked against a loop over the examples.

Random: a batch of keys gives, bit for bit, what each key gives alone; a function that draws
from the global key (no key given) draws once, so every example sees the same sample, as in MLX.
Fast: parameters (weight, bias, freqs) shared by all examples or one per example, batch axes
among the rows, on the feature/position axes and negative, vmap of the vjp and jvp."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy
from vmap_support import check_vmap, loop_vmap

VMAP_COVERED = {"RandomBits", "RandomNormal", "RMSNorm", "LayerNorm", "RoPE", "NormVJP"}

B = 4


def keys(n=B, seed=0):
    return mx.random.split(mx.random.key(seed), n)


# ---- random: a batch of keys ----

DRAWS = {
    "bits": lambda k: mx.random.bits((3, 2), key=k),
    "bits_width1": lambda k: mx.random.bits((5,), width=1, key=k),
    "bits_width2": lambda k: mx.random.bits((3,), width=2, key=k),
    "uniform": lambda k: mx.random.uniform(shape=(3,), key=k),
    "uniform_f64": lambda k: mx.random.uniform(shape=(2, 3), dtype=mx.float64, key=k),
    "uniform_f16": lambda k: mx.random.uniform(-1, 2, (3,), dtype=mx.float16, key=k),
    "uniform_bf16": lambda k: mx.random.uniform(shape=(3,), dtype=mx.bfloat16, key=k),
    "normal": lambda k: mx.random.normal((2, 3), key=k),
    "normal_loc_scale": lambda k: mx.random.normal((3,), loc=1.5, scale=0.5, key=k),
    "normal_f64": lambda k: mx.random.normal((3,), dtype=mx.float64, key=k),
    "normal_f16": lambda k: mx.random.normal((3,), dtype=mx.float16, key=k),
    "normal_bf16": lambda k: mx.random.normal((3,), dtype=mx.bfloat16, scale=2.0, key=k),
    "randint": lambda k: mx.random.randint(-5, 7, (4,), key=k),
    "bernoulli": lambda k: mx.random.bernoulli(0.3, (6,), key=k),
    "truncated_normal": lambda k: mx.random.truncated_normal(-1.0, 0.5, (3,), key=k),
    "gumbel": lambda k: mx.random.gumbel((3,), key=k),
    "laplace": lambda k: mx.random.laplace((3,), loc=0.5, scale=2.0, key=k),
    "split": lambda k: mx.random.split(k, 3),
    "split_then_draw": lambda k: mx.random.uniform(shape=(2,), key=mx.random.split(k)[1]),
    "empty": lambda k: mx.random.uniform(shape=(0, 3), key=k),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_batch_of_keys_equals_loop_bit_for_bit(name):
    ks = keys()
    check_vmap(DRAWS[name], ks, exact=True)
    # The batch of keys along the other axis: (2, B) with in_axes 1 and -1.
    check_vmap(DRAWS[name], ks.T, in_axes=1, exact=True)
    check_vmap(DRAWS[name], ks.T, in_axes=-1, exact=True)


@pytest.mark.parametrize("name", ["uniform", "normal", "bits", "split"])
def test_nested_vmap_over_a_grid_of_keys(name):
    grid = mx.reshape(mx.random.split(mx.random.key(3), 6), (2, 3, 2))
    got = mx.vmap(mx.vmap(DRAWS[name]))(grid)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(to_numpy(got[i, j]), to_numpy(DRAWS[name](grid[i, j])))
    check_vmap(mx.vmap(DRAWS[name], in_axes=0), mx.moveaxis(grid, 1, 0), in_axes=1, exact=True)


def test_keys_match_mlx():
    mlx = pytest.importorskip("mlx.core")
    ks = keys(5, seed=7)
    mks = mlx.random.split(mlx.random.key(7), 5)
    np.testing.assert_array_equal(to_numpy(ks), np.array(mks))
    for draw, mdraw in [
        (lambda k: mx.random.uniform(shape=(3,), key=k),
         lambda k: mlx.random.uniform(shape=(3,), key=k)),
        (lambda k: mx.random.normal((2, 2), key=k), lambda k: mlx.random.normal((2, 2), key=k)),
        (lambda k: mx.random.randint(0, 100, (3,), key=k),
         lambda k: mlx.random.randint(0, 100, (3,), key=k)),
    ]:
        np.testing.assert_array_equal(to_numpy(mx.vmap(draw)(ks)), np.array(mlx.vmap(mdraw)(mks)))


def test_global_key_draws_once_for_all_examples():
    # No key: the draw does not depend on a mapped input, so it is made once and every example
    # sees the same sample (MLX's behaviour; a Python loop would draw B different ones).
    mx.random.seed(11)
    x = mx.zeros((B, 3))
    out = to_numpy(mx.vmap(lambda r: r + mx.random.uniform(shape=(3,)))(x))
    assert out.shape == (B, 3)
    for b in range(1, B):
        np.testing.assert_array_equal(out[b], out[0])
    assert len(np.unique(out[0])) == 3
    mlx = pytest.importorskip("mlx.core")
    mout = np.array(mlx.vmap(lambda r: r + mlx.random.uniform(shape=(3,)))(mlx.zeros((B, 3))))
    assert all(np.array_equal(mout[b], mout[0]) for b in range(B))
    # The same with an explicit unbatched key: in_axes None for the key.
    k = mx.random.key(5)
    got = mx.vmap(lambda r, key: r + mx.random.normal((3,), key=key), in_axes=(0, None))(x, k)
    np.testing.assert_array_equal(to_numpy(got),
                                  np.broadcast_to(to_numpy(mx.random.normal((3,), key=k)), (B, 3)))


@pytest.mark.parametrize("in_axes", [(0, 0), (1, 0), (0, None), (None, 0)], ids=str)
def test_noise_mixed_with_batched_data(in_axes):
    x = mx.array(np.random.default_rng(0).standard_normal((B, 3)).astype(np.float32))
    if in_axes[0] == 1:
        x = x.T
    ks = keys(B, seed=2) if in_axes[1] == 0 else mx.random.key(2)
    if in_axes[0] is None:
        x = x[0]
    f = lambda r, k: r * mx.random.normal((3,), key=k) + mx.random.uniform(-r, 1.0, (3,), key=k)
    check_vmap(f, x, ks, in_axes=in_axes, exact=True)


def test_uniform_with_batched_bounds():
    lo = mx.array([-1.0, 0.0, 0.5, 2.0])
    hi = mx.array([0.0, 1.0, 3.0, 2.5])
    check_vmap(lambda a, b, k: mx.random.uniform(a, b, (3,), key=k), lo, hi, keys(),
               exact=True)
    check_vmap(lambda a, b: mx.random.uniform(a, b, (3,), key=mx.random.key(1)), lo, hi,
               exact=True)


def test_vmap_of_grad_and_jvp_through_noise():
    # Per-example gradients of a noisy loss: d/dx sum((x * n)^2) = 2 x n^2 with n per key.
    ks = keys()
    x = mx.array(np.random.default_rng(1).standard_normal((B, 3)).astype(np.float32))
    loss = lambda r, k: mx.sum((r * mx.random.normal((3,), key=k)) ** 2)
    check_vmap(mx.grad(loss), x, ks, exact=False)
    noise = to_numpy(mx.vmap(lambda k: mx.random.normal((3,), key=k))(ks))
    np.testing.assert_allclose(to_numpy(mx.vmap(mx.grad(loss))(x, ks)),
                               2 * to_numpy(x) * noise ** 2, rtol=1e-5)
    f = lambda r, k: r * mx.random.uniform(shape=(3,), key=k)
    t = mx.ones((3,))
    check_vmap(lambda r, k: mx.jvp(lambda y: f(y, k), [r], [t])[1][0], x, ks)
    # The tangent of the bits themselves is zero (integer output).
    check_vmap(lambda k: mx.jvp(lambda y: y + mx.random.normal((3,), key=k), [t], [t])[1][0],
               ks)


# ---- fast: rms_norm, layer_norm ----

FLOATS = [mx.float32, mx.float64]


def tol(dtype):
    return {mx.float32: dict(rtol=1e-5, atol=1e-6), mx.float64: dict(rtol=1e-12, atol=1e-12),
            mx.float16: dict(rtol=2e-3, atol=2e-3), mx.bfloat16: dict(rtol=2e-2, atol=2e-2)}[dtype]


def data(shape, dtype=mx.float32, seed=0):
    return mx.array(np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


D = 6
# (x's batch axis, the parameters' batch axis), None: shared by all examples. x's examples are
# (2, 5, D): axis 0 and 1 stay among the rows, -1 (the feature axis) moves.
NORM_AXES = [(0, None), (1, None), (-1, None), (2, None), (0, 0), (-1, 1), (None, 0), (1, -1)]


def norm_inputs(x_axis, p_axis, dtype, nparams, seed=0):
    x = (data((2, 5, D), dtype, seed) if x_axis is None
         else mx.moveaxis(data((B, 2, 5, D), dtype, seed), 0, x_axis))
    params = []
    for i in range(nparams):
        if p_axis is None:
            params.append(data((D,), dtype, seed + 1 + i))
        else:
            params.append(mx.moveaxis(data((B, D), dtype, seed + 1 + i), 0, p_axis))
    return x, params


@pytest.mark.parametrize("dtype", FLOATS + [mx.float16, mx.bfloat16])
@pytest.mark.parametrize("axes", NORM_AXES, ids=str)
def test_rms_norm(axes, dtype):
    x_axis, w_axis = axes
    x, (w,) = norm_inputs(x_axis, w_axis, dtype, 1)
    check_vmap(lambda a, b: mx.fast.rms_norm(a, b, 1e-5), x, w, in_axes=axes, **tol(dtype))
    if w_axis is None and x_axis is not None:
        check_vmap(lambda a: mx.fast.rms_norm(a, None, 1e-3), x, in_axes=x_axis, **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS + [mx.float16, mx.bfloat16])
@pytest.mark.parametrize("axes", NORM_AXES, ids=str)
@pytest.mark.parametrize("which", ["weight_bias", "weight", "bias", "none"])
def test_layer_norm(axes, which, dtype):
    x_axis, p_axis = axes
    x, (w, b) = norm_inputs(x_axis, p_axis, dtype, 2, seed=3)
    if which == "weight_bias":
        check_vmap(lambda a, u, v: mx.fast.layer_norm(a, u, v, 1e-5), x, w, b,
                   in_axes=(x_axis, p_axis, p_axis), **tol(dtype))
        # Only one of the two per example.
        if p_axis is not None and x_axis is not None:
            shared = data((D,), dtype, 4)
            check_vmap(lambda a, u, v: mx.fast.layer_norm(a, u, v, 1e-5), x, w, shared,
                       in_axes=(x_axis, p_axis, None), **tol(dtype))
            check_vmap(lambda a, u, v: mx.fast.layer_norm(a, u, v, 1e-5), x, shared, b,
                       in_axes=(x_axis, None, p_axis), **tol(dtype))
    elif which == "weight":
        check_vmap(lambda a, u: mx.fast.layer_norm(a, u, None, 1e-5), x, w,
                   in_axes=(x_axis, p_axis), **tol(dtype))
    elif which == "bias":
        check_vmap(lambda a, v: mx.fast.layer_norm(a, None, v, 1e-5), x, b,
                   in_axes=(x_axis, p_axis), **tol(dtype))
    elif x_axis is None:
        with pytest.raises(ValueError, match="At least one input must be mapped"):
            mx.vmap(lambda a: mx.fast.layer_norm(a, None, None, 1e-5), in_axes=None)(x)
    else:
        check_vmap(lambda a: mx.fast.layer_norm(a, None, None, 1e-5), x, in_axes=x_axis,
                   **tol(dtype))


def test_norms_on_non_contiguous_inputs():
    x = data((D, 5, B), mx.float32, 5)  # batch last; the examples (D, 5) transposed inside
    w = data((D, B), mx.float32, 6)[:, ::-1]
    check_vmap(lambda a, u: mx.fast.rms_norm(a.T, u, 1e-5), x, w, in_axes=(-1, 1))
    check_vmap(lambda a, u: mx.fast.layer_norm(a.T, u, u, 1e-5), x[::-1], w, in_axes=(-1, 1))


@pytest.mark.parametrize("axes", [(0, None), (0, 0), (-1, 0), (None, 0)], ids=str)
def test_norms_vmap_of_grad_and_jvp(axes):
    x_axis, p_axis = axes
    for dtype in FLOATS:
        x, (w, b) = norm_inputs(x_axis, p_axis, dtype, 2, seed=7)
        ct = data((2, 5, D), dtype, 9)
        rms = lambda a, u: (mx.fast.rms_norm(a, u, 1e-5) * ct).sum()
        ln = lambda a, u, v: (mx.fast.layer_norm(a, u, v, 1e-5) * ct).sum()
        check_vmap(mx.grad(rms, argnums=(0, 1)), x, w, in_axes=axes, **tol(dtype))
        check_vmap(mx.grad(ln, argnums=(0, 1, 2)), x, w, b, in_axes=(x_axis, p_axis, p_axis),
                   **tol(dtype))
        x0, (w0, b0) = norm_inputs(None, None, dtype, 2, seed=10)
        tx = data((B, 2, 5, D), dtype, 11)
        tw = data((B, D), dtype, 12)
        check_vmap(lambda s, t: mx.jvp(rms, [x0, w0], [s, t])[1][0], tx, tw, **tol(dtype))
        check_vmap(lambda s, t: mx.jvp(ln, [x0, w0, b0], [s, t, t])[1][0], tx, tw, **tol(dtype))


# The fused backward (NormVJP): per-example dw/db are sums over each example's own rows.
@pytest.mark.parametrize("dtype", FLOATS + [mx.float16])
@pytest.mark.parametrize("x_axis,p_axis", [(0, None), (1, None), (-1, None), (0, 0), (-1, 0),
                                            (None, 0)], ids=str)
def test_norm_vjp_per_example_gradients(dtype, x_axis, p_axis):
    x, (w, b) = norm_inputs(x_axis, p_axis, dtype, 2, seed=13)
    ct = data((2, 5, D), dtype, 14)
    rms = lambda a, u: (mx.fast.rms_norm(a, u, 1e-4) * ct).sum()
    ln = lambda a, u, v: (mx.fast.layer_norm(a, u, v, 1e-4) * ct).sum()
    ln_b = lambda a, v: (mx.fast.layer_norm(a, None, v, 1e-4) * ct).sum()
    t = tol(dtype)
    for argnums in [(0, 1), 1, 0]:
        check_vmap(mx.grad(rms, argnums=argnums), x, w, in_axes=(x_axis, p_axis), **t)
    for argnums in [(0, 1, 2), (1, 2), 2, 1]:
        check_vmap(mx.grad(ln, argnums=argnums), x, w, b, in_axes=(x_axis, p_axis, p_axis), **t)
    check_vmap(mx.grad(ln_b, argnums=(0, 1)), x, b, in_axes=(x_axis, p_axis), **t)


@pytest.mark.parametrize("dtype", FLOATS)
def test_norm_vjp_batched_cotangents_and_nesting(dtype):
    t = tol(dtype)
    x0, (w0, b0) = norm_inputs(None, None, dtype, 2, seed=15)
    cts = data((B, 2, 5, D), dtype, 16)
    ln = lambda a, u, v: [mx.fast.layer_norm(a, u, v, 1e-5)]
    rms = lambda a, u: [mx.fast.rms_norm(a, u, 1e-5)]
    # Only the cotangent batched (rows of a Jacobian): x is shared by every example.
    check_vmap(lambda c: mx.vjp(ln, [x0, w0, b0], [c])[1], cts, **t)
    check_vmap(lambda c: mx.vjp(rms, [x0, w0], [c])[1], cts, **t)
    # Nested: a grid of examples, the weights shared, per one axis, or per both.
    xs = data((3, B, 2, 5, D), dtype, 17)
    ws = data((3, B, D), dtype, 18)
    loss = lambda a, u, v: (mx.fast.layer_norm(a, u, v, 1e-5) * x0).sum()
    g = mx.grad(loss, argnums=(0, 1, 2))
    check_vmap(lambda a: mx.vmap(lambda e: g(e, w0, b0))(a), xs, **t)
    check_vmap(lambda a, u: mx.vmap(lambda e, f: g(e, f, b0))(a, u), xs, ws, **t)
    check_vmap(lambda a, u: mx.vmap(lambda e: g(e, u, u))(a), xs, ws[:, 0], **t)
    # A derivative of the per-example gradient (the batched backward differentiated again).
    gw = lambda a, u: (mx.grad(loss, argnums=1)(a, u, b0) ** 2).sum()
    check_vmap(mx.grad(gw, argnums=(0, 1)), xs[0], w0, in_axes=(0, None), **t)


# ---- fast: rope ----

ROPE_VARIANTS = {
    "base": dict(dims=8, traditional=False, base=10000.0, scale=1.0, offset=0),
    "traditional": dict(dims=8, traditional=True, base=10000.0, scale=1.0, offset=0),
    "partial_offset_scale": dict(dims=4, traditional=False, base=500.0, scale=0.5, offset=3),
    "partial_traditional": dict(dims=6, traditional=True, base=100.0, scale=2.0, offset=7),
}
# x's examples are (2, 5, 8): axes 0, 1 stay among the rows, 2 (positions) and 3 (features) move.
ROPE_AXES = [0, 1, 2, 3, -1, -2]


@pytest.mark.parametrize("variant", sorted(ROPE_VARIANTS))
@pytest.mark.parametrize("axis", ROPE_AXES)
@pytest.mark.parametrize("dtype", FLOATS + [mx.float16, mx.bfloat16])
def test_rope(variant, axis, dtype):
    kw = ROPE_VARIANTS[variant]
    x = mx.moveaxis(data((B, 2, 5, 8), dtype, 13), 0, axis)
    check_vmap(lambda a: mx.fast.rope(a, **kw), x, in_axes=axis, **tol(dtype))


def freqs_like(variant, n=None, seed=14):
    half = ROPE_VARIANTS[variant]["dims"] // 2
    shape = (half,) if n is None else (n, half)
    return mx.array(1.0 + 30 * np.random.default_rng(seed).random(shape).astype(np.float32))


@pytest.mark.parametrize("variant", sorted(ROPE_VARIANTS))
@pytest.mark.parametrize("axes", [(0, None), (2, None), (0, 0), (3, 0), (1, -1), (None, 0)],
                         ids=str)
@pytest.mark.parametrize("dtype", FLOATS + [mx.float16])
def test_rope_with_freqs(variant, axes, dtype):
    kw = dict(ROPE_VARIANTS[variant])
    kw["base"] = None
    x_axis, f_axis = axes
    x = (data((2, 5, 8), dtype, 15) if x_axis is None
         else mx.moveaxis(data((B, 2, 5, 8), dtype, 15), 0, x_axis))
    f = freqs_like(variant) if f_axis is None else mx.moveaxis(freqs_like(variant, B), 0, f_axis)
    check_vmap(lambda a, g: mx.fast.rope(a, freqs=g, **kw), x, f, in_axes=axes, **tol(dtype))


@pytest.mark.parametrize("variant", sorted(ROPE_VARIANTS))
@pytest.mark.parametrize("with_freqs", [None, "shared", "per_example"])
def test_rope_vmap_of_grad_and_jvp(variant, with_freqs):
    # The vjp is the inverse rotation (RoPE with inverse set): vmap(grad) runs its rule.
    kw = dict(ROPE_VARIANTS[variant])
    ct = data((2, 5, 8), mx.float32, 16)
    x = data((B, 2, 5, 8), mx.float32, 17)
    if with_freqs is None:
        f = lambda a: (mx.fast.rope(a, **kw) * ct).sum()
        check_vmap(mx.grad(f), x)
        check_vmap(mx.grad(f), mx.moveaxis(x, 0, 2), in_axes=2)
        check_vmap(lambda t: mx.jvp(f, [x[0]], [t])[1][0], x)
        return
    kw["base"] = None
    g = lambda a, q: (mx.fast.rope(a, freqs=q, **kw) * ct).sum()
    q = freqs_like(variant, B) if with_freqs == "per_example" else freqs_like(variant)
    q_axis = 0 if with_freqs == "per_example" else None
    check_vmap(mx.grad(g), x, q, in_axes=(0, q_axis))
    check_vmap(lambda a, t, r: mx.jvp(lambda y: g(y, r), [a], [t])[1][0], x, x[::-1], q,
               in_axes=(0, 0, q_axis))


def test_rope_nested_vmap():
    x = data((3, B, 2, 5, 8), mx.float32, 18)
    kw = ROPE_VARIANTS["partial_offset_scale"]
    got = mx.vmap(mx.vmap(lambda a: mx.fast.rope(a, **kw)), in_axes=1)(x)
    want = loop_vmap(lambda y: loop_vmap(lambda a: mx.fast.rope(a, **kw), [y])[0], [x], in_axes=1)
    np.testing.assert_allclose(to_numpy(got), to_numpy(want[0]), rtol=1e-6, atol=1e-6)
    f = freqs_like("base", 3)
    kw = dict(ROPE_VARIANTS["base"], base=None)
    got = mx.vmap(mx.vmap(lambda a, q: mx.fast.rope(a, freqs=q, **kw), in_axes=(0, None)))(x, f)
    want = loop_vmap(lambda y, q: loop_vmap(lambda a: mx.fast.rope(a, freqs=q, **kw), [y])[0],
                     [x, f])
    np.testing.assert_allclose(to_numpy(got), to_numpy(want[0]), rtol=1e-5, atol=1e-5)
