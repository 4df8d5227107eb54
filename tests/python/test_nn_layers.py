"""pullback.nn activations, containers and normalization layers: values against NumPy
references written here, derivatives (vjp and jvp) against central differences."""

import math

import numpy as np
import pytest

import pullback.core as mx
import pullback.nn as nn
from helpers import check_grad, to_numpy

def A(x, dtype=mx.float64):
    """A float64 array by default (mx.array makes float32 from NumPy float64)."""
    return mx.array(x, dtype=dtype)


erf = np.vectorize(math.erf, otypes=[np.float64])


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_softplus(x):
    return np.logaddexp(x, 0)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_elu(x, a=1.0):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


# name -> (function form, NumPy reference, module form or None)
ACTIVATIONS = {
    "relu": (nn.relu, lambda x: np.maximum(x, 0), nn.ReLU),
    "relu2": (nn.relu2, lambda x: np.maximum(x, 0) ** 2, nn.ReLU2),
    "relu6": (nn.relu6, lambda x: np.clip(x, 0, 6), nn.ReLU6),
    "leaky_relu": (nn.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), nn.LeakyReLU),
    "elu": (nn.elu, np_elu, nn.ELU),
    "selu": (nn.selu, lambda x: 1.0507 * np_elu(x, 1.67326), nn.SELU),
    "celu": (nn.celu, lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)), nn.CELU),
    "gelu": (nn.gelu, lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))), nn.GELU),
    "gelu_approx": (nn.gelu_approx, lambda x: 0.5 * x * (1 + np.tanh(
        np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))), None),
    "gelu_fast_approx": (nn.gelu_fast_approx, lambda x: x * np_sigmoid(1.702 * x), None),
    "silu": (nn.silu, lambda x: x * np_sigmoid(x), nn.SiLU),
    "sigmoid": (nn.sigmoid, np_sigmoid, nn.Sigmoid),
    "log_sigmoid": (nn.log_sigmoid, lambda x: -np_softplus(-x), nn.LogSigmoid),
    "softplus": (nn.softplus, np_softplus, nn.Softplus),
    "softsign": (nn.softsign, lambda x: x / (1 + np.abs(x)), nn.Softsign),
    "softmax": (nn.softmax, np_softmax, nn.Softmax),
    "log_softmax": (nn.log_softmax, lambda x: np.log(np_softmax(x)), nn.LogSoftmax),
    "softmin": (nn.softmin, lambda x: np_softmax(-x), nn.Softmin),
    "mish": (nn.mish, lambda x: x * np.tanh(np_softplus(x)), nn.Mish),
    "hardswish": (nn.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6, nn.Hardswish),
    "hard_tanh": (nn.hard_tanh, lambda x: np.clip(x, -1, 1), nn.HardTanh),
    "hard_shrink": (nn.hard_shrink, lambda x: np.where(np.abs(x) > 0.5, x, 0), nn.HardShrink),
    "softshrink": (nn.softshrink, lambda x: np.where(np.abs(x) > 0.5, x - np.sign(x) * 0.5, 0),
                   nn.Softshrink),
    "tanh": (nn.tanh, np.tanh, nn.Tanh),
    "glu": (nn.glu, lambda x: x[..., :3] * np_sigmoid(x[..., 3:]), nn.GLU),
    "prelu": (lambda x: nn.prelu(x, A(0.25, dtype=x.dtype)),
              lambda x: np.where(x > 0, x, 0.25 * x), nn.PReLU),
}


def inputs_away_from_kinks(rng, shape=(4, 6)):
    """Values at least 0.05 away from the points where an activation is not smooth (0, +-0.5,
    +-1, +-3, 6), so that central differences see a smooth function."""
    x = rng.uniform(-7, 7, size=shape)
    for kink in (0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0):
        close = np.abs(x - kink) < 0.05
        x[close] = kink + 0.1
    return x


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_values(name, dtype, rng):
    fn, ref, module = ACTIVATIONS[name]
    x = inputs_away_from_kinks(rng)
    got = fn(A(x, dtype=getattr(mx, dtype)))
    assert got.dtype == getattr(mx, dtype)
    tol = 1e-12 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(to_numpy(got), ref(x), rtol=tol, atol=tol)
    if module is not None:
        np.testing.assert_allclose(to_numpy(module()(A(x, dtype=getattr(mx, dtype)))),
                                   ref(x), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivatives_on_non_contiguous_inputs(name, rng):
    fn = ACTIVATIONS[name][0]
    x = inputs_away_from_kinks(rng, (6, 4))
    # Transposed and reversed views of the input reach the activation.
    check_grad(lambda a: fn(mx.transpose(a)[::-1]), [x])


def test_activations_in_half_precision_follow_the_input_dtype():
    x = A([-2.0, -0.25, 0.0, 0.75, 3.0], dtype=mx.float16)
    for name, (fn, ref, _) in ACTIVATIONS.items():
        if name == "glu":
            continue
        got = fn(x)
        assert got.dtype == mx.float16, name
        np.testing.assert_allclose(to_numpy(got).astype(np.float64),
                                   ref(to_numpy(x).astype(np.float64)), rtol=2e-2, atol=2e-2,
                                   err_msg=name)


def test_activation_parameters():
    x = np.array([-3.0, -1.0, -0.2, 0.2, 1.0, 3.0])
    a = A(x)
    np.testing.assert_allclose(to_numpy(nn.leaky_relu(a, 0.2)), np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(to_numpy(nn.LeakyReLU(0.3)(a)), np.where(x > 0, x, 0.3 * x))
    np.testing.assert_allclose(to_numpy(nn.elu(a, 0.5)), np_elu(x, 0.5))
    np.testing.assert_allclose(to_numpy(nn.ELU(2.0)(a)), np_elu(x, 2.0))
    np.testing.assert_allclose(to_numpy(nn.celu(a, 2.0)),
                               np.maximum(x, 0) + 2.0 * np.expm1(np.minimum(x, 0) / 2.0))
    np.testing.assert_allclose(to_numpy(nn.CELU(0.5)(a)),
                               np.maximum(x, 0) + 0.5 * np.expm1(np.minimum(x, 0) / 0.5))
    np.testing.assert_allclose(to_numpy(nn.hard_tanh(a, -2.0, 0.5)), np.clip(x, -2, 0.5))
    np.testing.assert_allclose(to_numpy(nn.hard_shrink(a, 1.5)), np.where(np.abs(x) > 1.5, x, 0))
    np.testing.assert_allclose(to_numpy(nn.HardShrink(0.1)(a)), np.where(np.abs(x) > 0.1, x, 0))
    np.testing.assert_allclose(to_numpy(nn.softshrink(a, 1.5)),
                               np.where(np.abs(x) > 1.5, x - np.sign(x) * 1.5, 0))
    np.testing.assert_allclose(to_numpy(nn.Softshrink(0.1)(a)),
                               np.where(np.abs(x) > 0.1, x - np.sign(x) * 0.1, 0))
    assert to_numpy(nn.step(a, 0.2)).tolist() == [0, 0, 0, 1, 1, 1]
    assert nn.Step(1.0)(a).dtype == mx.int32
    assert to_numpy(nn.Step(1.0)(a)).tolist() == [0, 0, 0, 0, 1, 1]
    np.testing.assert_allclose(to_numpy(nn.GELU("tanh")(a)), to_numpy(nn.gelu_approx(a)))
    np.testing.assert_allclose(to_numpy(nn.GELU("precise")(a)), to_numpy(nn.gelu_approx(a)))
    np.testing.assert_allclose(to_numpy(nn.GELU("fast")(a)), to_numpy(nn.gelu_fast_approx(a)))
    with pytest.raises(ValueError, match="GELU"):
        nn.GELU("exact")
    prelu = nn.PReLU(3, init=0.1)
    assert to_numpy(prelu.weight).tolist() == pytest.approx([0.1] * 3)
    y = np.array([[-1.0, 2.0, -3.0]])
    prelu.weight = A([0.1, 0.2, 0.3])
    np.testing.assert_allclose(to_numpy(prelu(A(y))), [[-0.1, 2.0, -0.9]], rtol=1e-6)
    assert set(prelu.parameters()) == {"weight"}


def test_softmax_axis_and_glu_axis(rng):
    x = rng.standard_normal((3, 4, 2))
    for axis in (0, 1, -1):
        np.testing.assert_allclose(to_numpy(nn.softmax(A(x), axis=axis)),
                                   np_softmax(x, axis), rtol=1e-12)
        np.testing.assert_allclose(to_numpy(nn.log_softmax(A(x), axis=axis)),
                                   np.log(np_softmax(x, axis)), rtol=1e-12)
        np.testing.assert_allclose(to_numpy(nn.softmin(A(x), axis=axis)),
                                   np_softmax(-x, axis), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(nn.GLU(axis=1)(A(x))),
                               x[:, :2] * np_sigmoid(x[:, 2:]), rtol=1e-12)
    # log_softmax stays finite far beyond exp's range.
    big = A([[1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(to_numpy(nn.log_softmax(big)), [[0.0, -1000.0, -2000.0]])
    with pytest.raises(ValueError):
        nn.glu(A(np.ones((2, 3))))


def test_log_sigmoid_and_softplus_are_stable():
    values = np.array([-800.0, -200.0, -30.0, 0.0, 30.0, 200.0, 800.0])
    x = A(values)
    np.testing.assert_allclose(to_numpy(nn.softplus(x)), np.logaddexp(values, 0), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(nn.log_sigmoid(x)), -np.logaddexp(-values, 0),
                               rtol=1e-12)
    x32 = A(values, mx.float32)
    assert np.all(np.isfinite(to_numpy(nn.log_sigmoid(x32))))
    assert to_numpy(nn.log_sigmoid(x32))[0] == -800.0
    assert np.all(np.isfinite(to_numpy(mx.grad(lambda v: nn.mish(v).sum())(x))))
    assert np.all(np.isfinite(to_numpy(mx.grad(lambda v: nn.elu(v).sum())(
        A([100.0, -100.0])))))


def test_identity_and_sequential(rng):
    x = A(rng.standard_normal((2, 3)))
    assert nn.Identity(4, some=1)(x) is x
    seq = nn.Sequential(nn.ReLU(), lambda v: v * 2, nn.Tanh())
    np.testing.assert_allclose(to_numpy(seq(x)), np.tanh(2 * np.maximum(to_numpy(x), 0)))
    assert len(seq.layers) == 3
    assert nn.Sequential()(x) is x


# ---- normalization ----

def np_normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def test_layer_norm(rng):
    x = rng.standard_normal((2, 3, 5))
    ln = nn.LayerNorm(5, eps=1e-3)
    ln.weight = A(rng.standard_normal(5))
    ln.bias = A(rng.standard_normal(5))
    # eps is held as a float32 (as in MLX's fast.layer_norm, which the layer runs on).
    expected = (np_normalize(x, -1, float(np.float32(1e-3))) * to_numpy(ln.weight)
                + to_numpy(ln.bias))
    np.testing.assert_allclose(to_numpy(ln(A(x))), expected, rtol=1e-10, atol=1e-12)
    assert set(nn.LayerNorm(5, bias=False).parameters()) == {"weight"}
    assert nn.LayerNorm(5, affine=False).parameters() == {}
    np.testing.assert_allclose(to_numpy(nn.LayerNorm(5, affine=False)(A(x))),
                               np_normalize(x, -1, float(np.float32(1e-5))), rtol=1e-10,
                               atol=1e-12)
    with pytest.raises(ValueError, match="eps"):
        nn.LayerNorm(5, eps=0.0)
    w, b = rng.standard_normal(5), rng.standard_normal(5)

    def f(inp, weight, bias):
        layer = nn.LayerNorm(5)
        layer.weight, layer.bias = weight, bias
        return layer(mx.swapaxes(inp, 0, 2))
    check_grad(f, [rng.standard_normal((5, 3, 2)), w, b])


def test_rms_norm(rng):
    x = rng.standard_normal((4, 6))
    rms = nn.RMSNorm(6, eps=1e-4)
    w = rng.standard_normal(6)
    rms.weight = A(w)
    expected = x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + 1e-4) * w
    np.testing.assert_allclose(to_numpy(rms(A(x))), expected, rtol=1e-10)
    # A float32 weight promotes a float16 input (as in MLX) ...
    assert nn.RMSNorm(6)(A(x, dtype=mx.float16)).dtype == mx.float32
    # ... and a float16 one keeps it.
    rms.set_dtype(mx.float16)
    assert rms(A(x, dtype=mx.float16)).dtype == mx.float16

    def f(inp, weight):
        layer = nn.RMSNorm(6)
        layer.weight = weight
        return layer(inp.T)
    check_grad(f, [rng.standard_normal((6, 4)), w])


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm(affine, rng):
    x = rng.standard_normal((2, 4, 3, 5))
    layer = nn.InstanceNorm(5, affine=affine)
    expected = np_normalize(x, (1, 2), 1e-5)
    if affine:
        layer.weight = A(rng.standard_normal(5))
        layer.bias = A(rng.standard_normal(5))
        expected = expected * to_numpy(layer.weight) + to_numpy(layer.bias)
    np.testing.assert_allclose(to_numpy(layer(A(x))), expected, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match=r"InstanceNorm.*\(4, 5\)"):
        layer(A(np.ones((4, 5))))
    check_grad(lambda a: nn.InstanceNorm(2)(a[:, ::-1]), [rng.standard_normal((2, 3, 2))])


@pytest.mark.parametrize("pytorch_compatible", [False, True])
def test_group_norm(pytorch_compatible, rng):
    x = rng.standard_normal((2, 3, 4, 6))
    layer = nn.GroupNorm(3, 6, pytorch_compatible=pytorch_compatible)
    layer.weight = A(rng.standard_normal(6))
    layer.bias = A(rng.standard_normal(6))
    if pytorch_compatible:
        grouped = x.reshape(2, 12, 3, 2)  # contiguous blocks of 2 features
        normed = np_normalize(grouped, (1, 3), 1e-5).reshape(x.shape)
    else:
        grouped = x.reshape(2, 24, 3)  # feature f in group f % 3
        normed = np_normalize(grouped, 1, 1e-5).reshape(x.shape)
    expected = normed * to_numpy(layer.weight) + to_numpy(layer.bias)
    np.testing.assert_allclose(to_numpy(layer(A(x))), expected, rtol=1e-9, atol=1e-12)
    for bad in [(0, 6), (4, 6), (2, 0)]:
        with pytest.raises(ValueError, match="GroupNorm"):
            nn.GroupNorm(*bad)
    with pytest.raises(ValueError, match="GroupNorm"):
        layer(A(np.ones((2, 5))))
    check_grad(lambda a: nn.GroupNorm(2, 4, pytorch_compatible=pytorch_compatible)(
        mx.transpose(a, (1, 0, 2))), [rng.standard_normal((3, 2, 4))])


def test_group_norm_pytorch_compatible_matches_torch(rng):
    """Optional extra: the NumPy reference in test_group_norm covers the same values."""
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 4, 6))
    layer = nn.GroupNorm(3, 6, pytorch_compatible=True)
    layer.weight = A(rng.standard_normal(6))
    layer.bias = A(rng.standard_normal(6))
    ref = torch.nn.functional.group_norm(torch.tensor(np.moveaxis(x, -1, 1)), 3,
                                         torch.tensor(to_numpy(layer.weight)),
                                         torch.tensor(to_numpy(layer.bias)), 1e-5)
    np.testing.assert_allclose(to_numpy(layer(A(x))),
                               np.moveaxis(ref.numpy(), 1, -1), rtol=1e-9, atol=1e-12)


def test_batch_norm_training_eval_and_running_stats(rng):
    x = rng.standard_normal((6, 3, 4))
    momentum, eps = 0.2, 1e-5
    layer = nn.BatchNorm(4, momentum=momentum)
    layer.set_dtype(mx.float64)
    layer.weight = A(rng.standard_normal(4))
    layer.bias = A(rng.standard_normal(4))
    weight, bias = to_numpy(layer.weight), to_numpy(layer.bias)
    assert set(layer.parameters()) == {"weight", "bias", "running_mean", "running_var"}
    assert set(layer.trainable_parameters()) == {"weight", "bias"}
    # Reference: training normalizes with the biased batch variance; the running variance
    # is updated with the unbiased one (n / (n - 1)), as in MLX and PyTorch.
    running_mean, running_var = np.zeros(4), np.ones(4)
    for step in range(3):
        batch = x + step
        got = layer(A(batch))
        want = np_normalize(batch, (0, 1), eps) * weight + bias
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-9, atol=1e-12)
        n = batch.shape[0] * batch.shape[1]
        mean = batch.mean(axis=(0, 1))
        unbiased = batch.var(axis=(0, 1)) * n / (n - 1)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * unbiased
        np.testing.assert_allclose(to_numpy(layer.running_mean), running_mean, rtol=1e-12)
        np.testing.assert_allclose(to_numpy(layer.running_var), running_var, rtol=1e-12)
    layer.eval()
    want = (x - running_mean) / np.sqrt(running_var + eps) * weight + bias
    np.testing.assert_allclose(to_numpy(layer(A(x))), want, rtol=1e-9, atol=1e-12)
    # The running statistics stay frozen through unfreeze.
    layer.unfreeze()
    assert set(layer.trainable_parameters()) == {"weight", "bias"}
    with pytest.raises(ValueError, match="BatchNorm"):
        layer(A(np.ones((2, 2, 2, 2, 4))))
    layer.train()
    with pytest.raises(ValueError, match="BatchNorm"):
        layer(A(np.ones((1, 4))))
    plain = nn.BatchNorm(4, affine=False, track_running_stats=False)
    assert plain.parameters() == {}
    np.testing.assert_allclose(to_numpy(plain(A(x))), np_normalize(x, (0, 1), 1e-5),
                               rtol=1e-9, atol=1e-12)
    check_grad(lambda a: nn.BatchNorm(3, track_running_stats=False)(a.T), [
        rng.standard_normal((3, 5))])


def test_batch_norm_matches_torch(rng):
    """Optional extra: test_batch_norm_training_eval_and_running_stats checks the same
    values against a NumPy reference."""
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((6, 3, 4))
    layer = nn.BatchNorm(4, momentum=0.2)
    layer.set_dtype(mx.float64)
    ref = torch.nn.BatchNorm1d(4, momentum=0.2, dtype=torch.float64)
    for step in range(3):
        batch = x + step
        got = layer(A(batch))
        want = ref(torch.tensor(np.moveaxis(batch, -1, 1))).detach().numpy()
        np.testing.assert_allclose(to_numpy(got), np.moveaxis(want, 1, -1), rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(to_numpy(layer.running_mean), ref.running_mean.numpy(),
                                   rtol=1e-12)
        np.testing.assert_allclose(to_numpy(layer.running_var), ref.running_var.numpy(),
                                   rtol=1e-12)
    layer.eval()
    ref.eval()
    np.testing.assert_allclose(to_numpy(layer(A(x))),
                               np.moveaxis(ref(torch.tensor(np.moveaxis(x, -1, 1)))
                                           .detach().numpy(), 1, -1), rtol=1e-9, atol=1e-12)


def test_norm_layer_reprs():
    assert repr(nn.LayerNorm(4)) == "LayerNorm(4, eps=1e-05, affine=True)"
    assert repr(nn.RMSNorm(3)) == "RMSNorm(3, eps=1e-05)"
    assert repr(nn.GroupNorm(2, 4)) == ("GroupNorm(2, 4, eps=1e-05, affine=True, "
                                        "pytorch_compatible=False)")
    assert repr(nn.InstanceNorm(3)) == "InstanceNorm(3, eps=1e-05, affine=False)"
    assert repr(nn.BatchNorm(3)) == ("BatchNorm(3, eps=1e-05, momentum=0.1, affine=True, "
                                     "track_running_stats=True)")
