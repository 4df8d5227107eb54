"""Shared pieces of the property tests (test_properties.py) and the crash fuzz (test_fuzz.py).

* Tables of ops: UNARY, BINARY, REDUCTIONS, SHAPE_OPS, and the explicit EXCLUDED dict for public
  names of pullback.core that are not ops to test here (with the reason). A public name of
  pullback.core in none of them fails test_properties.py::test_every_public_op_has_a_row, so a
  new op gets a row (or a reasoned exclusion) when it lands.
* Hypothesis strategies for shapes, broadcasting pairs, dtypes, values with special values and
  non-contiguous views.
* KNOWN_DEFECTS: the one place where defects that others are fixing are listed. Each entry is a
  minimal program that must run cleanly once the defect is fixed; tests built from it are
  xfail(strict=True), so a fix makes them XPASS and fails the suite until the entry is removed.
* Settings: PULLBACK_TEST_PROFILE=sanitize (scripts/sanitize.sh) runs fewer examples.
"""

import math
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pullback.core as mx
from helpers import to_numpy

# ---------------------------------------------------------------------------------------------
# Settings: deterministic (derandomize) so CI runs the same examples every time.

UNDER_SANITIZER = bool(os.environ.get("PULLBACK_UNDER_SANITIZER"))
PROFILE = os.environ.get("PULLBACK_TEST_PROFILE", "ci")

# No shrinking in "ci"/"sanitize": the xfailed KNOWN_DEFECTS cases would spend most of the run
# shrinking; a failure prints its (unshrunk) draws. "thorough" shrinks.
settings.register_profile(
    "ci", max_examples=20, derandomize=True, deadline=None, print_blob=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
settings.register_profile("sanitize", parent=settings.get_profile("ci"), max_examples=3)
# More examples locally: PULLBACK_TEST_PROFILE=thorough
settings.register_profile("thorough", parent=settings.get_profile("ci"), max_examples=200,
                          derandomize=False, phases=list(Phase))
settings.load_profile(PROFILE)

# The op x dtype tests are many (hundreds of parametrizations): they draw a fraction of the
# profile's examples each. Together with the others this is ~8000 examples in the "ci" profile.
def per_case_examples():
    return max(2, settings.default.max_examples // 4)


# Crash fuzz: cases per generated family (the sanitized run takes fewer).
FUZZ_SCALE = {"ci": 1.0, "sanitize": 0.25, "thorough": 4.0}.get(PROFILE, 1.0)

# ---------------------------------------------------------------------------------------------
# dtypes

ALL = ("bool_", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
       "float16", "bfloat16", "float32", "float64", "complex64")
BOOL = ("bool_",)
UINTS = ("uint8", "uint16", "uint32", "uint64")
SINTS = ("int8", "int16", "int32", "int64")
INTS = UINTS + SINTS
FLOATS = ("float16", "bfloat16", "float32", "float64")
REAL = BOOL + INTS + FLOATS
NUMERIC = INTS + FLOATS
INEXACT = FLOATS + ("complex64",)

NP_OF = {"bool_": np.bool_, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
         "uint64": np.uint64, "int8": np.int8, "int16": np.int16, "int32": np.int32,
         "int64": np.int64, "float16": np.float16, "bfloat16": np.float32,
         "float32": np.float32, "float64": np.float64, "complex64": np.complex64}

# (rtol, atol) of a result of this dtype against a float64/complex128 reference.
TOL = {"float16": (4e-3, 1e-4), "bfloat16": (3e-2, 1e-3), "float32": (3e-6, 1e-30),
       "float64": (1e-13, 1e-300), "complex64": (3e-6, 1e-30)}


def mxdt(name):
    return getattr(mx, name)


def dname(dtype):
    for n in ALL:
        if dtype == getattr(mx, n):
            return n
    raise AssertionError(f"unknown dtype {dtype!r}")


to_np = to_numpy  # a NumPy copy (bfloat16 as float32), from helpers


def rounded_to(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as the kernel sees it in dtype ``name`` (bfloat16 is rounded through pullback)."""
    if name == "bfloat16":
        return np.array(mx.array(x.astype(np.float32)).astype(mx.bfloat16).astype(mx.float32))
    return x.astype(NP_OF[name])


# ---------------------------------------------------------------------------------------------
# Values

def elements(name: str, domain=None, specials=True):
    """Scalars of dtype ``name``: integers over their full range (extremes included), floats
    with NaN, ±inf, the largest finite, subnormals and -0.0 unless ``domain=(lo, hi)`` asks for
    finite values in a range."""
    if name == "bool_":
        return st.booleans()
    if name in INTS:
        info = np.iinfo(NP_OF[name])
        lo, hi = int(info.min), int(info.max)
        if (name in SINTS or name == "uint16") and signed_overflow_is_known():
            # Under the sanitizers a known signed-overflow defect would abort the whole pytest
            # process: keep products and sums in range until those entries are removed (the
            # plain build still draws the extremes, and test_known_defect checks the UB itself).
            hi = math.isqrt(hi) // 2
            lo = max(lo, -hi)
        if domain is not None:
            lo, hi = max(lo, int(math.ceil(domain[0]))), min(hi, int(math.floor(domain[1])))
        return st.one_of(st.integers(lo, hi), st.sampled_from(sorted({lo, hi, 0, min(1, hi)})),
                         st.integers(max(lo, -3), min(hi, 3)))
    width = {"float16": 16, "bfloat16": 32, "float32": 32, "float64": 64, "complex64": 32}[name]
    if domain is not None:
        # Bounds rounded inward to the float width (hypothesis wants representable bounds).
        npw = {16: np.float16, 32: np.float32, 64: np.float64}[width]
        lo, hi = (float(npw(b)) for b in domain)
        lo = lo if lo >= domain[0] else float(np.nextafter(npw(lo), npw(np.inf)))
        hi = hi if hi <= domain[1] else float(np.nextafter(npw(hi), npw(-np.inf)))
        real = st.floats(lo, hi, width=width, allow_nan=False)
    else:
        real = st.floats(width=width, allow_nan=specials, allow_infinity=specials,
                         allow_subnormal=specials)
        if specials:
            tiny = float(np.finfo(np.float16 if name == "float16" else np.float32).tiny)
            real = st.one_of(real, st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf,
                                                    tiny, -tiny, tiny / 4]),
                             st.floats(-4, 4, width=width))
        else:
            real = st.one_of(real, st.floats(-4, 4, width=width))
    if name == "complex64":
        return st.builds(complex, real, real)
    return real


def np_array(name, shape, domain=None, specials=True):
    """A NumPy array strategy of dtype ``name`` (bfloat16 values are float32 rounded to it)."""
    npd = np.dtype(NP_OF[name])
    return hnp.arrays(npd, shape, elements=elements(name, domain, specials)).map(
        lambda x: rounded_to(x, name) if name == "bfloat16" else x)


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


LAYOUTS = ("contiguous", "transposed", "reversed", "stepped", "broadcast")


@st.composite
def mx_view(draw, x: np.ndarray, name: str):
    """``(mx array, the NumPy values it holds)``, the array built as a possibly non-contiguous
    view (transposed, reversed, stepped slice or broadcast) of a larger array."""
    layout = draw(st.sampled_from(LAYOUTS))
    dtype = mxdt(name)
    if layout == "contiguous" or x.ndim == 0:
        return mx.array(x, dtype=dtype), x
    if layout == "transposed":
        perm = draw(st.permutations(range(x.ndim)))
        inv = np.argsort(perm)
        base = mx.array(np.ascontiguousarray(np.transpose(x, inv)), dtype=dtype)
        return mx.transpose(base, list(perm)), x
    if layout == "reversed":
        base = mx.array(np.ascontiguousarray(x[::-1]), dtype=dtype)
        return base[::-1], x
    if layout == "stepped":
        step = draw(st.integers(2, 3))
        big = np.repeat(x, step, axis=0)
        return mx.array(big, dtype=dtype)[::step], big[::step]
    # broadcast: a size-1 axis stretched to the wanted size
    axis = draw(st.integers(0, x.ndim - 1))
    first = np.take(x, [0] if x.shape[axis] else [], axis=axis)
    if x.shape[axis] == 0 or first.size == 0:
        return mx.array(x, dtype=dtype), x
    values = np.broadcast_to(first, x.shape)
    return mx.broadcast_to(mx.array(first, dtype=dtype), x.shape), np.ascontiguousarray(values)


# ---------------------------------------------------------------------------------------------
# Comparisons

def expect_close(got, ref, name: str, what: str = "", scale=None):
    """``got`` (mx array) against ``ref`` (NumPy, any precision) for result dtype ``name``."""
    g = to_np(got)
    ref = np.asarray(ref)
    assert g.shape == ref.shape, f"{what}: shape {g.shape} != {ref.shape}"
    if name in BOOL + INTS:
        np.testing.assert_array_equal(g, ref.astype(g.dtype), err_msg=what)
        return
    rtol, atol = TOL[name]
    if scale is not None:
        atol = max(atol, rtol * scale)
    # The reference rounded to the result's dtype: overflow to inf is then expected; a value at
    # the overflow boundary may round either way.
    with np.errstate(all="ignore"):
        refr = rounded_to(ref.astype(np.complex128 if name == "complex64" else np.float64), name)
    for part, (a, b) in (("real", (g.real, refr.real)), ("imag", (g.imag, refr.imag))):
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if name == "complex64" and part == "imag" and not np.iscomplexobj(ref):
            continue
        both_nan = np.isnan(a) & np.isnan(b)
        same = (a == b) | both_nan
        with np.errstate(all="ignore"):
            near = np.abs(a - b) <= atol + rtol * np.abs(b)
        fmax = float(np.finfo(np.float16).max) if name == "float16" else float(
            np.finfo(np.float32).max if name in ("bfloat16", "float32", "complex64")
            else np.finfo(np.float64).max)
        edge = (np.isinf(a) & (np.abs(b) >= fmax * (1 - 8 * rtol))) | (
            np.isinf(b) & (np.abs(a) >= fmax * (1 - 8 * rtol)))
        bad = ~(same | near | edge)
        if name == "complex64" and np.iscomplexobj(ref):
            # Complex results with an infinite part have implementation-defined NaN partners.
            bad &= ~(np.isinf(ref.real) | np.isinf(ref.imag) | np.isnan(ref.real)
                     | np.isnan(ref.imag))
        if np.any(bad):
            idx = tuple(np.argwhere(bad)[0])
            raise AssertionError(f"{what} ({part}): at {idx} got {a[idx]!r}, expected {b[idx]!r} "
                                 f"(dtype {name}; {int(bad.sum())} of {bad.size} differ)")


# ---------------------------------------------------------------------------------------------
# Op tables. To add an op: append one row to the right table. Fields:
#   name      attribute of pullback.core
#   ref       NumPy reference taking NumPy arrays (computed in float64/complex128 for inexact
#             results, in the result's own dtype for integer/bool results, so wraparound matches)
#   dtypes    the dtypes the op accepts (others must raise an ordinary exception)
#   out       result dtype rule: "same" (input/promoted), "bool", "float" (bool/int -> float32),
#             "real" (complex64 -> float32)
#   domain    (lo, hi) for finite inputs, or None for the full range with special values
#   grad      True if differentiable: checked against central differences (vjp, jvp, grad)
#   grad_domain (lo, hi) of the finite-difference inputs, away from kinks and poles
#   int_ref   optional reference for integer inputs (e.g. floor_divide's C-vs-Python rounding)

@dataclass
class Op:
    name: str
    ref: Callable
    dtypes: Sequence[str] = ALL
    out: str = "same"
    domain: Optional[tuple] = None
    grad: bool = False
    grad_domain: tuple = (-2.0, 2.0)
    notes: str = ""


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _erfinv(y):
    out = np.empty(np.shape(y))
    for idx, v in np.ndenumerate(np.asarray(y, dtype=np.float64)):
        if not -1 <= v <= 1 or math.isnan(v):
            out[idx] = math.nan
        elif abs(v) == 1:
            out[idx] = math.copysign(math.inf, v)
        else:
            x = 0.0
            for _ in range(200):
                step = (math.erf(x) - v) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
                x -= step
                if abs(step) <= 1e-16 * max(1.0, abs(x)):
                    break
            out[idx] = x
    return out


def _sign(x):
    if x.dtype == np.bool_:
        return x.copy()
    if np.iscomplexobj(x):
        with np.errstate(all="ignore"):
            mag = np.abs(x)
            return np.where(mag == 0, 0, x / np.where(mag == 0, 1, mag))
    s = np.sign(x)
    return np.where(np.isnan(x), 0, s).astype(s.dtype) if x.dtype.kind == "f" else s  # MLX: 0 at NaN


def _sigmoid(x):
    with np.errstate(all="ignore"):
        return 1 / (1 + np.exp(-x))


def _round(x):
    return np.round(x)


F = "float"

UNARY = [
    Op("abs", np.abs, ALL, out="real", grad=True, grad_domain=(0.2, 2)),
    Op("negative", np.negative, NUMERIC + ("complex64",), grad=True),
    Op("positive", lambda x: x.copy(), ALL, grad=True),
    Op("square", np.square, ALL, grad=True),
    Op("sign", _sign, ALL, grad=True),
    Op("floor", np.floor, REAL, grad=True, grad_domain=(0.1, 0.9)),
    Op("ceil", np.ceil, REAL, grad=True, grad_domain=(0.1, 0.9)),
    Op("round", _round, ALL, grad=True, grad_domain=(0.1, 0.4)),
    Op("sqrt", np.sqrt, ALL, out=F, grad=True, grad_domain=(0.2, 3)),
    Op("rsqrt", lambda x: 1 / np.sqrt(x), ALL, out=F, grad=True, grad_domain=(0.2, 3)),
    Op("reciprocal", lambda x: 1 / x, ALL, out=F, grad=True, grad_domain=(0.5, 3)),
    Op("exp", np.exp, ALL, out=F, grad=True),
    Op("expm1", np.expm1, REAL, out=F, grad=True),
    Op("log", np.log, ALL, out=F, grad=True, grad_domain=(0.2, 3)),
    Op("log2", np.log2, ALL, out=F, grad=True, grad_domain=(0.2, 3)),
    Op("log10", np.log10, ALL, out=F, grad=True, grad_domain=(0.2, 3)),
    Op("log1p", np.log1p, ALL, out=F, grad=True, grad_domain=(-0.5, 3)),
    Op("sin", np.sin, ALL, out=F, grad=True),
    Op("cos", np.cos, ALL, out=F, grad=True),
    Op("tan", np.tan, ALL, out=F, grad=True, grad_domain=(-1.2, 1.2)),
    Op("arcsin", np.arcsin, ALL, out=F, grad=True, grad_domain=(-0.8, 0.8)),
    Op("arccos", np.arccos, ALL, out=F, grad=True, grad_domain=(-0.8, 0.8)),
    Op("arctan", np.arctan, ALL, out=F, grad=True),
    Op("sinh", np.sinh, ALL, out=F, grad=True),
    Op("cosh", np.cosh, ALL, out=F, grad=True),
    Op("tanh", np.tanh, ALL, out=F, grad=True),
    Op("arcsinh", np.arcsinh, ALL, out=F, grad=True),
    Op("arccosh", np.arccosh, ALL, out=F, grad=True, grad_domain=(1.2, 3)),
    Op("arctanh", np.arctanh, ALL, out=F, grad=True, grad_domain=(-0.8, 0.8)),
    Op("sigmoid", _sigmoid, REAL, out=F, grad=True),
    Op("erf", _erf, REAL, out=F, grad=True),
    Op("erfinv", _erfinv, REAL, out=F, grad=True, grad_domain=(-0.8, 0.8)),
    Op("isnan", np.isnan, ALL, out="bool"),
    Op("isinf", np.isinf, ALL, out="bool"),
    Op("isfinite", np.isfinite, ALL, out="bool"),
    Op("isposinf", lambda x: np.isposinf(x.real) & (x.imag == 0) if np.iscomplexobj(x)
       else np.isposinf(x), ALL, out="bool"),
    Op("isneginf", lambda x: np.isneginf(x.real) & (x.imag == 0) if np.iscomplexobj(x)
       else np.isneginf(x), ALL, out="bool"),
    Op("logical_not", np.logical_not, ALL, out="bool"),
    Op("real", np.real, ALL, out="real", grad=True),
    Op("imag", np.imag, ALL, out="real", grad=True),
    Op("conjugate", np.conjugate, ALL, grad=True),
    Op("stop_gradient", lambda x: x, ALL),
    Op("bitwise_invert", np.invert, BOOL + INTS),
    Op("trunc", np.trunc, REAL, grad=True, grad_domain=(0.1, 0.9)),
    Op("degrees", lambda x: x * (180 / np.pi), ALL, out=F, grad=True),
    Op("radians", lambda x: x * (np.pi / 180), ALL, out=F, grad=True),
]
# Aliases: same function, so the same row covers them.
ALIASES = {"conj": "conjugate", "concat": "concatenate", "permute_dims": "transpose"}


def _floor_divide(a, b):
    if a.dtype.kind in "iub":
        return np.floor_divide(a, b)
    # MLX's float floor_divide is floor(a / b) (inf // 1 is inf, 1 // -inf is -0.0), where
    # NumPy follows Python's divmod.
    return np.floor(a / b)


def _remainder(a, b):
    if a.dtype.kind in "iub":
        # x % 0 is x for integers in MLX (NumPy says 0)
        return np.where(b == 0, a, np.remainder(a, np.where(b == 0, 1, b))).astype(a.dtype)
    return np.remainder(a, b)


def _power(a, b):
    if a.dtype.kind in "iu" and np.any(b < 0):
        return None  # NumPy refuses integers to negative powers
    if a.dtype.kind == "c" and np.any((a == 0) & (b == 0)):
        return None  # 0j ** 0j: NumPy says 1, MLX nan (reported, not asserted)
    return np.power(a, b)


def _ordered(compare):
    """Complex order is lexicographic in both; with a NaN part MLX compares the other part
    where NumPy says False: such cases are skipped."""
    def ref(a, b):
        if np.iscomplexobj(a) and (np.isnan(a).any() or np.isnan(b).any()):
            return None
        return compare(a, b)
    return ref


BINARY = [
    Op("add", np.add, ALL, grad=True),
    Op("subtract", lambda a, b: a ^ b if a.dtype == np.bool_ else a - b, ALL, grad=True),
    Op("multiply", np.multiply, ALL, grad=True),
    Op("divide", np.divide, ALL, out=F, grad=True, grad_domain=(0.5, 2)),
    Op("floor_divide", _floor_divide, NUMERIC + ("bool_",), grad=False),
    Op("remainder", _remainder, NUMERIC + ("bool_",), grad=True, grad_domain=(0.5, 2)),
    Op("power", _power, NUMERIC + ("bool_", "complex64"), grad=True, grad_domain=(0.5, 2)),
    Op("maximum", np.maximum, ALL, grad=True),
    Op("minimum", np.minimum, ALL, grad=True),
    Op("arctan2", np.arctan2, REAL, out=F, grad=True, grad_domain=(0.3, 2)),
    Op("logaddexp", np.logaddexp, REAL, out=F, grad=True),
    Op("equal", np.equal, ALL, out="bool"),
    Op("not_equal", np.not_equal, ALL, out="bool"),
    Op("less", _ordered(np.less), ALL, out="bool"),
    Op("less_equal", _ordered(np.less_equal), ALL, out="bool"),
    Op("greater", _ordered(np.greater), ALL, out="bool"),
    Op("greater_equal", _ordered(np.greater_equal), ALL, out="bool"),
    Op("logical_and", np.logical_and, ALL, out="bool"),
    Op("logical_or", np.logical_or, ALL, out="bool"),
    Op("logical_xor", np.logical_xor, ALL, out="bool"),
    Op("bitwise_and", np.bitwise_and, BOOL + INTS),
    Op("bitwise_or", np.bitwise_or, BOOL + INTS),
    Op("bitwise_xor", np.bitwise_xor, BOOL + INTS),
    # NumPy's shifts are defined for every count (everything shifted out), as pullback's are.
    # Booleans shift as uint8, as in MLX.
    Op("left_shift", lambda a, b: np.left_shift(*[x.astype(np.uint8) if x.dtype == np.bool_ else x
                                                   for x in (a, b)]), BOOL + INTS, out="shift"),
    Op("right_shift", lambda a, b: np.right_shift(*[x.astype(np.uint8) if x.dtype == np.bool_ else x
                                                     for x in (a, b)]), BOOL + INTS, out="shift"),
]


def _std_ref(x, axis=None, keepdims=False):
    return np.std(x, axis=axis, keepdims=keepdims)


REDUCTIONS = [
    # out: "acc" = pullback's own accumulation dtype (compared after casting the reference)
    Op("sum", np.sum, ALL, out="acc", grad=True),
    Op("prod", np.prod, ALL, out="acc", grad=True, grad_domain=(0.5, 1.5)),
    Op("max", np.max, REAL, out="same", grad=True),
    Op("min", np.min, REAL, out="same", grad=True),
    Op("mean", np.mean, REAL, out=F, grad=True),
    Op("var", np.var, REAL, out=F, grad=True),
    Op("std", _std_ref, REAL, out=F, grad=True, grad_domain=(0.5, 2)),
    Op("logsumexp", None, REAL, out=F, grad=True),
    Op("all", np.all, ALL, out="bool"),
    Op("any", np.any, ALL, out="bool"),
    Op("argmax", np.argmax, REAL, out="index"),
    Op("argmin", np.argmin, REAL, out="index"),
    Op("softmax", None, FLOATS, out=F, grad=True),
]

# Shape ops: checked by test_properties.py's per-op property functions (SHAPE_CHECKS there).
SHAPE_OPS = ["reshape", "transpose", "broadcast_to", "broadcast_arrays", "expand_dims",
             "squeeze", "concatenate", "stack", "split", "flatten", "moveaxis", "swapaxes",
             "where", "astype", "getitem", "matmul"]

# Composite ops (built from the primitives; test_properties.py has one check_<name> each, and
# a COMPOSITE_GRADS entry for the differentiable ones), compared with NumPy.
COMPOSITE_OPS = [
    # indexing with arrays
    "take", "take_along_axis", "put_along_axis", "slice", "slice_update",
    # padding, repetition, rearrangement
    "pad", "repeat", "tile", "roll", "flip", "unstack", "unflatten", "matrix_transpose",
    "contiguous", "atleast_1d", "atleast_2d", "atleast_3d", "meshgrid",
    # triangles and diagonals
    "tri", "tril", "triu", "diag", "diagonal", "trace",
    # contractions
    "outer", "inner", "vecdot", "tensordot", "kron", "einsum", "addmm",
    # elementwise and reductions composed of tabled ops
    "clip", "nan_to_num", "diff", "divmod", "count_nonzero", "minmax",
    # scans
    "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp",
    # sorting and selection
    "sort", "argsort", "partition", "argpartition", "topk", "median", "searchsorted", "unique",
]

# Public names of pullback.core that are not ops with a row, and why.
EXCLUDED = {
    "random": "submodule mx.random (tests/python/test_random.py)",
    # typing / module plumbing re-exported by the package
    **{n: "typing/module name" for n in ("Any", "Callable", "Dict", "List", "Sequence", "Tuple",
                                         "Union", "annotations", "contextlib")},
    # types, dtypes, constants
    **{n: "type or dtype" for n in ("Device", "DeviceType", "Dtype", "DtypeCategory", "Stream",
                                     "array", "bool_", "uint8", "uint16", "uint32", "uint64",
                                     "int8", "int16", "int32", "int64", "float16", "bfloat16",
                                     "float32", "float64", "complex64", "complexfloating",
                                     "floating", "generic", "inexact", "integer", "number",
                                     "signedinteger", "unsignedinteger", "cpu", "gpu")},
    **{n: "constant" for n in ("e", "euler_gamma", "inf", "nan", "pi", "newaxis")},
    # devices, streams, memory: state, not array math (covered by test_memory_device.py)
    **{n: "device/stream/memory state" for n in (
        "clear_cache", "default_device", "default_stream", "device_count", "device_info",
        "get_active_memory", "get_cache_memory", "get_memory_limit", "get_peak_memory",
        "is_available", "new_stream", "reset_peak_memory", "set_cache_limit",
        "set_default_device", "set_default_stream", "set_memory_limit", "stream",
        "synchronize")},
    # transforms and evaluation: exercised through every gradient check here
    **{n: "transform/evaluation" for n in ("eval", "async_eval", "grad", "value_and_grad", "vjp",
                                           "jvp")},
    **{n: "transform (test_vmap_transform.py, test_vmap_compose.py, the test_vmap_* families)"
       for n in ("vmap", "jacrev", "jacfwd", "hessian")},
    # dtype queries
    **{n: "dtype query (test_dtypes.py)" for n in ("issubdtype", "promote_types", "result_type",
                                                     "broadcast_shapes")},
    # constructors: covered by test_fuzz's argument fuzz and test_array.py
    **{n: "constructor (test_array.py, fuzzed in test_fuzz.py)" for n in (
        "arange", "eye", "full", "full_like", "identity", "linspace", "ones", "ones_like",
        "zeros", "zeros_like")},
    # comparisons built from the tabled ops
    "allclose": "composite of isclose (tested in test_properties.py::test_isclose_allclose)",
    "isclose": "tested in test_properties.py::test_isclose_allclose",
    "array_equal": "tested in test_properties.py::test_array_equal",
    # helpers and namespaces that are not array math
    **{n: "dtype info / print options / device namespace (test_info.py)" for n in (
        "finfo", "iinfo", "PrintOptions", "printoptions", "get_printoptions", "set_printoptions",
        "metal", "cuda", "set_wired_limit", "isdtype", "can_cast")},
    **{n: "interop (test_info.py; asarray: test_compose.py)" for n in ("from_dlpack", "asarray")},
    "ArrayAt": "the type of array.at[...] (test_indexing.py::test_at_updates_match_numpy_ufunc_at)",
    "einsum_path": "returns a contraction plan, not an array (test_compose.py)",
    **{n: "file I/O (test_io.py)" for n in ("load", "save", "savez", "savez_compressed",
                                             "save_safetensors", "save_gguf")},
    # convolutions: reference sums, MLX/PyTorch and finite differences in test_conv.py
    **{n: "convolution (test_conv.py)" for n in (
        "conv1d", "conv2d", "conv3d", "conv_general", "conv_transpose1d", "conv_transpose2d",
        "conv_transpose3d")},
    # special ops: values against NumPy / loops of matmul / MLX and finite-difference
    # derivatives in test_special.py
    **{n: "tested in test_special.py" for n in (
        "as_strided", "view", "depends", "convolve", "bartlett", "blackman", "hamming", "hanning",
        "hadamard_transform", "block_masked_mm", "gather_mm", "segmented_mm")},
    "ArrayLike": "protocol class: objects with __mlx_array__ (test_array.py)",
    **{n: "stream/iteration/memory utility (test_special.py)" for n in (
        "ThreadLocalStream", "StreamContext", "ArrayIterator", "new_thread_local_stream",
        "new_thread_unsafe_stream", "clear_streams", "get_array_buffer_size")},
    **{n: "transform (test_checkpoint.py, test_custom_function.py, test_vmap_custom.py)"
       for n in ("checkpoint", "custom_function")},
    **{n: "transform (test_compile.py)" for n in ("compile", "disable_compile", "enable_compile")},
    "fft": "the mx.fft submodule (test_fft.py: values, derivatives, hostile arguments)",
    "fast": "the mx.fast submodule (test_fast.py: values, derivatives, hostile arguments)",
    "linalg": "the mx.linalg submodule (test_linalg.py; fuzzed by test_fuzz.py's linalg family)",
}


def tabled_names():
    names = {op.name for op in UNARY + BINARY + REDUCTIONS} | set(SHAPE_OPS) | set(COMPOSITE_OPS) | set(ALIASES)
    return names


def public_names():
    return sorted(n for n in dir(mx) if not n.startswith("_"))


def expected_dtype(rule: str, in_name: str) -> str:
    if rule == "same":
        return in_name
    if rule == "bool":
        return "bool_"
    if rule == "float":
        return in_name if in_name in INEXACT else "float32"
    if rule == "real":
        return "float32" if in_name == "complex64" else in_name
    if rule == "shift":  # booleans shift as uint8
        return "uint8" if in_name == "bool_" else in_name
    raise ValueError(rule)


# ---------------------------------------------------------------------------------------------
# KNOWN_DEFECTS: defects in other engineers' areas (conversion boundary: csrc/python/*; integer
# and complex kernels: csrc/pullback/backend/cpu/*). Remove an entry when its fix merges.
#
#   id -> (reason, program, when, match)
# program: Python source run in a fresh subprocess with `mx` (pullback.core) and `np`; it must
#   exit cleanly (exit code 0) once the defect is fixed; a crash, an uncaught SystemError or a
#   failed assert is the defect.
# when: "always", or "sanitizer" for undefined behaviour that only the sanitized build reports
#   (the plain build happens to wrap around like NumPy).
# match: a regex over fuzz case sources; generated fuzz cases that match it and fail are counted
#   as this known defect instead of failing their batch (None: no generated case matches).

KNOWN_DEFECTS = {
    # Empty: every defect listed when these tests were written is fixed (see REGRESSIONS).
}

# Defects of the brief's list that this tree no longer shows (checked as ordinary tests). When a
# KNOWN_DEFECTS entry is fixed, move it here.
REGRESSIONS = {
    # --- conversion boundary (csrc/python/*) -------------------------------------------------
    "ragged-with-empty-sublist": (
        "KNOWN: a scalar beside an empty sequence (mx.array([1, []])) crashes the conversion",
        "try:\n    a = mx.array([1, []]); mx.eval(a); raise SystemExit('accepted ragged list')\n"
        "except ValueError:\n    pass",
        "always", r"mx\.array\(\[[^\n]*(\[\]|\(\))"),
    "ragged-zero-padded": (
        "KNOWN: ragged nested lists are accepted (padded/broadcast) instead of rejected",
        "for bad in ([1, [2]], [[1], [[2]]], [1.0, [2.0, 3.0]]):\n"
        "    try:\n        a = mx.array(bad); mx.eval(a)\n"
        "        raise SystemExit(f'{bad} accepted as {a.tolist()}')\n"
        "    except ValueError:\n        pass",
        "always", r"RAGGED"),
    "hostile-len-list": (
        "KNOWN: a list subclass whose __len__ lies crashes the conversion",
        "class L(list):\n    def __len__(self): return 10**6\n"
        "try:\n    a = mx.array(L([1.0, 2.0])); mx.eval(a); a.tolist()\nexcept Exception:\n    pass",
        "always", r"HOSTILE_LEN"),
    "hostile-getitem-list": (
        "NEW (conversion): a list subclass whose __getitem__ raises segfaults mx.array",
        "class G(list):\n    def __getitem__(self, i): raise RuntimeError('boom')\n"
        "try:\n    mx.eval(mx.array(G([1, 2])))\nexcept RuntimeError:\n    pass",
        "always", r"GetitemRaises"),
    "setstate-unchecked-size": (
        "KNOWN: array.__setstate__ does not check the byte count against shape and dtype",
        "a = mx.array.__new__(mx.array)\ntry:\n    a.__setstate__((b'\\x00' * 4, (1 << 20,), mx.float32))\n"
        "    raise SystemExit(f'accepted 4 bytes as {a.shape} float32')\n"
        "except ValueError:\n    pass",
        "always", r"SETSTATE"),
    "setstate-malformed-tuple": (
        "NEW (pickle): __setstate__ with a tuple of the wrong length segfaults",
        "a = mx.array.__new__(mx.array)\ntry:\n    a.__setstate__(())\nexcept (TypeError, ValueError):\n    pass",
        "always", r"SETSTATE_ARITY"),
    "buffer-strided-export": (
        "KNOWN: a contiguous-buffer consumer (io.BytesIO.write, PyBUF_SIMPLE) of a reversed, "
        "broadcast or transposed array gets the raw memory: wrong bytes, out-of-bounds reads",
        "import io\na = mx.arange(6, dtype=mx.float32)\n"
        "for v in (a[::-1], mx.broadcast_to(a[:3], (2, 3)), a.reshape(2, 3).T):\n"
        "    b = io.BytesIO()\n    try:\n        b.write(v)\n    except (BufferError, ValueError, TypeError):\n        continue\n"
        "    assert b.getvalue() == np.array(v.tolist(), np.float32).tobytes(), v.tolist()",
        "always", r"BUFFER_STRIDED.*\n.*BytesIO|BytesIO.*BUFFER_STRIDED"),
    "ndim-over-64": (
        "KNOWN: arrays of more than 64 dimensions: np.asarray gives a 0-d array instead of raising",
        "try:\n    a = mx.reshape(mx.array([1.0]), (1,) * 70)\n"
        "except ValueError:\n    raise SystemExit(0)  # more than 64 axes are refused up front\n"
        "try:\n    r = np.asarray(a)\n    assert r.shape == a.shape, f'np.asarray gave shape {r.shape}'\n"
        "except ValueError:\n    pass",
        "always", r"NDIM_OVER_64"),
    "deep-recursion": (
        "KNOWN: deeply nested lists overflow the C stack in array() instead of raising",
        "x = 1.0\nfor _ in range(100000):\n    x = [x]\n"
        "try:\n    a = mx.array(x); repr(a); a.tolist()\nexcept (ValueError, RecursionError):\n    pass",
        "always", r"DEEP_NEST"),
    "transpose-none": (
        "KNOWN: x.transpose(None) segfaults",
        "x = mx.ones((2, 3))\ntry:\n    y = x.transpose(None); assert y.shape == (3, 2), y.shape\n"
        "except (TypeError, ValueError):\n    pass",
        "always", r"\.transpose\(None"),
    "uint64-max-overflow": (
        "KNOWN: mx.array([2**64-1], dtype=mx.uint64) raises OverflowError",
        "a = mx.array([2**64 - 1], dtype=mx.uint64)\nassert a.tolist() == [2**64 - 1], a.tolist()",
        "always", r"2\*\*64 - 1\]?, dtype=mx.uint64"),
    "bad-cast-message": (
        "KNOWN: argument type errors surface as 'std::bad_cast' (RuntimeError) instead of TypeError",
        "for f in (lambda: mx.arange('x', 5), lambda: mx.array.__new__(mx.array).__setstate__("
        "(b'\\x00' * 4, (1,), 'float32'))):\n"
        "    try:\n        f()\n    except TypeError:\n        pass",
        "always", r"PROBLEM:.*bad_cast"),
    # --- integer / complex kernels (csrc/pullback/backend/cpu/*) -------------------------------
    "complex-to-bool": (
        "KNOWN: complex -> bool ignores the imaginary part",
        "assert mx.array(1j).astype(mx.bool_).item() is True\n"
        "assert mx.logical_and(mx.array(1j), mx.array(1j)).item() is True",
        "always", r"^property:(logical_and|logical_or)-complex64$"),
    "float64-to-bool-via-float32": (
        "NEW (kernels): float64 -> bool goes through float32, so tiny nonzero doubles are False "
        "(astype, logical_and/or, where); MLX and NumPy say True",
        "a = mx.array([1e-300], dtype=mx.float64)\n"
        "assert a.astype(mx.bool_).tolist() == [True]\n"
        "assert mx.logical_and(a, a).tolist() == [True]\n"
        "assert mx.where(a, 1, 2).tolist() == [1]",
        "always", r"^property:(logical_and|logical_or)-float64$"),
    "int-multiply-overflow": (
        "KNOWN: signed overflow (UB) in integer multiply",
        "x = mx.array([2**31 - 1, -2**31], dtype=mx.int32)\n"
        "with np.errstate(all='ignore'):\n    ref = (np.array(x.tolist(), np.int32) ** 2).tolist()\n"
        "assert (x * x).tolist() == ref",
        "sanitizer", None),
    "int-add-overflow": (
        "KNOWN: signed overflow (UB) in integer add",
        "x = mx.array([2**31 - 1], dtype=mx.int32)\nassert (x + x).tolist() == [-2]",
        "sanitizer", None),
    "int-abs-negative-min": (
        "KNOWN: abs/negative of INT_MIN is signed overflow (UB)",
        "x = mx.array([-2**63], dtype=mx.int64)\n"
        "assert mx.abs(x).tolist() == [-2**63]\nassert mx.negative(x).tolist() == [-2**63]",
        "sanitizer", r"mx\.(abs|negative)\(-2\*\*63"),
    "uint16-multiply-promotes-to-int": (
        "NEW (kernels): uint16 square/multiply/power compute in int after promotion: 65535 * 65535 "
        "is signed overflow (UB), backend/cpu/unary.cpp:173, binary.cpp:55",
        "x = mx.array([65535], dtype=mx.uint16)\n"
        "assert mx.square(x).tolist() == [1]\nassert (x * x).tolist() == [1]\n"
        "assert (x ** 3).tolist() == [65535]",
        "sanitizer", None),
    "int-power-squares-past-result": (
        "NEW (kernels): int_power squares the base once more after the last exponent bit: "
        "2 ** 16 in int32 is signed overflow (UB), backend/cpu/binary.cpp:56",
        "x = mx.array([2], dtype=mx.int32)\nassert (x ** mx.array([16], dtype=mx.int32)).tolist() == [65536]",
        "sanitizer", None),
    "int-reduce-overflow": (
        "NEW (kernels): integer prod (and sum) reductions accumulate in signed 64 bits with "
        "overflow UB (backend/cpu/reduce.cpp:138), where NumPy wraps",
        "x = mx.array([2**62, 4], dtype=mx.int64)\n"
        "with np.errstate(all='ignore'):\n    ref = int(np.prod(np.array([2**62, 4], np.int64)))\n"
        "assert mx.prod(x).item() == ref\n"
        "assert mx.sum(mx.array([2**63 - 1, 1], dtype=mx.int64)).item() == -2**63",
        "sanitizer", None),
    "int-floor-divide-min": (
        "KNOWN: floor_divide/remainder of INT_MIN by -1 is signed overflow (UB)",
        "x = mx.array([-2**31], dtype=mx.int32)\n"
        "assert (x // -1).tolist() == [-2**31]\nassert (x % -1).tolist() == [0]",
        "sanitizer", None),
    "buffer-strided-memoryview": (
        "memoryview/np.asarray of strided, reversed and broadcast arrays carry their strides",
        "a = mx.arange(12, dtype=mx.float32).reshape(3, 4)\n"
        "for v in (a.T, a[:, ::2], a[::-1], a[1:, 1::2], mx.broadcast_to(a[0], (2, 4))):\n"
        "    want = np.array(v.tolist(), np.float32)\n"
        "    np.testing.assert_array_equal(np.asarray(memoryview(v)), want)\n"
        "    assert bytes(v) == want.tobytes()",
        "always", None),
}


def signed_overflow_is_known():
    return UNDER_SANITIZER and any(k.startswith("int-") and v[2] == "sanitizer"
                                   for k, v in KNOWN_DEFECTS.items())


def known_defect_params():
    """``pytest.param``s of every KNOWN_DEFECTS entry that applies to this build, marked
    xfail(strict=True)."""
    params = []
    for key, (reason, program, when, _) in KNOWN_DEFECTS.items():
        if when == "sanitizer" and not UNDER_SANITIZER:
            continue
        params.append(pytest.param(key, program, id=key,
                                   marks=pytest.mark.xfail(strict=True, reason=reason)))
    return params


def property_param(op_name: str, dtype: str, *values):
    """A pytest.param for a property test case ``op_name-dtype``: xfail (not strict, as the
    drawn examples decide whether the defect shows) when a KNOWN_DEFECTS pattern matches
    "property:op_name-dtype"."""
    key = known_defect_of(f"property:{op_name}-{dtype}")
    marks = [pytest.mark.xfail(strict=False, reason=KNOWN_DEFECTS[key][0])] if key else []
    return pytest.param(*values, id=f"{op_name}-{dtype}", marks=marks)


def known_defect_of(source: str, problem: str = ""):
    """The KNOWN_DEFECTS key whose pattern matches a failed fuzz case (its source, then a line
    "PROBLEM: <what went wrong>"), or None."""
    text = f"{source}\nPROBLEM: {problem}"
    for key, (_, _, when, pattern) in KNOWN_DEFECTS.items():
        if pattern and (when == "always" or UNDER_SANITIZER) and re.search(pattern, text, re.M):
            return key
    return None


# ---- comparisons shared by test_properties.py and test_properties_composite.py ----

def _ref_input(x: np.ndarray, name: str) -> np.ndarray:
    """The high-precision NumPy input for a reference: float64/complex128 for inexact dtypes."""
    if name == "complex64":
        return x.astype(np.complex128)
    if name in FLOATS:
        return x.astype(np.float64)
    return x


def _reference(op, arrays, in_name, out_name):
    """The NumPy reference for ``op`` on ``arrays`` (NumPy values of dtype ``in_name``)."""
    if out_name in INTS + BOOL and in_name in INTS + BOOL:
        # Integer results: compute in the result's dtype so that wraparound matches.
        args = [a.astype(NP_OF[out_name]) if op.out != "bool" else a for a in arrays]
    elif in_name in INTS + BOOL:
        # Integers are converted to the (float32) result dtype first, as MLX does.
        args = [rounded_to(a.astype(np.float64), out_name).astype(np.float64) for a in arrays]
    else:
        args = [_ref_input(a, in_name) for a in arrays]
    with np.errstate(all="ignore"):
        return op.ref(*args)


def _same(out, ref, name, what):
    assert dname(out.dtype) == name, f"{what}: dtype {out.dtype} != {name}"
    ref = np.asarray(ref)
    got = to_np(out)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    np.testing.assert_array_equal(got, ref.astype(got.dtype), err_msg=what)
