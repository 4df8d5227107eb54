"""pullback.nn.init and the layers with random initialization: Linear, Bilinear, Embedding,
Dropout*, Conv*/ConvTranspose*, pooling and Upsample. Values against NumPy references written
here (and against MLX's layers with the same weights, where MLX is installed), statistics of the
initializers, and derivatives (vjp and jvp) against central differences."""

import math

import numpy as np
import pytest

import pullback.core as mx
import pullback.nn as nn
import pullback.nn.init as init
from helpers import check_grad

try:
    import mlx.core as mlxc
    import mlx.nn as mlxnn
except ImportError:  # the MLX comparisons are extra; the NumPy references always run
    mlxc = mlxnn = None

needs_mlx = pytest.mark.skipif(mlxc is None, reason="mlx is not installed")


@pytest.fixture(autouse=True)
def _seed():
    mx.random.seed(1234)


def npa(a):
    return np.array(a, dtype=np.float64)


# ----------------------------------------------------------------------------------- init

def test_constant_normal_uniform_identity():
    a = mx.zeros((300, 200))
    np.testing.assert_array_equal(npa(init.constant(2.5)(a)), np.full((300, 200), 2.5))
    assert init.constant(1, dtype=mx.float64)(a).dtype == mx.float64
    w = npa(init.normal(mean=1.0, std=2.0)(a))
    assert w.shape == (300, 200)
    assert abs(w.mean() - 1.0) < 0.03 and abs(w.std() - 2.0) < 0.03
    u = npa(init.uniform(low=-3.0, high=1.0)(a))
    assert u.min() >= -3.0 and u.max() < 1.0
    assert abs(u.mean() + 1.0) < 0.03 and abs(u.var() - 16 / 12) < 0.03
    np.testing.assert_array_equal(npa(init.identity()(mx.zeros((4, 4)))), np.eye(4))
    with pytest.raises(ValueError, match=r"\[identity\]"):
        init.identity()(mx.zeros((3, 4)))


@pytest.mark.parametrize("shape", [(200, 300), (64, 3, 3, 32)])
def test_glorot_and_he_statistics(shape):
    a = mx.zeros(shape)
    receptive = math.prod(shape[1:-1])
    fan_in, fan_out = shape[-1] * receptive, shape[0] * receptive
    std = npa(init.glorot_normal()(a)).std()
    assert abs(std / math.sqrt(2 / (fan_in + fan_out)) - 1) < 0.03
    w = npa(init.glorot_uniform()(a, gain=2.0))
    limit = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    for mode, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        std = npa(init.he_normal()(a, mode=mode)).std()
        assert abs(std / math.sqrt(1 / fan) - 1) < 0.03
        w = npa(init.he_uniform()(a, mode=mode, gain=0.5))
        assert abs(w.std() / (0.5 * math.sqrt(1 / fan)) - 1) < 0.03
    with pytest.raises(ValueError, match="mode"):
        init.he_normal()(a, mode="fan_avg")
    with pytest.raises(ValueError, match="2 dimensions"):
        init.glorot_normal()(mx.zeros((5,)))


@pytest.mark.parametrize("shape", [(6, 6), (3, 7), (7, 3)])
def test_orthogonal(shape):
    q = npa(init.orthogonal(gain=2.0)(mx.zeros(shape)))
    assert q.shape == shape
    small = min(shape)
    gram = q @ q.T if shape[0] == small else q.T @ q
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)
    with pytest.raises(ValueError, match=r"\[orthogonal\]"):
        init.orthogonal()(mx.zeros((2, 2, 2)))


def test_sparse():
    w = npa(init.sparse(0.3, mean=5.0)(mx.zeros((50, 10))))
    # ceil(0.3 * 10) = 3 zeros in every row; the rest are N(5, 1) and (almost surely) nonzero.
    np.testing.assert_array_equal((w == 0).sum(axis=1), np.full(50, 3))
    assert abs(w[w != 0].mean() - 5.0) < 0.2
    with pytest.raises(ValueError, match=r"\[sparse\]"):
        init.sparse(0.5)(mx.zeros((4,)))


# ------------------------------------------------------------- Linear, Bilinear, Embedding

def test_linear_names_itself_for_inputs_of_the_wrong_width():
    layer = nn.Linear(4, 3)
    message = r"^\[Linear\] Expected an input of shape \(\.\.\., 4\)"
    for shape in [(2, 5), (5,), ()]:
        with pytest.raises(ValueError, match=message):
            layer(mx.zeros(shape))
    assert layer(mx.zeros((2, 7, 4))).shape == (2, 7, 3)


def test_linear_values_init_and_grad():
    layer = nn.Linear(40, 30)
    assert layer.weight.shape == (30, 40) and layer.bias.shape == (30,)
    w, b = npa(layer.weight), npa(layer.bias)
    assert np.abs(w).max() <= math.sqrt(1 / 40) and np.abs(w).max() > 0.9 * math.sqrt(1 / 40)
    x = np.random.default_rng(0).standard_normal((2, 5, 40)).astype(np.float32)
    np.testing.assert_allclose(npa(layer(mx.array(x))), x @ w.T + b, rtol=1e-5, atol=1e-5)
    assert "bias" not in nn.Linear(3, 4, bias=False).parameters()

    def f(x, w, b):
        layer.update({"weight": w, "bias": b})
        return layer(x)

    rng = np.random.default_rng(1)
    check_grad(lambda x, w, b: f(mx.transpose(x), w[::-1], b),
               [rng.standard_normal((40, 3)), rng.standard_normal((30, 40)),
                rng.standard_normal(30)])


def test_bilinear_values_and_grad():
    layer = nn.Bilinear(4, 3, 5)
    assert layer.weight.shape == (5, 3, 4) and layer.bias.shape == (5,)
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((2, 6, 4)), rng.standard_normal((2, 6, 3))
    w, b = npa(layer.weight), npa(layer.bias)
    expect = np.einsum("...i,oji,...j->...o", x1, w, x2) + b
    got = layer(mx.array(x1, dtype=mx.float64), mx.array(x2, dtype=mx.float64))
    assert got.shape == (2, 6, 5)
    np.testing.assert_allclose(npa(got), expect, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[Bilinear\]"):
        layer(mx.zeros((2, 4)), mx.zeros((2, 4)))

    def f(x1, x2, w):
        layer.update({"weight": w})
        return layer(x1, x2[:, ::-1])

    check_grad(f, [rng.standard_normal((3, 4)), rng.standard_normal((3, 3)),
                   rng.standard_normal((5, 3, 4))])


def test_embedding_lookup_as_linear_and_grad():
    emb = nn.Embedding(20, 8)
    w = npa(emb.weight)
    assert w.shape == (20, 8) and abs(w.std() * math.sqrt(8) - 1) < 0.25
    idx = np.array([[1, 5, 19], [0, 0, 7]])
    np.testing.assert_array_equal(npa(emb(mx.array(idx))), w[idx])
    x = np.random.default_rng(3).standard_normal((4, 8)).astype(np.float32)
    np.testing.assert_allclose(npa(emb.as_linear(mx.array(x))), x @ w.T, rtol=1e-5, atol=1e-5)

    def f(weight):
        emb.update({"weight": weight})
        return emb(mx.array(idx))

    check_grad(f, [np.random.default_rng(4).standard_normal((20, 8))])


# ------------------------------------------------------------------------------- Dropout

def test_dropout_training_and_eval():
    x = mx.ones((200, 100))
    layer = nn.Dropout(0.25)
    y = npa(layer(x))
    assert set(np.unique(y)) <= {0.0, float(np.float32(1 / 0.75))}
    assert abs((y == 0).mean() - 0.25) < 0.02
    layer.eval()
    np.testing.assert_array_equal(npa(layer(x)), npa(x))
    np.testing.assert_array_equal(npa(nn.Dropout(0.0)(x)), npa(x))
    for cls in (nn.Dropout, nn.Dropout2d, nn.Dropout3d):
        with pytest.raises(ValueError, match="dropout probability"):
            cls(1.0)


@pytest.mark.parametrize("cls", [nn.Dropout, nn.Dropout2d])
def test_dropout_of_integers_is_float32(cls):
    # The kept entries are scaled by 1 / (1 - p) = 4/3: not integers (MLX gives float32 too).
    y = cls(0.25)(mx.full((50, 4, 4, 20), 3, dtype=mx.int32))
    assert y.dtype == mx.float32
    assert set(np.unique(npa(y))) == {0.0, 4.0}


@pytest.mark.parametrize("cls,shape", [(nn.Dropout2d, (8, 5, 6, 40)), (nn.Dropout2d, (5, 6, 40)),
                                       (nn.Dropout3d, (4, 3, 5, 6, 40))])
def test_channel_dropout_shares_mask_over_space(cls, shape):
    y = npa(cls(0.5)(mx.ones(shape)))
    spatial = tuple(range(y.ndim - 1 - (3 if cls is nn.Dropout3d else 2), y.ndim - 1))
    # every channel of every sample is either all zero or all 2
    assert np.all(y.min(axis=spatial) == y.max(axis=spatial))
    assert set(np.unique(y)) == {0.0, 2.0}
    with pytest.raises(ValueError, match=cls.__name__):
        cls(0.5)(mx.ones((3, 4)))


# -------------------------------------------------------------------- Convolution layers

def _np_conv(x, w, stride, padding, dilation):
    """Channels-last cross-correlation of x (N, *S, Ci) with w (Co, *K, Ci), one group."""
    n = x.ndim - 2
    x = np.pad(x, [(0, 0)] + [(p, p) for p in padding] + [(0, 0)])
    kernel = w.shape[1:-1]
    out = [(x.shape[1 + d] - dilation[d] * (kernel[d] - 1) - 1) // stride[d] + 1
           for d in range(n)]
    y = np.zeros((x.shape[0], *out, w.shape[0]))
    for offset in np.ndindex(*kernel):
        sl = tuple(slice(o * dl, o * dl + s * (m - 1) + 1, s)
                   for o, dl, s, m in zip(offset, dilation, stride, out))
        y += x[(slice(None),) + sl] @ w[(slice(None),) + offset].T
    return y


@pytest.mark.parametrize("cls,n,kw", [
    (nn.Conv1d, 1, dict(stride=2, padding=1, dilation=1)),
    (nn.Conv2d, 2, dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1))),
    (nn.Conv3d, 3, dict(stride=1, padding=1, dilation=1)),
])
def test_conv_layers(cls, n, kw):
    layer = cls(3, 4, 3, **kw)
    assert layer.weight.shape == (4,) + (3,) * n + (3,) and layer.bias.shape == (4,)
    limit = math.sqrt(1 / (3 * 3 ** n))
    assert np.abs(npa(layer.weight)).max() <= limit
    np.testing.assert_array_equal(npa(layer.bias), np.zeros(4))
    assert set(layer.parameters()) == {"weight", "bias"}
    layer.update({"bias": mx.array([0.5, -1.0, 2.0, 0.0])})
    x = np.random.default_rng(5).standard_normal((2,) + (7,) * n + (3,))
    tup = lambda v: (v,) * n if isinstance(v, int) else v  # noqa: E731
    expect = _np_conv(x, npa(layer.weight), tup(kw["stride"]), tup(kw["padding"]),
                      tup(kw["dilation"])) + npa(layer.bias)
    got = npa(layer(mx.array(x, dtype=mx.float32)))
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4)


def test_conv_groups_and_errors():
    layer = nn.Conv2d(4, 6, 3, groups=2)
    assert layer.weight.shape == (6, 3, 3, 2)
    assert layer(mx.zeros((1, 5, 5, 4))).shape == (1, 3, 3, 6)
    with pytest.raises(ValueError, match=r"\[Conv2d\]"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match=r"\[Conv2d\]"):
        nn.Conv2d(3, 6, (3, 3, 3))


def test_conv2d_layer_grad():
    layer = nn.Conv2d(2, 3, (2, 3), stride=(2, 1), padding=1)

    def f(x, w, b):
        layer.update({"weight": w, "bias": b})
        return layer(mx.transpose(x, (0, 2, 1, 3)))

    rng = np.random.default_rng(6)
    check_grad(f, [rng.standard_normal((1, 5, 4, 2)), rng.standard_normal((3, 2, 3, 2)),
                   rng.standard_normal(3)])


CONV_TRANSPOSE_CASES = [
    ("ConvTranspose1d", 1, dict(stride=2, padding=1, output_padding=1)),
    ("ConvTranspose2d", 2, dict(stride=(2, 1), padding=(0, 1), dilation=(1, 2))),
    ("ConvTranspose3d", 3, dict(stride=2)),
]


def _np_conv_transpose(x, w, stride, padding, dilation, output_padding):
    """Each input sample scatters w[:, k, :] @ x into output position i * stride + k * dilation
    of the full result, which is then cropped by padding (output_padding extends the end)."""
    n = x.ndim - 2
    k = w.shape[1:1 + n]
    full = [(x.shape[1 + d] - 1) * stride[d] + (k[d] - 1) * dilation[d] + 1 + output_padding[d]
            for d in range(n)]
    y = np.zeros((x.shape[0], *full, w.shape[0]))
    for pos in np.ndindex(*x.shape[1:1 + n]):
        for tap in np.ndindex(*k):
            out = tuple(p * s + t * dl for p, s, t, dl in zip(pos, stride, tap, dilation))
            y[(slice(None),) + out] += x[(slice(None),) + pos] @ w[(slice(None),) + tap].T
    crop = tuple(slice(p, f - p) for p, f in zip(padding, full))
    return y[(slice(None),) + crop]


@pytest.mark.parametrize("name,n,kw", CONV_TRANSPOSE_CASES)
def test_conv_transpose_layers_match_reference(name, n, kw):
    layer = getattr(nn, name)(3, 4, 3, **kw)
    layer.update({"bias": mx.array([1.0, 2, 3, 4])})
    tup = lambda v: (v,) * n if isinstance(v, int) else tuple(v)  # noqa: E731
    x = np.random.default_rng(7).standard_normal((2,) + (5,) * n + (3,))
    expect = _np_conv_transpose(x, npa(layer.weight), tup(kw.get("stride", 1)),
                                tup(kw.get("padding", 0)), tup(kw.get("dilation", 1)),
                                tup(kw.get("output_padding", 0))) + np.array([1.0, 2, 3, 4])
    got = npa(layer(mx.array(x, dtype=mx.float32)))
    assert got.shape == expect.shape
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4)


@needs_mlx
@pytest.mark.parametrize("name,n,kw", CONV_TRANSPOSE_CASES)
def test_conv_transpose_layers_match_mlx(name, n, kw):
    ours = getattr(nn, name)(3, 4, 3, **kw)
    assert ours.weight.shape == (4,) + (3,) * n + (3,)
    assert np.abs(npa(ours.weight)).max() <= math.sqrt(1 / (3 * 3 ** n))
    theirs = getattr(mlxnn, name)(3, 4, 3, **kw)
    theirs.update({"weight": mlxc.array(np.array(ours.weight)), "bias": mlxc.array([1.0, 2, 3, 4])})
    ours.update({"bias": mx.array([1.0, 2, 3, 4])})
    x = np.random.default_rng(7).standard_normal((2,) + (5,) * n + (3,)).astype(np.float32)
    got, expect = npa(ours(mx.array(x))), np.array(theirs(mlxc.array(x)))
    assert got.shape == expect.shape
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4)


def test_conv_transpose_grad():
    layer = nn.ConvTranspose1d(2, 3, 3, stride=2, padding=1)

    def f(x, w):
        layer.update({"weight": w})
        return layer(x[:, ::-1])

    rng = np.random.default_rng(8)
    check_grad(f, [rng.standard_normal((2, 4, 2)), rng.standard_normal((3, 3, 2))])


# ------------------------------------------------------------------------------- Pooling

def _np_pool(x, kernel, stride, padding, is_max):
    n = len(kernel)
    fill = -np.inf if is_max else 0.0
    x = np.pad(x, [(0, 0)] + [(p, p) for p in padding] + [(0, 0)], constant_values=fill)
    out = [(x.shape[1 + d] - kernel[d]) // stride[d] + 1 for d in range(n)]
    y = np.empty((x.shape[0], *out, x.shape[-1]))
    for pos in np.ndindex(*out):
        sl = tuple(slice(p * s, p * s + k) for p, s, k in zip(pos, stride, kernel))
        win = x[(slice(None),) + sl + (slice(None),)].reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None),) + pos] = win.max(axis=1) if is_max else win.mean(axis=1)
    return y


@pytest.mark.parametrize("kind", ["Max", "Avg"])
@pytest.mark.parametrize("n,kernel,stride,padding", [
    (1, 3, None, 0), (1, 2, 1, 1), (2, 2, None, 0), (2, (3, 2), (2, 1), (1, 1)),
    (3, 2, 1, 0), (3, (2, 3, 2), 2, (1, 1, 0)),
])
def test_pooling_values(kind, n, kernel, stride, padding):
    layer = getattr(nn, f"{kind}Pool{n}d")(kernel, stride, padding)
    tup = lambda v: (v,) * n if isinstance(v, int) else v  # noqa: E731
    x = np.random.default_rng(9).standard_normal((2,) + (6,) * n + (3,))
    expect = _np_pool(x, tup(kernel), tup(stride if stride is not None else kernel),
                      tup(padding), kind == "Max")
    got = layer(mx.array(x, dtype=mx.float64))
    assert got.shape == expect.shape and got.dtype == mx.float64
    np.testing.assert_allclose(npa(got), expect, rtol=1e-12, atol=1e-12)
    if mlxnn is not None:
        theirs = getattr(mlxnn, f"{kind}Pool{n}d")(kernel, stride, padding)
        np.testing.assert_allclose(npa(layer(mx.array(x, dtype=mx.float32))),
                                   np.array(theirs(mlxc.array(x.astype(np.float32)))),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [nn.MaxPool2d, nn.AvgPool2d])
def test_pooling_grad(cls):
    layer = cls((2, 3), stride=(1, 2), padding=(1, 1))
    # A permutation of distinct values keeps the max's argmax away from ties.
    x = np.random.default_rng(10).permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) / 7.0
    check_grad(lambda x: layer(mx.transpose(x, (0, 2, 1, 3))[:, ::-1]),
               [x.transpose(0, 2, 1, 3)], eps=1e-4)


def test_pooling_errors():
    with pytest.raises(ValueError, match=r"\[MaxPool2d\]"):
        nn.MaxPool2d(2, padding=-1)
    with pytest.raises(ValueError, match=r"\[AvgPool1d\]"):
        nn.AvgPool1d(0)
    with pytest.raises(ValueError, match=r"\[MaxPool2d\]"):
        nn.MaxPool2d(2)(mx.zeros((4, 4)))
    # Like MLX, the batch axis is required.
    with pytest.raises(ValueError, match=r"\[MaxPool2d\]"):
        nn.MaxPool2d(2)(mx.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"\[AvgPool1d\]"):
        nn.AvgPool1d(2)(mx.zeros((4, 3)))
    # A window overhanging the input by a stride or more is an error ...
    with pytest.raises(ValueError, match=r"\[MaxPool1d\]"):
        nn.MaxPool1d(5, stride=1)(mx.zeros((1, 3, 2)))


def test_pooling_empty_output():
    # ... by less than a stride it leaves an empty axis (as in MLX).
    assert nn.MaxPool1d(5)(mx.zeros((1, 3, 2))).shape == (1, 0, 2)
    y = nn.AvgPool2d(10, stride=3)(mx.ones((2, 9, 8, 3), dtype=mx.int32))
    assert y.shape == (2, 0, 0, 3) and y.dtype == mx.float32


def test_pooling_padding_beyond_half_kernel():
    # Any non-negative padding is accepted, as in MLX: windows lying wholly in the padding
    # give the fill (the lowest value for max, 0 for the mean).
    x = np.arange(1.0, 4.0).reshape(1, 3, 1)
    got = npa(nn.MaxPool1d(2, padding=2)(mx.array(x)))[0, :, 0]
    # The padded input is [-inf -inf 1 2 3 -inf -inf]: windows of two, stride two.
    np.testing.assert_array_equal(got, [-np.inf, 2.0, 3.0])
    got = npa(nn.AvgPool1d(2, padding=2)(mx.array(x)))[0, :, 0]
    np.testing.assert_allclose(got, [0.0, 1.5, 1.5])
    got = npa(nn.MaxPool1d(2, padding=2)(mx.array(x, dtype=mx.int32)))[0, :, 0]
    np.testing.assert_array_equal(got, [np.iinfo(np.int32).min, 2, 3])


def test_avg_pooling_of_integers_is_float32():
    x = mx.array(np.arange(8, dtype=np.int32).reshape(1, 8, 1))
    y = nn.AvgPool1d(2)(x)
    assert y.dtype == mx.float32
    np.testing.assert_allclose(npa(y)[0, :, 0], [0.5, 2.5, 4.5, 6.5])
    assert nn.MaxPool1d(2)(x).dtype == mx.int32
    assert nn.AvgPool1d(2)(x.astype(mx.float16)).dtype == mx.float16


# ------------------------------------------------------------------------------ Upsample

def test_upsample_nearest_integer_scale():
    x = np.arange(2 * 3 * 2 * 1, dtype=np.float64).reshape(2, 3, 2, 1)
    got = npa(nn.Upsample((2, 3))(mx.array(x, dtype=mx.float64)))
    np.testing.assert_array_equal(got, x.repeat(2, axis=1).repeat(3, axis=2))


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_upsample_interpolating_integers_gives_float32(mode):
    # Interpolated values of integers are fractions (MLX gives float32 too); the result is
    # that of the same values as floats.
    x = np.arange(8, dtype=np.int32).reshape(1, 2, 4, 1)
    layer = nn.Upsample(2, mode=mode)
    got = layer(mx.array(x))
    assert got.dtype == mx.float32
    np.testing.assert_allclose(npa(got), npa(layer(mx.array(x, dtype=mx.float32))))
    if mode == "linear":
        np.testing.assert_allclose(npa(got)[0, 0, :, 0],
                                   [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3], atol=1e-6)
    assert nn.Upsample(2)(mx.array(x)).dtype == mx.int32  # nearest only copies


def test_upsample_linear_align_corners_reference():
    x = np.array([0.0, 1.0, 4.0]).reshape(1, 3, 1)
    got = npa(nn.Upsample(2, "linear", align_corners=True)(mx.array(x, dtype=mx.float64)))
    # 6 outputs at positions i * 2/5 in [0, 2]
    pos = np.arange(6) * 0.4
    np.testing.assert_allclose(got.ravel(), np.interp(pos, [0, 1, 2], [0, 1, 4]), atol=1e-12)
    got = npa(nn.Upsample(2, "linear")(mx.array(x, dtype=mx.float64)))
    pos = np.clip((np.arange(6) + 0.5) / 2 - 0.5, 0, 2)
    np.testing.assert_allclose(got.ravel(), np.interp(pos, [0, 1, 2], [0, 1, 4]), atol=1e-12)


def test_upsample_cubic_interpolates_and_keeps_constants():
    # With align_corners, 4 -> 7 samples puts every even output on an input sample, where the
    # cubic kernel is 1 at distance 0 and 0 at distances 1 and 2: the samples come back.
    x = np.random.default_rng(14).standard_normal((2, 4, 3))
    got = npa(nn.Upsample(1.75, "cubic", align_corners=True)(mx.array(x, dtype=mx.float64)))
    assert got.shape == (2, 7, 3)
    np.testing.assert_allclose(got[:, ::2], x, atol=1e-12)
    # The kernel's taps sum to one, so constants stay constant at any scale.
    const = npa(nn.Upsample((1.3, 2.5), "cubic")(mx.full((1, 5, 4, 2), 3.0, dtype=mx.float64)))
    np.testing.assert_allclose(const, 3.0, atol=1e-12)


# mlx.nn.Upsample(scale, mode, align_corners) of the float32 input UPSAMPLE_1D_INPUT (shape
# (1, 5, 1)), produced by mlx 0.32.4 and printed to 6 significant digits: keyed
# (mode, align_corners, scale). Checks the non-integer and shrinking scales without MLX.
UPSAMPLE_1D_INPUT = [0.5, -1.0, 2.0, 3.5, -0.25]
MLX_UPSAMPLE_1D = {
    ('nearest', False, 2): [0.5, 0.5, -1, -1, 2, 2, 3.5, 3.5, -0.25, -0.25],
    ('nearest', False, 1.5): [0.5, -1, -1, 2, 3.5, 3.5, -0.25],
    ('nearest', False, 0.5): [0.5, 2],
    ('nearest', False, 1.3): [0.5, -1, 2, 2, 3.5, -0.25],
    ('linear', False, 2): [0.5, 0.125, -0.625, -0.25, 1.25, 2.375, 3.125, 2.5625, 0.6875, -0.25],
    ('linear', False, 1.5): [0.5, -0.5, 1.19209e-07, 2, 3, 2.25, -0.25],
    ('linear', False, 0.5): [-1, 3.5],
    ('linear', False, 1.3): [0.384615, -0.769231, 0.846154, 2.57692, 2.92308, 0.0384609],
    ('linear', True, 2): [0.5, -0.166667, -0.833333, 1.19209e-07, 1.33333, 2.33333, 3, 3.08333, 1.41667, -0.25],
    ('linear', True, 1.5): [0.5, -0.5, 1.19209e-07, 2, 3, 2.25, -0.25],
    ('linear', True, 0.5): [0.5, -0.25],
    ('linear', True, 1.3): [0.5, -0.7, 0.8, 2.6, 2.75, -0.25],
    ('cubic', False, 2): [0.658203, 0.0546875, -0.976562, -0.53125, 1.10938, 2.78809, 3.66113, 2.80859, 0.652344, -0.645508],
    ('cubic', False, 1.5): [0.5, -0.861111, -0.305553, 2, 3.61111, 2.48611, -0.25],
    ('cubic', False, 0.5): [-1, 3.5],
    ('cubic', False, 1.3): [0.394856, -1.05086, 0.620846, 3.14019, 3.13149, -0.0117206],
    ('cubic', True, 2): [0.5, -0.403293, -1.05967, -0.305553, 1.21091, 2.70782, 3.61111, 3.25412, 1.5144, -0.25],
    ('cubic', True, 1.5): [0.5, -0.861111, -0.305553, 2, 3.61111, 2.48611, -0.25],
    ('cubic', True, 0.5): [0.5, -0.25],
    ('cubic', True, 1.3): [0.5, -1.024, 0.566, 3.176, 2.984, -0.25],
}


@pytest.mark.parametrize("case", list(MLX_UPSAMPLE_1D))
def test_upsample_matches_values_stored_from_mlx(case):
    mode, align, scale = case
    x = mx.array(np.array(UPSAMPLE_1D_INPUT, np.float32).reshape(1, 5, 1))
    got = npa(nn.Upsample(scale, mode, align)(x)).ravel()
    np.testing.assert_allclose(got, MLX_UPSAMPLE_1D[case], rtol=1e-5, atol=1e-5)


@needs_mlx
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("scale", [2, 1.5, (2, 3), 0.5, 1.3])
def test_upsample_matches_mlx(mode, align, scale):
    x = np.random.default_rng(11).standard_normal((2, 5, 6, 3)).astype(np.float32)
    got = npa(nn.Upsample(scale, mode, align)(mx.array(x)))
    expect = np.array(mlxnn.Upsample(scale, mode, align)(mlxc.array(x)))
    assert got.shape == expect.shape
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_upsample_grad(mode):
    layer = nn.Upsample((1.5, 2), mode, align_corners=(mode == "linear"))
    x = np.random.default_rng(12).standard_normal((1, 3, 4, 2))
    check_grad(lambda x: layer(mx.transpose(x, (0, 2, 1, 3))), [x.transpose(0, 2, 1, 3)])


def test_upsample_errors():
    with pytest.raises(ValueError, match=r"\[Upsample\]"):
        nn.Upsample(2, mode="area")
    with pytest.raises(ValueError, match=r"\[Upsample\]"):
        nn.Upsample((2, 2))(mx.zeros((1, 4, 1)))
    with pytest.raises(ValueError, match=r"\[Upsample\]"):
        nn.Upsample(2)(mx.zeros((4,)))


def test_small_cnn_trains():
    """A Conv2d + pooling + Linear model fits a toy problem with nn.value_and_grad."""
    import pullback.optimizers as optim
    rng = np.random.default_rng(13)
    x = rng.standard_normal((64, 6, 6, 1)).astype(np.float32)
    y = (x[:, :3].sum(axis=(1, 2, 3)) > x[:, 3:].sum(axis=(1, 2, 3))).astype(np.int32)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.pool, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2), \
                nn.Linear(36, 2)

        def __call__(self, h):
            h = self.pool(nn.relu(self.conv(h)))
            return self.fc(h.reshape(h.shape[0], -1))

    model = Net()
    opt = optim.Adam(learning_rate=0.05)
    step = nn.value_and_grad(model, lambda a, b: nn.losses.cross_entropy(model(a), b,
                                                                         reduction="mean"))
    first = None
    for _ in range(60):
        loss, grads = step(mx.array(x), mx.array(y))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        first = loss.item() if first is None else first
    assert loss.item() < 0.3 * first


# ------------------------------------------------------------ positional encodings, attention

def _np_rope(x, dims, traditional, base, scale, offset):
    half = dims // 2
    theta = base ** (-2.0 * np.arange(half) / dims)
    ang = (np.arange(x.shape[-2]) + offset)[:, None] * scale * theta
    c, s = np.cos(ang), np.sin(ang)
    y = x.copy()
    if traditional:
        a, b = x[..., 0:dims:2], x[..., 1:dims:2]
        y[..., 0:dims:2], y[..., 1:dims:2] = a * c - b * s, a * s + b * c
    else:
        a, b = x[..., :half], x[..., half:dims]
        y[..., :half], y[..., half:dims] = a * c - b * s, a * s + b * c
    return y


@pytest.mark.parametrize("traditional", [False, True])
@pytest.mark.parametrize("dims", [8, 4])
def test_rope(traditional, dims):
    x = np.random.default_rng(15).standard_normal((2, 3, 5, 8))
    layer = nn.RoPE(dims, traditional, base=100.0, scale=0.5)
    got = npa(layer(mx.array(x, dtype=mx.float64), offset=2))
    np.testing.assert_allclose(got, _np_rope(x, dims, traditional, 100.0, 0.5, 2), atol=1e-6)
    check_grad(lambda a: layer(a[:, ::-1]), [x[0]])
    with pytest.raises(ValueError, match=r"\[RoPE\]"):
        nn.RoPE(3)


def test_sinusoidal_positional_encoding():
    p = np.random.default_rng(16).random((3, 4)) * 50
    layer = nn.SinusoidalPositionalEncoding(8, min_freq=1e-3, max_freq=0.5)
    freqs = np.exp(np.log(0.5) + np.arange(4) / 3 * (np.log(1e-3) - np.log(0.5)))
    expect = np.concatenate([np.sin(p[..., None] * freqs), np.cos(p[..., None] * freqs)], -1)
    got = npa(layer(mx.array(p, dtype=mx.float64)))
    np.testing.assert_allclose(got, expect * math.sqrt(2 / 8), rtol=1e-6, atol=1e-6)
    got = npa(nn.SinusoidalPositionalEncoding(8, 1e-3, 0.5, scale=1.0, cos_first=True,
                                              full_turns=True)(mx.array(p, dtype=mx.float64)))
    y = p[..., None] * freqs * 2 * np.pi
    np.testing.assert_allclose(got, np.concatenate([np.cos(y), np.sin(y)], -1), atol=1e-5)
    with pytest.raises(ValueError, match="SinusoidalPositionalEncoding"):
        nn.SinusoidalPositionalEncoding(5)


@pytest.mark.parametrize("heads", [4, 6])
def test_alibi(heads):
    scores = np.random.default_rng(17).standard_normal((2, heads, 3, 5))
    slopes = {4: [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8],
              6: [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8, 2.0 ** -1, 2.0 ** -3]}[heads]
    q, k = np.arange(1, 4), np.arange(5)
    bias = -np.abs(q[:, None] - k[None])[None] * np.array(slopes)[:, None, None]
    got = npa(nn.ALiBi()(mx.array(scores, dtype=mx.float64), offset=1))
    np.testing.assert_allclose(got, scores + bias[None], atol=1e-12)


def _np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_multi_head_attention():
    layer = nn.MultiHeadAttention(8, 2, key_input_dims=6, value_dims=4, value_output_dims=5,
                                  bias=True)
    p = {k: npa(v) for k, v in [(f"{n}.{w}", layer[n][w]) for n in
                                ("query_proj", "key_proj", "value_proj", "out_proj")
                                for w in ("weight", "bias")]}
    rng = np.random.default_rng(18)
    q, kv = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 4, 6))
    mask = nn.MultiHeadAttention.create_additive_causal_mask(4)[:3]

    def proj(x, n):
        return x @ p[f"{n}.weight"].T + p[f"{n}.bias"]

    def heads(x):
        return x.reshape(2, x.shape[1], 2, -1).transpose(0, 2, 1, 3)

    Q, K, V = heads(proj(q, "query_proj")), heads(proj(kv, "key_proj")), heads(proj(kv, "value_proj"))
    att = _np_softmax(Q @ K.transpose(0, 1, 3, 2) / 2.0 + npa(mask)) @ V
    expect = proj(att.transpose(0, 2, 1, 3).reshape(2, 3, 4), "out_proj")
    got = npa(layer(mx.array(q, dtype=mx.float32), mx.array(kv, dtype=mx.float32),
                    mx.array(kv, dtype=mx.float32), mask))
    assert got.shape == (2, 3, 5)
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)
    bool_mask = npa(mask) == 0
    got_bool = npa(layer(mx.array(q, dtype=mx.float32), mx.array(kv, dtype=mx.float32),
                         mx.array(kv, dtype=mx.float32), mx.array(bool_mask)))
    np.testing.assert_allclose(got_bool, expect, rtol=1e-4, atol=1e-5)
    check_grad(lambda a, b: layer(a, b[:, ::-1], b), [q, kv])
    with pytest.raises(ValueError, match="MultiHeadAttention"):
        nn.MultiHeadAttention(6, 4)


# ------------------------------------------------------------------------- recurrent layers

def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_recurrent(kind, p, x, h=None, c=None):
    H = p["Wh" if kind != "RNN" else "Whh"].shape[-1]
    hs, cs = [], []
    for t in range(x.shape[-2]):
        xt = x[..., t, :]
        hp = np.zeros(xt.shape[:-1] + (H,)) if h is None else h
        if kind == "RNN":
            h = np.tanh(xt @ p["Wxh"].T + hp @ p["Whh"].T + p["bias"])
        elif kind == "GRU":
            gx, gh = xt @ p["Wx"].T + p["b"], hp @ p["Wh"].T
            r = _np_sigmoid(gx[..., :H] + gh[..., :H])
            z = _np_sigmoid(gx[..., H:2 * H] + gh[..., H:2 * H])
            n = np.tanh(gx[..., 2 * H:] + r * (gh[..., 2 * H:] + p["bhn"]))
            h = (1 - z) * n + z * hp
        else:
            g = xt @ p["Wx"].T + hp @ p["Wh"].T + p["bias"]
            i, f, o = _np_sigmoid(g[..., :H]), _np_sigmoid(g[..., H:2 * H]), _np_sigmoid(g[..., 3 * H:])
            c = f * (0 if c is None else c) + i * np.tanh(g[..., 2 * H:3 * H])
            h = o * np.tanh(c)
            cs.append(c)
        hs.append(h)
    return np.stack(hs, -2), (np.stack(cs, -2) if cs else None)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
# Unbatched, batched, and (as in MLX) several leading batch axes.
@pytest.mark.parametrize("batch", [(2,), (), (2, 3)])
@pytest.mark.parametrize("with_state", [False, True])
def test_recurrent_values(kind, batch, with_state):
    layer = getattr(nn, kind)(3, 4)
    p = {k: npa(v) for k, v in layer.parameters().items()}
    assert all(np.abs(v).max() <= 0.5 for v in p.values())  # U(-1/sqrt(4), 1/sqrt(4))
    rng = np.random.default_rng(19)
    x = rng.standard_normal(batch + (5, 3))
    h = rng.standard_normal(x.shape[:-2] + (4,)) if with_state else None
    expect_h, expect_c = _np_recurrent(kind, p, x, h)
    out = layer(mx.array(x, dtype=mx.float64), None if h is None else mx.array(h, dtype=mx.float64))
    if kind == "LSTM":
        np.testing.assert_allclose(npa(out[1]), expect_c, atol=1e-6)
        out = out[0]
    np.testing.assert_allclose(npa(out), expect_h, atol=1e-6)
    with pytest.raises(ValueError, match=kind):
        layer(mx.zeros((2, 5, 7)))
    with pytest.raises(ValueError, match=kind):
        layer(mx.zeros((3,)))  # no sequence axis


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_recurrent_grad(kind):
    layer = getattr(nn, kind)(3, 2)
    name = "Wxh" if kind == "RNN" else "Wx"

    def f(x, h, w):
        layer.update({name: w})
        out = layer(mx.transpose(x, (1, 0, 2)), h)
        return out[0] if kind == "LSTM" else out

    rng = np.random.default_rng(20)
    check_grad(f, [rng.standard_normal((4, 2, 3)), rng.standard_normal((2, 2)),
                   rng.standard_normal(layer[name].shape)])


# ---------------------------------------------------------------------------- transformers

@pytest.mark.parametrize("norm_first", [True, False])
def test_transformer_encoder_layer_composition(norm_first):
    layer = nn.TransformerEncoderLayer(8, 2, mlp_dims=12, norm_first=norm_first)
    x = mx.array(np.random.default_rng(21).standard_normal((2, 5, 8)), dtype=mx.float64)
    mask = nn.MultiHeadAttention.create_additive_causal_mask(5, dtype=mx.float64)
    mlp = lambda y: layer.linear2(nn.relu(layer.linear1(y)))  # noqa: E731
    if norm_first:
        y = layer.ln1(x)
        h = x + layer.attention(y, y, y, mask)
        expect = h + mlp(layer.ln2(h))
    else:
        h = layer.ln1(x + layer.attention(x, x, x, mask))
        expect = layer.ln2(h + mlp(h))
    np.testing.assert_allclose(npa(layer(x, mask)), npa(expect), atol=1e-6)
    check_grad(lambda a: layer(a[:, ::-1], None), [np.random.default_rng(22).standard_normal((1, 3, 8))])


def _mlx_transformer_parameter_names():
    """Parameter names of mlx.nn.Transformer(8, 2, 2, 1, mlp_dims=16) in mlx 0.32.4."""
    attention = [f"{p}_proj.weight" for p in ("key", "out", "query", "value")]
    dense = [f"{n}.{p}" for n in ("linear1", "linear2") for p in ("bias", "weight")]
    names = ["decoder.ln.bias", "decoder.ln.weight", "encoder.ln.bias", "encoder.ln.weight"]
    for i in range(2):
        pre = f"encoder.layers.{i}."
        names += [pre + "attention." + a for a in attention] + [pre + d for d in dense]
        names += [f"{pre}ln{j}.{p}" for j in (1, 2) for p in ("bias", "weight")]
    pre = "decoder.layers.0."
    names += [pre + f"{kind}_attention." + a for kind in ("cross", "self") for a in attention]
    names += [pre + d for d in dense]
    names += [f"{pre}ln{j}.{p}" for j in (1, 2, 3) for p in ("bias", "weight")]
    return sorted(names)


@pytest.mark.parametrize("norm_first", [True, False])
def test_transformer_composition(norm_first):
    # The decoder layer and the whole model written out from their sublayers (the encoder
    # layer is checked the same way above).
    from pullback.utils import tree_flatten
    model = nn.Transformer(8, 2, 2, 1, mlp_dims=16, norm_first=norm_first)
    assert sorted(k for k, _ in tree_flatten(model.parameters())) == \
        _mlx_transformer_parameter_names()
    model.set_dtype(mx.float64)
    rng = np.random.default_rng(23)
    src = mx.array(rng.standard_normal((2, 5, 8)), dtype=mx.float64)
    tgt = mx.array(rng.standard_normal((2, 4, 8)), dtype=mx.float64)
    mask = nn.MultiHeadAttention.create_additive_causal_mask(4, dtype=mx.float64)
    dec = model.decoder.layers[0]
    mlp = lambda y: dec.linear2(nn.relu(dec.linear1(y)))  # noqa: E731

    memory = src
    for layer in model.encoder.layers:
        memory = layer(memory, None)
    memory = model.encoder.ln(memory)
    if norm_first:
        y = dec.ln1(tgt)
        h = tgt + dec.self_attention(y, y, y, mask)
        y = dec.ln2(h)
        h = h + dec.cross_attention(y, memory, memory, None)
        expect = h + mlp(dec.ln3(h))
    else:
        h = dec.ln1(tgt + dec.self_attention(tgt, tgt, tgt, mask))
        h = dec.ln2(h + dec.cross_attention(h, memory, memory, None))
        expect = dec.ln3(h + mlp(h))
    np.testing.assert_allclose(npa(dec(tgt, memory, mask, None)), npa(expect), atol=1e-12)
    np.testing.assert_allclose(npa(model(src, tgt, None, mask, None)),
                               npa(model.decoder.ln(expect)), atol=1e-12)


@needs_mlx
@pytest.mark.parametrize("norm_first", [True, False])
def test_transformer_matches_mlx(norm_first):
    from mlx.utils import tree_flatten as mlx_flatten

    from pullback.utils import tree_flatten, tree_unflatten
    theirs = mlxnn.Transformer(8, 2, 2, 1, mlp_dims=16, norm_first=norm_first)
    ours = nn.Transformer(8, 2, 2, 1, mlp_dims=16, norm_first=norm_first)
    flat = mlx_flatten(theirs.parameters())
    assert sorted(k for k, _ in flat) == sorted(k for k, _ in tree_flatten(ours.parameters()))
    ours.update(tree_unflatten([(k, mx.array(np.array(v))) for k, v in flat]))
    rng = np.random.default_rng(23)
    src, tgt = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 4, 8))
    src, tgt = src.astype(np.float32), tgt.astype(np.float32)
    mask = np.array(mlxnn.MultiHeadAttention.create_additive_causal_mask(4))
    got = npa(ours(mx.array(src), mx.array(tgt), None, mx.array(mask), None))
    expect = np.array(theirs(mlxc.array(src), mlxc.array(tgt), None, mlxc.array(mask), None))
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)


def test_transformer_dropout_only_in_training():
    model = nn.TransformerEncoder(1, 8, 2, dropout=0.5)
    x = mx.array(np.random.default_rng(24).standard_normal((2, 3, 8)))
    model.eval()
    np.testing.assert_array_equal(npa(model(x, None)), npa(model(x, None)))
    model.train()
    assert not np.allclose(npa(model(x, None)), npa(model(x, None)))


# ---- Upsample with antialias ----

def test_upsample_antialias_halving_is_the_1331_filter():
    # Linear, factor 1/2: the triangle stretched to width 4 puts weights (1, 3, 3, 1) / 8 on the
    # four inputs around each output; at the borders the missing tap's weight is dropped and
    # the rest renormalised.
    x = np.random.default_rng(0).standard_normal((2, 12, 3)).astype(np.float32)
    got = np.array(nn.Upsample(0.5, "linear", antialias=True)(mx.array(x)))
    padded = np.concatenate([np.zeros_like(x[:, :1]), x, np.zeros_like(x[:, :1])], axis=1)
    want = np.empty((2, 6, 3), np.float64)
    for i in range(6):
        taps = padded[:, 2 * i:2 * i + 4]
        w = np.array([1.0, 3.0, 3.0, 1.0])
        if i == 0:
            w[0] = 0
        if i == 5:
            w[3] = 0
        want[:, i] = np.tensordot(w / w.sum(), taps, axes=([0], [1]))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("shape,scale", [((2, 12, 12, 3), 0.5), ((1, 16, 8, 2), (0.25, 0.5))])
def test_upsample_antialias_matches_torch_for_integer_downscales(mode, shape, scale):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    got = np.array(nn.Upsample(scale, mode, antialias=True)(mx.array(x)))
    sizes = tuple(int(n * s) for n, s in zip(shape[1:-1], scale if isinstance(scale, tuple)
                                             else (scale,) * (len(shape) - 2)))
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(x).permute(0, 3, 1, 2), size=sizes,
        mode="bilinear" if mode == "linear" else "bicubic", antialias=True, align_corners=False)
    np.testing.assert_allclose(got, ref.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("shape,scale", [((2, 10, 3), 0.3), ((1, 9, 8, 2), (0.5, 0.25)),
                                         ((2, 7, 3), 1.5), ((1, 6, 5, 4, 1), (0.5, 0.7, 1.3))])
def test_upsample_antialias_matches_mlx(mode, shape, scale):
    mlx = pytest.importorskip("mlx.core")
    mnn = pytest.importorskip("mlx.nn")
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    got = np.array(nn.Upsample(scale, mode, antialias=True)(mx.array(x)))
    want = np.array(mnn.Upsample(scale, mode, antialias=True)(mlx.array(x)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_upsample_antialias_gradient_and_errors():
    x = np.random.default_rng(3).standard_normal((1, 6, 2))
    check_grad(lambda a: nn.Upsample(0.5, "cubic", antialias=True)(a), [x])
    with pytest.raises(ValueError, match=r"\[Upsample\] Antialiasing is not supported for nearest"):
        nn.Upsample(0.5, "nearest", antialias=True)
    with pytest.raises(ValueError, match=r"\[Upsample\] antialias=True is not supported with "
                                         r"align_corners=True"):
        nn.Upsample(0.5, "linear", align_corners=True, antialias=True)
