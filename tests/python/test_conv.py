"""Convolutions: conv1d/2d/3d, conv_general and conv_transpose1d/2d/3d against references
written here (a sum over kernel taps of strided windows, and a scatter for the transposed
ones), against MLX and PyTorch when installed, and their derivatives against finite
differences."""

import itertools

import numpy as np
import pytest

import pullback.core as mx
from helpers import check_grad, to_numpy


def _per_axis(v, d, fallback):
    if v is None:
        return [fallback] * d
    if isinstance(v, int):
        return [v] * d
    return list(v) if len(v) == d else list(v) * d


def ref_conv(x, w, stride=None, lo=None, hi=None, kdil=None, idil=None, groups=1, flip=False):
    """out[n, p, o] = sum_{k, c} xpad[n, p * stride + k * kdil, g * Cg + c] * w[o, k', c]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    d = x.ndim - 2
    stride, lo, hi = _per_axis(stride, d, 1), _per_axis(lo, d, 0), _per_axis(hi, d, 0)
    kdil, idil = _per_axis(kdil, d, 1), _per_axis(idil, d, 1)
    N, C = x.shape[0], x.shape[-1]
    # Input dilation: zeros between neighbours.
    dshape = [N] + [(s - 1) * i + 1 if s else 0 for s, i in zip(x.shape[1:-1], idil)] + [C]
    xd = np.zeros(dshape)
    xd[(slice(None),) + tuple(slice(None, None, i) for i in idil)] = x
    # Padding; a negative amount crops.
    xp = np.pad(xd, [(0, 0)] + [(max(a, 0), max(b, 0)) for a, b in zip(lo, hi)] + [(0, 0)])
    xp = xp[(slice(None),) + tuple(slice(max(-a, 0), xp.shape[i + 1] - max(-b, 0))
                                   for i, (a, b) in enumerate(zip(lo, hi)))]
    if flip:
        w = w[(slice(None),) + (slice(None, None, -1),) * d]
    O, K, Cg = w.shape[0], w.shape[1:-1], w.shape[-1]
    Og = O // groups
    P = [(L - ((k - 1) * kd + 1 if k else 0)) // s + 1
         for L, k, kd, s in zip(xp.shape[1:-1], K, kdil, stride)]
    out = np.zeros([N] + P + [O])
    for k in itertools.product(*[range(n) for n in K]):
        win = xp[(slice(None),) + tuple(slice(ki * kd, ki * kd + (p - 1) * s + 1, s)
                                        for ki, kd, p, s in zip(k, kdil, P, stride))]
        for g in range(groups):
            out[..., g * Og:(g + 1) * Og] += np.einsum(
                "...c,oc->...o", win[..., g * Cg:(g + 1) * Cg], w[(slice(g * Og, (g + 1) * Og),) +
                                                                k])
    return out


def ref_conv_transpose(x, w, stride=1, padding=0, dilation=1, output_padding=0, groups=1):
    """Each input element scatters w's taps: out[n, i * stride + k * dilation - padding, o]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    d = x.ndim - 2
    st, pad = _per_axis(stride, d, 1), _per_axis(padding, d, 0)
    dil, opad = _per_axis(dilation, d, 1), _per_axis(output_padding, d, 0)
    N, S, C = x.shape[0], x.shape[1:-1], x.shape[-1]
    O, K, Cg = w.shape[0], w.shape[1:-1], w.shape[-1]
    Og = O // groups
    size = [(s - 1) * t + dl * (k - 1) + 1 + op
            for s, t, dl, k, op in zip(S, st, dil, K, opad)]
    full = np.zeros([N] + size + [O])  # before cropping the padding
    for i in itertools.product(*[range(n) for n in S]):
        for k in itertools.product(*[range(n) for n in K]):
            pos = tuple(ii * t + kk * dl for ii, t, kk, dl in zip(i, st, k, dil))
            for g in range(groups):
                full[(slice(None),) + pos + (slice(g * Og, (g + 1) * Og),)] += np.einsum(
                    "nc,oc->no", x[(slice(None),) + i + (slice(g * Cg, (g + 1) * Cg),)],
                    w[(slice(g * Og, (g + 1) * Og),) + k])
    return full[(slice(None),) + tuple(slice(p, n - p) for p, n in zip(pad, size)) +
                (slice(None),)]


def rand(rng, *shape):
    return rng.standard_normal(shape)


def close(got, want, dtype="float32"):
    tol = {"float64": (1e-12, 1e-12), "float32": (2e-5, 2e-5), "float16": (2e-2, 2e-2),
           "bfloat16": (6e-2, 6e-2)}[dtype]
    got = to_numpy(got).astype(np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=tol[0], atol=tol[1] * max(1, np.abs(want).max()))


# (input shape, weight shape, conv_general keyword arguments)
GENERAL_CASES = [
    ((2, 9, 3), (4, 3, 3), {}),
    ((2, 9, 4), (6, 2, 2), dict(stride=2, padding=([1], [2]), kernel_dilation=3, groups=2)),
    ((1, 8, 2), (3, 3, 2), dict(input_dilation=2, padding=2, flip=True)),
    ((2, 7, 6, 4), (6, 3, 2, 2), dict(stride=[2, 1], padding=([1, 0], [2, 3]),
                                      kernel_dilation=[2, 1], input_dilation=[1, 2], groups=2,
                                      flip=True)),
    ((2, 8, 7, 3), (5, 3, 3, 3), dict(stride=[3, 2], padding=([-1, 2], [0, -2]))),
    ((1, 6, 6, 6), (6, 3, 3, 1), dict(padding=1, groups=6)),  # depthwise
    ((2, 5, 5, 4), (8, 1, 1, 4), {}),  # pointwise: the input is the column matrix
    ((2, 5, 5, 4), (8, 1, 1, 2), dict(groups=2)),
    ((1, 5, 4, 6, 2), (3, 2, 3, 2, 2), dict(stride=[1, 2, 1], padding=([1, 0, 1], [0, 1, 2]),
                                            kernel_dilation=[2, 1, 1], input_dilation=[1, 1, 2],
                                            flip=True)),
    ((2, 4, 4, 3, 4), (4, 2, 2, 2, 2), dict(groups=2, stride=2, padding=1)),
]


@pytest.mark.parametrize("xs,ws,kw", GENERAL_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_general_matches_reference(xs, ws, kw, dtype):
    rng = np.random.default_rng(0)
    x, w = rand(rng, *xs), rand(rng, *ws)
    pad = kw.get("padding", 0)
    lo, hi = pad if isinstance(pad, tuple) else (pad, pad)
    want = ref_conv(x, w, kw.get("stride"), lo, hi, kw.get("kernel_dilation"),
                    kw.get("input_dilation"), kw.get("groups", 1), kw.get("flip", False))
    got = mx.conv_general(mx.array(x, dtype=getattr(mx, dtype)),
                          mx.array(w, dtype=getattr(mx, dtype)), **kw)
    assert got.dtype == getattr(mx, dtype)
    close(got, want, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv1d_2d_3d(dtype):
    rng = np.random.default_rng(1)
    t = getattr(mx, dtype)
    x, w = rand(rng, 2, 11, 4), rand(rng, 6, 3, 2)
    close(mx.conv1d(mx.array(x, dtype=t), mx.array(w, dtype=t), 2, 1, 2, 2),
          ref_conv(x, w, 2, 1, 1, 2, None, 2), dtype)
    x, w = rand(rng, 2, 9, 8, 3), rand(rng, 4, 3, 2, 3)
    close(mx.conv2d(mx.array(x, dtype=t), mx.array(w, dtype=t), (2, 1), (1, 0), (1, 2)),
          ref_conv(x, w, [2, 1], [1, 0], [1, 0], [1, 2]), dtype)
    close(mx.conv2d(mx.array(x, dtype=t), mx.array(w, dtype=t), stride=2, padding=1),
          ref_conv(x, w, 2, 1, 1), dtype)
    x, w = rand(rng, 1, 5, 6, 4, 2), rand(rng, 3, 2, 3, 2, 2)
    close(mx.conv3d(mx.array(x, dtype=t), mx.array(w, dtype=t), (1, 2, 1), 1, (2, 1, 1)),
          ref_conv(x, w, [1, 2, 1], 1, 1, [2, 1, 1]), dtype)


TRANSPOSE_CASES = [
    ((2, 5, 4), (3, 3, 4), dict(stride=2, padding=1, output_padding=1)),
    ((2, 5, 4), (6, 3, 2), dict(stride=3, dilation=2, output_padding=2, groups=2)),
    ((2, 4, 5, 4), (6, 3, 3, 4), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 3, 4), (4, 2, 3, 2), dict(stride=(1, 2), padding=(0, 1), dilation=(2, 1),
                                      groups=2)),
    ((1, 3, 3, 2, 2), (2, 2, 2, 3, 2), dict(stride=2, padding=(1, 0, 1), output_padding=1)),
]


@pytest.mark.parametrize("xs,ws,kw", TRANSPOSE_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_transpose_matches_reference(xs, ws, kw, dtype):
    rng = np.random.default_rng(2)
    t = getattr(mx, dtype)
    x, w = rand(rng, *xs), rand(rng, *ws)
    op = {3: mx.conv_transpose1d, 4: mx.conv_transpose2d, 5: mx.conv_transpose3d}[len(xs)]
    close(op(mx.array(x, dtype=t), mx.array(w, dtype=t), **kw), ref_conv_transpose(x, w, **kw),
          dtype)


def test_conv_transpose_is_the_input_gradient():
    # conv_transpose2d(y, w) is the derivative of conv2d(x, w) with respect to x.
    rng = np.random.default_rng(3)
    x, w = mx.array(rand(rng, 2, 8, 8, 3)), mx.array(rand(rng, 5, 3, 3, 3))
    y = mx.conv2d(x, w, stride=2, padding=1)
    ct = mx.array(rand(rng, *y.shape))
    _, (gx,) = mx.vjp(lambda a: mx.conv2d(a, w, stride=2, padding=1), [x], [ct])
    wt = mx.transpose(w, (3, 1, 2, 0))  # (C_in, K, K, C_out): the transposed op's layout
    got = mx.conv_transpose2d(ct, wt, stride=2, padding=1, output_padding=1)
    np.testing.assert_allclose(np.array(got), np.array(gx), rtol=1e-5, atol=1e-5)


def test_large_blocks_threads_and_tap_blocks():
    # Several row blocks (threads), and a row of taps x channels longer than one column block.
    rng = np.random.default_rng(4)
    for xs, ws, kw in [((4, 16, 16, 32), (16, 3, 3, 32), dict(padding=1)),
                       ((1, 12, 12, 80), (8, 9, 9, 80), dict(padding=4)),
                       ((2, 10, 10, 64), (6, 5, 5, 32), dict(groups=2, stride=2, padding=2))]:
        x, w = rand(rng, *xs), rand(rng, *ws)
        got = mx.conv_general(mx.array(x, dtype=mx.float64), mx.array(w, dtype=mx.float64), **kw)
        close(got, ref_conv(x, w, kw.get("stride"), kw["padding"], kw["padding"],
                            groups=kw.get("groups", 1)), "float64")
        ct = rand(rng, *got.shape)
        _, (gx, gw) = mx.vjp(lambda a, b: mx.conv_general(a, b, **kw),
                             [mx.array(x, dtype=mx.float64), mx.array(w, dtype=mx.float64)],
                             [mx.array(ct, dtype=mx.float64)])
        # <ct, conv(x, w)> is linear in w: its gradient at w is the conv of x with unit taps.
        eps_dir = rand(rng, *ws)
        lin = np.sum(ct * ref_conv(x, eps_dir, kw.get("stride"), kw["padding"], kw["padding"],
                                   groups=kw.get("groups", 1)))
        np.testing.assert_allclose(np.sum(np.array(gw) * eps_dir), lin, rtol=1e-10)
        eps_dir = rand(rng, *xs)
        lin = np.sum(ct * ref_conv(eps_dir, w, kw.get("stride"), kw["padding"], kw["padding"],
                                   groups=kw.get("groups", 1)))
        np.testing.assert_allclose(np.sum(np.array(gx) * eps_dir), lin, rtol=1e-10)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(5)
    xb, wb = rand(rng, 5, 2, 8, 6), rand(rng, 3, 4, 3, 10)
    # x: (N, H, W, C) read through a transpose and a reversal; w through a slice.
    x = mx.transpose(mx.array(xb), (1, 2, 3, 0))[:, ::-1]
    w = mx.array(wb)[:, ::2, :, 1::2]
    xn = np.transpose(xb, (1, 2, 3, 0))[:, ::-1]
    wn = wb[:, ::2, :, 1::2]
    close(mx.conv2d(x, w, padding=1), ref_conv(xn, wn, 1, 1, 1))


# (input shape, weight shape, conv_general kwargs): the derivative checks cover every feature.
GRAD_CASES = [
    ((2, 7, 2), (3, 3, 2), dict(stride=2, padding=([2], [1]), kernel_dilation=2)),
    ((1, 5, 4, 4), (4, 2, 3, 2), dict(stride=[2, 1], padding=([1, 0], [2, 1]),
                                      kernel_dilation=[1, 2], input_dilation=[2, 1], groups=2,
                                      flip=True)),
    ((1, 3, 4, 3, 2), (2, 2, 2, 2, 2), dict(stride=[1, 2, 1], padding=1, input_dilation=[1, 1, 2],
                                            flip=True)),
    ((2, 6, 5, 2), (2, 2, 2, 2), dict(stride=[1, 2], padding=([-1, 1], [1, -1]))),  # cropping
]


@pytest.mark.parametrize("xs,ws,kw", GRAD_CASES)
def test_derivatives(xs, ws, kw):
    rng = np.random.default_rng(6)
    check_grad(lambda a, b: mx.conv_general(a, b, **kw), [rand(rng, *xs), rand(rng, *ws)])


def test_derivatives_non_contiguous():
    rng = np.random.default_rng(7)
    kw = dict(stride=2, padding=([1, 0], [0, 2]), kernel_dilation=[2, 1], input_dilation=[1, 2],
              groups=2)
    check_grad(lambda a, b: mx.conv_general(mx.transpose(a, (1, 0, 2, 3))[:, ::-1],
                                            b[:, :, ::-1], **kw),
               [rand(rng, 5, 1, 4, 4), rand(rng, 4, 2, 2, 2)])


def test_conv_transpose_derivatives():
    rng = np.random.default_rng(8)
    check_grad(lambda a, b: mx.conv_transpose2d(a, b, stride=2, padding=1, output_padding=1,
                                                groups=2),
               [rand(rng, 1, 3, 3, 4), rand(rng, 4, 3, 2, 2)])
    check_grad(lambda a, b: mx.conv_transpose1d(a, b, stride=3, dilation=2, output_padding=1),
               [rand(rng, 2, 3, 2), rand(rng, 2, 2, 2)])


def test_second_derivatives():
    # The vjp rules build convolutions (and weight gradients), which differentiate again.
    rng = np.random.default_rng(9)
    kw = dict(stride=2, padding=([1], [0]), kernel_dilation=2, input_dilation=[2], flip=True)

    def gx(a, b):
        return mx.grad(lambda u, v: mx.sum(mx.sin(mx.conv_general(u, v, **kw))))(a, b)

    def gw(a, b):
        return mx.grad(lambda u, v: mx.sum(mx.sin(mx.conv_general(u, v, **kw))), argnums=1)(a, b)

    inputs = [rand(rng, 1, 5, 2), rand(rng, 2, 2, 2)]
    check_grad(gx, inputs, dtypes=("float64",))
    check_grad(gw, inputs, dtypes=("float64",))


@pytest.mark.parametrize("dtype,tol", [("float16", "float16"), ("bfloat16", "bfloat16")])
def test_half_precision(dtype, tol):
    rng = np.random.default_rng(10)
    x, w = rand(rng, 2, 6, 6, 8), rand(rng, 4, 3, 3, 8)
    t = getattr(mx, dtype)
    xr, wr = to_numpy(mx.array(x, dtype=t)), to_numpy(mx.array(w, dtype=t))
    got = mx.conv2d(mx.array(x, dtype=t), mx.array(w, dtype=t), padding=1)
    assert got.dtype == t
    close(got, ref_conv(xr, wr, 1, 1, 1), tol)
    g = mx.grad(lambda a: mx.sum(mx.conv2d(a, mx.array(w, dtype=t))))(mx.array(x, dtype=t))
    assert g.dtype == t and g.shape == x.shape


def test_dtype_promotion_and_errors():
    x, w = mx.ones((1, 4, 4, 2)), mx.ones((3, 2, 2, 2))
    assert mx.conv2d(x.astype(mx.float16), w).dtype == mx.float32
    assert mx.conv2d(x, w.astype(mx.int32)).dtype == mx.float32
    assert mx.conv2d(x.astype(mx.float64), w).dtype == mx.float64
    with pytest.raises(ValueError, match=r"^\[conv2d\] Invalid input array with type int32"):
        mx.conv2d(x.astype(mx.int32), w.astype(mx.int32))
    with pytest.raises(ValueError, match=r"complex64"):
        mx.conv2d(x.astype(mx.complex64), w)


@pytest.mark.parametrize("call,message", [
    (lambda x, w: mx.conv2d(x, w, stride=0), r"^\[conv2d\] Stride sizes must be positive"),
    (lambda x, w: mx.conv2d(x, w, dilation=-1), r"Kernel dilation sizes must be positive"),
    (lambda x, w: mx.conv_general(x, w, input_dilation=0), r"Input dilation sizes must be"),
    (lambda x, w: mx.conv2d(x, w, groups=0), r"groups must be a positive integer"),
    (lambda x, w: mx.conv2d(x, w, groups=3), r"input channels must be divisible by the number"),
    (lambda x, w: mx.conv2d(x, mx.ones((5, 3, 3, 2)), groups=2),
     r"output channels must be divisible"),
    (lambda x, w: mx.conv2d(x, mx.ones((6, 3, 3, 3))), r"input channels in the input and weight"),
    (lambda x, w: mx.conv2d(x, mx.ones((6, 7, 3, 4))), r"after padding cannot be smaller"),
    (lambda x, w: mx.conv2d(x, w, padding=-2), r"after padding cannot be smaller"),
    (lambda x, w: mx.conv2d(x, mx.ones((6, 3, 4))), r"Invalid weight array with 3 dimensions"),
    (lambda x, w: mx.conv1d(mx.ones((5, 4)), mx.ones((6, 3, 4))), r"1-3 spatial dimensions"),
    (lambda x, w: mx.conv2d(x, w, stride=(1, 2, 3)), r"Invalid strides \(1,2,3\) for 2D"),
    (lambda x, w: mx.conv_general(x, w, padding=([1, 0, 3], [2, 3])), r"Invalid padding"),
    (lambda x, w: mx.conv2d(x, w, padding=2**40), r"out of range"),
    (lambda x, w: mx.conv_transpose2d(x, w, stride=0), r"^\[conv_transpose2d\] Input dilation"),
])
def test_errors(call, message):
    x, w = mx.ones((2, 5, 5, 4)), mx.ones((6, 3, 3, 4))
    with pytest.raises(ValueError, match=message):
        call(x, w)


def test_bad_argument_types():
    x, w = mx.ones((2, 5, 5, 4)), mx.ones((6, 3, 3, 4))
    with pytest.raises(TypeError):
        mx.conv2d(x, w, stride="a")
    with pytest.raises(TypeError):
        mx.conv1d(x, w, padding=1.5)


def test_negative_padding_crops_as_mlx():
    rng = np.random.default_rng(11)
    x, w = rand(rng, 1, 6, 6, 2), rand(rng, 2, 2, 2, 2)
    close(mx.conv2d(mx.array(x), mx.array(w), padding=(1, -1)), ref_conv(x, w, 1, [1, -1],
                                                                          [1, -1]))


def test_empty_shapes():
    w = mx.ones((6, 3, 3, 4))
    assert mx.conv2d(mx.ones((0, 5, 5, 4)), w).shape == (0, 3, 3, 6)
    assert mx.conv2d(mx.ones((2, 5, 5, 4)), mx.ones((0, 3, 3, 4))).shape == (2, 3, 3, 0)
    out = mx.conv2d(mx.ones((2, 5, 5, 0)), mx.ones((6, 3, 3, 0)))
    assert out.shape == (2, 3, 3, 6) and not np.any(np.array(out))
    gx, gw = mx.grad(lambda a, b: mx.sum(mx.conv2d(a, b)), argnums=(0, 1))(
        mx.ones((0, 5, 5, 4)), w)
    assert gx.shape == (0, 5, 5, 4) and gw.shape == w.shape and not np.any(np.array(gw))


def test_matches_mlx():
    mlx = pytest.importorskip("mlx.core")
    rng = np.random.default_rng(12)
    cases = [
        ("conv_general", (2, 7, 6, 4), (6, 3, 2, 2),
         dict(stride=[2, 1], padding=([1, 0], [2, 3]), kernel_dilation=[2, 1],
              input_dilation=[1, 2], groups=2, flip=True)),
        ("conv1d", (2, 9, 4), (6, 3, 2), dict(stride=2, padding=1, dilation=2, groups=2)),
        ("conv3d", (1, 4, 5, 4, 2), (3, 2, 2, 2, 2), dict(stride=(1, 2, 1), padding=1)),
        ("conv_transpose2d", (2, 4, 5, 4), (6, 3, 3, 2),
         dict(stride=2, padding=1, output_padding=1, groups=2)),
        ("conv_transpose3d", (1, 3, 2, 3, 2), (2, 2, 2, 2, 2), dict(stride=2, dilation=(1, 2, 1))),
    ]
    for name, xs, ws, kw in cases:
        x, w = rand(rng, *xs).astype(np.float32), rand(rng, *ws).astype(np.float32)
        ours = getattr(mx, name)(mx.array(x), mx.array(w), **kw)
        theirs = getattr(mlx, name)(mlx.array(x), mlx.array(w), **kw)
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, atol=1e-5)
        if "input_dilation" in kw:
            continue  # MLX's gradient of an input-dilated convolution has the wrong shape
        ct = rand(rng, *ours.shape).astype(np.float32)
        _, ours_g = mx.vjp(lambda a, b: getattr(mx, name)(a, b, **kw),
                           [mx.array(x), mx.array(w)], [mx.array(ct)])
        _, theirs_g = mlx.vjp(lambda a, b: getattr(mlx, name)(a, b, **kw),
                              [mlx.array(x), mlx.array(w)], [mlx.array(ct)])
        for a, b in zip(ours_g, theirs_g):
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-4)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(13)
    x, w = rand(rng, 2, 9, 8, 6), rand(rng, 4, 3, 3, 3)
    tx = torch.tensor(x).permute(0, 3, 1, 2)
    tw = torch.tensor(w).permute(0, 3, 1, 2)
    want = F.conv2d(tx, tw, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    got = mx.conv2d(mx.array(x, dtype=mx.float64), mx.array(w, dtype=mx.float64), stride=(2, 1),
                    padding=(1, 2), dilation=(1, 2), groups=2)
    close(got, want.permute(0, 2, 3, 1).numpy(), "float64")
    # torch's transposed weight is (C_in, C_out / groups, K...); ours (C_out, K..., C_in / groups).
    x, w = rand(rng, 1, 4, 5, 4), rand(rng, 6, 3, 3, 2)
    tw = torch.tensor(w).reshape(2, 3, 3, 3, 2).permute(0, 4, 1, 2, 3).reshape(4, 3, 3, 3)
    want = F.conv_transpose2d(torch.tensor(x).permute(0, 3, 1, 2), tw, stride=2, padding=1,
                              output_padding=1, groups=2)
    got = mx.conv_transpose2d(mx.array(x, dtype=mx.float64), mx.array(w, dtype=mx.float64),
                              stride=2, padding=1, output_padding=1, groups=2)
    close(got, want.permute(0, 2, 3, 1).numpy(), "float64")
