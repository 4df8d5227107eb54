"""Composed ops (ops_compose.cpp): values against NumPy (and MLX where installed), derivatives
against finite differences, and argument errors."""

import itertools

import numpy as np
import pytest

import pullback.core as mx
from helpers import assert_close, check_grad, to_numpy

try:
    import mlx.core as mlx
except ImportError:  # the comparisons with MLX itself are skipped without it
    mlx = None

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape)


def views(x):
    """`x` as a contiguous array and as non-contiguous views holding the same values."""
    base = mx.array(x)
    out = [base]
    if x.ndim >= 2:
        out.append(mx.array(np.ascontiguousarray(x.T)).T)
    big = mx.array(np.repeat(x, 2, axis=-1)) if x.ndim else None
    if x.ndim:
        sl = [slice(None)] * (x.ndim - 1) + [slice(None, None, 2)]
        out.append(big[tuple(sl)])
        rev = mx.array(np.ascontiguousarray(np.flip(x, -1)))
        out.append(rev[tuple([slice(None)] * (x.ndim - 1) + [slice(None, None, -1)])])
    return out


# ---- padding, repetition, rearrangement ----

PAD_CASES = [((5,), 2), ((5,), (1, 3)), ((2, 3), [(1, 2)]), ((2, 3), [(1, 0), (2, 3)]),
             ((2, 3), ((0, 0), (0, 4))), ((3, 1, 2), 1), ((4,), 9), ((2, 3), [1, 2]), ((2, 3), (2,))]


@pytest.mark.parametrize("shape,width", PAD_CASES)
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_matches_numpy(shape, width, mode):
    x = rand(*shape).astype(np.float32)
    np_width = width
    if isinstance(width, list) and not isinstance(width[0], (tuple, list)):
        np_width = [tuple(width)]
    expected = np.pad(x, np.array(np_width if not isinstance(np_width, list) else np_width).tolist()
                      if False else np_width, mode=mode)
    for v in views(x):
        assert_close(mx.pad(v, width, mode=mode), expected)


def test_pad_constant_values_and_dtypes():
    x = np.arange(5)
    assert_close(mx.pad(mx.array(x), 1, constant_values=7), np.pad(x, 1, constant_values=7))
    got = mx.pad(mx.array(x, dtype=mx.float16), 1, constant_values=2.5)
    assert got.dtype == mx.float16 and to_numpy(got)[0] == 2.5
    assert mx.pad(mx.array([True]), 1, constant_values=2).tolist() == [True, True, True]
    assert_close(mx.pad(mx.array(x), 1, constant_values=mx.array([3])), np.pad(x, 1, constant_values=3))
    for name in ["uint8", "int64", "bfloat16", "float64", "complex64"]:
        got = mx.pad(mx.ones((2,), dtype=getattr(mx, name)), 1)
        assert got.dtype == getattr(mx, name) and got.shape == (4,)
    assert mx.pad(mx.array(3.0), 2).shape == ()
    assert_close(mx.pad(mx.zeros((0, 2)), 1), np.pad(np.zeros((0, 2), np.float32), 1))


def test_pad_errors():
    a = mx.zeros((2, 3))
    with pytest.raises(ValueError, match=r"\[pad\]"):
        mx.pad(a, [(1, 2), (0, 1), (1, 1)])
    with pytest.raises(ValueError, match=r"\[pad\].*non-negative"):
        mx.pad(a, -1)
    with pytest.raises(ValueError, match=r"\[pad\].*mode"):
        mx.pad(a, 1, mode="wrap")
    with pytest.raises(ValueError, match=r"\[pad\]"):
        mx.pad(a, 1, constant_values=mx.array([1, 2]))
    with pytest.raises(ValueError, match=r"\[pad\].*empty"):
        mx.pad(mx.zeros((0,)), 1, mode="edge")
    with pytest.raises(TypeError, match=r"\[pad\]"):
        mx.pad(a, 1.5)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_gradients(mode):
    check_grad(lambda x: mx.pad(x, [(1, 2), (3, 1)], mode=mode), [rand(3, 4)])
    if mode == "constant":
        check_grad(lambda x, c: mx.pad(x, 2, constant_values=c), [rand(3), rand()])


def test_repeat_tile_roll_flip_match_numpy():
    x = rand(2, 3, 4)
    for v in views(x):
        for axis in [None, 0, 1, -1]:
            for r in [0, 1, 3]:
                assert_close(mx.repeat(v, r, axis=axis), np.repeat(x, r, axis=axis).astype(np.float32))
        for reps in [2, (2, 1), (1, 2, 3, 2), (), (0, 2)]:
            assert_close(mx.tile(v, reps), np.tile(x, reps).astype(np.float32))
        for shift, axis in [(2, None), (-7, None), ((1, 2), (0, 1)), (1, (0, 2)), ((1, 2), 0),
                            (5, -1), ((1, 2), None), (1, (0, 0))]:
            assert_close(mx.roll(v, shift, axis), np.roll(x, shift, axis).astype(np.float32))
        for axis in [None, 0, (0, 2), -1, (1, 1)]:
            expected = x if axis == (1, 1) else np.flip(x, axis)
            assert_close(mx.flip(v, axis), expected.astype(np.float32))
    assert mx.repeat(mx.array(2.0), 3).shape == (3,)
    assert mx.roll(mx.array(1), 1).item() == 1
    assert mx.roll(mx.zeros((0, 3)), 1, 0).shape == (0, 3)
    assert mx.tile(mx.array(1), ()).shape == ()
    with pytest.raises(ValueError, match=r"\[repeat\]"):
        mx.repeat(mx.zeros((2,)), -1)
    with pytest.raises(IndexError, match=r"\[repeat\]"):
        mx.repeat(mx.zeros((2, 3)), 2, axis=2)
    with pytest.raises(ValueError, match=r"\[tile\]"):
        mx.tile(mx.zeros((2,)), (-1,))
    with pytest.raises(IndexError, match=r"\[roll\]"):
        mx.roll(mx.zeros((2, 3)), 1, 2)
    with pytest.raises(ValueError, match=r"\[roll\]"):
        mx.roll(mx.zeros((2, 3)), (1, 2, 3), (0, 1))
    with pytest.raises(IndexError, match=r"\[flip\]"):
        mx.flip(mx.zeros((2, 3)), 2)


def test_rearrangement_gradients():
    check_grad(lambda x: mx.repeat(x, 3, axis=1), [rand(2, 3)])
    check_grad(lambda x: mx.repeat(x, 2), [rand(2, 3)])
    check_grad(lambda x: mx.tile(x, (2, 1, 3)), [rand(2, 3)])
    check_grad(lambda x: mx.roll(x, (1, -4), (0, 1)), [rand(3, 4)])
    check_grad(lambda x: mx.roll(x, 5), [rand(3, 4)])
    check_grad(lambda x: mx.flip(x, (0, 1)), [rand(3, 4)])
    check_grad(lambda x: mx.unflatten(x, 0, (2, -1)), [rand(6, 2)])
    check_grad(lambda x: mx.unstack(x, axis=1), [rand(2, 3)])
    check_grad(lambda x: mx.diff(x, 2, axis=0), [rand(5, 3)])
    check_grad(lambda x: mx.matrix_transpose(x), [rand(2, 3, 4)])
    check_grad(lambda x, y: mx.meshgrid(x, y), [rand(3), rand(2)])


def test_shape_helpers_match_numpy():
    x = rand(6, 2)
    assert_close(mx.unflatten(mx.array(x), 0, (2, 3)), x.reshape(2, 3, 2).astype(np.float32))
    assert mx.unflatten(mx.array(x), -1, (1, 2)).shape == (6, 1, 2)
    assert mx.unflatten(mx.array(x), 0, (2, -1)).shape == (2, 3, 2)
    for shape, err in [(((4, -1)), ValueError), (((-1, -1)), ValueError), ((), ValueError)]:
        with pytest.raises(err, match=r"\[unflatten\]"):
            mx.unflatten(mx.array(x), 0, shape)
    with pytest.raises(ValueError, match=r"\[unflatten\]"):
        mx.unflatten(mx.zeros((0, 2)), 0, (0, -1))
    with pytest.raises(IndexError, match=r"\[unflatten\]"):
        mx.unflatten(mx.array(x), 2, (1,))
    parts = mx.unstack(mx.array(x), axis=1)
    assert isinstance(parts, tuple) and len(parts) == 2
    assert_close(parts[1], x[:, 1].astype(np.float32))
    assert mx.unstack(mx.zeros((0, 3))) == ()
    with pytest.raises(IndexError, match=r"\[unstack\]"):
        mx.unstack(mx.array(1))
    for f, nf in [(mx.atleast_1d, np.atleast_1d), (mx.atleast_2d, np.atleast_2d),
                  (mx.atleast_3d, np.atleast_3d)]:
        for shape in [(), (2,), (2, 3), (2, 3, 4)]:
            assert f(mx.zeros(shape)).shape == nf(np.zeros(shape)).shape
        both = f(mx.zeros(()), mx.zeros((2,)))
        assert isinstance(both, list) and len(both) == 2
    assert mx.matrix_transpose(mx.zeros((2, 3, 4))).shape == (2, 4, 3)
    with pytest.raises(ValueError, match=r"\[matrix_transpose\]"):
        mx.matrix_transpose(mx.zeros((4,)))
    y = np.array([1, 4, 9, 16])
    for n in range(6):
        assert_close(mx.diff(mx.array(y), n), np.diff(y, n).astype(np.int32))
    assert_close(mx.diff(mx.array([True, False, False])), np.diff([True, False, False]))
    assert mx.diff(mx.array([1, 4], dtype=mx.uint8)).dtype == mx.uint8
    with pytest.raises(ValueError, match=r"\[diff\]"):
        mx.diff(mx.array(y), -1)
    with pytest.raises(IndexError, match=r"\[diff\]"):
        mx.diff(mx.array(1))
    a, b = np.arange(2), np.arange(3.0)
    for indexing, sparse in itertools.product(["xy", "ij"], [False, True]):
        got = mx.meshgrid(mx.array(a), mx.array(b), mx.arange(4), indexing=indexing, sparse=sparse)
        want = np.meshgrid(a, b, np.arange(4), indexing=indexing, sparse=sparse)
        for g, w in zip(got, want):
            assert_close(g, w.astype(to_numpy(g).dtype))
    assert mx.meshgrid() == ()
    assert mx.meshgrid(mx.ones((2, 2)), mx.arange(3))[0].shape == (3, 4)
    with pytest.raises(ValueError, match=r"\[meshgrid\]"):
        mx.meshgrid(mx.arange(2), indexing="xx")


# ---- triangles and diagonals ----

def test_triangles_and_diagonals_match_numpy():
    for n, m, k in [(3, None, 0), (2, 3, 1), (4, 2, -1), (0, None, 0)]:
        assert_close(mx.tri(n, m, k), np.tri(n, m, k, dtype=np.float32))
    assert mx.tri(2, dtype=mx.int32).dtype == mx.int32
    assert mx.tri(-1).shape == (0, 0)
    x = rand(2, 3, 4)
    for v in views(x):
        for k in [-2, 0, 1, 5]:
            assert_close(mx.tril(v, k), np.tril(x, k).astype(np.float32))
            assert_close(mx.triu(v, k), np.triu(x, k).astype(np.float32))
        for off, a1, a2 in [(0, 0, 1), (1, 2, 0), (-1, 1, 2), (7, 1, 2), (0, -1, -3)]:
            assert_close(mx.diagonal(v, off, a1, a2), np.diagonal(x, off, a1, a2).astype(np.float32))
            assert_close(mx.trace(v, off, a1, a2), np.trace(x, off, a1, a2).astype(np.float32))
    for k in [-2, 0, 1]:
        assert_close(mx.diag(mx.arange(3), k), np.diag(np.arange(3), k).astype(np.int32))
        assert_close(mx.diag(mx.array(x[0]), k), np.diag(x[0], k).astype(np.float32))
    assert mx.diag(mx.zeros((0,)), 2).shape == (2, 2)
    m = mx.arange(9).reshape(3, 3)
    assert mx.trace(m.astype(mx.int8)).dtype == mx.int32
    assert mx.trace(m.astype(mx.uint8)).dtype == mx.uint32
    assert mx.trace(m, dtype=mx.float32).dtype == mx.float32
    assert mx.triu(mx.ones((3, 3), dtype=mx.bool_), 1).dtype == mx.bool_
    with pytest.raises(ValueError, match=r"\[tril\]"):
        mx.tril(mx.ones((3,)))
    with pytest.raises(ValueError, match=r"\[diag\]"):
        mx.diag(mx.array(1))
    with pytest.raises(ValueError, match=r"\[diagonal\]"):
        mx.diagonal(mx.zeros((2, 2)), 0, 1, 1)
    with pytest.raises(IndexError, match=r"\[diagonal\]"):
        mx.diagonal(mx.zeros((2, 2)), 0, 0, 3)
    with pytest.raises(ValueError, match=r"\[trace\]"):
        mx.trace(mx.arange(3))


def test_triangle_gradients():
    check_grad(lambda x: mx.tril(x, -1), [rand(2, 3, 3)])
    check_grad(lambda x: mx.triu(x, 1), [rand(3, 4)])
    check_grad(lambda x: mx.diagonal(x, 1, 2, 0), [rand(3, 2, 4)])
    check_grad(lambda x: mx.diag(x, -1), [rand(3)])
    check_grad(lambda x: mx.diag(x, 1), [rand(3, 3)])
    check_grad(lambda x: mx.trace(x, -1), [rand(4, 3)])


# ---- products ----

def test_products_match_numpy():
    a, b = rand(2, 3), rand(4, 3)
    for va, vb in zip(views(a), views(b)):
        assert_close(mx.outer(va, vb), np.outer(a, b).astype(np.float32))
        assert_close(mx.inner(va, vb), np.inner(a, b).astype(np.float32), rtol=1e-5, atol=1e-5)
        assert_close(mx.kron(va, vb), np.kron(a, b).astype(np.float32))
    assert mx.outer(mx.array(2), mx.arange(2)).shape == (1, 2)
    assert mx.inner(mx.array(2.0), mx.ones((4, 2))).shape == (4, 2)
    assert mx.kron(mx.ones((2, 1, 2)), mx.ones((3, 3))).shape == (2, 3, 6)
    x, y = rand(2, 3), rand(4, 1, 3)
    assert_close(mx.vecdot(mx.array(x), mx.array(y)), np.sum(x * y, -1).astype(np.float32), atol=1e-5)
    assert_close(mx.vecdot(mx.array(x), mx.array(rand(2, 3)), axis=0).astype(mx.float32).shape and
                 mx.vecdot(mx.array(x), mx.array(x), axis=0), np.sum(x * x, 0).astype(np.float32), atol=1e-5)
    assert mx.vecdot(mx.arange(3), mx.arange(3)).item() == 5
    assert mx.vecdot(mx.array([1 + 2j]), mx.array([1 + 2j])).item() == 5
    t1, t2 = rand(2, 3, 4), rand(4, 3, 5)
    for axes in [[[1, 2], [1, 0]], ((1,), (1,)), 0, 1]:
        if axes == 1:
            tt = rand(4, 2)
            want, got = np.tensordot(t1, tt, 1), mx.tensordot(mx.array(t1), mx.array(tt), 1)
        else:
            want, got = np.tensordot(t1, t2, axes), mx.tensordot(mx.array(t1), mx.array(t2), axes)
        assert_close(got, want.astype(np.float32), rtol=1e-5, atol=1e-5)
    assert mx.tensordot(mx.ones((2, 3, 4)), mx.ones((3, 4, 5))).shape == (2, 5)
    for bad in [lambda: mx.inner(mx.ones((2, 3)), mx.ones((4, 2))),
                lambda: mx.vecdot(mx.ones((2, 3)), mx.ones((2, 4))),
                lambda: mx.tensordot(mx.ones((2, 3)), mx.ones((4, 3)), [[1], [0]]),
                lambda: mx.tensordot(mx.ones((2, 3)), mx.ones((3,)), -1),
                lambda: mx.tensordot(mx.ones((2, 3)), mx.ones((3,)), 3)]:
        with pytest.raises(ValueError):
            bad()


def test_addmm():
    c, a, b = rand(2, 4), rand(2, 3), rand(3, 4)
    got = mx.addmm(mx.array(c), mx.array(a), mx.array(b), alpha=2.0, beta=0.5)
    assert_close(got, (2 * a @ b + 0.5 * c).astype(np.float32), rtol=1e-5, atol=1e-5)
    assert mx.addmm(mx.ones((4,)), mx.ones((2, 3)), mx.ones((3, 4))).shape == (2, 4)
    assert mx.addmm(mx.ones((2, 4), dtype=mx.float64), mx.ones((2, 3)), mx.ones((3, 4))).dtype == mx.float64
    assert mx.addmm(mx.ones((2, 4), dtype=mx.int32), mx.ones((2, 3)), mx.ones((3, 4))).dtype == mx.float32
    assert mx.addmm(mx.ones((5, 2, 4)), mx.ones((5, 2, 3)), mx.ones((3, 4))).shape == (5, 2, 4)
    with pytest.raises(ValueError, match=r"\[addmm\]"):
        mx.addmm(mx.ones((2, 4)), mx.ones((3,)), mx.ones((3, 4)))
    check_grad(lambda c, a, b: mx.addmm(c, a, b, alpha=1.5, beta=-0.5), [rand(4), rand(2, 3), rand(3, 4)])


def test_product_gradients():
    check_grad(lambda a, b: mx.outer(a, b), [rand(3), rand(2, 2)])
    check_grad(lambda a, b: mx.inner(a, b), [rand(2, 3), rand(4, 3)])
    check_grad(lambda a, b: mx.vecdot(a, b, axis=0), [rand(3, 2), rand(3, 1)])
    check_grad(lambda a, b: mx.tensordot(a, b, [[1, 2], [1, 0]]), [rand(2, 3, 4), rand(4, 3, 2)])
    check_grad(lambda a, b: mx.kron(a, b), [rand(2, 2), rand(3)])


# ---- einsum ----

EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ii", [(3, 3)]), ("ii->i", [(3, 3)]), ("ij->ji", [(2, 3)]), ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
    ("i...->...", [(5, 2, 3)]), ("...", [(5, 2, 3)]), ("ij,ij->", [(2, 3), (1, 3)]), ("ij,kl->ijkl", [(2, 3), (1, 3)]),
    ("iij->ij", [(2, 2, 3)]), ("ba,b->a", [(2, 3), (2,)]), ("Ab,b->A", [(2, 3), (3,)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i", [(3,), (3,)]), ("i,j->ij", [(3,), (2,)]), ("abc,cd,bd->a", [(2, 3, 4), (4, 5), (3, 5)]),
    ("ab,bc,cd,de,ef", [(2, 3), (3, 4), (4, 5), (5, 6), (6, 7)]), ("i,i->", [(0,), (0,)]), ("->", [()]),
    ("i j->j", [(2, 3)]), ("ij...,jk...->ik...", [(2, 3, 4), (3, 2, 4)]),
]


@pytest.mark.parametrize("subscripts,shapes", EINSUM_CASES)
def test_einsum_matches_numpy(subscripts, shapes):
    xs = [rand(*s) for s in shapes]
    want = np.einsum(subscripts.replace(" ", ""), *xs)
    assert_close(mx.einsum(subscripts, *[mx.array(x, dtype=mx.float64) for x in xs]), want,
                 rtol=1e-10, atol=1e-10)
    if all(len(s) >= 2 for s in shapes):  # transposed views
        vs = [mx.array(np.ascontiguousarray(x.swapaxes(-1, -2))).swapaxes(-1, -2) for x in xs]
        assert_close(mx.einsum(subscripts, *vs), want.astype(np.float32), rtol=1e-4, atol=1e-4)
    if mlx is not None:
        path, text = mx.einsum_path(subscripts, *[mx.zeros(s) for s in shapes])
        mpath, mtext = mlx.einsum_path(subscripts, *[mlx.zeros(s) for s in shapes])
        assert path == mpath and text == mtext


def test_einsum_integers_and_complex():
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    assert_close(mx.einsum("ij,jk->ik", mx.array(a), mx.array(b)), (a @ b).astype(np.int32))
    c = (rand(2, 3) + 1j * rand(2, 3)).astype(np.complex64)
    assert_close(mx.einsum("ij,ij->i", mx.array(c), mx.array(c)), np.einsum("ij,ij->i", c, c), rtol=1e-5, atol=1e-5)


def test_einsum_path_format():
    path, text = mx.einsum_path("ij,jk,kl->il", mx.ones((2, 3)), mx.ones((3, 4)), mx.ones((4, 5)))
    assert path == [(1, 2), (0, 1)]
    assert text == ("  Complete contraction:  ij,jk,kl->il\n         Naive scaling:  4\n"
                    "     Optimized scaling:  3\n      Naive FLOP count:  360\n"
                    "  Optimized FLOP count:  180\n")
    assert mx.einsum_path("ii->i", mx.ones((3, 3)))[0] == [(0,)]


def test_einsum_errors():
    cases = [("ij", [(3,)]), ("ij->ii", [(2, 2)]), ("ij,jk->ik", [(2, 2)]), ("i,i->i", [(2,), (3,)]),
             ("ij->k", [(2, 2)]), ("i$", [(2, 2)]), ("i..j", [(2, 2)]), ("......", [(2,)])]
    for sub, shapes in cases:
        with pytest.raises(ValueError, match=r"\[einsum\]"):
            mx.einsum(sub, *[mx.ones(s) for s in shapes])
    with pytest.raises(TypeError, match=r"\[einsum\]"):
        mx.einsum(3, mx.ones(2))


def test_einsum_gradients():
    check_grad(lambda a, b, c: mx.einsum("ij,jk,kl->il", a, b, c), [rand(2, 3), rand(3, 4), rand(4, 2)])
    check_grad(lambda a: mx.einsum("iij->j", a), [rand(3, 3, 2)])
    check_grad(lambda a, b: mx.einsum("...ij,...jk->...ik", a, b), [rand(2, 2, 3), rand(3, 2)])
    check_grad(lambda a, b: mx.einsum("ij,ij->", a, b), [rand(2, 3), rand(1, 3)])


# ---- elementwise compositions ----

def test_clip_nan_to_num_trunc_match_numpy():
    a = np.array([-2, 0, 3])
    assert_close(mx.clip(mx.array(a), 0, 2), np.clip(a, 0, 2).astype(np.int32))
    assert mx.clip(mx.array(a), 0.5, 2).dtype == mx.float32
    assert_close(mx.clip(mx.array(a), None, 1), np.clip(a, None, 1).astype(np.int32))
    assert_close(mx.clip(mx.array(a), mx.array([[0], [1]]), None), np.clip(a, [[0], [1]], None).astype(np.int32))
    assert np.isnan(mx.clip(mx.array([np.nan]), 0, 1).item())
    with pytest.raises(ValueError):
        mx.clip(mx.array(a), None, None)
    with pytest.raises(ValueError):
        mx.clip(mx.array(a, dtype=mx.uint8), -1, 2)
    check_grad(lambda x, lo: mx.clip(x, lo, 0.5), [np.array([-1.3, 0.2, 0.9, -0.1]), np.array([-0.5, 0.0, 0.1, 0.3])])

    x = np.array([np.nan, np.inf, -np.inf, 1.0])
    for name, big in [("float32", np.finfo(np.float32).max), ("float16", 65504.0), ("float64", np.finfo(np.float64).max)]:
        got = mx.nan_to_num(mx.array(x, dtype=getattr(mx, name)))
        assert got.dtype == getattr(mx, name)
        assert to_numpy(got).tolist() == [0.0, big, -big, 1.0]
    assert_close(mx.nan_to_num(mx.array(x), 1, 2, 3), np.array([1, 2, 3, 1], np.float32))
    assert mx.nan_to_num(mx.array([1, 2])).dtype == mx.int32
    check_grad(lambda v: mx.nan_to_num(v), [rand(4)])

    f = np.array([-2.5, -0.5, 0.0, 0.5, 3.5, np.inf, np.nan])
    for name in ["float16", "bfloat16", "float32", "float64"]:
        assert_close(mx.trunc(mx.array(f, dtype=getattr(mx, name))), np.trunc(f))
    assert mx.trunc(mx.array([1, 2], dtype=mx.uint8)).dtype == mx.uint8
    with pytest.raises(ValueError, match=r"\[trunc\]"):
        mx.trunc(mx.array([1j]))
    check_grad(lambda v: mx.trunc(v), [np.array([-2.3, 0.4, 1.7])])


def test_angles_xor_divmod_counts():
    a = np.array([-2.0, 0.0, 3.0])
    assert_close(mx.degrees(mx.array(a)), np.degrees(a).astype(np.float32))
    assert_close(mx.radians(mx.array(a, dtype=mx.float64)), np.radians(a))
    assert mx.degrees(mx.array([1, 2])).dtype == mx.float32
    assert mx.radians(mx.array([1], dtype=mx.float16)).dtype == mx.float16
    check_grad(lambda v: mx.degrees(v), [rand(3)])
    check_grad(lambda v: mx.radians(v), [rand(3)])
    p, q = np.array([1, 0, 3, 0]), np.array([0.5, 0.0, 0.0, np.nan])
    assert_close(mx.logical_xor(mx.array(p), mx.array(q)), np.logical_xor(p, q))
    assert mx.logical_xor(1, 0).item() is True
    for x, y in [(np.array([7, -7, 5]), np.array([3, 3, -2])), (np.array([7.5, -7.5]), np.array([2.0, 2.0]))]:
        qt, r = mx.divmod(mx.array(x), mx.array(y))
        wq, wr = np.divmod(x, y)
        assert_close(qt, wq.astype(to_numpy(qt).dtype))
        assert_close(r, wr.astype(to_numpy(r).dtype))
    qt, r = mx.divmod(mx.array([True]), mx.array([True]))
    assert qt.tolist() == [True] and r.tolist() == [False]
    with pytest.raises(ValueError, match=r"\[divmod\]"):
        mx.divmod(mx.array([1j]), mx.array([1j]))
    check_grad(lambda x, y: mx.divmod(x, y)[1], [np.array([2.3, -1.7]), np.array([0.7, 0.9])])
    z = np.array([[1, 0, 2], [0, 0, 3]])
    assert_close(mx.count_nonzero(mx.array(z)), np.array(np.count_nonzero(z), np.int32))
    assert_close(mx.count_nonzero(mx.array(z), axis=1), np.count_nonzero(z, axis=1).astype(np.int32))
    assert mx.count_nonzero(mx.array(z), axis=(0, 1), keepdims=True).shape == (1, 1)
    assert mx.count_nonzero(mx.array([np.nan, 0.0])).item() == 1
    lo, hi = mx.minmax(mx.array(z), axis=0)
    assert lo.tolist() == [0, 0, 2] and hi.tolist() == [1, 0, 3]
    assert mx.minmax(mx.array(z), axis=1, keepdims=True)[0].shape == (2, 1)
    check_grad(lambda x: mx.minmax(x, axis=1), [rand(2, 3)])
    t = mx.ones((2, 3)).T
    c = mx.contiguous(t)
    assert c.shape == (3, 2) and mx.array_equal(c, t).item()
    check_grad(lambda x: mx.contiguous(x.T), [rand(2, 3)])


def test_dtype_helpers():
    assert mx.isdtype(mx.float32, "real floating")
    assert mx.isdtype(mx.float32, ("integral", mx.float32))
    assert mx.isdtype(mx.bool_, "bool") and not mx.isdtype(mx.float16, "complex floating")
    assert mx.isdtype(mx.complex64, "numeric") and mx.isdtype(mx.uint8, "unsigned integer")
    with pytest.raises(ValueError, match=r"\[isdtype\]"):
        mx.isdtype(mx.int8, "foo")
    with pytest.raises(ValueError, match=r"\[isdtype\]"):
        mx.isdtype(mx.int8, 3)
    assert mx.can_cast(mx.int8, mx.int16) and not mx.can_cast(mx.int16, mx.int8)
    assert not mx.can_cast(mx.ones(2), mx.float16) and mx.can_cast(mx.bool_, mx.uint8)
    assert mx.can_cast(mx.float64, mx.complex64) and not mx.can_cast(mx.uint64, mx.int64)
    with pytest.raises(TypeError, match=r"\[can_cast\]"):
        mx.can_cast(3, mx.float32)
    assert mx.asarray([1, 2]).dtype == mx.int32
    assert mx.asarray([1, 2], mx.float16).dtype == mx.float16
    x = mx.ones(2)
    assert mx.asarray(x, mx.int32).dtype == mx.int32
    with pytest.raises(ValueError, match=r"\[asarray\]"):
        mx.asarray(x, mx.int32, copy=False)
    with pytest.raises(ValueError, match=r"\[asarray\]"):
        mx.asarray(np.ones(2), copy=False)
    assert mx.asarray(np.ones(2)).dtype == mx.float32


# Produced by mlx 0.32.4: mlx.core.isdtype(dtype, kind) over DTYPE_KINDS (one character per
# kind, 1 = True) and mlx.core.can_cast(from, to) over DTYPE_HELPER_NAMES (row = from).
DTYPE_HELPER_NAMES = ["bool_", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
                      "int64", "float16", "bfloat16", "float32", "float64", "complex64"]
DTYPE_KINDS = ["bool", "signed integer", "unsigned integer", "integral", "real floating",
               "complex floating", "numeric"]
MLX_ISDTYPE = {
    'bool_': '1000000',
    'uint8': '0011001',
    'uint16': '0011001',
    'uint32': '0011001',
    'uint64': '0011001',
    'int8': '0101001',
    'int16': '0101001',
    'int32': '0101001',
    'int64': '0101001',
    'float16': '0000101',
    'bfloat16': '0000101',
    'float32': '0000101',
    'float64': '0000101',
    'complex64': '0000011',
}
MLX_CAN_CAST = {
    'bool_': '11111111111111',
    'uint8': '01111011111111',
    'uint16': '00111001111111',
    'uint32': '00011000111111',
    'uint64': '00001000011111',
    'int8': '00000111111111',
    'int16': '00000011111111',
    'int32': '00000001111111',
    'int64': '00000000111111',
    'float16': '00000000010111',
    'bfloat16': '00000000001111',
    'float32': '00000000000111',
    'float64': '00000000000011',
    'complex64': '00000000000001',
}


def test_dtype_helpers_agree_with_tables_stored_from_mlx():
    for a in DTYPE_HELPER_NAMES:
        got = "".join("1" if mx.isdtype(getattr(mx, a), kind) else "0" for kind in DTYPE_KINDS)
        assert got == MLX_ISDTYPE[a], a
        got = "".join("1" if mx.can_cast(getattr(mx, a), getattr(mx, b)) else "0"
                      for b in DTYPE_HELPER_NAMES)
        assert got == MLX_CAN_CAST[a], a


@pytest.mark.skipif(mlx is None, reason="needs mlx")
def test_dtype_helpers_agree_with_mlx():
    names = ["bool_", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
             "float16", "bfloat16", "float32", "float64", "complex64"]
    kinds = ["bool", "signed integer", "unsigned integer", "integral", "real floating",
             "complex floating", "numeric"]
    for a in names:
        for kind in kinds:
            assert mx.isdtype(getattr(mx, a), kind) == mlx.isdtype(getattr(mlx, a), kind), (a, kind)
        for b in names:
            assert mx.can_cast(getattr(mx, a), getattr(mx, b)) == mlx.can_cast(getattr(mlx, a), getattr(mlx, b)), (a, b)


def test_diag_and_diagonal_methods():
    a = mx.arange(9).reshape(3, 3)
    assert a.diag(1).tolist() == [1, 5] and a.diagonal().tolist() == [0, 4, 8]
    assert a.diagonal(-1, 0, 1).tolist() == [3, 7]
    assert mx.arange(2).diag().tolist() == [[0, 0], [0, 1]]
