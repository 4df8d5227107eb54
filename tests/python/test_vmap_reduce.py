"""vmap rules of reductions (Reduce, ArgReduce), scans (Scan), sorting (Sort, SearchSorted,
SortedGroups) and Matmul, each checked against a Python loop over the examples, and vmap of
their derivatives (per-example gradients, batches of tangents) against loops of mx.grad/mx.jvp.

A few checks reach primitives of other families whose rules live in other files (Slice,
Concatenate, Gather, Scatter appear in topk, unique and in the derivative graphs of sort and the
scans); where such a rule is missing the check is skipped naming it, and runs once it exists."""

import itertools
import re

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy
from vmap_support import check_vmap, loop_vmap

VMAP_COVERED = {"Reduce", "ArgReduce", "Scan", "Sort", "SearchSorted", "SortedGroups", "Matmul"}

# The names these primitives report in errors: a missing rule of one of them is a failure here.
OWN_NAMES = {"Sum", "Prod", "Max", "Min", "And", "Or", "ArgMax", "ArgMin", "CumSum", "CumProd",
             "CumMax", "CumMin", "LogCumSumExp", "Sort", "ArgSort", "Partition", "ArgPartition",
             "SearchSorted", "SortedGroups", "Matmul"}

B = 3  # batch size


def _or_skip_foreign(run):
    try:
        return run()
    except ValueError as e:
        m = re.match(r"\[(\w+)\] vmap is not implemented yet", str(e))
        if m and m.group(1) not in OWN_NAMES:
            pytest.skip(f"needs the vmap rule of {m.group(1)}, another family's primitive")
        raise


def vcheck(fn, *args, **kw):
    return _or_skip_foreign(lambda: check_vmap(fn, *args, **kw))


def rand(shape, dtype="float32", seed=0, low=None, high=None):
    rng = np.random.default_rng(seed)
    if dtype == "bool_":
        x = rng.random(shape) < 0.5
    elif dtype.startswith("int") or dtype.startswith("uint"):
        x = rng.integers(0 if low is None else low, 5 if high is None else high, shape)
    elif low is not None:
        x = rng.uniform(low, high, shape)
    else:
        x = rng.standard_normal(shape)
    return as_mx(x, dtype)


def as_mx(x, dtype):
    """The NumPy `x` as a pullback array of `dtype` (by name); mx.array alone would make float64
    data float32, as MLX does."""
    if dtype == "bfloat16":
        return mx.array(np.asarray(x, dtype=np.float32)).astype(mx.bfloat16)
    return mx.array(np.asarray(x).astype(getattr(np, dtype)), dtype=getattr(mx, dtype))


def batched(per_example, axis, dtype="float32", seed=0, **kw):
    """A batch of B examples of shape `per_example`, batched along `axis` (None: one example)."""
    if axis is None:
        return rand(per_example, dtype, seed, **kw)
    shape = list(per_example)
    shape.insert(axis % (len(shape) + 1), B)
    return rand(tuple(shape), dtype, seed, **kw)


def transposed(x):
    """`x` as a view with reversed strides (same values)."""
    y = mx.array(np.ascontiguousarray(np.transpose(np.array(x))), dtype=x.dtype)
    return mx.transpose(y)


def reversed_view(x):
    """`x` as a view with a negative stride along axis 0 (same values)."""
    y = mx.array(np.ascontiguousarray(np.array(x)[::-1]), dtype=x.dtype)
    return y[::-1]


NONCONTIG = {"contiguous": lambda x: x, "transposed": transposed, "reversed": reversed_view}
FLOATS = ["float32", "float64"]


def check_grad_vmap(f, *args, in_axes, rtol=1e-5, atol=1e-6):
    """mx.vmap(mx.grad(f)) against a loop of mx.grad over the examples (gradient wrt arg 0)."""
    vcheck(mx.grad(f), *args, in_axes=in_axes, rtol=rtol, atol=atol)


def check_jvp_vmap(f, x, tangents, rtol=1e-5, atol=1e-6):
    """A batch of tangents pushed through f at one point, against a loop of mx.jvp."""
    vcheck(lambda t: mx.jvp(f, [x], [t])[1][0], tangents, in_axes=0, rtol=rtol, atol=atol)


# ---- Reduce ----

REDUCTIONS = {
    "sum": mx.sum, "prod": mx.prod, "max": mx.max, "min": mx.min, "mean": mx.mean,
    "all": mx.all, "any": mx.any, "logsumexp": mx.logsumexp, "var": mx.var,
}
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), ()]


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("in_axis", [0, 1, -1])
def test_reduce(name, axis, keepdims, in_axis):
    op = REDUCTIONS[name]
    dtype = "bool_" if name in ("all", "any") else "float32"
    x = batched((4, 2, 5), in_axis, dtype, low=0.5 if name == "prod" else None,
                high=1.5 if name == "prod" else None)
    vcheck(lambda a: op(a, axis=axis, keepdims=keepdims), x, in_axes=in_axis)


@pytest.mark.parametrize("dtype", ["float64", "int32", "uint8", "bool_", "float16", "bfloat16"])
@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "all", "any"])
def test_reduce_dtypes(dtype, name):
    op = REDUCTIONS[name]
    x = batched((3, 4), 1, dtype, seed=1)
    vcheck(lambda a: op(a, axis=0), x, in_axes=1, rtol=1e-2, atol=1e-2)
    vcheck(lambda a: op(a), x, in_axes=1, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("layout", sorted(NONCONTIG))
@pytest.mark.parametrize("name", ["sum", "max", "prod"])
def test_reduce_noncontiguous(layout, name):
    x = NONCONTIG[layout](batched((4, 5), 0, "float64", low=0.5, high=1.5))
    vcheck(lambda a: REDUCTIONS[name](a, axis=-1), x, in_axes=0)
    vcheck(lambda a: REDUCTIONS[name](a, axis=0, keepdims=True), x, in_axes=1)


def test_reduce_mixed_batched_unbatched():
    x = batched((4, 5), 1)
    w = rand((4, 5), seed=2)
    vcheck(lambda a, b: mx.sum(a * b, axis=0), x, w, in_axes=(1, None))
    vcheck(lambda a, b: mx.max(a - b, axis=(0, 1)), w, batched((4, 5), -1), in_axes=(None, -1))


def test_reduce_keeps_the_batch_axis_in_place():
    # The rule reduces the batched array in its own layout: the batch axis stays where it was.
    x = batched((4, 5), 1)
    got = mx.vmap(lambda a: mx.sum(a, axis=1), in_axes=1, out_axes=0)(x)
    np.testing.assert_allclose(np.array(got), np.array(x).sum(axis=2).T, rtol=1e-6)


# ---- ArgReduce ----

@pytest.mark.parametrize("op", [mx.argmax, mx.argmin], ids=["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("in_axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_argreduce(op, axis, keepdims, in_axis, dtype):
    x = batched((4, 6), in_axis, dtype, high=100)
    vcheck(lambda a: op(a, axis=axis, keepdims=keepdims), x, in_axes=in_axis, exact=True)


def test_argreduce_noncontiguous_and_ties():
    x = transposed(mx.array(np.array([[1, 3, 3, 0], [2, 2, 1, 2], [np.nan, 5, np.nan, 1]],
                                     dtype=np.float32)))
    vcheck(lambda a: mx.argmax(a, axis=0), x, in_axes=1, exact=True)
    vcheck(lambda a: mx.argmin(a), x, in_axes=-1, exact=True)


# ---- Scan ----

SCANS = {"cumsum": mx.cumsum, "cumprod": mx.cumprod, "cummax": mx.cummax, "cummin": mx.cummin,
         "logcumsumexp": mx.logcumsumexp}


@pytest.mark.parametrize("name", sorted(SCANS))
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize("in_axis", [0, 1, -1])
def test_scan(name, axis, reverse, inclusive, in_axis):
    x = batched((4, 5), in_axis, "float32", low=0.5, high=1.5)
    vcheck(lambda a: SCANS[name](a, axis=axis, reverse=reverse, inclusive=inclusive), x,
           in_axes=in_axis, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float64", "int32", "bool_"])
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "cummax", "cummin"])
@pytest.mark.parametrize("layout", sorted(NONCONTIG))
def test_scan_dtypes_noncontiguous(dtype, name, layout):
    x = NONCONTIG[layout](batched((5, 4), 0, dtype, seed=3))
    vcheck(lambda a: SCANS[name](a, axis=0, reverse=True), x, in_axes=-1)
    vcheck(lambda a: SCANS[name](a, axis=-1), x, in_axes=0)


def test_scan_mixed_batched_unbatched():
    x = batched((6,), 0)
    w = rand((6,), seed=4)
    vcheck(lambda a, b: mx.cumsum(a * b), x, w, in_axes=(0, None))
    vcheck(lambda a, b: mx.logcumsumexp(b - a, reverse=True), x, w, in_axes=(0, None))


# ---- Sort ----

def _sort_ops():
    return {
        "sort": lambda a, axis: mx.sort(a, axis=axis),
        "argsort": lambda a, axis: mx.argsort(a, axis=axis),
        "partition": lambda a, axis: mx.partition(a, 2, axis=axis),
        "argpartition": lambda a, axis: mx.argpartition(a, -2, axis=axis),
    }


@pytest.mark.parametrize("name", sorted(_sort_ops()))
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("in_axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_sort(name, axis, in_axis, dtype):
    op = _sort_ops()[name]
    x = batched((5, 4), in_axis, dtype, high=1000)
    vcheck(lambda a: op(a, axis), x, in_axes=in_axis, exact=True)


@pytest.mark.parametrize("layout", sorted(NONCONTIG))
def test_sort_noncontiguous_with_nans(layout):
    x = np.array(batched((6, 4), 1, "float64"))
    x[0, 1, 2] = x[3, 0, 1] = np.nan
    x = NONCONTIG[layout](as_mx(x, "float64"))
    for name, op in _sort_ops().items():
        vcheck(lambda a: op(a, 0), x, in_axes=1, exact=True)


def test_sort_mixed_batched_unbatched():
    x = batched((6,), 0)
    w = rand((6,), seed=5)
    vcheck(lambda a, b: mx.sort(a + b), x, w, in_axes=(0, None), exact=True)
    vcheck(lambda a, b: mx.argsort(a * b), w, x, in_axes=(None, 0), exact=True)


def test_topk():
    x = batched((7, 3), 1)
    vcheck(lambda a: mx.topk(a, 3, axis=0), x, in_axes=1)


# ---- SearchSorted ----

def _sequence(per_example, axis, dtype, seed):
    """Sorted rows (with repeats and a trailing NaN for floats) batched along `axis`."""
    rng = np.random.default_rng(seed)
    n = per_example[0]
    rows = np.sort(rng.integers(0, 6, (B, n)), axis=1).astype(getattr(np, dtype))
    if dtype.startswith("float"):
        rows[1, -1] = np.nan
    if axis is None:
        return as_mx(rows[0], dtype)
    return as_mx(np.moveaxis(rows, 0, axis % 2), dtype)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("seq_axis,val_axis",
                         [(s, v) for s in (None, 0, 1, -1) for v in (None, 0, 1, -1)
                          if (s, v) != (None, None)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_searchsorted(side, seq_axis, val_axis, dtype):
    seq = _sequence((7,), seq_axis, dtype, seed=6)
    vals = np.array(batched((2, 3), val_axis, "int32", seed=7, high=7)).astype(getattr(np, dtype))
    if dtype.startswith("float"):
        vals.flat[0] = np.nan
        vals.flat[1] = 2.5
    vals = as_mx(vals, dtype)
    got = check_vmap(lambda s, v: mx.searchsorted(s, v, side=side), seq, vals,
                     in_axes=(seq_axis, val_axis))
    assert got[0].dtype == mx.uint32


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_edges(side):
    f = lambda s, v: mx.searchsorted(s, v, side=side)  # noqa: E731
    # Scalar values, an empty sequence, no values, non-contiguous sequence rows.
    check_vmap(f, _sequence((5,), 0, "float32", 8), mx.array([0.5, 3.0, np.inf]), in_axes=0)
    check_vmap(f, mx.zeros((B, 0)), mx.array([[1.0, 2.0]] * B), in_axes=0)
    check_vmap(f, _sequence((5,), 0, "float32", 8), mx.zeros((B, 0)), in_axes=0)
    seq = transposed(_sequence((5,), 1, "float64", 9))
    check_vmap(f, seq, as_mx([[1.0, 4.0], [0.0, 6.0]], "float64"), in_axes=(1, None))
    seq = reversed_view(_sequence((5,), 0, "float32", 10))
    check_vmap(f, seq, batched((4,), 1, seed=11), in_axes=(0, 1))


def test_searchsorted_nested():
    # Rows batched at both levels: the outer replay batches the inner rule's merge-sort graph.
    seqs = mx.sort(rand((B, 6, 2), "float32", seed=40), axis=1)  # per inner example: axis 1
    vals = rand((2, B, 4), "float32", seed=41)
    for side in ("left", "right"):
        inner = mx.vmap(lambda s, v: mx.searchsorted(s, v, side=side), in_axes=(1, 0))
        vcheck(inner, seqs, vals, in_axes=(0, 1))


# ---- SortedGroups (reached through unique) ----

@pytest.mark.parametrize("in_axis", [0, 1, -1])
def test_unique(in_axis):
    x = np.array(batched((8,), in_axis, "int32", seed=12, high=4)).astype(np.float32)
    x.flat[3] = np.nan
    x.flat[5] = np.nan
    x = mx.array(x)
    vcheck(lambda a: mx.unique(a, size=6, return_inverse=True, return_counts=True,
                               fill_value=-1.0), x, in_axes=in_axis)


# ---- Matmul ----

# Per-example shapes of a and b (1-d operands go through matmul's vector rule).
MATMUL_SHAPES = [
    ((3, 4), (4, 2)), ((5, 4), (4, 2)), ((1, 4), (4, 6)), ((2, 4), (4, 1)), ((4,), (4, 3)),
    ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
]


def _axis_choices(ndim):
    return [None] + list(range(ndim + 1)) + [-1]


def _matmul_cases():
    for sa, sb in MATMUL_SHAPES:
        for aa, ab in itertools.product(_axis_choices(len(sa)), _axis_choices(len(sb))):
            if aa is None and ab is None:
                continue
            yield pytest.param(sa, sb, aa, ab, id=f"{sa}@{sb}-{aa}-{ab}")


@pytest.mark.parametrize("sa,sb,aa,ab", list(_matmul_cases()))
def test_matmul(sa, sb, aa, ab):
    a = batched(sa, aa, "float32", seed=13)
    b = batched(sb, ab, "float32", seed=14)
    check_vmap(mx.matmul, a, b, in_axes=(aa, ab), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16", "complex64"])
@pytest.mark.parametrize("aa,ab", [(0, None), (None, 0), (None, 2), (1, 0)])
def test_matmul_dtypes(dtype, aa, ab):
    def make(shape, axis, seed):
        x = batched(shape, axis, "float64", seed=seed)
        if dtype == "complex64":
            x = x + 1j * batched(shape, axis, "float64", seed=seed + 100)
        return x.astype(getattr(mx, dtype))
    tol = {"float64": 1e-12, "complex64": 1e-5}.get(dtype, 1e-2)
    check_vmap(mx.matmul, make((5, 4), aa, 15), make((4, 2), ab, 16), in_axes=(aa, ab),
               rtol=tol, atol=tol)


@pytest.mark.parametrize("layout_a", sorted(NONCONTIG))
@pytest.mark.parametrize("layout_b", sorted(NONCONTIG))
@pytest.mark.parametrize("aa,ab", [(0, None), (2, None), (None, 0), (None, 1), (1, 2)])
def test_matmul_noncontiguous(layout_a, layout_b, aa, ab):
    a = NONCONTIG[layout_a](batched((6, 4), aa, "float64", seed=17))
    b = NONCONTIG[layout_b](batched((4, 2), ab, "float64", seed=18))
    check_vmap(mx.matmul, a, b, in_axes=(aa, ab), rtol=1e-12, atol=1e-12)


def test_matmul_empty_axes():
    check_vmap(mx.matmul, batched((0, 4), 0), rand((4, 3)), in_axes=(0, None))
    check_vmap(mx.matmul, rand((2, 0)), batched((0, 3), 2), in_axes=(None, 2))
    check_vmap(mx.matmul, batched((2, 3), 1), batched((3, 0), 0), in_axes=(1, 0))


def test_matmul_composites():
    a, b, c = batched((3, 4), 0, seed=19), rand((4, 5), seed=20), batched((3, 5), 1, seed=21)
    check_vmap(lambda c, a, b: mx.addmm(c, a, b, alpha=0.5, beta=2.0), c, a, b,
               in_axes=(1, 0, None), rtol=1e-5, atol=1e-5)
    check_vmap(lambda x, y: mx.tensordot(x, y, axes=1), a, b, in_axes=(0, None), rtol=1e-5,
               atol=1e-5)
    check_vmap(lambda x, y: mx.inner(x, y), a, batched((5, 4), 2, seed=22), in_axes=(0, 2),
               rtol=1e-5, atol=1e-5)


def test_matmul_out_axes():
    a, b = batched((3, 4), 0, seed=24), rand((4, 5), seed=25)
    for out_axis in (0, 1, 2, -1):
        check_vmap(mx.matmul, a, b, in_axes=(0, None), out_axes=out_axis, rtol=1e-5, atol=1e-5)


# ---- Nested vmap ----

def test_nested_vmap():
    # Outer batch along axis 0 (size 2), inner along axis 2 (size B): per example (4, 5).
    x = rand((2, 4, B, 5), seed=26)
    w = rand((5, 3), seed=27)
    f = lambda a, w: mx.cumsum(mx.sort(a @ w, axis=0), axis=-1).sum(axis=0)  # noqa: E731
    got = mx.vmap(mx.vmap(f, in_axes=(1, None)), in_axes=(0, None))(x, w)
    want = mx.stack([mx.stack([f(x[i, :, j], w) for j in range(B)]) for i in range(2)])
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5, atol=1e-5)
    # Both operands batched at both levels, in different places, with argmax of the product.
    y = rand((B, 5, 2, 3), seed=28)
    g = lambda a, b: mx.argmax(a @ b, axis=0)  # noqa: E731
    got = mx.vmap(mx.vmap(g, in_axes=(1, 0)), in_axes=(0, 2))(x, y)
    want = mx.stack([mx.stack([g(x[i, :, j], y[j, :, i]) for j in range(B)]) for i in range(2)])
    np.testing.assert_array_equal(np.array(got), np.array(want))


# ---- vmap of VJPs and JVPs ----

GRAD_FUNCTIONS = {
    "sum": lambda x: mx.sum(x * x, axis=0).sum(),
    "prod": lambda x: mx.prod(x, axis=1).sum(),
    "max": lambda x: mx.max(x, axis=(0, 1)),
    "min": lambda x: mx.min(x, axis=-1, keepdims=True).sum(),
    "mean": lambda x: mx.mean(x),
    "logsumexp": lambda x: mx.logsumexp(x, axis=0).sum(),
    "argmax": lambda x: (x * mx.argmax(x, axis=0).astype(x.dtype)).sum(),
    "cumsum": lambda x: (mx.cumsum(x, axis=0) ** 2).sum(),
    "cumprod": lambda x: mx.cumprod(x, axis=1, reverse=True).sum(),
    "cummax": lambda x: mx.cummax(x, axis=0).sum(),
    "cummin": lambda x: (mx.cummin(x, axis=1, inclusive=False) ** 2).sum(),
    "logcumsumexp": lambda x: mx.logcumsumexp(x, axis=1).sum(),
    "cumsum_exclusive": lambda x: (mx.cumsum(x, axis=1, inclusive=False) ** 2).sum(),
    "sort": lambda x: (mx.sort(x, axis=0) * mx.arange(4, dtype=x.dtype)[:, None]).sum(),
    "partition": lambda x: mx.partition(x, 1, axis=-1)[..., 1].sum(),
    "matmul": lambda x: (x @ mx.transpose(x)).sum(),
}


@pytest.mark.parametrize("name", sorted(GRAD_FUNCTIONS))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("in_axis", [0, -1])
def test_vmap_of_grad(name, dtype, in_axis):
    x = batched((4, 3), in_axis, dtype, seed=29, low=0.5, high=1.5)
    tol = 1e-5 if dtype == "float32" else 1e-10
    check_grad_vmap(GRAD_FUNCTIONS[name], x, in_axes=in_axis, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(GRAD_FUNCTIONS))
@pytest.mark.parametrize("dtype", FLOATS)
def test_vmap_of_jvp(name, dtype):
    x = rand((4, 3), dtype, seed=30, low=0.5, high=1.5)
    tangents = batched((4, 3), 0, dtype, seed=31)
    tol = 1e-5 if dtype == "float32" else 1e-10
    check_jvp_vmap(GRAD_FUNCTIONS[name], x, tangents, rtol=tol, atol=tol)


def test_vmap_of_grad_noncontiguous_and_unbatched_weight():
    w = rand((5, 3), "float64", seed=32)
    x = transposed(batched((5,), 1, "float64", seed=33))  # (5, B) with strides (1, 5)
    f = lambda w, x: mx.logsumexp(mx.cumsum(x @ w)) + mx.max(w, axis=0).sum()  # noqa: E731
    check_grad_vmap(f, w, x, in_axes=(None, 1), rtol=1e-10, atol=1e-10)
    g = lambda x, w: mx.sum(mx.sort(x) @ w)  # noqa: E731
    check_grad_vmap(g, x, w, in_axes=(1, None), rtol=1e-10, atol=1e-10)


def _mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = mx.tanh(x @ w1 + b1)
    logits = h @ w2 + b2
    return mx.logsumexp(logits) - mx.sum(logits * y)


@pytest.mark.parametrize("dtype", FLOATS)
def test_per_example_mlp_gradients(dtype):
    params = [rand((6, 5), dtype, 34) * 0.5, rand((5,), dtype, 35), rand((5, 3), dtype, 36) * 0.5,
              rand((3,), dtype, 37)]
    xs = rand((B + 1, 6), dtype, 38)
    ys = as_mx(np.eye(3)[[0, 2, 1, 2]], dtype)
    got = mx.vmap(mx.grad(_mlp_loss), in_axes=(None, 0, 0))(params, xs, ys)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for k in range(len(params)):
        want = mx.stack([mx.grad(_mlp_loss)(params, xs[i], ys[i])[k] for i in range(B + 1)])
        np.testing.assert_allclose(to_numpy(got[k]), to_numpy(want), rtol=tol, atol=tol)
    # The derivative with respect to the batched input: jvp of a batch of tangents.
    t = rand((B + 1, 6), dtype, 39)
    outs = mx.vmap(lambda x, y, t: mx.jvp(lambda x: _mlp_loss(params, x, y), [x], [t])[1][0])(
        xs, ys, t)
    want = loop_vmap(lambda x, y, t: mx.jvp(lambda x: _mlp_loss(params, x, y), [x], [t])[1][0],
                     (xs, ys, t))
    np.testing.assert_allclose(to_numpy(outs), to_numpy(want[0]), rtol=tol, atol=tol)
