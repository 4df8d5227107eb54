"""vmap rules of the elementwise primitives (Unary, Binary, Select) against a loop over the
examples: every op, every dtype class it takes, operands of different ranks, scalars, mixes of
mapped and unmapped operands, non-contiguous inputs, and vmap of their derivatives."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy
from vmap_cases import B, LAYOUTS, batched, check_vmap_grad, check_vmap_jvp, example
from vmap_support import check_vmap

VMAP_COVERED = {"Unary", "Binary", "Select"}

FLOATS = ["float32", "float64", "float16", "bfloat16"]
INTS = ["int32", "uint8", "int8", "int64"]
# The value ranges the functions are defined (and well conditioned) on.
DOMAIN = {"any": (-2.0, 2.0), "positive": (0.5, 3.0), "unit": (-0.9, 0.9), "above_one": (1.5, 3.0)}


def rtol_for(dtype):
    return {"float16": 2e-3, "bfloat16": 1e-2}.get(dtype, 1e-5)


def mapped(shape, axis, dtype, layout="contiguous", seed=0, domain="any"):
    """A batch at `axis`, or (axis None) one example."""
    low, high = DOMAIN[domain]
    if axis is None:
        return example(shape, dtype, layout, seed, low=low, high=high)
    return batched(shape, axis, dtype, layout, seed, low=low, high=high)


# (op, domain, dtypes) for each elementwise function of one array.
UNARY = [
    (mx.abs, "any", FLOATS + INTS + ["complex64"]),
    (mx.negative, "any", FLOATS + INTS + ["complex64"]),
    (mx.sign, "any", FLOATS + INTS),
    (mx.square, "any", FLOATS + INTS + ["complex64"]),
    (mx.exp, "any", FLOATS + ["int32", "complex64"]),
    (mx.expm1, "any", FLOATS),
    (mx.log, "positive", FLOATS + ["uint8"]),
    (mx.log1p, "positive", FLOATS),
    (mx.log2, "positive", FLOATS),
    (mx.log10, "positive", FLOATS),
    (mx.sqrt, "positive", FLOATS + ["int32"]),
    (mx.rsqrt, "positive", FLOATS),
    (mx.reciprocal, "positive", FLOATS),
    (mx.sin, "any", FLOATS + ["int8", "complex64"]),
    (mx.cos, "any", FLOATS),
    (mx.tan, "unit", FLOATS),
    (mx.arcsin, "unit", FLOATS),
    (mx.arccos, "unit", FLOATS),
    (mx.arctan, "any", FLOATS),
    (mx.sinh, "any", FLOATS),
    (mx.cosh, "any", FLOATS),
    (mx.tanh, "any", FLOATS),
    (mx.arcsinh, "any", FLOATS),
    (mx.arccosh, "above_one", FLOATS),
    (mx.arctanh, "unit", FLOATS),
    (mx.sigmoid, "any", FLOATS),
    (mx.erf, "any", FLOATS),
    (mx.erfinv, "unit", FLOATS),
    (mx.floor, "any", FLOATS + ["int32"]),
    (mx.ceil, "any", FLOATS),
    (mx.round, "any", FLOATS),
    (mx.conjugate, "any", ["complex64"]),
    (mx.real, "any", ["complex64"]),
    (mx.imag, "any", ["complex64"]),
    (mx.isnan, "any", FLOATS + ["int32"]),
    (mx.isinf, "any", FLOATS),
    (mx.isfinite, "any", FLOATS),
    (mx.isposinf, "any", FLOATS),
    (mx.isneginf, "any", FLOATS),
    (mx.logical_not, "any", ["bool_", "int32", "float32"]),
]
UNARY_CASES = [(op, dom, d) for op, dom, ds in UNARY for d in ds]


def _special_values(x):
    """`x` with an inf, a -inf and a NaN in every example (for the predicates)."""
    x = x + mx.zeros_like(x)
    x[..., 0] = float("inf")
    x[..., 1] = float("-inf")
    x[..., 2] = float("nan")
    return x


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("case", UNARY_CASES, ids=[f"{op.__name__}-{d}" for op, _, d in UNARY_CASES])
def test_unary(case, axis):
    op, dom, dtype = case
    layout = LAYOUTS[(axis + len(dtype)) % len(LAYOUTS)]
    x = mapped((3, 5), axis, dtype, layout, domain=dom)
    if op.__name__.startswith("is") and dtype.startswith(("float", "bfloat")):
        x = _special_values(x)
    check_vmap(op, x, in_axes=axis, rtol=rtol_for(dtype))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_unary_scalar_examples_and_layouts(layout):
    x = batched((), 0, "float32")
    check_vmap(mx.exp, x)
    y = batched((2, 3, 4), 2, "float64", layout)
    check_vmap(lambda a: mx.tanh(mx.sin(a)), y, in_axes=2)


# (op, domain of the second operand, dtypes) for each elementwise function of two arrays.
BINARY = [
    (mx.add, "any", FLOATS + INTS + ["bool_", "complex64"]),
    (mx.subtract, "any", FLOATS + INTS + ["complex64"]),
    (mx.multiply, "any", FLOATS + INTS + ["bool_", "complex64"]),
    (mx.divide, "positive", FLOATS + ["int32", "complex64"]),
    (mx.floor_divide, "positive", FLOATS + ["int32", "uint8"]),
    (mx.remainder, "positive", FLOATS + ["int32", "int8"]),
    (mx.power, "unit", ["float32", "float64", "float16"]),
    (mx.maximum, "any", FLOATS + INTS),
    (mx.minimum, "any", FLOATS + INTS),
    (mx.arctan2, "any", FLOATS),
    (mx.logaddexp, "any", FLOATS),
    (mx.bitwise_and, "any", INTS + ["bool_"]),
    (mx.bitwise_or, "any", INTS + ["bool_"]),
    (mx.bitwise_xor, "any", INTS + ["bool_"]),
    (mx.left_shift, "shift", ["int32", "uint8", "int64"]),
    (mx.right_shift, "shift", ["int32", "uint8", "int64"]),
    (mx.equal, "any", FLOATS + ["int32", "bool_"]),
    (mx.not_equal, "any", FLOATS + ["int32", "bool_"]),
    (mx.less, "any", FLOATS + INTS),
    (mx.less_equal, "any", FLOATS + INTS),
    (mx.greater, "any", FLOATS + INTS),
    (mx.greater_equal, "any", FLOATS + INTS),
    (mx.logical_and, "any", ["bool_", "int32", "float32"]),
    (mx.logical_or, "any", ["bool_", "int32", "float32"]),
]
BINARY_CASES = [(op, dom, d) for op, dom, ds in BINARY for d in ds]
MIXES = [(0, 0), (0, None), (None, 0), (1, -1), (-1, 0)]


def operands(shapes, axes, dtype, dom, layouts=("transposed", "reversed")):
    a = mapped(shapes[0], axes[0], dtype, layouts[0], seed=0,
               domain="positive" if dom == "unit" else "any")
    if dom == "shift":
        vals = np.random.default_rng(1).integers(0, 4, _full(shapes[1], axes[1]))
        b = mx.array(vals, dtype=getattr(mx, dtype))
    else:
        b = mapped(shapes[1], axes[1], dtype, layouts[1], seed=1, domain=dom)
    if dom == "positive" and dtype.startswith(("int", "uint")):
        b = mx.abs(b) + mx.array(1, dtype=b.dtype)
    return a, b


def _full(shape, axis):
    full = list(shape)
    if axis is not None:
        full.insert(axis % (len(full) + 1), B)
    return tuple(full)


@pytest.mark.parametrize("axes", MIXES, ids=str)
@pytest.mark.parametrize("case", BINARY_CASES, ids=[f"{op.__name__}-{d}" for op, _, d in BINARY_CASES])
def test_binary(case, axes):
    op, dom, dtype = case
    a, b = operands(((3, 4), (3, 4)), axes, dtype, dom)
    check_vmap(op, a, b, in_axes=list(axes), rtol=rtol_for(dtype))


# Operands of different ranks and sizes (the op broadcasts them before building the node).
SHAPE_PAIRS = [((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)), ((3, 4), ()), ((), (2, 3)),
               ((2, 1, 4), (3, 1))]


@pytest.mark.parametrize("axes", MIXES, ids=str)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("op", [mx.add, mx.multiply, mx.less, mx.arctan2, mx.bitwise_xor],
                         ids=lambda op: op.__name__)
def test_binary_broadcasting(op, shapes, axes):
    if any(ax == 1 and len(s) == 0 for s, ax in zip(shapes, axes)):
        axes = tuple(-1 if ax == 1 else ax for ax in axes)
    dtype = "int32" if op is mx.bitwise_xor else "float32"
    a, b = operands(shapes, axes, dtype, "any")
    check_vmap(op, a, b, in_axes=list(axes))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool_", "float16"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_binary_scalar_operands(dtype, axis):
    x = mapped((3, 4), axis, dtype, "sliced")
    fns = [lambda a: a + 2, lambda a: 3 * a, lambda a: a - 1.5, lambda a: a == 1,
           lambda a: mx.maximum(a, 0), lambda a: a * mx.array(2, dtype=mx.int8)]
    if dtype != "bool_":
        fns += [lambda a: 2 ** mx.abs(a), lambda a: a ** 2, lambda a: 7 // (mx.abs(a) + 1),
                lambda a: a % 3]
    for f in fns:
        check_vmap(f, x, in_axes=axis, rtol=rtol_for(dtype))


# ---- Select (where), and clip that composes it ----

SELECT_AXES = [(0, 0, 0), (0, None, None), (None, 0, None), (None, None, 0), (1, -1, None),
               (None, 1, -1), (-1, None, 0)]
SELECT_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), ()), ((3, 1), (1, 4), (3, 4)),
                 ((), (3, 4), (4,))]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool_", "complex64"])
@pytest.mark.parametrize("shapes", SELECT_SHAPES, ids=str)
@pytest.mark.parametrize("axes", SELECT_AXES, ids=str)
def test_select(axes, shapes, dtype):
    if any(ax == 1 and len(s) == 0 for s, ax in zip(shapes, axes)):
        axes = tuple(-1 if ax == 1 else ax for ax in axes)
    cond = mapped(shapes[0], axes[0], "bool_", "transposed", seed=5)
    x = mapped(shapes[1], axes[1], dtype, "reversed", seed=6)
    y = mapped(shapes[2], axes[2], dtype, "sliced", seed=7)
    check_vmap(mx.where, cond, x, y, in_axes=list(axes), exact=True)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_select_scalars_and_promotion(axis):
    c = mapped((3, 4), axis, "float32")
    check_vmap(lambda a: mx.where(a > 0, a, 0.0), c, in_axes=axis)
    check_vmap(lambda a: mx.where(a > 0, 1, -1), c, in_axes=axis)
    i = mapped((3, 4), axis, "int32")
    check_vmap(lambda a: mx.where(a > 0, a, 0.5), i, in_axes=axis)


@pytest.mark.parametrize("axes", [(0, None, None), (0, 0, None), (None, 0, 0), (1, -1, 0)],
                         ids=str)
def test_clip(axes):
    x = mapped((3, 4), axes[0], "float32", "transposed")
    lo = mapped((4,), axes[1], "float32", seed=1, domain="unit") - 0.5
    hi = mapped((3, 1), axes[2], "float32", seed=2, domain="unit") + 0.5
    check_vmap(mx.clip, x, lo, hi, in_axes=list(axes))
    check_vmap(lambda a: mx.clip(a, -0.5, None), x if axes[0] is not None else lo,
               in_axes=axes[0] if axes[0] is not None else axes[1])


# ---- nested vmap ----

def test_nested_vmap():
    x = mapped((5, 4), 0, "float32", "transposed")   # (B, 5, 4): inner examples along axis 1
    y = mapped((5,), 0, "float32", seed=1)
    c = example((5,), "bool_", seed=2)

    def f(a, b, m):
        return mx.where(m, mx.sin(a) * b, mx.maximum(a, b) - 1)

    got = mx.vmap(mx.vmap(f, in_axes=(1, None, None)), in_axes=(0, 0, None))(x, y, c)
    want = np.stack([np.stack([to_numpy(f(x[i, :, j], y[i], c)) for j in range(4)])
                     for i in range(B)])
    assert got.shape == (B, 4, 5)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-6)


# ---- derivatives under vmap ----

DIFFERENTIABLE_UNARY = [(op, dom) for op, dom, ds in UNARY
                        if "float32" in ds and not op.__name__.startswith(
                            ("is", "logical", "floor", "ceil", "round", "sign"))]


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("case", DIFFERENTIABLE_UNARY, ids=[op.__name__ for op, _ in DIFFERENTIABLE_UNARY])
def test_unary_vmap_of_grad_and_jvp(case, axis):
    op, dom = case
    x = mapped((3, 4), axis, "float64", "sliced", domain=dom)
    check_vmap_grad(op, x, in_axes=axis, rtol=1e-10)
    t = mapped((3, 4), axis, "float64", "transposed", seed=3)
    check_vmap_jvp(op, [mapped((3, 4), None, "float64", domain=dom)], [t], in_axes=axis,
                   rtol=1e-10)
    check_vmap_jvp(op, [x], [t], in_axes=[axis, axis], rtol=1e-10)


DIFFERENTIABLE_BINARY = [(op, dom) for op, dom, _ in BINARY if op.__name__ in (
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2",
    "logaddexp", "remainder")]


@pytest.mark.parametrize("axes", MIXES, ids=str)
@pytest.mark.parametrize("case", DIFFERENTIABLE_BINARY, ids=[op.__name__ for op, _ in DIFFERENTIABLE_BINARY])
def test_binary_vmap_of_grad(case, axes):
    op, dom = case
    a, b = operands(((3, 4), (3, 4)), axes, "float64", dom)
    check_vmap_grad(op, a, b, in_axes=list(axes), rtol=1e-10)


@pytest.mark.parametrize("case", DIFFERENTIABLE_BINARY, ids=[op.__name__ for op, _ in DIFFERENTIABLE_BINARY])
def test_binary_vmap_of_jvp(case):
    op, dom = case
    a, b = operands(((3, 4), (3, 4)), (None, None), "float64", dom)
    ta, tb = operands(((3, 4), (3, 4)), (0, -1), "float64", "any")
    check_vmap_jvp(op, [a, b], [ta, tb], in_axes=[None, None, 0, -1], rtol=1e-10)
    pa, pb = operands(((3, 4), (3, 4)), (1, None), "float64", dom)
    check_vmap_jvp(op, [pa, pb], [ta, tb], in_axes=[1, None, 0, -1], rtol=1e-10)


@pytest.mark.parametrize("axes", [(0, 0, 0), (0, None, None), (None, 0, None), (None, 1, -1)],
                         ids=str)
def test_select_vmap_of_grad_and_jvp(axes):
    cond = mapped((3, 4), axes[0], "bool_", seed=5)
    x = mapped((3, 4), axes[1], "float64", "reversed", seed=6)
    y = mapped((3, 4), axes[2], "float64", "sliced", seed=7)
    check_vmap_grad(mx.where, cond, x, y, in_axes=list(axes), rtol=1e-10)
    c0 = example((3, 4), "bool_", seed=5)
    tx, ty = mapped((3, 4), 0, "float64", seed=8), mapped((3, 4), 1, "float64", seed=9)
    check_vmap_jvp(lambda u, v: mx.where(c0, u, v), [example((3, 4), "float64")] * 2, [tx, ty],
                   in_axes=[None, None, 0, 1], rtol=1e-10)


def test_per_example_gradient_of_a_small_model():
    """vmap(grad) over a batch of inputs with shared parameters: the per-example gradient use
    case, through broadcasting binaries, unaries and where."""
    w = example((4,), "float64", seed=1)
    bias = example((), "float64", seed=2)
    xs = mapped((4,), 0, "float64", seed=3)

    def loss(w, bias, x):
        z = mx.sum(w * x) + bias
        return mx.where(z > 0, z, 0.1 * z) ** 2 + mx.log1p(mx.exp(-z))

    check_vmap_grad(loss, w, bias, xs, in_axes=[None, None, 0], rtol=1e-10)
