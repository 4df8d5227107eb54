#!/usr/bin/env python
"""Differential sweep of pullback against MLX (developer tool, not part of the test suite).

    PYTHONPATH=build/dev/py python scripts/mlx_diff.py [section ...] [-v] [-k SUBSTRING]

Sections: sig unary binary reduce misc linalg fft nn losses init optim transforms
(default: all). Every case runs the same call in both frameworks on the same inputs and
compares: exception class (or none), output structure, shapes, dtypes and values (NaN/inf
positions exactly, finite values within a tolerance chosen by dtype). Each difference is
printed once as `[section] case: detail`; the run ends with a count per section.

mlx is never a dependency of pullback: this script imports it only when run by hand.
"""
import argparse
import math
import re
import sys
import traceback

import numpy as np

import mlx.core as M
import pullback.core as P

# --------------------------------------------------------------------------------------
# conversion and comparison
# --------------------------------------------------------------------------------------

DTYPES = ["bool_", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
          "float16", "bfloat16", "float32", "float64", "complex64"]


def dname(dt):
    return str(dt).split(".")[-1]


def make(fw, x, dtype=None):
    """numpy value -> array of framework fw (M or P); dtype names a framework dtype."""
    if dtype is None:
        if isinstance(x, np.ndarray) and x.dtype == np.float64:
            dtype = "float32"
    x = np.asarray(x)
    if dtype == "bfloat16":
        return fw.array(x.astype(np.float32)).astype(fw.bfloat16)
    if dtype == "float64":
        return fw.array(x.astype(np.float64), dtype=fw.float64)
    if dtype is not None:
        npdt = {"bool_": np.bool_, "complex64": np.complex64}.get(dtype, None) or getattr(np, dtype)
        return fw.array(x.astype(npdt))
    return fw.array(x)


def is_arr(v):
    return isinstance(v, (M.array, P.array))


def to_host(v):
    """Framework value -> comparable python structure of ('arr', np, dtype, shape) leaves."""
    if isinstance(v, (M.array, P.array)):
        dt = dname(v.dtype)
        if dt == "bfloat16" or dt == "float16":
            a = np.array(v.astype(M.float32 if isinstance(v, M.array) else P.float32))
        else:
            a = np.array(v)
        return ("arr", a, dt, tuple(v.shape))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [to_host(x) for x in v])
    if isinstance(v, dict):
        return ("dict", {k: to_host(x) for k, x in v.items()})
    if isinstance(v, (M.Dtype, P.Dtype)):
        return ("dtype", dname(v))
    return ("py", v)


# MLX evaluates float64 transcendental functions in float32 on the CPU, hence float64 at float32 level
TOL = {"float16": (2e-3, 2e-3), "bfloat16": (1.6e-2, 1.6e-2), "float32": (2e-5, 2e-6),
       "float64": (2e-6, 1e-9), "complex64": (2e-5, 2e-6)}


def close(a, b, dt, rtol=None, atol=None):
    r, t = TOL.get(dt, (0, 0))
    # a case's own tolerance can loosen the dtype's, never tighten it below half precision
    if rtol is not None:
        r = max(rtol, r) if dt in ("float16", "bfloat16") else rtol
    if atol is not None:
        t = max(atol, t) if dt in ("float16", "bfloat16") else atol
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        return False, "value shapes %s vs %s" % (a.shape, b.shape)
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        a = a.astype(np.complex128)
        b = b.astype(np.complex128)
        for part in (np.real, np.imag):
            x, y = part(a), part(b)
            nx, ny = np.isnan(x), np.isnan(y)
            if (nx != ny).any():
                i = np.argwhere(nx != ny)[0]
                return False, "NaN differs at %s: mlx %s ours %s" % (tuple(i), x[tuple(i)], y[tuple(i)])
            ix, iy = np.isinf(x), np.isinf(y)
            if (ix != iy).any() or (x[ix] != y[iy]).any():
                i = np.argwhere((ix != iy) | (ix & (x != y)))[0]
                return False, "inf differs at %s: mlx %s ours %s" % (tuple(i), x[tuple(i)], y[tuple(i)])
            fin = ~(nx | ix)
            d = np.abs(x[fin] - y[fin])
            lim = t + r * np.abs(x[fin])
            if (d > lim).any():
                k = int(np.argmax(d - lim))
                idx = tuple(np.argwhere(fin)[k])
                return False, "value at %s: mlx %r ours %r" % (idx, x[idx], y[idx])
        return True, ""
    if not np.array_equal(a, b):
        i = tuple(np.argwhere(a != b)[0]) if a.shape else ()
        return False, "value at %s: mlx %r ours %r" % (i, a[i], b[i])
    return True, ""


def compare_host(hm, hp, path="out", rtol=None, atol=None, check_dtype=True):
    """None when equal, else a string naming the first difference."""
    if hm[0] != hp[0]:
        if {hm[0], hp[0]} <= {"list", "tuple"}:
            pass
        else:
            return "%s: mlx %s ours %s" % (path, hm[0], hp[0])
    kind = hm[0]
    if kind == "arr":
        _, a, dm, sm = hm
        _, b, dp, sp = hp
        if sm != sp:
            return "%s: shape mlx %s ours %s" % (path, sm, sp)
        if check_dtype and dm != dp:
            return "%s: dtype mlx %s ours %s" % (path, dm, dp)
        ok, why = close(a, b, dm, rtol, atol)
        return None if ok else "%s: %s" % (path, why)
    if kind in ("list", "tuple"):
        if hm[0] != hp[0]:
            tag = "%s: container mlx %s ours %s" % (path, hm[0], hp[0])
        else:
            tag = None
        if len(hm[1]) != len(hp[1]):
            return "%s: length mlx %d ours %d" % (path, len(hm[1]), len(hp[1]))
        for i, (x, y) in enumerate(zip(hm[1], hp[1])):
            r = compare_host(x, y, "%s[%d]" % (path, i), rtol, atol, check_dtype)
            if r:
                return r
        return tag
    if kind == "dict":
        if set(hm[1]) != set(hp[1]):
            return "%s: keys mlx %s ours %s" % (path, sorted(hm[1]), sorted(hp[1]))
        for k in hm[1]:
            r = compare_host(hm[1][k], hp[1][k], "%s[%r]" % (path, k), rtol, atol, check_dtype)
            if r:
                return r
        return None
    if kind in ("dtype", "py"):
        a, b = hm[1], hp[1]
        if type(a) != type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                        and not isinstance(a, bool) and not isinstance(b, bool)):
            return "%s: python value mlx %r (%s) ours %r (%s)" % (path, a, type(a).__name__, b, type(b).__name__)
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return None
        if isinstance(a, float) or isinstance(b, float):
            if not math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7):
                return "%s: mlx %r ours %r" % (path, a, b)
            return None
        if a != b:
            return "%s: mlx %r ours %r" % (path, a, b)
        return None
    return None


def call(fw, fn, *a, **k):
    try:
        out = fn(fw, *a, **k)
        return ("ok", to_host(out) if not callable(out) else ("py", "<callable>"))
    except Exception as e:  # noqa: BLE001 -- the class is what is compared
        return ("err", type(e).__name__, str(e).splitlines()[0][:160] if str(e) else "")


# Differences looked at and kept on purpose (see the report in the commit history); they are
# counted, not printed, unless -v is given.
ACCEPTED = [
    # ours raises ValueError (std::invalid_argument) for a bad dtype, mlx a RuntimeError
    (r"both raise, mlx RuntimeError\(\[(bitwise_\w+|left_shift|right_shift)\] Only allowed", "bitwise ops on float: ValueError not RuntimeError"),
    # shifting by a negative count or by the bit width or more is undefined in C++; mlx returns
    # whatever the processor does, ours returns 0 (or -1/0 for right shifts of negatives)
    (r"^(left|right)_shift\(.*value at", "shift by >= width or < 0"),
    # an integer to a negative integer power: mlx returns 0 even for 1 and -1, ours the exact value
    (r"^power\((int|bool|uint).*value at", "integer power with negative exponent"),
    # mlx accepts python scalars where the docs say array; accepting them too is harmless
    (r"mlx raises TypeError\(\w+\(\): incompatible function arguments.*ours returns", "ours accepts more argument types"),
    # derivatives mlx does not implement (ours are checked against finite differences in tests)
    (r"mlx raises \w+\(.*(Not implemented for|not yet implemented|JVP is not implemented|Cannot calculate VJP).*ours returns", "derivative missing in mlx"),
    # mlx returns wrong values here; ours are the mathematically defined ones
    (r"^(prod|all)\(empty \((0, 3|3, 0)\)\)", "mlx: prod/all over an empty 2-d array"),
    (r"^logsumexp\((uint8|uint32|bool_)\)", "mlx: logsumexp of unsigned/bool input"),
    (r"^softmax\((int|uint|bool)\w*\): out: dtype", "mlx: softmax of integers stays integer"),
    (r"^arange dtype int frac|^full dtype:", "mlx: arange/full ignore a float step/value's integer dtype"),
    (r"^jvp addmm:", "mlx: addmm jvp ignores alpha and beta"),
    (r"^take neg:|^(linalg\] )?(inv singular|cholesky not spd|solve batch bcast)", "mlx: garbage or a crash-like error; ours a value or a clear error"),
    (r"^grad\(grad (cumprod|reciprocal)\)", "mlx: NaN from dividing by a zero input in 2nd derivatives"),
    # ours supports more (mlx refuses): kept
    (r"^(argmax|argmin)\(empty|^index.*bool scalar|bool scalar: mlx raises|^grad argnums neg|^vmap dict", "ours accepts more inputs"),
    # a default that is None in ours and a dtype in mlx resolves to the same dtype; lists vs tuples
    (r"default mlx (float32|int32) ours None|default mlx \[.*\] ours \(.*\)|default mlx None ours None", "signature default spelled differently, same behaviour"),
    (r"^(broadcast_shapes|checkpoint): parameter names|^fast.precompiled_cuda_kernel", "signature: *args name / extra keyword / cuda-only"),

]


# Calls that kill the mlx process (SIGSEGV/SIGFPE) are not made.
MLX_CRASHES = [
    r"^grad cum(max|min)\(nan/inf, axis=0\)",
    r"0 step$",  # a[::0]
    r"int oob$|take oob$",  # mlx reads/writes out of bounds without a check (heap corruption)
    r"\(empty \(0,\)\)$",  # a full reduction of shape (0,) sometimes never returns in mlx
]


class Report:
    def __init__(self, verbose=False, filt=None):
        self.diffs = {}
        self.cases = {}
        self.accepted = {}
        self.verbose = verbose
        self.filt = filt

    def add(self, section, case, detail):
        for pat, label in ACCEPTED:
            if re.search(pat, case + ": " + detail):
                self.accepted[label] = self.accepted.get(label, 0) + 1
                if self.verbose:
                    print("[%s] (accepted) %s: %s" % (section, case, detail))
                return
        self.diffs.setdefault(section, []).append((case, detail))
        print("[%s] %s: %s" % (section, case, detail), flush=True)

    def count(self, section):
        self.cases[section] = self.cases.get(section, 0) + 1


REPORT = Report()


def check(section, case, fn, rtol=None, atol=None, check_dtype=True, errors=True):
    """Run fn(M) and fn(P); record a difference if they disagree."""
    if REPORT.filt and REPORT.filt not in case:
        return
    if any(re.search(p, case) for p in MLX_CRASHES):
        return
    REPORT.count(section)
    rm = call(M, fn)
    rp = call(P, fn)
    if REPORT.verbose:
        print("  %s: mlx %s | ours %s" % (case, str(rm)[:200], str(rp)[:200]))
    if rm[0] == "err" and rp[0] == "err":
        if errors and rm[1] != rp[1]:
            REPORT.add(section, case, "both raise, mlx %s(%s) ours %s(%s)" % (rm[1], rm[2], rp[1], rp[2]))
        return
    if rm[0] == "err":
        if errors:
            REPORT.add(section, case, "mlx raises %s(%s), ours returns" % (rm[1], rm[2]))
        return
    if rp[0] == "err":
        REPORT.add(section, case, "ours raises %s(%s), mlx returns" % (rp[1], rp[2]))
        return
    r = compare_host(rm[1], rp[1], rtol=rtol, atol=atol, check_dtype=check_dtype)
    if r:
        REPORT.add(section, case, r)


# --------------------------------------------------------------------------------------
# signatures
# --------------------------------------------------------------------------------------

def split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_sig(fn):
    """[(name, kind, default)] from a nanobind docstring's first line; kind in P(os)/PK/K/V(ar)/VK."""
    sigs = getattr(fn, "__nb_signature__", None)
    if sigs:
        line = sigs[0][0]
        defaults = sigs[0][2] or ()
        # nanobind writes \N for the N-th default that it keeps as an object
        line = re.sub(r"\\(\d+)", lambda m: repr(defaults[int(m.group(1))]), line)
        if line.startswith("def "):
            line = line[4:]
    else:
        doc = getattr(fn, "__doc__", None) or ""
        line = doc.strip().splitlines()[0] if doc.strip() else ""
    m = re.match(r"^\s*[\w.]+\((.*)\)(\s*->.*)?$", line)
    if not m:
        import inspect
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return None
        kinds = {0: "P", 1: "PK", 2: "V", 3: "K", 4: "VK"}
        return [(p.name, kinds[int(p.kind)], None if p.default is p.empty else repr(p.default))
                for p in sig.parameters.values()]
    params = split_top(m.group(1))
    res, kind = [], "PK"
    for p in params:
        if p == "/":
            res = [(n, "P", d) for n, _, d in res]
            continue
        if p == "*":
            kind = "K"
            continue
        if p.startswith("**"):
            res.append((p[2:].split(":")[0].strip(), "VK", None))
            continue
        if p.startswith("*"):
            res.append((p[1:].split(":")[0].strip(), "V", None))
            kind = "K"
            continue
        name = re.split(r"[:=]", p)[0].strip()
        default = p.split("=", 1)[1].strip() if "=" in p else None
        res.append((name, kind, default))
    return res


def norm_default(d):
    if d is None:
        return None
    d = d.replace("mlx.core.", "").replace("pullback.core.", "").replace("pullback._core.", "")
    d = d.replace("Dtype.", "").replace("'", '"')
    return d


def sig_compare(section, name, fm, fp):
    REPORT.count(section)
    sm, sp = parse_sig(fm), parse_sig(fp)
    if sm is None or sp is None:
        return
    sm = [x for x in sm if x[0] != "stream"]
    sp = [x for x in sp if x[0] != "stream"]
    nm = [x[0] for x in sm]
    np_ = [x[0] for x in sp]
    if nm != np_:
        REPORT.add(section, name, "parameter names mlx %s ours %s" % (nm, np_))
        return
    for (n, km, dm), (_, kp, dp) in zip(sm, sp):
        # ours accepting a positional-only parameter by keyword as well is harmless
        if km != kp and not (km == "P" and kp == "PK"):
            REPORT.add(section, name, "parameter %s kind mlx %s ours %s" % (n, km, kp))
        dm, dp = norm_default(dm), norm_default(dp)
        if (dm is None) != (dp is None):
            REPORT.add(section, name, "parameter %s default mlx %s ours %s" % (n, dm, dp))
        elif dm is not None and dm != dp:
            try:
                if eval(dm, {"inf": math.inf, "float32": 0, "bfloat16": 1, "None": None}) == \
                        eval(dp, {"inf": math.inf, "float32": 0, "bfloat16": 1, "None": None}):
                    continue
            except Exception:
                pass
            REPORT.add(section, name, "parameter %s default mlx %s ours %s" % (n, dm, dp))


def api_names(path):
    names = []
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("[class]") or line.startswith("[const]") or line.startswith("[module]"):
            continue
        m = re.match(r"^([\w.]+)\(", line)
        if m:
            names.append(m.group(1))
    return names


def section_sig():
    import mlx.nn as mn
    import mlx.optimizers as mo
    import pullback.nn as pn
    import pullback.optimizers as po
    for name in api_names("/work/shared/api/core.txt"):
        fm = getattr(M, name, None)
        fp = getattr(P, name, None)
        if fm is None:
            continue
        if fp is None:
            REPORT.add("sig", name, "missing in pullback.core")
            continue
        sig_compare("sig", name, fm, fp)
    for mod in ("linalg", "fft", "random", "fast"):
        for name in dir(getattr(M, mod)):
            if name.startswith("_"):
                continue
            fm = getattr(getattr(M, mod), name)
            fp = getattr(getattr(P, mod), name, None)
            if fp is None:
                REPORT.add("sig", "%s.%s" % (mod, name), "missing")
                continue
            if callable(fm):
                sig_compare("sig", "%s.%s" % (mod, name), fm, fp)
    import inspect
    for mm, pm, path, prefix in ((mn, pn, "/work/shared/api/nn.txt", "nn."),
                                 (mo, po, "/work/shared/api/optimizers.txt", "optim.")):
        for line in open(path):
            m = re.match(r"^(class )?(\w+(\.\w+)*)\(", line.strip())
            if not m:
                continue
            full = m.group(2)
            if not full.startswith(prefix):
                continue
            parts = full[len(prefix):].split(".")
            om, op = mm, pm
            try:
                for p_ in parts:
                    om = getattr(om, p_)
            except AttributeError:
                continue
            try:
                for p_ in parts:
                    op = getattr(op, p_)
            except AttributeError:
                if any(s in full for s in ("Shard", "Quantiz", "QQ", "distributed", "fully_shard",
                                           "average_gradients", "quantize")):
                    continue
                REPORT.add("sig", full, "missing")
                continue
            REPORT.count("sig")
            try:
                sm = inspect.signature(om)
                sp = inspect.signature(op)
            except (TypeError, ValueError):
                continue
            pm_ = [(q.name, q.kind, q.default) for q in sm.parameters.values()]
            pp_ = [(q.name, q.kind, q.default) for q in sp.parameters.values()]
            if [x[0] for x in pm_] != [x[0] for x in pp_]:
                REPORT.add("sig", full, "parameter names mlx %s ours %s" % ([x[0] for x in pm_], [x[0] for x in pp_]))
                continue
            for (n, km, dm), (_, kp, dp) in zip(pm_, pp_):
                if km != kp:
                    REPORT.add("sig", full, "parameter %s kind mlx %s ours %s" % (n, km, kp))
                if callable(dm) or callable(dp):
                    continue
                sdm = norm_default(repr(dm))
                sdp = norm_default(repr(dp))
                if sdm != sdp:
                    REPORT.add("sig", full, "parameter %s default mlx %s ours %s" % (n, sdm, sdp))


# --------------------------------------------------------------------------------------
# elementwise
# --------------------------------------------------------------------------------------

SPECIAL = np.array([-np.inf, -3.5, -2.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 1.5, 2.5, np.inf, np.nan])
INTS = np.array([-7, -3, -2, -1, 0, 1, 2, 3, 7, 100])
UNARY = ["abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "ceil", "conj",
         "conjugate", "cos", "cosh", "degrees", "erf", "erfinv", "exp", "expm1", "floor", "imag",
         "isfinite", "isinf", "isnan", "isneginf", "isposinf", "log", "log10", "log1p", "log2",
         "logical_not", "negative", "positive", "radians", "real", "reciprocal", "round", "rsqrt",
         "sigmoid", "sign", "sin", "sinh", "sqrt", "square", "tan", "tanh", "trunc",
         "stop_gradient", "bitwise_invert"]
NONDIFF = {"ceil", "floor", "round", "trunc", "isfinite", "isinf", "isnan", "isneginf",
           "isposinf", "logical_not", "sign", "bitwise_invert"}


def grad_sum(fw, f, x):
    return fw.grad(lambda y: fw.sum(f(y)))(x)


def section_unary():
    rng = np.random.default_rng(0)
    for name in UNARY:
        for dt in ["float32", "float64", "float16", "bfloat16", "int32", "uint8", "int64", "bool_",
                   "complex64"]:
            src = SPECIAL if dt.startswith(("float", "bfloat")) else (
                INTS if dt in ("int32", "int64") else np.array([0, 1, 2, 3, 200]) if dt == "uint8"
                else np.array([True, False]) if dt == "bool_" else
                (rng.standard_normal(6) + 1j * rng.standard_normal(6)))
            check("unary", "%s(%s)" % (name, dt),
                  lambda fw, n=name, s=src, d=dt: getattr(fw, n)(make(fw, s, d)))
        check("unary", "%s(0-d)" % name, lambda fw, n=name: getattr(fw, n)(make(fw, np.float32(0.5))))
        check("unary", "%s(empty)" % name, lambda fw, n=name: getattr(fw, n)(make(fw, np.zeros((0, 3), np.float32))))
        check("unary", "%s(python float)" % name, lambda fw, n=name: getattr(fw, n)(0.5))
        check("unary", "%s(python int)" % name, lambda fw, n=name: getattr(fw, n)(2))
        if name in ("bitwise_invert", "imag", "real", "conj", "conjugate"):
            continue
        for dt in ("float32", "float64"):
            check("unary-grad", "grad %s(%s) at specials" % (name, dt),
                  lambda fw, n=name, d=dt: grad_sum(fw, getattr(fw, n), make(fw, SPECIAL, d)))
            check("unary-grad", "jvp %s(%s) at specials" % (name, dt),
                  lambda fw, n=name, d=dt: fw.jvp(getattr(fw, n), [make(fw, SPECIAL, d)],
                                                  [make(fw, np.ones(13), d)])[1])
        if name not in NONDIFF:
            pts = np.array([-0.9, -0.3, 0.0, 0.4, 0.8, 1.2, 2.0])
            check("unary-grad", "grad(grad %s) " % name,
                  lambda fw, n=name: grad_sum(fw, lambda y: grad_sum(fw, getattr(fw, n), y),
                                              make(fw, pts, "float64")))
        check("unary-grad", "grad %s int input" % name,
              lambda fw, n=name: grad_sum(fw, getattr(fw, n), make(fw, INTS, "int32")))


BINARY = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2",
          "floor_divide", "remainder", "logaddexp", "equal", "not_equal", "greater",
          "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_xor",
          "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift", "divmod"]
BIN_NONDIFF = {"equal", "not_equal", "greater", "greater_equal", "less", "less_equal",
               "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
               "bitwise_xor", "left_shift", "right_shift", "divmod", "floor_divide"}


def section_binary():
    A, B = np.meshgrid(SPECIAL, SPECIAL, indexing="ij")
    IA, IB = np.meshgrid(INTS, INTS, indexing="ij")
    combos = [("float32", "float32"), ("float64", "float64"), ("float16", "float16"),
              ("bfloat16", "bfloat16"), ("int32", "int32"), ("int64", "int64"), ("uint8", "uint8"),
              ("int8", "int8"), ("uint32", "uint32"), ("bool_", "bool_"), ("int32", "float32"),
              ("bool_", "int32"), ("uint8", "int8"), ("int64", "float16"), ("uint32", "int32"),
              ("uint64", "int64"), ("float16", "bfloat16"), ("int8", "uint16"), ("uint64", "int8"),
              ("complex64", "float32")]
    for name in BINARY:
        for da, db in combos:
            def src(d, F, I):
                if d.startswith(("float", "bfloat", "complex")):
                    return F
                if d == "bool_":
                    return I % 2 == 0
                if d.startswith("uint"):
                    return np.abs(I)
                return I
            a = src(da, A, IA)
            b = src(db, B, IB)
            if name == "divmod" and not db.startswith(("float", "bfloat", "complex")):
                b = np.where(b == 0, 1, b)  # mlx dies of SIGFPE on an integer divmod by zero
            check("binary", "%s(%s,%s)" % (name, da, db),
                  lambda fw, n=name, a=a, b=b, da=da, db=db: getattr(fw, n)(make(fw, a, da), make(fw, b, db)))
        # python scalars are weak
        for arrdt, scal in [("float16", 2.5), ("int32", 2.5), ("int32", 3), ("uint8", 3),
                            ("uint8", -1), ("bool_", 1), ("bool_", True), ("int8", 300),
                            ("bfloat16", 2), ("float32", 1e40), ("int64", 2 ** 40), ("complex64", 2.0)]:
            av = {"bool_": np.array([True, name == "divmod"])}.get(arrdt, np.array([1, 2, 3]))
            check("binary", "%s(%s, %r)" % (name, arrdt, scal),
                  lambda fw, n=name, av=av, d=arrdt, s=scal: getattr(fw, n)(make(fw, av, d), s))
            check("binary", "%s(%r, %s)" % (name, scal, arrdt),
                  lambda fw, n=name, av=av, d=arrdt, s=scal: getattr(fw, n)(s, make(fw, av, d)))
        check("binary", "%s(scalar,scalar)" % name, lambda fw, n=name: getattr(fw, n)(2, 3.5))
        check("binary", "%s(int,int)" % name, lambda fw, n=name: getattr(fw, n)(7, 2))
        check("binary", "%s broadcast (3,1)x(4,)" % name,
              lambda fw, n=name: getattr(fw, n)(make(fw, np.arange(3.0).reshape(3, 1) + 1),
                                                make(fw, np.arange(4.0) + 0.5)))
        check("binary", "%s broadcast error (3,)x(4,)" % name,
              lambda fw, n=name: getattr(fw, n)(make(fw, np.arange(3.0)), make(fw, np.arange(4.0))))
        check("binary", "%s empty (0,3)x(1,3)" % name,
              lambda fw, n=name: getattr(fw, n)(make(fw, np.zeros((0, 3))), make(fw, np.ones((1, 3)))))
        check("binary", "%s 0-d x 0-d" % name,
              lambda fw, n=name: getattr(fw, n)(make(fw, np.float32(2)), make(fw, np.float32(3))))
        if name in BIN_NONDIFF:
            continue
        for dt in ("float32", "float64"):
            for argn in (0, 1):
                check("binary-grad", "grad[%d] %s(%s) grid" % (argn, name, dt),
                      lambda fw, n=name, d=dt, k=argn: fw.grad(
                          lambda x, y: fw.sum(getattr(fw, n)(x, y)), argnums=k)(make(fw, A, d), make(fw, B, d)))
            check("binary-grad", "jvp %s(%s) grid" % (name, dt),
                  lambda fw, n=name, d=dt: fw.jvp(getattr(fw, n), [make(fw, A, d), make(fw, B, d)],
                                                  [make(fw, np.ones_like(A), d), make(fw, 2 * np.ones_like(A), d)])[1])
            check("binary-grad", "grad broadcast %s(%s)" % (name, dt),
                  lambda fw, n=name, d=dt: fw.grad(lambda x, y: fw.sum(getattr(fw, n)(x, y)), argnums=(0, 1))(
                      make(fw, np.arange(3.0).reshape(3, 1) + 0.5, d), make(fw, np.array([1.0, 0.5, 2.0]), d)))
        check("binary-grad", "grad %s wrt scalar-arg" % name,
              lambda fw, n=name: fw.grad(lambda x: fw.sum(getattr(fw, n)(x, 2.0)))(make(fw, np.array([0.0, 2.0, 3.0]))))
        pts = np.array([0.3, 0.7, 1.5, 2.0])
        check("binary-grad", "grad(grad %s)" % name,
              lambda fw, n=name: fw.grad(lambda x: fw.sum(fw.grad(
                  lambda y: fw.sum(getattr(fw, n)(y, y * 0.5 + 0.25)))(x)))(make(fw, pts, "float64")))




# --------------------------------------------------------------------------------------
# reductions, scans, sorting
# --------------------------------------------------------------------------------------

REDUCE = ["sum", "prod", "max", "min", "mean", "var", "std", "all", "any", "argmax", "argmin",
          "logsumexp", "median", "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort",
          "argsort", "softmax", "count_nonzero", "minmax"]
REDUCE_DIFF = {"sum", "prod", "max", "min", "mean", "var", "std", "logsumexp", "cumsum",
               "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "softmax", "median"}
SINGLE_AXIS = {"argmax", "argmin", "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp",
               "sort", "argsort"}


def section_reduce():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4)).round(1)
    ties = np.array([[1.0, 3.0, 3.0, -2.0], [0.0, 0.0, 0.0, 0.0], [2.0, -1.0, 2.0, 2.0]])
    withnan = np.array([[1.0, np.nan, 3.0, 0.0], [np.inf, -np.inf, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    for name in REDUCE:
        axes = [None, 0, 1, -1, -2, 2, -3] + ([] if name in SINGLE_AXIS else [(0, 1), (-1, 0), (0, 0), []])
        for ax in axes:
            for kd in (False, True):
                if name in ("cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort", "softmax"):
                    if kd:
                        continue
                    f = lambda fw, n=name, ax=ax: getattr(fw, n)(make(fw, x), axis=ax)
                else:
                    f = lambda fw, n=name, ax=ax, kd=kd: getattr(fw, n)(make(fw, x), axis=ax, keepdims=kd)
                check("reduce", "%s(axis=%r, keepdims=%s)" % (name, ax, kd), f)
        check("reduce", "%s default" % name, lambda fw, n=name: getattr(fw, n)(make(fw, x)))
        for dt in ("int32", "uint8", "bool_", "float16", "bfloat16", "float64", "int8", "int64", "uint32", "complex64"):
            src = (np.abs(x * 3).astype(int) if dt != "bool_" else x > 0)
            check("reduce", "%s(%s)" % (name, dt), lambda fw, n=name, s=src, d=dt: getattr(fw, n)(make(fw, s, d)))
            check("reduce", "%s(%s, axis=1)" % (name, dt), lambda fw, n=name, s=src, d=dt: getattr(fw, n)(make(fw, s, d), axis=1))
        for shp in ((0,), (0, 3), (3, 0)):
            check("reduce", "%s(empty %s)" % (name, shp), lambda fw, n=name, s=shp: getattr(fw, n)(make(fw, np.zeros(s))))
            check("reduce", "%s(empty %s, axis=0)" % (name, shp), lambda fw, n=name, s=shp: getattr(fw, n)(make(fw, np.zeros(s)), axis=0))
            check("reduce", "%s(empty %s, axis=-1)" % (name, shp), lambda fw, n=name, s=shp: getattr(fw, n)(make(fw, np.zeros(s)), axis=-1))
        check("reduce", "%s(0-d)" % name, lambda fw, n=name: getattr(fw, n)(make(fw, np.float32(2.5))))
        check("reduce", "%s(0-d, axis=0)" % name, lambda fw, n=name: getattr(fw, n)(make(fw, np.float32(2.5)), axis=0))
        check("reduce", "%s(nan/inf)" % name, lambda fw, n=name: getattr(fw, n)(make(fw, withnan)))
        check("reduce", "%s(nan/inf, axis=1)" % name, lambda fw, n=name: getattr(fw, n)(make(fw, withnan), axis=1))
        check("reduce", "%s(ties, axis=1)" % name, lambda fw, n=name: getattr(fw, n)(make(fw, ties), axis=1))
        check("reduce", "%s(transposed)" % name, lambda fw, n=name: getattr(fw, n)(make(fw, x).T, axis=0))
        if name in REDUCE_DIFF:
            for ax in (None, 1, 0):
                for src, tag in ((x, "x"), (ties, "ties"), (withnan, "nan/inf")):
                    check("reduce-grad", "grad %s(%s, axis=%r)" % (name, tag, ax),
                          lambda fw, n=name, s=src, ax=ax: fw.grad(lambda y: fw.sum(getattr(fw, n)(y, axis=ax) * 1.5))(make(fw, s)))
                    check("reduce-grad", "jvp %s(%s, axis=%r)" % (name, tag, ax),
                          lambda fw, n=name, s=src, ax=ax: fw.jvp(lambda y: getattr(fw, n)(y, axis=ax), [make(fw, s)],
                                                                 [make(fw, np.arange(12.0).reshape(3, 4))])[1])
            check("reduce-grad", "grad(grad %s)" % name,
                  lambda fw, n=name: fw.grad(lambda z: fw.sum(fw.grad(lambda y: fw.sum(getattr(fw, n)(y, axis=1) ** 2))(z)))(make(fw, x, "float64")))
    for name in ("var", "std"):
        for dd in (0, 1, 3, 4, 5, -1):
            check("reduce", "%s(ddof=%d)" % (name, dd), lambda fw, n=name, d=dd: getattr(fw, n)(make(fw, x), axis=1, ddof=d))
    for name in ("cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"):
        for rev in (False, True):
            for inc in (False, True):
                check("reduce", "%s(reverse=%s, inclusive=%s)" % (name, rev, inc),
                      lambda fw, n=name, r=rev, i=inc: getattr(fw, n)(make(fw, ties), axis=1, reverse=r, inclusive=i))
                check("reduce-grad", "grad %s(reverse=%s, inclusive=%s)" % (name, rev, inc),
                      lambda fw, n=name, r=rev, i=inc: fw.grad(lambda y: fw.sum(getattr(fw, n)(y, axis=1, reverse=r, inclusive=i) * fw.arange(4)))(make(fw, ties)))
    for name in ("cumsum", "cumprod"):
        for dt in ("int8", "bool_", "uint8", "float16"):
            check("reduce", "%s dtype=%s" % (name, dt), lambda fw, n=name, d=dt: getattr(fw, n)(make(fw, x), axis=1, dtype=getattr(fw, d)))
    for k in (0, 1, 3, 4, -1, 5):
        check("reduce", "topk k=%d" % k, lambda fw, k=k: fw.sort(fw.topk(make(fw, ties), k, axis=1), axis=1))
        check("reduce", "partition kth=%d" % k, lambda fw, k=k: fw.partition(make(fw, ties), k, axis=1)[:, k])
        check("reduce", "topk axis=None k=%d" % k, lambda fw, k=k: fw.sort(fw.topk(make(fw, ties), k, axis=None)))
    check("reduce-grad", "grad topk ties", lambda fw: fw.grad(lambda y: fw.sum(fw.topk(y, 2, axis=1) * fw.array([1.0, 2.0])))(make(fw, ties)))
    check("reduce", "softmax precise", lambda fw: fw.softmax(make(fw, x, "bfloat16"), axis=1, precise=True))
    check("reduce", "softmax all -inf row", lambda fw: fw.softmax(make(fw, np.array([[-np.inf, -np.inf], [0, 1]])), axis=1))
    check("reduce", "logsumexp all -inf row", lambda fw: fw.logsumexp(make(fw, np.array([[-np.inf, -np.inf], [0, 1]])), axis=1))
    check("reduce-grad", "grad logsumexp all -inf row", lambda fw: fw.grad(lambda y: fw.sum(fw.logsumexp(y, axis=1)))(make(fw, np.array([[-np.inf, -np.inf], [0, 1]]))))
    check("reduce-grad", "grad logsumexp inf", lambda fw: fw.grad(lambda y: fw.sum(fw.logsumexp(y, axis=1)))(make(fw, np.array([[np.inf, 1.0], [0, 1]]))))
    check("reduce-grad", "grad prod zeros", lambda fw: fw.grad(lambda y: fw.sum(fw.prod(y, axis=1)))(make(fw, np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 2.0], [1.0, 2.0, 3.0]]))))
    check("reduce-grad", "grad norm at 0", lambda fw: fw.grad(lambda y: fw.linalg.norm(y))(make(fw, np.zeros(3))))
    check("reduce-grad", "grad sqrt(sum sq) at 0", lambda fw: fw.grad(lambda y: fw.sqrt(fw.sum(y * y)))(make(fw, np.zeros(3))))
    check("reduce-grad", "grad std const", lambda fw: fw.grad(lambda y: fw.std(y))(make(fw, np.ones(3))))
    check("reduce-grad", "grad median even", lambda fw: fw.grad(lambda y: fw.median(y))(make(fw, np.array([4.0, 1.0, 3.0, 2.0]))))
    check("reduce-grad", "grad median ties", lambda fw: fw.grad(lambda y: fw.median(y))(make(fw, np.array([1.0, 2.0, 2.0, 2.0, 5.0]))))



# --------------------------------------------------------------------------------------
# everything else in mlx.core: creation, shapes, indexing, composites
# --------------------------------------------------------------------------------------

def A(fw, x, dtype=None):
    return make(fw, np.asarray(x, dtype=np.float64 if np.asarray(x).dtype.kind == "f" else None), dtype)


X34 = np.arange(12.0).reshape(3, 4) - 5.5
X234 = np.arange(24.0).reshape(2, 3, 4) * 0.5 - 3


MISC = [
    # creation (defaults: only the required arguments)
    ("zeros", lambda m: m.zeros((2, 3))), ("zeros int", lambda m: m.zeros(3)),
    ("zeros dtype", lambda m: m.zeros((2,), m.int8)), ("ones", lambda m: m.ones((2, 0))),
    ("full", lambda m: m.full((2, 2), 3)), ("full float", lambda m: m.full((2, 2), 3.5)),
    ("full bool", lambda m: m.full((2,), True)), ("full array", lambda m: m.full((2, 3), A(m, [1.0, 2.0, 3.0]))),
    ("full dtype", lambda m: m.full((2,), 3.7, m.int32)), ("full neg", lambda m: m.full((-1,), 1)),
    ("zeros_like", lambda m: m.zeros_like(A(m, X34, "int32"))), ("ones_like", lambda m: m.ones_like(A(m, X34), dtype=m.float16)),
    ("full_like", lambda m: m.full_like(A(m, X34), 2)), ("full_like int vals", lambda m: m.full_like(A(m, X34, "int32"), 2.7)),
    ("eye", lambda m: m.eye(3)), ("eye nm k", lambda m: m.eye(3, 4, 1)), ("eye k big", lambda m: m.eye(3, 4, 7)),
    ("eye neg k", lambda m: m.eye(3, k=-2)), ("identity", lambda m: m.identity(3)),
    ("identity int", lambda m: m.identity(2, m.int32)),
    ("tri", lambda m: m.tri(3)), ("tri nmk", lambda m: m.tri(3, 4, -1)), ("tri dtype", lambda m: m.tri(2, dtype=m.int32)),
    ("tril", lambda m: m.tril(A(m, X34))), ("triu k", lambda m: m.triu(A(m, X34), 1)),
    ("tril 1d", lambda m: m.tril(A(m, [1.0, 2.0]))), ("tril 3d", lambda m: m.tril(A(m, X234), -1)),
    ("arange 1", lambda m: m.arange(5)), ("arange float", lambda m: m.arange(0.5, 3)),
    ("arange step", lambda m: m.arange(0, 10, 3)), ("arange neg", lambda m: m.arange(5, 0, -1.5)),
    ("arange empty", lambda m: m.arange(5, 0)), ("arange dtype", lambda m: m.arange(0, 5, dtype=m.float16)),
    ("arange float step", lambda m: m.arange(0, 1, 0.1)), ("arange int float-step", lambda m: m.arange(0, 5, 2.0)),
    ("arange kw", lambda m: m.arange(start=1, stop=4)), ("arange stop kw", lambda m: m.arange(stop=4)),
    ("arange bad step", lambda m: m.arange(0, 5, 0)), ("arange dtype int frac", lambda m: m.arange(0, 2.5, 0.5, m.int32)),
    ("linspace", lambda m: m.linspace(0, 1)), ("linspace num", lambda m: m.linspace(0, 1, 5)),
    ("linspace int dtype", lambda m: m.linspace(0, 10, 4, dtype=m.int32)), ("linspace 1", lambda m: m.linspace(2, 3, 1)),
    ("linspace 0", lambda m: m.linspace(2, 3, 0)),
    ("bartlett", lambda m: m.bartlett(5)), ("blackman", lambda m: m.blackman(6)), ("hamming", lambda m: m.hamming(1)),
    ("hanning", lambda m: m.hanning(4)), ("hanning 0", lambda m: m.hanning(0)),
    ("meshgrid", lambda m: m.meshgrid(A(m, [1.0, 2.0]), A(m, [3.0, 4.0, 5.0]))),
    ("meshgrid ij", lambda m: m.meshgrid(A(m, [1.0, 2.0]), A(m, [3.0, 4.0, 5.0]), indexing="ij")),
    ("meshgrid sparse", lambda m: m.meshgrid(A(m, [1.0, 2.0]), A(m, [3.0, 4.0, 5.0]), sparse=True)),
    ("meshgrid bad", lambda m: m.meshgrid(A(m, [1.0]), indexing="xx")),
    # shapes
    ("reshape", lambda m: m.reshape(A(m, X34), (2, -1))), ("reshape bad", lambda m: m.reshape(A(m, X34), (5, -1))),
    ("reshape empty", lambda m: m.reshape(A(m, np.zeros((0, 3))), (-1, 0))),
    ("flatten", lambda m: m.flatten(A(m, X234))), ("flatten 1 2", lambda m: m.flatten(A(m, X234), 1, 2)),
    ("flatten 0d", lambda m: m.flatten(A(m, 2.0))),
    ("unflatten", lambda m: m.unflatten(A(m, X34), 1, (2, -1))), ("unflatten bad", lambda m: m.unflatten(A(m, X34), 1, (3, -1))),
    ("squeeze", lambda m: m.squeeze(A(m, np.ones((1, 3, 1))))), ("squeeze ax", lambda m: m.squeeze(A(m, np.ones((1, 3, 1))), -1)),
    ("squeeze tuple", lambda m: m.squeeze(A(m, np.ones((1, 3, 1))), (0, 2))),
    ("expand_dims", lambda m: m.expand_dims(A(m, X34), (0, -1))), ("expand_dims neg", lambda m: m.expand_dims(A(m, X34), -4)),
    ("transpose", lambda m: m.transpose(A(m, X234))), ("transpose axes", lambda m: m.transpose(A(m, X234), (1, 0, 2))),
    ("transpose neg", lambda m: m.transpose(A(m, X234), (-1, 0, 1))), ("permute_dims", lambda m: m.permute_dims(A(m, X234), (2, 0, 1))),
    ("swapaxes", lambda m: m.swapaxes(A(m, X234), 0, -1)), ("moveaxis", lambda m: m.moveaxis(A(m, X234), 0, -1)),
    ("matrix_transpose", lambda m: m.matrix_transpose(A(m, X234))), ("matrix_transpose 1d", lambda m: m.matrix_transpose(A(m, [1.0]))),
    ("broadcast_to", lambda m: m.broadcast_to(A(m, [1.0, 2.0]), (3, 2))), ("broadcast_to scalar", lambda m: m.broadcast_to(2.0, (2,))),
    ("broadcast_arrays", lambda m: m.broadcast_arrays(A(m, [1.0, 2.0]), A(m, [[1.0], [2.0]]))),
    ("broadcast_shapes", lambda m: m.broadcast_shapes((1, 2), (3, 1))), ("broadcast_shapes bad", lambda m: m.broadcast_shapes((2,), (3,))),
    ("broadcast_shapes none", lambda m: m.broadcast_shapes()),
    ("atleast_1d", lambda m: m.atleast_1d(A(m, 2.0))), ("atleast_2d", lambda m: m.atleast_2d(A(m, [1.0]))),
    ("atleast_3d", lambda m: m.atleast_3d(A(m, X34))), ("atleast_1d multi", lambda m: m.atleast_1d(A(m, 2.0), A(m, [1.0]))),
    ("atleast_3d 1d", lambda m: m.atleast_3d(A(m, [1.0, 2.0]))),
    ("concatenate", lambda m: m.concatenate([A(m, X34), A(m, X34)], axis=1)), ("concatenate None", lambda m: m.concatenate([A(m, X34), A(m, [1.0])], axis=None)),
    ("concat mixed", lambda m: m.concat([A(m, [1], "int32"), A(m, [1.5])])), ("concatenate 0d", lambda m: m.concatenate([A(m, 1.0), A(m, 2.0)])),
    ("stack", lambda m: m.stack([A(m, X34), A(m, X34)], axis=-1)), ("stack mixed", lambda m: m.stack([A(m, [1], "int8"), A(m, [1], "uint8")])),
    ("split int", lambda m: m.split(A(m, X34), 2, axis=1)), ("split list", lambda m: m.split(A(m, X34), [1, 3], axis=1)),
    ("split list unsorted", lambda m: m.split(A(m, X34), [3, 1], axis=1)), ("split big index", lambda m: m.split(A(m, X34), [1, 9], axis=1)),
    ("split uneven", lambda m: m.split(A(m, X34), 3, axis=1)), ("split default", lambda m: m.split(A(m, X34), 3)),
    ("unstack", lambda m: m.unstack(A(m, X34))), ("unstack axis", lambda m: m.unstack(A(m, X34), axis=1)),
    ("repeat", lambda m: m.repeat(A(m, X34), 2)), ("repeat axis", lambda m: m.repeat(A(m, X34), 2, axis=0)),
    ("repeat 0", lambda m: m.repeat(A(m, X34), 0, axis=1)), ("repeat neg", lambda m: m.repeat(A(m, X34), -1, axis=1)),
    ("tile", lambda m: m.tile(A(m, X34), 2)), ("tile tuple", lambda m: m.tile(A(m, X34), (2, 1, 2))),
    ("tile 0", lambda m: m.tile(A(m, X34), (0, 1))),
    ("flip", lambda m: m.flip(A(m, X34))), ("flip axis", lambda m: m.flip(A(m, X34), -1)), ("flip tuple", lambda m: m.flip(A(m, X234), (0, 2))),
    ("roll", lambda m: m.roll(A(m, X34), 1)), ("roll axis", lambda m: m.roll(A(m, X34), -5, 1)),
    ("roll tuple", lambda m: m.roll(A(m, X34), (1, 2), (0, 1))), ("roll mismatch", lambda m: m.roll(A(m, X34), (1, 2), 0)),
    ("roll shift tuple one axis", lambda m: m.roll(A(m, X34), (1,), (0, 1))),
    ("pad int", lambda m: m.pad(A(m, X34), 1)), ("pad tuple", lambda m: m.pad(A(m, X34), (1, 2))),
    ("pad list", lambda m: m.pad(A(m, X34), [(0, 1), (2, 0)])), ("pad edge", lambda m: m.pad(A(m, X34), 2, mode="edge")),
    ("pad reflect", lambda m: m.pad(A(m, X34), 1, mode="reflect")), ("pad symmetric", lambda m: m.pad(A(m, X34), 2, mode="symmetric")),
    ("pad const", lambda m: m.pad(A(m, X34), 1, constant_values=7)), ("pad const arr", lambda m: m.pad(A(m, X34), 1, constant_values=A(m, 2.5))),
    ("pad neg", lambda m: m.pad(A(m, X34), -1)), ("pad bad mode", lambda m: m.pad(A(m, X34), 1, mode="wrap")),
    ("pad int dtype float const", lambda m: m.pad(A(m, X34, "int32"), 1, constant_values=2.5)),
    ("pad reflect too big", lambda m: m.pad(A(m, X34), 3, mode="reflect")),
    ("diag", lambda m: m.diag(A(m, X34))), ("diag k", lambda m: m.diag(A(m, X34), 1)), ("diag 1d", lambda m: m.diag(A(m, [1.0, 2.0]), -1)),
    ("diag 3d", lambda m: m.diag(A(m, X234))),
    ("diagonal", lambda m: m.diagonal(A(m, X234))), ("diagonal args", lambda m: m.diagonal(A(m, X234), 1, 2, 0)),
    ("diagonal same axes", lambda m: m.diagonal(A(m, X234), 0, 1, 1)),
    ("trace", lambda m: m.trace(A(m, X34))), ("trace args", lambda m: m.trace(A(m, X234), -1, 1, 2)),
    ("trace int", lambda m: m.trace(A(m, X34, "int8"))), ("trace dtype", lambda m: m.trace(A(m, X34), dtype=m.int32)),
    ("as_strided", lambda m: m.as_strided(A(m, X34), (2, 2), (1, 4), 1)), ("as_strided default", lambda m: m.as_strided(A(m, X34))),
    ("contiguous", lambda m: m.contiguous(A(m, X34).T)),
    ("view", lambda m: m.view(A(m, [1.0, 2.0]), m.int32)), ("view size", lambda m: m.view(A(m, [1.0, 2.0]), m.int16)),
    ("view bad", lambda m: m.view(A(m, [1.0, 2.0, 3.0]), m.float64)),
    ("astype", lambda m: m.astype(A(m, [1.7, -1.7, 300.0]), m.uint8)), ("astype bool", lambda m: m.astype(A(m, [0.0, 0.5]), m.bool_)),
    ("astype nan int", lambda m: m.astype(A(m, [np.nan, np.inf]), m.int32)),
    # indexing ops
    ("take", lambda m: m.take(A(m, X34), A(m, [0, 5, -1]))), ("take axis", lambda m: m.take(A(m, X34), A(m, [[0, 2]]), axis=1)),
    ("take int", lambda m: m.take(A(m, X34), 2, axis=1)), ("take neg", lambda m: m.take(A(m, X34), -1)),
    ("take oob", lambda m: m.take(A(m, X34), A(m, [12]))), ("take float idx", lambda m: m.take(A(m, X34), A(m, [1.0]))),
    ("take_along_axis", lambda m: m.take_along_axis(A(m, X34), A(m, [[0], [3], [1]]), axis=1)),
    ("take_along_axis None", lambda m: m.take_along_axis(A(m, X34), A(m, [0, 11]), axis=None)),
    ("take_along_axis bcast", lambda m: m.take_along_axis(A(m, X34), A(m, [[0, 1]]), axis=1)),
    ("put_along_axis", lambda m: m.put_along_axis(A(m, X34), A(m, [[0], [3], [1]]), A(m, [[9.0], [8.0], [7.0]]), axis=1)),
    ("put_along_axis None", lambda m: m.put_along_axis(A(m, X34), A(m, [0, 11]), A(m, 1.0), axis=None)),
    ("put_along_axis scalar", lambda m: m.put_along_axis(A(m, X34), A(m, [[0], [3], [1]]), 5.0, axis=1)),
    ("where", lambda m: m.where(A(m, [True, False]), A(m, [1.0, 2.0]), 3)), ("where int/float", lambda m: m.where(A(m, [1, 0]), 1, 2.5)),
    ("where bcast", lambda m: m.where(A(m, [[True], [False]]), A(m, [1.0, 2.0]), A(m, X34[:2, :2]))),
    ("where scalars", lambda m: m.where(True, 1, 2)),
    ("clip", lambda m: m.clip(A(m, X34), -1, 2)), ("clip None", lambda m: m.clip(A(m, X34), None, 2)),
    ("clip both None", lambda m: m.clip(A(m, X34), None, None)), ("clip int float", lambda m: m.clip(A(m, X34, "int32"), 0.5, 2.5)),
    ("clip arrays", lambda m: m.clip(A(m, X34), A(m, [0.0, 1, 2, 3]), 4)), ("clip kw", lambda m: m.clip(A(m, X34), a_min=0, a_max=1)),
    ("clip inverted", lambda m: m.clip(A(m, X34), 2, -1)), ("clip nan", lambda m: m.clip(A(m, [np.nan, 1.0]), 0, 0.5)),
    ("nan_to_num", lambda m: m.nan_to_num(A(m, [np.nan, np.inf, -np.inf, 1.0]))),
    ("nan_to_num args", lambda m: m.nan_to_num(A(m, [np.nan, np.inf, -np.inf, 1.0]), 1.0, 2.0, -2.0)),
    ("nan_to_num f16", lambda m: m.nan_to_num(A(m, [np.nan, np.inf, -np.inf], "float16"))),
    ("nan_to_num int", lambda m: m.nan_to_num(A(m, [1, 2], "int32"))),
    ("isclose", lambda m: m.isclose(A(m, [1.0, np.nan, np.inf]), A(m, [1.0 + 1e-6, np.nan, np.inf]))),
    ("isclose nan", lambda m: m.isclose(A(m, [np.nan]), A(m, [np.nan]), equal_nan=True)),
    ("allclose", lambda m: m.allclose(A(m, [1.0]), A(m, [1.1]), rtol=0.2)), ("array_equal", lambda m: m.array_equal(A(m, [1.0]), A(m, [1], "int32"))),
    ("array_equal shape", lambda m: m.array_equal(A(m, [1.0]), A(m, [1.0, 1.0]))), ("array_equal nan", lambda m: m.array_equal(A(m, [np.nan]), A(m, [np.nan]), equal_nan=True)),
    ("array_equal scalars", lambda m: m.array_equal(1, 1.0)),
    ("outer", lambda m: m.outer(A(m, [1.0, 2.0]), A(m, [[1.0, 2.0, 3.0]]))), ("inner", lambda m: m.inner(A(m, X34), A(m, X234))),
    ("inner 0d", lambda m: m.inner(A(m, 2.0), A(m, X34))),
    ("kron", lambda m: m.kron(A(m, [[1.0, 2.0]]), A(m, X34))), ("kron 1d 3d", lambda m: m.kron(A(m, [1.0, 2.0]), A(m, X234))),
    ("tensordot", lambda m: m.tensordot(A(m, X234), A(m, X34.T), 1)), ("tensordot lists", lambda m: m.tensordot(A(m, X234), A(m, X34), [[1, 2], [0, 1]])),
    ("tensordot 0", lambda m: m.tensordot(A(m, [1.0, 2.0]), A(m, [3.0]), 0)),
    ("vecdot", lambda m: m.vecdot(A(m, X34), A(m, X34))), ("vecdot axis", lambda m: m.vecdot(A(m, X34), A(m, X34), axis=0)),
    ("matmul 1d", lambda m: m.matmul(A(m, [1.0, 2.0]), A(m, [[1.0], [2.0]]))), ("matmul 1d1d", lambda m: m.matmul(A(m, [1.0, 2.0]), A(m, [3.0, 4.0]))),
    ("matmul bcast", lambda m: m.matmul(A(m, X234), A(m, X34.T))), ("matmul int", lambda m: m.matmul(A(m, [[1, 2]]), A(m, [[3], [4]]))),
    ("matmul f16", lambda m: m.matmul(A(m, X34, "float16"), A(m, X34.T, "float16"))),
    ("matmul 0d", lambda m: m.matmul(A(m, 2.0), A(m, X34))), ("matmul empty", lambda m: m.matmul(A(m, np.zeros((2, 0))), A(m, np.zeros((0, 3))))),
    ("addmm", lambda m: m.addmm(A(m, [1.0]), A(m, X34), A(m, X34.T), alpha=2.0, beta=0.5)),
    ("addmm default", lambda m: m.addmm(A(m, X34[:, :3]), A(m, X34), A(m, X34.T[:, :3]))),
    ("block_masked_mm", lambda m: m.block_masked_mm(A(m, np.ones((64, 64))), A(m, np.ones((64, 64))))),
    ("gather_mm", lambda m: m.gather_mm(A(m, X234), A(m, X234.transpose(0, 2, 1)), A(m, [1, 0], "uint32"), A(m, [0, 0], "uint32"))),
    ("segmented_mm", lambda m: m.segmented_mm(A(m, X34), A(m, X34.T), A(m, [[0, 2], [2, 4]], "uint32"))),
    ("hadamard", lambda m: m.hadamard_transform(A(m, X34))), ("hadamard scale", lambda m: m.hadamard_transform(A(m, X34), 0.5)),
    ("hadamard bad", lambda m: m.hadamard_transform(A(m, X34[:, :3]))),
    ("einsum", lambda m: m.einsum("ij,kj->ik", A(m, X34), A(m, X34))), ("einsum trace", lambda m: m.einsum("ii", A(m, X34[:, :3]))),
    ("einsum ellipsis", lambda m: m.einsum("...j,j", A(m, X234), A(m, [1.0, 2.0, 3.0, 4.0]))),
    ("einsum bad", lambda m: m.einsum("ij,j->i", A(m, X34), A(m, [1.0]))),
    ("einsum_path", lambda m: m.einsum_path("ij,jk->ik", A(m, X34), A(m, X34.T))[0]),
    ("diff", lambda m: m.diff(A(m, X34))), ("diff n", lambda m: m.diff(A(m, X34), 2, axis=0)), ("diff n big", lambda m: m.diff(A(m, X34), 5)),
    ("diff 0", lambda m: m.diff(A(m, X34), 0)), ("diff neg", lambda m: m.diff(A(m, X34), -1)), ("diff bool", lambda m: m.diff(A(m, [True, False, False]))),
    ("convolve", lambda m: m.convolve(A(m, [1.0, 2.0, 3.0]), A(m, [0.0, 1.0, 0.5]))),
    ("convolve same", lambda m: m.convolve(A(m, [1.0, 2.0, 3.0, 4.0]), A(m, [1.0, 0.5]), mode="same")),
    ("convolve valid", lambda m: m.convolve(A(m, [1.0, 2.0, 3.0]), A(m, [1.0, 0.5, 2, 2]), mode="valid")),
    ("round decimals", lambda m: m.round(A(m, [1.2345, -2.5, 0.5, 1.5]), 2)), ("round neg dec", lambda m: m.round(A(m, [1234.5, 15.0]), -1)),
    ("round half", lambda m: m.round(A(m, [-2.5, 0.5, 1.5, 2.5]))), ("round int neg", lambda m: m.round(A(m, [15, 25, -15], "int32"), -1)),
    ("degrees int", lambda m: m.degrees(A(m, [1], "int32"))), ("logaddexp inf", lambda m: m.logaddexp(A(m, [np.inf, -np.inf]), A(m, [np.inf, -np.inf]))),
    ("searchsorted", lambda m: m.searchsorted(A(m, [1.0, 2.0, 2.0, 3.0]), A(m, [2.0, 0.0, 5.0]))),
    ("searchsorted right", lambda m: m.searchsorted(A(m, [1.0, 2.0, 2.0, 3.0]), A(m, [2.0, 0.0, 5.0]), side="right")),
    ("searchsorted scalar", lambda m: m.searchsorted(A(m, [1.0, 2.0]), 1.5)),
    ("unique", lambda m: m.unique(A(m, [3.0, 1.0, 3.0, 2.0]), 4)),
    ("unique all", lambda m: m.unique(A(m, [3.0, 1.0, 3.0, 2.0]), 4, return_index=True, return_inverse=True, return_counts=True)),
    ("unique fill", lambda m: m.unique(A(m, [3.0, 1.0, 3.0]), 4, fill_value=-1)),
    ("median", lambda m: m.median(A(m, X34), axis=0)), ("median nan", lambda m: m.median(A(m, [1.0, np.nan, 3.0]))),
    ("softmax axes", lambda m: m.softmax(A(m, X234), axis=(0, 2))),
    ("count_nonzero", lambda m: m.count_nonzero(A(m, X34), axis=1)),
    ("result_type", lambda m: m.result_type(A(m, [1], "int8"), m.uint8, 2.5)),
    ("can_cast", lambda m: m.can_cast(m.int32, m.float32)), ("can_cast arr", lambda m: m.can_cast(A(m, [1]), m.int8)),
    ("issubdtype", lambda m: m.issubdtype(m.float16, m.floating)), ("issubdtype cat", lambda m: m.issubdtype(m.integer, m.number)),
    ("isdtype", lambda m: m.isdtype(m.int8, "signed integer")), ("isdtype tuple", lambda m: m.isdtype(m.float32, ("integral", m.float32))),
    ("finfo", lambda m: (m.finfo(m.float16).max, m.finfo(m.float32).eps, m.finfo(m.bfloat16).min, m.finfo(m.float32).tiny if hasattr(m.finfo(m.float32), "tiny") else 0)),
    ("iinfo", lambda m: (m.iinfo(m.int8).min, m.iinfo(m.uint64).max, m.iinfo(m.int32).dtype)),
    ("finfo int", lambda m: m.finfo(m.int32)),
    ("asarray", lambda m: m.asarray([1, 2.5])), ("asarray dtype", lambda m: m.asarray([1, 2], dtype=m.int8)),
    ("array nested", lambda m: m.array([[1, 2], [3, 4.5]])), ("array bool int", lambda m: m.array([True, 2])),
    ("array ragged", lambda m: m.array([[1, 2], [3]])), ("array big int", lambda m: m.array([2 ** 40])),
    ("array huge int", lambda m: m.array([2 ** 70])), ("array complex", lambda m: m.array([1 + 2j])),
    ("array scalar", lambda m: m.array(2.5)), ("array int scalar", lambda m: m.array(7)), ("array empty", lambda m: m.array([])),
    ("array np int64", lambda m: m.array(np.array([1, 2], np.int64))), ("array np f64", lambda m: m.array(np.array([1.5]))),
    ("array np u16", lambda m: m.array(np.array([1], np.uint16))),
    ("array dtype", lambda m: m.array([1.7, 2.2], m.int32)), ("array of arrays", lambda m: m.array([m.array([1.0]), m.array([2.0])])),
    ("array of 0d", lambda m: m.array([m.array(1), m.array(2.0)])),
    ("stop_gradient", lambda m: m.stop_gradient(A(m, X34))),
]

ARRAY_METHODS = [
    ("item", lambda m: A(m, [2.5]).item()), ("item int", lambda m: A(m, 3, "int32").item()),
    ("item bool", lambda m: A(m, True).item()), ("item multi", lambda m: A(m, [1.0, 2.0]).item()),
    ("tolist", lambda m: A(m, X34).tolist()), ("tolist 0d", lambda m: A(m, 2.0).tolist()),
    ("tolist bf16", lambda m: A(m, [1.5], "bfloat16").tolist()), ("tolist bool", lambda m: A(m, [True]).tolist()),
    ("size ndim itemsize nbytes", lambda m: (A(m, X34).size, A(m, X34).ndim, A(m, X34).itemsize, A(m, X34).nbytes)),
    ("len", lambda m: len(A(m, X34))), ("len 0d", lambda m: len(A(m, 2.0))),
    ("T", lambda m: A(m, X234).T), ("abs", lambda m: abs(A(m, X34))), ("neg", lambda m: -A(m, X34)),
    ("invert bool", lambda m: ~A(m, [True, False])), ("invert int", lambda m: ~A(m, [1, 2])), ("invert float", lambda m: ~A(m, [1.0])),
    ("pow op", lambda m: A(m, X34) ** 2), ("rpow", lambda m: 2 ** A(m, X34)), ("rsub", lambda m: 1 - A(m, X34)),
    ("rtruediv int", lambda m: 1 / A(m, [1, 2])), ("floordiv", lambda m: A(m, X34) // 2), ("mod", lambda m: A(m, X34) % 3),
    ("rmod", lambda m: 7 % A(m, [2, 3])), ("matmul op", lambda m: A(m, X34) @ A(m, X34.T)),
    ("and", lambda m: A(m, [1, 2]) & 3), ("or bool", lambda m: A(m, [True]) | False), ("xor", lambda m: A(m, [5]) ^ A(m, [3])),
    ("lshift", lambda m: A(m, [1]) << 3), ("rshift", lambda m: A(m, [16]) >> A(m, [2])),
    ("eq", lambda m: A(m, X34) == 0.5), ("ne None", lambda m: A(m, X34) != None), ("eq None", lambda m: A(m, X34) == None),
    ("lt", lambda m: A(m, X34) < A(m, [0.0, 1.0, 2.0, 3.0])),
    ("bool()", lambda m: bool(A(m, [1.0]))), ("bool() multi", lambda m: bool(A(m, [1.0, 2.0]))), ("int()", lambda m: int(A(m, 2.7))),
    ("float()", lambda m: float(A(m, 2, "int32"))), ("float() multi", lambda m: float(A(m, [2.0, 1.0]))),
    ("iter", lambda m: [x for x in A(m, X34)]), ("iter 0d", lambda m: [x for x in A(m, 2.0)]),
    ("methods reshape", lambda m: A(m, X34).reshape(2, 6)), ("methods reshape tuple", lambda m: A(m, X34).reshape((2, 6))),
    ("methods sum", lambda m: A(m, X34).sum(1, keepdims=True)), ("methods max", lambda m: A(m, X34).max()),
    ("methods transpose", lambda m: A(m, X234).transpose(2, 0, 1)), ("methods transpose tuple", lambda m: A(m, X234).transpose((2, 0, 1))),
    ("methods swapaxes", lambda m: A(m, X234).swapaxes(0, 1)), ("methods squeeze", lambda m: A(m, np.ones((1, 2))).squeeze()),
    ("methods flatten", lambda m: A(m, X234).flatten(1)), ("methods astype", lambda m: A(m, X34).astype(m.int16)),
    ("methods round", lambda m: A(m, X34 / 3).round(1)), ("methods var", lambda m: A(m, X34).var(ddof=1)),
    ("methods split", lambda m: A(m, X34).split(2)), ("methods diagonal", lambda m: A(m, X34).diagonal()),
    ("methods cumsum", lambda m: A(m, X34).cumsum()), ("methods logsumexp", lambda m: A(m, X34).logsumexp(0)),
    ("methods argmax", lambda m: A(m, X34).argmax()), ("methods moveaxis", lambda m: A(m, X234).moveaxis(0, 2)),
    ("methods conj", lambda m: A(m, X34).conj()), ("methods view", lambda m: A(m, X34).view(m.int32)),
    ("methods square", lambda m: A(m, X34).square()), ("methods log1p", lambda m: A(m, X34 + 6).log1p()),
    ("methods prod", lambda m: A(m, X34).prod(axis=0)), ("methods std", lambda m: A(m, X34).std()),
    ("methods all", lambda m: A(m, X34).all()), ("methods any", lambda m: A(m, X34).any(axis=0)),
    ("methods abs", lambda m: A(m, X34).abs()), ("methods exp", lambda m: A(m, X34).exp()), ("methods sqrt", lambda m: A(m, X34).sqrt()),
    ("methods reciprocal", lambda m: A(m, X34).reciprocal()), ("methods rsqrt", lambda m: A(m, X34).rsqrt()),
    ("methods min", lambda m: A(m, X34).min(0)), ("methods mean", lambda m: A(m, X34).mean(-1)),
    ("methods cummax", lambda m: A(m, X34).cummax(1)), ("methods argmin", lambda m: A(m, X34).argmin(0, True)),
    ("methods real imag", lambda m: (A(m, X34).real, A(m, X34).imag)),
    ("dtype attr", lambda m: A(m, X34).dtype), ("shape attr", lambda m: A(m, X34).shape),
    ("at add", lambda m: A(m, X34).at[A(m, [0, 0, 1])].add(1.0)), ("at subtract", lambda m: A(m, X34).at[0, 1].subtract(2.0)),
    ("at multiply", lambda m: A(m, X34).at[A(m, [0, 0])].multiply(2.0)), ("at divide", lambda m: A(m, X34).at[1].divide(2.0)),
    ("at max", lambda m: A(m, X34).at[A(m, [0, 0])].maximum(A(m, [[1.0, -9, 2, 3], [5, 5, 5, 5]]))),
    ("at min", lambda m: A(m, X34).at[:, 1].minimum(0.0)),
]

INDEXING = [
    ("int", lambda a: a[1]), ("neg int", lambda a: a[-1]), ("slice", lambda a: a[1:]), ("step", lambda a: a[::-2]),
    ("tuple", lambda a: a[1, 2]), ("ellipsis", lambda a: a[..., 1]), ("None", lambda a: a[None, :, None]),
    ("slice oob", lambda a: a[5:10]), ("slice neg step oob", lambda a: a[10:-10:-1]),
    ("array idx", lambda a: a[[0, 2]]), ("array idx 2d", lambda a: a[[[0, 1], [1, 2]]]),
    ("two arrays", lambda a: a[[0, 1], [2, 3]]), ("array slice array", lambda a: a[[0, 1], :, None]),
    ("bcast arrays", lambda a: a[[[0], [1]], [1, 2]]), ("array then slice", lambda a: a[:, [0, 3]]),
    ("separated arrays", lambda a: a[[0, 1], 1:3]), ("bool scalar", lambda a: a[True]),
    ("int oob", lambda a: a[3]), ("too many", lambda a: a[0, 0, 0]), ("float idx", lambda a: a[1.0]),
    ("neg array", lambda a: a[[-1, -3]]), ("empty list", lambda a: a[[]]), ("0 step", lambda a: a[::0]),
    ("two ellipsis", lambda a: a[..., ...]),
]


def section_misc():
    for case, f in MISC:
        check("misc", case, lambda fw, f=f: f(fw))
    for case, f in ARRAY_METHODS:
        check("array", case, lambda fw, f=f: f(fw))
    for case, f in INDEXING:
        check("index", "get " + case, lambda fw, f=f: f(A(fw, X34)))
        check("index", "get(mlx-array idx) " + case, lambda fw, f=f: f(A(fw, X34)))

        def setter(fw, f=f):
            a = A(fw, X34)
            key = _capture_key(f)
            a[key] = 100.0
            return a
        check("index", "set " + case, setter)
        check("index-grad", "grad get " + case, lambda fw, f=f: fw.grad(lambda y: fw.sum(f(y) * 2))(A(fw, X34)))
    # derivatives of differentiable misc ops with a weighting so every position counts
    grads = [
        ("pad edge", lambda m, y: m.pad(y, 2, mode="edge")), ("pad reflect", lambda m, y: m.pad(y, 1, mode="reflect")),
        ("pad symmetric", lambda m, y: m.pad(y, 1, mode="symmetric")), ("roll", lambda m, y: m.roll(y, 1, 1)),
        ("clip", lambda m, y: m.clip(y, -1.5, 2.5)), ("clip ties", lambda m, y: m.clip(y, -0.5, 0.5)),
        ("diag", lambda m, y: m.diag(y, 1)), ("trace", lambda m, y: m.trace(y)), ("kron", lambda m, y: m.kron(y, y[:2, :2])),
        ("tensordot", lambda m, y: m.tensordot(y, y.T, 1)), ("einsum", lambda m, y: m.einsum("ij,ij->i", y, y)),
        ("take", lambda m, y: m.take(y, m.array([0, 0, 5]))), ("take_along_axis", lambda m, y: m.take_along_axis(y, m.array([[0], [0], [1]]), 1)),
        ("put_along_axis", lambda m, y: m.put_along_axis(y, m.array([[0], [0], [1]]), y[:, :1] * 3, 1)),
        ("where", lambda m, y: m.where(y > 0, y, y * y)), ("nan_to_num", lambda m, y: m.nan_to_num(y)),
        ("cumsum", lambda m, y: m.cumsum(y, 1)), ("sort", lambda m, y: m.sort(y, 1)), ("median", lambda m, y: m.median(y, 1)),
        ("diff", lambda m, y: m.diff(y, 2)), ("convolve", lambda m, y: m.convolve(y[0], y[1])),
        ("hadamard", lambda m, y: m.hadamard_transform(y)), ("matmul", lambda m, y: y @ y.T),
        ("addmm", lambda m, y: m.addmm(y[:, :3], y, y.T[:, :3], 2.0, 0.5)), ("softmax", lambda m, y: m.softmax(y, 1)),
        ("logaddexp", lambda m, y: m.logaddexp(y, y.T[:3, :3].sum() * 0 + 0.5)), ("std", lambda m, y: m.std(y, 0)),
        ("var ddof", lambda m, y: m.var(y, 1, ddof=1)), ("repeat", lambda m, y: m.repeat(y, 2, 1)), ("tile", lambda m, y: m.tile(y, 2)),
        ("as_strided", lambda m, y: m.as_strided(y, (2, 2), (1, 4), 1)), ("split", lambda m, y: m.split(y, [1, 3], 1)[1]),
        ("atleast_3d", lambda m, y: m.atleast_3d(y)), ("outer", lambda m, y: m.outer(y[0], y[1])),
        ("inner", lambda m, y: m.inner(y, y)), ("slice_update-like at.add", lambda m, y: y.at[m.array([0, 0])].add(y[1])),
        ("at.max", lambda m, y: y.at[m.array([0, 0])].maximum(y[1:3])),
        ("block_masked_mm", lambda m, y: m.block_masked_mm(y[:2, :2], y[:2, :2], block_size=1)),
        ("gather_mm", lambda m, y: m.gather_mm(y.reshape(3, 1, 4), y.T.reshape(1, 4, 3), m.array([2, 0], m.uint32), m.array([0, 0], m.uint32))),
        ("round", lambda m, y: m.round(y, 1)), ("unflatten", lambda m, y: m.unflatten(y, 1, (2, 2))),
    ]
    rng = np.random.default_rng(5)
    base = rng.standard_normal((3, 4)).round(2)
    wts = rng.standard_normal(200)
    check_grads("misc-grad", grads, base, wts, ties=True)


def check_grads(section, cases, base, wts, ties=False, **tol):
    """grad of a weighted sum of f(y) (so every output position counts) and jvp along ones,
    for each (name, f(fw, y)) in cases; with ties, grad again at base rounded to integers."""
    for case, f in cases:
        def loss(fw, y, f=f):
            out = f(fw, y)
            w = fw.array(wts[: out.size].astype(np.float32)).reshape(out.shape)
            return fw.sum(out * w)
        check(section, "grad " + case, lambda fw, loss=loss: fw.grad(lambda y: loss(fw, y))(A(fw, base)), **tol)
        if ties:
            check(section, "grad ties " + case,
                  lambda fw, loss=loss: fw.grad(lambda y: loss(fw, y))(A(fw, np.round(base))), **tol)
        check(section, "jvp " + case,
              lambda fw, f=f: fw.jvp(lambda y: f(fw, y), [A(fw, base)], [A(fw, np.ones(base.shape))])[1], **tol)


def _capture_key(f):
    """The key f uses, by indexing a recorder."""
    class Rec:
        def __getitem__(self, k):
            return k
    k = f(Rec())
    return k



# --------------------------------------------------------------------------------------
# linalg and fft
# --------------------------------------------------------------------------------------

SPD = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
GEN = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -0.7], [1.0, 0.2, 3.0]])


def cpu(m):
    return {"stream": m.cpu}


LINALG = [
    ("norm", lambda m: m.linalg.norm(A(m, X34))), ("norm vec", lambda m: m.linalg.norm(A(m, [3.0, 4.0]))),
    ("norm ord 1 vec", lambda m: m.linalg.norm(A(m, [3.0, -4.0]), 1)), ("norm ord inf vec", lambda m: m.linalg.norm(A(m, [3.0, -4.0]), np.inf)),
    ("norm ord -inf vec", lambda m: m.linalg.norm(A(m, [3.0, -4.0]), -np.inf)), ("norm ord 0 vec", lambda m: m.linalg.norm(A(m, [3.0, 0.0]), 0)),
    ("norm ord 3 vec", lambda m: m.linalg.norm(A(m, [3.0, -4.0]), 3)), ("norm ord -1 vec", lambda m: m.linalg.norm(A(m, [3.0, -4.0]), -1)),
    ("norm fro", lambda m: m.linalg.norm(A(m, X34), "fro")), ("norm nuc", lambda m: m.linalg.norm(A(m, X34), "nuc", **cpu(m))),
    ("norm mat 1", lambda m: m.linalg.norm(A(m, X34), 1)), ("norm mat -1", lambda m: m.linalg.norm(A(m, X34), -1)),
    ("norm mat inf", lambda m: m.linalg.norm(A(m, X34), np.inf)), ("norm mat 2", lambda m: m.linalg.norm(A(m, X34), 2, **cpu(m))),
    ("norm mat -2", lambda m: m.linalg.norm(A(m, X34), -2, **cpu(m))), ("norm axis", lambda m: m.linalg.norm(A(m, X234), axis=1)),
    ("norm axes", lambda m: m.linalg.norm(A(m, X234), axis=(0, 2))), ("norm keepdims", lambda m: m.linalg.norm(A(m, X234), axis=-1, keepdims=True)),
    ("norm 3d noaxis", lambda m: m.linalg.norm(A(m, X234))), ("norm 3d ord", lambda m: m.linalg.norm(A(m, X234), 2)),
    ("norm fro vec", lambda m: m.linalg.norm(A(m, [1.0]), "fro")), ("norm int", lambda m: m.linalg.norm(A(m, [3, 4], "int32"))),
    ("norm f16", lambda m: m.linalg.norm(A(m, [3, 4], "float16"))), ("norm bad str", lambda m: m.linalg.norm(A(m, X34), "foo")),
    ("norm empty", lambda m: m.linalg.norm(A(m, np.zeros((0,))))),
    ("inv", lambda m: m.linalg.inv(A(m, GEN), **cpu(m))), ("inv batch", lambda m: m.linalg.inv(A(m, np.stack([GEN, SPD])), **cpu(m))),
    ("inv singular", lambda m: m.linalg.inv(A(m, np.ones((2, 2))), **cpu(m))), ("inv nonsquare", lambda m: m.linalg.inv(A(m, X34), **cpu(m))),
    ("inv int", lambda m: m.linalg.inv(A(m, [[2, 0], [0, 4]], "int32"), **cpu(m))), ("inv f64", lambda m: m.linalg.inv(A(m, GEN, "float64"), **cpu(m))),
    ("inv 1d", lambda m: m.linalg.inv(A(m, [1.0]), **cpu(m))),
    ("tri_inv", lambda m: m.linalg.tri_inv(A(m, np.tril(GEN)), **cpu(m))), ("tri_inv upper", lambda m: m.linalg.tri_inv(A(m, np.triu(GEN)), upper=True, **cpu(m))),
    ("cholesky", lambda m: m.linalg.cholesky(A(m, SPD), **cpu(m))), ("cholesky upper", lambda m: m.linalg.cholesky(A(m, SPD), upper=True, **cpu(m))),
    ("cholesky not spd", lambda m: m.linalg.cholesky(A(m, GEN - 3 * np.eye(3)), **cpu(m))),
    ("cholesky_inv", lambda m: m.linalg.cholesky_inv(A(m, np.linalg.cholesky(SPD)), **cpu(m))),
    ("cholesky_inv upper", lambda m: m.linalg.cholesky_inv(A(m, np.linalg.cholesky(SPD).T), upper=True, **cpu(m))),
    ("qr", lambda m: m.linalg.qr(A(m, GEN), **cpu(m))), ("qr wide", lambda m: m.linalg.qr(A(m, X34), **cpu(m))),
    ("qr tall", lambda m: m.linalg.qr(A(m, np.vstack([GEN, [1.0, 2.0, 0.5]])), **cpu(m))),
    ("svd", lambda m: m.linalg.svd(A(m, SPD), **cpu(m))), ("svd S", lambda m: m.linalg.svd(A(m, X34), compute_uv=False, **cpu(m))),
    ("svd shapes", lambda m: [x.shape for x in m.linalg.svd(A(m, X34), **cpu(m))]),
    ("eigh", lambda m: m.linalg.eigh(A(m, SPD), **cpu(m))), ("eigh U", lambda m: m.linalg.eigvalsh(A(m, np.triu(SPD)), UPLO="U", **cpu(m))),
    ("eigvalsh", lambda m: m.linalg.eigvalsh(A(m, SPD), **cpu(m))),
    ("eigvals", lambda m: m.linalg.eigvals(A(m, SPD), **cpu(m))), ("eig shapes", lambda m: [(x.shape, x.dtype) for x in m.linalg.eig(A(m, GEN), **cpu(m))]),
    ("lu", lambda m: m.linalg.lu(A(m, GEN), **cpu(m))), ("lu_factor", lambda m: m.linalg.lu_factor(A(m, GEN), **cpu(m))),
    ("lu wide", lambda m: m.linalg.lu(A(m, X34), **cpu(m))),
    ("solve", lambda m: m.linalg.solve(A(m, GEN), A(m, [1.0, 2.0, 3.0]), **cpu(m))),
    ("solve mat", lambda m: m.linalg.solve(A(m, GEN), A(m, X34[:, :3].T), **cpu(m))),
    ("solve batch bcast", lambda m: m.linalg.solve(A(m, np.stack([GEN, SPD])), A(m, [1.0, 2.0, 3.0]), **cpu(m))),
    ("solve bad", lambda m: m.linalg.solve(A(m, GEN), A(m, [1.0, 2.0]), **cpu(m))),
    ("solve_triangular", lambda m: m.linalg.solve_triangular(A(m, np.tril(GEN)), A(m, [1.0, 2.0, 3.0]), **cpu(m))),
    ("solve_triangular upper", lambda m: m.linalg.solve_triangular(A(m, np.triu(GEN)), A(m, X34[:, :3].T), upper=True, **cpu(m))),
    ("pinv", lambda m: m.linalg.pinv(A(m, X34), **cpu(m))), ("pinv square", lambda m: m.linalg.pinv(A(m, GEN), **cpu(m))),
    ("det", lambda m: m.linalg.det(A(m, GEN), **cpu(m))), ("det singular", lambda m: m.linalg.det(A(m, np.ones((3, 3))), **cpu(m))),
    ("slogdet", lambda m: m.linalg.slogdet(A(m, GEN), **cpu(m))), ("slogdet neg", lambda m: m.linalg.slogdet(A(m, -np.eye(3)), **cpu(m))),
    ("slogdet singular", lambda m: m.linalg.slogdet(A(m, np.ones((3, 3))), **cpu(m))),
    ("cross", lambda m: m.linalg.cross(A(m, [1.0, 2.0, 3.0]), A(m, [4.0, 5.0, 6.0]))),
    ("cross bcast", lambda m: m.linalg.cross(A(m, X34[:, :3]), A(m, [4.0, 5.0, 6.0]))),
    ("cross axis", lambda m: m.linalg.cross(A(m, X34[:, :3].T), A(m, X34[:, 1:].T), axis=0)),
    ("cross 2", lambda m: m.linalg.cross(A(m, [1.0, 2.0]), A(m, [4.0, 5.0]))),
    ("cross int", lambda m: m.linalg.cross(A(m, [1, 2, 3]), A(m, [4, 5, 6]))),
]


def _sign_fix(fw, outs):
    # eigenvectors / singular vectors are unique up to sign: compare |values|
    return [fw.abs(o) for o in outs]


LINALG_GRAD = [
    ("inv", lambda m, y: m.linalg.inv(y, **cpu(m))), ("cholesky", lambda m, y: m.linalg.cholesky(y @ y.T + 3 * m.eye(3), **cpu(m))),
    ("solve", lambda m, y: m.linalg.solve(y + 3 * m.eye(3), y[:, 0], **cpu(m))),
    ("solve_triangular", lambda m, y: m.linalg.solve_triangular(m.tril(y) + 3 * m.eye(3), y[0], **cpu(m))),
    ("det", lambda m, y: m.linalg.det(y, **cpu(m))), ("slogdet", lambda m, y: m.linalg.slogdet(y, **cpu(m))[1]),
    ("norm", lambda m, y: m.linalg.norm(y)), ("norm 1", lambda m, y: m.linalg.norm(y, 1)),
    ("norm inf vec", lambda m, y: m.linalg.norm(y[0], np.inf)), ("norm nuc", lambda m, y: m.linalg.norm(y, "nuc", **cpu(m))),
    ("norm 2", lambda m, y: m.linalg.norm(y, 2, **cpu(m))), ("eigvalsh", lambda m, y: m.linalg.eigvalsh(y + y.T, **cpu(m))),
    ("svd S", lambda m, y: m.linalg.svd(y, compute_uv=False, **cpu(m))), ("qr R", lambda m, y: m.linalg.qr(y, **cpu(m))[1]),
    ("pinv", lambda m, y: m.linalg.pinv(y, **cpu(m))), ("cross", lambda m, y: m.linalg.cross(y[0], y[1])),
    ("tri_inv", lambda m, y: m.linalg.tri_inv(m.tril(y) + 3 * m.eye(3), **cpu(m))),
    ("cholesky_inv", lambda m, y: m.linalg.cholesky_inv(m.tril(y) + 3 * m.eye(3), **cpu(m))),
    ("lu U", lambda m, y: m.linalg.lu(y, **cpu(m))[2]), ("eigh vals", lambda m, y: m.linalg.eigh(y + y.T, **cpu(m))[0]),
]


def section_linalg():
    for case, f in LINALG:
        if case in ("eigh", "svd", "qr", "qr wide", "qr tall", "lu", "lu_factor"):
            check("linalg", case, lambda fw, f=f: _sign_fix(fw, f(fw)), rtol=1e-4, atol=1e-5)
        else:
            check("linalg", case, lambda fw, f=f: f(fw), rtol=1e-4, atol=1e-5)
    rng = np.random.default_rng(7)
    base = GEN + 0.1 * rng.standard_normal((3, 3))
    wts = rng.standard_normal(9)
    check_grads("linalg-grad", LINALG_GRAD, base, wts, rtol=1e-3, atol=1e-4)
    check("linalg-grad", "grad norm at 0", lambda fw: fw.grad(lambda y: fw.linalg.norm(y))(A(fw, np.zeros((2, 2)))))
    check("linalg-grad", "grad norm 1 at 0", lambda fw: fw.grad(lambda y: fw.linalg.norm(y, 1))(A(fw, np.array([0.0, 1.0, -2.0]))))
    check("linalg-grad", "grad norm inf ties", lambda fw: fw.grad(lambda y: fw.linalg.norm(y, np.inf))(A(fw, np.array([2.0, -2.0, 1.0]))))


FFT = [
    ("fft", lambda m, x: m.fft.fft(x)), ("fft n pad", lambda m, x: m.fft.fft(x, 6)), ("fft n crop", lambda m, x: m.fft.fft(x, 2, axis=0)),
    ("ifft", lambda m, x: m.fft.ifft(x)), ("rfft", lambda m, x: m.fft.rfft(x)), ("rfft n", lambda m, x: m.fft.rfft(x, 5)),
    ("irfft", lambda m, x: m.fft.irfft(m.fft.rfft(x))), ("irfft n", lambda m, x: m.fft.irfft(m.fft.rfft(x), 5)),
    ("fft2", lambda m, x: m.fft.fft2(x)), ("ifft2", lambda m, x: m.fft.ifft2(x)), ("rfft2", lambda m, x: m.fft.rfft2(x)),
    ("irfft2", lambda m, x: m.fft.irfft2(m.fft.rfft2(x))), ("fftn", lambda m, x: m.fft.fftn(x)), ("ifftn", lambda m, x: m.fft.ifftn(x)),
    ("rfftn", lambda m, x: m.fft.rfftn(x)), ("irfftn", lambda m, x: m.fft.irfftn(m.fft.rfftn(x))),
    ("fftn s", lambda m, x: m.fft.fftn(x, s=(2, 5))), ("fftn axes", lambda m, x: m.fft.fftn(x, axes=(0,))),
    ("rfftn s axes", lambda m, x: m.fft.rfftn(x, s=(4, 2), axes=(1, 0))), ("fft2 s", lambda m, x: m.fft.fft2(x, s=(3, 3))),
    ("fft norm ortho", lambda m, x: m.fft.fft(x, norm="ortho") if "norm" in _kw(m.fft.fft) else m.fft.fft(x) / 2),
    ("fftshift", lambda m, x: m.fft.fftshift(x)), ("ifftshift", lambda m, x: m.fft.ifftshift(x, axes=[1])),
    ("fftfreq", lambda m, x: m.fft.fftfreq(5, 0.5)), ("rfftfreq", lambda m, x: m.fft.rfftfreq(6)),
    ("fft int", lambda m, x: m.fft.fft(x.astype(m.int32))), ("fft f64", lambda m, x: m.fft.fft(x.astype(m.float64))),
    ("fft bad n", lambda m, x: m.fft.fft(x, 0)), ("fft 0d", lambda m, x: m.fft.fft(x[0, 0])),
    ("irfft odd", lambda m, x: m.fft.irfft(x.astype(m.complex64), 7)),
    ("stft", lambda m, x: m.fft.stft(m.arange(64.0), 16)), ("istft", lambda m, x: m.fft.istft(m.fft.stft(m.arange(64.0), 16), 16)),
]


def _kw(f):
    sig = parse_sig(f) or []
    return [n for n, _, _ in sig]


def section_fft():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4)).round(2)
    for case, f in FFT:
        check("fft", case, lambda fw, f=f: f(fw, A(fw, x)), rtol=1e-4, atol=1e-4)
    w = rng.standard_normal(64)
    for case, f in FFT[:20]:
        def loss(fw, y, f=f):
            out = f(fw, y)
            out = fw.real(out) + 2 * fw.imag(out) if out.dtype == fw.complex64 else out
            ww = fw.array(w[: out.size].astype(np.float32)).reshape(out.shape)
            return fw.sum(out * ww)
        check("fft-grad", "grad " + case, lambda fw, loss=loss: fw.grad(lambda y: loss(fw, y))(A(fw, x)), rtol=1e-4, atol=1e-4)



# --------------------------------------------------------------------------------------
# nn: activations, layers (weights copied over), losses, init
# --------------------------------------------------------------------------------------

def _nn(fw):
    if fw is M:
        import mlx.nn as nn
    else:
        import pullback.nn as nn
    return nn


def _opt(fw):
    if fw is M:
        import mlx.optimizers as o
    else:
        import pullback.optimizers as o
    return o


def _utils(fw):
    if fw is M:
        import mlx.utils as u
    else:
        import pullback.utils as u
    return u


ACTS = ["celu", "elu", "gelu", "gelu_approx", "gelu_fast_approx", "glu", "hard_shrink", "hard_tanh",
        "hardswish", "leaky_relu", "log_sigmoid", "log_softmax", "mish", "relu", "relu2", "relu6",
        "selu", "sigmoid", "silu", "softmax", "softmin", "softplus", "softshrink", "softsign", "step", "tanh"]
ACT_LAYERS = [("CELU", ()), ("ELU", ()), ("GELU", ()), ("GELU", ("precise",)), ("GELU", ("tanh",)), ("GELU", ("fast",)),
              ("GLU", ()), ("HardShrink", ()), ("HardTanh", ()), ("Hardswish", ()), ("LeakyReLU", ()), ("LeakyReLU", (0.2,)),
              ("LogSigmoid", ()), ("LogSoftmax", ()), ("Mish", ()), ("PReLU", ()), ("ReLU", ()), ("ReLU2", ()), ("ReLU6", ()),
              ("SELU", ()), ("SiLU", ()), ("Sigmoid", ()), ("Softmax", ()), ("Softmin", ()), ("Softplus", ()),
              ("Softshrink", ()), ("Softsign", ()), ("Step", ()), ("Step", (0.5,)), ("Tanh", ()), ("Identity", ())]


def copy_params(src_fw, src_model, dst_fw, dst_model):
    flat = _utils(src_fw).tree_flatten(src_model.parameters())
    params = [(k, dst_fw.array(np.array(v.astype(src_fw.float32)) if dname(v.dtype) in ("bfloat16",) else np.array(v))) for k, v in flat]
    dst_model.update(_utils(dst_fw).tree_unflatten(params))


def layer_case(name, ctor, x, train=False):
    """Build the layer in mlx, copy its parameters into ours, compare the forward pass."""
    def run(fw):
        nn = _nn(fw)
        M.random.seed(0)
        lm = ctor(_nn(M))
        if fw is M:
            model = lm
        else:
            model = ctor(nn)
            copy_params(M, lm, P, model)
        if not train:
            model.eval()
        xs = x if isinstance(x, tuple) else (x,)
        return model(*[A(fw, v) if isinstance(v, np.ndarray) else v for v in xs])
    return run


def section_nn():
    rng = np.random.default_rng(11)
    xa = np.concatenate([SPECIAL[np.isfinite(SPECIAL)], rng.standard_normal(6).round(2), [0.5, 1.0, 6.0, -6.0, 20.0, -20.0]])
    x4 = xa[: 16].reshape(4, 4)
    for name in ACTS:
        check("nn-act", name, lambda fw, n=name: getattr(_nn(fw), n)(A(fw, x4)))
        check("nn-act", name + " f16", lambda fw, n=name: getattr(_nn(fw), n)(A(fw, x4, "float16")))
        check("nn-act", name + " int", lambda fw, n=name: getattr(_nn(fw), n)(A(fw, np.array([[-2, 0], [1, 3]]), "int32")))
        check("nn-act", name + " inf/nan", lambda fw, n=name: getattr(_nn(fw), n)(A(fw, np.array([[-np.inf, np.inf], [np.nan, 0.0]]))))
        check("nn-act-grad", "grad " + name, lambda fw, n=name: fw.grad(lambda y: fw.sum(getattr(_nn(fw), n)(y) * fw.arange(16.0).reshape(4, 4)))(A(fw, x4)))
        check("nn-act-grad", "grad at 0 " + name, lambda fw, n=name: fw.grad(lambda y: fw.sum(getattr(_nn(fw), n)(y)))(A(fw, np.zeros((2, 2)))))
    check("nn-act", "prelu", lambda fw: _nn(fw).prelu(A(fw, x4), A(fw, [0.1, 0.2, 0.3, 0.4])))
    check("nn-act", "leaky_relu slope", lambda fw: _nn(fw).leaky_relu(A(fw, x4), 0.3))
    check("nn-act", "hard_tanh args", lambda fw: _nn(fw).hard_tanh(A(fw, x4), -0.5, 2.0))
    check("nn-act", "glu axis", lambda fw: _nn(fw).glu(A(fw, x4), 0))
    check("nn-act", "glu odd", lambda fw: _nn(fw).glu(A(fw, x4[:, :3])))
    check("nn-act", "softmax axis", lambda fw: _nn(fw).softmax(A(fw, x4), axis=0))
    check("nn-act", "celu alpha", lambda fw: _nn(fw).celu(A(fw, x4), 2.0))
    for name, args in ACT_LAYERS:
        check("nn-actlayer", "%s%r" % (name, args), layer_case(name, lambda nn, n=name, a=args: getattr(nn, n)(*a), x4))

    img = rng.standard_normal((2, 6, 6, 3)).round(2)
    seq = rng.standard_normal((2, 7, 4)).round(2)
    vol = rng.standard_normal((1, 4, 4, 4, 2)).round(2)
    layers = [
        ("Linear", lambda nn: nn.Linear(4, 3), seq), ("Linear nobias", lambda nn: nn.Linear(4, 3, bias=False), seq),
        ("Bilinear", lambda nn: nn.Bilinear(4, 4, 2), (seq, seq)), ("Embedding", lambda nn: nn.Embedding(10, 3), np.array([[1, 2], [9, 0]])),
        ("Conv1d", lambda nn: nn.Conv1d(4, 5, 3, stride=2, padding=1), seq), ("Conv1d groups", lambda nn: nn.Conv1d(4, 4, 3, groups=2, dilation=2), seq),
        ("Conv2d", lambda nn: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1), img), ("Conv3d", lambda nn: nn.Conv3d(2, 3, 2), vol),
        ("ConvTranspose1d", lambda nn: nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1), seq),
        ("ConvTranspose2d", lambda nn: nn.ConvTranspose2d(3, 2, 3, stride=2), img), ("ConvTranspose3d", lambda nn: nn.ConvTranspose3d(2, 2, 2, stride=2), vol),
        ("LayerNorm", lambda nn: nn.LayerNorm(4), seq), ("LayerNorm noaffine", lambda nn: nn.LayerNorm(4, affine=False), seq),
        ("LayerNorm nobias", lambda nn: nn.LayerNorm(4, bias=False), seq), ("RMSNorm", lambda nn: nn.RMSNorm(4), seq),
        ("GroupNorm", lambda nn: nn.GroupNorm(2, 4), seq), ("GroupNorm pt", lambda nn: nn.GroupNorm(2, 4, pytorch_compatible=True), seq),
        ("InstanceNorm", lambda nn: nn.InstanceNorm(4), seq), ("InstanceNorm affine", lambda nn: nn.InstanceNorm(4, affine=True), seq),
        ("BatchNorm eval", lambda nn: nn.BatchNorm(4), seq), ("BatchNorm 4d", lambda nn: nn.BatchNorm(3), img),
        ("MaxPool1d", lambda nn: nn.MaxPool1d(2), seq), ("MaxPool1d stride pad", lambda nn: nn.MaxPool1d(3, 2, 1), seq),
        ("AvgPool1d", lambda nn: nn.AvgPool1d(3, 1, 1), seq), ("MaxPool2d", lambda nn: nn.MaxPool2d(2), img),
        ("AvgPool2d", lambda nn: nn.AvgPool2d((2, 3), (1, 2), (1, 1)), img), ("MaxPool3d", lambda nn: nn.MaxPool3d(2), vol),
        ("AvgPool3d", lambda nn: nn.AvgPool3d(2, 1), vol),
        ("Upsample nearest", lambda nn: nn.Upsample(2), img), ("Upsample linear", lambda nn: nn.Upsample(2, "linear"), img),
        ("Upsample linear ac", lambda nn: nn.Upsample((1.5, 2), "linear", align_corners=True), img),
        ("Upsample cubic", lambda nn: nn.Upsample(2, "cubic"), img), ("Upsample cubic ac", lambda nn: nn.Upsample(2, "cubic", align_corners=True), img),
        ("Upsample 1d", lambda nn: nn.Upsample(3, "linear"), seq),
        ("RoPE", lambda nn: nn.RoPE(4), seq), ("RoPE trad", lambda nn: nn.RoPE(4, traditional=True, base=100, scale=0.5), seq),
        ("RoPE offset", lambda nn: nn.RoPE(2), (seq, 3)),
        ("SinusoidalPE", lambda nn: nn.SinusoidalPositionalEncoding(4), np.arange(5.0)),
        ("SinusoidalPE opts", lambda nn: nn.SinusoidalPositionalEncoding(6, cos_first=True, full_turns=True, scale=0.5), np.arange(5.0)),
        ("ALiBi", lambda nn: nn.ALiBi(), (np.zeros((1, 2, 3, 3)),)),
        ("MultiHeadAttention", lambda nn: nn.MultiHeadAttention(4, 2), (seq, seq, seq)),
        ("MultiHeadAttention bias", lambda nn: nn.MultiHeadAttention(4, 2, bias=True, value_dims=6), (seq, seq, seq)),
        ("MHA mask", lambda nn: nn.MultiHeadAttention(4, 2), (seq, seq, seq, None)),
        ("RNN", lambda nn: nn.RNN(4, 3), seq), ("GRU", lambda nn: nn.GRU(4, 3), seq), ("LSTM", lambda nn: nn.LSTM(4, 3), seq),
        ("RNN nobias", lambda nn: nn.RNN(4, 3, bias=False), seq[0]), ("GRU 2d", lambda nn: nn.GRU(4, 3), seq[0]),
        ("TransformerEncoderLayer", lambda nn: nn.TransformerEncoderLayer(4, 2, 8), (seq, None)),
        ("TransformerEncoder", lambda nn: nn.TransformerEncoder(2, 4, 2), (seq, None)),
        ("TransformerEncoder post", lambda nn: nn.TransformerEncoder(1, 4, 2, norm_first=False), (seq, None)),
        ("TransformerDecoder", lambda nn: nn.TransformerDecoder(1, 4, 2), (seq, seq, None, None)),
        ("Transformer", lambda nn: nn.Transformer(4, 2, 1, 1, 8), (seq, seq, None, None, None)),
        ("Sequential", lambda nn: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), seq),
        ("Dropout eval", lambda nn: nn.Dropout(0.5), seq), ("Dropout2d eval", lambda nn: nn.Dropout2d(), img),
        ("Dropout p=0 train", lambda nn: nn.Dropout(0.0), seq),
    ]
    for case, ctor, x in layers:
        check("nn-layer", case, layer_case(case, ctor, x), rtol=1e-4, atol=1e-5)
        # parameter names, shapes, dtypes match
        check("nn-params", case, lambda fw, ctor=ctor: sorted((k, tuple(v.shape), dname(v.dtype)) for k, v in
                                                             _utils(fw).tree_flatten(ctor(_nn(fw)).parameters())))
    check("nn-layer", "BatchNorm train", layer_case("bn", lambda nn: nn.BatchNorm(4), seq, train=True), rtol=1e-4, atol=1e-5)

    def bn_stats(fw):
        nn = _nn(fw)
        bn = nn.BatchNorm(4)
        bn(A(fw, seq))
        return bn.running_mean, bn.running_var
    check("nn-layer", "BatchNorm running stats", bn_stats, rtol=1e-4, atol=1e-5)
    check("nn-layer", "MHA causal mask", lambda fw: _nn(fw).MultiHeadAttention.create_additive_causal_mask(4))
    check("nn-layer", "Module state keys", lambda fw: sorted(k for k, _ in _utils(fw).tree_flatten(_nn(fw).Sequential(_nn(fw).Linear(2, 2), _nn(fw).LayerNorm(2)).parameters())))
    check("nn-layer", "trainable after freeze", lambda fw: sorted(k for k, _ in _utils(fw).tree_flatten(_frozen(fw).trainable_parameters())))
    check("nn-layer", "Module repr-ish", lambda fw: [type(m).__name__ for m in _nn(fw).Sequential(_nn(fw).Linear(2, 2), _nn(fw).ReLU()).modules()])

    def vg(fw):
        nn = _nn(fw)
        M.random.seed(0)
        lm = _nn(M).Linear(4, 2)
        model = lm if fw is M else nn.Linear(4, 2)
        if fw is P:
            copy_params(M, lm, P, model)
        loss_fn = lambda mdl, x: fw.mean(mdl(x) ** 2)
        return nn.value_and_grad(model, loss_fn)(model, A(fw, seq))
    check("nn-layer", "nn.value_and_grad", vg, rtol=1e-4, atol=1e-6)


def _frozen(fw):
    nn = _nn(fw)
    m = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    m.freeze()
    m.layers[1].unfreeze()
    return m


def section_losses():
    rng = np.random.default_rng(13)
    logits = rng.standard_normal((4, 5)).round(2)
    tgt = np.array([0, 3, 4, 1])
    probs = 1 / (1 + np.exp(-logits))
    y01 = (rng.random((4, 5)) > 0.5).astype(np.float64)
    pred = rng.standard_normal((4, 5)).round(2)
    L = lambda fw: _nn(fw).losses
    cases = [
        ("cross_entropy", lambda fw: L(fw).cross_entropy(A(fw, logits), A(fw, tgt))),
        ("cross_entropy probs", lambda fw: L(fw).cross_entropy(A(fw, logits), A(fw, np.eye(5)[tgt]))),
        ("cross_entropy smooth", lambda fw: L(fw).cross_entropy(A(fw, logits), A(fw, tgt), label_smoothing=0.1, reduction="mean")),
        ("cross_entropy weights", lambda fw: L(fw).cross_entropy(A(fw, logits), A(fw, tgt), weights=A(fw, [1.0, 2, 0, 1]), reduction="sum")),
        ("cross_entropy axis", lambda fw: L(fw).cross_entropy(A(fw, logits.T), A(fw, tgt), axis=0)),
        ("cross_entropy bad red", lambda fw: L(fw).cross_entropy(A(fw, logits), A(fw, tgt), reduction="avg")),
        ("binary_cross_entropy", lambda fw: L(fw).binary_cross_entropy(A(fw, logits), A(fw, y01))),
        ("bce probs", lambda fw: L(fw).binary_cross_entropy(A(fw, probs), A(fw, y01), with_logits=False)),
        ("bce probs edge", lambda fw: L(fw).binary_cross_entropy(A(fw, [0.0, 1.0, 0.5]), A(fw, [0.0, 0.0, 1.0]), with_logits=False, reduction="none")),
        ("bce weights", lambda fw: L(fw).binary_cross_entropy(A(fw, logits), A(fw, y01), weights=A(fw, np.ones(5) * 0.5), reduction="sum")),
        ("l1_loss", lambda fw: L(fw).l1_loss(A(fw, pred), A(fw, logits))), ("mse_loss", lambda fw: L(fw).mse_loss(A(fw, pred), A(fw, logits), "none")),
        ("nll_loss", lambda fw: L(fw).nll_loss(A(fw, np.log(np.abs(probs))), A(fw, tgt))),
        ("gaussian_nll", lambda fw: L(fw).gaussian_nll_loss(A(fw, pred), A(fw, logits), A(fw, probs))),
        ("gaussian_nll full", lambda fw: L(fw).gaussian_nll_loss(A(fw, pred), A(fw, logits), A(fw, probs), full=True, reduction="none")),
        ("kl_div", lambda fw: L(fw).kl_div_loss(A(fw, np.log(probs)), A(fw, np.log(probs[::-1])))),
        ("smooth_l1", lambda fw: L(fw).smooth_l1_loss(A(fw, pred), A(fw, logits), beta=0.5)),
        ("triplet", lambda fw: L(fw).triplet_loss(A(fw, pred), A(fw, logits), A(fw, probs))),
        ("triplet p1", lambda fw: L(fw).triplet_loss(A(fw, pred), A(fw, logits), A(fw, probs), p=1, margin=0.5, reduction="mean")),
        ("hinge", lambda fw: L(fw).hinge_loss(A(fw, pred), A(fw, np.sign(logits)))),
        ("huber", lambda fw: L(fw).huber_loss(A(fw, pred), A(fw, logits), delta=0.7)),
        ("log_cosh", lambda fw: L(fw).log_cosh_loss(A(fw, pred), A(fw, logits))),
        ("cosine_similarity", lambda fw: L(fw).cosine_similarity_loss(A(fw, pred), A(fw, logits))),
        ("cosine_similarity zero", lambda fw: L(fw).cosine_similarity_loss(A(fw, np.zeros((2, 3))), A(fw, np.ones((2, 3))))),
        ("margin_ranking", lambda fw: L(fw).margin_ranking_loss(A(fw, pred[0]), A(fw, logits[0]), A(fw, np.sign(probs[0] - 0.5)), margin=0.1)),
        ("mse shape mismatch", lambda fw: L(fw).mse_loss(A(fw, pred), A(fw, logits[0]))),
        ("l1 int", lambda fw: L(fw).l1_loss(A(fw, [1, 2], "int32"), A(fw, [2, 2], "int32"))),
    ]
    for case, f in cases:
        check("losses", case, f, rtol=1e-4, atol=1e-5)
    grads = [
        ("cross_entropy", lambda fw, y: L(fw).cross_entropy(y, A(fw, tgt), label_smoothing=0.1, reduction="mean")),
        ("bce", lambda fw, y: L(fw).binary_cross_entropy(y, A(fw, y01))),
        ("huber at delta", lambda fw, y: L(fw).huber_loss(y, y * 0 + A(fw, logits), delta=1.0, reduction="sum")),
        ("smooth_l1", lambda fw, y: L(fw).smooth_l1_loss(y, A(fw, logits))), ("l1 at 0", lambda fw, y: L(fw).l1_loss(y, y * 0 + A(fw, pred))),
        ("hinge", lambda fw, y: L(fw).hinge_loss(y, A(fw, np.sign(logits)), reduction="sum")),
        ("triplet", lambda fw, y: L(fw).triplet_loss(y, A(fw, logits), A(fw, probs), reduction="sum")),
        ("cosine", lambda fw, y: L(fw).cosine_similarity_loss(y, A(fw, logits), reduction="sum")),
        ("log_cosh", lambda fw, y: L(fw).log_cosh_loss(y, A(fw, logits), reduction="sum")),
        ("kl", lambda fw, y: L(fw).kl_div_loss(y, A(fw, np.log(probs)), reduction="sum")),
        ("gaussian_nll", lambda fw, y: L(fw).gaussian_nll_loss(y, A(fw, logits), A(fw, probs))),
    ]
    for case, f in grads:
        check("losses-grad", case, lambda fw, f=f: fw.grad(lambda y: f(fw, y))(A(fw, pred)), rtol=1e-4, atol=1e-5)
    check("losses-grad", "l1 ties", lambda fw: fw.grad(lambda y: L(fw).l1_loss(y, A(fw, pred)))(A(fw, pred)))


def section_init():
    for name, args in [("constant", (0.5,)), ("identity", ()), ("normal", ()), ("uniform", ()), ("glorot_normal", ()),
                       ("glorot_uniform", ()), ("he_normal", ()), ("he_uniform", ()), ("orthogonal", ()), ("sparse", (0.5,))]:
        for shape in ((3, 3), (4, 2), (2, 3, 4)):
            def shp(fw, n=name, a=args, s=shape):
                init = getattr(_nn(fw).init, n)(*a)
                out = init(fw.zeros(s))
                return (tuple(out.shape), dname(out.dtype))
            check("init", "%s %s" % (name, shape), shp)
        check("init", "%s dtype" % name, lambda fw, n=name, a=args: dname(getattr(_nn(fw).init, n)(*a, dtype=fw.float16)(fw.zeros((3, 3))).dtype))
    check("init", "constant value", lambda fw: _nn(fw).init.constant(0.5)(fw.zeros((2, 2))))
    check("init", "identity value", lambda fw: _nn(fw).init.identity()(fw.zeros((3, 3))))
    check("init", "orthogonal is orthogonal", lambda fw: (lambda q: fw.round(q @ q.T, 4))(_nn(fw).init.orthogonal()(fw.zeros((3, 3)))))
    check("init", "sparse fraction per row", lambda fw: fw.sum(_nn(fw).init.sparse(0.5)(fw.zeros((4, 6))) == 0, axis=1))
    check("init", "he_uniform fan_out", lambda fw: _nn(fw).init.he_uniform()(fw.zeros((3, 3)), mode="fan_out").shape)
    check("init", "glorot gain", lambda fw: _nn(fw).init.glorot_normal()(fw.zeros((3, 3)), gain=2.0).shape)
    check("init", "identity nonsquare", lambda fw: _nn(fw).init.identity()(fw.zeros((3, 2))))


def section_optim():
    rng = np.random.default_rng(17)
    w0 = {"w": rng.standard_normal((3, 4)).round(2), "b": rng.standard_normal(4).round(2), "s": np.array(0.5)}
    grads = [{k: rng.standard_normal(np.shape(v)).round(2) for k, v in w0.items()} for _ in range(4)]
    opts = [("SGD", dict(learning_rate=0.1)), ("SGD mom", dict(learning_rate=0.1, momentum=0.9, weight_decay=0.01, dampening=0.1)),
            ("SGD nesterov", dict(learning_rate=0.1, momentum=0.9, nesterov=True)), ("RMSprop", dict(learning_rate=0.01)),
            ("Adagrad", dict(learning_rate=0.1)), ("AdaDelta", dict(learning_rate=1.0)), ("Adam", dict(learning_rate=0.01)),
            ("Adam bc", dict(learning_rate=0.01, bias_correction=True)), ("AdamW", dict(learning_rate=0.01)),
            ("AdamW bc", dict(learning_rate=0.01, weight_decay=0.1, bias_correction=True)), ("Adamax", dict(learning_rate=0.01)),
            ("Lion", dict(learning_rate=0.01, weight_decay=0.1)), ("Adafactor", dict()), ("Adafactor lr", dict(learning_rate=0.01, beta_1=0.9, relative_step=False)),
            ("Adafactor noscale", dict(learning_rate=0.01, scale_parameter=False, relative_step=False, weight_decay=0.01)),
            ("Muon", dict(learning_rate=0.01)), ("Muon nonest", dict(learning_rate=0.01, nesterov=False, weight_decay=0.0))]
    for case, kw in opts:
        cls = case.split()[0]

        def run(fw, cls=cls, kw=kw):
            o = _opt(fw)
            opt = getattr(o, cls)(**kw)
            params = {k: A(fw, v) for k, v in w0.items()}
            for g in grads:
                params = opt.apply_gradients({k: A(fw, v) for k, v in g.items()}, params)
            return params, opt.step
        check("optim", case, run, rtol=1e-4, atol=1e-6)

        def state(fw, cls=cls, kw=kw):
            o = _opt(fw)
            opt = getattr(o, cls)(**kw)
            params = {k: A(fw, v) for k, v in w0.items()}
            opt.init(params)
            return sorted(k for k, _ in _utils(fw).tree_flatten(opt.state))
        check("optim-state", case, state)

    def sched(fw):
        o = _opt(fw)
        s1 = o.cosine_decay(0.1, 10, 0.01)
        s2 = o.exponential_decay(0.1, 0.9)
        s3 = o.step_decay(0.1, 0.5, 3)
        s4 = o.linear_schedule(0.0, 0.1, 5)
        s5 = o.join_schedules([s4, s1], [5])
        return [[float(s(fw.array(i))) for i in range(0, 14, 2)] for s in (s1, s2, s3, s4, s5)]
    check("optim", "schedules", sched, rtol=1e-5)

    def sched_opt(fw):
        o = _opt(fw)
        opt = o.Adam(learning_rate=o.linear_schedule(0.0, 0.1, 3))
        params = {k: A(fw, v) for k, v in w0.items()}
        for g in grads:
            params = opt.apply_gradients({k: A(fw, v) for k, v in g.items()}, params)
        return params, opt.learning_rate
    check("optim", "scheduled Adam", sched_opt, rtol=1e-4, atol=1e-6)

    def clip(fw):
        o = _opt(fw)
        g, n = o.clip_grad_norm({k: A(fw, v) for k, v in grads[0].items()}, 1.0)
        return g, n
    check("optim", "clip_grad_norm", clip, rtol=1e-5)

    def multi(fw):
        o = _opt(fw)
        opt = o.MultiOptimizer([o.SGD(0.1), o.Adam(0.01)], [lambda name, w: name == "w"])
        params = {k: A(fw, v) for k, v in w0.items()}
        for g in grads:
            params = opt.apply_gradients({k: A(fw, v) for k, v in g.items()}, params)
        return params
    check("optim", "MultiOptimizer", multi, rtol=1e-4, atol=1e-6)

    def update_model(fw):
        nn, o = _nn(fw), _opt(fw)
        M.random.seed(0)
        lm = _nn(M).Linear(4, 2)
        model = lm if fw is M else nn.Linear(4, 2)
        if fw is P:
            copy_params(M, lm, P, model)
        opt = o.AdamW(0.01)
        x = A(fw, rng.standard_normal((3, 4)).round(2) * 0 + 0.5)
        for _ in range(3):
            _, g = nn.value_and_grad(model, lambda mdl, v: fw.sum(mdl(v) ** 2))(model, x)
            opt.update(model, g)
        return model.parameters()
    check("optim", "update model", update_model, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------

def section_transforms():
    x = np.array([0.5, -1.0, 2.0])
    X = np.arange(6.0).reshape(2, 3) * 0.3 - 0.5

    def f(fw):
        return lambda a, b: fw.sum(fw.sin(a) * b ** 2)
    cases = [
        ("grad", lambda fw: fw.grad(f(fw))(A(fw, x), A(fw, x))),
        ("grad argnums tuple", lambda fw: fw.grad(f(fw), argnums=(0, 1))(A(fw, x), A(fw, x))),
        ("grad argnums neg", lambda fw: fw.grad(f(fw), argnums=-1)(A(fw, x), A(fw, x))),
        ("grad argnums oob", lambda fw: fw.grad(f(fw), argnums=2)(A(fw, x), A(fw, x))),
        ("grad argnames", lambda fw: fw.grad(lambda a, b=None: fw.sum(a * b), argnames="b")(A(fw, x), b=A(fw, x))),
        ("grad argnames+nums", lambda fw: fw.grad(lambda a, b=None: fw.sum(a * b), argnums=0, argnames=["b"])(A(fw, x), b=A(fw, x))),
        ("grad no argnums only names", lambda fw: fw.grad(lambda a, b=None: fw.sum(a * b), argnums=[], argnames="b")(A(fw, x), b=A(fw, x))),
        ("grad dict", lambda fw: fw.grad(lambda d: fw.sum(d["a"] * d["b"][0]))({"a": A(fw, x), "b": [A(fw, x)]})),
        ("grad nonscalar", lambda fw: fw.grad(lambda a: a * 2)(A(fw, x))),
        ("grad int input", lambda fw: fw.grad(lambda a: fw.sum(a * a))(A(fw, [1, 2], "int32"))),
        ("grad python float", lambda fw: fw.grad(lambda a: a * a)(2.0)),
        ("grad tuple out", lambda fw: fw.grad(lambda a: (fw.sum(a), a))(A(fw, x))),
        ("value_and_grad", lambda fw: fw.value_and_grad(f(fw))(A(fw, x), A(fw, x))),
        ("value_and_grad aux", lambda fw: fw.value_and_grad(lambda a: (fw.sum(a * a), a + 1))(A(fw, x))),
        ("vjp", lambda fw: fw.vjp(lambda a, b: a * b, [A(fw, x), A(fw, x)], [A(fw, np.ones(3))])),
        ("vjp multi out", lambda fw: fw.vjp(lambda a: (a * 2, fw.sum(a)), [A(fw, x)], [A(fw, np.ones(3)), A(fw, 1.0)])),
        ("vjp bad ct shape", lambda fw: fw.vjp(lambda a: a * 2, [A(fw, x)], [A(fw, np.ones(2))])),
        ("jvp", lambda fw: fw.jvp(lambda a, b: a * b, [A(fw, x), A(fw, x)], [A(fw, np.ones(3)), A(fw, np.zeros(3))])),
        ("jvp wrong count", lambda fw: fw.jvp(lambda a, b: a * b, [A(fw, x), A(fw, x)], [A(fw, np.ones(3))])),
        ("vmap", lambda fw: fw.vmap(lambda a: a * 2 + fw.sum(a))(A(fw, X))),
        ("vmap in_axes", lambda fw: fw.vmap(lambda a, b: a + b, in_axes=(1, None))(A(fw, X), A(fw, [1.0, 2.0]))),
        ("vmap out_axes", lambda fw: fw.vmap(lambda a: a * 2, out_axes=1)(A(fw, X))),
        ("vmap neg axes", lambda fw: fw.vmap(lambda a: a * 2, in_axes=-1, out_axes=-1)(A(fw, X))),
        ("vmap size mismatch", lambda fw: fw.vmap(lambda a, b: a + b)(A(fw, X), A(fw, x))),
        ("vmap dict", lambda fw: fw.vmap(lambda d: d["a"] * 2, in_axes=({"a": 0},))({"a": A(fw, X)})),
        ("vmap tuple out", lambda fw: fw.vmap(lambda a: (a, fw.sum(a)))(A(fw, X))),
        ("vmap matmul", lambda fw: fw.vmap(lambda a, b: a @ b, in_axes=(0, None))(A(fw, X.reshape(2, 1, 3)), A(fw, X.T))),
        ("vmap nested", lambda fw: fw.vmap(fw.vmap(lambda a: a * a))(A(fw, X))),
        ("vmap None all", lambda fw: fw.vmap(lambda a: a * 2, in_axes=None)(A(fw, X))),
        ("grad(vmap(grad))", lambda fw: fw.grad(lambda z: fw.sum(fw.vmap(fw.grad(lambda y: fw.sum(fw.sin(y) * y)))(z)))(A(fw, X))),
        ("vmap(grad)", lambda fw: fw.vmap(fw.grad(lambda y: fw.sum(fw.exp(y) * y)))(A(fw, X))),
        ("grad(grad)", lambda fw: fw.grad(fw.grad(lambda y: y ** 3))(A(fw, 2.0))),
        ("jvp(grad)", lambda fw: fw.jvp(fw.grad(lambda y: fw.sum(y ** 3)), [A(fw, x)], [A(fw, np.ones(3))])),
        ("grad(jvp)", lambda fw: fw.grad(lambda y: fw.sum(fw.jvp(lambda z: fw.sin(z), [y], [fw.ones_like(y)])[1][0]))(A(fw, x))),
        ("vjp(vmap)", lambda fw: fw.vjp(fw.vmap(lambda a: fw.sum(a * a)), [A(fw, X)], [A(fw, np.ones(2))])),
        ("vmap(jvp)", lambda fw: fw.vmap(lambda a: fw.jvp(fw.tanh, [a], [fw.ones_like(a)])[1][0])(A(fw, X))),
        ("checkpoint", lambda fw: fw.grad(lambda y: fw.sum(fw.checkpoint(lambda z: fw.sin(z) * z)(y)))(A(fw, x))),
        ("compile", lambda fw: fw.compile(lambda a, b: fw.exp(a) * b + 1)(A(fw, x), A(fw, x))),
        ("compile grad", lambda fw: fw.compile(fw.grad(lambda a: fw.sum(fw.exp(a) * a)))(A(fw, x))),
        ("stop_gradient in grad", lambda fw: fw.grad(lambda a: fw.sum(fw.stop_gradient(a) * a))(A(fw, x))),
        ("custom_function", lambda fw: _custom(fw)),
        ("grad of where nan-safe", lambda fw: fw.grad(lambda a: fw.sum(fw.where(a > 0, fw.sqrt(a), 0.0)))(A(fw, [0.0, 4.0, -1.0]))),
        ("grad abs at 0", lambda fw: fw.grad(lambda a: fw.sum(fw.abs(a)))(A(fw, [0.0, -0.0, 1.0]))),
        ("grad sqrt at 0", lambda fw: fw.grad(lambda a: fw.sum(fw.sqrt(a)))(A(fw, [0.0]))),
        ("grad power 0^0", lambda fw: fw.grad(lambda a, b: fw.sum(fw.power(a, b)), argnums=(0, 1))(A(fw, [0.0, 0.0, 2.0]), A(fw, [0.0, 1.0, 0.0]))),
        ("grad clip bounds", lambda fw: fw.grad(lambda a: fw.sum(fw.clip(a, 0.0, 1.0)))(A(fw, [0.0, 1.0, 0.5, 2.0]))),
        ("grad relu at 0", lambda fw: fw.grad(lambda a: fw.sum(_nn(fw).relu(a)))(A(fw, [0.0, 1.0]))),
        ("grad sort ties", lambda fw: fw.grad(lambda a: fw.sum(fw.sort(a) * fw.arange(4.0)))(A(fw, [1.0, 1.0, 0.0, 1.0]))),
        ("grad logsumexp ties", lambda fw: fw.grad(lambda a: fw.logsumexp(a))(A(fw, [1.0, 1.0]))),
        ("grad round", lambda fw: fw.grad(lambda a: fw.sum(fw.round(a)))(A(fw, [0.5, 1.5]))),
        ("grad astype int", lambda fw: fw.grad(lambda a: fw.sum(a.astype(fw.int32).astype(fw.float32)))(A(fw, [0.5, 1.5]))),
        ("grad complex", lambda fw: fw.grad(lambda a: fw.sum(fw.abs(a * (1 + 2j))))(A(fw, [1.0, 2.0]))),
        ("grad of complex input", lambda fw: fw.grad(lambda a: fw.sum(fw.real(a * a)))(A(fw, [1 + 1j], "complex64"))),
        ("grad bool out", lambda fw: fw.grad(lambda a: fw.sum(a > 0))(A(fw, x))),
        ("value_and_grad nonscalar", lambda fw: fw.value_and_grad(lambda a: a)(A(fw, x))),
    ]
    for case, fn in cases:
        check("transforms", case, fn, rtol=1e-5, atol=1e-6)


def _custom(fw):
    @fw.custom_function
    def g(a):
        return fw.sin(a)

    @g.vjp
    def g_vjp(primals, cotangent, output):
        return (cotangent * 3,)
    return fw.grad(lambda a: fw.sum(g(a)))(A(fw, [0.5, 1.0]))



# --------------------------------------------------------------------------------------
# random (shapes, dtypes, errors; the bits differ by design), fast, conv, sorting edges
# --------------------------------------------------------------------------------------

def _meta(out):
    if isinstance(out, (list, tuple)):
        return [_meta(o) for o in out]
    return (tuple(out.shape), dname(out.dtype))


def section_random():
    R = [
        ("uniform", lambda m: m.random.uniform()), ("uniform shape", lambda m: m.random.uniform(shape=(2, 3))),
        ("uniform bounds arr", lambda m: m.random.uniform(m.zeros((2, 1)), m.ones((3,)))), ("uniform f16", lambda m: m.random.uniform(shape=(2,), dtype=m.float16)),
        ("uniform int dtype", lambda m: m.random.uniform(shape=(2,), dtype=m.int32)), ("uniform bad shape", lambda m: m.random.uniform(m.zeros((2,)), 1, shape=(3,))),
        ("normal", lambda m: m.random.normal((2, 2))), ("normal loc", lambda m: m.random.normal((2,), loc=1.0, scale=2.0)),
        ("normal bf16", lambda m: m.random.normal((2,), dtype=m.bfloat16)), ("normal int", lambda m: m.random.normal((2,), dtype=m.int32)),
        ("randint", lambda m: m.random.randint(0, 5, (3,))), ("randint dtype", lambda m: m.random.randint(0, 5, (3,), m.uint8)),
        ("randint float dtype", lambda m: m.random.randint(0, 5, (3,), m.float32)), ("randint arr", lambda m: m.random.randint(m.zeros((2,), m.int32), 5)),
        ("bernoulli", lambda m: m.random.bernoulli()), ("bernoulli p", lambda m: m.random.bernoulli(0.3, (4,))),
        ("bernoulli arr", lambda m: m.random.bernoulli(m.array([0.1, 0.9]))), ("bernoulli bad shape", lambda m: m.random.bernoulli(m.array([0.1, 0.9]), (3,))),
        ("truncated_normal", lambda m: m.random.truncated_normal(-1, 1, (3,))), ("truncated arr", lambda m: m.random.truncated_normal(m.zeros((2, 1)), m.ones(3))),
        ("gumbel", lambda m: m.random.gumbel((2,))), ("laplace", lambda m: m.random.laplace((2,), loc=1, scale=2)),
        ("categorical", lambda m: m.random.categorical(m.zeros((2, 5)))), ("categorical shape", lambda m: m.random.categorical(m.zeros((2, 5)), shape=(3, 2))),
        ("categorical num", lambda m: m.random.categorical(m.zeros((2, 5)), num_samples=4)), ("categorical axis", lambda m: m.random.categorical(m.zeros((2, 5)), axis=0)),
        ("permutation int", lambda m: m.random.permutation(5)), ("permutation arr", lambda m: m.random.permutation(m.zeros((3, 2)), axis=1)),
        ("multivariate_normal", lambda m: m.random.multivariate_normal(m.zeros(2), m.eye(2), (3,), stream=m.cpu)),
        ("key", lambda m: m.random.key(3)), ("split", lambda m: m.random.split(m.random.key(3))), ("split 3", lambda m: m.random.split(m.random.key(3), 3)),
        ("uniform key", lambda m: m.random.uniform(shape=(2,), key=m.random.key(0))), ("seed", lambda m: m.random.seed(3)),
        ("normal 0 size", lambda m: m.random.normal((0, 3))), ("randint empty range", lambda m: m.random.randint(5, 5, (2,))),
    ]
    for case, f in R:
        check("random", case, lambda fw, f=f: _meta(f(fw)) if f(fw) is not None else None)
    check("random", "uniform in range", lambda fw: bool(fw.all((lambda u: (u >= 2) & (u < 3))(fw.random.uniform(2, 3, (1000,))))))
    check("random", "randint in range", lambda fw: bool(fw.all((lambda u: (u >= -2) & (u < 3))(fw.random.randint(-2, 3, (1000,))))))
    check("random", "key deterministic", lambda fw: bool(fw.array_equal(fw.random.normal((4,), key=fw.random.key(1)), fw.random.normal((4,), key=fw.random.key(1)))))
    check("random", "bernoulli extremes", lambda fw: fw.random.bernoulli(fw.array([0.0, 1.0])))


def section_fast():
    rng = np.random.default_rng(19)
    x = rng.standard_normal((2, 3, 5, 8)).round(2)
    w = rng.standard_normal(8).round(2)
    F = [
        ("layer_norm", lambda m: m.fast.layer_norm(A(m, x), A(m, w), A(m, w * 0.5), 1e-5)),
        ("layer_norm none", lambda m: m.fast.layer_norm(A(m, x), None, None, 1e-5)),
        ("rms_norm", lambda m: m.fast.rms_norm(A(m, x), A(m, w), 1e-5)), ("rms_norm none", lambda m: m.fast.rms_norm(A(m, x), None, 1e-5)),
        ("rms_norm f16", lambda m: m.fast.rms_norm(A(m, x, "float16"), A(m, w, "float16"), 1e-5)),
        ("rope", lambda m: m.fast.rope(A(m, x), 8, traditional=False, base=10000.0, scale=1.0, offset=0)),
        ("rope trad partial", lambda m: m.fast.rope(A(m, x), 4, traditional=True, base=100.0, scale=0.5, offset=3)),
        ("rope freqs", lambda m: m.fast.rope(A(m, x), 8, traditional=False, base=None, scale=1.0, offset=1, freqs=A(m, np.arange(1.0, 5.0)))),
        ("rope offset arr", lambda m: m.fast.rope(A(m, x), 8, traditional=False, base=10000.0, scale=1.0, offset=A(m, 2, "int32"))),
        ("sdpa", lambda m: m.fast.scaled_dot_product_attention(A(m, x), A(m, x), A(m, x), scale=0.3)),
        ("sdpa causal", lambda m: m.fast.scaled_dot_product_attention(A(m, x), A(m, x), A(m, x), scale=0.3, mask="causal")),
        ("sdpa mask arr", lambda m: m.fast.scaled_dot_product_attention(A(m, x), A(m, x), A(m, x), scale=0.3, mask=A(m, np.tril(np.ones((5, 5))) > 0))),
        ("sdpa add mask", lambda m: m.fast.scaled_dot_product_attention(A(m, x), A(m, x), A(m, x), scale=0.3, mask=A(m, np.triu(np.full((5, 5), -1e9), 1)))),
        ("sdpa gqa", lambda m: m.fast.scaled_dot_product_attention(A(m, x), A(m, x[:, :1]), A(m, x[:, :1]), scale=1.0)),
        ("sdpa short q causal", lambda m: m.fast.scaled_dot_product_attention(A(m, x[:, :, :2]), A(m, x), A(m, x), scale=1.0, mask="causal")),
        ("sdpa sinks", lambda m: m.fast.scaled_dot_product_attention(A(m, x), A(m, x), A(m, x), scale=1.0, sinks=A(m, [0.5, 1.0, -1.0]))),
    ]
    for case, f in F:
        check("fast", case, f, rtol=1e-4, atol=1e-5)
        check("fast-grad", "grad " + case, lambda fw, f=f: fw.grad(lambda: 0)() if False else _fast_grad(fw, f), rtol=1e-3, atol=1e-4)
    C = [
        ("conv1d", lambda m: m.conv1d(A(m, x[0, :, :, :4]), A(m, x[1, :2, :3, :4]), 2, 1, 1, 1)),
        ("conv1d groups", lambda m: m.conv1d(A(m, x[0, :, :, :4]), A(m, x[1, :2, :3, :2]), groups=2)),
        ("conv2d", lambda m: m.conv2d(A(m, x[:, :, :, :2]), A(m, x[1, :, :2, :2]), (1, 2), (1, 0), (2, 1))),
        ("conv3d", lambda m: m.conv3d(A(m, x[:1, :, :, :, None].repeat(2, -1)[..., :2]), A(m, np.ones((2, 2, 2, 2, 2)) * 0.1))),
        ("conv_transpose1d", lambda m: m.conv_transpose1d(A(m, x[0, :, :, :4]), A(m, x[1, :2, :3, :4]), 2, 1, 1, 1)),
        ("conv_transpose2d", lambda m: m.conv_transpose2d(A(m, x[:, :, :, :2]), A(m, x[1, :, :2, :2]), 2, 1)),
        ("conv_general", lambda m: m.conv_general(A(m, x[:, :, :, :2]), A(m, x[1, :, :2, :2]), 1, ([1, 0], [0, 1]), 1, 2, 1, True)),
        ("conv bad channels", lambda m: m.conv1d(A(m, x[0, :, :, :4]), A(m, x[1, :2, :3, :3]))),
        ("conv int", lambda m: m.conv1d(A(m, np.ones((1, 4, 2)), "int32"), A(m, np.ones((1, 2, 2)), "int32"))),
    ]
    for case, f in C:
        check("conv", case, f, rtol=1e-4, atol=1e-4)


def _fast_grad(fw, f):
    # gradient of a weighted sum with respect to the first array argument, via a wrapper that
    # swaps it in
    rng = np.random.default_rng(23)
    base = rng.standard_normal((2, 3, 5, 8)).round(2)
    out0 = f(fw)
    wts = fw.array(rng.standard_normal(out0.size).astype(np.float32)).reshape(out0.shape)
    return fw.grad(lambda y: fw.sum(_fast_sub(fw, f, y) * wts))(A(fw, base))


def _fast_sub(fw, f, y):
    # re-run f with the first A(...) replaced by y: f's closures build inputs with A(), so
    # patch A for the first call
    global A
    orig = A
    used = [False]

    def A2(m, v, dtype=None):
        if not used[0] and np.shape(v) == (2, 3, 5, 8):
            used[0] = True
            return y if dtype is None else y.astype(getattr(m, dtype))
        return orig(m, v, dtype)
    A = A2
    try:
        return f(fw)
    finally:
        A = orig


def section_sorting():
    v = np.array([3.0, np.nan, -0.0, 0.0, 1.0, np.nan, -np.inf, 1.0])
    for name in ("sort", "argsort"):
        check("sorting", name + " nan/-0", lambda fw, n=name: getattr(fw, n)(A(fw, v)))
        check("sorting", name + " axis None", lambda fw, n=name: getattr(fw, n)(A(fw, X34), axis=None))
        check("sorting", name + " int", lambda fw, n=name: getattr(fw, n)(A(fw, [3, -1, 2, -1], "int8")))
        check("sorting", name + " bool", lambda fw, n=name: getattr(fw, n)(A(fw, [True, False, True])))
        check("sorting", name + " complex", lambda fw, n=name: getattr(fw, n)(A(fw, [1 + 2j, 1 - 1j, 0 + 5j], "complex64")))
    check("sorting", "argmax nan", lambda fw: fw.argmax(A(fw, v)))
    check("sorting", "argmin nan", lambda fw: fw.argmin(A(fw, v)))
    check("sorting", "max nan", lambda fw: fw.max(A(fw, v)))
    check("sorting", "maximum nan", lambda fw: fw.maximum(A(fw, v), A(fw, v[::-1].copy())))
    check("sorting", "topk nan", lambda fw: fw.sort(fw.topk(A(fw, v), 3)))
    check("sorting", "median nan", lambda fw: fw.median(A(fw, v)))
    check("sorting", "unique nan", lambda fw: fw.unique(A(fw, v), 8))
    check("sorting", "searchsorted nan", lambda fw: fw.searchsorted(A(fw, np.sort(v)), A(fw, [np.nan, 0.0, -0.0])))
    check("sorting", "partition", lambda fw: fw.partition(A(fw, v), 2)[2])
    check("sorting", "argpartition", lambda fw: fw.argpartition(A(fw, X34[0]), 2)[2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sections", nargs="*")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("-k", default=None)
    args = ap.parse_args()
    REPORT.verbose = args.v
    REPORT.filt = args.k
    sections = {n[len("section_"):]: f for n, f in globals().items() if n.startswith("section_")}
    names = args.sections or list(sections)
    if len(names) > 1:
        # one process per section: mlx corrupts its heap on some edge cases (see MLX_CRASHES),
        # and a crash must not take the other sections with it
        import subprocess
        status = 0
        for n in names:
            cmd = [sys.executable, __file__, n] + (["-v"] if args.v else []) + (["-k", args.k] if args.k else [])
            r = subprocess.run(cmd)
            if r.returncode not in (0, 1):
                print("[%s] <section>: process died with status %d" % (n, r.returncode))
            status = max(status, 1 if r.returncode else 0)
        return status
    for n in names:
        try:
            sections[n]()
        except Exception:  # noqa: BLE001 -- a broken section must not hide the others
            REPORT.add(n, "<section>", "harness error:\n" + traceback.format_exc())
    print("\n==== summary ====")
    for n in sorted(set(REPORT.cases) | set(REPORT.diffs)):
        print("%-14s cases %5d  differences %4d" % (n, REPORT.cases.get(n, 0), len(REPORT.diffs.get(n, []))))
    for label, n in sorted(REPORT.accepted.items()):
        print("accepted: %-55s %4d" % (label, n))
    return 1 if REPORT.diffs else 0


if __name__ == "__main__":
    sys.exit(main())
