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

FRAMEWORKS = ["pullback", "mlx", "torch", "jax"]

DISPATCH_OPS = 1000
MATMUL_N = 1024
ELEMENTWISE_N = 8 * 1024 * 1024  # float32: 32 MB in, 32 MB out
GRAD_N = 1000
INDEX_N = 1 << 22  # elements gathered / scattered / masked
TABLE_ROWS, TABLE_COLS = 1 << 16, 64
SCAN_N = 8 * 1024 * 1024  # cumsum of one long row
SCAN_SIDE = 2048  # cumsum of a square matrix along either axis (4M elements)

LINALG_SHAPES = {"512": "512x512", "b64": "64x64x64"}

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
    ("cumsum_1d", f"cumsum, {SCAN_N // (1 << 20)}M float32 (one row)", "ms", lambda t: t * 1e3),
    ("cumsum_rows", f"cumsum {SCAN_SIDE}x{SCAN_SIDE} float32, axis 1", "ms", lambda t: t * 1e3),
    ("cumsum_cols", f"cumsum {SCAN_SIDE}x{SCAN_SIDE} float32, axis 0", "ms", lambda t: t * 1e3),
    ("sort_1m", "sort, 1M float32 (one row)", "ms", lambda t: t * 1e3),
    ("sort_8m", "sort, 8M float32 (one row)", "ms", lambda t: t * 1e3),
    ("argsort_8m", "argsort, 8M float32 (one row)", "ms", lambda t: t * 1e3),
    ("sort_rows", "sort, 1024x4096 float32, axis -1", "ms", lambda t: t * 1e3),
    ("argsort_rows", "argsort, 1024x4096 float32, axis -1", "ms", lambda t: t * 1e3),
    *[(f"{op}_{size}", f"linalg.{op} {LINALG_SHAPES[size]} float32", "ms", lambda t: t * 1e3)
      for size in ("512", "b64") for op in ("inv", "solve", "cholesky", "svd", "eigh")],
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
            "c": [f(2 * 1024 * 1024) for _ in range(4)], "ba": f(64, 128, 128), "bb": f(64, 128, 128)}


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


def bench_linalg_mlx_like(mx, res: Dict[str, object], timer: "Timer") -> None:
    L, cpu = mx.linalg, mx.cpu  # MLX runs linalg on the CPU stream only
    for size, d in _linalg_data().items():
        d = {k: mx.array(v) for k, v in d.items()}
        mx.eval(*d.values())
        timer.measure(res, f"inv_{size}", lambda: mx.eval(L.inv(d["a"], stream=cpu)))
        timer.measure(res, f"solve_{size}", lambda: mx.eval(L.solve(d["a"], d["b"], stream=cpu)))
        timer.measure(res, f"cholesky_{size}", lambda: mx.eval(L.cholesky(d["spd"], stream=cpu)))
        timer.measure(res, f"svd_{size}", lambda: mx.eval(*L.svd(d["a"], stream=cpu)))
        timer.measure(res, f"eigh_{size}", lambda: mx.eval(*L.eigh(d["spd"], stream=cpu)))


class Timer:
    """Median seconds per call of `fn`, over `repeats` samples of enough calls to last."""

    def __init__(self, quick: bool):
        self.repeats = 3 if quick else 7
        self.sample_s = 0.02 if quick else 0.08
        self.warmup = 2 if quick else 5

    def measure(self, results: Dict[str, object], case: str, fn: Callable[[], object]) -> None:
        """Stores the time of `fn` under `case`, or the error it raised."""
        # A crash (not an exception) leaves this as the child's last line on stderr.
        print(f"case {case}", file=sys.stderr, flush=True)
        try:
            results[case] = self(fn)
        except Exception as e:  # noqa: BLE001 - one failing case must not hide the others
            results[case] = _error(e)

    def __call__(self, fn: Callable[[], object]) -> float:
        for _ in range(self.warmup):
            fn()
        calls = 1
        while True:
            elapsed = self._run(fn, calls)
            if elapsed >= self.sample_s or calls >= 1 << 20:
                break
            calls = max(calls * 2, int(calls * self.sample_s / max(elapsed, 1e-9) * 1.2))
        samples = [self._run(fn, calls) / calls for _ in range(self.repeats)]
        return statistics.median(samples)

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
    bench_indexing_mlx_like(mx, res, timer)
    bench_compose_mlx_like(mx, res, timer)
    bench_scan_mlx_like(mx, res, timer)
    bench_sort_mlx_like(mx, res, timer)
    bench_linalg_mlx_like(mx, res, timer)

    out = {name: res}
    # The compiled variants fuse x*2+1 and the grad graph; reported where compile works.
    if hasattr(mx, "compile"):
        compiled: Dict[str, object] = {}
        try:
            f = mx.compile(lambda t: t * 2 + 1)
            timer.measure(compiled, "elementwise", lambda: mx.eval(f(x)))
            cg = mx.compile(g)
            timer.measure(compiled, "grad", lambda: mx.eval(cg(v)))
        except Exception as e:  # noqa: BLE001 - a missing feature is reported, not fatal
            compiled.setdefault("elementwise", _error(e))
            compiled.setdefault("grad", _error(e))
        out[name + ".compile"] = compiled
    return out


def bench_pullback(timer: Timer):
    import pullback.core as mx

    return bench_mlx_like(mx, "pullback", timer)


def bench_mlx(timer: Timer):
    import mlx.core as mx

    mx.set_default_device(mx.cpu)
    return bench_mlx_like(mx, "mlx", timer)


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
        res["dispatch_eager"] = res["dispatch_lazy"]
        a = torch.randn(MATMUL_N, MATMUL_N)
        b = torch.randn(MATMUL_N, MATMUL_N)
        timer.measure(res, "matmul", lambda: a @ b)
        x = torch.randn(ELEMENTWISE_N)
        timer.measure(res, "elementwise", lambda: x * 2 + 1)

    v = torch.randn(GRAD_N, requires_grad=True)

    def grad():
        y = (torch.sin(v) * torch.cos(v)).sum()
        return torch.autograd.grad(y, v)[0]

    timer.measure(res, "grad", grad)

    d = {k: torch.from_numpy(v) for k, v in _index_data().items()}
    rows, bins, along = d["rows"].long(), d["bins"].long(), d["along"].long()
    with torch.no_grad():
        timer.measure(res, "take_rows", lambda: d["table"][rows])
        timer.measure(res, "take_along", lambda: torch.take_along_dim(d["matrix"], along, 1))
        timer.measure(res, "scatter_add",
                      lambda: torch.zeros(TABLE_ROWS).index_add_(0, bins, d["values"]))
        x = d["values"]
        timer.measure(res, "mask_select", lambda: x[x > 0])
        F = torch.nn.functional
        c = {k: (torch.from_numpy(v) if k != "c" else [torch.from_numpy(u) for u in v])
             for k, v in _compose_data().items()}
        timer.measure(res, "pad_1m", lambda: F.pad(c["m1"], (2, 2, 2, 2)))
        timer.measure(res, "pad_8m", lambda: F.pad(c["m8"], (0, 0, 1, 3)))
        timer.measure(res, "concat_1m", lambda: torch.cat([c["h1"], c["h2"]], 1))
        timer.measure(res, "concat_8m", lambda: torch.cat(c["c"]))
        timer.measure(res, "einsum_bmm", lambda: torch.einsum("bij,bjk->bik", c["ba"], c["bb"]))
        d = {k: torch.from_numpy(v) for k, v in _scan_data().items()}
        timer.measure(res, "cumsum_1d", lambda: torch.cumsum(d["row"], 0))
        timer.measure(res, "cumsum_rows", lambda: torch.cumsum(d["square"], 1))
        timer.measure(res, "cumsum_cols", lambda: torch.cumsum(d["square"], 0))
        s = {k: torch.from_numpy(v) for k, v in _sort_data().items()}
        short = s["long"][: 1 << 20].clone()
        timer.measure(res, "sort_1m", lambda: torch.sort(short))
        timer.measure(res, "sort_8m", lambda: torch.sort(s["long"]))
        timer.measure(res, "argsort_8m", lambda: torch.argsort(s["long"]))
        timer.measure(res, "sort_rows", lambda: torch.sort(s["rows"]))
        timer.measure(res, "argsort_rows", lambda: torch.argsort(s["rows"]))
        for size, d in _linalg_data().items():
            d = {k: torch.from_numpy(v) for k, v in d.items()}
            timer.measure(res, f"inv_{size}", lambda: torch.linalg.inv(d["a"]))
            timer.measure(res, f"solve_{size}", lambda: torch.linalg.solve(d["a"], d["b"]))
            timer.measure(res, f"cholesky_{size}", lambda: torch.linalg.cholesky(d["spd"]))
            timer.measure(res, f"svd_{size}", lambda: torch.linalg.svd(d["a"]))
            timer.measure(res, f"eigh_{size}", lambda: torch.linalg.eigh(d["spd"]))
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

    x = jax.random.normal(k3, (ELEMENTWISE_N,), dtype=jnp.float32)
    timer.measure(eager, "elementwise", lambda: (x * 2 + 1).block_until_ready())
    ew = jax.jit(lambda t: t * 2 + 1)
    timer.measure(jitted, "elementwise", lambda: ew(x).block_until_ready())

    def loss(t):
        return (jnp.sin(t) * jnp.cos(t)).sum()

    v = jax.random.normal(k4, (GRAD_N,), dtype=jnp.float32)
    g = jax.grad(loss)
    timer.measure(eager, "grad", lambda: g(v).block_until_ready())
    gj = jax.jit(g)
    timer.measure(jitted, "grad", lambda: gj(v).block_until_ready())

    d = {k: jnp.asarray(v) for k, v in _index_data().items()}
    timer.measure(eager, "take_rows", lambda: d["table"][d["rows"]].block_until_ready())
    timer.measure(eager, "take_along",
                  lambda: jnp.take_along_axis(d["matrix"], d["along"], 1).block_until_ready())
    timer.measure(eager, "scatter_add", lambda: jnp.zeros(TABLE_ROWS).at[d["bins"]].add(
        d["values"]).block_until_ready())
    x = d["values"]
    timer.measure(eager, "mask_select", lambda: x[x > 0].block_until_ready())
    d = {k: jnp.asarray(v) for k, v in _scan_data().items()}
    timer.measure(eager, "cumsum_1d", lambda: jnp.cumsum(d["row"]).block_until_ready())
    timer.measure(eager, "cumsum_rows", lambda: jnp.cumsum(d["square"], 1).block_until_ready())
    timer.measure(eager, "cumsum_cols", lambda: jnp.cumsum(d["square"], 0).block_until_ready())
    s = {k: jnp.asarray(v) for k, v in _sort_data().items()}
    short = s["long"][: 1 << 20]
    timer.measure(eager, "sort_1m", lambda: jnp.sort(short).block_until_ready())
    timer.measure(eager, "sort_8m", lambda: jnp.sort(s["long"]).block_until_ready())
    timer.measure(eager, "argsort_8m", lambda: jnp.argsort(s["long"]).block_until_ready())
    timer.measure(eager, "sort_rows", lambda: jnp.sort(s["rows"]).block_until_ready())
    timer.measure(eager, "argsort_rows", lambda: jnp.argsort(s["rows"]).block_until_ready())
    return {"jax": eager, "jax.jit": jitted}


RUNNERS = {"pullback": bench_pullback, "mlx": bench_mlx, "torch": bench_torch, "jax": bench_jax}
IMPORTS = {"pullback": "pullback.core", "mlx": "mlx.core", "torch": "torch", "jax": "jax"}


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

def run_child(framework: str, quick: bool) -> int:
    try:
        __import__(IMPORTS[framework])
    except Exception as e:  # noqa: BLE001
        print(json.dumps({"framework": framework, "unavailable": _error(e)}))
        return 0
    timer = Timer(quick)
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


# ---- parent: run the children, print the tables --------------------------------------

def run_framework(framework: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--framework", framework]
    if args.quick:
        cmd.append("--quick")
    env = dict(os.environ)
    if args.pullback_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.pullback_path, env.get("PYTHONPATH")]))
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    cases = [ln for ln in lines if ln.startswith("case ")]
    where = f" during {cases[-1][5:]}" if cases else ""
    status = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
    last = lines[-1][:160] if lines and not lines[-1].startswith("case ") else ""
    return {"framework": framework, "error": status + where + (f": {last}" if last else "")}


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
    parser.add_argument("--framework", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.framework:
        return run_child(args.framework, args.quick)

    wanted = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FRAMEWORKS]
    if unknown:
        parser.error(f"unknown frameworks: {', '.join(unknown)}")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus")
    blas_env = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_", "PULLBACK_"))}
    if blas_env:
        print("environment: " + ", ".join(f"{k}={v}" for k, v in sorted(blas_env.items())))
    reports = []
    for framework in wanted:
        print(f"running {framework} ...", file=sys.stderr, flush=True)
        try:
            rep = run_framework(framework, args)
        except subprocess.TimeoutExpired:
            rep = {"framework": framework, "error": f"timed out after {args.timeout:.0f} s"}
        reports.append(rep)
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
