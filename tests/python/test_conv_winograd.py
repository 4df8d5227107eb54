"""The Winograd path of 2-D convolutions (float32, 3x3 kernels, stride 1, no dilation, one group,
at least 8 input and output channels, and at most 64 x 64 of them or many tiles;
backend/cpu/conv_winograd.cpp): the forward convolution,
its input gradient (a flipped convolution of the same kind) and its weight gradient, against a
float64 reference, against finite differences, for tile-unaligned sizes, both tile sizes,
half-precision inputs, non-contiguous inputs, large values and any thread count."""

import os
import subprocess
import sys

import numpy as np
import pytest

import pullback.core as mx
from helpers import check_grad
from test_conv import close, rand, ref_conv


def ref_grads(x, w, ct, lo, hi):
    """(dx, dw) of sum(ct * conv(x, w)) in float64: dw by the windows, dx as the flipped conv."""
    x, w, ct = (np.asarray(a, np.float64) for a in (x, w, ct))
    xp = np.pad(x, [(0, 0), (max(lo[0], 0), max(hi[0], 0)), (max(lo[1], 0), max(hi[1], 0)),
                    (0, 0)])
    xp = xp[:, max(-lo[0], 0):xp.shape[1] - max(-hi[0], 0),
            max(-lo[1], 0):xp.shape[2] - max(-hi[1], 0)]
    P0, P1 = ct.shape[1:3]
    dw = np.zeros(w.shape)
    for a in range(3):
        for b in range(3):
            dw[:, a, b, :] = np.einsum("npqo,npqc->oc", ct, xp[:, a:a + P0, b:b + P1, :])
    dxp = np.zeros(xp.shape)
    for a in range(3):
        for b in range(3):
            dxp[:, a:a + P0, b:b + P1, :] += np.einsum("npqo,oc->npqc", ct, w[:, a, b, :])
    # Back from the padded (or cropped) frame to x's.
    dx = np.zeros(x.shape)
    H, W = x.shape[1:3]
    r0, c0 = max(lo[0], 0), max(lo[1], 0)
    s0, s1 = max(-lo[0], 0), max(-lo[1], 0)
    rows = min(H - s0, dxp.shape[1] - r0)
    cols = min(W - s1, dxp.shape[2] - c0)
    dx[:, s0:s0 + rows, s1:s1 + cols] = dxp[:, r0:r0 + rows, c0:c0 + cols]
    return dx, dw


def conv_and_grads(x, w, ct, lo, hi, dtype=mx.float32):
    xa, wa, ca = (mx.array(np.asarray(a, np.float32)).astype(dtype) for a in (x, w, ct))
    kw = dict(padding=(list(lo), list(hi)))
    out, (gx, gw) = mx.vjp(lambda a, b: mx.conv_general(a, b, **kw), [xa, wa], [ca])
    return out[0], gx, gw


# (x shape, O, padding lo, padding hi): outputs not a multiple of either tile, odd sizes, batch
# 1, channels not a multiple of 16, asymmetric and negative (cropping) padding. Outputs of 5 or
# 6 (or 1 or 2) across take the 2x2 tile, larger ones the 4x4 tile.
CASES = [
    ((2, 9, 11, 8), 8, (1, 1), (1, 1)),
    ((1, 7, 5, 20), 24, (1, 1), (1, 1)),
    ((1, 13, 6, 17), 9, (0, 2), (1, 0)),
    ((3, 4, 4, 16), 16, (1, 1), (1, 1)),
    ((2, 3, 8, 12), 10, (2, 1), (2, 1)),       # 5x8 outputs
    ((1, 20, 18, 33), 40, (1, 1), (1, 1)),
    ((2, 10, 9, 8), 12, (-1, 1), (2, -1)),     # cropping on one side
    ((1, 2, 2, 8), 8, (2, 2), (2, 2)),         # mostly padding
    ((3, 6, 6, 16), 16, (1, 1), (1, 1)),       # 2x2 tile: 6x6 outputs
    ((2, 5, 6, 8), 20, (1, 1), (1, 1)),        # 2x2 tile: 5x6 outputs
    ((1, 7, 4, 9), 8, (0, 1), (0, 0)),         # 2x2 tile: 5x5 outputs
    ((1, 3, 3, 8), 8, (0, 0), (0, 0)),         # 2x2 tile: a single output position
]


@pytest.mark.parametrize("xs,O,lo,hi", CASES)
def test_forward_and_gradients_match_float64(xs, O, lo, hi):
    rng = np.random.default_rng(sum(xs) + O)
    x, w = rand(rng, *xs), rand(rng, O, 3, 3, xs[-1])
    want = ref_conv(x, w, 1, list(lo), list(hi))
    ct = rand(rng, *want.shape)
    out, gx, gw = conv_and_grads(x, w, ct, lo, hi)
    close(out, want)
    dx, dw = ref_grads(x, w, ct, lo, hi)
    close(gx, dx)
    close(gw, dw)


def test_flipped_kernel():
    """conv_general's flip (the input gradient's form) on the forward path."""
    rng = np.random.default_rng(1)
    x, w = rand(rng, 2, 9, 7, 12), rand(rng, 16, 3, 3, 12)
    got = mx.conv_general(mx.array(x, dtype=mx.float32), mx.array(w, dtype=mx.float32),
                          padding=1, flip=True)
    close(got, ref_conv(x, w, 1, 1, 1, flip=True))
    ct = rand(rng, *got.shape)
    _, (gw,) = mx.vjp(lambda b: mx.conv_general(mx.array(x, dtype=mx.float32), b, padding=1,
                                                 flip=True),
                      [mx.array(w, dtype=mx.float32)], [mx.array(ct, dtype=mx.float32)])
    close(gw, ref_grads(x, w[:, ::-1, ::-1], ct, (1, 1), (1, 1))[1][:, ::-1, ::-1])


def test_benchmark_shape_and_large_dynamic_range():
    """The ResNet block's shape, with values over many orders of magnitude: errors stay within
    the float32 tolerance relative to the largest output."""
    rng = np.random.default_rng(2)
    x = rand(rng, 4, 32, 32, 64) * np.exp(rng.uniform(-8, 8, (4, 32, 32, 64)))
    w = rand(rng, 64, 3, 3, 64) * np.exp(rng.uniform(-4, 4, (64, 3, 3, 64)))
    ct = rand(rng, 4, 32, 32, 64)
    out, gx, gw = conv_and_grads(x, w, ct, (1, 1), (1, 1))
    x32, w32, c32 = (a.astype(np.float32) for a in (x, w, ct))
    close(out, ref_conv(x32, w32, 1, 1, 1))
    dx, dw = ref_grads(x32, w32, c32, (1, 1), (1, 1))
    close(gx, dx)
    close(gw, dw)


def test_large_values():
    rng = np.random.default_rng(3)
    x, w = rand(rng, 1, 9, 9, 16) * 1e15, rand(rng, 16, 3, 3, 16) * 1e10
    ct = rand(rng, 1, 9, 9, 16) * 1e12
    out, gx, gw = conv_and_grads(x, w, ct, (1, 1), (1, 1))
    x32, w32, c32 = (a.astype(np.float32) for a in (x, w, ct))
    assert np.isfinite(np.array(out)).all() and np.isfinite(np.array(gw)).all()
    close(out, ref_conv(x32, w32, 1, 1, 1))
    dx, dw = ref_grads(x32, w32, c32, (1, 1), (1, 1))
    close(gx, dx)
    close(gw, dw)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_through_float32(dtype):
    rng = np.random.default_rng(4)
    x, w = rand(rng, 2, 10, 7, 16), rand(rng, 8, 3, 3, 16) * 0.2
    ct = rand(rng, 2, 10, 7, 8)
    out, gx, gw = conv_and_grads(x, w, ct, (1, 1), (1, 1), getattr(mx, dtype))
    assert out.dtype == getattr(mx, dtype) and gw.dtype == getattr(mx, dtype)
    # The kernel sees the rounded inputs.
    xr, wr, cr = (np.array(mx.array(a.astype(np.float32)).astype(getattr(mx, dtype))
                           .astype(mx.float32)).astype(np.float64) for a in (x, w, ct))
    close(out, ref_conv(xr, wr, 1, 1, 1), dtype)
    dx, dw = ref_grads(xr, wr, cr, (1, 1), (1, 1))
    close(gx, dx, dtype)
    close(gw, dw, dtype)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(5)
    xb, wb, cb = rand(rng, 8, 2, 11, 20), rand(rng, 3, 3, 20, 10), rand(rng, 2, 11, 8, 10)
    # x (2, 11, 8, 10) through a transpose, a reversal and a slice; w (10, 3, 3, 10) through a
    # transpose and a slice; ct through a reversal.
    x = mx.transpose(mx.array(xb, dtype=mx.float32), (1, 2, 0, 3))[:, ::-1, :, ::2]
    w = mx.transpose(mx.array(wb, dtype=mx.float32), (3, 0, 1, 2))[..., ::2]
    ct = mx.array(cb[:, ::-1].copy(), dtype=mx.float32)[:, ::-1]
    xn = np.transpose(xb, (1, 2, 0, 3))[:, ::-1, :, ::2]
    wn = np.transpose(wb, (3, 0, 1, 2))[..., ::2]
    out, (gx, gw) = mx.vjp(lambda a, b: mx.conv2d(a, b, padding=1), [x, w], [ct])
    close(out[0], ref_conv(xn, wn, 1, 1, 1))
    dx, dw = ref_grads(xn, wn, cb, (1, 1), (1, 1))
    close(gx, dx)
    close(gw, dw)


@pytest.mark.parametrize("xs,O", [((1, 5, 7, 8), 8), ((2, 6, 9, 10), 12)])
def test_derivatives_against_finite_differences(xs, O):
    """vjp and jvp in float32 (the Winograd path) against float64 central differences."""
    rng = np.random.default_rng(6)
    check_grad(lambda a, b: mx.conv2d(a, b, padding=1),
               [rand(rng, *xs), rand(rng, O, 3, 3, xs[-1])], f32_rtol=1e-4, f32_atol=1e-4)


THREADS_SCRIPT = """
import numpy as np, pullback.core as mx
rng = np.random.default_rng(7)
x = mx.array(rng.standard_normal((6, 17, 23, 24)).astype(np.float32))
w = mx.array(rng.standard_normal((32, 3, 3, 24)).astype(np.float32))
ct = mx.array(rng.standard_normal((6, 17, 23, 32)).astype(np.float32))
out, (gx, gw) = mx.vjp(lambda a, b: mx.conv2d(a, b, padding=1), [x, w], [ct])
print(" ".join(np.array(t).tobytes().hex() for t in (out[0], gx, gw)))
"""


def run_script(**env_vars):
    env = dict(os.environ, **env_vars)
    out = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


def test_same_bits_with_any_thread_count():
    """Every output tile is computed by one block in one order, and the weight gradient sums a
    fixed number of chunks in order, whatever the number of threads (several blocks here)."""
    results = [run_script(PULLBACK_NUM_THREADS=t) for t in ("1", "2", "3")]
    assert results[0] == results[1] == results[2]
    rng = np.random.default_rng(7)
    x, w, ct = rand(rng, 6, 17, 23, 24), rand(rng, 32, 3, 3, 24), rand(rng, 6, 17, 23, 32)
    x, w, ct = (a.astype(np.float32) for a in (x, w, ct))
    got = np.frombuffer(bytes.fromhex(results[0][2]), np.float32).reshape(w.shape)
    close(got, ref_grads(x, w, ct, (1, 1), (1, 1))[1])


@pytest.mark.parametrize("isa", ["avx2", "baseline"])
def test_narrower_instruction_sets(isa):
    """The transforms' AVX2 and SSE2 builds (and OpenBLAS's gemm in place of ours)."""
    results = run_script(PULLBACK_ISA=isa)
    rng = np.random.default_rng(7)
    x, w, ct = rand(rng, 6, 17, 23, 24), rand(rng, 32, 3, 3, 24), rand(rng, 6, 17, 23, 32)
    x, w, ct = (a.astype(np.float32) for a in (x, w, ct))
    shapes = [(6, 17, 23, 32), x.shape, w.shape]
    out, gx, gw = (np.frombuffer(bytes.fromhex(r), np.float32).reshape(s)
                   for r, s in zip(results, shapes))
    close(out, ref_conv(x, w, 1, 1, 1))
    dx, dw = ref_grads(x, w, ct, (1, 1), (1, 1))
    close(gx, dx)
    close(gw, dw)


def test_empty_batch_and_channels():
    x = mx.zeros((0, 8, 8, 16))
    w = mx.ones((16, 3, 3, 16))
    assert mx.conv2d(x, w, padding=1).shape == (0, 8, 8, 16)
    _, (gw,) = mx.vjp(lambda b: mx.conv2d(x, b, padding=1), [w], [mx.zeros((0, 8, 8, 16))])
    np.testing.assert_array_equal(np.array(gw), np.zeros((16, 3, 3, 16)))


def test_inf_and_nan_reach_only_the_outputs_a_direct_convolution_reaches():
    """The transforms mix a tile's whole input patch into all of its outputs; where an output
    is not finite the convolution is computed again directly, so non-finite values land
    exactly where the direct sums put them, and the finite ones stay right."""
    rng = np.random.default_rng(11)
    x, w, ct = rand(rng, 2, 16, 16, 16), rand(rng, 16, 3, 3, 16), rand(rng, 2, 16, 16, 16)
    x[0, 5, 5, 0], x[1, 9, 3, 2] = np.inf, np.nan
    out, gx, gw = conv_and_grads(x, w, ct, (1, 1), (1, 1))
    with np.errstate(invalid="ignore"):
        want = ref_conv(x, w, lo=(1, 1), hi=(1, 1))
        dx, dw = ref_grads(x, w, ct, (1, 1), (1, 1))
    for got, ref in ((out, want), (gx, dx), (gw, dw)):
        got = np.array(got)
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
        finite = np.isfinite(ref)
        np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-4, atol=1e-4)
    # A non-finite cotangent: the input derivative follows it the same way.
    ct[1, 7, 7, 3] = np.inf
    _, gx, gw = conv_and_grads(np.nan_to_num(x, posinf=0.0), w, ct, (1, 1), (1, 1))
    with np.errstate(invalid="ignore"):
        dx, dw = ref_grads(np.nan_to_num(x, posinf=0.0), w, ct, (1, 1), (1, 1))
    for got, ref in ((gx, dx), (gw, dw)):
        np.testing.assert_array_equal(np.isfinite(np.array(got)), np.isfinite(ref))
