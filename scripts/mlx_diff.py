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
    if rtol is not None:
        r = rtol
    if atol is not None:
        t = atol
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
]


# Calls that kill the mlx process (SIGSEGV/SIGFPE) are not made.
MLX_CRASHES = [
    r"^grad cum(max|min)\(nan/inf, axis=0\)",
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
