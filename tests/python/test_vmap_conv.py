"""vmap of Convolution and ConvolutionWeightGrad (primitives/conv.h) against a loop over the
examples: conv1d/2d/3d, conv_general (groups, strides, dilations, asymmetric padding, flip) and
conv_transpose1d/2d/3d with the input, the weight or both mapped, at several axes, in float32,
float64 and half precision, on non-contiguous inputs; nested vmap; vmap of grad (per-example
weight gradients: the ConvolutionWeightGrad rule with its input, its cotangent or both mapped)
and of jvp, first and second order."""

import numpy as np
import pytest

import pullback.core as mx
from helpers import to_numpy
from vmap_support import check_vmap

VMAP_COVERED = {"Convolution", "ConvolutionWeightGrad"}

B = 3
RNG = np.random.default_rng(11)

# (name, conv(x, w), example input shape, example weight shape)
CONVS = [
    ("conv1d", lambda x, w: mx.conv1d(x, w, stride=2, padding=1, dilation=2), (2, 9, 4), (5, 3, 4)),
    ("conv1d_groups", lambda x, w: mx.conv1d(x, w, padding=2, groups=2), (2, 7, 4), (6, 3, 2)),
    ("conv2d", lambda x, w: mx.conv2d(x, w, stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
     (2, 6, 5, 3), (4, 3, 2, 3)),
    ("conv2d_depthwise", lambda x, w: mx.conv2d(x, w, padding=1, groups=4), (1, 5, 4, 4),
     (4, 3, 3, 1)),
    ("conv3d", lambda x, w: mx.conv3d(x, w, padding=1, stride=(1, 2, 1)), (1, 4, 5, 3, 2),
     (2, 2, 3, 2, 2)),
    ("conv_general", lambda x, w: mx.conv_general(
        x, w, stride=(1, 2), padding=([1, 0], [2, 1]), kernel_dilation=(2, 1),
        input_dilation=(1, 2), groups=2, flip=True), (2, 7, 6, 4), (6, 3, 3, 2)),
    ("conv_general_crop", lambda x, w: mx.conv_general(x, w, padding=([-1], [1])), (2, 8, 3),
     (2, 3, 3)),
    ("conv_transpose1d", lambda x, w: mx.conv_transpose1d(
        x, w, stride=2, padding=1, output_padding=1, groups=2), (2, 5, 4), (6, 3, 2)),
    ("conv_transpose2d", lambda x, w: mx.conv_transpose2d(x, w, stride=2, dilation=(1, 2)),
     (2, 4, 3, 4), (3, 2, 3, 4)),
    ("conv_transpose3d", lambda x, w: mx.conv_transpose3d(x, w, stride=2, padding=1),
     (1, 3, 2, 3, 2), (2, 2, 2, 2, 2)),
]
IDS = [c[0] for c in CONVS]

# Input only, weight only, both; at axis 0, inside (between N and the spatial axes, or after
# O), last and negative.
IN_AXES = [(0, None), (None, 0), (0, 0), (1, None), (None, -1), (-1, 1), (2, -1), (None, 1)]


def values(shape, dtype="float32"):
    return mx.array(RNG.standard_normal(shape), dtype=getattr(mx, dtype))


def mapped(example_shape, axis, dtype="float32"):
    shape = list(example_shape)
    if axis is not None:
        shape.insert(axis % (len(shape) + 1), B)
    return values(tuple(shape), dtype)


def transposed(x):
    return mx.array(np.ascontiguousarray(to_numpy(x).T), dtype=x.dtype).T


def reversed_view(x):
    return mx.array(np.ascontiguousarray(to_numpy(x)[::-1]), dtype=x.dtype)[::-1]


F64 = {"rtol": 1e-10, "atol": 1e-12}
TOL = {"float32": (1e-4, 1e-5), "float64": (1e-12, 1e-12), "float16": (1e-2, 1e-2),
       "bfloat16": (3e-2, 3e-2)}


@pytest.mark.parametrize("in_axes", IN_AXES, ids=str)
@pytest.mark.parametrize("conv,xs,ws", [c[1:] for c in CONVS], ids=IDS)
def test_convolution(conv, xs, ws, in_axes):
    x, w = mapped(xs, in_axes[0]), mapped(ws, in_axes[1])
    check_vmap(conv, x, w, in_axes=in_axes, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (1, 0)], ids=str)
@pytest.mark.parametrize("conv,xs,ws", [CONVS[1][1:], CONVS[5][1:], CONVS[8][1:]],
                         ids=[IDS[1], IDS[5], IDS[8]])
def test_convolution_dtypes(conv, xs, ws, in_axes, dtype):
    x, w = mapped(xs, in_axes[0], dtype), mapped(ws, in_axes[1], dtype)
    rtol, atol = TOL[dtype]
    check_vmap(conv, x, w, in_axes=in_axes, rtol=rtol, atol=atol)


@pytest.mark.parametrize("view", [transposed, reversed_view])
@pytest.mark.parametrize("in_axes", [(0, 0), (-1, None), (None, 2)], ids=str)
@pytest.mark.parametrize("conv,xs,ws", [CONVS[1][1:], CONVS[2][1:], CONVS[7][1:]],
                         ids=[IDS[1], IDS[2], IDS[7]])
def test_convolution_non_contiguous(conv, xs, ws, in_axes, view):
    x, w = view(mapped(xs, in_axes[0])), view(mapped(ws, in_axes[1]))
    check_vmap(conv, x, w, in_axes=in_axes, rtol=1e-4, atol=1e-5)


def test_nested_vmap():
    conv = CONVS[1][1]
    x = values((2, B, 2, 7, 4))
    w = values((6, 3, 2, B))
    inner = mx.vmap(conv, in_axes=(0, -1))   # over B
    check_vmap(inner, x, w, in_axes=(0, None), rtol=1e-4, atol=1e-5)
    inner = mx.vmap(conv, in_axes=(0, None))  # over the outer axis 0 of x
    check_vmap(inner, x, w[..., 0], in_axes=(1, None), rtol=1e-4, atol=1e-5)
    w2 = values((2, 6, 3, 2, B))
    check_vmap(mx.vmap(conv, in_axes=(0, -1)), x, w2, in_axes=(0, 0), rtol=1e-4, atol=1e-5)


# ---- vmap of derivatives ----

def losses(conv, out_shape):
    """A loss linear in the output (its cotangent does not depend on the example) and one that
    is not (the cotangent is mapped whenever the output is)."""
    c = values(out_shape, "float64")
    return [lambda w, x: (conv(x, w) * c).sum(), lambda w, x: mx.tanh(conv(x, w)).sum()]


# Weight gradients with the input mapped (per-example gradients of a shared weight), both
# mapped, and only the weight mapped.
@pytest.mark.parametrize("in_axes", [(None, 0), (0, 0), (0, None), (-1, 1)], ids=str)
@pytest.mark.parametrize("conv,xs,ws", [c[1:] for c in CONVS], ids=IDS)
def test_vmap_of_grad(conv, xs, ws, in_axes):
    w, x = mapped(ws, in_axes[0], "float64"), mapped(xs, in_axes[1], "float64")
    out_shape = conv(values(xs, "float64"), values(ws, "float64")).shape
    for loss in losses(conv, out_shape):
        check_vmap(mx.grad(loss, argnums=(0, 1)), w, x, in_axes=in_axes, **F64)


def test_per_example_weight_gradients_of_a_small_cnn():
    # Two layers with shared weights and a batch of single images: the per-example gradients
    # from one vmap(grad) against one grad per example.
    w1, w2 = values((4, 3, 3, 2)), values((3, 3, 3, 4))
    images = values((5, 1, 8, 8, 2))
    targets = values((5, 1, 3, 3, 3))

    def loss(params, image, target):
        h = mx.tanh(mx.conv2d(image, params[0], padding=1))
        h = mx.conv2d(h, params[1], stride=2)
        return ((h - target) ** 2).sum()

    grads = mx.vmap(mx.grad(loss), in_axes=(None, 0, 0))([w1, w2], images, targets)
    assert [g.shape for g in grads] == [(5,) + w1.shape, (5,) + w2.shape]
    for b in range(5):
        want = mx.grad(loss)([w1, w2], images[b], targets[b])
        for g, wnt in zip(grads, want):
            np.testing.assert_allclose(to_numpy(g[b]), to_numpy(wnt), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("conv,xs,ws", [CONVS[1][1:], CONVS[5][1:], CONVS[7][1:]],
                         ids=[IDS[1], IDS[5], IDS[7]])
def test_vmap_of_jvp(conv, xs, ws):
    x, w = values(xs, "float64"), values(ws, "float64")
    tx, tw = values((B,) + xs, "float64"), values(ws + (B,), "float64")
    jvp = lambda a, b: mx.jvp(conv, [x, w], [a, b])[1][0]  # noqa: E731
    check_vmap(jvp, tx, tw, in_axes=(0, -1), **F64)
    check_vmap(jvp, tx, tw[..., 0], in_axes=(0, None), **F64)
    check_vmap(jvp, tx[0], tw, in_axes=(None, -1), **F64)


# Second order: the tangent of the weight gradient (a jvp of ConvolutionWeightGrad, which
# builds weight gradients of tangents) and the gradient of a gradient norm (the vjp of
# ConvolutionWeightGrad), each for a batch.
@pytest.mark.parametrize("conv,xs,ws", [CONVS[1][1:], CONVS[5][1:], CONVS[9][1:]],
                         ids=[IDS[1], IDS[5], IDS[9]])
def test_vmap_of_second_order(conv, xs, ws):
    w, x = values(ws, "float64"), values(xs, "float64")
    loss = losses(conv, conv(x, w).shape)[1]
    dw = lambda w_, x_: mx.grad(loss)(w_, x_)  # noqa: E731
    tangent = lambda tw, tx: mx.jvp(dw, [w, x], [tw, tx])[1][0]  # noqa: E731
    check_vmap(tangent, values((B,) + ws, "float64"), values((B,) + xs, "float64"),
               in_axes=(0, 0), **F64)
    check_vmap(tangent, values((B,) + ws, "float64"), values(xs, "float64"),
               in_axes=(0, None), **F64)
    penalty = mx.grad(lambda w_, x_: (dw(w_, x_) ** 2).sum(), argnums=(0, 1))
    check_vmap(penalty, w, values((B,) + xs, "float64"), in_axes=(None, 0),
               rtol=1e-9, atol=1e-10)
