"""mx.fast: rms_norm, layer_norm, rope and scaled_dot_product_attention against NumPy references
(and MLX where installed); every derivative (vjp and jvp) against central finite differences of
the float64 op itself and against the derivative of the unfused composition; bad arguments.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import pullback.core as mx

try:
    import mlx.core as mlxc
except ImportError:  # pragma: no cover
    mlxc = None

RNG = np.random.default_rng(0)


def npa(a):
    return np.array(a.astype(mx.float32) if a.dtype in (mx.float16, mx.bfloat16) else a)


# ---- NumPy references (float64) ----

def ref_rms(x, w, eps):
    x = np.asarray(x, np.float64)
    y = x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps)
    return y if w is None else y * w


def ref_ln(x, w, b, eps):
    x = np.asarray(x, np.float64)
    xc = x - x.mean(-1, keepdims=True)
    y = xc / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def ref_rope(x, dims, traditional, base, scale, offset, freqs=None):
    x = np.asarray(x, np.float64)
    half = dims // 2
    inv = 1.0 / np.asarray(freqs, np.float64) if freqs is not None else \
        base ** (-np.arange(half) * 2.0 / dims)
    pos = offset + np.arange(x.shape[-2])
    th = (pos[:, None] * scale) * inv[None, :]
    c, s = np.cos(th), np.sin(th)
    y = x.copy()
    if traditional:
        x1, x2 = x[..., 0:dims:2], x[..., 1:dims:2]
        y[..., 0:dims:2] = x1 * c - x2 * s
        y[..., 1:dims:2] = x1 * s + x2 * c
    else:
        x1, x2 = x[..., :half], x[..., half:dims]
        y[..., :half] = x1 * c - x2 * s
        y[..., half:dims] = x1 * s + x2 * c
    return y


def ref_sdpa(q, k, v, scale, mask=None, sinks=None):
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    rep = q.shape[1] // k.shape[1]
    k = np.repeat(k, rep, axis=1)
    v = np.repeat(v, rep, axis=1)
    s = q @ np.swapaxes(k, -1, -2) * scale
    if isinstance(mask, str):
        tq, tk = s.shape[-2:]
        allowed = np.arange(tk)[None, :] <= np.arange(tq)[:, None] + (tk - tq)
        s = np.where(allowed, s, -np.inf)
    elif mask is not None and mask.dtype == np.bool_:
        s = np.where(mask, s, -np.inf)
    elif mask is not None:
        s = s + mask
    if sinks is not None:
        sk = np.broadcast_to(np.asarray(sinks, np.float64)[None, :, None, None],
                             s.shape[:-1] + (1,))
        s = np.concatenate([sk, s], -1)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - m)
    p = p / p.sum(-1, keepdims=True)
    if sinks is not None:
        p = p[..., 1:]
    return p @ v


def views(a, dtype=mx.float32):
    """The same values as a contiguous array, a transposed view and a reversed view."""
    t = mx.swapaxes(mx.array(np.ascontiguousarray(np.swapaxes(a, -1, -2)), dtype), -1, -2)
    r = mx.array(np.ascontiguousarray(a[..., ::-1]), dtype)[..., ::-1]
    return [mx.array(a, dtype), t, r]


# ---- values ----

@pytest.mark.parametrize("dtype,tol", [(mx.float32, 2e-5), (mx.float64, 1e-12),
                                       (mx.float16, 3e-3), (mx.bfloat16, 2e-2)])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 5, 33), (4, 4096), (0, 8)])
def test_norm_values(dtype, tol, shape):
    x = RNG.standard_normal(shape) * 3 + 1
    w = RNG.standard_normal(shape[-1])
    b = RNG.standard_normal(shape[-1])
    xa, wa, ba = (mx.array(a).astype(dtype) for a in (x, w, b))
    xr, wr, br = (npa(a).astype(np.float64) for a in (xa, wa, ba))
    for weight in (None, wa):
        wref = None if weight is None else wr
        y = mx.fast.rms_norm(xa, weight, 1e-5)
        assert y.dtype == dtype and y.shape == shape
        np.testing.assert_allclose(npa(y), ref_rms(xr, wref, 1e-5), rtol=tol, atol=tol)
        for bias in (None, ba):
            bref = None if bias is None else br
            y = mx.fast.layer_norm(xa, weight, bias, 1e-5)
            assert y.dtype == dtype
            np.testing.assert_allclose(npa(y), ref_ln(xr, wref, bref, 1e-5), rtol=tol,
                                       atol=tol * 4)


def test_norm_noncontiguous_and_promotion():
    a = RNG.standard_normal((6, 9))
    w = RNG.standard_normal(6)
    for xt in views(a.T.copy()):
        np.testing.assert_allclose(np.array(mx.fast.rms_norm(xt, mx.array(w, mx.float32), 1e-6)),
                                   ref_rms(np.array(xt), w, 1e-6), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.array(mx.fast.layer_norm(xt, None, None, 1e-6)),
                                   ref_ln(np.array(xt), None, None, 1e-6), rtol=1e-5, atol=1e-5)
    # float16 x with float32 weight gives float32 (MLX's promotion).
    y = mx.fast.rms_norm(mx.ones((2, 3), mx.float16), mx.ones((3,)), 1e-5)
    assert y.dtype == mx.float32


@pytest.mark.parametrize("traditional", [False, True])
@pytest.mark.parametrize("dims,d", [(8, 8), (4, 10), (16, 16)])
@pytest.mark.parametrize("offset,scale", [(0, 1.0), (5, 0.5)])
def test_rope_values(traditional, dims, d, offset, scale):
    a = RNG.standard_normal((2, 3, 7, d))
    for x in views(a):
        y = mx.fast.rope(x, dims, traditional=traditional, base=10000.0, scale=scale,
                         offset=offset)
        np.testing.assert_allclose(np.array(y), ref_rope(a, dims, traditional, 10000.0, scale,
                                                         offset), rtol=1e-5, atol=1e-5)
    freqs = RNG.uniform(1, 100, dims // 2)
    y = mx.fast.rope(mx.array(a), dims, traditional=traditional, base=None, scale=scale,
                     offset=offset, freqs=mx.array(freqs))
    np.testing.assert_allclose(np.array(y), ref_rope(a, dims, traditional, None, scale, offset,
                                                     freqs), rtol=1e-5, atol=1e-5)
    # offset as an integer scalar array, and float16
    y = mx.fast.rope(mx.array(a).astype(mx.float16), dims, traditional=traditional,
                     base=10000.0, scale=scale, offset=mx.array(offset))
    assert y.dtype == mx.float16
    np.testing.assert_allclose(npa(y), ref_rope(a, dims, traditional, 10000.0, scale, offset),
                               rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("heads,kv_heads", [(4, 4), (4, 2), (6, 1)])
@pytest.mark.parametrize("tq,tk", [(5, 5), (3, 7), (1, 9)])
@pytest.mark.parametrize("mask", [None, "causal", "bool", "additive", "sinks"])
def test_sdpa_values(heads, kv_heads, tq, tk, mask):
    q = RNG.standard_normal((2, heads, tq, 8))
    k = RNG.standard_normal((2, kv_heads, tk, 8))
    v = RNG.standard_normal((2, kv_heads, tk, 6))
    scale = 8 ** -0.5
    m, mref, sinks = None, None, None
    if mask == "causal":
        m = mref = "causal"
    elif mask == "bool":
        mref = RNG.uniform(size=(tq, tk)) < 0.7
        mref[:, 0] = True
        m = mx.array(mref)
    elif mask == "additive":
        mref = RNG.standard_normal((heads, 1, tk))
        m = mx.array(mref, mx.float32)
    elif mask == "sinks":
        sinks = RNG.standard_normal(heads)
    y = mx.fast.scaled_dot_product_attention(
        mx.array(q, mx.float32), mx.array(k, mx.float32), mx.array(v, mx.float32), scale=scale,
        mask=m, sinks=None if sinks is None else mx.array(sinks, mx.float32))
    np.testing.assert_allclose(np.array(y), ref_sdpa(q, k, v, scale, mref, sinks), rtol=1e-4,
                               atol=1e-5)
    if mlxc is not None and mask != "sinks":
        mm = m if not isinstance(m, mx.array) else mlxc.array(np.array(m))
        ym = mlxc.fast.scaled_dot_product_attention(
            mlxc.array(q, mlxc.float32), mlxc.array(k, mlxc.float32),
            mlxc.array(v, mlxc.float32), scale=scale, mask=mm)
        np.testing.assert_allclose(np.array(y), np.array(ym), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [mx.float32, mx.float64])
@pytest.mark.parametrize("mask", [None, "causal", "causal_additive"])
def test_sdpa_of_strided_heads(dtype, mask):
    # q, k, v as nn.MultiHeadAttention hands them over: (B, L, H, D) transposed to (B, H, L, D),
    # rows H * D apart; k also broadcast along the batch; the cotangent arrives strided through
    # the output's transpose: the same values as from contiguous copies.
    b, h, kvh, lq, lk, d = 2, 4, 2, 33, 40, 8
    q = RNG.standard_normal((b, lq, h, d))
    k = RNG.standard_normal((1, lk, kvh, d))
    v = RNG.standard_normal((b, lk, kvh, d))
    ct = RNG.standard_normal((b, lq, h, d))
    m = mask
    if mask == "causal_additive":
        m = mx.array(np.triu(np.full((lq, lk), -np.inf), lk - lq + 1), dtype)

    def f(q, k, v):
        k = mx.broadcast_to(k, (b,) + k.shape[1:])
        out = mx.fast.scaled_dot_product_attention(
            *(mx.transpose(x, (0, 2, 1, 3)) for x in (q, k, v)), scale=0.5, mask=m)
        return mx.transpose(out, (0, 2, 1, 3))

    def f_copied(q, k, v):
        k = mx.broadcast_to(k, (b,) + k.shape[1:])
        heads = [mx.contiguous(mx.transpose(x, (0, 2, 1, 3))) for x in (q, k, v)]
        out = mx.fast.scaled_dot_product_attention(*heads, scale=0.5, mask=m)
        return mx.contiguous(mx.transpose(out, (0, 2, 1, 3)))

    args = [mx.array(x, dtype) for x in (q, k, v)]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == mx.float32 else dict(rtol=1e-12, atol=1e-13)
    ref = np.transpose(ref_sdpa(*(np.transpose(np.broadcast_to(x, (b,) + x.shape[1:]),
                                               (0, 2, 1, 3)) for x in (q, k, v)), 0.5,
                                "causal" if mask else None), (0, 2, 1, 3))
    np.testing.assert_allclose(np.array(f(*args)), ref, **tol)
    np.testing.assert_allclose(np.array(f(*args)), np.array(f_copied(*args)), **tol)
    _, grads = mx.vjp(f, args, [mx.array(ct, dtype)])
    _, copied = mx.vjp(f_copied, args, [mx.array(ct, dtype)])
    for g, c in zip(grads, copied):
        assert float(mx.max(mx.abs(c))) > 0.1
        np.testing.assert_allclose(np.array(g), np.array(c), **tol)


def test_sdpa_half_precision():
    q = RNG.standard_normal((1, 2, 4, 8))
    y = mx.fast.scaled_dot_product_attention(*(mx.array(q).astype(mx.bfloat16),) * 3, scale=0.3)
    assert y.dtype == mx.bfloat16
    np.testing.assert_allclose(npa(y), ref_sdpa(q, q, q, 0.3), rtol=3e-2, atol=3e-2)


@pytest.mark.skipif(mlxc is None, reason="MLX not installed")
def test_against_mlx():
    x = RNG.standard_normal((3, 4, 5, 16)).astype(np.float32)
    w = RNG.standard_normal(16).astype(np.float32)
    b = RNG.standard_normal(16).astype(np.float32)
    np.testing.assert_allclose(np.array(mx.fast.rms_norm(mx.array(x), mx.array(w), 1e-5)),
                               np.array(mlxc.fast.rms_norm(mlxc.array(x), mlxc.array(w), 1e-5)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        np.array(mx.fast.layer_norm(mx.array(x), mx.array(w), mx.array(b), 1e-5)),
        np.array(mlxc.fast.layer_norm(mlxc.array(x), mlxc.array(w), mlxc.array(b), 1e-5)),
        rtol=1e-5, atol=1e-5)
    for trad in (False, True):
        kw = dict(traditional=trad, base=500.0, scale=0.7, offset=3)
        np.testing.assert_allclose(np.array(mx.fast.rope(mx.array(x), 12, **kw)),
                                   np.array(mlxc.fast.rope(mlxc.array(x), 12, **kw)),
                                   rtol=1e-5, atol=1e-5)


# ---- derivatives ----

def A(a):
    """A float64 array: derivatives are checked in double precision."""
    return mx.array(np.asarray(a, np.float64), mx.float64)


def fd_vjp(f, args, ct, i, h=1e-6):
    """Central differences of <f(args), ct> with respect to args[i] (float64 NumPy arrays)."""
    g = np.zeros_like(args[i])
    flat = g.reshape(-1)
    for j in range(flat.size):
        plus = [a.copy() for a in args]
        minus = [a.copy() for a in args]
        plus[i].reshape(-1)[j] += h
        minus[i].reshape(-1)[j] -= h
        fp = np.array(f(*[A(a) for a in plus]))
        fm = np.array(f(*[A(a) for a in minus]))
        flat[j] = np.sum((fp - fm) * ct) / (2 * h)
    return g


def fd_jvp(f, args, tangents, h=1e-6):
    plus = [A(a + h * t) for a, t in zip(args, tangents)]
    minus = [A(a - h * t) for a, t in zip(args, tangents)]
    return (np.array(f(*plus)) - np.array(f(*minus))) / (2 * h)


def check_derivatives(f, unfused, args, noncontig_arg0=True):
    args = [np.asarray(a, np.float64) for a in args]
    out = np.array(f(*[A(a) for a in args]))
    ct = RNG.standard_normal(out.shape)
    inputs = [A(a) for a in args]
    if noncontig_arg0 and args[0].ndim >= 2:
        inputs[0] = views(args[0], mx.float64)[1]
    _, grads = mx.vjp(f, inputs, [A(ct)])
    _, ugrads = mx.vjp(unfused, [A(a) for a in args], [A(ct)])
    for i in range(len(args)):
        expected = fd_vjp(f, args, ct, i)
        np.testing.assert_allclose(np.array(grads[i]), expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.array(grads[i]), np.array(ugrads[i]), rtol=1e-9,
                                   atol=1e-10)
    tangents = [RNG.standard_normal(a.shape) for a in args]
    _, jv = mx.jvp(f, inputs, [A(t) for t in tangents])
    _, ujv = mx.jvp(unfused, [A(a) for a in args], [A(t) for t in tangents])
    np.testing.assert_allclose(np.array(jv[0]), fd_jvp(f, args, tangents), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.array(jv[0]), np.array(ujv[0]), rtol=1e-9, atol=1e-10)


def rms_unfused(x, w, eps=1e-5):
    return x * mx.rsqrt(mx.mean(x * x, -1, keepdims=True) + eps) * w


def ln_unfused(x, w, b, eps=1e-5):
    xc = x - mx.mean(x, -1, keepdims=True)
    return xc * mx.rsqrt(mx.mean(xc * xc, -1, keepdims=True) + eps) * w + b


def test_rms_norm_derivatives():
    x, w = RNG.standard_normal((3, 5)), RNG.standard_normal(5)
    check_derivatives(lambda x, w: mx.fast.rms_norm(x, w, 1e-5), rms_unfused, [x, w])
    check_derivatives(lambda x: mx.fast.rms_norm(x, None, 1e-5),
                      lambda x: rms_unfused(x, 1.0), [x])


def test_layer_norm_derivatives():
    x, w, b = RNG.standard_normal((2, 2, 6)), RNG.standard_normal(6), RNG.standard_normal(6)
    check_derivatives(lambda x, w, b: mx.fast.layer_norm(x, w, b, 1e-5), ln_unfused, [x, w, b])
    check_derivatives(lambda x, b: mx.fast.layer_norm(x, None, b, 1e-5),
                      lambda x, b: ln_unfused(x, 1.0, b), [x, b])
    check_derivatives(lambda x: mx.fast.layer_norm(x, None, None, 1e-5),
                      lambda x: ln_unfused(x, 1.0, 0.0), [x])


@pytest.mark.parametrize("argnum", [0, 1, 2])
def test_layer_norm_one_argument(argnum):
    """Derivatives with respect to one input alone (the others constant) match the unfused ones."""
    args = [A(RNG.standard_normal(s)) for s in ((3, 4), (4,), (4,))]
    loss = lambda f: (lambda *a: mx.sum(mx.sin(f(*a))))
    g = mx.grad(loss(lambda x, w, b: mx.fast.layer_norm(x, w, b, 1e-5)), argnums=argnum)(*args)
    u = mx.grad(loss(ln_unfused), argnums=argnum)(*args)
    np.testing.assert_allclose(np.array(g), np.array(u), rtol=1e-9, atol=1e-10)
    t = A(RNG.standard_normal(args[argnum].shape))

    def only(f):
        return lambda a: f(*[a if i == argnum else args[i] for i in range(3)])

    _, jf = mx.jvp(only(lambda x, w, b: mx.fast.layer_norm(x, w, b, 1e-5)), [args[argnum]], [t])
    _, ju = mx.jvp(only(ln_unfused), [args[argnum]], [t])
    np.testing.assert_allclose(np.array(jf[0]), np.array(ju[0]), rtol=1e-9, atol=1e-10)


def test_norm_second_derivative():
    x, w = RNG.standard_normal((2, 4)), RNG.standard_normal(4)
    f = lambda x: mx.sum(mx.sin(mx.fast.rms_norm(x, A(w), 1e-5)))
    u = lambda x: mx.sum(mx.sin(rms_unfused(x, A(w))))
    g2 = mx.grad(lambda x: mx.sum(mx.grad(f)(x)))(A(x))
    u2 = mx.grad(lambda x: mx.sum(mx.grad(u)(x)))(A(x))
    np.testing.assert_allclose(np.array(g2), np.array(u2), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("traditional", [False, True])
def test_rope_derivatives(traditional):
    x = RNG.standard_normal((1, 2, 3, 6))
    f = lambda x: mx.fast.rope(x, 4, traditional=traditional, base=100.0, scale=0.5, offset=2)
    args = [x]
    out = np.array(f(A(x)))
    ct = RNG.standard_normal(out.shape)
    for inp in views(x, mx.float64):
        _, g = mx.vjp(f, [inp], [A(ct)])
        np.testing.assert_allclose(np.array(g[0]), fd_vjp(f, args, ct, 0), rtol=1e-6, atol=1e-7)
        t = RNG.standard_normal(x.shape)
        _, jv = mx.jvp(f, [inp], [A(t)])
        np.testing.assert_allclose(np.array(jv[0]), fd_jvp(f, args, [t]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mask", [None, "causal", "additive"])
def test_sdpa_derivatives(mask):
    q = RNG.standard_normal((1, 4, 3, 4))
    k = RNG.standard_normal((1, 2, 5, 4))
    v = RNG.standard_normal((1, 2, 5, 3))
    m = A(RNG.standard_normal((3, 5))) if mask == "additive" else mask
    f = lambda q, k, v: mx.fast.scaled_dot_product_attention(q, k, v, scale=0.5, mask=m)
    args = [q, k, v]
    out = np.array(f(*[A(a) for a in args]))
    ct = RNG.standard_normal(out.shape)
    inputs = [views(a, mx.float64)[1] for a in args]
    _, grads = mx.vjp(f, inputs, [A(ct)])
    for i in range(3):
        np.testing.assert_allclose(np.array(grads[i]), fd_vjp(f, args, ct, i), rtol=1e-6,
                                   atol=1e-7)
    tangents = [RNG.standard_normal(a.shape) for a in args]
    _, jv = mx.jvp(f, inputs, [A(t) for t in tangents])
    np.testing.assert_allclose(np.array(jv[0]), fd_jvp(f, args, tangents), rtol=1e-6, atol=1e-7)


# ---- the fused backward of the norms (NormVJP) ----
# RMSNorm's and LayerNorm's vjp is one fused kernel; checked against the vjp of the unfused
# composition, against a NumPy reference of the backward, and against central differences.

NORM_PARAMS = {"rms": ["none", "w"], "ln": ["none", "w", "b", "wb"]}
NORM_CASES = [(k, p) for k in NORM_PARAMS for p in NORM_PARAMS[k]]


def norm_fns(kind, params, eps):
    """(fused, unfused) as functions of x and the parameters that `params` names. The primitive
    holds eps as a float32: the composition gets the same value."""
    has_w, has_b = "w" in params, "b" in params
    eps32 = float(np.float32(eps))

    def split(ps):
        ps = list(ps)
        w = ps.pop(0) if has_w else None
        b = ps.pop(0) if has_b else None
        return w, b

    def fused(x, *ps):
        w, b = split(ps)
        if kind == "rms":
            return mx.fast.rms_norm(x, w, eps)
        return mx.fast.layer_norm(x, w, b, eps)

    def unfused(x, *ps):
        w, b = split(ps)
        w = 1.0 if w is None else w
        if kind == "rms":
            return rms_unfused(x, w, eps32)
        return ln_unfused(x, w, 0.0 if b is None else b, eps32)

    return fused, unfused


def ref_norm_grads(kind, params, x, w, g, eps):
    """NumPy float64: the cotangents of x and of the parameters `params` names."""
    eps = float(np.float32(eps))
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    lead = tuple(range(x.ndim - 1))
    wv = np.ones(x.shape[-1]) if w is None else np.asarray(w, np.float64)
    h = g * wv
    if kind == "rms":
        r = 1 / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps)
        dx = r * h - x * r ** 3 * np.mean(h * x, -1, keepdims=True)
        dw = np.sum(g * x * r, lead)
        db = None
    else:
        xc = x - x.mean(-1, keepdims=True)
        r = 1 / np.sqrt(np.mean(xc * xc, -1, keepdims=True) + eps)
        xhat = xc * r
        dx = r * (h - h.mean(-1, keepdims=True) - xhat * np.mean(h * xhat, -1, keepdims=True))
        dw, db = np.sum(g * xhat, lead), np.sum(g, lead)
    return [dx] + ([dw] if "w" in params else []) + ([db] if "b" in params else [])


def as_tuple(grads):
    """grad's result as a tuple (argnums=(0,) gives the array alone)."""
    return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)


def norm_args(shape, params, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2 + 0.5
    ps = [rng.standard_normal(shape[-1]) for p in ("w", "b") if p in params]
    return x, ps, rng.standard_normal(shape)


@pytest.mark.parametrize("kind,params", NORM_CASES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("d", [1, 3, 16, 17, 1000, 4096])
def test_fused_norm_vjp_float64(kind, params, ndim, d):
    """Against the unfused composition's vjp, NumPy, and central differences along random
    directions (float64)."""
    shape = ((2, 3) if ndim == 3 else (3,) if ndim == 2 else ())[: ndim - 1] + (d,)
    x, ps, ct = norm_args(shape, params, d + ndim)
    for eps in (1e-5, 0.1):
        fused, unfused = norm_fns(kind, params, eps)
        args = [A(x)] + [A(p) for p in ps]
        _, got = mx.vjp(fused, args, [A(ct)])
        _, want = mx.vjp(unfused, args, [A(ct)])
        ref = ref_norm_grads(kind, params, x, ps[0] if "w" in params else None, ct, eps)
        for gi, wi, ri in zip(got, want, ref):
            assert gi.dtype == mx.float64 and gi.shape == wi.shape
            np.testing.assert_allclose(np.array(gi), np.array(wi), rtol=1e-9, atol=1e-10)
            np.testing.assert_allclose(np.array(gi), ri, rtol=1e-9, atol=1e-10)
        # <grad, v> against (f(p + h v) - f(p - h v)) . ct / 2h, for each input.
        rng = np.random.default_rng(d)
        nargs = [x] + ps
        for i, gi in enumerate(got):
            v = rng.standard_normal(nargs[i].shape)
            step = 1e-6
            plus = [A(a + step * v if j == i else a) for j, a in enumerate(nargs)]
            minus = [A(a - step * v if j == i else a) for j, a in enumerate(nargs)]
            fd = np.sum((np.array(fused(*plus)) - np.array(fused(*minus))) * ct) / (2 * step)
            np.testing.assert_allclose(np.sum(np.array(gi) * v), fd, rtol=1e-6,
                                       atol=1e-7 * np.sqrt(v.size))


@pytest.mark.parametrize("kind,params", NORM_CASES)
@pytest.mark.parametrize("dtype,tol", [(mx.float32, 2e-5), (mx.float16, 2e-2),
                                       (mx.bfloat16, 1e-1)])
@pytest.mark.parametrize("d", [3, 17, 1000])
def test_fused_norm_vjp_low_precision(kind, params, dtype, tol, d):
    """float32 and the half types (computed in float32) against float64 on the same rounded
    inputs; the cotangents keep the input's type."""
    x, ps, ct = norm_args((4, 5, d), params, d)
    fused, _ = norm_fns(kind, params, 1e-5)
    args = [mx.array(a).astype(dtype) for a in [x] + ps]
    cta = mx.array(ct).astype(dtype)
    _, got = mx.vjp(fused, args, [cta])
    r64 = [npa(a).astype(np.float64) for a in args + [cta]]
    ref = ref_norm_grads(kind, params, r64[0], r64[1] if "w" in params else None, r64[-1], 1e-5)
    for gi, ri in zip(got, ref):
        assert gi.dtype == dtype
        scale = np.max(np.abs(ri)) + 1
        np.testing.assert_allclose(npa(gi), ri, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("kind,params", NORM_CASES)
def test_fused_norm_vjp_non_contiguous(kind, params):
    """Transposed, sliced and reversed x and cotangent give the contiguous result exactly."""
    x, ps, ct = norm_args((6, 33), params, 1)
    fused, _ = norm_fns(kind, params, 1e-5)
    pa = [mx.array(p, mx.float32) for p in ps]
    _, base = mx.vjp(fused, [mx.array(x, mx.float32)] + pa, [mx.array(ct, mx.float32)])

    def variants(a):
        yield mx.array(np.ascontiguousarray(a.T), mx.float32).T  # transposed
        big = np.zeros((a.shape[0] * 2, a.shape[1] + 5))
        big[::2, 2:-3] = a
        yield mx.array(big, mx.float32)[::2, 2:-3]  # sliced
        yield mx.array(np.ascontiguousarray(a[::-1, ::-1]), mx.float32)[::-1, ::-1]  # reversed

    for xv in variants(x):
        for cv in variants(ct):
            _, got = mx.vjp(fused, [xv] + pa, [cv])
            for gi, bi in zip(got, base):
                np.testing.assert_array_equal(np.array(gi), np.array(bi))
    # A reversed weight too.
    if "w" in params:
        wr = mx.array(np.ascontiguousarray(ps[0][::-1]), mx.float32)[::-1]
        _, got = mx.vjp(fused, [mx.array(x, mx.float32), wr] + pa[1:], [mx.array(ct, mx.float32)])
        for gi, bi in zip(got, base):
            np.testing.assert_array_equal(np.array(gi), np.array(bi))


@pytest.mark.parametrize("kind,params", [c for c in NORM_CASES if c[1] != "none"])
def test_fused_norm_vjp_argnums_subsets(kind, params):
    """Each cotangent alone, and pairs, equal the corresponding one of the full vjp exactly."""
    x, ps, ct = norm_args((3, 4, 20), params, 5)
    fused, _ = norm_fns(kind, params, 1e-3)
    args = [mx.array(a, mx.float32) for a in [x] + ps]
    cta = mx.array(ct, mx.float32)
    loss = lambda *a: mx.sum(fused(*a) * cta)
    full = as_tuple(mx.grad(loss, argnums=tuple(range(len(args))))(*args))
    n = len(args)
    subsets = [(i,) for i in range(n)] + [(i, j) for i in range(n) for j in range(i + 1, n)]
    for sub in subsets:
        got = as_tuple(mx.grad(loss, argnums=sub)(*args))
        for i, gi in zip(sub, got):
            np.testing.assert_array_equal(np.array(gi), np.array(full[i]))


@pytest.mark.parametrize("kind,params", NORM_CASES)
def test_fused_norm_second_derivatives(kind, params):
    """Derivatives of functions of the gradient (grad of grad, jvp of grad) against the
    unfused composition and central differences."""
    x, ps, ct = norm_args((3, 7), params, 11)
    fused, unfused = norm_fns(kind, params, 1e-4)
    c = A(ct)
    n = 1 + len(ps)

    def of_gradient(norm):
        inner = lambda *a: mx.sum(mx.sin(norm(*a)) * c)

        def h(*a):
            gs = as_tuple(mx.grad(inner, argnums=tuple(range(n)))(*a))
            return sum(mx.sum(mx.cos(gi) * (k + 1)) for k, gi in enumerate(gs))

        return h

    args = [x] + ps
    got = as_tuple(mx.grad(of_gradient(fused), argnums=tuple(range(n)))(*[A(a) for a in args]))
    want = as_tuple(mx.grad(of_gradient(unfused), argnums=tuple(range(n)))(*[A(a) for a in args]))
    h = of_gradient(fused)
    rng = np.random.default_rng(3)
    for i in range(n):
        np.testing.assert_allclose(np.array(got[i]), np.array(want[i]), rtol=1e-8, atol=1e-9)
        v = rng.standard_normal(args[i].shape)
        step = 1e-5
        plus = [A(a + step * v if j == i else a) for j, a in enumerate(args)]
        minus = [A(a - step * v if j == i else a) for j, a in enumerate(args)]
        fd = (h(*plus).item() - h(*minus).item()) / (2 * step)
        np.testing.assert_allclose(np.sum(np.array(got[i]) * v), fd, rtol=1e-5, atol=1e-6)
    # jvp of the gradient with respect to x.
    gx = lambda x: mx.grad(lambda x: mx.sum(mx.sin(fused(x, *[A(p) for p in ps])) * c))(x)
    t = rng.standard_normal(x.shape)
    _, jv = mx.jvp(gx, [A(x)], [A(t)])
    fd = (np.array(gx(A(x + 1e-6 * t))) - np.array(gx(A(x - 1e-6 * t)))) / 2e-6
    np.testing.assert_allclose(np.array(jv[0]), fd, rtol=1e-5, atol=1e-6)


THREADS_SCRIPT = """
import numpy as np, pullback.core as mx
rng = np.random.default_rng(5)
x, g = (mx.array(rng.standard_normal((5003, 64)).astype(np.float32)) for _ in range(2))
w, b = (mx.array(rng.standard_normal(64).astype(np.float32)) for _ in range(2))
_, a = mx.vjp(lambda x, w, b: [mx.fast.layer_norm(x, w, b, 1e-5)], [x, w, b], [g])
_, r = mx.vjp(lambda x, w: [mx.fast.rms_norm(x, w, 1e-5)], [x, w], [g])
print(" ".join(np.array(t).tobytes().hex() for t in list(a) + list(r)))
"""


def test_fused_norm_vjp_same_with_any_thread_count():
    """dw/db are summed per fixed block of rows, then the blocks in order (several blocks
    here: 5003 rows of 64)."""
    env = dict(os.environ)
    results = []
    for threads in ("1", "2", "3"):
        env["PULLBACK_NUM_THREADS"] = threads
        out = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], env=env,
                             capture_output=True, text=True, check=True)
        results.append(out.stdout.strip())
    assert results[0] == results[1] == results[2]
    dw = np.frombuffer(bytes.fromhex(results[0].split()[1]), np.float32)
    rng = np.random.default_rng(5)
    x, g = (rng.standard_normal((5003, 64)).astype(np.float32) for _ in range(2))
    w = rng.standard_normal(64).astype(np.float32)
    ref = ref_norm_grads("ln", "wb", x, w, g, 1e-5)
    np.testing.assert_allclose(dw, ref[1], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kind,params", [("rms", "w"), ("ln", "wb"), ("ln", "none")])
@pytest.mark.parametrize("dtype,rows", [(mx.float32, 1024), (mx.float64, 512)])
def test_fused_norm_vjp_large_output(kind, params, dtype, rows):
    """A dx of 16 MiB, which the kernel writes with non-temporal stores."""
    x, ps, ct = norm_args((rows, 4096), params, 21)
    fused, _ = norm_fns(kind, params, 1e-5)
    args = [mx.array(a).astype(dtype) for a in [x] + ps]
    _, got = mx.vjp(fused, args, [mx.array(ct).astype(dtype)])
    r64 = [npa(a).astype(np.float64) for a in args]
    ref = ref_norm_grads(kind, params, r64[0], r64[1] if "w" in params else None,
                         npa(mx.array(ct).astype(dtype)).astype(np.float64), 1e-5)
    tol = 1e-5 if dtype == mx.float32 else 1e-12
    for gi, ri in zip(got, ref):
        np.testing.assert_allclose(npa(gi), ri, rtol=tol, atol=tol * (np.max(np.abs(ri)) + 1))


def test_fused_norm_vjp_empty_rows():
    """No rows: dx is empty, dw and db are zeros."""
    x = mx.zeros((0, 5))
    w, b = mx.ones((5,)), mx.ones((5,))
    _, g = mx.vjp(lambda x, w, b: [mx.fast.layer_norm(x, w, b, 1e-5)], [x, w, b],
                  [mx.zeros((0, 5))])
    assert g[0].shape == (0, 5)
    np.testing.assert_array_equal(np.array(g[1]), np.zeros(5))
    np.testing.assert_array_equal(np.array(g[2]), np.zeros(5))
    _, g = mx.vjp(lambda x, w: [mx.fast.rms_norm(x, w, 1e-5)], [mx.zeros((2, 0)), mx.ones((0,))],
                  [mx.zeros((2, 0))])
    assert g[0].shape == (2, 0) and g[1].shape == (0,)


# ---- bad arguments ----

def test_errors():
    x = mx.ones((2, 3))
    with pytest.raises(ValueError, match=r"\[rms_norm\].*shape"):
        mx.fast.rms_norm(x, mx.ones((4,)), 1e-5)
    with pytest.raises(ValueError, match=r"\[rms_norm\].*type"):
        mx.fast.rms_norm(mx.ones((2, 3), mx.int32), None, 1e-5)
    with pytest.raises(ValueError, match=r"\[layer_norm\].*bias"):
        mx.fast.layer_norm(x, None, mx.ones((2, 3)), 1e-5)
    with pytest.raises(ValueError, match=r"\[rms_norm\]"):
        mx.fast.rms_norm(mx.array(1.0), None, 1e-5)
    r = mx.ones((1, 2, 8))
    with pytest.raises(ValueError, match=r"\[rope\].*even"):
        mx.fast.rope(r, 5, traditional=False, base=1e4, scale=1.0, offset=0)
    with pytest.raises(ValueError, match=r"\[rope\].*exceeds"):
        mx.fast.rope(r, 10, traditional=False, base=1e4, scale=1.0, offset=0)
    with pytest.raises(ValueError, match=r"\[rope\].*3 dimensions"):
        mx.fast.rope(mx.ones((2, 8)), 4, traditional=False, base=1e4, scale=1.0, offset=0)
    with pytest.raises(ValueError, match=r"\[rope\].*base or freqs"):
        mx.fast.rope(r, 4, traditional=False, base=None, scale=1.0, offset=0)
    with pytest.raises(ValueError, match=r"\[rope\].*freqs"):
        mx.fast.rope(r, 4, traditional=False, base=None, scale=1.0, offset=0,
                     freqs=mx.ones((3,)))
    with pytest.raises(ValueError, match=r"\[rope\].*offset"):
        mx.fast.rope(r, 4, traditional=False, base=1e4, scale=1.0, offset=-1)
    q = mx.ones((1, 3, 2, 4))
    sdpa = mx.fast.scaled_dot_product_attention
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\].*multiple"):
        sdpa(q, mx.ones((1, 2, 2, 4)), mx.ones((1, 2, 2, 4)), scale=1.0)
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\].*4 dimensions"):
        sdpa(mx.ones((3, 2, 4)), q, q, scale=1.0)
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\].*causal"):
        sdpa(q, q, q, scale=1.0, mask="upper")
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\].*broadcast"):
        sdpa(q, q, q, scale=1.0, mask=mx.ones((3, 3)))
    with pytest.raises(RuntimeError, match=r"\[metal_kernel\]"):
        mx.fast.metal_kernel("k", ["x"], ["y"], "")
    with pytest.raises(RuntimeError, match=r"\[cuda_kernel\]"):
        mx.fast.cuda_kernel("k", ["x"], ["y"], "")


def test_cross_entropy():
    logits = RNG.standard_normal((4, 7))
    t = RNG.integers(0, 7, 4)
    y = mx.fast.cross_entropy(mx.array(logits), mx.array(t))
    m = logits.max(-1)
    ref = np.log(np.exp(logits - m[:, None]).sum(-1)) + m - logits[np.arange(4), t]
    np.testing.assert_allclose(np.array(y), ref, rtol=1e-6)


def test_import_forms():
    import pullback.core.fast as fast_module
    assert fast_module.rms_norm is mx.fast.rms_norm
