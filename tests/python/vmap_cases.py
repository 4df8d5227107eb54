"""Batched inputs for the vmap tests of the shape and elementwise families: a batch of examples
with the batch axis anywhere, in any dtype, laid out contiguously or not, and the derivative
checks (vmap of grad, vmap of jvp) against a loop of the same transform."""

import re

import numpy as np
import pytest

import pullback.core as mx
from vmap_support import check_vmap

B = 3
# The primitives whose rules these tests are about: a derivative graph that reaches a primitive
# of another family without a rule yet skips (naming it); one of these without a rule fails.
FAMILY = {
    "Broadcast", "Reshape", "Transpose", "Slice", "SliceUpdate", "Concatenate", "Identity",
    "Copy", "AsType", "StopGradient", "Arange", "AsStrided", "View", "Depends", "Hadamard",
    "Unary", "Binary", "Select",
}
LAYOUTS = ["contiguous", "transposed", "sliced", "reversed"]


def values(shape, dtype="float32", seed=0, low=-2.0, high=2.0):
    """NumPy values of `shape` that suit `dtype` (floats in [low, high))."""
    rng = np.random.default_rng(seed)
    if dtype == "bool_":
        return rng.random(shape) < 0.5
    if dtype.startswith("uint"):
        return rng.integers(0, 10, shape)
    if dtype.startswith("int"):
        return rng.integers(-6, 7, shape)
    if dtype == "complex64":
        return (rng.uniform(low, high, shape) + 1j * rng.uniform(low, high, shape)).astype(
            np.complex64)
    return rng.uniform(low, high, shape)


def laid_out(vals, dtype="float32", layout="contiguous"):
    """An mx array equal to `vals` whose strides follow `layout`."""
    d = getattr(mx, dtype)
    if layout == "contiguous" or vals.ndim == 0:
        return mx.array(vals, dtype=d)
    if layout == "transposed":
        return mx.array(np.ascontiguousarray(vals.T), dtype=d).T
    if layout == "sliced":
        big = np.repeat(vals, 2, axis=-1)
        return mx.array(big, dtype=d)[..., ::2]
    if layout == "reversed":
        return mx.array(np.ascontiguousarray(vals[::-1]), dtype=d)[::-1]
    raise ValueError(layout)


def batched(example_shape, axis=0, dtype="float32", layout="contiguous", seed=0, **kw):
    """A batch of B examples of `example_shape` with the batch axis at `axis`."""
    full = list(example_shape)
    full.insert(axis % (len(full) + 1), B)
    return laid_out(values(tuple(full), dtype, seed, **kw), dtype, layout)


def example(example_shape, dtype="float32", layout="contiguous", seed=0, **kw):
    return laid_out(values(tuple(example_shape), dtype, seed, **kw), dtype, layout)


def check_vmap_grad(f, *args, in_axes=0, rtol=1e-5, atol=1e-6):
    """Per-example gradients: vmap(grad(loss)) against a loop of grad(loss), where the loss sums
    sin of every output of `f` (nonlinear, so the gradient depends on the forward values)."""
    argnums = tuple(i for i, a in enumerate(args) if isinstance(a, mx.array)
                    and mx.issubdtype(a.dtype, mx.floating))

    def loss(*xs):
        outs = f(*xs)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return sum(mx.sum(mx.sin(o)) for o in outs)

    _unless_other_family_lacks_a_rule(
        lambda: check_vmap(mx.grad(loss, argnums=argnums), *args, in_axes=in_axes, rtol=rtol,
                           atol=atol))


def check_vmap_jvp(f, primals, tangents, in_axes=0, rtol=1e-5, atol=1e-6):
    """vmap of the forward derivative over a batch of tangents (and of primals where
    `in_axes` maps them) against a loop; `primals` and `tangents` are lists of equal length."""
    n = len(primals)

    def tangent_out(*xs):
        return mx.jvp(f, list(xs[:n]), list(xs[n:]))[1][0]

    axes = in_axes if isinstance(in_axes, (list, tuple)) else [None] * n + [in_axes] * n
    _unless_other_family_lacks_a_rule(
        lambda: check_vmap(tangent_out, *primals, *tangents, in_axes=list(axes), rtol=rtol,
                           atol=atol))


def _unless_other_family_lacks_a_rule(check):
    try:
        check()
    except ValueError as e:
        missing = re.match(r"\[(\w+)\] vmap is not implemented yet", str(e))
        if missing and missing.group(1) not in FAMILY:
            pytest.skip(f"the derivative graph needs the vmap rule of {missing.group(1)}")
        raise
