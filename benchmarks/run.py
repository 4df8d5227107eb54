#!/usr/bin/env python3
"""Times pullback side by side with MLX, PyTorch and JAX, in one run, on the same machine.

Each framework runs in its own subprocess (this script re-invoked with ``--framework``) so
that their thread pools never compete; the parent gathers their JSON and prints one table
of measurements and one of ratios (framework time / pullback time: above 1 means pullback
is faster). Frameworks that are not importable are skipped.

    python benchmarks/run.py                       # everything importable
    python benchmarks/run.py --frameworks mlx,torch --quick
    PYTHONPATH=build/dev/py python benchmarks/run.py --json results.json
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

FRAMEWORKS = ["pullback", "mlx", "torch", "jax", "numpy"]

DISPATCH_OPS = 1000
MATMUL_N = 1024
ELEMENTWISE_N = 8 * 1024 * 1024  # float32: 32 MB in, 32 MB out
GRAD_N = 1000
INDEX_N = 1 << 22  # elements gathered / scattered / masked
TABLE_ROWS, TABLE_COLS = 1 << 16, 64
SCAN_N = 8 * 1024 * 1024  # cumsum of one long row
SCAN_SIDE = 2048  # cumsum of a square matrix along either axis (4M elements)
IO_N = 64 * 1024 * 1024  # float32: 256 MiB saved and loaded
PER_EXAMPLE_BATCH = 256  # examples whose gradients vmap(grad) computes at once

LINALG_SHAPES = {"512": "512x512", "b64": "64x64x64"}
VMAP_BATCH, VMAP_EXAMPLE = 256, (64, 256)  # vmap_shape: 4M float32 in all
CKPT_DEPTH, CKPT_WIDTH, CKPT_BATCH = 8, 512, 256  # the checkpointed MLP step
CHAIN_N = 1 << 22  # the elementwise chains that compile fuses
SETTLE_S = 0.2  # --interleave's pause between samples

# (case id, description, unit, how a time in seconds becomes the unit)
CASES = [
    ("dispatch_lazy", f"{DISPATCH_OPS} scalar adds, one eval", "us/op",
     lambda t: t / DISPATCH_OPS * 1e6),
    ("dispatch_eager", f"{DISPATCH_OPS} scalar adds, eval each", "us/op",
     lambda t: t / DISPATCH_OPS * 1e6),
    ("matmul", f"matmul {MATMUL_N}x{MATMUL_N} float32", "GFLOP/s",
     lambda t: 2 * MATMUL_N**3 / t / 1e9),
    ("elementwise", "x*2+1, 8M float32", "GB/s",
     lambda t: 2 * ELEMENTWISE_N * 4 / t / 1e9),
    ("grad", f"grad (sin(x)*cos(x)).sum(), {GRAD_N}", "us/call",
     lambda t: t * 1e6),
    ("take_rows", f"table[idx]: {INDEX_N // TABLE_COLS} rows of {TABLE_COLS}", "ms",
     lambda t: t * 1e3),
    ("take_along", "take_along_axis, 1024x4096, axis 1", "ms", lambda t: t * 1e3),
    ("scatter_add", "4M scatter-add into 65536 bins", "ms", lambda t: t * 1e3),
    ("mask_select", "x[x > 0], 4M float32", "ms", lambda t: t * 1e3),
    ("pad_1m", "pad 1024x1024 float32 by 2 (constant)", "ms", lambda t: t * 1e3),
    ("pad_8m", "pad 2048x4096 float32 by (1, 3) rows", "ms", lambda t: t * 1e3),
    ("concat_1m", "concatenate 2 x 1024x512 float32, axis 1", "ms", lambda t: t * 1e3),
    ("concat_8m", "concatenate 4 x 2M float32, axis 0", "ms", lambda t: t * 1e3),
    ("einsum_bmm", "einsum bij,bjk->bik 64x128x128 float32", "ms", lambda t: t * 1e3),
    ("einsum_attn", "einsum bhqd,bhkd->bhqk 4x8x512x64 float32", "ms", lambda t: t * 1e3),
    ("einsum_dot", "einsum i,i->, 4M float32", "ms", lambda t: t * 1e3),
    ("rms_norm_4k", "fast.rms_norm, 4096x4096 float32", "ms", lambda t: t * 1e3),
    ("layer_norm_4k", "fast.layer_norm, 4096x4096 float32", "ms", lambda t: t * 1e3),
    ("rms_norm_4k_fwdbwd", "fast.rms_norm forward + x, w grads, 4096x4096", "ms",
     lambda t: t * 1e3),
    ("layer_norm_4k_fwdbwd", "fast.layer_norm forward + x, w, b grads, 4096x4096", "ms",
     lambda t: t * 1e3),
    ("sdpa_512", "fast.sdpa, 8 heads x 512 x 64", "ms", lambda t: t * 1e3),
    ("sdpa_512_causal", "fast.sdpa causal, 8 heads x 512 x 64", "ms", lambda t: t * 1e3),
    ("sdpa_512_fwdbwd", "fast.sdpa forward + q, k, v grads, 8 x 512 x 64", "ms",
     lambda t: t * 1e3),
    ("sdpa_512_causal_fwdbwd", "same, causal", "ms", lambda t: t * 1e3),
    ("cross_entropy_fwdbwd", "fast.cross_entropy + logits grad, 4096 x 8192", "ms",
     lambda t: t * 1e3),
    ("cumsum_1d", f"cumsum, {SCAN_N // (1 << 20)}M float32 (one row)", "ms", lambda t: t * 1e3),
    ("cumsum_rows", f"cumsum {SCAN_SIDE}x{SCAN_SIDE} float32, axis 1", "ms", lambda t: t * 1e3),
    ("save_load_npy", "save + load 256 MiB float32 .npy (new file)", "ms", lambda t: t * 1e3),
    ("cumsum_cols", f"cumsum {SCAN_SIDE}x{SCAN_SIDE} float32, axis 0", "ms", lambda t: t * 1e3),
    ("sort_1m", "sort, 1M float32 (one row)", "ms", lambda t: t * 1e3),
    ("sort_8m", "sort, 8M float32 (one row)", "ms", lambda t: t * 1e3),
    ("argsort_8m", "argsort, 8M float32 (one row)", "ms", lambda t: t * 1e3),
    ("sort_rows", "sort, 1024x4096 float32, axis -1", "ms", lambda t: t * 1e3),
    ("argsort_rows", "argsort, 1024x4096 float32, axis -1", "ms", lambda t: t * 1e3),
    ("conv_resnet_fwd", "conv2d 32x32x32x64 -> 64, 3x3, pad 1", "ms", lambda t: t * 1e3),
    ("conv_resnet_fwdbwd", "same conv2d, forward + input and weight grads", "ms",
     lambda t: t * 1e3),
    ("conv_resnet_dx", "same conv2d, input grad alone (forward done)", "ms", lambda t: t * 1e3),
    ("conv_resnet_dw", "same conv2d, weight grad alone (forward done)", "ms", lambda t: t * 1e3),
    ("conv1d", "conv1d 16x2048x64 -> 64, k 5, pad 2", "ms", lambda t: t * 1e3),
    ("vmap_per_example_grad", f"per-example grads, vmap(grad) MLP {PER_EXAMPLE_BATCH}x784->256->10",
     "ms", lambda t: t * 1e3),
    ("jacrev_64", "jacrev of tanh(W @ x) * x, 64 -> 64 float32", "ms", lambda t: t * 1e3),
    ("jacfwd_64", "jacfwd of tanh(W @ x) * x, 64 -> 64 float32", "ms", lambda t: t * 1e3),
    ("train_mlp_small", "MLP train step (Adam), 32x64->64->64->10", "ms", lambda t: t * 1e3),
    ("train_mlp", "MLP train step (Adam), 256x784->512->512->10", "ms", lambda t: t * 1e3),
    ("train_transformer", "transformer encoder train step (AdamW), 4 layers, width 256, 4 heads, "
     "16x128 tokens", "ms", lambda t: t * 1e3),
    ("checkpoint_mlp", f"MLP step, nn.utils.checkpoint per layer, {CKPT_DEPTH}x tanh(Linear({CKPT_WIDTH})), "
     f"batch {CKPT_BATCH}", "ms", lambda t: t * 1e3),
    ("checkpoint_mlp_plain", "the same MLP step without checkpoints", "ms", lambda t: t * 1e3),
    ("checkpoint_mlp_interval", "the same MLP step under one mx.checkpoint(interval=2) (pullback "
     "only)", "ms", lambda t: t * 1e3),
    ("train_cnn_small", "CNN train step (Adam), 32x8x8x1: conv3x3 16, pool, conv3x3 32, pool, "
     "fc 64, fc 10", "ms", lambda t: t * 1e3),
    ("uniform_8m", "random uniform, 8M float32", "ms", lambda t: t * 1e3),
    ("normal_8m", "random normal, 8M float32", "ms", lambda t: t * 1e3),
    ("hadamard", "hadamard_transform 1024x4096 float32", "ms", lambda t: t * 1e3),
    ("hadamard_12k", "hadamard_transform 256x12288 (12*2^10) float32", "ms", lambda t: t * 1e3),
    ("convolve", "convolve 1M float32 with 31 taps, same", "ms", lambda t: t * 1e3),
    ("gather_mm", "gather_mm 512 tokens (1x256) x 8 experts (256x256)", "ms", lambda t: t * 1e3),
    ("vmap_shape", f"vmap over {VMAP_BATCH} examples of {VMAP_EXAMPLE[0]}x{VMAP_EXAMPLE[1]}: "
     "strided slices, concatenate, where, flip, pad", "ms", lambda t: t * 1e3),
    ("fft_1m", "fft, 2^20 complex64 (one line)", "ms", lambda t: t * 1e3),
    ("fft_batch", "fft, 64 x 2^16 complex64, axis -1", "ms", lambda t: t * 1e3),
    ("fft_prime", "fft, 100003 complex64 (prime length)", "ms", lambda t: t * 1e3),
    ("rfft_1m", "rfft, 2^20 float32 (one line)", "ms", lambda t: t * 1e3),
    ("fft2_1k", "fft2, 1024x1024 complex64", "ms", lambda t: t * 1e3),
    ("vmap_grad_embed", "vmap(grad): per-example embedding grads, 64 x 16 tokens, 1000x64",
     "ms", lambda t: t * 1e3),
    ("vmap_grad_conv", "vmap(grad): per-example conv2d weight grads, 32 x 16x16x8 -> 16, 3x3",
     "ms", lambda t: t * 1e3),
    *[(f"{op}_{size}", f"linalg.{op} {LINALG_SHAPES[size]} float32", "ms", lambda t: t * 1e3)
      for size in ("512", "b64") for op in ("inv", "solve", "cholesky", "svd", "eigh")],
    ("vmap_solve_shared", "vmap(linalg.solve, in_axes=(None, 0)): one 512x512, 64 vectors",
     "ms", lambda t: t * 1e3),
    ("vmap_inv_last", "vmap(linalg.inv, in_axes=-1) over 64x64x64 float32", "ms",
     lambda t: t * 1e3),
    ("chain_arith", f"x = x * 1.01 + 0.1, 12 times (24 ops), {CHAIN_N >> 20}M float32", "ms",
     lambda t: t * 1e3),
    ("chain_sin", f"x = sin(x) * 1.01 + 0.1, 12 times, {CHAIN_N >> 20}M float32", "ms",
     lambda t: t * 1e3),
    ("copy_4m", f"x * 1.0, {CHAIN_N >> 20}M float32: one read and one write, the bound of one "
     "pass", "ms", lambda t: t * 1e3),
    ("svd_c64", "linalg.svd 128x128 complex64", "ms", lambda t: t * 1e3),
    ("eigh_c64", "linalg.eigh 128x128 complex64 (Hermitian)", "ms", lambda t: t * 1e3),
]

SORT_LONG = 1 << 23


def _sort_data():
    """The NumPy inputs of the sort cases (the same for every framework)."""
    import numpy as np

    rng = np.random.default_rng(2)
    return {
        "long": rng.standard_normal(SORT_LONG).astype(np.float32),
        "rows": rng.standard_normal((1024, 4096)).astype(np.float32),
    }


def bench_sort_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    d = {k: mx.array(v) for k, v in _sort_data().items()}
    short = d["long"][: 1 << 20]
    mx.eval(short, *d.values())
    timer.measure(res, "sort_1m", lambda: mx.eval(mx.sort(short)))
    timer.measure(res, "sort_8m", lambda: mx.eval(mx.sort(d["long"])))
    timer.measure(res, "argsort_8m", lambda: mx.eval(mx.argsort(d["long"])))
    timer.measure(res, "sort_rows", lambda: mx.eval(mx.sort(d["rows"])))
    timer.measure(res, "argsort_rows", lambda: mx.eval(mx.argsort(d["rows"])))


def _index_data():
    """The NumPy inputs of the indexing cases (the same for every framework)."""
    import numpy as np

    rng = np.random.default_rng(1)
    return {
        "table": rng.standard_normal((TABLE_ROWS, TABLE_COLS)).astype(np.float32),
        "rows": rng.integers(0, TABLE_ROWS, size=INDEX_N // TABLE_COLS).astype(np.int32),
        "matrix": rng.standard_normal((1024, INDEX_N // 1024)).astype(np.float32),
        "along": rng.integers(0, INDEX_N // 1024, size=(1024, INDEX_N // 1024)).astype(np.int32),
        "bins": rng.integers(0, TABLE_ROWS, size=INDEX_N).astype(np.int32),
        "values": rng.standard_normal(INDEX_N).astype(np.float32),
    }


def bench_indexing_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    d = {k: mx.array(v) for k, v in _index_data().items()}
    mx.eval(*d.values())
    timer.measure(res, "take_rows", lambda: mx.eval(d["table"][d["rows"]]))
    timer.measure(res, "take_along", lambda: mx.eval(mx.take_along_axis(d["matrix"], d["along"], 1)))
    timer.measure(res, "scatter_add",
                  lambda: mx.eval(mx.zeros(TABLE_ROWS).at[d["bins"]].add(d["values"])))
    x = d["values"]
    timer.measure(res, "mask_select", lambda: mx.eval(x[x > 0]))


def _compose_data():
    """The NumPy inputs of the pad / concatenate / einsum cases."""
    import numpy as np

    rng = np.random.default_rng(2)
    f = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    return {"m1": f(1024, 1024), "m8": f(2048, 4096), "h1": f(1024, 512), "h2": f(1024, 512),
            "c": [f(2 * 1024 * 1024) for _ in range(4)], "ba": f(64, 128, 128), "bb": f(64, 128, 128),
            "q": f(4, 8, 512, 64), "k": f(4, 8, 512, 64), "v1": f(1 << 22), "v2": f(1 << 22)}


def bench_compose_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    d = _compose_data()
    m1, m8, h1, h2, ba, bb = (mx.array(d[k]) for k in ("m1", "m8", "h1", "h2", "ba", "bb"))
    c = [mx.array(v) for v in d["c"]]
    mx.eval(m1, m8, h1, h2, ba, bb, *c)
    timer.measure(res, "pad_1m", lambda: mx.eval(mx.pad(m1, 2)))
    timer.measure(res, "pad_8m", lambda: mx.eval(mx.pad(m8, [(1, 3), (0, 0)])))
    timer.measure(res, "concat_1m", lambda: mx.eval(mx.concatenate([h1, h2], axis=1)))
    timer.measure(res, "concat_8m", lambda: mx.eval(mx.concatenate(c)))
    timer.measure(res, "einsum_bmm", lambda: mx.eval(mx.einsum("bij,bjk->bik", ba, bb)))
    q, k, v1, v2 = (mx.array(d[n]) for n in ("q", "k", "v1", "v2"))
    mx.eval(q, k, v1, v2)
    timer.measure(res, "einsum_attn", lambda: mx.eval(mx.einsum("bhqd,bhkd->bhqk", q, k)))
    timer.measure(res, "einsum_dot", lambda: mx.eval(mx.einsum("i,i->", v1, v2)))

def _scan_data():
    """The NumPy inputs of the cumsum cases (the same for every framework)."""
    import numpy as np

    rng = np.random.default_rng(2)
    return {
        "row": rng.standard_normal(SCAN_N).astype(np.float32),
        "square": rng.standard_normal((SCAN_SIDE, SCAN_SIDE)).astype(np.float32),
    }


def bench_scan_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    d = {k: mx.array(v) for k, v in _scan_data().items()}
    mx.eval(*d.values())
    timer.measure(res, "cumsum_1d", lambda: mx.eval(mx.cumsum(d["row"])))
    timer.measure(res, "cumsum_rows", lambda: mx.eval(mx.cumsum(d["square"], axis=1)))
    timer.measure(res, "cumsum_cols", lambda: mx.eval(mx.cumsum(d["square"], axis=0)))


def _fast_data():
    """The NumPy inputs of the mx.fast cases: norms over 4096x4096, attention (B=1, 8 heads)."""
    import numpy as np

    rng = np.random.default_rng(5)
    f32 = np.float32
    return {
        "x": rng.standard_normal((4096, 4096)).astype(f32),
        "w": rng.standard_normal(4096).astype(f32),
        "b": rng.standard_normal(4096).astype(f32),
        "ct_norm": rng.standard_normal((4096, 4096)).astype(f32),
        "q": rng.standard_normal((1, 8, 512, 64)).astype(f32),
        "k": rng.standard_normal((1, 8, 512, 64)).astype(f32),
        "v": rng.standard_normal((1, 8, 512, 64)).astype(f32),
        "ct": rng.standard_normal((1, 8, 512, 64)).astype(f32),
        "logits": rng.standard_normal((4096, 8192)).astype(f32),
        "targets": rng.integers(0, 8192, 4096).astype(np.int32),
    }


def bench_fast_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    d = {k: mx.array(v) for k, v in _fast_data().items()}
    mx.eval(*d.values())
    f = mx.fast
    timer.measure(res, "rms_norm_4k", lambda: mx.eval(f.rms_norm(d["x"], d["w"], 1e-5)))
    timer.measure(res, "layer_norm_4k",
                  lambda: mx.eval(f.layer_norm(d["x"], d["w"], d["b"], 1e-5)))
    timer.measure(res, "rms_norm_4k_fwdbwd", lambda: mx.eval(mx.vjp(
        lambda x, w: [f.rms_norm(x, w, 1e-5)], [d["x"], d["w"]], [d["ct_norm"]])))
    timer.measure(res, "layer_norm_4k_fwdbwd", lambda: mx.eval(mx.vjp(
        lambda x, w, b: [f.layer_norm(x, w, b, 1e-5)], [d["x"], d["w"], d["b"]], [d["ct_norm"]])))
    timer.measure(res, "sdpa_512", lambda: mx.eval(
        f.scaled_dot_product_attention(d["q"], d["k"], d["v"], scale=0.125)))
    timer.measure(res, "sdpa_512_causal", lambda: mx.eval(
        f.scaled_dot_product_attention(d["q"], d["k"], d["v"], scale=0.125, mask="causal")))
    for case, mask in (("sdpa_512_fwdbwd", None), ("sdpa_512_causal_fwdbwd", "causal")):
        attend = (lambda m: lambda q, k, v: [
            f.scaled_dot_product_attention(q, k, v, scale=0.125, mask=m)])(mask)
        timer.measure(res, case, (lambda fn: lambda: mx.eval(
            mx.vjp(fn, [d["q"], d["k"], d["v"]], [d["ct"]])))(attend))
    ce_grad = mx.grad(lambda x: f.cross_entropy(x, d["targets"]).sum())
    timer.measure(res, "cross_entropy_fwdbwd", lambda: mx.eval(ce_grad(d["logits"])))


def bench_save_load(res: Dict[str, object], timer: "Timer", save: Callable, load: Callable) -> None:
    """save(path, x) then load(path) of IO_N float32 values. Each round removes the previous
    file first: replacing an existing file through a rename makes ext4 flush the new file's
    pages (its guard against empty files after a crash), a cost of the filesystem and not of
    the code measured here, which an atomic writer (pullback's) pays and an in-place one not."""
    import atexit
    import shutil
    import tempfile

    # Removed at exit, not here: with --interleave the round trip runs after this returns.
    directory = tempfile.mkdtemp(prefix="pullback-bench-io-")
    atexit.register(shutil.rmtree, directory, True)
    path = os.path.join(directory, "x.npy")

    def round_trip():
        if os.path.exists(path):
            os.unlink(path)
        save(path)
        load(path)

    timer.measure(res, "save_load_npy", round_trip)


def bench_io_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    import numpy as np

    x = mx.array(np.random.default_rng(3).standard_normal(IO_N, dtype=np.float32))
    mx.eval(x)
    bench_save_load(res, timer, lambda p: mx.save(p, x), lambda p: mx.eval(mx.load(p)))


def bench_numpy_io(res: Dict[str, object], timer: "Timer") -> None:
    """NumPy's save/load, the reference for .npy."""
    import numpy as np

    x = np.random.default_rng(3).standard_normal(IO_N, dtype=np.float32)
    bench_save_load(res, timer, lambda p: np.save(p, x), np.load)


def _conv_data():
    """The NumPy inputs of the convolution cases, channels last (MLX's layout)."""
    import numpy as np

    rng = np.random.default_rng(3)
    f = lambda *shape: (rng.standard_normal(shape) * 0.1).astype(np.float32)  # noqa: E731
    return {"x": f(32, 32, 32, 64), "w": f(64, 3, 3, 64), "ct": f(32, 32, 32, 64),
            "x1": f(16, 2048, 64), "w1": f(64, 5, 64)}


def bench_conv_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    d = {k: mx.array(v) for k, v in _conv_data().items()}
    mx.eval(*d.values())
    timer.measure(res, "conv_resnet_fwd", lambda: mx.eval(mx.conv2d(d["x"], d["w"], padding=1)))

    def fwd_bwd():
        out, grads = mx.vjp(lambda a, b: mx.conv2d(a, b, padding=1), [d["x"], d["w"]], [d["ct"]])
        mx.eval(out, grads)

    timer.measure(res, "conv_resnet_fwdbwd", fwd_bwd)
    # One gradient alone: only the requested cotangent is evaluated (the forward is not needed).
    for case, i in (("conv_resnet_dx", 0), ("conv_resnet_dw", 1)):
        timer.measure(res, case, (lambda i: lambda: mx.eval(mx.vjp(
            lambda a, b: mx.conv2d(a, b, padding=1), [d["x"], d["w"]], [d["ct"]])[1][i]))(i))
    timer.measure(res, "conv1d", lambda: mx.eval(mx.conv1d(d["x1"], d["w1"], padding=2)))


def _vmap_data():
    """Inputs of the per-example gradient cases (vmap of grad over a batch of examples)."""
    import numpy as np

    rng = np.random.default_rng(4)
    f = lambda *shape: (rng.standard_normal(shape) * 0.1).astype(np.float32)  # noqa: E731
    return {"table": f(1000, 64), "tokens": rng.integers(0, 1000, (64, 16)).astype(np.int32),
            "embed_target": f(64, 16, 64), "x": f(32, 1, 16, 16, 8), "w": f(16, 3, 3, 8),
            "conv_target": f(32, 1, 16, 16, 16)}


def bench_vmap_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    d = {k: mx.array(v) for k, v in _vmap_data().items()}
    mx.eval(*d.values())

    def embed_loss(table, tokens, target):
        return (mx.tanh(table[tokens]) * target).sum()

    per_embed = mx.vmap(mx.grad(embed_loss), in_axes=(None, 0, 0))
    timer.measure(res, "vmap_grad_embed",
                  lambda: mx.eval(per_embed(d["table"], d["tokens"], d["embed_target"])))

    def conv_loss(w, x, target):
        return ((mx.conv2d(x, w, padding=1) - target) ** 2).sum()

    per_conv = mx.vmap(mx.grad(conv_loss), in_axes=(None, 0, 0))
    timer.measure(res, "vmap_grad_conv",
                  lambda: mx.eval(per_conv(d["w"], d["x"], d["conv_target"])))


MLP_SHAPES = {"train_mlp_small": (32, [64, 64, 64, 10]), "train_mlp": (256, [784, 512, 512, 10])}


def _mlp_data(case: str):
    """Weights, inputs and labels of an MLP training case (the same for every framework)."""
    import numpy as np

    rng = np.random.default_rng(3)
    batch, dims = MLP_SHAPES[case]
    layers = [{"w": (rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32),
               "b": np.zeros(o, np.float32)} for i, o in zip(dims[:-1], dims[1:])]
    x = rng.standard_normal((batch, dims[0])).astype(np.float32)
    y = rng.integers(0, dims[-1], size=batch).astype(np.int32)
    return layers, x, y


def bench_train_mlx_like(mx, res: Dict[str, object], timer: "Timer", compiled: bool = False) -> None:
    """One training step: nn.value_and_grad of a cross-entropy loss, then Adam's update (with
    `compiled`, the whole step compiled with the model and optimizer state as its state)."""
    import importlib

    root = mx.__name__.rsplit(".", 1)[0]
    nn = importlib.import_module(root + ".nn")
    optim = importlib.import_module(root + ".optimizers")

    class MLP(nn.Module):
        def __init__(self, layers):
            super().__init__()
            self.layers = [{k: mx.array(v) for k, v in layer.items()} for layer in layers]

        def __call__(self, h):
            for layer in self.layers[:-1]:
                h = nn.relu(h @ layer["w"] + layer["b"])
            return h @ self.layers[-1]["w"] + self.layers[-1]["b"]

    def add_case(case: str) -> None:  # a function per case: its closures keep their own data
        layers, x_np, y_np = _mlp_data(case)
        model, x, y = MLP(layers), mx.array(x_np), mx.array(y_np)
        optimizer = optim.Adam(learning_rate=1e-3)

        def loss_fn(inputs, labels):
            return nn.losses.cross_entropy(model(inputs), labels, reduction="mean")

        step_fn = nn.value_and_grad(model, loss_fn)

        def update(inputs, labels):
            loss, grads = step_fn(inputs, labels)
            optimizer.update(model, grads)
            return loss

        if compiled:
            optimizer.init(model.trainable_parameters())
            state = [model.state, optimizer.state]
            update = mx.compile(update, inputs=state, outputs=state)

        def step():
            loss = update(x, y)
            mx.eval(loss, model.parameters(), optimizer.state)

        timer.measure(res, case, step)

    for case in MLP_SHAPES:
        add_case(case)

TF_LAYERS, TF_DIMS, TF_HEADS, TF_BATCH, TF_SEQ = 4, 256, 4, 16, 128


def bench_transformer_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    """One training step of a pre-norm transformer encoder (causal mask) with a squared loss:
    nn.value_and_grad, then AdamW."""
    import importlib

    import numpy as np

    root = mx.__name__.rsplit(".", 1)[0]
    nn = importlib.import_module(root + ".nn")
    optim = importlib.import_module(root + ".optimizers")
    rng = np.random.default_rng(8)
    model = nn.TransformerEncoder(TF_LAYERS, TF_DIMS, TF_HEADS, mlp_dims=4 * TF_DIMS)
    x = mx.array(rng.standard_normal((TF_BATCH, TF_SEQ, TF_DIMS)).astype(np.float32))
    target = mx.array(rng.standard_normal((TF_BATCH, TF_SEQ, TF_DIMS)).astype(np.float32))
    mask = nn.MultiHeadAttention.create_additive_causal_mask(TF_SEQ)
    optimizer = optim.AdamW(learning_rate=1e-4)
    mx.eval(model.parameters(), x, target, mask)

    def loss_fn(inputs):
        return mx.mean(mx.square(model(inputs, mask) - target))

    step_fn = nn.value_and_grad(model, loss_fn)

    def step():
        loss, grads = step_fn(x)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)

    timer.measure(res, "train_transformer", step)


def _per_example_data():
    """A 784-256-10 tanh MLP and a batch of inputs with one-hot labels (cross-entropy)."""
    import numpy as np

    rng = np.random.default_rng(4)
    f32 = np.float32
    params = [(rng.standard_normal((784, 256)) / 28).astype(f32), np.zeros(256, f32),
              (rng.standard_normal((256, 10)) / 16).astype(f32), np.zeros(10, f32)]
    x = rng.standard_normal((PER_EXAMPLE_BATCH, 784)).astype(f32)
    y = np.eye(10, dtype=f32)[rng.integers(0, 10, PER_EXAMPLE_BATCH)]
    return params, x, y


def bench_per_example_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> Dict[str, object]:
    """Per-example gradients with vmap(grad), into `res`; the same by a Python loop of grad
    (stacked, so that both give the same arrays) is returned as its own variant."""
    params_np, x_np, y_np = _per_example_data()
    params, x, y = [mx.array(p) for p in params_np], mx.array(x_np), mx.array(y_np)
    mx.eval(params, x, y)

    def loss(params, x, y):
        w1, b1, w2, b2 = params
        logits = mx.tanh(x @ w1 + b1) @ w2 + b2
        return mx.logsumexp(logits) - mx.sum(logits * y)

    per_example = mx.vmap(mx.grad(loss), in_axes=(None, 0, 0))
    timer.measure(res, "vmap_per_example_grad", lambda: mx.eval(per_example(params, x, y)))
    grad = mx.grad(loss)

    def loop():
        grads = [grad(params, x[i], y[i]) for i in range(PER_EXAMPLE_BATCH)]
        mx.eval([mx.stack([g[k] for g in grads]) for k in range(len(params))])

    looped: Dict[str, object] = {}
    timer.measure(looped, "vmap_per_example_grad", loop)
    if hasattr(mx, "jacrev"):
        w_np, v_np = _jacobian_data()
        w, v = mx.array(w_np), mx.array(v_np)
        f = lambda u: mx.tanh(w @ u) * u  # noqa: E731
        timer.measure(res, "jacrev_64", lambda: mx.eval(mx.jacrev(f)(v)))
        timer.measure(res, "jacfwd_64", lambda: mx.eval(mx.jacfwd(f)(v)))
    return looped


def _jacobian_data():
    """W (64x64) and x (64) of the jacrev/jacfwd cases."""
    import numpy as np

    rng = np.random.default_rng(6)
    return (rng.standard_normal((64, 64)).astype(np.float32) / 8,
            rng.standard_normal(64).astype(np.float32))


def bench_checkpoint_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    """nn.value_and_grad of an MLP whose layers each run under nn.utils.checkpoint (their
    activations are recomputed in the backward pass), and the same step without checkpoints."""
    import importlib

    import numpy as np

    nn = importlib.import_module(mx.__name__.rsplit(".", 1)[0] + ".nn")
    rng = np.random.default_rng(4)

    class MLP(nn.Module):
        def __init__(self, checkpointed):
            super().__init__()
            self.layers = [nn.Linear(CKPT_WIDTH, CKPT_WIDTH) for _ in range(CKPT_DEPTH)]
            self.checkpointed = checkpointed

        def __call__(self, h):
            if self.checkpointed == "interval":
                return mx.checkpoint(layers_forward, interval=2)(self, h)
            for layer in self.layers:
                h = mx.tanh(nn.utils.checkpoint(layer)(h) if self.checkpointed else layer(h))
            return h

    def layers_forward(model, h):
        for layer in model.layers:
            h = mx.tanh(layer(h))
        return h

    cases = [("checkpoint_mlp", True), ("checkpoint_mlp_plain", False)]
    try:  # checkpoint's interval is pullback's (MLX has none)
        mx.checkpoint(lambda x: x, interval=2)
        cases.append(("checkpoint_mlp_interval", "interval"))
    except TypeError:
        pass
    x = mx.array(rng.standard_normal((CKPT_BATCH, CKPT_WIDTH)).astype(np.float32))
    def add_case(case: str, checkpointed) -> None:  # closures keep their own model
        model = MLP(checkpointed)
        mx.eval(model.parameters())
        step_fn = nn.value_and_grad(model, lambda h: model(h).sum())

        def step():
            mx.eval(step_fn(x))

        timer.measure(res, case, step)

    for case, checkpointed in cases:
        add_case(case, checkpointed)


def bench_cnn_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    """One training step of examples/train_digits.py's CNN, built from nn layers."""
    import importlib

    import numpy as np

    root = mx.__name__.rsplit(".", 1)[0]
    nn = importlib.import_module(root + ".nn")
    optim = importlib.import_module(root + ".optimizers")
    rng = np.random.default_rng(3)
    f = lambda *shape: (rng.standard_normal(shape) * 0.1).astype(np.float32)  # noqa: E731
    weights = {"c1": (f(16, 3, 3, 1), f(16)), "c2": (f(32, 3, 3, 16), f(32)),
               "f1": (f(64, 128), f(64)), "f2": (f(10, 64), f(10))}

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
            self.f1, self.f2, self.pool = nn.Linear(128, 64), nn.Linear(64, 10), nn.MaxPool2d(2)
            self.update({k: {"weight": mx.array(w), "bias": mx.array(b)}
                         for k, (w, b) in weights.items()})

        def __call__(self, h):
            h = self.pool(nn.relu(self.c1(h)))
            h = self.pool(nn.relu(self.c2(h)))
            return self.f2(nn.relu(self.f1(h.reshape(h.shape[0], -1))))

    model, optimizer = CNN(), optim.Adam(learning_rate=1e-3)
    x, y = mx.array(f(32, 8, 8, 1)), mx.array(rng.integers(0, 10, size=32).astype(np.int32))
    step_fn = nn.value_and_grad(
        model, lambda a, b: nn.losses.cross_entropy(model(a), b, reduction="mean"))

    def step():
        loss, grads = step_fn(x, y)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)

    timer.measure(res, "train_cnn_small", step)


def bench_random_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    key = mx.random.key(0)
    timer.measure(res, "uniform_8m", lambda: mx.eval(mx.random.uniform(shape=(ELEMENTWISE_N,), key=key)))
    timer.measure(res, "normal_8m", lambda: mx.eval(mx.random.normal((ELEMENTWISE_N,), key=key)))


def _special_data():
    """The NumPy inputs of the special-op cases (the same for every framework)."""
    import numpy as np

    rng = np.random.default_rng(3)
    return {
        "rows": rng.standard_normal((1024, 4096)).astype(np.float32),
        "rows_12k": rng.standard_normal((256, 12 * 1024)).astype(np.float32),
        "signal": rng.standard_normal(1 << 20).astype(np.float32),
        "taps": rng.standard_normal(31).astype(np.float32),
        "tokens": rng.standard_normal((512, 1, 256)).astype(np.float32),
        "experts": rng.standard_normal((8, 256, 256)).astype(np.float32),
        "choice": np.sort(rng.integers(0, 8, 512)).astype(np.int32),
    }


def _vmap_shape_data():
    """The batch of the vmap_shape case, its batch axis first."""
    import numpy as np

    return np.random.default_rng(7).standard_normal((VMAP_BATCH, *VMAP_EXAMPLE)).astype(np.float32)


def bench_vmap_shape_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    def example(a):  # one (64, 256) example -> (34, 512)
        h = mx.concatenate([a[::2], a[1::2]], axis=-1)
        h = mx.where(h > 0, h, 0.1 * h)
        return mx.pad(h[:, ::-1], [(1, 1), (0, 0)])

    x = mx.array(_vmap_shape_data())
    mx.eval(x)
    f = mx.vmap(example)
    timer.measure(res, "vmap_shape", lambda: mx.eval(f(x)))


def bench_special_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    d = {k: mx.array(v) for k, v in _special_data().items()}
    mx.eval(*d.values())
    timer.measure(res, "hadamard", lambda: mx.eval(mx.hadamard_transform(d["rows"])))
    timer.measure(res, "hadamard_12k", lambda: mx.eval(mx.hadamard_transform(d["rows_12k"])))
    timer.measure(res, "convolve", lambda: mx.eval(mx.convolve(d["signal"], d["taps"], "same")))
    timer.measure(res, "gather_mm", lambda: mx.eval(mx.gather_mm(
        d["tokens"], d["experts"], None, d["choice"], sorted_indices=True)))


def _fft_data():
    """The NumPy inputs of the FFT cases (the same for every framework)."""
    import numpy as np

    rng = np.random.default_rng(3)

    def cplx(*shape):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)

    return {"line": cplx(1 << 20), "batch": cplx(64, 1 << 16), "prime": cplx(100003),
            "real": rng.standard_normal(1 << 20).astype(np.float32), "square": cplx(1024, 1024)}


def bench_fft_cases(fft, convert, res: Dict[str, object], timer: "Timer", done=lambda y: y) -> None:
    """The FFT cases for any framework with a numpy.fft-like module `fft`; `convert` makes its
    arrays from NumPy ones and `done` waits for a result."""
    d = {k: convert(v) for k, v in _fft_data().items()}
    timer.measure(res, "fft_1m", lambda: done(fft.fft(d["line"])))
    timer.measure(res, "fft_batch", lambda: done(fft.fft(d["batch"])))
    timer.measure(res, "fft_prime", lambda: done(fft.fft(d["prime"])))
    timer.measure(res, "rfft_1m", lambda: done(fft.rfft(d["real"])))
    timer.measure(res, "fft2_1k", lambda: done(fft.fft2(d["square"])))


def bench_numpy(timer: "Timer"):
    """NumPy where it is the reference: pocketfft for the FFT cases, save/load for .npy."""
    import numpy as np

    res: Dict[str, object] = {}
    bench_fft_cases(np.fft, lambda v: v, res, timer)
    bench_numpy_io(res, timer)
    return {"numpy": res}


def _linalg_data():
    """The NumPy inputs of the linalg cases: well-conditioned square matrices, symmetric positive
    definite ones, right-hand sides (64 columns), as one 512x512 problem and a batch of 64."""
    import numpy as np

    rng = np.random.default_rng(3)
    out = {}
    for size, shape in (("512", (512, 512)), ("b64", (64, 64, 64))):
        n = shape[-1]
        a = rng.standard_normal(shape).astype(np.float32) + np.float32(n ** 0.5) * np.eye(n, dtype=np.float32)
        out[size] = {"a": a, "spd": a @ np.swapaxes(a, -1, -2) + n * np.eye(n, dtype=np.float32),
                     "b": rng.standard_normal(shape[:-1] + (64,)).astype(np.float32)}
    return out


def _complex_linalg_data():
    """A complex64 128x128 matrix and a Hermitian one, for the complex svd / eigh cases."""
    import numpy as np

    rng = np.random.default_rng(4)
    c = (rng.standard_normal((128, 128)) + 1j * rng.standard_normal((128, 128))).astype(np.complex64)
    return {"a": c, "herm": c + c.conj().T}


def bench_linalg_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    L, cpu = mx.linalg, mx.cpu  # MLX runs linalg on the CPU stream only
    def add_size(size: str, d: dict) -> None:  # closures keep their own matrices
        d = {k: mx.array(v) for k, v in d.items()}
        mx.eval(*d.values())
        timer.measure(res, f"inv_{size}", lambda: mx.eval(L.inv(d["a"], stream=cpu)))
        timer.measure(res, f"solve_{size}", lambda: mx.eval(L.solve(d["a"], d["b"], stream=cpu)))
        timer.measure(res, f"cholesky_{size}", lambda: mx.eval(L.cholesky(d["spd"], stream=cpu)))
        timer.measure(res, f"svd_{size}", lambda: mx.eval(*L.svd(d["a"], stream=cpu)))
        timer.measure(res, f"eigh_{size}", lambda: mx.eval(*L.eigh(d["spd"], stream=cpu)))

    for size, d in _linalg_data().items():
        add_size(size, d)
    c = {k: mx.array(v) for k, v in _complex_linalg_data().items()}
    mx.eval(*c.values())
    timer.measure(res, "svd_c64", lambda: mx.eval(*L.svd(c["a"], stream=cpu)))
    timer.measure(res, "eigh_c64", lambda: mx.eval(*L.eigh(c["herm"], stream=cpu)))


def _vmap_linalg_data():
    """The vmap linalg cases' inputs: one matrix with 64 right-hand sides (one per example) and
    a stack of 64 matrices whose batch axis is last."""
    import numpy as np

    d = _linalg_data()
    return {"a": d["512"]["a"], "rhs": np.ascontiguousarray(d["512"]["b"].T),
            "stack": np.ascontiguousarray(np.moveaxis(d["b64"]["a"], 0, -1))}


def bench_vmap_linalg_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    L, cpu = mx.linalg, mx.cpu
    d = {k: mx.array(v) for k, v in _vmap_linalg_data().items()}
    mx.eval(*d.values())
    solve_each = mx.vmap(lambda m, v: L.solve(m, v, stream=cpu), in_axes=(None, 0))
    timer.measure(res, "vmap_solve_shared", lambda: mx.eval(solve_each(d["a"], d["rhs"])))
    inv_each = mx.vmap(lambda m: L.inv(m, stream=cpu), in_axes=-1)
    timer.measure(res, "vmap_inv_last", lambda: mx.eval(inv_each(d["stack"])))


class Timer:
    """Median seconds per call of `fn`, over `repeats` samples of enough calls to last."""

    def __init__(self, quick: bool, cases: Optional[List[str]] = None, capture: bool = False):
        self.cases = cases  # None: every case; else only cases whose id contains one of these
        self.repeats = 3 if quick else 7
        self.sample_s = 0.02 if quick else 0.08
        self.warmup = 2 if quick else 5
        # With `capture`, measure() only keeps each case's function (for --interleave).
        self.captured: Optional[Dict[int, Dict[str, Callable[[], object]]]] = {} if capture else None

    def measure(self, results: Dict[str, object], case: str, fn: Callable[[], object]) -> None:
        """Stores the time of `fn` under `case`, or the error it raised."""
        if self.cases is not None and not any(c in case for c in self.cases):
            return
        if self.captured is not None:
            self.captured.setdefault(id(results), {})[case] = fn
            return
        # A crash (not an exception) leaves this as the child's last line on stderr.
        print(f"case {case}", file=sys.stderr, flush=True)
        try:
            results[case] = self(fn)
        except Exception as e:  # noqa: BLE001 - one failing case must not hide the others
            results[case] = _error(e)

    def __call__(self, fn: Callable[[], object]) -> float:
        calls = self.calibrate(fn)
        samples = [self._run(fn, calls) / calls for _ in range(self.repeats)]
        return statistics.median(samples)

    def calibrate(self, fn: Callable[[], object]) -> int:
        """Warms `fn` up; returns how many calls make one sample of about sample_s."""
        for _ in range(self.warmup):
            fn()
        calls = 1
        while True:
            elapsed = self._run(fn, calls)
            if elapsed >= self.sample_s or calls >= 1 << 20:
                return calls
            calls = max(calls * 2, int(calls * self.sample_s / max(elapsed, 1e-9) * 1.2))

    @staticmethod
    def _run(fn: Callable[[], object], calls: int) -> float:
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            return time.perf_counter() - start
        finally:
            if gc_was_enabled:
                gc.enable()


# ---- the cases, per framework: each returns {variant: {case: seconds}} ----------------

def bench_mlx_like(mx, name: str, timer: Timer) -> Dict[str, Dict[str, float]]:
    """pullback and MLX share an API: `mx` is `pullback.core` or `mlx.core`."""
    import numpy as np

    rng = np.random.default_rng(0)
    res: Dict[str, object] = {}

    def lazy_chain():
        x = mx.array(0.0)
        for _ in range(DISPATCH_OPS):
            x = x + 1
        mx.eval(x)

    def eager_chain():
        x = mx.array(0.0)
        for _ in range(DISPATCH_OPS):
            x = x + 1
            mx.eval(x)

    timer.measure(res, "dispatch_lazy", lazy_chain)
    timer.measure(res, "dispatch_eager", eager_chain)

    a = mx.array(rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32))
    b = mx.array(rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32))
    mx.eval(a, b)
    timer.measure(res, "matmul", lambda: mx.eval(a @ b))

    x = mx.array(rng.standard_normal(ELEMENTWISE_N, dtype=np.float32))
    mx.eval(x)
    timer.measure(res, "elementwise", lambda: mx.eval(x * 2 + 1))

    def loss(v):
        return (mx.sin(v) * mx.cos(v)).sum()

    g = mx.grad(loss)
    v = mx.array(rng.standard_normal(GRAD_N, dtype=np.float32))
    mx.eval(v)
    timer.measure(res, "grad", lambda: mx.eval(g(v)))

    def arith_chain(t):
        for _ in range(12):
            t = t * 1.01 + 0.1
        return t

    def sin_chain(t):
        for _ in range(12):
            t = mx.sin(t) * 1.01 + 0.1
        return t

    xc = mx.array(rng.standard_normal(CHAIN_N, dtype=np.float32))
    mx.eval(xc)
    timer.measure(res, "chain_arith", lambda: mx.eval(arith_chain(xc)))
    timer.measure(res, "chain_sin", lambda: mx.eval(sin_chain(xc)))
    timer.measure(res, "copy_4m", lambda: mx.eval(xc * 1.0))
    bench_indexing_mlx_like(mx, res, timer)
    bench_compose_mlx_like(mx, res, timer)
    bench_scan_mlx_like(mx, res, timer)
    bench_sort_mlx_like(mx, res, timer)
    bench_io_mlx_like(mx, res, timer)
    bench_conv_mlx_like(mx, res, timer)
    bench_vmap_mlx_like(mx, res, timer)
    bench_train_mlx_like(mx, res, timer)
    bench_transformer_mlx_like(mx, res, timer)
    bench_checkpoint_mlx_like(mx, res, timer)
    bench_cnn_mlx_like(mx, res, timer)
    bench_random_mlx_like(mx, res, timer)
    bench_special_mlx_like(mx, res, timer)
    bench_vmap_shape_mlx_like(mx, res, timer)

    def evaluated(v):
        a = mx.array(v)
        mx.eval(a)
        return a

    bench_fft_cases(mx.fft, evaluated, res, timer, done=lambda y: mx.eval(y))
    bench_linalg_mlx_like(mx, res, timer)
    bench_vmap_linalg_mlx_like(mx, res, timer)
    bench_fast_mlx_like(mx, res, timer)
    looped = bench_per_example_mlx_like(mx, res, timer) if hasattr(mx, "vmap") else {}

    out = {name: res}
    if looped:
        out[name + ".loop"] = looped
    # The compiled variants fuse x*2+1 and the grad graph; reported where compile works.
    if hasattr(mx, "compile"):
        compiled: Dict[str, object] = {}
        try:
            f = mx.compile(lambda t: t * 2 + 1)
            timer.measure(compiled, "elementwise", lambda: mx.eval(f(x)))
            cg = mx.compile(g)
            timer.measure(compiled, "grad", lambda: mx.eval(cg(v)))
            ca, cs = mx.compile(arith_chain), mx.compile(sin_chain)
            timer.measure(compiled, "chain_arith", lambda: mx.eval(ca(xc)))
            timer.measure(compiled, "chain_sin", lambda: mx.eval(cs(xc)))
            timer.measure(compiled, "copy_4m", lambda: mx.eval(xc * 1.0))  # the same bound
            bench_train_mlx_like(mx, compiled, timer, compiled=True)
        except Exception as e:  # noqa: BLE001 - a missing feature is reported, not fatal
            for case in ("elementwise", "grad", "chain_arith", "chain_sin", "train_mlp"):
                compiled.setdefault(case, _error(e))
        out[name + ".compile"] = compiled
    return out


def bench_pullback(timer: Timer):
    import pullback.core as mx

    return bench_mlx_like(mx, "pullback", timer)


def bench_mlx(timer: Timer):
    import mlx.core as mx

    mx.set_default_device(mx.cpu)
    return bench_mlx_like(mx, "mlx", timer)


def _torch_transformer_step(torch):
    """The train_transformer step in PyTorch: nn.TransformerEncoder (pre-norm, batch first, no
    dropout, the same causal mask), a squared loss, AdamW."""
    import numpy as np

    rng = np.random.default_rng(8)
    layer = torch.nn.TransformerEncoderLayer(TF_DIMS, TF_HEADS, 4 * TF_DIMS, dropout=0.0,
                                             activation="relu", batch_first=True,
                                             norm_first=True)
    model = torch.nn.TransformerEncoder(layer, TF_LAYERS, norm=torch.nn.LayerNorm(TF_DIMS),
                                        enable_nested_tensor=False)
    x = torch.from_numpy(rng.standard_normal((TF_BATCH, TF_SEQ, TF_DIMS)).astype(np.float32))
    target = torch.from_numpy(rng.standard_normal((TF_BATCH, TF_SEQ, TF_DIMS)).astype(np.float32))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(TF_SEQ)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        loss = ((model(x, mask=mask, is_causal=True) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def bench_torch(timer: Timer):
    import torch

    torch.manual_seed(0)
    res: Dict[str, object] = {}

    def chain():
        x = torch.tensor(0.0)
        for _ in range(DISPATCH_OPS):
            x = x + 1
        return x

    # Eager: each op has finished when it returns, so both dispatch cases are one thing.
    with torch.no_grad():
        timer.measure(res, "dispatch_lazy", chain)
        timer.measure(res, "dispatch_eager", chain)
        mm_a = torch.randn(MATMUL_N, MATMUL_N)
        mm_b = torch.randn(MATMUL_N, MATMUL_N)
        timer.measure(res, "matmul", lambda: mm_a @ mm_b)
        ew_x = torch.randn(ELEMENTWISE_N)
        timer.measure(res, "elementwise", lambda: ew_x * 2 + 1)

    v = torch.randn(GRAD_N, requires_grad=True)

    def grad():
        y = (torch.sin(v) * torch.cos(v)).sum()
        return torch.autograd.grad(y, v)[0]

    timer.measure(res, "grad", grad)

    # Per-example gradients with torch.func (vmap of grad), as bench_per_example_mlx_like.
    params_np, x_np, y_np = _per_example_data()
    pe_params = [torch.from_numpy(p) for p in params_np]
    pe_x, pe_y = torch.from_numpy(x_np), torch.from_numpy(y_np)

    def pe_loss(params, x, y):
        w1, b1, w2, b2 = params
        logits = torch.tanh(x @ w1 + b1) @ w2 + b2
        return torch.logsumexp(logits, -1) - (logits * y).sum()

    per_example = torch.func.vmap(torch.func.grad(pe_loss), in_dims=(None, 0, 0))
    timer.measure(res, "vmap_per_example_grad", lambda: per_example(pe_params, pe_x, pe_y))
    jw, jv = (torch.from_numpy(a) for a in _jacobian_data())
    jf = lambda u: torch.tanh(jw @ u) * u  # noqa: E731
    timer.measure(res, "jacrev_64", lambda: torch.func.jacrev(jf)(jv))
    timer.measure(res, "jacfwd_64", lambda: torch.func.jacfwd(jf)(jv))

    idx = {k: torch.from_numpy(v) for k, v in _index_data().items()}
    rows, bins, along = idx["rows"].long(), idx["bins"].long(), idx["along"].long()
    with torch.no_grad():
        timer.measure(res, "take_rows", lambda: idx["table"][rows])
        timer.measure(res, "take_along", lambda: torch.take_along_dim(idx["matrix"], along, 1))
        timer.measure(res, "scatter_add",
                      lambda: torch.zeros(TABLE_ROWS).index_add_(0, bins, idx["values"]))
        masked = idx["values"]
        timer.measure(res, "mask_select", lambda: masked[masked > 0])
        F = torch.nn.functional
        comp = {k: (torch.from_numpy(v) if k != "c" else [torch.from_numpy(u) for u in v])
                for k, v in _compose_data().items()}
        timer.measure(res, "pad_1m", lambda: F.pad(comp["m1"], (2, 2, 2, 2)))
        timer.measure(res, "pad_8m", lambda: F.pad(comp["m8"], (0, 0, 1, 3)))
        timer.measure(res, "concat_1m", lambda: torch.cat([comp["h1"], comp["h2"]], 1))
        timer.measure(res, "concat_8m", lambda: torch.cat(comp["c"]))
        timer.measure(res, "einsum_bmm",
                      lambda: torch.einsum("bij,bjk->bik", comp["ba"], comp["bb"]))
        timer.measure(res, "einsum_attn",
                      lambda: torch.einsum("bhqd,bhkd->bhqk", comp["q"], comp["k"]))
        timer.measure(res, "einsum_dot", lambda: torch.einsum("i,i->", comp["v1"], comp["v2"]))
        scan = {k: torch.from_numpy(v) for k, v in _scan_data().items()}
        timer.measure(res, "cumsum_1d", lambda: torch.cumsum(scan["row"], 0))
        timer.measure(res, "cumsum_rows", lambda: torch.cumsum(scan["square"], 1))
        timer.measure(res, "cumsum_cols", lambda: torch.cumsum(scan["square"], 0))
        s = {k: torch.from_numpy(v) for k, v in _sort_data().items()}
        short = s["long"][: 1 << 20].clone()
        timer.measure(res, "sort_1m", lambda: torch.sort(short))
        timer.measure(res, "sort_8m", lambda: torch.sort(s["long"]))
        timer.measure(res, "argsort_8m", lambda: torch.argsort(s["long"]))
        timer.measure(res, "sort_rows", lambda: torch.sort(s["rows"]))
        timer.measure(res, "argsort_rows", lambda: torch.argsort(s["rows"]))
        fd = {k: torch.from_numpy(v) for k, v in _fast_data().items()}
        F = torch.nn.functional
        timer.measure(res, "rms_norm_4k", lambda: F.rms_norm(fd["x"], (4096,), fd["w"], 1e-5))
        timer.measure(res, "layer_norm_4k",
                      lambda: F.layer_norm(fd["x"], (4096,), fd["w"], fd["b"], 1e-5))
        timer.measure(res, "sdpa_512", lambda: F.scaled_dot_product_attention(
            fd["q"], fd["k"], fd["v"], scale=0.125))
        timer.measure(res, "sdpa_512_causal", lambda: F.scaled_dot_product_attention(
            fd["q"], fd["k"], fd["v"], scale=0.125, is_causal=True))
    xwb = [fd[name].clone().requires_grad_() for name in ("x", "w", "b")]
    timer.measure(res, "rms_norm_4k_fwdbwd", lambda: torch.autograd.grad(
        F.rms_norm(xwb[0], (4096,), xwb[1], 1e-5), xwb[:2], fd["ct_norm"]))
    timer.measure(res, "layer_norm_4k_fwdbwd", lambda: torch.autograd.grad(
        F.layer_norm(xwb[0], (4096,), xwb[1], xwb[2], 1e-5), xwb, fd["ct_norm"]))
    qkv = [fd[name].clone().requires_grad_() for name in ("q", "k", "v")]
    for case, causal in (("sdpa_512_fwdbwd", False), ("sdpa_512_causal_fwdbwd", True)):
        timer.measure(res, case, (lambda c: lambda: torch.autograd.grad(
            F.scaled_dot_product_attention(*qkv, scale=0.125, is_causal=c), qkv, fd["ct"]))(causal))
    ce_logits = fd["logits"].clone().requires_grad_()
    ce_targets = fd["targets"].long()
    timer.measure(res, "cross_entropy_fwdbwd", lambda: torch.autograd.grad(
        F.cross_entropy(ce_logits, ce_targets, reduction="sum"), ce_logits))
    # Convolutions in torch's channels-first layout (its native one).
    F = torch.nn.functional
    cd = {k: torch.from_numpy(v) for k, v in _conv_data().items()}
    conv_x = cd["x"].permute(0, 3, 1, 2).contiguous().requires_grad_()
    conv_w = cd["w"].permute(0, 3, 1, 2).contiguous().requires_grad_()
    ct = cd["ct"].permute(0, 3, 1, 2).contiguous()
    x1, w1 = cd["x1"].permute(0, 2, 1).contiguous(), cd["w1"].permute(0, 2, 1).contiguous()
    with torch.no_grad():
        timer.measure(res, "conv_resnet_fwd", lambda: F.conv2d(conv_x, conv_w, padding=1))
        timer.measure(res, "conv1d", lambda: F.conv1d(x1, w1, padding=2))

    def fwd_bwd():
        y = F.conv2d(conv_x, conv_w, padding=1)
        return torch.autograd.grad(y, (conv_x, conv_w), ct)

    timer.measure(res, "conv_resnet_fwdbwd", fwd_bwd)
    # One gradient alone, from a forward done once (its graph kept).
    y_kept = F.conv2d(conv_x, conv_w, padding=1)
    for case, wrt in (("conv_resnet_dx", conv_x), ("conv_resnet_dw", conv_w)):
        timer.measure(res, case, (lambda wrt: lambda: torch.autograd.grad(
            y_kept, wrt, ct, retain_graph=True))(wrt))
    vd = {k: torch.from_numpy(v) for k, v in _vmap_data().items()}
    tokens = vd["tokens"].long()

    def embed_loss(table, tok, target):
        return (torch.tanh(table[tok]) * target).sum()

    per_embed = torch.func.vmap(torch.func.grad(embed_loss), in_dims=(None, 0, 0))
    timer.measure(res, "vmap_grad_embed",
                  lambda: per_embed(vd["table"], tokens, vd["embed_target"]))
    xs = vd["x"].permute(0, 1, 4, 2, 3).contiguous()  # channels first, torch's native layout
    wc = vd["w"].permute(0, 3, 1, 2).contiguous()
    target = vd["conv_target"].permute(0, 1, 4, 2, 3).contiguous()

    def conv_loss(w_, x_, t_):
        return ((F.conv2d(x_, w_, padding=1) - t_) ** 2).sum()

    per_conv = torch.func.vmap(torch.func.grad(conv_loss), in_dims=(None, 0, 0))
    timer.measure(res, "vmap_grad_conv", lambda: per_conv(wc, xs, target))
    def add_case(case: str) -> None:  # a function per case: its closures keep their own data
        layers, x_np, y_np = _mlp_data(case)
        params = [torch.tensor(layer[k], requires_grad=True) for layer in layers
                  for k in ("w", "b")]
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np).long()
        optimizer = torch.optim.Adam(params, lr=1e-3)

        def train_step():
            h = x
            for i in range(0, len(params) - 2, 2):
                h = torch.relu(h @ params[i] + params[i + 1])
            loss = torch.nn.functional.cross_entropy(h @ params[-2] + params[-1], y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        timer.measure(res, case, train_step)

    for case in MLP_SHAPES:
        add_case(case)
    tf_step = _torch_transformer_step(torch)
    timer.measure(res, "train_transformer", tf_step)
    timer.measure(res, "uniform_8m", lambda: torch.rand(ELEMENTWISE_N))
    timer.measure(res, "normal_8m", lambda: torch.randn(ELEMENTWISE_N))
    sp = {k: torch.from_numpy(v) for k, v in _special_data().items()}
    kernel = sp["taps"].flip(0).reshape(1, 1, -1)
    timer.measure(res, "convolve", lambda: F.conv1d(sp["signal"].reshape(1, 1, -1), kernel,
                                                    padding=15))
    choice = sp["choice"].long()
    timer.measure(res, "gather_mm", lambda: torch.bmm(sp["tokens"], sp["experts"][choice]))
    bench_fft_cases(torch.fft, torch.from_numpy, res, timer)

    def vmap_example(a):
        h = torch.cat([a[::2], a[1::2]], dim=-1)
        h = torch.where(h > 0, h, 0.1 * h)
        return F.pad(torch.flip(h, [1]), (0, 0, 1, 1))

    vx, vf = torch.from_numpy(_vmap_shape_data()), torch.func.vmap(vmap_example)
    timer.measure(res, "vmap_shape", lambda: vf(vx))
    def add_size(size: str, d: dict) -> None:  # closures keep their own matrices
        d = {k: torch.from_numpy(v) for k, v in d.items()}
        timer.measure(res, f"inv_{size}", lambda: torch.linalg.inv(d["a"]))
        timer.measure(res, f"solve_{size}", lambda: torch.linalg.solve(d["a"], d["b"]))
        timer.measure(res, f"cholesky_{size}", lambda: torch.linalg.cholesky(d["spd"]))
        timer.measure(res, f"svd_{size}", lambda: torch.linalg.svd(d["a"]))
        timer.measure(res, f"eigh_{size}", lambda: torch.linalg.eigh(d["spd"]))

    for size, d in _linalg_data().items():
        add_size(size, d)
    vl = {k: torch.from_numpy(x) for k, x in _vmap_linalg_data().items()}
    solve_each = torch.func.vmap(torch.linalg.solve, in_dims=(None, 0))
    timer.measure(res, "vmap_solve_shared", lambda: solve_each(vl["a"], vl["rhs"]))
    inv_each = torch.func.vmap(torch.linalg.inv, in_dims=-1)
    timer.measure(res, "vmap_inv_last", lambda: inv_each(vl["stack"]))
    cl = {k: torch.from_numpy(v) for k, v in _complex_linalg_data().items()}
    timer.measure(res, "svd_c64", lambda: torch.linalg.svd(cl["a"]))
    timer.measure(res, "eigh_c64", lambda: torch.linalg.eigh(cl["herm"]))
    return {"torch": res}


def bench_jax(timer: Timer):
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    eager: Dict[str, object] = {}
    jitted: Dict[str, object] = {}

    def lazy_chain():
        x = jnp.asarray(0.0, dtype=jnp.float32)
        for _ in range(DISPATCH_OPS):
            x = x + 1
        x.block_until_ready()

    def eager_chain():
        x = jnp.asarray(0.0, dtype=jnp.float32)
        for _ in range(DISPATCH_OPS):
            x = (x + 1).block_until_ready()

    # JAX dispatches asynchronously: blocking only at the end is its "one eval".
    timer.measure(eager, "dispatch_lazy", lazy_chain)
    timer.measure(eager, "dispatch_eager", eager_chain)

    a = jax.random.normal(k1, (MATMUL_N, MATMUL_N), dtype=jnp.float32)
    b = jax.random.normal(k2, (MATMUL_N, MATMUL_N), dtype=jnp.float32)
    timer.measure(eager, "matmul", lambda: jnp.matmul(a, b).block_until_ready())
    mm = jax.jit(jnp.matmul)
    timer.measure(jitted, "matmul", lambda: mm(a, b).block_until_ready())

    ew_x = jax.random.normal(k3, (ELEMENTWISE_N,), dtype=jnp.float32)
    timer.measure(eager, "elementwise", lambda: (ew_x * 2 + 1).block_until_ready())
    ew = jax.jit(lambda t: t * 2 + 1)
    timer.measure(jitted, "elementwise", lambda: ew(ew_x).block_until_ready())

    def loss(t):
        return (jnp.sin(t) * jnp.cos(t)).sum()

    v = jax.random.normal(k4, (GRAD_N,), dtype=jnp.float32)
    g = jax.grad(loss)
    timer.measure(eager, "grad", lambda: g(v).block_until_ready())
    gj = jax.jit(g)
    timer.measure(jitted, "grad", lambda: gj(v).block_until_ready())

    idx = {k: jnp.asarray(v) for k, v in _index_data().items()}
    timer.measure(eager, "take_rows", lambda: idx["table"][idx["rows"]].block_until_ready())
    timer.measure(eager, "take_along",
                  lambda: jnp.take_along_axis(idx["matrix"], idx["along"], 1).block_until_ready())
    timer.measure(eager, "scatter_add", lambda: jnp.zeros(TABLE_ROWS).at[idx["bins"]].add(
        idx["values"]).block_until_ready())
    masked = idx["values"]
    timer.measure(eager, "mask_select", lambda: masked[masked > 0].block_until_ready())
    scan = {k: jnp.asarray(v) for k, v in _scan_data().items()}
    timer.measure(eager, "cumsum_1d", lambda: jnp.cumsum(scan["row"]).block_until_ready())
    timer.measure(eager, "cumsum_rows",
                  lambda: jnp.cumsum(scan["square"], 1).block_until_ready())
    timer.measure(eager, "cumsum_cols",
                  lambda: jnp.cumsum(scan["square"], 0).block_until_ready())
    s = {k: jnp.asarray(v) for k, v in _sort_data().items()}
    short = s["long"][: 1 << 20]
    timer.measure(eager, "sort_1m", lambda: jnp.sort(short).block_until_ready())
    timer.measure(eager, "sort_8m", lambda: jnp.sort(s["long"]).block_until_ready())
    timer.measure(eager, "argsort_8m", lambda: jnp.argsort(s["long"]).block_until_ready())
    timer.measure(eager, "sort_rows", lambda: jnp.sort(s["rows"]).block_until_ready())
    timer.measure(eager, "argsort_rows", lambda: jnp.argsort(s["rows"]).block_until_ready())
    bench_fft_cases(jnp.fft, jnp.asarray, eager, timer, done=lambda y: y.block_until_ready())
    return {"jax": eager, "jax.jit": jitted}


RUNNERS = {"pullback": bench_pullback, "mlx": bench_mlx, "torch": bench_torch, "jax": bench_jax,
           "numpy": bench_numpy}
IMPORTS = {"pullback": "pullback.core", "mlx": "mlx.core", "torch": "torch", "jax": "jax",
           "numpy": "numpy"}


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:160]


def _version(framework: str) -> str:
    try:
        if framework == "pullback":
            import pullback

            return getattr(pullback, "__version__", "dev")
        if framework == "mlx":
            import mlx.core

            return mlx.core.__version__
        mod = __import__(framework)
        return mod.__version__
    except Exception:  # noqa: BLE001
        return "?"


# ---- child: one framework, results as JSON on stdout ---------------------------------

def run_child(framework: str, quick: bool, cases: Optional[List[str]] = None,
              serve: bool = False) -> int:
    try:
        __import__(IMPORTS[framework])
    except Exception as e:  # noqa: BLE001
        print(json.dumps({"framework": framework, "unavailable": _error(e)}), flush=True)
        return 0
    if serve:
        return serve_child(framework, Timer(quick, cases, capture=True))
    timer = Timer(quick, cases)
    info = {"framework": framework, "version": _version(framework)}
    if framework == "torch":
        import torch

        info["threads"] = torch.get_num_threads()
    try:
        info["results"] = RUNNERS[framework](timer)
    except Exception as e:  # noqa: BLE001
        info["error"] = _error(e)
    print(json.dumps(info))
    return 0


def serve_child(framework: str, timer: Timer) -> int:
    """--interleave's child: builds every case once, says which it has, then times the ones
    the parent names, one sample at a time, reading requests from stdin."""
    info: Dict[str, object] = {"framework": framework, "version": _version(framework)}
    if framework == "torch":
        import torch

        info["threads"] = torch.get_num_threads()
    fns: Dict[str, Dict[str, Callable[[], object]]] = {}
    try:
        variants = RUNNERS[framework](timer)
        for variant, res in variants.items():
            fns[variant] = timer.captured.get(id(res), {})
        # Errors a case recorded while being built (e.g. a missing feature).
        info["errors"] = {variant: {case: t for case, t in res.items() if isinstance(t, str)}
                          for variant, res in variants.items()}
    except Exception as e:  # noqa: BLE001
        info["error"] = _error(e)
    info["cases"] = {variant: sorted(cases) for variant, cases in fns.items()}
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        fn = fns[request["variant"]][request["case"]]
        try:
            if request["calls"] == 0:
                reply = {"calls": timer.calibrate(fn)}
            else:
                reply = {"t": Timer._run(fn, request["calls"]) / request["calls"]}
        except Exception as e:  # noqa: BLE001
            reply = {"error": _error(e)}
        print(json.dumps(reply), flush=True)
    return 0


def run_interleaved(wanted: List[str], args) -> List[dict]:
    """--interleave: one child per framework, all alive at once; every case is timed one
    sample at a time, framework after framework, for `args.interleave` rounds, keeping each
    case's fastest sample. A machine whose speed drifts over seconds (a shared VM) then
    slows every framework's samples alike instead of favouring whichever ran in a quiet spell."""
    env = _child_env(args)
    children, reports = {}, []
    for framework in wanted:
        cmd = [sys.executable, os.path.abspath(__file__), "--framework", framework, "--serve"]
        if args.quick:
            cmd.append("--quick")
        if args.filter:
            cmd += ["--filter", args.filter]
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, bufsize=1)
        header = _read_json(proc)
        if header is None or "cases" not in header:
            proc.kill()
            reports.append(header or {"framework": framework, "error": "child failed to start"})
            continue
        children[framework] = proc
        errors = header.pop("errors", {})
        reports.append(dict(header, results={v: dict(errors.get(v, {})) for v in header["cases"]}))

    def ask(framework: str, variant: str, case: str, calls: int) -> dict:
        proc = children[framework]
        proc.stdin.write(json.dumps({"variant": variant, "case": case, "calls": calls}) + "\n")
        proc.stdin.flush()
        return _read_json(proc) or {"error": "child died"}

    slots = [(rep["framework"], variant, case) for case, *_ in CASES for rep in reports
             if rep["framework"] in children for variant in rep["cases"]
             if case in rep["cases"][variant]]
    results = {rep["framework"]: rep["results"] for rep in reports}
    calls = {}
    for framework, variant, case in slots:
        reply = ask(framework, variant, case, 0)
        if "error" in reply:
            results[framework][variant][case] = reply["error"]
        else:
            calls[framework, variant, case] = reply["calls"]
    for _ in range(args.interleave):
        for slot, n in calls.items():
            framework, variant, case = slot
            if isinstance(results[framework][variant].get(case), str):
                continue
            # Thread pools spin a while after their last job (OpenMP's, OpenBLAS's, ours):
            # let the previous sample's threads go to sleep before the next one starts.
            time.sleep(SETTLE_S)
            reply = ask(framework, variant, case, n)
            best = results[framework][variant].get(case)
            if "error" in reply:
                results[framework][variant][case] = reply["error"]
            elif best is None or reply["t"] < best:
                results[framework][variant][case] = reply["t"]
    for proc in children.values():
        proc.stdin.close()
        proc.wait(timeout=60)
    for rep in reports:
        rep.pop("cases", None)
    return reports


def _read_json(proc: subprocess.Popen) -> Optional[dict]:
    for line in proc.stdout:
        if line.startswith("{"):
            return json.loads(line)
    return None


# ---- parent: run the children, print the tables --------------------------------------

def _child_env(args) -> Dict[str, str]:
    env = dict(os.environ)
    if args.pullback_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.pullback_path, env.get("PYTHONPATH")]))
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_framework(framework: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--framework", framework]
    if args.quick:
        cmd.append("--quick")
    if args.filter:
        cmd += ["--filter", args.filter]
    proc = subprocess.run(cmd, env=_child_env(args), capture_output=True, text=True,
                          timeout=args.timeout)
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    cases = [ln for ln in lines if ln.startswith("case ")]
    where = f" during {cases[-1][5:]}" if cases else ""
    status = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
    last = lines[-1][:160] if lines and not lines[-1].startswith("case ") else ""
    return {"framework": framework, "error": status + where + (f": {last}" if last else "")}


def _keep_fastest(best: dict, rep: dict) -> dict:
    """Merges a later round's report into `best`: each case keeps its fastest time (a time
    beats an error; an error is kept only where no round measured the case)."""
    if "results" not in best:
        return rep
    for variant, cases in rep.get("results", {}).items():
        kept = best["results"].setdefault(variant, {})
        for case, t in cases.items():
            old = kept.get(case)
            if not isinstance(old, float) or (isinstance(t, float) and t < old):
                kept[case] = t
    return best


def format_tables(reports: List[dict]) -> str:
    variants: Dict[str, Dict[str, object]] = {}
    for rep in reports:
        for variant, cases in rep.get("results", {}).items():
            variants[variant] = cases
    order = [v for f in FRAMEWORKS for v in sorted(variants) if v == f or v.startswith(f + ".")]
    base: Optional[Dict[str, object]] = variants.get("pullback")

    def cell_value(cases, case, convert):
        t = cases.get(case)
        if t is None:
            return ""
        if isinstance(t, str):
            return "error"
        return f"{convert(t):.3g}" if convert(t) < 100 else f"{convert(t):.0f}"

    def cell_ratio(cases, case):
        t = cases.get(case)
        if t is None or isinstance(t, str):
            return ""
        if base is None or not isinstance(base.get(case), float):
            return "-"
        return f"{t / base[case]:.2f}"

    name_w = max(len(c[1]) for c in CASES) + 2
    unit_w = 9
    col_w = max([10] + [len(v) + 2 for v in order])
    lines = []
    for title, cell in (("Measurements", None), ("Time ratio: framework / pullback (>1: pullback faster)", "ratio")):
        lines.append(title)
        header = "case".ljust(name_w) + ("unit".ljust(unit_w) if cell is None else "".ljust(unit_w))
        columns = order if cell is None else [v for v in order if v != "pullback"]
        header += "".join(v.rjust(col_w) for v in columns)
        lines.append(header)
        lines.append("-" * len(header))
        for case, desc, unit, convert in CASES:
            if not any(case in variants[v] for v in order):
                continue  # filtered out
            row = desc.ljust(name_w) + (unit.ljust(unit_w) if cell is None else "".ljust(unit_w))
            for v in columns:
                text = cell_value(variants[v], case, convert) if cell is None else cell_ratio(variants[v], case)
                row += text.rjust(col_w)
            lines.append(row)
        lines.append("")
    errors = [f"  {v} / {case}: {t}" for v in order for case, t in variants[v].items() if isinstance(t, str)]
    if errors:
        lines.append("Errors:")
        lines.extend(errors)
        lines.append("")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated subset of " + ",".join(FRAMEWORKS))
    parser.add_argument("--quick", action="store_true", help="fewer, shorter samples")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results here")
    parser.add_argument("--pullback-path", metavar="DIR",
                        help="directory holding the pullback package (prepended to PYTHONPATH)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per framework")
    parser.add_argument("--filter", metavar="IDS",
                        help="comma-separated substrings of case ids to run (e.g. scatter,pad)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every framework this many times, alternating, and keep each "
                             "case's fastest time (steadier ratios on a shared machine)")
    parser.add_argument("--interleave", type=int, default=0, metavar="ROUNDS",
                        help="keep one process per framework alive and time each case one "
                             "sample at a time, alternating frameworks, for ROUNDS rounds; "
                             "report each case's fastest sample")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--framework", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.framework:
        cases = [c.strip() for c in args.filter.split(",") if c.strip()] if args.filter else None
        return run_child(args.framework, args.quick, cases, serve=args.serve)

    wanted = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FRAMEWORKS]
    if unknown:
        parser.error(f"unknown frameworks: {', '.join(unknown)}")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus")
    blas_env = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_", "PULLBACK_"))}
    if blas_env:
        print("environment: " + ", ".join(f"{k}={v}" for k, v in sorted(blas_env.items())))
    reports = run_interleaved(wanted, args) if args.interleave > 0 else []
    for round_index in range(0 if args.interleave > 0 else max(1, args.rounds)):
        for i, framework in enumerate(wanted):
            print(f"running {framework} ...", file=sys.stderr, flush=True)
            try:
                rep = run_framework(framework, args)
            except subprocess.TimeoutExpired:
                rep = {"framework": framework, "error": f"timed out after {args.timeout:.0f} s"}
            if round_index == 0:
                reports.append(rep)
            else:
                reports[i] = _keep_fastest(reports[i], rep)
    for rep in reports:
        framework = rep["framework"]
        if "unavailable" in rep:
            print(f"{framework}: skipped (not importable: {rep['unavailable']})")
        elif "error" in rep:
            print(f"{framework}: failed ({rep['error']})")
        else:
            extra = f", {rep['threads']} threads" if "threads" in rep else ""
            print(f"{framework} {rep.get('version', '?')}{extra}")
    print()
    print(format_tables(reports))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
