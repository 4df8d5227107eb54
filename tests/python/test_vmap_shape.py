"""vmap rules of the shape family (Broadcast, Reshape, Transpose, Slice, SliceUpdate,
Concatenate), of the data-movement primitives (Identity, Copy, AsType, StopGradient, Arange) and
of the special family (AsStrided, View, Depends, Hadamard), reached through the public ops that
build them, against a loop over the examples; and the public shape ops end to end under vmap."""

import copy

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy
from vmap_cases import B, LAYOUTS, batched, check_vmap_grad, check_vmap_jvp, example
from vmap_support import check_vmap

VMAP_COVERED = {
    "Broadcast", "Reshape", "Transpose", "Slice", "SliceUpdate", "Concatenate",
    "Identity", "Copy", "AsType", "StopGradient", "Arange",
    "AsStrided", "View", "Depends", "Hadamard",
}

AXES = [0, 1, -1]
FLOATS = ["float32", "float64"]


def setitem(idx, value):
    """a with a[idx] = value (on a new array: the argument itself stays as it was)."""
    def f(a, v=value):
        out = a + mx.zeros_like(a)
        out[idx] = v
        return out
    return f


# (name, function of one example, example shape): each builds the primitive(s) named first.
ONE_INPUT = [
    # Broadcast
    ("broadcast_lead", lambda a: mx.broadcast_to(a, (2, 3, 4)), (3, 4)),
    ("broadcast_ones", lambda a: mx.broadcast_to(a, (2, 3, 4)), (3, 1)),
    ("broadcast_mixed", lambda a: mx.broadcast_to(a, (5, 2, 4)), (1, 4)),
    ("broadcast_scalar", lambda a: mx.broadcast_to(a[0, 0], (2, 3)), (3, 4)),
    # Reshape
    ("reshape", lambda a: a.reshape(4, 3), (3, 4)),
    ("reshape_infer", lambda a: mx.reshape(a, (2, -1)), (3, 4)),
    ("reshape_to_scalar", lambda a: a[:1, :1].reshape(()), (3, 4)),
    ("flatten", lambda a: mx.flatten(a), (3, 4)),
    ("flatten_range", lambda a: mx.flatten(a, 1, 2), (2, 3, 4)),
    ("unflatten", lambda a: mx.unflatten(a, -1, (2, 2)), (3, 4)),
    ("squeeze", lambda a: mx.squeeze(a, 1), (3, 1, 4)),
    ("squeeze_all", lambda a: mx.squeeze(a), (3, 1, 4)),
    ("expand_dims", lambda a: mx.expand_dims(a, (0, -1)), (3, 4)),
    # Transpose
    ("transpose", lambda a: mx.transpose(a, (2, 0, 1)), (2, 3, 4)),
    ("transpose_default", lambda a: a.T, (2, 3, 4)),
    ("transpose_neg_axes", lambda a: mx.transpose(a, (-1, 0, -2)), (2, 3, 4)),
    ("swapaxes", lambda a: mx.swapaxes(a, 0, -1), (2, 3, 4)),
    ("moveaxis", lambda a: mx.moveaxis(a, -1, 0), (2, 3, 4)),
    # Slice (basic indexing, split)
    ("slice_range", lambda a: a[1:3], (4, 5)),
    ("slice_steps", lambda a: a[::2, 1::3], (4, 5)),
    ("slice_negative_step", lambda a: a[::-1, -2::-2], (4, 5)),
    ("slice_int", lambda a: a[1], (4, 5)),
    ("slice_int_negative", lambda a: a[:, -1], (4, 5)),
    ("slice_ellipsis_none", lambda a: a[..., None, 1:4:2], (4, 5)),
    ("slice_empty", lambda a: a[3:1], (4, 5)),
    ("slice_out_of_range", lambda a: a[-10:10, 2:100], (4, 5)),
    ("split_sections", lambda a: mx.split(a, 2, axis=0), (4, 5)),
    ("split_indices", lambda a: mx.split(a, [1, 3], axis=-1), (4, 5)),
    # SliceUpdate (basic-index assignment, at[].add)
    ("setitem_scalar", setitem((slice(1, 3),), 7.0), (4, 5)),
    ("setitem_steps", setitem((slice(None, None, -2), slice(1, None, 2)), -1.0), (4, 5)),
    ("setitem_int", setitem((2,), 0.5), (4, 5)),
    ("at_add", lambda a: a.at[1:, ::2].add(a[:-1, ::2] * 2), (4, 5)),
    ("setitem_self", lambda a: setitem((slice(0, 2),), None)(a, a[2:] * 3), (4, 5)),
    # Concatenate (and what composes it)
    ("concatenate_self", lambda a: mx.concatenate([a, a * 2], axis=1), (3, 4)),
    ("concatenate_neg", lambda a: mx.concatenate([a[:1], a, a[::-1]], axis=-2), (3, 4)),
    ("concatenate_none", lambda a: mx.concatenate([a, a[0]], axis=None), (3, 4)),
    ("stack", lambda a: mx.stack([a, a + 1], axis=-1), (3, 4)),
    ("pad_constant", lambda a: mx.pad(a, [(1, 2), (0, 1)], constant_values=3.0), (3, 4)),
    ("pad_edge", lambda a: mx.pad(a, 1, mode="edge"), (3, 4)),
    ("tile", lambda a: mx.tile(a, (2, 1, 2)), (3, 4)),
    ("repeat_axis", lambda a: mx.repeat(a, 2, axis=1), (3, 4)),
    ("repeat_flat", lambda a: mx.repeat(a, 3), (3, 4)),
    ("roll_axis", lambda a: mx.roll(a, -1, axis=1), (3, 4)),
    ("roll_axes", lambda a: mx.roll(a, (1, 2), axis=(0, 1)), (3, 4)),
    ("roll_flat", lambda a: mx.roll(a, 5), (3, 4)),
    # AsStrided
    ("as_strided_windows", lambda a: mx.as_strided(a, (4, 3), (2, 1), 1), (3, 4)),
    ("as_strided_negative", lambda a: mx.as_strided(a, (5,), (-2,), 11), (3, 4)),
    ("as_strided_zero_stride", lambda a: mx.as_strided(a, (2, 3), (0, 4), 0), (3, 4)),
    ("as_strided_default", lambda a: mx.as_strided(a), (3, 4)),
    ("as_strided_empty", lambda a: mx.as_strided(a, (0, 3), (1, 1), 0), (3, 4)),
    # Hadamard
    ("hadamard", lambda a: mx.hadamard_transform(a), (3, 4)),
    ("hadamard_scale", lambda a: mx.hadamard_transform(a, scale=0.25), (2, 8)),
    ("hadamard_1d", lambda a: mx.hadamard_transform(a), (8,)),
    # Copy, AsType, StopGradient
    ("contiguous", lambda a: mx.contiguous(a.T), (3, 4)),
    ("deepcopy", lambda a: copy.deepcopy(a[::-1]), (3, 4)),
    ("astype_f64", lambda a: a.astype(mx.float64) * 2, (3, 4)),
    ("astype_f16", lambda a: a.astype(mx.float16), (3, 4)),
    ("astype_int", lambda a: a.astype(mx.int32), (3, 4)),
    ("stop_gradient", lambda a: mx.stop_gradient(a) * a, (3, 4)),
    # Arange: never batched, broadcast where it meets a batched array
    ("arange", lambda a: a * mx.arange(4), (3, 4)),
    ("arange_float", lambda a: mx.arange(0.5, 2.5, 0.5) - a, (3, 4)),
    # Select, clip through the shape family's view of it
    ("where", lambda a: mx.where(a > 0, a, a[::-1]), (3, 4)),
    ("clip", lambda a: mx.clip(a, -0.5, 0.5), (3, 4)),
]
NAMES = [c[0] for c in ONE_INPUT]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("case", ONE_INPUT, ids=NAMES)
def test_one_input(case, axis, dtype, layout):
    _, f, shape = case
    x = batched(shape, axis, dtype, layout)
    check_vmap(f, x, in_axes=axis, exact=True)


# The cases without arithmetic, on integer and bool examples (exact).
EXACT = [c for c in ONE_INPUT if not c[0].startswith(
    ("at_add", "setitem_self", "concatenate_self", "stack", "hadamard", "stop_gradient",
     "arange", "astype_f", "where", "clip", "pad_constant", "setitem"))]


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool_", "int64", "float16", "bfloat16"])
@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("case", EXACT, ids=[c[0] for c in EXACT])
def test_one_input_other_dtypes(case, axis, dtype):
    _, f, shape = case
    check_vmap(f, batched(shape, axis, dtype, "transposed"), in_axes=axis, exact=True)


def test_arange_only_output_is_broadcast():
    x = batched((3,), 0)
    got = mx.vmap(lambda a: mx.arange(5))(x)
    np.testing.assert_array_equal(to_numpy(got), np.broadcast_to(np.arange(5), (B, 5)))
    got = mx.vmap(lambda a: (a, mx.arange(2.0, 4.0)), out_axes=(0, 1))(x)[1]
    np.testing.assert_array_equal(to_numpy(got), np.broadcast_to([[2.0], [3.0]], (2, B)))


def test_values_against_numpy():
    """The loop is the reference elsewhere; here a few rules against NumPy directly."""
    xv = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(3, 4, 2, 5)  # batch axis 2
    x = mx.array(xv)
    f = mx.vmap(lambda a: mx.concatenate([a[::-1, 1::2], a[:, :2]], axis=1), in_axes=2)
    want = np.concatenate([xv[::-1, 1::2], xv[:, :2]], axis=1).transpose(2, 0, 1, 3)
    np.testing.assert_array_equal(to_numpy(f(x)), want)
    g = mx.vmap(lambda a: mx.as_strided(a, (3, 2), (1, 4), 2), in_axes=-1)
    flat = np.ascontiguousarray(np.moveaxis(xv, -1, 0)).reshape(5, -1)
    want = np.stack([np.lib.stride_tricks.as_strided(r[2:], (3, 2), (4, 16)) for r in flat])
    np.testing.assert_array_equal(to_numpy(g(x)), want)


# ---- two or more inputs: mixes of batched and unbatched operands ----

MIXES = [(0, 0), (0, None), (None, 0), (1, -1), (-1, 1), (None, -1)]


def concat3(a, b):
    return mx.concatenate([b, a, b * 2], axis=-1)


TWO_INPUTS = [
    ("concatenate", lambda a, b: mx.concatenate([a, b], axis=0), (2, 4), (3, 4)),
    ("concatenate_last", concat3, (3, 2), (3, 4)),
    ("stack", lambda a, b: mx.stack([a, b], axis=1), (3, 4), (3, 4)),
    ("setitem_region", lambda a, b: setitem((slice(1, 3), slice(None, None, 2)), None)(a, b),
     (4, 5), (2, 3)),
    ("setitem_broadcast", lambda a, b: setitem((slice(None, None, -1),), None)(a, b), (4, 5), (5,)),
    ("at_add", lambda a, b: a.at[::-2, 1:4].add(b), (4, 5), (2, 3)),
    ("broadcast_add", lambda a, b: mx.broadcast_to(a, (2, 3, 4)) + b, (3, 1), (2, 3, 4)),
    ("depends", lambda a, b: mx.depends([a * 2], [b])[0], (3, 4), (2,)),
    ("depends_two", lambda a, b: mx.depends([a, b + 1], [a * b[0, 0]]), (3, 4), (2, 2)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("axes", MIXES, ids=str)
@pytest.mark.parametrize("case", TWO_INPUTS, ids=[c[0] for c in TWO_INPUTS])
def test_two_inputs(case, axes, dtype):
    _, f, sa, sb = case
    args = [batched(s, ax, dtype, layout, seed=i) if ax is not None else
            example(s, dtype, layout, seed=i)
            for i, (s, ax, layout) in enumerate(zip((sa, sb), axes, ("reversed", "transposed")))]
    check_vmap(f, *args, in_axes=list(axes), exact=True)


@pytest.mark.parametrize("axes", [(0, None), (None, 1), (-1, 0)], ids=str)
def test_concatenate_and_setitem_int_bool(axes):
    for dtype in ("int32", "bool_"):
        a = batched((2, 4), axes[0], dtype) if axes[0] is not None else example((2, 4), dtype)
        b = batched((3, 4), axes[1], dtype, seed=1) if axes[1] is not None else example((3, 4), dtype)
        check_vmap(lambda u, v: mx.concatenate([u, v, u], axis=0), a, b, in_axes=list(axes))
        check_vmap(lambda u, v: setitem((slice(1, 4), slice(0, 2)), None)(v, u[:, 1:3]),
                   a, b, in_axes=list(axes))


# ---- View: the last axis rescales, so a batch axis there must move ----

VIEWS = [("float32", "int32"), ("float32", "uint8"), ("float64", "float32"), ("int8", "int32"),
         ("uint8", "bool_"), ("float32", "float16"), ("int16", "bfloat16")]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("pair", VIEWS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_view(pair, axis, layout):
    src, dst = pair
    x = batched((2, 4), axis, src, layout)
    check_vmap(lambda a: mx.view(a, getattr(mx, dst)), x, in_axes=axis, exact=True)


def test_view_scalar_examples():
    x = batched((), 0, "float32")
    check_vmap(lambda a: mx.view(a, mx.int32), x, exact=True)
    with pytest.raises(ValueError, match=r"\[view\]"):
        mx.vmap(lambda a: mx.view(a, mx.int8))(x)


# ---- nested vmap ----

def test_nested_vmap():
    x = batched((4, 5, 6), 1, "float32", "transposed")  # shape (4, B, 5, 6)
    y = example((5,), "float32", seed=2)

    def f(a, b):
        s = a[::-1, 1:] * b[1:]
        s = mx.concatenate([s, a[:, :1]], axis=-1)
        s = s.at[1:, ::2].add(1.0)
        return mx.as_strided(mx.transpose(s), (3, 2), (1, 2), 1)

    inner = mx.vmap(f, in_axes=(-1, None))
    got = mx.vmap(inner, in_axes=(1, None))(x, y)
    want = np.stack([np.stack([to_numpy(f(x[:, i, :, j], y)) for j in range(6)])
                     for i in range(B)])
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-6)


# ---- derivatives under vmap ----

DERIVATIVE_CASES = [c for c in ONE_INPUT if not c[0].startswith(("astype_int", "as_strided_empty"))]


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("case", DERIVATIVE_CASES, ids=[c[0] for c in DERIVATIVE_CASES])
def test_vmap_of_grad(case, axis):
    _, f, shape = case
    check_vmap_grad(f, batched(shape, axis, "float64", "sliced"), in_axes=axis, rtol=1e-10)


@pytest.mark.parametrize("case", DERIVATIVE_CASES, ids=[c[0] for c in DERIVATIVE_CASES])
def test_vmap_of_jvp(case):
    _, f, shape = case
    x = example(shape, "float64", "reversed")
    tangents = batched(shape, 1, "float64", "transposed", seed=3)
    check_vmap_jvp(f, [x], [tangents], in_axes=1, rtol=1e-10)
    # Primals and tangents both mapped.
    xs = batched(shape, 0, "float64", seed=4)
    check_vmap_jvp(f, [xs], [tangents], in_axes=[0, 1], rtol=1e-10)


@pytest.mark.parametrize("axes", MIXES, ids=str)
@pytest.mark.parametrize("case", TWO_INPUTS, ids=[c[0] for c in TWO_INPUTS])
def test_vmap_of_grad_two_inputs(case, axes):
    _, f, sa, sb = case
    args = [batched(s, ax, "float64", seed=i) if ax is not None else example(s, "float64", seed=i)
            for i, (s, ax) in enumerate(zip((sa, sb), axes))]
    check_vmap_grad(f, *args, in_axes=list(axes), rtol=1e-10)


@pytest.mark.parametrize("case", TWO_INPUTS, ids=[c[0] for c in TWO_INPUTS])
def test_vmap_of_jvp_two_inputs(case):
    _, f, sa, sb = case
    primals = [example(sa, "float64", seed=0), example(sb, "float64", seed=1)]
    tangents = [batched(sa, 0, "float64", seed=2), batched(sb, -1, "float64", seed=3)]
    check_vmap_jvp(lambda a, b: _first(f(a, b)), primals, tangents,
                   in_axes=[None, None, 0, -1], rtol=1e-10)


def _first(out):
    return out[0] if isinstance(out, (list, tuple)) else out


def test_identity_in_vmap_of_grad_and_jvp():
    """grad and jvp stand an Identity node in for each primal; vmap of them replays it."""
    x = batched((3,), 0, "float64")
    check_vmap(mx.grad(lambda a: mx.sum(a * a * a)), x, rtol=1e-12)
    check_vmap(lambda t: mx.jvp(lambda a: a * a, [x[0]], [t])[1][0], x, rtol=1e-12)
    check_vmap(lambda a: mx.vjp(lambda u: mx.sin(u), [a], [a])[1][0], x, rtol=1e-12)
    # Nothing derived from the primal: Identity's output is the whole answer.
    check_vmap(lambda a: mx.vjp(lambda u: u, [a], [mx.ones_like(a)])[0][0], x, exact=True)


def test_stop_gradient_blocks_per_example_gradient():
    x = batched((4,), 1, "float64", "transposed")
    got = mx.vmap(mx.grad(lambda a: mx.sum(mx.stop_gradient(a) * a)), in_axes=1)(x)
    np.testing.assert_allclose(to_numpy(got), to_numpy(mx.moveaxis(x, 1, 0)), rtol=1e-12)


def test_hadamard_batch_axis_last_per_example_rows():
    x = batched((2, 4), -1, "float32")  # shape (2, 4, B): the transform axis is not the last
    got = mx.vmap(mx.hadamard_transform, in_axes=-1)(x)
    h = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0
    want = np.moveaxis(to_numpy(x), -1, 0) @ h
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5, atol=1e-6)


def test_depends_output_of_unbatched_input():
    """An output of an unbatched input still depends on the mapped ones: it comes back
    broadcast along the batch, and what consumes it is replayed."""
    a = batched((3,), 0, "float32")
    c = example((2,), "float32")
    outs = mx.vmap(lambda u, v: mx.depends([u, v], [u]), in_axes=(0, None))(a, c)
    np.testing.assert_array_equal(to_numpy(outs[0]), to_numpy(a))
    np.testing.assert_array_equal(to_numpy(outs[1]), np.broadcast_to(to_numpy(c), (B, 2)))
    check_vmap(lambda u, v: mx.exp(mx.depends([v], [u])[0]) * 2, a, c, in_axes=[0, None])
