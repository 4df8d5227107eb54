"""The multi-threaded kernel paths of indexing and shape ops, at sizes that take them: boolean-mask
positions (counted and written per block), privatised scatter reductions (many updates into a
small output), SliceUpdate writing each element once (pad, slice assignment into a shared array)
and Concatenate copying whole output rows. Every dtype, duplicates, odd sizes and non-contiguous
inputs, against NumPy; derivatives against finite differences."""

import os
import subprocess
import sys

import numpy as np
import pytest

import pullback.core as mx
from helpers import DTYPE_NAMES, check_grad, dt, to_numpy

MASK_BLOCK = 1 << 16  # elements per counting block of the mask kernel
PRIVATE_BLOCK = 1 << 17  # positions per block of a privatised scatter


def values_of(name, shape, rng):
    """Small integer-valued data of dtype `name` (exact in every dtype, sums included)."""
    v = rng.integers(-3, 4, size=shape)
    if name == "bool_":
        v = v > 0
    elif name.startswith("uint"):
        v = np.abs(v)
    return mx.array(v.astype(np.float64 if name in ("bfloat16", "float16") else None), dtype=dt(name))


# ---- boolean-mask selection ----

@pytest.mark.parametrize("density", [0.0, 0.01, 0.5, 1.0])
@pytest.mark.parametrize("n", [1, 7, MASK_BLOCK - 1, 3 * MASK_BLOCK + 17])
def test_mask_selection_1d_matches_numpy(n, density):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    m = rng.random(n) < density
    got = mx.array(x)[mx.array(m)]
    assert got.shape == (int(m.sum()),)
    np.testing.assert_array_equal(np.array(got), x[m])


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_mask_selection_every_dtype_multi_axis(name):
    rng = np.random.default_rng(1)
    shape = (5, 301, 97)  # 146,000 elements: three counting blocks, odd rows
    x = values_of(name, shape, rng)
    xn = to_numpy(x)
    m = rng.random(shape[:2]) < 0.3
    np.testing.assert_array_equal(to_numpy(x[mx.array(m)]), xn[m])
    m3 = rng.random(shape) < 0.7
    np.testing.assert_array_equal(to_numpy(x[mx.array(m3)]), xn[m3])
    np.testing.assert_array_equal(to_numpy(x[:, mx.array(m3[0, :, 0])]), xn[:, m3[0, :, 0]])


def test_mask_selection_non_contiguous_masks_and_values():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((700, 400)).astype(np.float32)
    m = rng.random((400, 700)) < 0.4
    xm, mm = mx.array(x), mx.array(m)
    for view_x, view_m, nx, nm in [
        (xm, mm.T, x, m.T),
        (xm[::-1], mm.T[::-1], x[::-1], m.T[::-1]),
        (xm[::2, 1:], mm.T[::2, 1:], x[::2, 1:], m.T[::2, 1:]),
    ]:
        np.testing.assert_array_equal(np.array(view_x[view_m]), nx[nm])
    # A mask that is a broadcast view.
    row = rng.random(400) < 0.5
    b = mx.broadcast_to(mx.array(row), (700, 400))
    np.testing.assert_array_equal(np.array(xm[b]), x[np.broadcast_to(row, (700, 400))])


def test_mask_selection_gradient():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 8))
    m = mx.array(rng.random((8, 9)) < 0.5).T  # transposed: a non-contiguous mask
    check_grad(lambda a: a[m] * 2.0, [x])
    check_grad(lambda a: a.T[::-1][m.T[::-1]], [x])


def test_mask_assignment_large():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(3 * MASK_BLOCK + 5).astype(np.float32)
    m = x > 0.2
    a = mx.array(x)
    a[mx.array(m)] = mx.array(np.arange(m.sum(), dtype=np.float32))
    want = x.copy()
    want[m] = np.arange(m.sum())
    np.testing.assert_array_equal(np.array(a), want)


# ---- scatter reductions into a small output ----

UFUNC = {"add": np.add, "multiply": np.multiply, "maximum": np.maximum, "minimum": np.minimum}


@pytest.mark.parametrize("name", DTYPE_NAMES)
@pytest.mark.parametrize("method", list(UFUNC))
def test_privatised_scatter_matches_numpy(name, method):
    rng = np.random.default_rng(5)
    if name == "complex64" and method in ("maximum", "minimum"):
        with pytest.raises(ValueError):  # complex numbers have no order
            getattr(mx.zeros((3,), dtype=mx.complex64).at[mx.array([0])], method)(1.0)
        return
    n, bins = 4 * PRIVATE_BLOCK + 3, 1001  # many duplicates per bin
    idx = rng.integers(-bins, bins, size=n)
    a = values_of(name, (bins,), rng)
    if method == "multiply":
        # Products of many small integers leave every range; ones with a few -1s stay exact.
        raw = np.where(rng.random(n) < 0.001, -1, 1)
        upd = mx.array(raw if name != "bool_" else raw > 0, dtype=dt(name))
        if name.startswith("uint") or name == "bool_":
            upd = mx.ones((n,), dtype=dt(name))
    else:
        upd = values_of(name, (n,), rng)
    want = to_numpy(a).copy()
    UFUNC[method].at(want, idx, to_numpy(upd))
    got = getattr(a.at[mx.array(idx.astype(np.int32))], method)(upd)
    assert got.dtype == a.dtype
    np.testing.assert_array_equal(to_numpy(got), want.astype(to_numpy(got).dtype))


def test_privatised_scatter_2d_output_and_non_contiguous_operands():
    rng = np.random.default_rng(6)
    n = 3 * PRIVATE_BLOCK
    base = rng.integers(-5, 6, size=(40, 30)).astype(np.float64)  # sums exact in any order
    rows, cols = rng.integers(0, 40, n), rng.integers(0, 30, n)
    upd = rng.integers(-5, 6, size=(2, n)).astype(np.float32)
    want = base.astype(np.float32).copy()
    np.add.at(want, (rows, cols), upd[1])
    # Updates a strided view, rows reversed, the base transposed.
    got = mx.array(base.T.astype(np.float32)).T.at[
        mx.array(rows[::-1].copy())[::-1], mx.array(cols)].add(mx.array(upd)[1])
    np.testing.assert_array_equal(np.array(got), want)
    # Max with NaNs propagates them, as NumPy does.
    vals = rng.standard_normal(n).astype(np.float32)
    vals[::50_000] = np.nan
    want = base.astype(np.float32).copy()
    np.maximum.at(want, (rows, cols), vals)
    got = mx.array(base.astype(np.float32)).at[mx.array(rows), mx.array(cols)].maximum(mx.array(vals))
    np.testing.assert_array_equal(np.array(got), want)


def test_privatised_scatter_out_of_range_index_changes_nothing():
    a = mx.zeros((100,))
    idx = np.zeros(3 * PRIVATE_BLOCK, dtype=np.int64)
    idx[2 * PRIVATE_BLOCK + 5] = 100
    with pytest.raises(IndexError):
        mx.eval(a.at[mx.array(idx)].add(1.0))
    assert np.array(a).sum() == 0


SUM_SCRIPT = """
import numpy as np, pullback.core as mx
rng = np.random.default_rng(7)
idx = mx.array(rng.integers(0, 500, 1 << 20).astype(np.int32))
v = mx.array(rng.standard_normal(1 << 20).astype(np.float32))
print(np.array(mx.zeros(500).at[idx].add(v)).tobytes().hex())
"""


def stdout_per_thread_count(script, counts=("1", "2", "3")):
    """What `script` prints when run with each PULLBACK_NUM_THREADS in `counts`."""
    env = dict(os.environ)
    results = []
    for threads in counts:
        env["PULLBACK_NUM_THREADS"] = threads
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True)
        results.append(out.stdout.strip())
    return results


def test_privatised_float_sum_is_the_same_with_one_thread():
    results = stdout_per_thread_count(SUM_SCRIPT)
    assert results[0] == results[1] == results[2]
    # And close to the exact sum.
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 500, 1 << 20)
    v = rng.standard_normal(1 << 20).astype(np.float32)
    want = np.zeros(500)
    np.add.at(want, idx, v.astype(np.float64))
    got = np.frombuffer(bytes.fromhex(results[0]), dtype=np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


DOT_SCRIPT = """
import numpy as np, pullback.core as mx
rng = np.random.default_rng(3)
a, b = (mx.array(rng.standard_normal(300001).astype(np.float32)) for _ in range(2))
print(mx.einsum("i,i->", a, b).item().hex())
"""


def test_long_dot_is_the_same_with_any_thread_count():
    # matmul's (1, k) @ (k, 1) sums fixed-size partial dots, whatever the pool's size.
    results = stdout_per_thread_count(DOT_SCRIPT)
    assert results[0] == results[1] == results[2]


def test_privatised_scatter_gradient():
    rng = np.random.default_rng(8)
    idx = mx.array(rng.integers(0, 3, size=20))
    check_grad(lambda a, u: a.at[idx].add(u * 3.0), [rng.standard_normal(3), rng.standard_normal(20)])


# ---- pad and slice assignment: each output element written once ----

@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_pad_every_dtype_large(name):
    rng = np.random.default_rng(9)
    x = values_of(name, (130, 517), rng)
    xn = to_numpy(x)
    for width in [2, [(1, 3), (0, 0)], [(0, 0), (5, 0)], [(7, 1), (2, 9)]]:
        got = mx.pad(x, width, constant_values=1)
        want = np.pad(xn, width, constant_values=np.array(1).astype(xn.dtype))
        np.testing.assert_array_equal(to_numpy(got), want)


@pytest.mark.parametrize("shape", [(5,), (40,), (3, 4, 5), (2, 33, 70), (600, 700)])
def test_pad_non_contiguous_inputs(shape):
    rng = np.random.default_rng(10)
    x = rng.standard_normal(shape[::-1]).astype(np.float32)
    xm = mx.array(x)
    views = [(xm.T, x.T), (xm[::-1], x[::-1]), (xm[..., ::2], x[..., ::2])]
    for v, nv in views:
        np.testing.assert_array_equal(np.array(mx.pad(v, 3, constant_values=-2.0)),
                                      np.pad(nv, 3, constant_values=-2.0))


def test_pad_gradients_non_contiguous():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 20))
    check_grad(lambda a: mx.pad(a.T, [(1, 2), (3, 0)]), [x])
    check_grad(lambda a: mx.pad(a[::-1, 1::2], 2, constant_values=5.0) ** 2, [x])


def test_slice_assignment_into_a_shared_array():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((300, 500)).astype(np.float32)
    for key, value in [((slice(10, 290), slice(20, 480)), 7.0),
                       ((slice(None), slice(0, 100)), np.arange(100, dtype=np.float32)),
                       ((slice(5, 6), slice(None)), rng.standard_normal((1, 500)).astype(np.float32)),
                       ((slice(0, 300), slice(499, 500)), -1.0)]:
        want = x.copy()
        want[key] = value
        v = mx.array(value) if isinstance(value, np.ndarray) else value
        arr = mx.array(x)
        view = arr.T  # shares arr's buffer: the update cannot reuse it
        mx.eval(view)
        arr[key] = v
        np.testing.assert_array_equal(np.array(arr), want)
        np.testing.assert_array_equal(np.array(view.T), x)
        fresh = mx.array(x) + 0  # nothing else holds it: updated in place
        fresh[key] = v
        np.testing.assert_array_equal(np.array(fresh), want)


# ---- concatenate ----

@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_concatenate_rows_every_dtype(name):
    rng = np.random.default_rng(13)
    parts = [values_of(name, (1500, k, 3), rng) for k in (7, 0, 31, 1)]
    want = np.concatenate([to_numpy(p) for p in parts], axis=1)
    np.testing.assert_array_equal(to_numpy(mx.concatenate(parts, axis=1)), want)
    np.testing.assert_array_equal(to_numpy(mx.concatenate(parts, axis=-2)), want)


def test_concatenate_mixed_layouts():
    rng = np.random.default_rng(14)
    a = rng.standard_normal((1024, 300)).astype(np.float32)
    b = rng.standard_normal((200, 1024)).astype(np.float32)
    c = rng.standard_normal((1024, 1)).astype(np.float32)
    got = mx.concatenate([mx.array(a), mx.array(b).T, mx.array(c)[::-1]], axis=1)
    np.testing.assert_array_equal(np.array(got), np.concatenate([a, b.T, c[::-1]], axis=1))
    got = mx.concatenate([mx.array(a), mx.array(a)], axis=1)
    np.testing.assert_array_equal(np.array(got), np.concatenate([a, a], axis=1))
    check_grad(lambda p, q: mx.concatenate([p, q.T], axis=1),
               [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))])
