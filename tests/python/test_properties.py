"""Property tests of pullback.core against NumPy (hypothesis), driven by the op tables in
property_support.py.

How to add an op: append one row to UNARY / BINARY / REDUCTIONS in property_support.py (name,
NumPy reference, dtypes, result-dtype rule, domain, differentiable?). A shape op gets its name in
SHAPE_OPS, a composite op (indexing, padding, triangles, contractions, clip...) in COMPOSITE_OPS,
and either a check_<name>(data) function below (SHAPE_CHECKS); a differentiable composite op also
gets a COMPOSITE_GRADS entry (finite-difference gradient check). Anything public that is not an op goes in
EXCLUDED with a reason. test_every_public_op_has_a_row fails until one of these is done.

Examples are bounded and derandomized (profile "ci": 20 per test, 5 per op x dtype case, about
6,500 in all; "sanitize": 3 and 2; PULLBACK_TEST_PROFILE=thorough locally for 200, random, with
shrinking). Defects others are fixing live in KNOWN_DEFECTS (property_support.py): one strict
xfail test each (test_known_defect), plus non-strict xfail marks on the property cases their
pattern names ("property:<op>-<dtype>").
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pullback.core as mx
from helpers import check_grad
from property_support import (_reference, _same, ALIASES, ALL, BINARY, BOOL, EXCLUDED, FLOATS, INEXACT, INTS, NP_OF,
                              COMPOSITE_OPS, REAL, REDUCTIONS, SHAPE_OPS, UINTS, SINTS, signed_overflow_is_known, UNARY, UNDER_SANITIZER, dname,
                              elements, expect_close, expected_dtype, known_defect_params,
                              mx_view, mxdt, np_array, public_names, rounded_to, shapes,
                              per_case_examples, property_param, tabled_names, to_np, REGRESSIONS)

# The op x dtype tests: fewer examples each (see property_support.per_case_examples).
few = settings(max_examples=per_case_examples())


# ---------------------------------------------------------------------------------------------
# Coverage: every public op has a row.

def test_every_public_op_has_a_row():
    covered = tabled_names() | set(EXCLUDED)
    missing = [n for n in public_names() if n not in covered]
    assert not missing, (
        f"public ops of pullback.core in no property table: {missing}. Add a row to UNARY/BINARY/"
        "REDUCTIONS or SHAPE_OPS in property_support.py (or to EXCLUDED with a reason).")
    stale = sorted(n for n in tabled_names() if not hasattr(mx, n) and n != "getitem")
    assert not stale, f"rows for names pullback.core does not have: {stale}"


# ---------------------------------------------------------------------------------------------
# Elementwise

UNARY_CASES = [property_param(op.name, d, op, d) for op in UNARY for d in op.dtypes]
BINARY_CASES = [property_param(op.name, d, op, d) for op in BINARY for d in op.dtypes]


@pytest.mark.parametrize("op,name", UNARY_CASES)
@given(data=st.data())
@few
def test_unary_matches_numpy(op, name, data):
    x = data.draw(np_array(name, shapes(), op.domain), label="x")
    a, xv = data.draw(mx_view(x, name), label="view")
    out = getattr(mx, op.name)(a)
    want = expected_dtype(op.out, name)
    assert dname(out.dtype) == want, f"{op.name}({name}) gives {out.dtype}, expected {want}"
    ref = _reference(op, [rounded_to(xv, name)], name, want)
    if name in INTS + BOOL and want in INTS + BOOL and op.out != "bool":
        ref = np.asarray(ref).astype(NP_OF[want])
    expect_close(out, ref, want, f"{op.name}({xv!r:.200} as {name})")


@pytest.mark.parametrize("op,name", BINARY_CASES)
@given(data=st.data())
@few
def test_binary_matches_numpy(op, name, data):
    if op.name == "power" and name in SINTS + ("uint16",) and signed_overflow_is_known():
        pytest.skip("int_power's UB (KNOWN_DEFECTS) would abort the sanitized run")
    sa, sb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3),
                       label="shapes").input_shapes
    x = data.draw(np_array(name, sa, op.domain), label="x")
    y = data.draw(np_array(name, sb, op.domain), label="y")
    a, xv = data.draw(mx_view(x, name), label="view a")
    b, yv = data.draw(mx_view(y, name), label="view b")
    xv, yv = rounded_to(xv, name), rounded_to(yv, name)
    want = expected_dtype(op.out, name)
    ref = _reference(op, [xv, yv], name, want)
    assume(ref is not None)
    out = getattr(mx, op.name)(a, b)
    assert dname(out.dtype) == want, f"{op.name}({name}) gives {out.dtype}, expected {want}"
    expect_close(out, ref, want, f"{op.name}({xv!r:.200}, {yv!r:.200} as {name})")


@pytest.mark.parametrize("op", [op for op in UNARY + BINARY if op.dtypes != ALL],
                         ids=lambda op: op.name)
def test_unsupported_dtypes_raise(op):
    """A dtype outside the row's list is refused with an ordinary exception, not garbage."""
    f = getattr(mx, op.name)
    for name in ALL:
        if name in op.dtypes:
            continue
        a = mx.array([1, 0] if name == "bool_" else [1, 2], dtype=mxdt(name))
        with pytest.raises((ValueError, TypeError)):
            out = f(a) if op in UNARY else f(a, a)
            mx.eval(out)


@pytest.mark.parametrize("op", [op for op in BINARY if op.out != "bool" and op.name not in
                                ("floor_divide", "remainder", "power")], ids=lambda o: o.name)
@given(data=st.data())
def test_binary_with_python_scalars_is_weak(op, data):
    """A Python scalar does not upcast an array (MLX's weak scalars)."""
    name = data.draw(st.sampled_from([d for d in ("int8", "uint8", "float16", "float32")
                                      if d in op.dtypes]))
    x = data.draw(np_array(name, shapes(max_dims=2), (1, 4)))
    s = data.draw(st.integers(1, 3))
    out = getattr(mx, op.name)(mx.array(x, dtype=mxdt(name)), s)
    assert dname(out.dtype) == expected_dtype(op.out, name)
    ref = _reference(op, [rounded_to(x, name), np.array(s, dtype=x.dtype)], name,
                     expected_dtype(op.out, name))
    expect_close(out, ref, expected_dtype(op.out, name), f"{op.name}({x!r}, {s})")


# ---------------------------------------------------------------------------------------------
# Reductions

def _acc_dtype(op, name, out):
    return dname(out.dtype)


@pytest.mark.parametrize("op,name", [property_param(op.name, d, op, d)
                                     for op in REDUCTIONS for d in op.dtypes])
@given(data=st.data())
@few
def test_reduction_matches_numpy(op, name, data):
    shape = data.draw(shapes(max_dims=3), label="shape")
    finite = op.name in ("var", "std", "mean", "sum", "prod", "logsumexp", "softmax")
    domain = None
    if finite and name in FLOATS:
        # Finite values; prod's stay near 1 so that no partial product overflows (then inf * 0
        # would depend on the order of the multiplications).
        domain = (-1.125, 1.125) if op.name == "prod" else (-50, 50)
    elif op.name in ("var", "std") and name in INTS:
        domain = (-1e6, 1e6)  # squares of 64-bit extremes overflow the float32 result
    elif op.name == "prod" and name in SINTS and signed_overflow_is_known():
        domain = (-1, 1)  # the known signed-overflow UB would abort the sanitized run
    x = data.draw(np_array(name, shape, domain), label="x")
    a, xv = data.draw(mx_view(x, name), label="view")
    xv = rounded_to(xv, name)
    keepdims = data.draw(st.booleans(), label="keepdims")
    if op.name in ("argmax", "argmin", "softmax"):
        axis = None if x.ndim == 0 else data.draw(st.sampled_from([None] + list(range(-x.ndim, x.ndim))))
        if op.name == "softmax" and axis is None:
            axis = None
    elif x.ndim:
        axis = data.draw(st.one_of(st.none(), st.lists(st.integers(0, x.ndim - 1), min_size=1,
                                                        max_size=x.ndim, unique=True).map(tuple)))
    else:
        axis = None
    npaxis = axis
    empty_reduced = x.size == 0 and (axis is None or any(x.shape[i] == 0 for i in (
        axis if isinstance(axis, tuple) else [axis])))
    f = getattr(mx, op.name)
    if op.name in ("max", "min", "argmax", "argmin") and empty_reduced:
        with pytest.raises((ValueError, IndexError)):
            mx.eval(f(a, axis=axis, keepdims=keepdims) if op.name != "softmax" else f(a, axis))
        return
    if op.name == "softmax":
        out = f(a, axis=axis)
    else:
        out = f(a, axis=axis, keepdims=keepdims)
    outn = dname(out.dtype)
    if op.out == "index":
        assert out.dtype in (mx.uint32, mx.int64, mx.int32)
        assume(not (name in FLOATS and np.isnan(xv).any()))
        ax = axis if axis is None or axis >= 0 else axis + x.ndim
        ref = op.ref(xv, axis=ax, keepdims=keepdims)
        expect_close(out, np.asarray(ref), "int64", f"{op.name}({xv!r:.300}, axis={axis})")
        return
    if op.out == "bool":
        assert outn == "bool_"
        ref = op.ref(xv, axis=npaxis, keepdims=keepdims)
        expect_close(out, np.asarray(ref), "bool_", f"{op.name}({xv!r:.300}, axis={axis})")
        return
    if op.out == "same":
        assert outn == name
    if op.out == "float":
        assert outn == expected_dtype("float", name)
    hi = xv.astype(np.complex128 if name == "complex64" else np.float64) if name not in INTS + BOOL or outn not in INTS + BOOL else xv.astype(NP_OF[outn])
    with np.errstate(all="ignore"):
        if op.name == "logsumexp":
            m = np.max(hi, axis=npaxis, keepdims=True) if hi.size else np.zeros(
                np.sum(hi, axis=npaxis, keepdims=True).shape)
            m = np.where(np.isfinite(m), m, 0.0)
            ref = np.log(np.sum(np.exp(hi - m), axis=npaxis, keepdims=True)) + m
            if not keepdims:
                ref = np.squeeze(ref, axis=npaxis) if npaxis is not None else ref.reshape(())
        elif op.name == "softmax" and hi.size == 0:
            ref = hi.copy()
        elif op.name == "softmax":
            if axis is None:
                e = np.exp(hi - (np.max(hi) if hi.size else 0))
                ref = e / np.sum(e)
            else:
                e = np.exp(hi - np.max(hi, axis=axis, keepdims=True))
                ref = e / np.sum(e, axis=axis, keepdims=True)
        else:
            ref = op.ref(hi, axis=npaxis, keepdims=keepdims)
    if outn in INTS + BOOL:
        ref = np.asarray(ref).astype(NP_OF[outn])
        if outn == "bool_":
            ref = ref.astype(bool)
    scale = None
    if outn not in INTS + BOOL and op.name in ("sum", "mean", "var", "std", "logsumexp", "softmax", "prod"):
        with np.errstate(all="ignore"):
            mag = float(np.max(np.abs(hi))) if hi.size else 0.0
        n = max(1, hi.size)
        scale = mag * mag * n if op.name in ("var", "std") else mag * n
        if op.name == "prod":
            scale = None
        if op.name == "std":
            scale = math.sqrt(scale) * 4
    expect_close(out, ref, outn, f"{op.name}({xv!r:.300}, axis={axis}, keepdims={keepdims})",
                 scale=scale)


# ---------------------------------------------------------------------------------------------
# Shape ops: one check per op in SHAPE_OPS. Each draws an array of any dtype as a view and
# compares the result's shape, dtype and values with NumPy's.

def _draw_array(data, min_dims=0, max_dims=4, min_side=0):
    name = data.draw(st.sampled_from(ALL), label="dtype")
    x = data.draw(np_array(name, shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side)),
                  label="x")
    a, xv = data.draw(mx_view(x, name), label="view")
    return a, rounded_to(xv, name), name


def check_reshape(data):
    a, x, n = _draw_array(data)
    perm = list(data.draw(st.permutations(x.shape + (1,) * data.draw(st.integers(0, 2)))))
    if data.draw(st.booleans()) and perm and 0 not in perm:
        perm[data.draw(st.integers(0, len(perm) - 1))] = -1
    _same(mx.reshape(a, perm), x.reshape(perm), n, f"reshape({x.shape} -> {perm})")
    _same(a.reshape(perm), x.reshape(perm), n, "array.reshape")


def check_transpose(data):
    a, x, n = _draw_array(data)
    axes = data.draw(st.one_of(st.none(), st.permutations(range(x.ndim))))
    _same(mx.transpose(a, axes), np.transpose(x, axes), n, f"transpose {x.shape} {axes}")
    _same(mx.permute_dims(a, axes), np.transpose(x, axes), n, "permute_dims")
    if x.ndim >= 2:
        _same(a.T, x.T, n, "array.T")


def check_broadcast_to(data):
    a, x, n = _draw_array(data, max_dims=3)
    target = data.draw(hnp.broadcastable_shapes(x.shape, max_dims=4, max_side=3))
    target = np.broadcast_shapes(x.shape, target)
    _same(mx.broadcast_to(a, target), np.broadcast_to(x, target), n, f"broadcast_to {target}")


def check_broadcast_arrays(data):
    a, x, n = _draw_array(data, max_dims=3)
    other = data.draw(hnp.broadcastable_shapes(x.shape, max_dims=3, max_side=3))
    b = mx.zeros(other, dtype=mxdt(n))
    ra, rb = mx.broadcast_arrays(a, b)
    xa, xb = np.broadcast_arrays(x, np.zeros(other, x.dtype))
    _same(ra, xa, n, "broadcast_arrays[0]")
    _same(rb, xb, n, "broadcast_arrays[1]")


def check_expand_dims(data):
    a, x, n = _draw_array(data, max_dims=3)
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    _same(mx.expand_dims(a, axis), np.expand_dims(x, axis), n, f"expand_dims {axis}")


def check_squeeze(data):
    a, x, n = _draw_array(data, max_dims=3)
    ones = [i for i, s in enumerate(x.shape) if s == 1]
    axis = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(ones), unique=True).map(tuple)
                               if ones else st.none()))
    _same(mx.squeeze(a, axis), np.squeeze(x, axis), n, f"squeeze {x.shape} {axis}")


def check_concatenate(data):
    a, x, n = _draw_array(data, min_dims=1, max_dims=3)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    k = data.draw(st.integers(0, 2))
    shape2 = list(x.shape)
    shape2[axis] = k
    y = np.arange(int(np.prod(shape2))).reshape(shape2).astype(x.dtype)
    b = mx.array(y, dtype=mxdt(n))
    ref = np.concatenate([x, y], axis=axis)
    _same(mx.concatenate([a, b], axis=axis), ref, n, f"concatenate axis={axis}")
    _same(mx.concat([a, b], axis=axis), ref, n, "concat")
    _same(mx.concatenate([a, b], axis=None), np.concatenate([x.ravel(), y.ravel()]), n,
          "concatenate axis=None")


def check_stack(data):
    a, x, n = _draw_array(data, max_dims=3)
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    _same(mx.stack([a, a, a], axis=axis), np.stack([x, x, x], axis=axis), n, f"stack {axis}")


def check_split(data):
    a, x, n = _draw_array(data, min_dims=1, max_dims=3)
    axis = data.draw(st.integers(0, x.ndim - 1))
    size = x.shape[axis]
    if data.draw(st.booleans()):
        parts = data.draw(st.sampled_from([k for k in range(1, 5) if size % k == 0] or [1]))
        outs, refs = mx.split(a, parts, axis=axis), np.split(x, parts, axis=axis)
    else:
        idx = sorted(data.draw(st.lists(st.integers(0, size + 1), max_size=3)))
        outs, refs = mx.split(a, idx, axis=axis), np.split(x, idx, axis=axis)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        _same(o, r, n, "split")


def check_flatten(data):
    a, x, n = _draw_array(data)
    if x.ndim == 0:
        _same(mx.flatten(a), x.reshape(1), n, "flatten 0-d")
        return
    s = data.draw(st.integers(-x.ndim, x.ndim - 1))
    e = data.draw(st.integers(-x.ndim, x.ndim - 1))
    s0, e0 = s % x.ndim, e % x.ndim
    if s0 > e0:
        with pytest.raises(ValueError):
            mx.flatten(a, s, e)
        return
    ref = x.reshape(x.shape[:s0] + (-1 if x.size else int(np.prod(x.shape[s0:e0 + 1])),)
                    + x.shape[e0 + 1:]) if x.size else x.reshape(
        x.shape[:s0] + (int(np.prod(x.shape[s0:e0 + 1])),) + x.shape[e0 + 1:])
    _same(mx.flatten(a, s, e), ref, n, f"flatten {x.shape} {s} {e}")


def check_moveaxis(data):
    a, x, n = _draw_array(data, min_dims=1)
    s = data.draw(st.integers(-x.ndim, x.ndim - 1))
    d = data.draw(st.integers(-x.ndim, x.ndim - 1))
    _same(mx.moveaxis(a, s, d), np.moveaxis(x, s, d), n, f"moveaxis {s} {d}")


def check_swapaxes(data):
    a, x, n = _draw_array(data, min_dims=1)
    s = data.draw(st.integers(-x.ndim, x.ndim - 1))
    d = data.draw(st.integers(-x.ndim, x.ndim - 1))
    _same(mx.swapaxes(a, s, d), np.swapaxes(x, s, d), n, f"swapaxes {s} {d}")


def check_where(data):
    a, x, n = _draw_array(data, max_dims=3)
    cond = data.draw(hnp.arrays(np.bool_, hnp.broadcastable_shapes(x.shape, max_dims=3)))
    y = np.zeros_like(x)
    _same(mx.where(mx.array(cond), a, mx.array(y, dtype=mxdt(n))), np.where(cond, x, y), n,
          "where")


def check_astype(data):
    a, x, n = _draw_array(data, max_dims=2)
    to = data.draw(st.sampled_from(ALL))
    # Only conversions NumPy defines the same way: finite values inside the target's range.
    if n in FLOATS + ("complex64",) or to == "bool_" and n == "complex64":
        assume(to in FLOATS + ("complex64",) or np.all(np.isfinite(x)) and np.all(np.abs(x) < 100))
    if n == "complex64" and to not in ("complex64",):
        return  # complex -> real drops the imaginary part; complex -> bool is a KNOWN_DEFECT
    out = a.astype(mxdt(to))
    assert dname(out.dtype) == to
    with np.errstate(all="ignore"):
        ref = x.astype(NP_OF[to])
    if to in FLOATS + ("complex64",):
        expect_close(out, x.astype(np.complex128 if to == "complex64" else np.float64), to,
                     f"astype {n}->{to}")
    elif n in INTS + BOOL and to in INTS + BOOL:
        _same(out, ref, to, f"astype {n}->{to}")
    else:
        _same(out, np.trunc(x.astype(np.float64)).astype(NP_OF[to]), to, f"astype {n}->{to}")


def _index(data, shape):
    parts = []
    for size in shape[:data.draw(st.integers(0, len(shape)))]:
        kind = data.draw(st.sampled_from(["int", "slice", "none", "full"] if size else
                                         ["slice", "none", "full"]))
        if kind == "int":
            parts.append(data.draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            parts.append(slice(data.draw(st.none() | st.integers(-size - 2, size + 2)),
                               data.draw(st.none() | st.integers(-size - 2, size + 2)),
                               data.draw(st.none() | st.sampled_from([-3, -2, -1, 1, 2, 5]))))
        elif kind == "none":
            parts.append(None)
        else:
            parts.append(slice(None))
    if data.draw(st.booleans()):
        parts.insert(data.draw(st.integers(0, len(parts))), Ellipsis)
    return tuple(parts)


def check_getitem(data):
    a, x, n = _draw_array(data)
    key = _index(data, x.shape)
    _same(a[key], x[key], n, f"{x.shape}[{key}]")


def check_matmul(data):
    name = data.draw(st.sampled_from(["float32", "float64", "float16", "bfloat16"]))
    m, k, p = (data.draw(st.integers(0, 4)) for _ in range(3))
    batch = data.draw(st.sampled_from([(), (2,), (1, 2)]))
    x = data.draw(np_array(name, batch + (m, k), (-3, 3)))
    y = data.draw(np_array(name, (k, p), (-3, 3)))
    a, xv = data.draw(mx_view(x, name))
    b, yv = data.draw(mx_view(y, name))
    out = a @ b
    ref = rounded_to(xv, name).astype(np.float64) @ rounded_to(yv, name).astype(np.float64)
    expect_close(out, ref, dname(out.dtype), f"matmul {x.shape}@{y.shape}", scale=9.0 * max(k, 1))
    expect_close(mx.matmul(a, b), ref, dname(out.dtype), "mx.matmul", scale=9.0 * max(k, 1))


SHAPE_CHECKS = {n: globals()[f"check_{n}"] for n in SHAPE_OPS}


@pytest.mark.parametrize("op", SHAPE_OPS)
@given(data=st.data())
def test_shape_op_matches_numpy(op, data):
    SHAPE_CHECKS[op](data)


# ---------------------------------------------------------------------------------------------
# Comparisons built from the tabled ops

@given(data=st.data())
def test_isclose_allclose(data):
    name = data.draw(st.sampled_from(["float32", "float64", "float16"]))
    sa, sb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3)).input_shapes
    x = rounded_to(data.draw(np_array(name, sa)), name)
    y = rounded_to(data.draw(np_array(name, sb)), name)
    equal_nan = data.draw(st.booleans())
    ref = np.isclose(x.astype(np.float64), y.astype(np.float64), equal_nan=equal_nan)
    a, b = mx.array(x, dtype=mxdt(name)), mx.array(y, dtype=mxdt(name))
    _same(mx.isclose(a, b, equal_nan=equal_nan), ref, "bool_", "isclose")
    assert mx.allclose(a, b, equal_nan=equal_nan).item() == bool(np.all(ref))


@given(data=st.data())
def test_array_equal(data):
    a, x, n = _draw_array(data, max_dims=2)
    equal_nan = data.draw(st.booleans())
    other = x.copy() if data.draw(st.booleans()) else np.zeros_like(x)
    b = mx.array(other, dtype=mxdt(n))
    ref = np.array_equal(x, other, equal_nan=equal_nan and n in FLOATS)
    assert mx.array_equal(a, b, equal_nan=equal_nan).item() == ref


# ---------------------------------------------------------------------------------------------
# Gradients: every differentiable row, float64, vjp + jvp + grad against central differences.

GRAD_ROWS = [op for op in UNARY + BINARY + REDUCTIONS if op.grad]


@pytest.mark.parametrize("op", GRAD_ROWS, ids=lambda op: op.name)
@given(data=st.data())
def test_gradient_matches_finite_differences(op, data):
    lo, hi = op.grad_domain
    f = getattr(mx, op.name)
    if op in BINARY:
        sa, sb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2,
                                                              max_side=3)).input_shapes
        xs = [data.draw(np_array("float64", s, (lo, hi))) for s in (sa, sb)]
        fun = f
        if op.name in ("maximum", "minimum"):
            assume(np.all(np.abs(np.subtract(*xs)) > 1e-3))
        if op.name == "remainder":
            assume(np.all(np.abs(np.remainder(*xs)) > 1e-3) and
                   np.all(np.abs(np.remainder(*xs) - xs[1]) > 1e-3))
    elif op in REDUCTIONS:
        shape = data.draw(shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
        xs = [data.draw(np_array("float64", shape, (lo, hi)))]
        axis = data.draw(st.one_of(st.none(), st.integers(0, len(shape) - 1)))
        if op.name in ("max", "min"):
            flat = np.sort(xs[0].ravel())
            assume(flat.size < 2 or np.min(np.diff(flat)) > 1e-3)
        if op.name == "std":
            assume(np.std(xs[0]) > 0.1 and (axis is None or np.min(np.std(xs[0], axis=axis)) > 0.1))
        fun = (lambda x: f(x, axis=-1 if axis is None else axis)) if op.name == "softmax" \
            else (lambda x: f(x, axis=axis))
    else:
        shape = data.draw(shapes(max_dims=2, max_side=3))
        xs = [data.draw(np_array("float64", shape, (lo, hi)))]
        if op.name in ("floor", "ceil", "round", "sign"):
            xs = [np.where(np.abs(xs[0] - np.round(xs[0])) < 1e-3, xs[0] + 0.01, xs[0])]
        fun = f
    note(f"inputs {xs}")
    check_grad(fun, xs, dtypes=("float64",), eps=1e-6, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("op", [o for o in UNARY if o.grad and "complex64" in o.dtypes and
                                o.name not in ("abs", "real", "imag", "sign")],
                         ids=lambda o: o.name)
def test_complex_holomorphic_jvp(op):
    """jvp of a holomorphic function in complex64 is f'(z) * t: compare with a complex central
    difference along t."""
    rng = np.random.default_rng(0)
    z = (rng.uniform(0.3, 1.2, 4) + 1j * rng.uniform(-0.5, 0.5, 4)).astype(np.complex64)
    t = (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex64)
    f = getattr(mx, op.name)
    _, (tan,) = mx.jvp(f, [mx.array(z)], [mx.array(t)])
    fz = getattr(np, op.name if op.name != "conjugate" else "conjugate", None)
    ref_f = {o.name: o.ref for o in UNARY}[op.name]
    h = 1e-6
    zz, tt = z.astype(np.complex128), t.astype(np.complex128)
    num = (ref_f(zz + h * tt) - ref_f(zz - h * tt)) / (2 * h)
    if op.name == "conjugate":
        num = np.conjugate(tt)
    expect_close(tan, num, "complex64", f"jvp {op.name}", scale=1e-2 * float(np.max(np.abs(num))))


# ---------------------------------------------------------------------------------------------
# Known defects: one test per KNOWN_DEFECTS entry, in a subprocess (a crash there is the defect
# showing, not the end of the test run). xfail(strict): a fix makes it XPASS -> remove the entry.

def _run_program(key, program):
    code = "import numpy as np\nimport pullback.core as mx\n" + program
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, (f"{key}: exit code {proc.returncode}\n"
                                  f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


@pytest.mark.parametrize("key,program", known_defect_params())
def test_known_defect(key, program):
    _run_program(key, program)


@pytest.mark.parametrize("key", list(REGRESSIONS))
def test_fixed_defect_stays_fixed(key):
    _run_program(key, REGRESSIONS[key][1])
