"""Bad arguments raise ValueError (IndexError for out-of-range integer indices) naming the op in
brackets, and never crash the process or leave it in a broken state."""

import re

import pytest

import pullback.core as mx


def A(*shape, dtype=mx.float32):
    return mx.ones(shape, dtype=dtype)


CASES = [
    # (id, thunk, op name pattern)
    ("reshape_size", lambda: mx.reshape(A(2, 3), (4,)), "reshape"),
    ("reshape_two_minus_one", lambda: mx.reshape(A(2, 3), (-1, -1)), "reshape"),
    ("reshape_infer_uneven", lambda: A(2, 3).reshape(4, -1), "reshape"),
    ("reshape_negative", lambda: mx.reshape(A(2, 3), (-2, -3)), "reshape"),
    ("transpose_count", lambda: mx.transpose(A(2, 3), (0,)), "transpose"),
    ("transpose_repeat", lambda: mx.transpose(A(2, 3), (0, 0)), "transpose"),
    ("squeeze_not_one", lambda: mx.squeeze(A(2, 1), 0), "squeeze"),
    ("expand_dims_repeat", lambda: mx.expand_dims(A(2, 3), (0, 0)), "expand_dims"),
    ("broadcast_to", lambda: mx.broadcast_to(A(2, 3), (4, 3)), "broadcast_(to|shapes)"),
    ("broadcast_to_fewer_dims", lambda: mx.broadcast_to(A(2, 3), (3,)), "broadcast_(to|shapes)"),
    # flatten clamps axes past the ends (as MLX does); a start past the clamped end is an error
    ("flatten_range", lambda: mx.flatten(A(2, 3), 2, 2), "flatten"),
    ("flatten_order", lambda: mx.flatten(A(2, 3, 4), 2, 1), "flatten"),
    ("concatenate_shapes", lambda: mx.concatenate([A(2, 3), A(3, 4)], axis=0), "concatenate"),
    ("concatenate_ndim", lambda: mx.concatenate([A(2, 3), A(3)]), "concatenate"),
    ("concatenate_empty", lambda: mx.concatenate([]), "concatenate"),
    ("stack_shapes", lambda: mx.stack([A(2, 3), A(3, 2)]), "stack"),
    ("stack_empty", lambda: mx.stack([]), "stack"),
    ("split_uneven", lambda: mx.split(A(5), 2), "split"),
    ("sum_repeat", lambda: mx.sum(A(2, 3), axis=(0, 0)), "sum"),
    ("max_empty", lambda: mx.max(mx.zeros((0,))), "max"),
    ("argmax_empty", lambda: mx.argmax(mx.zeros((0, 2)), axis=0), "argmax"),
    ("matmul_inner", lambda: mx.matmul(A(2, 3), A(4, 5)), "matmul"),
    ("matmul_operator", lambda: A(2, 3) @ A(2, 3), "matmul"),
    ("matmul_vector", lambda: mx.matmul(A(3), A(4)), "matmul"),
    ("matmul_scalar", lambda: mx.matmul(mx.array(1.0), A(2, 2)), "matmul"),
    ("matmul_batch", lambda: mx.matmul(A(2, 3, 4), A(3, 4, 5)), "matmul|broadcast_shapes"),
    ("matmul_integer", lambda: mx.matmul(A(2, 2, dtype=mx.int32), A(2, 2, dtype=mx.int32)),
     "matmul"),
    ("zeros_negative", lambda: mx.zeros((2, -1)), "zeros|full"),
    ("ones_negative", lambda: mx.ones((-3,)), "ones|full"),
    ("arange_zero_step", lambda: mx.arange(0, 10, 0), "arange"),
    ("linspace_negative", lambda: mx.linspace(0, 1, -1), "linspace"),
    ("eye_negative", lambda: mx.eye(-1), "eye"),
]


# An axis out of range is an IndexError in every op that takes one, as in MLX.
AXIS_CASES = [
    ("transpose_range", lambda: mx.transpose(A(2, 3), (0, 2)), "transpose"),
    ("swapaxes", lambda: mx.swapaxes(A(2, 3), 0, 2), "swapaxes"),
    ("moveaxis", lambda: mx.moveaxis(A(2, 3), 0, -3), "moveaxis"),
    ("squeeze_range", lambda: mx.squeeze(A(2, 1), 2), "squeeze"),
    ("expand_dims_range", lambda: mx.expand_dims(A(2, 3), 3), "expand_dims"),
    ("concatenate_axis", lambda: mx.concatenate([A(2, 3), A(2, 3)], axis=2), "concatenate"),
    ("stack_axis", lambda: mx.stack([A(2), A(2)], axis=3), "stack"),
    ("split_axis", lambda: mx.split(A(4), 2, axis=1), "split"),
    ("sum_axis", lambda: mx.sum(A(2, 3), axis=2), "sum"),
    ("sum_negative_axis", lambda: mx.sum(A(2, 3), axis=-3), "sum"),
    ("mean_axis", lambda: mx.mean(A(2, 3), axis=5), "mean"),
    ("prod_axis", lambda: mx.prod(A(2, 3), axis=2), "prod"),
    ("max_axis", lambda: mx.max(A(2, 3), axis=2), "max"),
    ("min_axis", lambda: mx.min(A(2, 3), axis=(0, 3)), "min"),
    ("all_axis", lambda: mx.all(A(2, 3), axis=2), "all"),
    ("any_axis", lambda: mx.any(A(2, 3), axis=2), "any"),
    ("var_axis", lambda: mx.var(A(2, 3), axis=2), "var"),
    ("std_axis", lambda: mx.std(A(2, 3), axis=2), "std"),
    ("logsumexp_axis", lambda: mx.logsumexp(A(2, 3), axis=2), "logsumexp"),
    ("argmax_axis", lambda: mx.argmax(A(2, 3), axis=2), "argmax"),
    ("argmin_axis", lambda: mx.argmin(A(2, 3), axis=-3), "argmin"),
    ("softmax_axis", lambda: mx.softmax(A(2, 3), axis=2), "softmax"),
    ("cumsum_axis", lambda: mx.cumsum(A(2, 3), axis=2), "cumsum"),
    ("take_axis", lambda: mx.take(A(2, 3), mx.array([0]), axis=-3), "take"),
    ("fft_axis", lambda: mx.fft.fft(A(2, 3), axis=2), "fft"),
]


@pytest.mark.parametrize("thunk, op", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_value_errors_name_the_op(thunk, op):
    with pytest.raises(ValueError) as info:
        mx.eval(thunk())
    assert re.search(rf"\[({op})\]", str(info.value)), f"message: {info.value}"


@pytest.mark.parametrize("thunk, op", [c[1:] for c in AXIS_CASES], ids=[c[0] for c in AXIS_CASES])
def test_axis_out_of_range_is_index_error(thunk, op):
    with pytest.raises(IndexError) as info:
        mx.eval(thunk())
    assert re.search(rf"\[({op})\]", str(info.value)), f"message: {info.value}"


def test_flatten_clamps_axes_like_mlx():
    a = A(2, 3, 4)
    assert mx.flatten(a, 0, 3).shape == (24,)
    assert mx.flatten(a, 1, 5).shape == (2, 12)
    assert mx.flatten(a, -5, -1).shape == (24,)
    assert mx.flatten(a, -4, 1).shape == (6, 4)
    assert mx.flatten(a, 2, 3).shape == (2, 3, 4)
    for start, end in [(3, 3), (0, -4), (5, 9), (2, 1)]:
        with pytest.raises(ValueError, match=r"\[flatten\]"):
            mx.flatten(a, start, end)


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "maximum", "power",
                                "equal", "less", "logical_and", "arctan2", "logaddexp",
                                "remainder", "floor_divide"])
def test_broadcast_errors_state_both_shapes(op):
    with pytest.raises(ValueError) as info:
        getattr(mx, op)(A(2, 3), A(4, 5))
    msg = str(info.value)
    assert re.search(r"\[\w+\]", msg), msg
    assert "(2,3)" in msg.replace(" ", "") and "(4,5)" in msg.replace(" ", ""), msg


def test_operator_broadcast_error():
    with pytest.raises(ValueError):
        A(2, 3) + A(3, 2)
    with pytest.raises(ValueError):
        A(2, 3) < A(4)
    with pytest.raises(ValueError):
        mx.where(mx.array([True, False, True]), A(2), A(3))


def test_matmul_message_states_shapes():
    with pytest.raises(ValueError) as info:
        mx.matmul(A(2, 3), A(4, 5))
    msg = str(info.value).replace(" ", "")
    assert "(2,3)" in msg and "(4,5)" in msg, msg


def test_reshape_message_states_shapes():
    with pytest.raises(ValueError) as info:
        mx.reshape(A(2, 3), (4, 5))
    msg = str(info.value).replace(" ", "")
    assert "(2,3)" in msg and "(4,5)" in msg, msg


@pytest.mark.parametrize("index", [3, -4, 100, (0, 5), (slice(None), -3), (0, 2)], ids=repr)
def test_out_of_range_integer_index(index):
    a = mx.ones((3, 2))
    with pytest.raises(IndexError) as info:
        mx.eval(a[index])
    assert re.search(r"\[\w+\]", str(info.value)), str(info.value)


def test_too_many_indices():
    with pytest.raises((IndexError, ValueError)):
        mx.ones((3,))[0, 0]
    with pytest.raises((IndexError, ValueError)):
        mx.array(1)[0]
    with pytest.raises((IndexError, ValueError)):
        mx.ones((3,))[..., ...]


def test_invalid_index_types():
    with pytest.raises((TypeError, ValueError, IndexError)):
        mx.ones((3,))[1.5]
    with pytest.raises((TypeError, ValueError, IndexError)):
        mx.ones((3,))["a"]


def test_invalid_step():
    with pytest.raises(ValueError):
        mx.ones((3,))[::0]


def test_bad_constructor_arguments():
    with pytest.raises((TypeError, ValueError)):
        mx.array("text")
    with pytest.raises((TypeError, ValueError)):
        mx.array([1, "a"])
    with pytest.raises((TypeError, ValueError)):
        mx.array(object())
    with pytest.raises((TypeError, ValueError)):
        mx.array([[1, 2], [3, 4, 5]])
    with pytest.raises(TypeError):
        mx.ones((2,), dtype="float32")


def test_scalar_only_conversions():
    with pytest.raises(ValueError):
        mx.array([1, 2]).item()
    with pytest.raises(ValueError):
        bool(mx.array([True, False]))
    with pytest.raises((TypeError, ValueError)):
        float(mx.array([1.0, 2.0]))


def test_errors_do_not_break_later_work():
    for _ in range(3):
        with pytest.raises(ValueError):
            mx.reshape(A(2, 3), (7,))
    with pytest.raises(ValueError):
        mx.grad(lambda x: mx.sum(mx.reshape(x, (5,))))(A(2, 3))

    class Boom(Exception):
        pass

    def explode(x):
        y = x * 2
        raise Boom()

    with pytest.raises(Boom):
        mx.grad(explode)(A(2))
    with pytest.raises(Boom):
        mx.vjp(explode, [A(2)], [A(2)])
    # Nothing is left in a tracing state: plain evaluation and new transforms work.
    b = mx.arange(4) * 2
    mx.eval(b)
    assert b.tolist() == [0, 2, 4, 6]
    assert mx.grad(lambda x: mx.sum(x * x))(mx.array([3.0])).tolist() == [6.0]


def test_error_inside_lazy_graph_is_raised_at_construction():
    # Shape errors are found when the op is called, not later during eval.
    a = A(2, 3)
    with pytest.raises(ValueError):
        a + A(3, 3)
    assert (a + 1).sum().item() == 12.0


@pytest.mark.parametrize("op", ["power", "floor_divide", "remainder"])
def test_integer_style_ops_take_booleans_as_mlx(op):
    # MLX computes these on booleans as 0/1 and keeps bool (see test_ops_elementwise for values).
    a = mx.array([True, False])
    assert getattr(mx, op)(a, a).dtype == mx.bool_


def test_roll_and_broadcast_shapes_argument_errors_as_mlx():
    a = mx.zeros((3, 4))
    with pytest.raises(ValueError, match=r"\[roll\] At least one shift value per axis"):
        mx.roll(a, [1], (0, 1))
    assert mx.roll(mx.arange(4).reshape(2, 2), 1, (0, 1)).tolist() == [[3, 2], [1, 0]]
    with pytest.raises(ValueError, match=r"\[broadcast_shapes\]"):
        mx.broadcast_shapes()
    assert mx.arange(stop=3).tolist() == [0, 1, 2]
    assert mx.arange(5, step=2).tolist() == [0, 2, 4]


@pytest.mark.parametrize(
    "make",
    [
        lambda: mx.zeros((2**40, 2**40)),
        lambda: mx.arange(0, 1e18, 1e-9),
        lambda: mx.ones((2**31, 2**31, 2**31)),
    ],
)
def test_unaddressable_sizes_raise_instead_of_crashing(make):
    with pytest.raises(ValueError):
        mx.eval(make())


def test_an_int_is_not_a_dtype():
    with pytest.raises(TypeError):
        mx.zeros((2,), dtype=3)
