"""Crash fuzz: hostile inputs to array construction, indexing, buffer export, pickling and every
op's argument parsing. Each batch of cases runs in a subprocess, so that a crash (a signal, a
sanitizer abort) is reported with the case that caused it instead of killing pytest.

Every case must either succeed or raise an ordinary Python exception (an Exception subclass).
A failure is: a crash, a hang, SystemError, a message with C++ internals (std::, bad_cast), a
BaseException that is not an Exception, or a `Wrong` raised by the case's own value check.

How to add cases: add a generator to FAMILIES (it yields Python source strings; `mx`, `np`, and
the helpers in RUNNER_PRELUDE are in scope). New public ops of pullback.core are fuzzed
automatically (op list from dir(mx)); names that must not be called blindly go in FUZZ_EXCLUDED
with a reason. Cases that hit a defect someone else is fixing are matched by KNOWN_DEFECTS
patterns in property_support.py and counted there instead of failing their family.
Cases are generated from fixed seeds; their number is scaled by FUZZ_SCALE (fewer under the
sanitizer).
"""

import json
import os
import random
import subprocess
import sys

import pytest

import pullback.core as mx
from property_support import ALL, FUZZ_SCALE, KNOWN_DEFECTS, known_defect_of, public_names

RUNNER_PRELUDE = r'''
import io, json, math, pickle, re, sys
import numpy as np
import pullback.core as mx

class Wrong(BaseException):
    """A value check inside a case failed (not an ordinary error: a wrong answer)."""

def check(cond, msg="wrong value"):
    if not cond:
        raise Wrong(msg)

class RaisingIndex:
    def __index__(self): raise RuntimeError("index boom")
    def __int__(self): raise RuntimeError("int boom")
    def __float__(self): raise RuntimeError("float boom")

class HugeIndex:
    def __index__(self): return 2**80

class LenLies(list):
    def __len__(self): return 10**6

class LenShort(list):
    def __len__(self): return 1

class LenNegative(list):
    def __len__(self): return -1 if False else 0

class GetitemRaises(list):
    def __getitem__(self, i): raise RuntimeError("getitem boom")

class IterRaises(list):
    def __iter__(self): raise RuntimeError("iter boom")

class Shrinks(list):
    def __getitem__(self, i):
        if len(self) > 1: self.pop()
        return list.__getitem__(self, i)

class ArrayLike:
    def __init__(self, v): self.v = v
    def __array__(self, dtype=None, copy=None): return self.v

def finish(x):
    """Forces evaluation and conversion of whatever a case produced."""
    if isinstance(x, (list, tuple)):
        for y in x: finish(y)
    elif isinstance(x, mx.array):
        if x.size <= 10**6:
            mx.eval(x); x.tolist(); repr(x)
'''

RUNNER_LOOP = r'''
BAD = re.compile(r"std::|bad_cast|bad_alloc|basic_string|vector::|terminate called")
cases = json.load(open(sys.argv[1]))
start = int(sys.argv[2])
out = sys.stdout
for i in range(start, len(cases)):
    out.write(f"BEGIN {i}\n"); out.flush()
    status = "ok"
    try:
        exec(cases[i], {"__name__": "case", **globals()})
    except SystemError as e:
        status = f"SystemError: {e}"[:300]
    except Exception as e:
        if BAD.search(str(e)):
            status = f"C++ text in {type(e).__name__}: {e}"[:300]
    except BaseException as e:
        status = f"{type(e).__name__} (not an Exception): {e}"[:300]
    out.write(f"END {i} {json.dumps(status)}\n"); out.flush()
out.write("DONE\n"); out.flush()
'''


def run_cases(cases, tmp_path, timeout=240):
    """Runs ``cases`` (source strings) in subprocesses; returns [(index, problem)]. A crash
    restarts the run after the crashing case, so one crash does not hide the rest."""
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    script = tmp_path / "runner.py"
    script.write_text(RUNNER_PRELUDE + RUNNER_LOOP)
    problems, start = [], 0
    while start < len(cases):
        try:
            proc = subprocess.run([sys.executable, str(script), str(path), str(start)],
                                  capture_output=True, text=True, timeout=timeout)
            out, rc, err = proc.stdout, proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            rc, err = "timeout", ""
        last = None
        for line in out.splitlines():
            if line.startswith("BEGIN "):
                last = int(line.split()[1])
            elif line.startswith("END "):
                _, idx, status = line.split(" ", 2)
                status = json.loads(status)
                if status != "ok":
                    problems.append((int(idx), status))
                last = None
        if "DONE" in out.splitlines() and rc == 0:
            break
        if last is None:
            problems.append((start, f"runner failed (rc {rc}) before any case: {err[-1500:]}"))
            break
        problems.append((last, f"CRASH (exit {rc}): {err[-1500:]}"))
        start = last + 1
        if sum(1 for _, p in problems if p.startswith("CRASH")) > 40:
            problems.append((start, "too many crashes; stopped"))
            break
    return problems


def _count(n):
    return max(1, int(n * FUZZ_SCALE))


# ---------------------------------------------------------------------------------------------
# Families of cases. Each is a function(rng) -> list of source strings.

DTYPE_EXPRS = [f"mx.{d}" for d in ALL]


def construction_cases(rng):
    cases = [
        "finish(mx.array([1, []]))",
        "finish(mx.array([[1, 2], [3]]))  # RAGGED",
        "finish(mx.array([[], [1]]))  # RAGGED",
        "finish(mx.array([[[]], []]))  # RAGGED",
        "finish(mx.array([[1], [[2]]]))  # RAGGED",
        "finish(mx.array([[1, 2], 3]))  # RAGGED",
        "finish(mx.array([[], []]))",
        "finish(mx.array([]))",
        "finish(mx.array([[]]))",
        "finish(mx.array(LenLies([1.0, 2.0])))  # HOSTILE_LEN",
        "finish(mx.array(LenShort([1.0, 2.0, 3.0])))  # HOSTILE_LEN",
        "finish(mx.array([LenLies([1, 2]), LenLies([3, 4])]))  # HOSTILE_LEN",
        "finish(mx.array(GetitemRaises([1, 2])))",
        "finish(mx.array(IterRaises([1, 2])))",
        "finish(mx.array(Shrinks([1, 2, 3, 4])))  # HOSTILE_LEN",
        "finish(mx.array([RaisingIndex()]))",
        "finish(mx.array(RaisingIndex()))",
        "finish(mx.array(ArrayLike(np.ones(3))))",
        "finish(mx.array(ArrayLike(None)))",
        "finish(mx.array(ArrayLike('abc')))",
        "finish(mx.array(np.array(['a', 'b'])))",
        "finish(mx.array(np.array([1, 'a'], dtype=object)))",
        "finish(mx.array(np.array([None], dtype=object)))",
        "finish(mx.array(np.zeros(3, dtype='M8[s]')))",
        "finish(mx.array(np.zeros(3, dtype='m8[s]')))",
        "finish(mx.array(np.zeros(3, dtype=[('a', 'f4'), ('b', 'i4')])))",
        "finish(mx.array(np.zeros(3, dtype=np.longdouble)))",
        "finish(mx.array(np.zeros(3, dtype=np.clongdouble)))",
        "finish(mx.array(np.zeros(3, dtype='V4')))",
        "finish(mx.array(np.arange(6, dtype='>f4')))",
        "finish(mx.array(np.arange(6, dtype='>i8').reshape(2, 3)[:, ::-1]))",
        "finish(mx.array(np.frombuffer(b'\\x00' * 33, dtype=np.float64, offset=1, count=4)))",
        "finish(mx.array(np.broadcast_to(np.arange(3.0), (4, 3))))",
        "finish(mx.array(np.lib.stride_tricks.as_strided(np.arange(4.0), (3, 3), (8, 0))))",
        "finish(mx.array(np.arange(10.0)[::-3]))",
        "finish(mx.array(np.lib.stride_tricks.as_strided(np.arange(10.0)[9:], (4,), (-16,))))",
        "finish(mx.array(np.zeros((0, 3, 0))))",
        "finish(mx.array(np.zeros(())))",
        "finish(mx.array(np.asfortranarray(np.arange(12.0).reshape(3, 4))))",
        "finish(mx.array(np.arange(12.0).reshape(3, 4)[::2, ::-3]))",
        "finish(mx.array(np.arange(4, dtype=np.complex128)))",
        "finish(mx.array(np.array([1.5, np.nan, np.inf]), dtype=mx.int32))",
        "finish(mx.array([2**64 - 1], dtype=mx.uint64))",
        "finish(mx.array(2**64 - 1, dtype=mx.uint64))",
        "x = 1.0\nfor _ in range(100000): x = [x]\nfinish(mx.array(x))  # DEEP_NEST",
        "finish(mx.reshape(mx.array([1.0]), (1,) * 70))  # NDIM_OVER_64",
        "finish(mx.array(np.zeros((1,) * 32)))",
        "finish(mx.zeros((1,) * 65))  # NDIM_OVER_64",
        "finish(mx.array(mx.ones(3), dtype=mx.int8))",
        "finish(mx.array((1, 2.5, True)))",
        "finish(mx.array([1, 2], dtype=None))",
        "finish(mx.array([1, 2], dtype='float32'))",
        "finish(mx.array([1, 2], dtype=np.float32))",
        "finish(mx.array(range(5)))",
        "finish(mx.array(iter([1, 2])))",
        "finish(mx.array(b'abc'))",
        "finish(mx.array(bytearray(b'abc')))",
        "finish(mx.array(memoryview(b'abcd').cast('B', (2, 2))))",
        "finish(mx.array({1: 2}))",
        "finish(mx.array({1, 2}))",
        "finish(mx.array([1j, True, 2]))",
    ]
    depths = [10, 60, 65, 200, 1000]
    for d in depths:
        tag = "  # DEEP_NEST" if d >= 200 else ("  # NDIM_OVER_64" if d > 64 else "")
        cases.append(f"x = 1.0\nfor _ in range({d}): x = [x]\nfinish(mx.array(x)){tag}")
    pool = ["1", "1.5", "True", "1j", "2**63", "-2**63 - 1", "2**64", "2**100", "-1", "None",
            "'a'", "[]", "[1]", "[1, 2]", "[[1]]", "()", "float('nan')", "float('inf')",
            "np.float16(1)", "np.int64(-5)", "np.uint64(2**64-1)", "mx.array(1)",
            "mx.array([1, 2])", "RaisingIndex()", "object()", "b'x'"]
    for _ in range(_count(300)):
        n = rng.randint(1, 4)
        elems = [rng.choice(pool) for _ in range(n)]
        src = "[" + ", ".join(elems) + "]"
        if rng.random() < 0.4:
            src = "[" + src + ", " + "[" + ", ".join(rng.choice(pool) for _ in range(n)) + "]]"
        dtype = rng.choice(DTYPE_EXPRS + ["None"] * 4)
        tag = "  # RAGGED" if "[" in src[1:] else ""
        cases.append(f"finish(mx.array({src}, dtype={dtype})){tag}")
    return cases


INDEX_POOL = ["0", "1", "-1", "5", "-5", "2**31", "-2**31 - 1", "2**63 - 1", "-2**63", "2**64",
              "2**100", "None", "...", "slice(None)", "slice(None, None, -1)", "slice(2**62, -2**62, -2**61)",
              "slice(None, None, 2**63 - 1)", "slice(None, None, -2**63)", "slice(0, 0)",
              "slice(-100, 100, 3)", "slice(None, None, 0)", "True", "False", "1.5", "'a'",
              "mx.array([0, 1])", "mx.array([-1, 5])", "mx.array([True, False])",
              "mx.array(1)", "mx.array([[0]])", "mx.array([1.5])", "mx.array([2**31 - 1])",
              "np.array([0, 1])", "np.int64(1)", "[0, 1]", "[True]", "[]", "[[0, 1]]", "(0,)",
              "RaisingIndex()", "HugeIndex()", "{}", "object()", "np.array([], dtype=np.int64)",
              "mx.array([], dtype=mx.int32)", "mx.array([0], dtype=mx.uint64)"]
BASES = ["mx.arange(24).reshape(2, 3, 4)", "mx.array(3.0)", "mx.zeros((0, 3))",
         "mx.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1)", "mx.arange(10)[::-2]",
         "mx.broadcast_to(mx.array([1, 2, 3]), (4, 3))", "mx.ones((5,), dtype=mx.bfloat16)",
         "mx.array([1j, 2j])", "mx.array([True, False])"]
VALUES = ["0", "1.5", "mx.array(2)", "mx.ones((3, 4))", "mx.ones((7,))", "None", "'a'",
          "[1, 2]", "np.ones((2, 1))", "2**70", "mx.array([1j])", "float('nan')"]


def indexing_cases(rng):
    cases = []
    for _ in range(_count(600)):
        base = rng.choice(BASES)
        k = rng.randint(1, 4)
        key = "(" + ", ".join(rng.choice(INDEX_POOL) for _ in range(k)) + ",)" if k > 1 or \
            rng.random() < 0.3 else rng.choice(INDEX_POOL)
        if rng.random() < 0.6:
            cases.append(f"a = {base}\nfinish(a[{key}])")
        else:
            cases.append(f"a = {base}\na[{key}] = {rng.choice(VALUES)}\nfinish(a)")
    return cases


VIEWS = {
    "plain": "mx.arange(12, dtype=mx.float32).reshape(3, 4)",
    "T": "mx.arange(12, dtype=mx.float32).reshape(3, 4).T  # BUFFER_STRIDED",
    "stepped": "mx.arange(12, dtype=mx.float32).reshape(3, 4)[:, ::2]  # BUFFER_STRIDED",
    "reversed": "mx.arange(12, dtype=mx.float32)[::-1]  # BUFFER_STRIDED",
    "broadcast": "mx.broadcast_to(mx.arange(4, dtype=mx.float32), (3, 4))  # BUFFER_STRIDED",
    "0d": "mx.array(2.5)",
    "empty": "mx.zeros((0, 4))",
    "empty_T": "mx.zeros((0, 4)).T",
    "bool": "mx.array([True, False, True])",
    "bf16": "mx.ones((2, 2), dtype=mx.bfloat16)",
    "f16_T": "mx.ones((2, 3), dtype=mx.float16).T  # BUFFER_STRIDED",
    "c64": "mx.array([1 + 2j, 3j])",
    "u64": "mx.array([1, 2], dtype=mx.uint64)[::-1]  # BUFFER_STRIDED",
    "lazy": "mx.exp(mx.ones((2, 2))) + 1",
}
EXPORTS = [
    "m = memoryview(v)\ncheck(m.shape == tuple(v.shape), f'shape {m.shape}')\nm.tobytes()",
    "r = np.array(v)\ncheck(r.shape == tuple(v.shape))\n"
    "check(v.dtype == mx.bfloat16 or r.tolist() == v.tolist(), 'np.array values')",
    "r = np.asarray(memoryview(v))\ncheck(v.dtype == mx.bfloat16 or r.tolist() == v.tolist(), "
    "'memoryview values')",
    "b = io.BytesIO()\nb.write(v)\ncheck(v.dtype == mx.bfloat16 or b.getvalue() == "
    "np.array(v.tolist(), dtype=np.dtype(str(v.dtype).split('.')[-1].replace('bool_', 'bool')))"
    ".tobytes(), 'BytesIO bytes')",
    "bytes(v)",
    "np.frombuffer(v, dtype=np.uint8)",
]


def buffer_cases(rng):
    return [f"v = {view.split('  #')[0]}\n{export}" + ("  #" + view.split("  #")[1]
                                                       if "  #" in view else "")
            for view in VIEWS.values() for export in EXPORTS]


def pickle_cases(rng):
    cases = []
    for view in VIEWS.values():
        v = view.split("  #")[0]
        cases.append(f"v = {v}\nw = pickle.loads(pickle.dumps(v))\n"
                     "check(w.dtype == v.dtype and w.shape == v.shape and "
                     "(v.dtype == mx.bfloat16 or w.tolist() == v.tolist()), 'pickle round trip')")
    states = ["(b'\\x00' * 4, (1 << 20,), mx.float32)  # SETSTATE",
              "(b'\\x00' * 4, (2, 3), mx.float32)  # SETSTATE",
              "(b'\\x00' * 400, (2,), mx.float32)  # SETSTATE",
              "(b'', (0,), mx.float32)", "(b'', (), mx.float32)  # SETSTATE",
              "(b'\\x00' * 4, (-1,), mx.float32)", "(b'\\x00' * 4, (-4, -1), mx.float32)",
              "(b'\\x00' * 4, (2**62, 2**62), mx.float32)", "(b'\\x00' * 4, (1,), 'float32')",
              "(b'\\x00' * 4, (1,), None)", "(b'\\x00' * 4, None, mx.float32)",
              "('abcd', (1,), mx.float32)", "(None, (1,), mx.float32)", "(b'\\x00' * 4, (1,))  # SETSTATE_ARITY",
              "()  # SETSTATE_ARITY", "None  # SETSTATE_ARITY",
              "(b'\\x00' * 4, (1,), mx.float32, 5)  # SETSTATE_ARITY",
              "(b'\\x00' * 8, (1.5,), mx.float32)", "(b'\\x00' * 4, [1], mx.float32)",
              "(b'\\x00' * 4, (RaisingIndex(),), mx.float32)",
              "(bytearray(4), (1,), mx.float32)", "(memoryview(b'\\x00' * 4), (1,), mx.float32)",
              "(b'\\x00' * 8, (1,) * 70, mx.float32)  # NDIM_OVER_64 SETSTATE"]
    for s in states:
        tag = "  #" + s.split("  #")[1] if "  #" in s else ""
        state = s.split("  #")[0]
        cases.append(f"a = mx.array([1.0])\na.__setstate__({state})\nfinish(a){tag}")
        cases.append(f"a = mx.array.__new__(mx.array)\na.__setstate__({state})\nfinish(a){tag}")
    return cases


# Public names of pullback.core that the argument fuzz does not call, and why. Everything else
# callable in dir(mx) is fuzzed, so new ops (gather, scatter, conv, sort, fft...) are too.
FUZZ_EXCLUDED = {
    "set_memory_limit": "changes process state for the following cases",
    "set_cache_limit": "changes process state for the following cases",
    "set_default_device": "changes process state for the following cases",
    "set_default_stream": "changes process state for the following cases",
    "stream": "context manager (fuzzed as a call only through its argument)",
    "Any": "typing", "Callable": "typing", "Dict": "typing", "List": "typing",
    "Sequence": "typing", "Tuple": "typing", "Union": "typing",
    **{n: "writes files into the working directory; fuzzed in a temporary one by test_io.py"
       for n in ("save", "savez", "savez_compressed", "save_safetensors")},
}

HOSTILE = ["None", "'x'", "1.5", "2**70", "-1", "-2**63", "[[1], [2, 3]]", "{}", "object()",
           "RaisingIndex()", "float('nan')", "[1] * 70", "()", "b''", "mx.array([[1j]])",
           "np.ones((2, 2), dtype=np.int8)", "lambda *a: None"]
KEYWORDS = ["axis", "keepdims", "dtype", "shape", "stream", "ddof", "k", "num", "decimals",
            "argnums", "equal_nan", "axes", "indices_or_sections", "start_axis", "end_axis"]


def _callables():
    names = []
    for n in public_names():
        obj = getattr(mx, n)
        if n in FUZZ_EXCLUDED or not callable(obj) or isinstance(obj, type) or \
                type(obj).__name__ in ("Dtype", "DtypeCategory"):
            continue
        names.append(n)
    return names


def _params(name, namespace=mx):
    doc = (getattr(namespace, name).__doc__ or "").strip().splitlines()
    first = doc[0] if doc else ""
    import re
    m = re.match(rf"{name}\((.*)\)", first) or re.match(r"\w+\((.*)\)", first)
    if not m:
        import inspect
        try:
            return [p for p in inspect.signature(getattr(namespace, name)).parameters]
        except (TypeError, ValueError):
            return ["a"]
    params = []
    for part in m.group(1).split(","):
        p = part.strip().split(":")[0].split("=")[0].strip()
        if p and p not in ("*", "/", "stream") and not p.startswith("*"):
            params.append(p)
    return params or ["a"]


def arguments_cases(rng):
    cases = []
    valid = {"a": "x", "b": "x", "condition": "x > 0", "x": "x", "y": "x", "arrays": "[x, x]",
             "shape": "(2, 3)", "axis": "0", "dtype": "mx.float32", "fun": "mx.sin",
             "primals": "[x]", "cotangents": "[x]", "tangents": "[x]", "n": "3", "start": "0",
             "stop": "5", "vals": "1.0", "indices_or_sections": "2", "source": "0",
             "destination": "1", "axis1": "0", "axis2": "1"}
    for name in _callables():
        params = _params(name)
        base = [valid.get(p, "x") for p in params]
        head = "x = mx.arange(6.0).reshape(2, 3)\n"
        for i in range(len(params)):
            for h in rng.sample(HOSTILE, _count(len(HOSTILE))):
                args = list(base[:i]) + [h] + list(base[i + 1:])
                cases.append(f"{head}r = mx.{name}({', '.join(args)})\n"
                             "r = r(x) if callable(r) and not isinstance(r, mx.array) else r\n"
                             "finish(r)")
        for kw in rng.sample(KEYWORDS, _count(5)):
            h = rng.choice(HOSTILE)
            cases.append(f"{head}finish(mx.{name}({', '.join(base[:1])}, {kw}={h}))")
        cases.append(f"{head}finish(mx.{name}())")
        cases.append(f"{head}finish(mx.{name}(*[x] * 7))")
    # methods of array
    for meth in [m for m in dir(mx.array) if not m.startswith("__") and
                 callable(getattr(mx.array, m))] + ["__getitem__", "__setitem__", "__pow__",
                                                   "__matmul__", "__floordiv__", "__array__",
                                                   "__format__", "__round__"]:
        for h in rng.sample(HOSTILE, _count(len(HOSTILE))):
            cases.append(f"x = mx.arange(6.0).reshape(2, 3)\nfinish(x.{meth}({h}))")
    return cases


def linalg_cases(rng):
    """mx.linalg with hostile arguments in each position and as keywords, and with matrices that
    are singular, not positive definite, non-finite, empty or oddly shaped."""
    cases = []
    head = "x = mx.arange(9.0).reshape(3, 3) + 10 * mx.eye(3)\n"
    for name in mx.linalg.__all__:
        params = _params(name, mx.linalg)
        base = ["x"] * (2 if name in ("solve", "solve_triangular", "cross") else 1)
        for i, param in enumerate(params):
            for h in rng.sample(HOSTILE, _count(len(HOSTILE))):
                if i < len(base):
                    args = base[:i] + [h] + base[i + 1:]
                else:
                    args = base + [f"{param}={h}"]
                cases.append(f"{head}finish(mx.linalg.{name}({', '.join(args)}))")
        for m in ["mx.zeros((3, 3))", "-mx.eye(3)", "mx.full((3, 3), float('nan'))",
                  "mx.full((3, 3), float('inf'))", "mx.zeros((0, 0))", "mx.zeros((2, 0, 3))",
                  "mx.ones((1, 2, 3))", "mx.ones((3,))", "mx.array(1.0)", "mx.ones((4, 4), mx.float16)",
                  "mx.ones((2, 2), mx.complex64)", "mx.ones((3, 3))[::-1, ::2]"]:
            args = ", ".join([m] * len(base))
            cases.append(f"finish(mx.linalg.{name}({args}))")
    return cases


FAMILIES = {
    "construction": construction_cases,
    "indexing": indexing_cases,
    "buffer": buffer_cases,
    "pickle": pickle_cases,
    "arguments": arguments_cases,
    "linalg": linalg_cases,
}


def generate(family):
    return FAMILIES[family](random.Random(f"pullback-fuzz-{family}"))


def test_fuzz_excluded_names_exist():
    stale = [n for n in FUZZ_EXCLUDED if not hasattr(mx, n)]
    assert not stale, f"FUZZ_EXCLUDED names pullback.core does not have: {stale}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_fuzz_family(family, tmp_path):
    cases = generate(family)
    problems = run_cases(cases, tmp_path)
    report, known = [], {}
    for idx, problem in problems:
        key = known_defect_of(cases[idx], problem) if idx < len(cases) else None
        if key:
            known.setdefault(key, []).append(idx)
            continue
        report.append(f"--- case {idx}: {problem}\n{cases[idx] if idx < len(cases) else ''}")
    print(f"{family}: {len(cases)} cases, {len(problems)} problems, known: "
          f"{ {k: len(v) for k, v in known.items()} }")
    assert not report, f"{len(report)} of {len(cases)} {family} cases failed:\n" + \
        "\n".join(report[:30])
