"""Shared test helpers: dtype tables, NumPy comparisons and numerical gradient checks."""

import math

import numpy as np

import pullback.core as mx

DTYPE_NAMES = [
    "bool_", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
    "float16", "bfloat16", "float32", "float64", "complex64",
]
INT_NAMES = ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"]
FLOAT_NAMES = ["float16", "bfloat16", "float32", "float64"]

# NumPy has no bfloat16; values of that dtype are compared through float32.
NP_DTYPE = {
    "bool_": np.bool_, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
    "uint64": np.uint64, "int8": np.int8, "int16": np.int16, "int32": np.int32,
    "int64": np.int64, "float16": np.float16, "float32": np.float32, "float64": np.float64,
    "complex64": np.complex64,
}
ITEMSIZE = {
    "bool_": 1, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8, "int8": 1, "int16": 2,
    "int32": 4, "int64": 8, "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8,
    "complex64": 8,
}

# (rtol, atol) for comparing a result of the given dtype with a float64 reference.
TOLERANCE = {
    "float16": (3e-3, 3e-3),
    "bfloat16": (2e-2, 2e-2),
    "float32": (2e-5, 1e-6),
    "float64": (1e-12, 1e-13),
    "complex64": (2e-5, 1e-6),
}


def dt(name):
    """The pullback dtype called `name` (e.g. "float32", "bool_")."""
    return getattr(mx, name)


def name_of(dtype):
    for n in DTYPE_NAMES:
        if dtype == dt(n):
            return n
    raise AssertionError(f"unknown dtype {dtype!r}")


def to_numpy(a):
    """A NumPy copy of `a`; bfloat16 arrives as float32."""
    if a.dtype == mx.bfloat16:
        a = a.astype(mx.float32)
    return np.array(a)


def rounded(x, dtype_name):
    """`x` (NumPy) rounded to `dtype_name` and back to float64: the input a kernel really sees."""
    return to_numpy(mx.array(np.asarray(x, dtype=np.float64), dtype=dt(dtype_name))).astype(
        np.float64
    )


def assert_close(actual, expected, dtype=None, rtol=None, atol=None):
    """Checks an mx array against a NumPy reference: shape, optionally dtype, then values."""
    assert isinstance(actual, mx.array), f"expected an array, got {type(actual)}"
    expected = np.asarray(expected)
    assert tuple(actual.shape) == expected.shape, f"shape {actual.shape} != {expected.shape}"
    if dtype is not None:
        assert actual.dtype == dtype, f"dtype {actual.dtype} != {dtype}"
    name = name_of(actual.dtype)
    default_rtol, default_atol = TOLERANCE.get(name, (0, 0))
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    got = to_numpy(actual)
    if name in TOLERANCE:
        target = np.complex128 if name == "complex64" else np.float64
        np.testing.assert_allclose(got.astype(target), expected.astype(target), rtol=rtol,
                                   atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)


def erfinv_reference(y):
    """Inverse error function in float64 by Newton's method (no SciPy needed)."""
    y = np.asarray(y, dtype=np.float64)
    out = np.empty_like(y)
    for idx, v in np.ndenumerate(y):
        if v <= -1 or v >= 1:
            out[idx] = math.copysign(math.inf, v) if abs(v) == 1 else math.nan
            continue
        x = 0.0
        for _ in range(100):
            step = (math.erf(x) - v) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
            x -= step
            if abs(step) < 1e-16:
                break
        out[idx] = x
    return out


erf_reference = np.vectorize(math.erf, otypes=[np.float64])


def _as_list(outs):
    return list(outs) if isinstance(outs, (list, tuple)) else [outs]


def check_grad(f, inputs, argnums=None, eps=1e-6, rtol=1e-6, atol=1e-8, f32_rtol=2e-3,
               f32_atol=2e-3, dtypes=("float64", "float32"), integer_tangents=False, seed=0):
    """Checks mx.vjp, mx.jvp and mx.grad of `f` against central differences.

    `f` takes arrays and returns an array or a list/tuple of arrays. `inputs` are NumPy arrays;
    the finite differences evaluate `f` in float64 on perturbed NumPy copies of them. The
    transforms are then run with the primals in each dtype of `dtypes`, and their results must
    match the numerical ones (float64: tight tolerances; others: loose ones). Cotangents of the
    inputs must carry the primal's shape and dtype, tangents of the outputs the output's.
    `integer_tangents` picks small integer directions, so that functions that quantize
    (astype) can be differenced exactly on a grid.
    """
    inputs = [np.array(x, dtype=np.float64) for x in inputs]
    argnums = list(range(len(inputs))) if argnums is None else list(argnums)
    rng = np.random.default_rng(seed)

    def run64(xs):
        outs = _as_list(f(*[mx.array(x, dtype=mx.float64) for x in xs]))
        return [to_numpy(o).astype(np.float64) for o in outs]

    outs0 = run64(inputs)
    cotangents = [rng.standard_normal(o.shape) for o in outs0]
    if integer_tangents:
        tangents = {i: rng.integers(-2, 3, size=inputs[i].shape).astype(np.float64)
                    for i in argnums}
    else:
        tangents = {i: rng.standard_normal(inputs[i].shape) for i in argnums}

    def projection(xs):
        return sum(float(np.sum(c * o)) for c, o in zip(cotangents, run64(xs)))

    numeric_vjp = []
    for i in argnums:
        g = np.zeros_like(inputs[i])
        for idx in np.ndindex(inputs[i].shape):
            plus = [x.copy() for x in inputs]
            minus = [x.copy() for x in inputs]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (projection(plus) - projection(minus)) / (2 * eps)
        numeric_vjp.append(g)

    plus = [x + eps * tangents[i] if i in tangents else x for i, x in enumerate(inputs)]
    minus = [x - eps * tangents[i] if i in tangents else x for i, x in enumerate(inputs)]
    numeric_jvp = [(p - m) / (2 * eps) for p, m in zip(run64(plus), run64(minus))]

    for dname in dtypes:
        dtype = dt(dname)
        tight = dname == "float64"
        rt, at = (rtol, atol) if tight else (f32_rtol, f32_atol)
        primals = [mx.array(x, dtype=dtype) for x in inputs]

        def f_of_argnums(*args):
            full = list(primals)
            for k, i in enumerate(argnums):
                full[i] = args[k]
            return f(*full)

        diff_primals = [primals[i] for i in argnums]
        out_dtypes = [o.dtype for o in _as_list(f_of_argnums(*diff_primals))]
        cts = [mx.array(c, dtype=d) for c, d in zip(cotangents, out_dtypes)]

        def compare(got, expected, want_dtype, what):
            assert isinstance(got, mx.array), f"{what}: got {type(got)}"
            assert tuple(got.shape) == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
            assert got.dtype == want_dtype, f"{what}: dtype {got.dtype} != {want_dtype}"
            scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
            np.testing.assert_allclose(to_numpy(got).astype(np.float64), expected, rtol=rt,
                                       atol=at * scale, err_msg=f"{what} ({dname})")

        outs, vjps = mx.vjp(f_of_argnums, diff_primals, cts)
        assert len(outs) == len(outs0), "vjp returned the wrong number of outputs"
        assert len(vjps) == len(argnums), "vjp returned the wrong number of cotangents"
        for k, (o, ref) in enumerate(zip(outs, outs0)):
            otol = 1e-9 if o.dtype == mx.float64 else TOLERANCE.get(name_of(o.dtype), (1e-4,))[0] * 10
            np.testing.assert_allclose(to_numpy(o).astype(np.float64), ref, rtol=otol, atol=otol,
                                       err_msg=f"vjp output {k} ({dname})")
        for k, (g, ref) in enumerate(zip(vjps, numeric_vjp)):
            compare(g, ref, dtype, f"vjp cotangent of input {argnums[k]}")

        outs, jvps = mx.jvp(f_of_argnums, diff_primals,
                            [mx.array(tangents[i], dtype=dtype) for i in argnums])
        assert len(jvps) == len(outs0), "jvp returned the wrong number of tangents"
        for k, (t, ref) in enumerate(zip(jvps, numeric_jvp)):
            compare(t, ref, out_dtypes[k], f"jvp tangent of output {k}")

        if tight:
            def scalar(*args):
                total = mx.array(0.0, dtype=dtype)
                for o, c in zip(_as_list(f_of_argnums(*args)), cts):
                    total = total + mx.sum(o * c).astype(dtype)
                return total

            nums = 0 if len(argnums) == 1 else tuple(range(len(argnums)))
            grads = mx.grad(scalar, argnums=nums)(*diff_primals)
            grads = [grads] if len(argnums) == 1 else list(grads)
            for k, (g, ref) in enumerate(zip(grads, numeric_vjp)):
                compare(g, ref, dtype, f"grad of input {argnums[k]}")
