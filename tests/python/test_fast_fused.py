"""The fused primitives of mx.fast built in primitives/attention.h: scaled_dot_product_attention
(blocked forward and backward), cross_entropy, and the gated_delta_update composition.

Values against NumPy references in float64 (and MLX where installed), with sizes that cross the
kernel's query and key blocks; every derivative (vjp and jvp) against central finite differences
in float64, on non-contiguous inputs, and against the derivatives of the unfused composition
(``_fast._sdpa_unfused``), second derivatives included; bad arguments.
"""

import numpy as np
import pytest

import pullback.core as mx
from pullback._core import _fast
from test_fast import A, check_derivatives, fd_jvp, fd_vjp, npa, views

try:
    import mlx.core as mlxc
except ImportError:  # pragma: no cover
    mlxc = None

RNG = np.random.default_rng(7)
sdpa = mx.fast.scaled_dot_product_attention


def ref_sdpa(q, k, v, scale, mask=None, sinks=None):
    """float64 attention with MLX's rules: dropped positions (bool false, causal) get the lowest
    finite score, an additive mask is added, sinks join the normalization only."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    rep = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
    s = q @ np.swapaxes(k, -1, -2) * scale
    lowest = np.finfo(np.float64).min
    tq, tk = s.shape[-2:]
    if isinstance(mask, str):
        allowed = np.arange(tk)[None, :] <= np.arange(tq)[:, None] + (tk - tq)
        s = np.where(allowed, s, lowest)
    elif mask is not None and mask.dtype == np.bool_:
        s = np.where(mask, s, lowest)
    elif mask is not None:
        s = s + mask
    if sinks is not None:
        sk = np.broadcast_to(np.asarray(sinks, np.float64)[None, :, None, None], s.shape[:-1] + (1,))
        s = np.concatenate([sk, s], -1)
    with np.errstate(invalid="ignore", over="ignore"):
        m = s.max(-1, keepdims=True)
        p = np.exp(s - m)
        p = p / p.sum(-1, keepdims=True)
    if sinks is not None:
        p = p[..., 1:]
    return p @ v


def make_mask(kind, b, h, tq, tk, shape=None):
    """(pullback mask argument, NumPy reference mask) of the given kind."""
    if kind is None or kind == "causal":
        return kind, kind
    shape = shape or (tq, tk)
    if kind == "bool":
        m = RNG.uniform(size=shape) < 0.7
        return mx.array(m), m
    m = RNG.standard_normal(shape)
    return mx.array(m, mx.float32), m


# ---- attention values ----

@pytest.mark.parametrize("b,h,hkv,tq,tk,d,dv", [
    (1, 2, 2, 1, 1, 4, 4), (2, 4, 2, 70, 70, 8, 6), (1, 3, 1, 130, 37, 16, 16),
    (1, 2, 1, 9, 200, 8, 8), (1, 1, 1, 20, 1500, 4, 5), (1, 2, 2, 65, 64, 32, 8)])
@pytest.mark.parametrize("mask", [None, "causal", "bool", "additive", "sinks"])
def test_sdpa_values_across_blocks(b, h, hkv, tq, tk, d, dv, mask):
    q = RNG.standard_normal((b, h, tq, d))
    k = RNG.standard_normal((b, hkv, tk, d))
    v = RNG.standard_normal((b, hkv, tk, dv))
    scale = d ** -0.5
    sinks = RNG.standard_normal(h) if mask == "sinks" else None
    m, mref = make_mask(None if mask == "sinks" else mask, b, h, tq, tk)
    y = sdpa(mx.array(q, mx.float32), mx.array(k, mx.float32), mx.array(v, mx.float32),
             scale=scale, mask=m, sinks=None if sinks is None else mx.array(sinks, mx.float32))
    assert y.shape == (b, h, tq, dv) and y.dtype == mx.float32
    want = ref_sdpa(q, k, v, scale, mref, sinks)
    np.testing.assert_allclose(np.array(y), want, rtol=2e-4, atol=2e-5)
    u = _fast._sdpa_unfused(mx.array(q, mx.float32), mx.array(k, mx.float32),
                            mx.array(v, mx.float32), scale=scale, mask=m,
                            sinks=None if sinks is None else mx.array(sinks, mx.float32))
    np.testing.assert_allclose(np.array(y), np.array(u), rtol=2e-4, atol=2e-5)
    if mlxc is not None:
        mm = mlxc.array(mref) if isinstance(mref, np.ndarray) else mref
        if isinstance(mm, mlxc.array) and mm.dtype == mlxc.float64:
            mm = mm.astype(mlxc.float32)
        ym = mlxc.fast.scaled_dot_product_attention(
            mlxc.array(q, mlxc.float32), mlxc.array(k, mlxc.float32),
            mlxc.array(v, mlxc.float32), scale=scale, mask=mm,
            sinks=None if sinks is None else mlxc.array(sinks, mlxc.float32))
        np.testing.assert_allclose(np.array(y), np.array(ym), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("dtype,tol", [(mx.float64, 1e-12), (mx.float16, 5e-3),
                                       (mx.bfloat16, 3e-2)])
@pytest.mark.parametrize("mask", [None, "causal", "bool"])
def test_sdpa_dtypes(dtype, tol, mask):
    q, k, v = (RNG.standard_normal((1, 2, 67, 8)) for _ in range(3))
    m, mref = make_mask(mask, 1, 2, 67, 67)
    y = sdpa(*(mx.array(a).astype(dtype) for a in (q, k, v)), scale=0.3, mask=m)
    assert y.dtype == dtype
    qr, kr, vr = (npa(mx.array(a).astype(dtype)) for a in (q, k, v))  # the rounded inputs
    # The scale is a float32 parameter (as in MLX).
    np.testing.assert_allclose(npa(y), ref_sdpa(qr, kr, vr, float(np.float32(0.3)), mref),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", [(5, 9), (2, 1, 5, 9), (3, 1, 9), (1, 3, 1, 1), (9,)])
@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_sdpa_mask_broadcasting(shape, kind):
    q = RNG.standard_normal((2, 3, 5, 4))
    k, v = RNG.standard_normal((2, 3, 9, 4)), RNG.standard_normal((2, 3, 9, 4))
    m, mref = make_mask(kind, 2, 3, 5, 9, shape)
    if kind == "bool":
        mref = np.array(mref)
    y = sdpa(mx.array(q, mx.float32), mx.array(k, mx.float32), mx.array(v, mx.float32),
             scale=0.5, mask=m)
    np.testing.assert_allclose(np.array(y), ref_sdpa(q, k, v, 0.5, mref), rtol=2e-4, atol=2e-5)


def test_sdpa_rows_without_keys():
    """Causal with more queries than keys and all-false boolean rows average all of v (MLX's
    rule); with sinks those rows give zeros; an additive row of -inf gives NaN."""
    q = RNG.standard_normal((1, 2, 6, 4))
    k, v = RNG.standard_normal((1, 2, 3, 4)), RNG.standard_normal((1, 2, 3, 5))
    f32 = lambda a: mx.array(a, mx.float32)
    y = np.array(sdpa(f32(q), f32(k), f32(v), scale=1.0, mask="causal"))
    np.testing.assert_allclose(y[..., :3, :], np.broadcast_to(v.mean(2, keepdims=True),
                                                              (1, 2, 3, 5)), rtol=1e-5)
    np.testing.assert_allclose(y, ref_sdpa(q, k, v, 1.0, "causal"), rtol=1e-4, atol=1e-5)
    bm = np.ones((6, 3), bool)
    bm[2] = False
    yb = np.array(sdpa(f32(q), f32(k), f32(v), scale=1.0, mask=mx.array(bm)))
    np.testing.assert_allclose(yb[..., 2, :], v.mean(2), rtol=1e-5)
    ys = np.array(sdpa(f32(q), f32(k), f32(v), scale=1.0, mask="causal",
                       sinks=f32(RNG.standard_normal(2))))
    np.testing.assert_array_equal(ys[..., :3, :], 0.0)
    am = np.zeros((6, 3), np.float32)
    am[1] = -np.inf
    ya = np.array(sdpa(f32(q), f32(k), f32(v), scale=1.0, mask=mx.array(am)))
    assert np.isnan(ya[..., 1, :]).all() and not np.isnan(ya[..., 0, :]).any()
    if mlxc is not None:
        ym = mlxc.fast.scaled_dot_product_attention(
            mlxc.array(q, mlxc.float32), mlxc.array(k, mlxc.float32),
            mlxc.array(v, mlxc.float32), scale=1.0, mask="causal")
        np.testing.assert_allclose(y, np.array(ym), rtol=1e-4, atol=1e-5)


def test_sdpa_noncontiguous_and_empty():
    q, k, v = (RNG.standard_normal((2, 2, 7, 6)) for _ in range(3))
    want = ref_sdpa(q, k, v, 0.4, "causal")
    for a, b_, c in zip(views(q), views(k), views(v)):
        np.testing.assert_allclose(np.array(sdpa(a, b_, c, scale=0.4, mask="causal")), want,
                                   rtol=1e-4, atol=1e-5)
    qt = mx.swapaxes(mx.array(np.swapaxes(q, 1, 2).copy(), mx.float32), 1, 2)
    np.testing.assert_allclose(np.array(sdpa(qt, mx.array(k, mx.float32),
                                             mx.array(v, mx.float32), scale=0.4)),
                               ref_sdpa(q, k, v, 0.4), rtol=1e-4, atol=1e-5)
    assert sdpa(mx.zeros((1, 2, 0, 4)), mx.zeros((1, 2, 3, 4)), mx.zeros((1, 2, 3, 4)),
                scale=1.0).shape == (1, 2, 0, 4)
    e = np.array(sdpa(mx.ones((1, 1, 2, 4)), mx.zeros((1, 1, 0, 4)), mx.zeros((1, 1, 0, 3)),
                      scale=1.0))
    assert e.shape == (1, 1, 2, 3) and (e == 0).all()


# ---- attention derivatives ----

def attention_case(mask, tq=4, tk=6, h=4, hkv=2):
    q = RNG.standard_normal((1, h, tq, 3))
    k = RNG.standard_normal((1, hkv, tk, 3))
    v = RNG.standard_normal((1, hkv, tk, 2))
    m = None
    if mask == "causal":
        m = "causal"
    elif mask == "bool":
        bm = RNG.uniform(size=(tq, tk)) < 0.6
        bm[1] = False  # a row that keeps no key
        m = mx.array(bm)
    elif mask == "additive":
        m = A(RNG.standard_normal((h, tq, tk)))
    return q, k, v, m


@pytest.mark.parametrize("mask", [None, "causal", "bool", "additive", "sinks"])
@pytest.mark.parametrize("tq,tk", [(4, 6), (6, 3)])
def test_sdpa_derivatives(mask, tq, tk):
    q, k, v, m = attention_case(None if mask == "sinks" else mask, tq, tk)
    if mask == "sinks":
        s = RNG.standard_normal(4)
        f = lambda q, k, v, s: sdpa(q, k, v, scale=0.7, sinks=s)
        u = lambda q, k, v, s: _fast._sdpa_unfused(q, k, v, scale=0.7, sinks=s)
        check_derivatives(f, u, [q, k, v, s])
    else:
        f = lambda q, k, v: sdpa(q, k, v, scale=0.7, mask=m)
        u = lambda q, k, v: _fast._sdpa_unfused(q, k, v, scale=0.7, mask=m)
        check_derivatives(f, u, [q, k, v])


def test_sdpa_additive_mask_derivative():
    q, k, v, _ = attention_case(None)
    mask = RNG.standard_normal((4, 4, 6))
    f = lambda m, q: sdpa(q, A(k), A(v), scale=0.7, mask=m)
    u = lambda m, q: _fast._sdpa_unfused(q, A(k), A(v), scale=0.7, mask=m)
    check_derivatives(f, u, [mask, q])


def test_sdpa_second_derivatives():
    q, k, v, _ = attention_case(None)
    s = RNG.standard_normal(4)
    loss = lambda fn: (lambda q, k, v, s: mx.sum(mx.sin(fn(q, k, v, scale=0.7, mask="causal",
                                                            sinks=s))))
    outer = lambda fn: (lambda q, k, v, s: mx.sum(
        mx.grad(loss(fn), argnums=(0, 1, 2, 3))(q, k, v, s)[1] ** 2))
    args = [A(a) for a in (q, k, v, s)]
    g = mx.grad(outer(sdpa), argnums=(0, 1, 2, 3))(*args)
    ug = mx.grad(outer(_fast._sdpa_unfused), argnums=(0, 1, 2, 3))(*args)
    for a, b in zip(g, ug):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-8, atol=1e-10)
    # Forward over reverse.
    t = A(RNG.standard_normal(q.shape))
    gq = lambda fn: (lambda q: mx.grad(loss(fn))(q, *args[1:]))
    _, jf = mx.jvp(gq(sdpa), [args[0]], [t])
    _, ju = mx.jvp(gq(_fast._sdpa_unfused), [args[0]], [t])
    np.testing.assert_allclose(np.array(jf[0]), np.array(ju[0]), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("mask", [None, "causal", "bool"])
def test_sdpa_float32_backward_across_blocks(mask):
    """The fused backward on sizes with several query blocks and grouped heads, against the
    float64 unfused derivative."""
    q = RNG.standard_normal((2, 4, 150, 16))
    k = RNG.standard_normal((2, 2, 90, 16))
    v = RNG.standard_normal((2, 2, 90, 8))
    m, _ = make_mask(mask, 2, 4, 150, 90)
    ct = RNG.standard_normal((2, 4, 150, 8))
    f = lambda q, k, v: sdpa(q, k, v, scale=0.25, mask=m)
    u = lambda q, k, v: _fast._sdpa_unfused(q, k, v, scale=0.25, mask=m)
    _, g = mx.vjp(f, [mx.array(a, mx.float32) for a in (q, k, v)], [mx.array(ct, mx.float32)])
    _, w = mx.vjp(u, [A(a) for a in (q, k, v)], [A(ct)])
    for a, b in zip(g, w):
        assert a.dtype == mx.float32
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=2e-3, atol=2e-4)
    _, gh = mx.vjp(f, [mx.array(a, mx.bfloat16) for a in (q, k, v)], [mx.array(ct, mx.bfloat16)])
    for a, b in zip(gh, w):
        assert a.dtype == mx.bfloat16
        np.testing.assert_allclose(npa(a), np.array(b), rtol=0.1, atol=0.1)


@pytest.mark.parametrize("mask", [None, "causal"])
def test_sdpa_float32_wide_heads(mask):
    """Features past one register tile (80 and 72 columns: a whole panel and a partial one)
    and keys past one slice of the tile products (300), forward and backward, against float64."""
    q = RNG.standard_normal((1, 2, 140, 80))
    k = RNG.standard_normal((1, 1, 300, 80))
    v = RNG.standard_normal((1, 1, 300, 72))
    ct = RNG.standard_normal((1, 2, 140, 72))
    f = lambda q, k, v: sdpa(q, k, v, scale=0.1, mask=mask)
    u = lambda q, k, v: _fast._sdpa_unfused(q, k, v, scale=0.1, mask=mask)
    y, g = mx.vjp(f, [mx.array(a, mx.float32) for a in (q, k, v)], [mx.array(ct, mx.float32)])
    want, w = mx.vjp(u, [A(a) for a in (q, k, v)], [A(ct)])
    np.testing.assert_allclose(np.array(y[0]), np.array(want[0]), rtol=2e-4, atol=2e-5)
    for a, b in zip(g, w):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=2e-3, atol=2e-4)



@pytest.mark.parametrize("tq,tk", [(70, 70), (33, 90)])
@pytest.mark.parametrize("dtype", [mx.float32, mx.float64])
def test_sdpa_additive_causal_mask_matches_causal(tq, tk, dtype):
    """A causal mask written out as an additive array (nn.MultiHeadAttention's) runs as
    mask="causal": the same values and derivatives, and the same as the unfused reference."""
    import pullback.nn as nn
    q = RNG.standard_normal((2, 4, tq, 16))
    k = RNG.standard_normal((2, 2, tk, 16))
    v = RNG.standard_normal((2, 2, tk, 8))
    ct = RNG.standard_normal((2, 4, tq, 8))
    lowest = np.finfo(np.float32 if dtype == mx.float32 else np.float64).min
    allowed = np.arange(tk)[None, :] <= np.arange(tq)[:, None] + (tk - tq)
    additive = mx.array(np.where(allowed, 0.0, lowest), dtype)
    if tq == tk:
        made = nn.MultiHeadAttention.create_additive_causal_mask(tq, dtype)
        assert np.array_equal(np.array(made), np.array(additive))
    args = [mx.array(a, dtype) for a in (q, k, v)]
    outs = {}
    for name, m in (("additive", additive), ("causal", "causal")):
        f = lambda q, k, v: sdpa(q, k, v, scale=0.3, mask=m)
        outs[name] = mx.vjp(f, args, [mx.array(ct, dtype)])
    u = lambda q, k, v: _fast._sdpa_unfused(q, k, v, scale=0.3, mask="causal")
    want, w = mx.vjp(u, [A(a) for a in (q, k, v)], [A(ct)])
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == mx.float32 else dict(rtol=1e-9, atol=1e-11)
    for name in outs:
        y, g = outs[name]
        np.testing.assert_allclose(np.array(y[0]), np.array(want[0]), **tol)
        for a, b in zip(g, w):
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=tol["rtol"] * 10,
                                       atol=tol["atol"] * 10)
    # A key that is not finite is not skipped: the masked score is still added, as unfused.
    k_nan = k.copy()
    k_nan[0, 0, -1, 0] = np.nan
    y = sdpa(args[0], mx.array(k_nan, dtype), args[2], scale=0.3, mask=additive)
    y_ref = _fast._sdpa_unfused(args[0], mx.array(k_nan, dtype), args[2], scale=0.3,
                                mask=additive)
    np.testing.assert_array_equal(np.isnan(np.array(y)), np.isnan(np.array(y_ref)))
    assert np.isnan(np.array(y)[0, 0]).all()


# ---- cross_entropy ----

def ref_ce(logits, t):
    logits = np.asarray(logits, np.float64)
    m = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - m).sum(-1)) + m[..., 0]
    return lse - np.take_along_axis(logits, t[..., None], -1)[..., 0]


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 50), (1, 1), (3, 1000)])
@pytest.mark.parametrize("dtype", [mx.float32, mx.float64, mx.float16, mx.bfloat16])
def test_cross_entropy_values(shape, dtype):
    logits = RNG.standard_normal(shape) * 3
    t = RNG.integers(0, shape[-1], shape[:-1])
    x = mx.array(logits).astype(dtype)
    y = mx.fast.cross_entropy(x, mx.array(t))
    assert y.dtype == (mx.float64 if dtype == mx.float64 else mx.float32)
    assert y.shape == shape[:-1]
    tol = 1e-12 if dtype == mx.float64 else 1e-5
    np.testing.assert_allclose(np.array(y), ref_ce(npa(x), t), rtol=tol, atol=tol)
    if mlxc is not None and dtype == mx.float32:
        ym = mlxc.fast.cross_entropy(mlxc.array(logits.astype(np.float32)), mlxc.array(t))
        np.testing.assert_allclose(np.array(y), np.array(ym), rtol=1e-5, atol=1e-5)


def test_cross_entropy_edges():
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf], [1.0, 2.0, 3.0]])
    y = np.array(mx.fast.cross_entropy(mx.array(x, mx.float32), mx.array([0, 1, 5])))
    np.testing.assert_allclose(y[0], ref_ce(x[:1], np.array([0]))[0], rtol=1e-6)
    assert np.isnan(y[1]) and np.isnan(y[2])  # -inf - (-inf); a target out of range
    neg = mx.fast.cross_entropy(mx.array(x[2:], mx.float32), mx.array([-1]))
    assert np.isnan(np.array(neg)).all()
    xt = mx.swapaxes(mx.array(RNG.standard_normal((5, 3)), mx.float32), 0, 1)
    t = np.array([4, 0, 2])
    np.testing.assert_allclose(np.array(mx.fast.cross_entropy(xt, mx.array(t, mx.uint8))),
                               ref_ce(np.array(xt), t), rtol=1e-5)
    assert mx.fast.cross_entropy(mx.zeros((0, 4)), mx.zeros((0,), mx.int32)).shape == (0,)


def test_cross_entropy_derivatives():
    logits = RNG.standard_normal((3, 5))
    t = mx.array(RNG.integers(0, 5, 3))
    f = lambda x: mx.fast.cross_entropy(x, t)
    u = lambda x: mx.logsumexp(x, -1) - mx.squeeze(mx.take_along_axis(
        x, mx.expand_dims(t, -1), axis=-1), -1)
    check_derivatives(f, u, [logits])
    g2 = mx.grad(lambda x: mx.sum(mx.grad(lambda z: mx.sum(f(z) ** 2))(x) ** 2))(A(logits))
    u2 = mx.grad(lambda x: mx.sum(mx.grad(lambda z: mx.sum(u(z) ** 2))(x) ** 2))(A(logits))
    np.testing.assert_allclose(np.array(g2), np.array(u2), rtol=1e-9, atol=1e-11)
    gh = mx.grad(lambda x: mx.sum(mx.fast.cross_entropy(x, t)))(mx.array(logits, mx.float16))
    assert gh.dtype == mx.float16


def test_cross_entropy_errors():
    ce = mx.fast.cross_entropy
    with pytest.raises(ValueError, match=r"\[cross_entropy\].*integer"):
        ce(mx.ones((2, 3)), mx.ones((2,)))
    with pytest.raises(ValueError, match=r"\[cross_entropy\].*shape"):
        ce(mx.ones((2, 3)), mx.array([1, 2, 0]))
    with pytest.raises(ValueError, match=r"\[cross_entropy\].*1 dimension"):
        ce(mx.array(1.0), mx.array(0))
    with pytest.raises(ValueError, match=r"\[cross_entropy\].*floating"):
        ce(mx.ones((2, 3), mx.int32), mx.array([0, 1]))


# ---- gated_delta_update ----

def ref_gdu(q, k, v, g, beta, state=None, mask=None):
    q, k, v, g, beta = (np.asarray(a, np.float64) for a in (q, k, v, g, beta))
    b, t, hk, dk = q.shape
    hv, dv = v.shape[2:]
    rep = hv // hk
    s = np.zeros((b, hv, dv, dk)) if state is None else np.array(state, np.float64)
    o = np.zeros((b, t, hv, dv))
    for step in range(t):
        for h in range(hv):
            kk, qq = k[:, step, h // rep], q[:, step, h // rep]
            new = s[:, h] * g[:, step, h][:, None, None]
            mem = np.einsum("bvk,bk->bv", new, kk)
            new = new + ((v[:, step, h] - mem) * beta[:, step, h][:, None])[:, :, None] * kk[:, None, :]
            keep = np.ones(b, bool) if mask is None else np.asarray(mask[:, step], bool)
            o[:, step, h] = np.where(keep[:, None], np.einsum("bvk,bk->bv", new, qq), 0.0)
            s[:, h] = np.where(keep[:, None, None], new, s[:, h])
    return o, s


def gdu_inputs(b=2, t=5, hk=1, hv=2, dk=3, dv=4):
    return [RNG.standard_normal((b, t, hk, dk)), RNG.standard_normal((b, t, hk, dk)) * 0.5,
            RNG.standard_normal((b, t, hv, dv)), RNG.uniform(0.5, 1.0, (b, t, hv)),
            RNG.uniform(0.0, 1.0, (b, t, hv))]


@pytest.mark.parametrize("with_state,with_mask", [(False, False), (True, False), (True, True)])
def test_gated_delta_update_values(with_state, with_mask):
    args = gdu_inputs()
    state = RNG.standard_normal((2, 2, 4, 3)) if with_state else None
    mask = np.array([[1, 0, 1, 1, 0], [1, 1, 1, 0, 1]], bool) if with_mask else None
    o, s = mx.fast.gated_delta_update(
        *(mx.array(a, mx.float32) for a in args),
        initial_state=None if state is None else mx.array(state, mx.float32),
        mask=None if mask is None else mx.array(mask))
    ro, rs = ref_gdu(*args, state, mask)
    np.testing.assert_allclose(np.array(o), ro, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.array(s), rs, rtol=1e-4, atol=1e-5)
    if mlxc is not None:
        mo, ms = mlxc.fast.gated_delta_update(
            *(mlxc.array(a.astype(np.float32)) for a in args),
            initial_state=None if state is None else mlxc.array(state.astype(np.float32)),
            mask=None if mask is None else mlxc.array(mask))
        np.testing.assert_allclose(np.array(o), np.array(mo), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.array(s), np.array(ms), rtol=1e-4, atol=1e-5)


def test_gated_delta_update_derivatives():
    args = gdu_inputs(b=1, t=3, hk=1, hv=2, dk=2, dv=2)
    state = RNG.standard_normal((1, 2, 2, 2))
    f = lambda q, k, v, g, b, s: mx.fast.gated_delta_update(q, k, v, g, b, initial_state=s)[0]
    allargs = [np.asarray(a, np.float64) for a in args + [state]]
    out = np.array(f(*[A(a) for a in allargs]))
    ct = RNG.standard_normal(out.shape)
    _, grads = mx.vjp(f, [A(a) for a in allargs], [A(ct)])
    for i in range(len(allargs)):
        np.testing.assert_allclose(np.array(grads[i]), fd_vjp(f, allargs, ct, i), rtol=1e-6,
                                   atol=1e-8)
    tangents = [RNG.standard_normal(a.shape) for a in allargs]
    _, jv = mx.jvp(f, [A(a) for a in allargs], [A(t) for t in tangents])
    np.testing.assert_allclose(np.array(jv[0]), fd_jvp(f, allargs, tangents), rtol=1e-6,
                               atol=1e-8)


def test_gated_delta_update_errors():
    q, k, v, g, b = (mx.array(a, mx.float32) for a in gdu_inputs())
    gdu = mx.fast.gated_delta_update
    with pytest.raises(ValueError, match=r"\[gated_delta_update\].*4 dimensions"):
        gdu(q[0], k, v, g, b)
    with pytest.raises(ValueError, match=r"\[gated_delta_update\].*Incompatible"):
        gdu(q, k, v, g[:, :2], b)
    with pytest.raises(ValueError, match=r"\[gated_delta_update\].*initial_state"):
        gdu(q, k, v, g, b, initial_state=mx.zeros((2, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[gated_delta_update\].*mask"):
        gdu(q, k, v, g, b, mask=mx.ones((2, 4)))
    with pytest.raises(TypeError, match=r"\[gated_delta_update\]"):
        gdu(q, k, v, g, None)


def test_sdpa_errors():
    q = mx.ones((1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\].*sinks"):
        sdpa(q, q, q, scale=1.0, sinks=mx.ones((3,)))
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\].*promote"):
        sdpa(q.astype(mx.float16), q.astype(mx.float16), q.astype(mx.float16), scale=1.0,
             mask=mx.ones((3, 3), mx.float32))
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\].*type"):
        sdpa(*(mx.ones((1, 2, 3, 4), mx.int32),) * 3, scale=1.0)
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\].*at most 4"):
        sdpa(q, q, q, scale=1.0, mask=mx.ones((1, 1, 1, 3, 3)))
