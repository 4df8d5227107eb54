"""vmap of Gather and Scatter (primitives/indexing.h) against a loop over the examples.

Reached through every public op that builds them: __getitem__ with integer arrays, lists and
mixtures with slices / None / Ellipsis, take, take_along_axis, slice with array starts;
__setitem__, .at[...].add/subtract/multiply/divide/maximum/minimum/set, put_along_axis,
slice_update with array starts. Each with the operand, the indices and the updates mapped or
not in every combination, at axis 0, a positive and a negative axis, non-contiguous inputs,
several dtypes; nested vmap; vmap of grad (per-example gradients, embeddings) and of jvp.
"""

import itertools

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy
from vmap_support import check_vmap

VMAP_COVERED = {"Gather", "Scatter"}

B = 3
RNG = np.random.default_rng(7)


def _has_vmap_rule(fn, *args):
    try:
        mx.eval(mx.vmap(fn)(*args))
    except ValueError as e:
        if "vmap is not implemented yet" in str(e):
            return False
        raise
    return True


# Keys with partial slices lower to a Slice (and, when assigning, a SliceUpdate) of the mapped
# operand before the gather/scatter: those rules live with the shape family (branch h-vshape).
# Until it is merged, the cases that need them on a *mapped* operand do not run; the same keys
# run below with the operand unmapped, and every other case runs regardless.
HAS_SLICE = _has_vmap_rule(lambda a: a[1:], mx.zeros((2, 3)))
HAS_SLICE_UPDATE = HAS_SLICE and _has_vmap_rule(
    lambda a: mx.slice_update(a, mx.zeros((2,)), mx.array([1]), [0]), mx.zeros((2, 3)))
needs_slice = pytest.mark.skipif(not HAS_SLICE, reason="needs the Slice vmap rule (h-vshape)")
needs_slice_update = pytest.mark.skipif(not HAS_SLICE_UPDATE,
                                        reason="needs the SliceUpdate vmap rule (h-vshape)")


# ---- inputs ----

def values(shape, dtype="float32"):
    if dtype == "bool_":
        return mx.array(RNG.random(shape) > 0.5)
    if dtype.startswith(("int", "uint")):
        return mx.array(RNG.integers(0, 50, shape), dtype=getattr(mx, dtype))
    return mx.array(RNG.standard_normal(shape), dtype=getattr(mx, dtype))


def indices(shape, n):
    """Random indices into an axis of size >= n, negative ones included."""
    return mx.array(RNG.integers(-n, n, shape), dtype=mx.int32)


def repeated(shape, n):
    """Indices that certainly repeat (values in [0, n) with n smaller than the index count)."""
    return mx.array(RNG.integers(0, n, shape), dtype=mx.int32)


def mapped(example_shape, axis, make):
    """An input whose examples have `example_shape`, batched along `axis` (None: unbatched)."""
    if axis is None:
        return make(tuple(example_shape))
    shape = list(example_shape)
    shape.insert(axis % (len(shape) + 1), B)
    return make(tuple(shape))


def transposed(x):
    """`x` as a non-contiguous view (reversed axis order over a transposed copy)."""
    if x.ndim < 2:
        return reversed_view(x)
    return mx.array(np.ascontiguousarray(to_numpy(x).T), dtype=x.dtype).T


def reversed_view(x):
    """`x` as a negatively strided view."""
    if x.ndim == 0:
        return x
    return mx.array(np.ascontiguousarray(to_numpy(x)[::-1]), dtype=x.dtype)[::-1]


# ---- Gather: __getitem__, take, take_along_axis, slice ----

X = (4, 5, 6)  # the example operand; every index lies in [-4, 4)

# (name, function, example shapes of the index arguments, needs the Slice rule)
GETITEM = [
    ("rows", lambda x, i: x[i], [(3,)], False),
    ("middle", lambda x, i: x[:, i], [(3,)], False),
    ("ellipsis_last", lambda x, i: x[..., i], [(2, 3)], False),
    ("scalar_index", lambda x, i: x[:, i], [()], False),
    ("adjacent_pair", lambda x, i, j: x[:, i, j], [(3,), (3,)], False),
    ("non_adjacent", lambda x, i, j: x[i, :, j], [(2,), (2,)], False),
    ("broadcast_pair", lambda x, i, j: x[i[:, None], j], [(2,), (3,)], False),
    ("integer_among", lambda x, i: x[1, i], [(3,)], False),
    ("none_axes", lambda x, i: x[None, i, None], [(2, 2)], False),
    ("with_slice", lambda x, i: x[i, 1:4], [(3,)], True),
    ("step_slice_none", lambda x, i: x[None, ::-2, i], [(3,)], True),
    ("all_three", lambda x, i, j, k: x[i, j, k], [(3,), (3,), (1,)], False),
]

IN_AXES = {
    2: [(0, 0), (1, -1), (-1, 0), (0, None), (None, 0), (None, -1), (2, None)],
    3: [(0, 0, 0), (1, -1, 0), (None, 0, None), (None, None, -1), (-1, None, None),
        (0, None, 0)],
    4: [(0, 0, 0, 0), (None, 0, None, -1), (2, None, None, None), (None, None, 0, None)],
}


def getitem_cases():
    for name, fn, index_shapes, slicing in GETITEM:
        for axes in IN_AXES[1 + len(index_shapes)]:
            if any(a not in (None, 0, -1) and len(s) == 0 for a, s in zip(axes[1:], index_shapes)):
                continue  # a 0-d index has only axis 0 (= -1) to map
            marks = [needs_slice] if slicing and axes[0] is not None else []
            yield pytest.param(fn, index_shapes, axes, id=f"{name}-{axes}", marks=marks)


def getitem_args(index_shapes, axes, dtype="float32"):
    args = [mapped(X, axes[0], lambda s: values(s, dtype))]
    for shape, ax in zip(index_shapes, axes[1:]):
        args.append(mapped(shape, ax, lambda s: indices(s, 4)))
    return args


@pytest.mark.parametrize("fn,index_shapes,axes", list(getitem_cases()))
def test_getitem(fn, index_shapes, axes):
    check_vmap(fn, *getitem_args(index_shapes, axes), in_axes=axes, exact=True)


@pytest.mark.parametrize("dtype", ["float64", "float16", "int32", "uint8", "bool_"])
@pytest.mark.parametrize("axes", [(0, 0), (-1, None), (None, 1)])
def test_getitem_dtypes(dtype, axes):
    fn = lambda x, i, j: x[i, :, j]  # noqa: E731
    args = getitem_args([(2,), (2,)], axes + (0,), dtype)
    check_vmap(fn, *args, in_axes=axes + (0,), exact=True)


@pytest.mark.parametrize("view", [transposed, reversed_view])
@pytest.mark.parametrize("axes", [(0, 0), (1, None), (None, -1)])
def test_getitem_non_contiguous(view, axes):
    args = [view(a) for a in getitem_args([(2, 3)], axes)]
    check_vmap(lambda x, i: x[:, i], *args, in_axes=axes, exact=True)
    check_vmap(lambda x, i: x[i, 0], *args, in_axes=axes, exact=True)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_getitem_with_lists(axis):
    x = mapped(X, axis, values)
    check_vmap(lambda a: a[[0, 2, -1]], x, in_axes=axis, exact=True)
    check_vmap(lambda a: a[:, [1, 1, 0], [3, -2, 0]], x, in_axes=axis, exact=True)
    check_vmap(lambda a: a[[[0], [3]], None, [1, 2]], x, in_axes=axis, exact=True)


@pytest.mark.parametrize("fn", [lambda x, i: x[i, 1:4], lambda x, i: x[None, ::-2, i],
                                lambda x, i: x[2:0:-1, i, None]])
def test_getitem_with_slices_on_an_unmapped_operand(fn):
    x = values(X)
    check_vmap(fn, x, indices((B, 3), 2), in_axes=(None, 0), exact=True)
    check_vmap(fn, x, indices((3, B), 2), in_axes=(None, 1), exact=True)


@pytest.mark.parametrize("axis", [0, 2, -1, None])
@pytest.mark.parametrize("axes", [(0, 0), (1, -1), (None, 0), (-1, None)])
def test_take(axis, axes):
    fn = lambda x, i: mx.take(x, i, axis=axis)  # noqa: E731
    check_vmap(fn, *getitem_args([(2, 3)], axes), in_axes=axes, exact=True)


@pytest.mark.parametrize("axis,index_shape", [(0, (3, 5, 6)), (1, (4, 2, 6)), (-1, (4, 5, 3)),
                                              (1, (1, 4, 6)), (None, (7,))])
@pytest.mark.parametrize("axes", [(0, 0), (2, -1), (None, 0), (-1, None)])
def test_take_along_axis(axis, index_shape, axes):
    x = mapped(X, axes[0], values)
    i = mapped(index_shape, axes[1], lambda s: indices(s, 4))
    fn = lambda a, j: mx.take_along_axis(a, j, axis=axis)  # noqa: E731
    check_vmap(fn, x, i, in_axes=axes, exact=True)


def starts(shape, axis):
    return mapped(shape, axis, lambda s: mx.array(RNG.integers(0, 3, s), dtype=mx.int32))


# A 1-d start array is split into one start per axis by slicing it: with the start mapped,
# that takes the Slice rule.
def start_cases():
    for axes in [(0, 0), (1, None), (None, 0), (-1, -1)]:
        yield pytest.param(axes, (), id=f"{axes}-one_axis")
        marks = [needs_slice] if axes[1] is not None else []
        yield pytest.param(axes, (2,), id=f"{axes}-two_axes", marks=marks)


@pytest.mark.parametrize("axes,start_shape", list(start_cases()))
def test_slice_with_array_starts(axes, start_shape):
    x = mapped(X, axes[0], values)
    start = starts(start_shape, axes[1])
    if start_shape:
        fn = lambda a, st: mx.slice(a, st, [0, 2], [2, 3, 4])  # noqa: E731
    else:
        fn = lambda a, st: mx.slice(a, st, [1], [4, 2, 6])  # noqa: E731
    check_vmap(fn, x, start, in_axes=axes, exact=True)


def test_boolean_mask_of_a_mapped_value_suggests_where():
    x = values((B, 4))
    with pytest.raises(ValueError, match=r"\[vmap\].*mx\.where"):
        mx.vmap(lambda a: a[a > 0])(x)
    with pytest.raises(ValueError, match=r"\[vmap\].*mx\.where"):
        mx.vmap(lambda a, m: a[m], in_axes=(None, 0))(x[0], x > 0)
    # What the message suggests works: the masked elements selected, the others zeroed.
    got = mx.vmap(lambda a: mx.where(a > 0, a, 0))(x)
    np.testing.assert_array_equal(to_numpy(got), np.where(to_numpy(x) > 0, to_numpy(x), 0))


def test_boolean_mask_that_does_not_depend_on_the_mapped_input():
    mask = mx.array(np.array([[True, False, True], [False, False, True]]))
    check_vmap(lambda a: a[mask], values((B, 2, 3)), exact=True)
    check_vmap(lambda a: a[:, mask], values((4, B, 2, 3)), in_axes=1, exact=True)


# ---- Scatter: .at[...], __setitem__, put_along_axis, slice_update ----

A = (5, 4)  # the example operand of the updates; indices (6,) in [0, 3): repeats certain
UPDATE_METHODS = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "set"]

# Every non-empty subset of (operand, indices, updates) mapped, at axis 0 and at other axes.
SCATTER_AXES = [axes for axes in itertools.product([0, None], repeat=3) if axes != (None,) * 3]
SCATTER_AXES += [(1, -1, 2), (-1, None, 1), (None, 1, -1), (2, 0, None)]


def assign(x, i, u):
    y = mx.array(x)  # a new Python array: `x` itself (the caller's, when unmapped) stays as is
    y[i] = u
    return y


def at_update(method):
    """x.at[i].<method>(u); "set" is plain assignment (x[i] = u), which MLX's .at lacks."""
    if method == "set":
        return assign
    return lambda x, i, u: getattr(x.at[i], method)(u)


def update_values(shape, method, dtype):
    u = values(shape, dtype)
    if method == "divide":  # away from zero
        u = mx.abs(u) + 1 if dtype != "bool_" else u
    return u


def scatter_args(axes, method="add", dtype="float32", update_shape=(6, 4)):
    return [mapped(A, axes[0], lambda s: values(s, dtype)),
            mapped((6,), axes[1], lambda s: repeated(s, 3)),
            mapped(update_shape, axes[2], lambda s: update_values(s, method, dtype))]


@pytest.mark.parametrize("axes", SCATTER_AXES, ids=str)
@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_at_updates(method, axes):
    check_vmap(at_update(method), *scatter_args(axes, method), in_axes=axes,
               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype,methods", [
    ("float64", UPDATE_METHODS), ("int32", ["add", "maximum", "minimum", "set", "multiply"]),
    ("bool_", ["set"]), ("float16", ["add", "set"])])
@pytest.mark.parametrize("axes", [(0, 0, 0), (None, 0, -1), (1, None, None)], ids=str)
def test_at_update_dtypes(dtype, methods, axes):
    tol = 1e-3 if dtype == "float16" else 1e-12
    for method in methods:
        check_vmap(at_update(method), *scatter_args(axes, method, dtype), in_axes=axes,
                   rtol=tol, atol=tol)


@pytest.mark.parametrize("axes", [(0, 0, 0), (1, None, -1), (None, -1, 0)], ids=str)
@pytest.mark.parametrize("method", ["add", "set", "maximum"])
def test_at_updates_non_contiguous(method, axes):
    args = [transposed(a) for a in scatter_args(axes, method)]
    check_vmap(at_update(method), *args, in_axes=axes)
    args = [reversed_view(a) for a in scatter_args(axes, method)]
    check_vmap(at_update(method), *args, in_axes=axes)


def test_duplicate_indices_add_up():
    # Per example: a different pattern of repeats, also against NumPy's unbuffered add.
    x = values((B, 5))
    i = mx.array(np.array([[1, 1, 1, 0], [4, 2, 4, 4], [3, 3, 3, 3]]), dtype=mx.int32)
    u = values((B, 4))
    got = check_vmap(lambda a, j, v: a.at[j].add(v), x, i, u)[0]
    want = to_numpy(x).copy()
    for b in range(B):
        np.add.at(want[b], to_numpy(i)[b], to_numpy(u)[b])
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-6)
    # Updates unmapped: the same repeats add the same values into each example.
    check_vmap(lambda a, j, v: a.at[j].add(v), x, i, u[0], in_axes=(0, 0, None))
    check_vmap(lambda a, j, v: a.at[j].add(v), x[0], i[0], u, in_axes=(None, None, 0))


def test_updates_broadcast_from_a_scalar_and_a_row():
    x = values((B, 5, 4))
    i = repeated((B, 6), 3)
    check_vmap(lambda a, j: a.at[j].add(2.5), x, i)
    check_vmap(lambda a, j, v: a.at[j].maximum(v), x, i, values((B, 4)))
    check_vmap(assign, x[0], i, values((4, B)), in_axes=(None, 0, 1))


@pytest.mark.parametrize("axes", SCATTER_AXES, ids=str)
def test_setitem_leaves_an_unmapped_input_alone(axes):
    x, i, u = scatter_args(axes, "set")
    before = to_numpy(x).copy()
    check_vmap(assign, x, i, u, in_axes=axes)
    np.testing.assert_array_equal(to_numpy(x), before)


def setitem_mixed(x, i, u):
    y = mx.array(x)
    y[1:4, i] = u
    return y


# The slice makes the result a SliceUpdate of the operand (whenever anything is mapped).
@needs_slice_update
@pytest.mark.parametrize("axes", [(0, 0, 0), (1, None, -1), (-1, 0, None), (None, 0, None),
                                  (None, None, 1)], ids=str)
def test_setitem_with_slices(axes):
    x = mapped((5, 4), axes[0], values)
    i = mapped((2,), axes[1], lambda s: indices(s, 4))
    u = mapped((3, 2), axes[2], values)
    check_vmap(setitem_mixed, x, i, u, in_axes=axes)
    check_vmap(lambda a, j, v: a.at[1:4, j].add(v), x, i, u, in_axes=axes)


@pytest.mark.parametrize("axis,index_shape", [(1, (4, 2)), (0, (3, 5)), (-1, (4, 1)), (None, (7,))])
@pytest.mark.parametrize("axes", SCATTER_AXES[:7] + [(1, -1, 0), (-1, None, 1)], ids=str)
def test_put_along_axis(axis, index_shape, axes):
    a = mapped((4, 5), axes[0], values)
    i = mapped(index_shape, axes[1], lambda s: repeated(s, 4))
    v = mapped(index_shape, axes[2], values)
    fn = lambda x, j, u: mx.put_along_axis(x, j, u, axis=axis)  # noqa: E731
    check_vmap(fn, a, i, v, in_axes=axes)


def slice_update_cases():
    for axes in [(0, 0, 0), (None, 0, None), (1, None, -1), (None, None, 0), (-1, 0, None)]:
        yield pytest.param(axes, (), id=f"{axes}-one_axis")
        marks = [needs_slice] if axes[2] is not None else []
        yield pytest.param(axes, (2,), id=f"{axes}-two_axes", marks=marks)


@pytest.mark.parametrize("axes,start_shape", list(slice_update_cases()))
def test_slice_update_with_array_starts(axes, start_shape):
    a = mapped((5, 6), axes[0], values)
    upd = mapped((2, 3), axes[1], values)
    start = starts(start_shape, axes[2])
    along = [0, 1] if start_shape else [1]
    fn = lambda x, u, st: mx.slice_update(x, u, st, along)  # noqa: E731
    check_vmap(fn, a, upd, start, in_axes=axes)


# ---- nested vmap ----

def test_nested_vmap():
    # Outer batch 2 over axis 1, inner batch B over axis 0 of what remains.
    x = values((B, 2, 5, 4))
    i = repeated((2, B, 6), 3)
    u = values((6, 2, 4, B))
    gather = mx.vmap(lambda a, j: a[j], in_axes=(0, 0))
    check_vmap(gather, x, i, in_axes=(1, 0), exact=True)
    check_vmap(mx.vmap(lambda a, j: a[j], in_axes=(None, 0)), x[0, 0], i, in_axes=(None, 0),
               exact=True)
    scatter = mx.vmap(lambda a, j, v: a.at[j].add(v), in_axes=(0, 0, -1))
    check_vmap(scatter, x, i, u, in_axes=(1, 0, 1))
    scatter = mx.vmap(assign, in_axes=(None, 0, -1))
    check_vmap(scatter, x[0, 0], i, u, in_axes=(None, 0, 1))


# ---- vmap of derivatives ----

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("in_axes", [(None, 0), (0, 0), (0, None), (None, 1)], ids=str)
def test_vmap_of_the_gradient_of_a_gather(dtype, in_axes):
    w = mapped((6, 3), in_axes[0], lambda s: values(s, dtype))
    i = mapped((5,), in_axes[1], lambda s: repeated(s, 4))
    grad = mx.grad(lambda v, j: (v[j] * mx.tanh(v[j])).sum())
    check_vmap(grad, w, i, in_axes=in_axes)
    check_vmap(mx.grad(lambda v, j: v[j].sum()), w, i, in_axes=in_axes)


def test_per_example_embedding_gradients():
    vocab, dim, seq = 10, 4, 7
    table = values((vocab, dim), "float64")
    tokens = repeated((B, seq), 5)  # repeated tokens: their gradients add up
    targets = values((B, seq, dim), "float64")

    def loss(w, tok, y):
        e = mx.take(w, tok, axis=0)
        return ((mx.tanh(e) - y) ** 2).sum()

    (per_example,) = check_vmap(mx.grad(loss), table, tokens, targets,
                                in_axes=(None, 0, 0), rtol=1e-12, atol=1e-12)
    # Against the gradient written out: d/dw[t] = sum over positions with token t.
    w, tok, y = to_numpy(table), to_numpy(tokens), to_numpy(targets)
    want = np.zeros((B, vocab, dim))
    for b in range(B):
        e = np.tanh(w[tok[b]])
        np.add.at(want[b], tok[b], 2 * (e - y[b]) * (1 - e ** 2))
    np.testing.assert_allclose(to_numpy(per_example), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", UPDATE_METHODS)
@pytest.mark.parametrize("in_axes", [(0, 0, 0), (0, None, 0), (None, 0, None), (None, None, 0)],
                         ids=str)
def test_vmap_of_the_gradient_of_a_scatter(method, in_axes):
    x, i, u = scatter_args(in_axes, method, "float64")
    c = values(A, "float64")

    def loss(a, v, j):
        return (at_update(method)(a, j, v) * c).sum()

    grad = mx.grad(loss, argnums=(0, 1))
    check_vmap(grad, x, u, i, in_axes=(in_axes[0], in_axes[2], in_axes[1]),
               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_vmap_of_the_jvp_of_a_scatter(method):
    x, i, u = scatter_args((None, None, None), method, "float64")
    tx, tu = values((B,) + A, "float64"), values((B, 6, 4), "float64")
    f = lambda a, v: at_update(method)(a, i, v)  # noqa: E731
    jvp = lambda ta, tv: mx.jvp(f, [x, u], [ta, tv])[1][0]  # noqa: E731
    check_vmap(jvp, tx, tu, in_axes=(0, 0), rtol=1e-10, atol=1e-12)
    check_vmap(jvp, tx, tu[0], in_axes=(0, None), rtol=1e-10, atol=1e-12)


def test_vmap_of_the_jvp_of_a_gather():
    x = values((5, 4), "float64")
    i = indices((3, 2), 4)
    jvp = lambda t: mx.jvp(lambda a: a[None, i, :], [x], [t])[1][0]  # noqa: E731
    check_vmap(jvp, values((B, 5, 4), "float64"), in_axes=(0,), rtol=1e-12, atol=0)
    y = values((3, 2), "float64")
    j = repeated((3, 2), 3)
    jvp = lambda t: mx.jvp(lambda a: mx.take_along_axis(a, j, axis=0), [y], [t])[1][0]  # noqa: E731
    check_vmap(jvp, values((3, 2, B), "float64"), in_axes=(2,), rtol=1e-12, atol=0)
