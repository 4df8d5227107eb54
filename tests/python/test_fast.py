"""mx.fast: rms_norm, layer_norm, rope and scaled_dot_product_attention against NumPy references
(and MLX where installed); every derivative (vjp and jvp) against central finite differences of
the float64 op itself and against the derivative of the unfused composition; bad arguments.
"""

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
