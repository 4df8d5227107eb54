"""matmul and the @ operator: shapes, broadcasting, 1-D operands, dtypes and strided inputs."""

import os

import numpy as np
import pytest

import pullback.core as mx
from helpers import FLOAT_NAMES, assert_close, dt, rounded

SHAPES = [
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((5, 1), (1, 7)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((1, 3, 4), (6, 4, 2)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 1, 3, 4), (1, 6, 4, 2)),
    ((3,), (2, 3, 4)),
    ((2, 3, 4), (4,)),
    ((3, 0), (0, 4)),
    ((0, 3), (3, 4)),
    ((2, 0, 3), (3, 5)),
]


@pytest.mark.parametrize("sa, sb", SHAPES, ids=str)
def test_matmul_shapes(sa, sb, rng):
    x, y = rng.standard_normal(sa), rng.standard_normal(sb)
    a, b = mx.array(x, dtype=mx.float64), mx.array(y, dtype=mx.float64)
    expected = x @ y
    assert_close(mx.matmul(a, b), expected, dtype=mx.float64)
    assert_close(a @ b, expected, dtype=mx.float64)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_matmul_dtypes(dtype, rng):
    x, y = rounded(rng.standard_normal((8, 16)), dtype), rounded(rng.standard_normal((16, 5)), dtype)
    got = mx.matmul(mx.array(x, dtype=dt(dtype)), mx.array(y, dtype=dt(dtype)))
    tol = {"float16": 2e-2, "bfloat16": 1e-1, "float32": 1e-5, "float64": 1e-12}[dtype]
    assert_close(got, x @ y, dtype=dt(dtype), rtol=tol, atol=tol)


def test_matmul_promotes_float_dtypes(rng):
    a = mx.ones((2, 3), dtype=mx.float16)
    b = mx.ones((3, 2), dtype=mx.float32)
    r = a @ b
    assert r.dtype == mx.float32 and r.tolist() == [[3.0, 3.0], [3.0, 3.0]]


@pytest.mark.parametrize("m, k, n", [(64, 64, 64), (127, 257, 65), (1, 1000, 1), (300, 3, 300),
                                     (33, 500, 1), (1, 500, 33)])
def test_matmul_sizes_float32(m, k, n, rng):
    x = rng.standard_normal((m, k)).astype(np.float32)
    y = rng.standard_normal((k, n)).astype(np.float32)
    got = mx.array(x) @ mx.array(y)
    assert_close(got, x.astype(np.float64) @ y.astype(np.float64), dtype=mx.float32,
                 rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("layout", ["aT", "bT", "both", "strided", "reversed", "broadcast", "batchT"])
def test_matmul_views(layout, rng):
    x, y = rng.standard_normal((6, 8)), rng.standard_normal((8, 5))
    a, b = mx.array(x, dtype=mx.float64), mx.array(y, dtype=mx.float64)
    if layout == "aT":
        got, expected = a.T.T @ b, x @ y
        got2, expected2 = mx.array(x.T.copy(), dtype=mx.float64).T @ b, x @ y
        assert_close(got2, expected2)
    elif layout == "bT":
        got, expected = a @ mx.array(y.T.copy(), dtype=mx.float64).T, x @ y
    elif layout == "both":
        got, expected = b.T @ a.T, y.T @ x.T
    elif layout == "strided":
        got, expected = a[::2, 1::2] @ b[1::2, ::2], x[::2, 1::2] @ y[1::2, ::2]
    elif layout == "reversed":
        got, expected = a[::-1] @ b[:, ::-1], x[::-1] @ y[:, ::-1]
    elif layout == "broadcast":
        bb = mx.broadcast_to(b, (3, 8, 5))
        got, expected = a @ bb, x @ np.broadcast_to(y, (3, 8, 5))
    else:
        z = rng.standard_normal((3, 5, 8))
        c = mx.array(z, dtype=mx.float64)
        got, expected = mx.swapaxes(c, 1, 2).transpose(0, 2, 1) @ b, z @ y
        assert_close(mx.transpose(c, (0, 2, 1)).swapaxes(1, 2) @ b, z @ y)
        got3 = mx.moveaxis(c, 0, 2)  # (5, 8, 3): batch dims non-contiguous after moving back
        assert_close(mx.moveaxis(got3, 2, 0) @ b, z @ y)
    assert_close(got, expected, dtype=mx.float64)


def test_matmul_chain_and_lazy(rng):
    x = rng.standard_normal((4, 4))
    a = mx.array(x, dtype=mx.float64)
    assert_close((a @ a) @ (a + 1), (x @ x) @ (x + 1))
    i = mx.eye(4, dtype=mx.float64)
    assert_close(a @ i, x)


@pytest.mark.parametrize("k", [200003, 1001])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64"])
@pytest.mark.parametrize("layout", ["plain", "transposed", "strided"])
def test_matmul_single_row_by_single_column(k, dtype, layout, rng):
    # (1, k) @ (k, 1) runs as a dot: partial dots over the pool for this k (not a multiple of
    # their length), as one BLAS dot for a short k.
    x, y = rng.standard_normal((1, k)), rng.standard_normal((k, 1))
    if dtype == "complex64":
        x, y = x + 1j * rng.standard_normal((1, k)), y - 0.5j * rng.standard_normal((k, 1))
    arr = lambda v: mx.array(v.astype(dtype), dtype=getattr(mx, dtype))  # noqa: E731
    a, b = arr(x), arr(y)
    if layout == "transposed":
        a, b = arr(x.T.copy()).T, arr(y.T.copy()).T
    elif layout == "strided":
        a = arr(np.repeat(x, 3, axis=1))[:, ::3]
        b = arr(np.repeat(y, 2, axis=0))[::-2][::-1]
    expected = x @ y
    tol = 1e-12 if dtype == "float64" else 1e-4
    got = np.array(a @ b)
    assert got.shape == (1, 1)
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.sqrt(k))
    # The same product in a batch, and as einsum's full contraction.
    got_b = np.array(mx.stack([a, a]) @ mx.stack([b, b]))
    np.testing.assert_allclose(got_b, np.stack([expected, expected]), rtol=tol, atol=tol * np.sqrt(k))
    got_e = np.array(mx.einsum("i,i->", a[0], b[:, 0]))
    np.testing.assert_allclose(got_e, expected[0, 0], rtol=tol, atol=tol * np.sqrt(k))


@pytest.mark.parametrize("nbatch", [2, 3, 16])
def test_matmul_batch_of_large_products(nbatch, rng):
    # Products above the always-split size: an even batch runs one product per thread, an
    # uneven one as a sequence of threaded products.
    x = rng.standard_normal((nbatch, 96, 170)).astype(np.float32)
    y = rng.standard_normal((170, 300)).astype(np.float32)
    y_b = rng.standard_normal((nbatch, 170, 300)).astype(np.float32)
    a = mx.array(x)
    got = a @ mx.swapaxes(mx.array(np.swapaxes(y_b, 1, 2).copy()), 1, 2)
    assert_close(got, x.astype(np.float64) @ y_b, dtype=mx.float32, rtol=1e-4, atol=2e-3)
    got2 = mx.einsum("bij,bjk->bik", a, mx.array(y_b))
    assert_close(got2, x.astype(np.float64) @ y_b, dtype=mx.float32, rtol=1e-4, atol=2e-3)
    assert_close(a @ mx.array(y), x.astype(np.float64) @ y, dtype=mx.float32, rtol=1e-4, atol=2e-3)



@pytest.mark.parametrize("m, k, n", [(128, 128, 128), (13, 600, 47), (100, 70, 130), (512, 64, 33),
                                     (25, 257, 64), (2, 2000, 90)])
@pytest.mark.parametrize("layout", ["plain", "aT", "bT", "strided", "broadcast_b"])
def test_matmul_batched_float32_mid_size(m, k, n, layout, rng):
    # Batches of products between 2^18 and 2^24 multiply-adds run one per thread, on our own
    # AVX-512 kernel where the CPU has it: rows past multiples of its 12-row tile, columns past
    # multiples of 32, k past its 512-step blocks, a read transposed or strided in place.
    nbatch = 4
    x = rng.standard_normal((nbatch, m, k)).astype(np.float32)
    y = rng.standard_normal((nbatch, k, n)).astype(np.float32)
    if layout == "aT":
        a = mx.swapaxes(mx.array(np.swapaxes(x, 1, 2).copy()), 1, 2)
    elif layout == "strided":
        wide = np.zeros((nbatch, m, 2 * k + 3), np.float32)
        wide[:, :, : 2 * k : 2] = x
        a = mx.array(wide)[:, :, : 2 * k : 2]
    else:
        a = mx.array(x)
    b = mx.array(y)
    if layout == "bT":
        b = mx.swapaxes(mx.array(np.swapaxes(y, 1, 2).copy()), 1, 2)
    elif layout == "broadcast_b":
        y = y[:1]
        b = mx.broadcast_to(mx.array(y), (nbatch, k, n)) if m % 2 else mx.array(y)
    expected = x.astype(np.float64) @ y.astype(np.float64)
    assert_close(a @ b, expected, dtype=mx.float32, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    got_e = mx.einsum("bij,bjk->bik", a, b if layout != "broadcast_b" else mx.broadcast_to(b, (nbatch, k, n)))
    assert_close(got_e, expected, dtype=mx.float32, rtol=1e-4, atol=1e-4 * np.sqrt(k))


def _float32_operand(x, layout):
    """x as a pullback array stored plainly, transposed, or as every other column of a wider
    array (rows further apart than their width)."""
    if layout == "T":
        return mx.array(np.ascontiguousarray(x.T)).T
    if layout == "wide":
        wide = np.zeros((x.shape[0], 2 * x.shape[1] + 5), np.float32)
        wide[:, 3 : 3 + x.shape[1]] = x
        return mx.array(wide)[:, 3 : 3 + x.shape[1]]
    return mx.array(x)


@pytest.mark.parametrize("m, k, n", [(256, 784, 512), (256, 512, 10), (256, 10, 512), (784, 256, 10),
                                     (257, 513, 33), (13, 1030, 700), (700, 33, 17), (40, 300, 1000)])
@pytest.mark.parametrize("la, lb", [("", ""), ("T", ""), ("", "T"), ("T", "T"), ("wide", "wide"),
                                    ("wide", "T")])
def test_matmul_single_float32_product_layouts(m, k, n, la, lb, rng):
    # Single products above the always-split size run on our own gemm split over the pool
    # (AVX-512 CPUs): transposed operands are packed, row-major a is read in place, narrow c
    # uses one-vector slivers, a thin c times a transposed a runs as its transpose.
    x = rng.standard_normal((m, k)).astype(np.float32)
    y = rng.standard_normal((k, n)).astype(np.float32)
    got = _float32_operand(x, la) @ _float32_operand(y, lb)
    assert_close(got, x.astype(np.float64) @ y.astype(np.float64), dtype=mx.float32,
                 rtol=1e-4, atol=1e-4 * np.sqrt(k))


GEMM_THREADS_SCRIPT = """
import hashlib, numpy as np, pullback.core as mx
rng = np.random.default_rng(5)
h = hashlib.sha256()
for m, k, n, ta, tb in [(256, 784, 512, 0, 0), (512, 256, 512, 1, 0), (256, 512, 512, 0, 1),
                        (256, 512, 10, 0, 0), (512, 256, 10, 1, 0), (300, 1100, 70, 0, 0)]:
    x = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    y = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    a, b = mx.array(x), mx.array(y)
    h.update(np.array((a.T if ta else a) @ (b.T if tb else b)).tobytes())
x = mx.array(rng.standard_normal((16, 128, 200)).astype(np.float32))
y = mx.array(rng.standard_normal((16, 200, 96)).astype(np.float32))
h.update(np.array(mx.einsum("bij,bjk->bik", x, y)).tobytes())
print(h.hexdigest())
"""


def _own_gemm_runs():
    """Whether float32 products run on our own gemm: AVX-512 (avx512f/vl/dq/bw, as simd_math's
    dispatch asks), not capped lower by PULLBACK_ISA."""
    if os.environ.get("PULLBACK_ISA") in ("baseline", "avx2"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return all(x in flags for x in ("avx512f", "avx512vl", "avx512dq", "avx512bw"))


@pytest.mark.skipif(not _own_gemm_runs(),
                    reason="OpenBLAS's threaded sgemm (the fallback) gives no such promise")
def test_float32_gemm_is_the_same_with_any_thread_count():
    # Each element of c is computed by one thread in a fixed order, however the product is
    # split: the bits do not depend on PULLBACK_NUM_THREADS.
    from test_parallel_kernels import stdout_per_thread_count

    results = stdout_per_thread_count(GEMM_THREADS_SCRIPT)
    assert results[0] == results[1] == results[2]
