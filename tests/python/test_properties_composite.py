"""Property tests of the composite ops (indexing, padding and tiling, triangles and diagonals,
contractions, clipping, scans, sorting) against NumPy, driven by COMPOSITE_OPS in
property_support.py; the elementwise, reduction and shape ops are in test_properties.py.

How to add an op: append its name to COMPOSITE_OPS in property_support.py and write
``check_<name>(data)`` here (and, if it is differentiable, a ``COMPOSITE_GRADS`` entry).
"""

import numpy as np
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pullback.core as mx
from helpers import check_grad
from property_support import *  # noqa: F401,F403  (tables, strategies and comparison helpers)
from property_support import _reference, _same


# ---------------------------------------------------------------------------------------------
# Composite ops (indexing, padding/tiling, triangles and diagonals, contractions, clipping...):
# one check per op in COMPOSITE_OPS (property_support.py), in the style of the shape ops above:
# random shapes (0-d, empty and zero-size axes where the op allows them), several dtypes, views
# that are not contiguous, values against NumPy. Their gradients: COMPOSITE_GRADS further down.

NUM = tuple(d for d in ALL if d not in ("bool_", "complex64"))  # real numbers
LINALG = ("float16", "bfloat16", "float32", "float64", "complex64")  # matmul-based


def _draw(data, dtypes=ALL, shape=None, domain=None, label="x", **shape_kw):
    """(mx view, its NumPy values rounded to the dtype, dtype name)."""
    name = data.draw(st.sampled_from(dtypes), label=f"{label} dtype")
    if shape is None:
        shape = data.draw(shapes(**shape_kw), label=f"{label} shape")
    x = data.draw(np_array(name, shape, domain), label=label)
    a, xv = data.draw(mx_view(x, name), label=f"{label} view")
    return a, rounded_to(xv, name), name


def _like(x, name, data, label="y"):
    """(mx array, the values it holds) for ``x`` of dtype ``name``, drawn as a view."""
    a, xv = data.draw(mx_view(x, name), label=label)
    return a, rounded_to(xv, name)


def _hi(x, out_name):
    """``x`` in the precision a reference for a result of dtype ``out_name`` is computed in."""
    if out_name in INTS + BOOL:
        return x.astype(NP_OF[out_name])
    return x.astype(np.complex128 if out_name == "complex64" or np.iscomplexobj(x) else np.float64)


def _idx_dtype(data):
    return data.draw(st.sampled_from([mx.int32, mx.int64, mx.uint32, mx.int16]), label="idx dtype")


def check_take(data):
    a, x, n = _draw(data, max_dims=3)
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)) if x.ndim
                     else st.none(), label="axis")
    size = x.size if axis is None else x.shape[axis]
    ishape = data.draw(shapes(max_dims=2, max_side=3) if size else
                       st.sampled_from([(0,), (2, 0)]), label="index shape")
    idt = _idx_dtype(data)
    lo = 0 if idt == mx.uint32 else -size
    idx = data.draw(hnp.arrays(np.int64, ishape, elements=st.integers(lo, max(size - 1, 0))))
    out = mx.take(a, mx.array(idx, dtype=idt), axis=axis)
    _same(out, np.take(x, idx, axis=axis), n, f"take {x.shape} {idx.tolist()} axis={axis}")


def _along_indices(data, shape, axis, unique=False, negative=True):
    """Indices for take/put_along_axis: ``shape`` with axis ``axis`` of any length (at most its
    size when ``unique``), other axes of their size or 1 (broadcast)."""
    size = shape[axis]
    ishape = [s if data.draw(st.booleans()) else 1 for s in shape]
    ishape[axis] = data.draw(st.integers(0, size if unique else (3 if size else 0)))
    if size == 0:
        ishape[axis] = 0
    lo = -size if negative else 0
    if not unique:
        return data.draw(hnp.arrays(np.int64, tuple(ishape),
                                    elements=st.integers(lo, max(size - 1, 0))))
    # distinct positions along the axis (a random permutation's prefix for each lane)
    keys = data.draw(hnp.arrays(np.float64, tuple(ishape[:axis] + [size] + ishape[axis + 1:]),
                                elements=st.floats(0, 1), unique=False))
    order = np.argsort(keys, axis=axis, kind="stable")
    return np.take(order, np.arange(ishape[axis]), axis=axis)


def check_take_along_axis(data):
    a, x, n = _draw(data, min_dims=1, max_dims=3)
    if data.draw(st.booleans(), label="axis None"):
        idx = data.draw(hnp.arrays(np.int64, data.draw(st.integers(0, 4) if x.size else
                                                       st.just(0)),
                                   elements=st.integers(-x.size, max(x.size - 1, 0))))
        _same(mx.take_along_axis(a, mx.array(idx), axis=None),
              np.take_along_axis(x.ravel(), idx, axis=0), n, "take_along_axis axis=None")
        return
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    idx = _along_indices(data, x.shape, axis % x.ndim)
    out = mx.take_along_axis(a, mx.array(idx, dtype=_idx_dtype(data)) if idx.min(initial=0) >= 0
                             else mx.array(idx), axis=axis)
    ref = np.take_along_axis(x, idx, axis=axis)
    _same(out, ref, n, f"take_along_axis {x.shape} {idx.tolist()} axis={axis}")


def _broadcasting_to(shape, max_dims=None):
    """Shapes that broadcast to exactly ``shape`` (hypothesis' broadcastable_shapes may also
    grow it: (5, 1) against (1, 4))."""
    shape = tuple(shape)
    return hnp.broadcastable_shapes(shape, min_side=0, max_dims=len(shape) if max_dims is None
                                    else min(max_dims, len(shape))).filter(
        lambda s: np.broadcast_shapes(s, shape) == shape)


def check_put_along_axis(data):
    a, x, n = _draw(data, min_dims=1, max_dims=3)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    idx = _along_indices(data, x.shape, axis % x.ndim, unique=True)
    # indices broadcast against the other axes: values of the broadcast shape or smaller
    full = np.broadcast_shapes(idx.shape, x.shape[:axis % x.ndim] + (idx.shape[axis],) +
                               x.shape[axis % x.ndim + 1:])
    vshape = data.draw(_broadcasting_to(full), label="values shape")
    vals = data.draw(np_array(n, vshape), label="values")
    vals = rounded_to(vals, n)
    if data.draw(st.booleans()):
        idx = np.where(idx > 0, idx - x.shape[axis], idx)  # negative positions too
    v, vals = _like(vals, n, data, "values view")
    out = mx.put_along_axis(a, mx.array(idx), v, axis=axis)
    ref = x.copy()
    np.put_along_axis(ref, np.broadcast_to(idx, full), np.broadcast_to(vals, full), axis=axis)
    _same(out, ref, n, f"put_along_axis {x.shape} {idx.tolist()} axis={axis}")


def _slice_args(data, shape):
    axes = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)),
                     label="axes")
    size = [data.draw(st.integers(0, s)) if i in axes else s for i, s in enumerate(shape)]
    start = [data.draw(st.integers(0, shape[ax] - size[ax])) for ax in axes]
    # negative starts count from the end, as Python indices
    start = [s - shape[ax] if s and data.draw(st.booleans()) else s for s, ax in zip(start, axes)]
    return axes, size, start


def check_slice(data):
    a, x, n = _draw(data, min_dims=1, max_dims=3)
    axes, size, start = _slice_args(data, x.shape)
    key = [slice(None)] * x.ndim
    for ax, s in zip(axes, start):
        s = s % x.shape[ax] if x.shape[ax] else 0
        key[ax] = slice(s, s + size[ax])
    sdt = data.draw(st.sampled_from([mx.int32, mx.int64]))
    out = mx.slice(a, mx.array(start, dtype=sdt), axes, size)
    _same(out, x[tuple(key)], n, f"slice {x.shape} start={start} axes={axes} size={size}")


def check_slice_update(data):
    a, x, n = _draw(data, min_dims=1, max_dims=3)
    axes, size, start = _slice_args(data, x.shape)
    key = [slice(None)] * x.ndim
    for ax, s in zip(axes, start):
        s = s % x.shape[ax] if x.shape[ax] else 0
        key[ax] = slice(s, s + size[ax])
    # The update's shape is the slice's (leading axes of size 1 may be left out). A 0-d update
    # is not drawn: MLX broadcasts it over the whole array, pullback writes one element (reported).
    ushape = tuple(size)
    while len(ushape) > 1 and ushape[0] == 1 and data.draw(st.booleans(), label="drop 1"):
        ushape = ushape[1:]
    upd = rounded_to(data.draw(np_array(n, ushape), label="update"), n)
    u, upd = _like(upd, n, data, "update view")
    out = mx.slice_update(a, u, mx.array(start, dtype=mx.int32), axes)
    ref = x.copy()
    ref[tuple(key)] = upd
    _same(out, ref, n, f"slice_update {x.shape} start={start} axes={axes} {ushape}")


def check_pad(data):
    a, x, n = _draw(data, max_dims=3)
    mode = data.draw(st.sampled_from(["constant", "edge", "reflect", "symmetric"]), label="mode")
    if mode != "constant" and 0 in x.shape:
        with pytest.raises(ValueError):
            mx.eval(mx.pad(a, 1, mode=mode))
        return
    kind = data.draw(st.sampled_from(["int", "pair", "per-axis"] if x.ndim else ["int", "pair"]),
                     label="width kind")
    if kind == "int":
        width = data.draw(st.integers(0, 3))
    elif kind == "pair":
        width = (data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3)))
    else:
        width = [(data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))) for _ in x.shape]
    kw = {}
    if mode == "constant" and data.draw(st.booleans()):
        kw["constant_values"] = data.draw(st.integers(0, 1) if n == "bool_" else st.integers(0, 5))
    ref = np.pad(x, width, mode=mode, **kw)
    _same(mx.pad(a, width, mode=mode, **kw), ref, n, f"pad {x.shape} {width} {mode} {kw}")


def check_repeat(data):
    a, x, n = _draw(data, max_dims=3)
    reps = data.draw(st.integers(0, 3), label="repeats")
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)) if x.ndim
                     else st.none(), label="axis")
    _same(mx.repeat(a, reps, axis=axis), np.repeat(x, reps, axis=axis), n,
          f"repeat {x.shape} {reps} axis={axis}")


def check_tile(data):
    a, x, n = _draw(data, max_dims=3, max_side=3)
    reps = data.draw(st.one_of(st.integers(0, 3), st.lists(st.integers(0, 3), max_size=4)),
                     label="reps")
    _same(mx.tile(a, reps), np.tile(x, reps), n, f"tile {x.shape} {reps}")


def check_roll(data):
    a, x, n = _draw(data, max_dims=3)
    if x.ndim and data.draw(st.booleans()):
        axis = data.draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=1, max_size=x.ndim,
                                  unique_by=lambda i: i % x.ndim).map(tuple), label="axes")
        shift = data.draw(st.one_of(st.integers(-9, 9), st.lists(
            st.integers(-9, 9), min_size=len(axis), max_size=len(axis)).map(tuple)), label="shift")
    else:
        axis = None if not x.ndim or data.draw(st.booleans()) else \
            data.draw(st.integers(-x.ndim, x.ndim - 1))
        shift = data.draw(st.integers(-9, 9), label="shift")
    _same(mx.roll(a, shift, axis=axis), np.roll(x, shift, axis=axis), n,
          f"roll {x.shape} {shift} axis={axis}")


def check_flip(data):
    a, x, n = _draw(data)
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1),
                               st.lists(st.integers(0, x.ndim - 1), unique=True).map(tuple))
                     if x.ndim else st.none(), label="axis")
    _same(mx.flip(a, axis=axis), np.flip(x, axis=axis), n, f"flip {x.shape} axis={axis}")


def check_tri(data):
    n_, m_ = data.draw(st.integers(0, 5)), data.draw(st.none() | st.integers(0, 5))
    k = data.draw(st.integers(-6, 6))
    name = data.draw(st.sampled_from(ALL))
    _same(mx.tri(n_, m_, k, dtype=mxdt(name)), np.tri(n_, m_, k, dtype=NP_OF[name]), name,
          f"tri({n_}, {m_}, {k})")
    _same(mx.tri(n_, m_, k), np.tri(n_, m_, k), "float32", "tri default dtype")


def _check_triangle(data, f, ref, what):
    a, x, n = _draw(data, min_dims=2, max_dims=4)
    k = data.draw(st.integers(-5, 5), label="k")
    _same(f(a, k), ref(x, k), n, f"{what} {x.shape} k={k}")


def check_tril(data):
    _check_triangle(data, mx.tril, np.tril, "tril")


def check_triu(data):
    _check_triangle(data, mx.triu, np.triu, "triu")


def check_diag(data):
    a, x, n = _draw(data, min_dims=1, max_dims=2)
    k = data.draw(st.integers(-5, 5), label="k")
    _same(mx.diag(a, k), np.diag(x, k), n, f"diag {x.shape} k={k}")


def check_diagonal(data):
    a, x, n = _draw(data, min_dims=2, max_dims=4)
    a1, a2 = data.draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=2, max_size=2,
                                unique_by=lambda i: i % x.ndim), label="axes")
    off = data.draw(st.integers(-5, 5), label="offset")
    _same(mx.diagonal(a, off, a1, a2), np.diagonal(x, off, a1, a2), n,
          f"diagonal {x.shape} {off} {a1} {a2}")


def check_trace(data):
    a, x, n = _draw(data, dtypes=ALL, min_dims=2, max_dims=3, domain=(-50, 50))
    a1, a2 = data.draw(st.lists(st.integers(0, x.ndim - 1), min_size=2, max_size=2, unique=True))
    off = data.draw(st.integers(-4, 4), label="offset")
    dt = data.draw(st.sampled_from([None, "float32", "int32", "float64"]), label="dtype")
    if n == "complex64" and dt is not None:
        dt = None  # complex -> real drops the imaginary part (see check_astype)
    out = mx.trace(a, off, a1, a2, dtype=None if dt is None else mxdt(dt))
    on = dname(out.dtype)
    if dt is not None:
        assert on == dt, f"trace dtype={dt} gives {out.dtype}"
    d = np.diagonal(x, off, a1, a2)
    ref = np.sum(_hi(d, on), axis=-1)
    expect_close(out, ref, on, f"trace {x.shape} {off} {a1} {a2} {dt}",
                 scale=50.0 * max(1, d.shape[-1]))


def _lin(data, dtypes, shape, label):
    return _draw(data, dtypes=dtypes, shape=shape, domain=(-3, 3), label=label)


def _contracted(out, ref, k, what):
    on = dname(out.dtype)
    expect_close(out, ref, on, what, scale=9.0 * max(k, 1))


def _check_product(data, name_of_op, max_dims):
    """outer / kron: products of every pair of elements, any dtype, against NumPy."""
    name = data.draw(st.sampled_from(ALL), label="dtype")
    a, x, _ = _lin(data, (name,), data.draw(shapes(max_dims=max_dims, max_side=3)), "a")
    b, y, _ = _lin(data, (name,), data.draw(shapes(max_dims=max_dims, max_side=3)), "b")
    out = getattr(mx, name_of_op)(a, b)
    on = dname(out.dtype)
    ref = getattr(np, name_of_op)(_hi(x, on), _hi(y, on))
    _contracted(out, ref, 1, f"{name_of_op} {x.shape} {y.shape}")


def check_outer(data):
    _check_product(data, "outer", max_dims=2)


def check_kron(data):
    _check_product(data, "kron", max_dims=3)


def check_inner(data):
    name = data.draw(st.sampled_from(LINALG), label="dtype")
    k = data.draw(st.integers(0, 4))
    a, x, _ = _lin(data, (name,), data.draw(st.sampled_from([(), (k,), (2, k), (1, 2, k)])), "a")
    bshape = data.draw(st.sampled_from([(), (k,), (3, k)])) if x.ndim else \
        data.draw(shapes(max_dims=2, max_side=3))
    if x.ndim and bshape == ():
        bshape = (k,)
    b, y, _ = _lin(data, (name,), bshape, "b")
    out = mx.inner(a, b)
    ref = np.inner(_hi(x, "float64"), _hi(y, "float64"))
    _contracted(out, ref, k, f"inner {x.shape} {y.shape}")


def check_vecdot(data):
    name = data.draw(st.sampled_from(ALL), label="dtype")
    sa, sb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3,
                                                          max_side=3)).input_shapes
    k = data.draw(st.integers(0, 4))
    sa, sb = sa[:-1] + (k,), sb[:-1] + (k,)
    a, x, _ = _lin(data, (name,), sa, "a")
    b, y, _ = _lin(data, (name,), sb, "b")
    out = mx.vecdot(a, b)
    on = dname(out.dtype)
    ref = np.sum(np.conj(_hi(x, on)) * _hi(y, on), axis=-1) if name == "complex64" else \
        np.sum(_hi(x, on) * _hi(y, on), axis=-1)
    _contracted(out, ref, k, f"vecdot {x.shape} {y.shape}")


def check_tensordot(data):
    name = data.draw(st.sampled_from(LINALG), label="dtype")
    free_a = data.draw(shapes(max_dims=2, max_side=3), label="free a")
    free_b = data.draw(shapes(max_dims=2, max_side=3), label="free b")
    summed = data.draw(shapes(max_dims=2, max_side=3), label="summed")
    a, x, _ = _lin(data, (name,), free_a + summed, "a")
    if data.draw(st.booleans()):
        b, y, _ = _lin(data, (name,), summed + free_b, "b")
        axes = len(summed)
    else:
        # explicit axes: b's summed axes in a shuffled order among its free ones
        perm = data.draw(st.permutations(range(len(summed) + len(free_b))))
        bshape = [None] * len(perm)
        for i, p in enumerate(perm):
            bshape[p] = (summed + free_b)[i]
        b, y, _ = _lin(data, (name,), tuple(bshape), "b")
        axes = (list(range(len(free_a), x.ndim)), [perm[i] for i in range(len(summed))])
    out = mx.tensordot(a, b, axes=axes)
    ref = np.tensordot(_hi(x, "float64"), _hi(y, "float64"), axes=axes)
    _contracted(out, ref, int(np.prod(summed)), f"tensordot {x.shape} {y.shape} {axes}")


EINSUMS = [("ij,jk->ik", 2), ("ij,jk", 2), ("i,i->", 2), ("i,j->ij", 2), ("ii->i", 1),
           ("ii", 1), ("ij->ji", 1), ("ijk->", 1), ("...ij,...jk->...ik", 2), ("bij,bjk->bik", 2),
           ("ij,ij->i", 2), ("i,ij,j->", 3), ("ij,jk,kl->il", 3), ("iij->j", 1), ("i...->...", 1),
           ("ab,cd->abcd", 2), ("ijk,kj->i", 2)]


def _einsum_shapes(data, sub, nops):
    lhs = sub.split("->")[0].split(",")
    sizes = {c: data.draw(st.integers(0, 3)) for c in set("".join(lhs)) if c != "."}
    ell = data.draw(shapes(max_dims=2, max_side=3))
    out = []
    for term in lhs:
        s = []
        for c in term.replace("...", "."):
            s.extend(ell[len(ell) - data.draw(st.integers(0, len(ell))):] if c == "." else [sizes[c]])
        out.append(tuple(s))
    return out


def check_einsum(data):
    sub, nops = data.draw(st.sampled_from(EINSUMS), label="subscripts")
    name = data.draw(st.sampled_from(("int32",) + LINALG), label="dtype")
    shp = _einsum_shapes(data, sub, nops)
    arrs = [_lin(data, (name,), s, f"op{i}") for i, s in enumerate(shp)]
    out = mx.einsum(sub, *[a for a, _, _ in arrs])
    on = dname(out.dtype)
    ref = np.einsum(sub, *[_hi(x, on) for _, x, _ in arrs])
    _contracted(out, ref, 27 ** (nops - 1), f"einsum {sub} {shp}")


def check_addmm(data):
    name = data.draw(st.sampled_from(FLOATS), label="dtype")
    m, k, p = (data.draw(st.integers(0, 4)) for _ in range(3))
    batch = data.draw(st.sampled_from([(), (2,)]))
    a, x, _ = _lin(data, (name,), batch + (m, k), "a")
    b, y, _ = _lin(data, (name,), (k, p), "b")
    cshape = data.draw(_broadcasting_to(batch + (m, p), max_dims=2))
    c, z, _ = _lin(data, (name,), cshape, "c")
    alpha = data.draw(st.sampled_from([1.0, -0.5, 2.0, 0.0]))
    beta = data.draw(st.sampled_from([1.0, 0.5, 0.0, -2.0]))
    out = mx.addmm(c, a, b, alpha=alpha, beta=beta)
    ref = alpha * (_hi(x, "float64") @ _hi(y, "float64")) + beta * _hi(z, "float64")
    _contracted(out, ref, 2 * k + 2, f"addmm {z.shape} {x.shape} {y.shape} {alpha} {beta}")


def check_clip(data):
    a, x, n = _draw(data, dtypes=NUM, max_dims=3)
    lo_hi = []
    for which in ("a_min", "a_max"):
        kind = data.draw(st.sampled_from(["none", "scalar", "array"]), label=which)
        if kind == "none":
            lo_hi.append((None, None))
        elif kind == "scalar":
            v = data.draw(st.integers(0, 20) if n in UINTS else st.integers(-20, 20))
            lo_hi.append((v, np.array(v, dtype=x.dtype)))
        else:
            s = data.draw(hnp.broadcastable_shapes(x.shape, min_side=0, max_dims=x.ndim))
            v = rounded_to(data.draw(np_array(n, s, (0, 20) if n in UINTS else (-20, 20))), n)
            lo_hi.append((mx.array(v, dtype=mxdt(n)), v))
    (lo, nlo), (hi, nhi) = lo_hi
    if lo is None and hi is None:
        with pytest.raises(ValueError):
            mx.clip(a, None, None)
        return
    out = mx.clip(a, lo, hi)
    ref = x
    if nlo is not None:
        ref = np.where(np.isnan(ref), ref, np.maximum(ref, nlo)) if n in FLOATS else \
            np.maximum(ref, nlo)
    if nhi is not None:
        ref = np.where(np.isnan(ref), ref, np.minimum(ref, nhi)) if n in FLOATS else \
            np.minimum(ref, nhi)
    _same(out, np.broadcast_to(ref, out.shape), n, f"clip {x!r:.200} {nlo} {nhi}")


def check_nan_to_num(data):
    a, x, n = _draw(data, dtypes=REAL, max_dims=3)
    kw = {}
    for key in ("nan", "posinf", "neginf"):
        if data.draw(st.booleans(), label=key):
            kw[key] = data.draw(st.sampled_from([0.0, -1.5, 7.0, 1e4]))
    out = mx.nan_to_num(a, **kw)
    if n not in FLOATS:
        _same(out, x, n, "nan_to_num of integers")
        return
    big = float(np.finfo(np.float16).max) if n == "float16" else float(mx.finfo(mxdt(n)).max)
    v = x.astype(np.float64)
    ref = np.where(np.isnan(v), kw.get("nan", 0.0), v)
    ref = np.where(np.isposinf(v), kw.get("posinf", big), ref)
    ref = np.where(np.isneginf(v), kw.get("neginf", -big), ref)
    expect_close(out, rounded_to(ref, n), n, f"nan_to_num {x!r:.200} {kw}")


def check_meshgrid(data):
    name = data.draw(st.sampled_from(ALL), label="dtype")
    k = data.draw(st.integers(1, 3), label="arrays")
    arrs = [_draw(data, dtypes=(name,), min_dims=0, max_dims=1, label=f"x{i}") for i in range(k)]
    indexing = data.draw(st.sampled_from(["xy", "ij"]))
    sparse = data.draw(st.booleans())
    outs = mx.meshgrid(*[a for a, _, _ in arrs], indexing=indexing, sparse=sparse)
    refs = np.meshgrid(*[x for _, x, _ in arrs], indexing=indexing, sparse=sparse)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        _same(o, r, name, f"meshgrid {[x.shape for _, x, _ in arrs]} {indexing} {sparse}")


def _check_atleast(data, nd):
    f, ref = getattr(mx, f"atleast_{nd}d"), getattr(np, f"atleast_{nd}d")
    k = data.draw(st.integers(1, 3), label="arrays")
    arrs = [_draw(data, label=f"x{i}") for i in range(k)]
    outs = f(*[a for a, _, _ in arrs])
    refs = ref(*[x for _, x, _ in arrs])
    if k == 1:
        outs, refs = [outs], [refs]
    assert len(outs) == k
    for o, r, (_, _, n) in zip(outs, refs, arrs):
        _same(o, r, n, f"atleast_{nd}d {r.shape}")


def check_atleast_1d(data):
    _check_atleast(data, 1)


def check_atleast_2d(data):
    _check_atleast(data, 2)


def check_atleast_3d(data):
    _check_atleast(data, 3)


def check_unstack(data):
    a, x, n = _draw(data, min_dims=1)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    outs = mx.unstack(a, axis=axis)
    refs = [np.take(x, i, axis=axis) for i in range(x.shape[axis])]
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        _same(o, r, n, f"unstack {x.shape} axis={axis}")


def check_unflatten(data):
    a, x, n = _draw(data, min_dims=1, max_dims=3)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    size = x.shape[axis]
    divs = [d for d in range(1, size + 1) if size % d == 0] or [1]
    first = data.draw(st.sampled_from(divs))
    parts = [first, size // first if size else 0] if data.draw(st.booleans()) else [size]
    if data.draw(st.booleans()):
        parts = parts + [1]
    if x.size and data.draw(st.booleans()):
        parts[data.draw(st.integers(0, len(parts) - 1))] = -1
    ax = axis % x.ndim
    ref = x.reshape(x.shape[:ax] + tuple(parts) + x.shape[ax + 1:])
    _same(mx.unflatten(a, axis, parts), ref, n, f"unflatten {x.shape} {axis} {parts}")


def check_diff(data):
    a, x, n = _draw(data, dtypes=NUM + ("complex64",), min_dims=1, max_dims=3, domain=(-100, 100))
    nth = data.draw(st.integers(0, 3), label="n")
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    out = mx.diff(a, nth, axis)
    on = dname(out.dtype)
    ref = np.diff(_hi(x, on), nth, axis)
    expect_close(out, ref, on, f"diff {x.shape} n={nth} axis={axis}", scale=800.0)


def check_divmod(data):
    name = data.draw(st.sampled_from(NUM), label="dtype")
    sa, sb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3,
                                                          max_side=3)).input_shapes
    a, x, _ = _draw(data, dtypes=(name,), shape=sa, label="a")
    b, y, _ = _draw(data, dtypes=(name,), shape=sb, label="b")
    if name in INTS:
        assume(np.all(y != 0))
        if name in SINTS:
            assume(not np.any((x == np.iinfo(x.dtype).min) & (y == -1)))
    q, r = mx.divmod(a, b)
    ops = {op.name: op for op in BINARY}
    qref = _reference(ops["floor_divide"], [x, y], name, name)
    rref = _reference(ops["remainder"], [x, y], name, name)
    if name in INTS:
        qref, rref = np.asarray(qref).astype(NP_OF[name]), np.asarray(rref).astype(NP_OF[name])
    expect_close(q, qref, name, f"divmod(...)[0] {x!r:.200} {y!r:.200}")
    expect_close(r, rref, name, f"divmod(...)[1] {x!r:.200} {y!r:.200}")


def _reduce_axis(data, x):
    if not x.ndim:
        return None
    return data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1),
                               st.lists(st.integers(0, x.ndim - 1), min_size=1, unique=True)
                               .map(tuple)), label="axis")


def check_count_nonzero(data):
    a, x, n = _draw(data, max_dims=3)
    axis, keepdims = _reduce_axis(data, x), data.draw(st.booleans(), label="keepdims")
    out = mx.count_nonzero(a, axis=axis, keepdims=keepdims)
    assert out.dtype in (mx.int32, mx.int64, mx.uint32), out.dtype
    ref = np.count_nonzero(x, axis=axis, keepdims=keepdims)
    _same(out.astype(mx.int64), np.asarray(ref), "int64", f"count_nonzero {x.shape} {axis}")


def check_minmax(data):
    a, x, n = _draw(data, dtypes=REAL, max_dims=3)
    axis, keepdims = _reduce_axis(data, x), data.draw(st.booleans(), label="keepdims")
    axes = range(x.ndim) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    if any(x.shape[i] == 0 for i in axes):
        with pytest.raises((ValueError, IndexError)):
            mx.eval(mx.minmax(a, axis=axis, keepdims=keepdims))
        return
    lo, hi = mx.minmax(a, axis=axis, keepdims=keepdims)
    _same(lo, np.min(x, axis=axis, keepdims=keepdims), n, f"minmax[0] {x!r:.200} {axis}")
    _same(hi, np.max(x, axis=axis, keepdims=keepdims), n, f"minmax[1] {x!r:.200} {axis}")


def check_matrix_transpose(data):
    a, x, n = _draw(data, min_dims=2)
    _same(mx.matrix_transpose(a), np.swapaxes(x, -1, -2), n, f"matrix_transpose {x.shape}")


def check_contiguous(data):
    a, x, n = _draw(data)
    col = data.draw(st.booleans(), label="allow_col_major")
    out = mx.contiguous(a, allow_col_major=col)
    _same(out, x, n, f"contiguous {x.shape} {col}")
    _same(mx.flatten(out), x.reshape(-1), n, "contiguous, then flattened")


def _f64(data, shape, lo=-2.0, hi=2.0, label="x"):
    return data.draw(np_array("float64", shape, (lo, hi)), label=label)


def _small(data, min_dims=0, max_dims=3, min_side=1):
    return data.draw(shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=3),
                     label="shape")


def _g_take(data):
    x = _f64(data, _small(data, min_dims=1))
    axis = data.draw(st.integers(0, x.ndim - 1))
    idx = mx.array(data.draw(hnp.arrays(np.int64, (3,), elements=st.integers(
        -x.shape[axis], x.shape[axis] - 1))))  # repeated indices accumulate
    return (lambda a: mx.take(a, idx, axis=axis)), [x]


def _g_take_along_axis(data):
    x = _f64(data, _small(data, min_dims=1))
    axis = data.draw(st.integers(0, x.ndim - 1))
    idx = mx.array(_along_indices(data, x.shape, axis))
    return (lambda a: mx.take_along_axis(a, idx, axis=axis)), [x]


def _g_put_along_axis(data):
    x = _f64(data, _small(data, min_dims=1))
    axis = data.draw(st.integers(0, x.ndim - 1))
    idx = _along_indices(data, x.shape, axis, unique=True)
    full = x.shape[:axis] + (idx.shape[axis],) + x.shape[axis + 1:]
    v = _f64(data, full, label="values")
    return (lambda a, u: mx.put_along_axis(a, mx.array(idx), u, axis=axis)), [x, v]


def _g_slice(data):
    x = _f64(data, _small(data, min_dims=1))
    axes, size, start = _slice_args(data, x.shape)
    return (lambda a: mx.slice(a, mx.array(start, dtype=mx.int32), axes, size)), [x]


def _g_slice_update(data):
    x = _f64(data, _small(data, min_dims=1))
    axes, size, start = _slice_args(data, x.shape)
    u = _f64(data, tuple(size), label="update")
    return (lambda a, b: mx.slice_update(a, b, mx.array(start, dtype=mx.int32), axes)), [x, u]


def _g_pad(data):
    x = _f64(data, _small(data, max_dims=2))
    mode = data.draw(st.sampled_from(["constant", "edge", "reflect", "symmetric"]))
    width = [(data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))) for _ in x.shape]
    if mode == "constant":
        return (lambda a, c: mx.pad(a, width, constant_values=c)), [x, _f64(data, ())]
    return (lambda a: mx.pad(a, width, mode=mode)), [x]


def _g_axis_op(f, min_dims=0, **kw):
    def draw(data):
        x = _f64(data, _small(data, min_dims=min_dims))
        axis = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1)) if x.ndim else None
        return (lambda a: f(a, axis)), [x]
    return draw


def _g_tile(data):
    x = _f64(data, _small(data, max_dims=2))
    reps = data.draw(st.lists(st.integers(1, 2), max_size=3))
    return (lambda a: mx.tile(a, reps)), [x]


def _g_k_op(f, min_dims, max_dims):
    def draw(data):
        x = _f64(data, _small(data, min_dims=min_dims, max_dims=max_dims))
        k = data.draw(st.integers(-2, 2))
        return (lambda a: f(a, k)), [x]
    return draw


def _g_diagonal(name):
    def draw(data):
        x = _f64(data, _small(data, min_dims=2))
        a1, a2 = data.draw(st.permutations(range(x.ndim)))[:2]
        off = data.draw(st.integers(-2, 2))
        return (lambda a: getattr(mx, name)(a, off, a1, a2)), [x]
    return draw


def _g_pair(f, sa, sb):
    def draw(data):
        k = data.draw(st.integers(1, 3))
        return f, [_f64(data, s(k, data), label=l) for s, l in ((sa, "a"), (sb, "b"))]
    return draw


def _g_tensordot(data):
    fa, fb, sm = (data.draw(shapes(max_dims=2, min_side=1, max_side=2)) for _ in range(3))
    return (lambda a, b: mx.tensordot(a, b, axes=len(sm))), [_f64(data, fa + sm), _f64(data, sm + fb)]


def _g_einsum(data):
    sub, nops = data.draw(st.sampled_from(EINSUMS))
    shp = [tuple(max(1, d) for d in s) for s in _einsum_shapes(data, sub, nops)]
    return (lambda *xs: mx.einsum(sub, *xs)), [_f64(data, s, label=f"op{i}") for i, s in enumerate(shp)]


def _g_addmm(data):
    m, k, p = (data.draw(st.integers(1, 3)) for _ in range(3))
    alpha, beta = data.draw(st.sampled_from([1.0, -0.5])), data.draw(st.sampled_from([1.0, 2.0]))
    return (lambda c, a, b: mx.addmm(c, a, b, alpha=alpha, beta=beta)), [
        _f64(data, (m, p)), _f64(data, (m, k)), _f64(data, (k, p))]


def _g_clip(data):
    x = _f64(data, _small(data, max_dims=2))
    # away from the kinks
    x = np.where(np.abs(np.abs(x) - 1) < 1e-3, x + 0.01, x)
    return (lambda a: mx.clip(a, -1.0, 1.0)), [x]


def _g_meshgrid(data):
    xs = [_f64(data, (data.draw(st.integers(1, 3)),), label=f"x{i}")
          for i in range(data.draw(st.integers(1, 3)))]
    ij = data.draw(st.sampled_from(["xy", "ij"]))
    return (lambda *a: mx.meshgrid(*a, indexing=ij)), xs


def _g_unary(f, min_dims=0):
    def draw(data):
        return f, [_f64(data, _small(data, min_dims=min_dims))]
    return draw


def _g_unflatten(data):
    x = _f64(data, _small(data, min_dims=1))
    axis = data.draw(st.integers(0, x.ndim - 1))
    return (lambda a: mx.unflatten(a, axis, [1, x.shape[axis], 1])), [x]


def _g_diff(data):
    x = _f64(data, _small(data, min_dims=1))
    n_, axis = data.draw(st.integers(0, 2)), data.draw(st.integers(0, x.ndim - 1))
    return (lambda a: mx.diff(a, n_, axis)), [x]


def _g_minmax(data):
    shape = _small(data, min_dims=1)
    # distinct values: the extremes are unique
    x = np.random.default_rng(data.draw(st.integers(0, 99))).permutation(
        int(np.prod(shape))).reshape(shape) * 0.1 - 0.5
    axis = data.draw(st.none() | st.integers(0, x.ndim - 1))
    return (lambda a: list(mx.minmax(a, axis=axis))), [x]


def _g_divmod(data):
    x = _f64(data, _small(data, max_dims=2), 0.5, 3.0)
    y = _f64(data, x.shape, 0.7, 1.3, label="y")
    assume(np.all(np.abs(np.remainder(x, y)) > 1e-3) and np.all(np.abs(np.remainder(x, y) - y) > 1e-3))
    return (lambda a, b: mx.divmod(a, b)[1]), [x, y]


COMPOSITE_GRADS = {
    "take": _g_take, "take_along_axis": _g_take_along_axis, "put_along_axis": _g_put_along_axis,
    "slice": _g_slice, "slice_update": _g_slice_update, "pad": _g_pad,
    "repeat": _g_axis_op(lambda a, ax: mx.repeat(a, 2, axis=ax)), "tile": _g_tile,
    "roll": _g_axis_op(lambda a, ax: mx.roll(a, 2, axis=ax)),
    "flip": _g_axis_op(lambda a, ax: mx.flip(a, axis=ax)),
    "tril": _g_k_op(mx.tril, 2, 3), "triu": _g_k_op(mx.triu, 2, 3), "diag": _g_k_op(mx.diag, 1, 2),
    "diagonal": _g_diagonal("diagonal"), "trace": _g_diagonal("trace"),
    "outer": _g_pair(mx.outer, lambda k, d: (k,), lambda k, d: (2, k)),
    "inner": _g_pair(mx.inner, lambda k, d: (2, k), lambda k, d: (k,)),
    "vecdot": _g_pair(mx.vecdot, lambda k, d: (2, k), lambda k, d: (k,)),
    "kron": _g_pair(mx.kron, lambda k, d: (k, 2), lambda k, d: (2, k)),
    "tensordot": _g_tensordot, "einsum": _g_einsum, "addmm": _g_addmm, "clip": _g_clip,
    "nan_to_num": _g_unary(mx.nan_to_num), "meshgrid": _g_meshgrid,
    "atleast_1d": _g_unary(mx.atleast_1d), "atleast_2d": _g_unary(mx.atleast_2d),
    "atleast_3d": _g_unary(mx.atleast_3d),
    "unstack": _g_unary(lambda a: list(mx.unstack(a, axis=-1)), min_dims=1),
    "unflatten": _g_unflatten, "diff": _g_diff, "minmax": _g_minmax, "divmod": _g_divmod,
    "matrix_transpose": _g_unary(mx.matrix_transpose, min_dims=2),
    "contiguous": _g_unary(lambda a: mx.contiguous(a.T)),
}


# Scans (cumsum, cumprod, cummax, cummin, logcumsumexp): axis (None: flattened), reverse,
# inclusive/exclusive, against NumPy's accumulate.
def _logaddexp_acc(v, axis):
    with np.errstate(all="ignore"):
        return np.logaddexp.accumulate(v, axis=axis)


SCAN_REFS = {"cumsum": (np.add.accumulate, 0), "cumprod": (np.multiply.accumulate, 1),
             "cummax": (np.maximum.accumulate, "min"), "cummin": (np.minimum.accumulate, "max"),
             "logcumsumexp": (_logaddexp_acc, -np.inf)}


def _check_scan(data, op):
    dtypes = FLOATS if op == "logcumsumexp" else REAL
    domain = (-1.125, 1.125) if op == "cumprod" else (-50, 50)
    a, x, n = _draw(data, dtypes=dtypes, max_dims=3, domain=domain)
    axis = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1) if x.ndim else st.none(),
                     label="axis")
    reverse, inclusive = data.draw(st.booleans(), label="reverse"), data.draw(st.booleans(),
                                                                               label="inclusive")
    out = getattr(mx, op)(a, axis=axis, reverse=reverse, inclusive=inclusive)
    on = dname(out.dtype)
    v = _hi(x.reshape(-1) if axis is None else x, on)
    ax = 0 if axis is None else axis % x.ndim
    if v.ndim == 0:
        v, ax = v.reshape(1), 0
    acc, ident = SCAN_REFS[op]
    if ident in ("min", "max"):
        info = np.iinfo(v.dtype) if v.dtype.kind in "iu" else None
        if v.dtype == np.bool_:
            ident = ident == "max"
        else:
            ident = (info.min if ident == "min" else info.max) if info else (
                -np.inf if ident == "min" else np.inf)
    if reverse:
        v = np.flip(v, ax)
    ref = acc(v, axis=ax)
    if not inclusive and ref.shape[ax]:
        pad = np.full(ref.shape[:ax] + (1,) + ref.shape[ax + 1:], ident, dtype=ref.dtype)
        ref = np.concatenate([pad, np.take(ref, np.arange(ref.shape[ax] - 1), axis=ax)], axis=ax)
    if reverse:
        ref = np.flip(ref, ax)
    if axis is None:
        ref = ref.reshape(-1)
    else:
        ref = ref.reshape(out.shape)
    expect_close(out, ref, on, f"{op} {x!r:.200} axis={axis} reverse={reverse} "
                 f"inclusive={inclusive}", scale=None if op in ("cummax", "cummin") else
                 50.0 * max(1, x.size))


def check_cumsum(data):
    _check_scan(data, "cumsum")


def check_cumprod(data):
    _check_scan(data, "cumprod")


def check_cummax(data):
    _check_scan(data, "cummax")


def check_cummin(data):
    _check_scan(data, "cummin")


def check_logcumsumexp(data):
    _check_scan(data, "logcumsumexp")


def _g_scan(op):
    def draw(data):
        x = _f64(data, _small(data, min_dims=1, max_dims=2))
        if op in ("cummax", "cummin"):  # distinct values: no ties
            x = np.random.default_rng(data.draw(st.integers(0, 99))).permutation(
                x.size).reshape(x.shape) * 0.1 - 0.3
        if op == "cumprod":
            # A running product that underflows to 0 (5e-324 * 5e-24) loses the derivative of
            # its earlier factors: the rule divides the output by the input away from exact
            # zeros, as PyTorch's does. Exact zeros stay in the draws; tiny values do not.
            x = np.where((x != 0) & (np.abs(x) < 1e-3), 0.5, x)
        axis = data.draw(st.none() | st.integers(0, x.ndim - 1))
        # exclusive max/min/logsumexp scans start at -inf/inf: no finite differences there
        rev = data.draw(st.booleans())
        inc = op in ("cummax", "cummin", "logcumsumexp") or data.draw(st.booleans())
        return (lambda a: getattr(mx, op)(a, axis=axis, reverse=rev, inclusive=inc)), [x]
    return draw


COMPOSITE_GRADS.update({op: _g_scan(op) for op in SCAN_REFS})


# Sorting and selection (sort, argsort, partition, argpartition, topk, median, searchsorted,
# unique). Floats are finite here (NaN's place in an order is not checked).
def _draw_ordered(data, min_dims=1, max_dims=3):
    name = data.draw(st.sampled_from(REAL), label="dtype")
    return _draw(data, dtypes=(name,), min_dims=min_dims, max_dims=max_dims,
                 domain=(-1e4, 1e4) if name in FLOATS else None)


def _sort_axis(data, x):
    return data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1), label="axis")


def _flat(x, axis):
    return (x.reshape(-1), 0) if axis is None else (x, axis % x.ndim)


def check_sort(data):
    a, x, n = _draw_ordered(data)
    axis = _sort_axis(data, x)
    _same(mx.sort(a, axis=axis), np.sort(x, axis=axis), n, f"sort {x!r:.200} axis={axis}")


def check_argsort(data):
    a, x, n = _draw_ordered(data)
    axis = _sort_axis(data, x)
    out = mx.argsort(a, axis=axis)
    v, ax = _flat(x, axis)
    _same(out.astype(mx.int64), np.argsort(v, axis=ax, kind="stable"), "int64",
          f"argsort {x!r:.200} axis={axis}")


def _check_partitioned(got, v, ax, kth, what):
    srt = np.sort(v, axis=ax)
    assert got.shape == v.shape, what
    np.testing.assert_array_equal(np.sort(got, axis=ax), srt, err_msg=what)
    pivot = np.take(srt, [kth], axis=ax)
    np.testing.assert_array_equal(np.take(got, [kth], axis=ax), pivot, err_msg=what)
    assert np.all(np.take(got, np.arange(kth), axis=ax) <= pivot), what
    assert np.all(np.take(got, np.arange(kth + 1, v.shape[ax]), axis=ax) >= pivot), what


def check_partition(data):
    a, x, n = _draw_ordered(data)
    axis = _sort_axis(data, x)
    v, ax = _flat(x, axis)
    assume(v.shape[ax] > 0)
    kth = data.draw(st.integers(-v.shape[ax], v.shape[ax] - 1), label="kth")
    out = mx.partition(a, kth, axis=axis)
    assert dname(out.dtype) == n
    _check_partitioned(to_np(out), v, ax, kth % v.shape[ax], f"partition {x!r:.200} {kth} {axis}")


def check_argpartition(data):
    a, x, n = _draw_ordered(data)
    axis = _sort_axis(data, x)
    v, ax = _flat(x, axis)
    assume(v.shape[ax] > 0)
    kth = data.draw(st.integers(-v.shape[ax], v.shape[ax] - 1), label="kth")
    idx = to_np(mx.argpartition(a, kth, axis=axis)).astype(np.int64)
    _check_partitioned(np.take_along_axis(v, idx, axis=ax), v, ax, kth % v.shape[ax],
                       f"argpartition {x!r:.200} {kth} {axis}")


def check_topk(data):
    a, x, n = _draw_ordered(data)
    axis = _sort_axis(data, x)
    v, ax = _flat(x, axis)
    k = data.draw(st.integers(0, v.shape[ax]), label="k")
    out = mx.topk(a, k, axis=axis)
    assert dname(out.dtype) == n
    ref = np.take(np.sort(v, axis=ax), np.arange(v.shape[ax] - k, v.shape[ax]), axis=ax)
    np.testing.assert_array_equal(np.sort(to_np(out), axis=ax), ref.astype(to_np(out).dtype),
                                  err_msg=f"topk {x!r:.200} {k} {axis}")


def check_median(data):
    a, x, n = _draw_ordered(data, min_dims=0)
    axis, keepdims = _reduce_axis(data, x), data.draw(st.booleans(), label="keepdims")
    axes = range(x.ndim) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    assume(all(x.shape[i] > 0 for i in axes))
    out = mx.median(a, axis=axis, keepdims=keepdims)
    on = dname(out.dtype)
    assert on in FLOATS, f"median of {n} gives {out.dtype}"
    ref = np.median(x.astype(np.float64), axis=axis, keepdims=keepdims)
    expect_close(out, ref, on, f"median {x!r:.200} axis={axis}", scale=2e4)


def check_searchsorted(data):
    name = data.draw(st.sampled_from(NUM), label="dtype")
    seq = np.sort(data.draw(np_array(name, (data.draw(st.integers(0, 6)),), (-20, 20))))
    vals = data.draw(np_array(name, data.draw(shapes(max_dims=2)), (-25, 25)), label="values")
    side = data.draw(st.sampled_from(["left", "right"]), label="side")
    seq, vals = rounded_to(seq, name), rounded_to(vals, name)
    s_, seqv = data.draw(mx_view(seq, name), label="seq view")
    assume(np.all(np.diff(seqv.astype(np.float64)) >= 0))
    v_, vv = _like(vals, name, data, "values view")
    out = mx.searchsorted(s_, v_, side=side)
    _same(out.astype(mx.int64), np.searchsorted(rounded_to(seqv, name), vv, side=side), "int64",
          f"searchsorted {seqv} {vv} {side}")


def check_unique(data):
    a, x, n = _draw_ordered(data, min_dims=0)
    size = data.draw(st.integers(0, 6), label="size")
    flags = [data.draw(st.booleans(), label=f) for f in ("index", "inverse", "counts")]
    # an empty input padded to a non-zero size needs a fill value (it raises without one)
    fill = 0 if x.size == 0 and size or data.draw(st.booleans(), label="fill") else None
    out = mx.unique(a, size, *flags, fill_value=fill)
    outs = [out] if isinstance(out, mx.array) else list(out)
    uniq, index, inverse, counts = np.unique(x.reshape(-1), return_index=True,
                                             return_inverse=True, return_counts=True)
    m_ = min(size, uniq.size)
    assert outs[0].shape == (size,), f"unique size={size} gives {outs[0].shape}"
    got = to_np(outs[0])
    np.testing.assert_array_equal(got[:m_], uniq[:m_].astype(got.dtype), err_msg=f"unique {x!r:.200}")
    rest = outs[1:]
    if flags[0]:
        idx = to_np(rest.pop(0)).astype(np.int64)[:m_]
        np.testing.assert_array_equal(x.reshape(-1)[idx], uniq[:m_], err_msg="unique index")
    if flags[1]:
        inv = to_np(rest.pop(0)).astype(np.int64)
        if size >= uniq.size:
            np.testing.assert_array_equal(inv.reshape(-1), inverse.reshape(-1), err_msg="inverse")
    if flags[2]:
        cnt = to_np(rest.pop(0)).astype(np.int64)[:m_]
        np.testing.assert_array_equal(cnt, counts[:m_], err_msg="unique counts")


def _g_sortlike(op):
    def draw(data):
        shape = _small(data, min_dims=1, max_dims=2)
        x = np.random.default_rng(data.draw(st.integers(0, 99))).permutation(
            int(np.prod(shape))).reshape(shape) * 0.1 - 0.3  # distinct: no ties
        axis = data.draw(st.integers(0, x.ndim - 1))
        if op == "sort":
            return (lambda a: mx.sort(a, axis=axis)), [x]
        if op == "topk":
            k = data.draw(st.integers(1, x.shape[axis]))
            return (lambda a: mx.sort(mx.topk(a, k, axis=axis), axis=axis)), [x]
        if op == "partition":
            k = data.draw(st.integers(0, x.shape[axis] - 1))
            return (lambda a: mx.sort(mx.partition(a, k, axis=axis), axis=axis)), [x]
        return (lambda a: mx.median(a, axis=axis)), [x]
    return draw


COMPOSITE_GRADS.update({op: _g_sortlike(op) for op in ("sort", "topk", "partition", "median")})


COMPOSITE_CHECKS = {n: globals()[f"check_{n}"] for n in COMPOSITE_OPS}


@pytest.mark.parametrize("op", COMPOSITE_OPS)
@given(data=st.data())
def test_composite_op_matches_numpy(op, data):
    COMPOSITE_CHECKS[op](data)


@pytest.mark.parametrize("op", sorted(COMPOSITE_GRADS))
@given(data=st.data())
@settings(max_examples=max(2, settings.default.max_examples // 2))
def test_composite_gradient_matches_finite_differences(op, data):
    """vjp, jvp and grad of the differentiable composite ops in float64 (small inputs)."""
    fun, xs = COMPOSITE_GRADS[op](data)
    note(f"inputs {xs}")
    check_grad(fun, xs, dtypes=("float64",), eps=1e-6, rtol=1e-5, atol=1e-7)
