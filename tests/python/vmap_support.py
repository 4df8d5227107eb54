"""Checking vmap rules against a Python loop over the examples.

Each tests/python/test_vmap_*.py file checks the rules of one family of primitives and names
the primitive classes it covers in a module-level set ``VMAP_COVERED``; test_vmap_registry.py
fails for any primitive class in csrc/pullback/primitives/*.h that no file covers.
"""

import numpy as np

import pullback.core as mx
from helpers import to_numpy


def _example(x, axis, b):
    """Example ``b`` of ``x`` along ``axis`` (None: ``x`` itself, unmapped)."""
    if axis is None or not isinstance(x, mx.array):
        return x
    axis = axis % x.ndim
    return x[(slice(None),) * axis + (b,)]


def _leaves(tree):
    if isinstance(tree, mx.array):
        return [tree]
    if isinstance(tree, (list, tuple)):
        return [leaf for child in tree for leaf in _leaves(child)]
    if isinstance(tree, dict):
        return [leaf for child in tree.values() for leaf in _leaves(child)]
    raise TypeError(type(tree))


def loop_vmap(fn, args, in_axes=0, out_axes=0):
    """What ``mx.vmap(fn, in_axes, out_axes)(*args)`` must give, computed one example at a time
    (flat arguments only: ``in_axes`` an int/None or one per argument), as a list of leaves."""
    axes = in_axes if isinstance(in_axes, (list, tuple)) else [in_axes] * len(args)
    sizes = {a.shape[ax % a.ndim] for a, ax in zip(args, axes)
             if ax is not None and isinstance(a, mx.array)}
    assert len(sizes) == 1, sizes
    (batch,) = sizes
    per_example = [_leaves(fn(*[_example(a, ax, b) for a, ax in zip(args, axes)]))
                   for b in range(batch)]
    outs = []
    for k in range(len(per_example[0])):
        oa = out_axes if isinstance(out_axes, int) else out_axes[k]
        stacked = mx.stack([ex[k] for ex in per_example], axis=0)
        outs.append(mx.moveaxis(stacked, 0, oa))
    return outs


def check_vmap(fn, *args, in_axes=0, out_axes=0, rtol=1e-5, atol=1e-6, exact=False):
    """Asserts that vmap(fn) equals the loop over examples: shapes, dtypes and values."""
    got = _leaves(mx.vmap(fn, in_axes=in_axes, out_axes=out_axes)(*args))
    want = loop_vmap(fn, args, in_axes, out_axes)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        gn, wn = to_numpy(g), to_numpy(w)
        if exact or not np.issubdtype(wn.dtype, np.inexact):
            np.testing.assert_array_equal(gn, wn)
        else:
            np.testing.assert_allclose(gn, wn, rtol=rtol, atol=atol, equal_nan=True)
    return got
