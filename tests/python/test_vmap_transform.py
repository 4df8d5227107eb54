"""mx.vmap as a transform: in_axes/out_axes trees, closures, nesting, and its errors.

The primitives' own rules are checked family by family in the other test_vmap_*.py files;
here every case is compared with a Python loop over the examples (vmap_support.check_vmap) or
with values computed by hand."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy
from vmap_support import check_vmap

rng = np.random.default_rng(0)


def arr(*shape, dtype=mx.float32):
    return mx.array(rng.standard_normal(shape), dtype=dtype)


def f_elementwise(x, y):
    return mx.tanh(x) * y + 1.0


@pytest.mark.parametrize("in_axes", [0, 1, -1, (0, None), (None, 1), (1, 0), (-2, -1)])
def test_in_axes_forms(in_axes):
    x, y = arr(4, 4), arr(4, 4)
    if in_axes == (0, None):
        y = arr(4)
    if in_axes == (None, 1):
        x = arr(4)
    check_vmap(f_elementwise, x, y, in_axes=in_axes)


@pytest.mark.parametrize("out_axes", [0, 1, 2, -1, -3])
def test_out_axes_forms(out_axes):
    x = arr(5, 3, 2)
    check_vmap(lambda a: mx.exp(a) - a, x, in_axes=1, out_axes=out_axes)


def test_in_axes_list_is_accepted_like_a_tuple():
    x, y = arr(3, 2), arr(2)
    a = mx.vmap(f_elementwise, in_axes=[0, None])(x, y)
    b = mx.vmap(f_elementwise, in_axes=(0, None))(x, y)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_pytree_arguments_and_prefix_in_axes():
    params = {"w": arr(3), "b": arr(3)}
    xs = {"x": arr(5, 3), "scale": arr(3, 5)}

    def f(p, d):
        return p["w"] * d["x"] + p["b"] * d["scale"]

    got = mx.vmap(f, in_axes=(None, {"x": 0, "scale": 1}))(params, xs)
    want = np.stack([to_numpy(f(params, {"x": xs["x"][i], "scale": xs["scale"][:, i]}))
                     for i in range(5)])
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-6)


def test_list_and_tuple_arguments_with_one_axis_for_the_subtree():
    pair = (arr(4, 2), arr(4, 2))
    got = mx.vmap(lambda p: p[0] @ p[1], in_axes=0)(pair)
    want = np.stack([to_numpy(pair[0][i]) @ to_numpy(pair[1][i]) for i in range(4)])
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5)


def test_several_and_nested_outputs_with_out_axes_tree():
    x = arr(3, 4)

    def f(a):
        return a * 2, {"s": mx.sin(a), "pair": [a + 1, mx.cos(a)]}

    out = mx.vmap(f, out_axes=(0, {"s": 1, "pair": [0, -1]}))(x)
    xn = to_numpy(x)
    np.testing.assert_allclose(to_numpy(out[0]), xn * 2, rtol=1e-6)
    np.testing.assert_allclose(to_numpy(out[1]["s"]), np.sin(xn).T, rtol=1e-6)
    np.testing.assert_allclose(to_numpy(out[1]["pair"][0]), xn + 1, rtol=1e-6)
    np.testing.assert_allclose(to_numpy(out[1]["pair"][1]), np.cos(xn).T, rtol=1e-6)
    assert isinstance(out, tuple) and isinstance(out[1]["pair"], list)


def test_output_not_depending_on_the_mapped_input_is_broadcast():
    x, c = arr(5, 2), arr(2)
    out = mx.vmap(lambda a: (a + 1, c * 3))(x)
    assert out[1].shape == (5, 2)
    np.testing.assert_allclose(to_numpy(out[1]), np.tile(to_numpy(c) * 3, (5, 1)), rtol=1e-6)
    out = mx.vmap(lambda a: mx.ones((3,)), out_axes=1)(x)
    assert out.shape == (3, 5)


def test_out_axes_none_returns_an_unmapped_output_once():
    x, c = arr(5, 2), arr(2)
    a, b = mx.vmap(lambda a: (a + 1, c * 3), out_axes=(0, None))(x)
    assert a.shape == (5, 2) and b.shape == (2,)
    with pytest.raises(ValueError, match=r"\[vmap\] out_axes is None for output 0"):
        mx.vmap(lambda a: a + 1, out_axes=None)(x)


def test_identity_and_input_returned_as_is():
    x = arr(3, 4)
    np.testing.assert_array_equal(to_numpy(mx.vmap(lambda a: a, in_axes=1, out_axes=0)(x)),
                                  to_numpy(x).T)


def test_captured_arrays_in_a_closure():
    w = arr(4, 3)
    check_vmap(lambda x: mx.tanh(x @ w), arr(6, 4))


def test_nested_vmap_with_different_axes():
    x, y = arr(3, 4), arr(5, 4)

    def inner(a, b):
        return (a * b).sum()

    got = mx.vmap(mx.vmap(inner, in_axes=(None, 0)), in_axes=(0, None))(x, y)
    np.testing.assert_allclose(to_numpy(got), to_numpy(x) @ to_numpy(y).T, rtol=1e-5)
    got = mx.vmap(mx.vmap(lambda a: a * 2, in_axes=1, out_axes=0), in_axes=0, out_axes=1)(
        arr(2, 3, 4))
    assert got.shape == (4, 2, 3)


def test_three_levels_of_nesting_against_numpy():
    x = arr(2, 3, 4)
    f = mx.vmap(mx.vmap(mx.vmap(lambda a: a * a + 1)))
    np.testing.assert_allclose(to_numpy(f(x)), to_numpy(x) ** 2 + 1, rtol=1e-6)


def test_keyword_arguments_are_passed_unmapped():
    x = arr(3, 2)
    got = mx.vmap(lambda a, scale=1.0: a * scale)(x, scale=2.0)
    np.testing.assert_allclose(to_numpy(got), to_numpy(x) * 2, rtol=1e-6)


def test_non_array_argument_with_none_axis():
    x = arr(3, 2)
    got = mx.vmap(lambda a, n: a * n, in_axes=(0, None))(x, 3)
    np.testing.assert_allclose(to_numpy(got), to_numpy(x) * 3, rtol=1e-6)


def test_dtypes_are_kept():
    for dtype in (mx.float16, mx.bfloat16, mx.float64, mx.int32, mx.bool_):
        x = mx.array(np.arange(6).reshape(3, 2) % 2, dtype=dtype)
        out = mx.vmap(lambda a: a == a)(x)
        assert out.dtype == mx.bool_
        out = mx.vmap(lambda a: a)(x)
        assert out.dtype == dtype


# ---- errors ----

def test_mismatched_batch_sizes():
    with pytest.raises(ValueError, match=r"\[vmap\] Inconsistent sizes.*size 3.*size 4"):
        mx.vmap(lambda a, b: a + b)(arr(3, 2), arr(4, 2))


@pytest.mark.parametrize("axis", [2, -3])
def test_in_axis_out_of_range(axis):
    with pytest.raises(ValueError, match=r"\[vmap\] in_axes -?\d for input 0 is out of range"):
        mx.vmap(lambda a: a, in_axes=axis)(arr(3, 2))


def test_out_axis_out_of_range():
    with pytest.raises(ValueError, match=r"\[vmap\] out_axes 3 for output 0 is out of range"):
        mx.vmap(lambda a: a, out_axes=3)(arr(3, 2))


def test_scalar_input_cannot_be_mapped():
    with pytest.raises(ValueError, match=r"out of range for an array with 0 dimensions"):
        mx.vmap(lambda a: a)(mx.array(1.0))


def test_all_axes_none():
    with pytest.raises(ValueError, match=r"\[vmap\] At least one input must be mapped"):
        mx.vmap(lambda a: a, in_axes=None)(arr(3))


def test_in_axes_tree_mismatch():
    with pytest.raises(ValueError, match=r"\[vmap\] in_axes has 1 entries where the tree"):
        mx.vmap(lambda a, b: a + b, in_axes=(0,))(arr(3), arr(3))
    with pytest.raises(ValueError, match=r"\[vmap\] in_axes must be an int, None"):
        mx.vmap(lambda a: a, in_axes="0")(arr(3))


def test_axis_for_a_non_array_argument():
    with pytest.raises(ValueError, match=r"not an array \(int\); give it None"):
        mx.vmap(lambda a, n: a * n)(arr(3), 2)


@pytest.mark.parametrize("body", [
    lambda a: a if a.sum() > 0 else -a,
    lambda a: a * a.sum().item(),
    lambda a: mx.array(np.array(a)),
])
def test_evaluating_a_mapped_value_inside_is_a_clear_error(body):
    with pytest.raises(ValueError, match=r"\[vmap\] Cannot evaluate.*mx\.where"):
        mx.vmap(body)(arr(3, 2))


def test_mx_where_is_the_way_to_branch():
    x = arr(4, 3)
    got = mx.vmap(lambda a: mx.where(a.sum() > 0, a, -a))(x)
    xn = to_numpy(x)
    want = np.where(xn.sum(1, keepdims=True) > 0, xn, -xn)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-6)


def test_function_must_return_arrays():
    with pytest.raises(ValueError, match=r"\[vmap\] The argument should contain only arrays"):
        mx.vmap(lambda a: 3)(arr(3))
    with pytest.raises(TypeError, match=r"\[vmap\] fun must be callable"):
        mx.vmap(3)


def test_unmapped_values_can_still_be_evaluated_inside():
    c = arr(2)
    got = mx.vmap(lambda a: a * float(c.sum().item()))(arr(3, 2))
    assert got.shape == (3, 2)
