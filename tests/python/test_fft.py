"""mx.fft against numpy.fft (and MLX where installed), and every transform's vjp and jvp against
central finite differences of the float64 NumPy reference.

The core has complex64 only (as MLX), so results are single precision: values are compared
relative to the largest magnitude of the float64 reference. Derivatives: each transform is
linear over the reals, so the losses below are quadratic in the input and their central
differences are exact up to rounding; they are taken in float64 on the NumPy reference.
Cotangents follow the house convention (MLX's): for a real loss L of a complex z the gradient
is dL/dRe z + i dL/dIm z.
"""

import itertools

import numpy as np
import pytest

import pullback.core as mx

SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 25, 30, 31, 49, 64, 67, 97, 121, 128,
         243, 360, 625, 1000, 1009, 1024, 2310, 4096, 4099, 8191]
REAL_FNS = {"rfft", "irfft", "rfft2", "irfft2", "rfftn", "irfftn"}


def cplx(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def real(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def assert_spectrum(actual, expected, rtol=2e-6):
    """Max error relative to the largest reference magnitude, scaled by log2 of the size."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(expected).max(initial=0.0), 1e-30)
    bound = rtol * max(1.0, np.log2(max(expected.size, 2)))
    err = np.abs(actual - expected).max(initial=0.0) / scale
    assert err <= bound, f"relative error {err:.3g} > {bound:.3g}"


# ---- values ----

@pytest.mark.parametrize("n", SIZES)
def test_one_dimensional_sizes(n):
    rng = np.random.default_rng(n)
    z = cplx(rng, (n,))
    x = real(rng, (n,))
    assert_spectrum(mx.fft.fft(mx.array(z)), np.fft.fft(z.astype(np.complex128)))
    assert_spectrum(mx.fft.ifft(mx.array(z)), np.fft.ifft(z.astype(np.complex128)))
    assert_spectrum(mx.fft.rfft(mx.array(x)), np.fft.rfft(x.astype(np.float64)))
    half = np.fft.rfft(x.astype(np.float64))
    assert_spectrum(mx.fft.irfft(mx.array(half.astype(np.complex64)), n=n), x.astype(np.float64))
    # irfft of an arbitrary (non-Hermitian) half spectrum: imaginary parts at 0 and n/2 ignored
    h = cplx(rng, (n // 2 + 1,))
    assert_spectrum(mx.fft.irfft(mx.array(h), n=n), np.fft.irfft(h.astype(np.complex128), n=n))


@pytest.mark.parametrize("n", [2 ** 16, 2 ** 20, 100003, 3 ** 9 * 5, 2 * 4099, 65521 * 2])
def test_long_lines(n):
    rng = np.random.default_rng(1)
    z = cplx(rng, (n,))
    x = real(rng, (n,))
    assert_spectrum(mx.fft.fft(mx.array(z)), np.fft.fft(z.astype(np.complex128)))
    assert_spectrum(mx.fft.ifft(mx.array(z)), np.fft.ifft(z.astype(np.complex128)))
    assert_spectrum(mx.fft.rfft(mx.array(x)), np.fft.rfft(x.astype(np.float64)))
    assert_spectrum(mx.fft.irfft(mx.array(z[: n // 2 + 1]), n=n),
                    np.fft.irfft(z[: n // 2 + 1].astype(np.complex128), n=n))


@pytest.mark.parametrize("fn", ["fft", "ifft", "rfft", "irfft"])
@pytest.mark.parametrize("norm", [None, "backward", "ortho", "forward"])
def test_one_dimensional_axes_norms_and_lengths(fn, norm):
    rng = np.random.default_rng(2)
    shape = (6, 5, 8)
    a = real(rng, shape) if fn == "rfft" else cplx(rng, shape)
    for axis, n in itertools.product([-1, 0, 1, -2, 2], [None, 1, 3, 5, 8, 12, 17]):
        if fn == "irfft" and n is None and a.shape[axis] == 1:
            continue
        kwargs = {} if norm is None else {"norm": norm}
        got = getattr(mx.fft, fn)(mx.array(a), n=n, axis=axis, **kwargs)
        want = getattr(np.fft, fn)(a.astype(np.complex128 if fn != "rfft" else np.float64),
                                   n=n, axis=axis, **kwargs)
        assert got.dtype == (mx.float32 if fn == "irfft" else mx.complex64)
        assert_spectrum(got, want)


NDIM_CASES = [
    ((4, 6, 10), None, None),
    ((4, 6, 10), None, (0,)),
    ((4, 6, 10), None, (2, 0)),
    ((4, 6, 10), (3, 8), (0, 2)),
    ((4, 6, 10), (7, 5, 4), (1, 2, 0)),
    ((4, 6, 10), (9,), (-2,)),
    ((3, 17), (16, 9), (-1, -2)),
    ((2, 3, 4, 5), None, (-3, -1)),
]


@pytest.mark.parametrize("shape,s,axes", NDIM_CASES)
@pytest.mark.parametrize("fn", ["fftn", "ifftn", "rfftn", "irfftn"])
@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_n_dimensional(shape, s, axes, fn, norm):
    rng = np.random.default_rng(3)
    a = real(rng, shape) if fn == "rfftn" else cplx(rng, shape)
    ref = a.astype(np.float64 if fn == "rfftn" else np.complex128)
    got = getattr(mx.fft, fn)(mx.array(a), s=s, axes=axes, norm=norm)
    assert_spectrum(got, getattr(np.fft, fn)(ref, s=s, axes=axes, norm=norm))
    if len(shape) >= 2 and (axes is None or len(axes) == 2):
        two = {"fftn": "fft2", "ifftn": "ifft2", "rfftn": "rfft2", "irfftn": "irfft2"}[fn]
        kw = {"axes": axes} if axes is not None else {}
        got2 = getattr(mx.fft, two)(mx.array(a), s=s, norm=norm, **kw)
        assert_spectrum(got2, getattr(np.fft, two)(ref, s=s, norm=norm, **kw))


def test_two_dimensional_default_axes():
    rng = np.random.default_rng(4)
    a = cplx(rng, (3, 5, 12))
    x = real(rng, (3, 5, 12))
    assert_spectrum(mx.fft.fft2(mx.array(a)), np.fft.fft2(a.astype(np.complex128)))
    assert_spectrum(mx.fft.ifft2(mx.array(a)), np.fft.ifft2(a.astype(np.complex128)))
    assert_spectrum(mx.fft.rfft2(mx.array(x)), np.fft.rfft2(x.astype(np.float64)))
    assert_spectrum(mx.fft.irfft2(mx.array(a)), np.fft.irfft2(a.astype(np.complex128)))
    # axes=None on the 2-d functions: every axis (MLX)
    assert_spectrum(mx.fft.fft2(mx.array(a), axes=None), np.fft.fftn(a.astype(np.complex128)))


def test_non_contiguous_inputs():
    rng = np.random.default_rng(5)
    base = cplx(rng, (12, 10, 9))
    views = {
        "transposed": (lambda t: t.transpose(2, 0, 1)),
        "sliced": (lambda t: t[1::2, :, 2:7]),
        "reversed": (lambda t: t[::-1, :, ::-1]),
    }
    for name, view in views.items():
        v = view(mx.array(base))
        ref = view(base).astype(np.complex128)
        for axis in (0, 1, 2):
            assert_spectrum(mx.fft.fft(v, axis=axis), np.fft.fft(ref, axis=axis))
            assert_spectrum(mx.fft.irfft(v, axis=axis, n=7), np.fft.irfft(ref, axis=axis, n=7))
            assert_spectrum(mx.fft.rfft(mx.real(v), axis=axis), np.fft.rfft(ref.real, axis=axis))
        assert_spectrum(mx.fft.fftn(v), np.fft.fftn(ref))


def test_batches_over_strided_axes():
    # more columns than a gather tile, odd leftovers, a long strided axis
    rng = np.random.default_rng(6)
    for shape, axis in [((5, 37, 33), 1), ((1000, 3), 0), ((2 ** 15, 2), 0), ((3, 64, 100), 0)]:
        z = cplx(rng, shape)
        x = real(rng, shape)
        assert_spectrum(mx.fft.fft(mx.array(z), axis=axis), np.fft.fft(z.astype(np.complex128), axis=axis))
        assert_spectrum(mx.fft.rfft(mx.array(x), axis=axis), np.fft.rfft(x.astype(np.float64), axis=axis))


def test_dtypes():
    x = np.arange(8) % 3
    for dtype in (mx.float32, mx.float64, mx.float16, mx.bfloat16, mx.int32, mx.uint8, mx.bool_,
                  mx.complex64):
        a = mx.array(x).astype(dtype)
        ref = np.asarray(a.astype(mx.float32)) if dtype != mx.complex64 else x
        got = mx.fft.fft(a)
        assert got.dtype == mx.complex64
        assert_spectrum(got, np.fft.fft(ref))
        assert mx.fft.rfft(a).dtype == mx.complex64
        assert mx.fft.irfft(a).dtype == mx.float32
    # rfft of a complex input transforms its real part (MLX)
    z = mx.array(np.array([1 + 5j, 2 - 1j, 3 + 2j, 0.5j], dtype=np.complex64))
    assert_spectrum(mx.fft.rfft(z), np.fft.rfft(np.array([1.0, 2.0, 3.0, 0.0])))


def test_empty_batches_and_empty_axes():
    assert mx.fft.fft(mx.zeros((0, 4))).shape == (0, 4)
    assert mx.fft.rfft(mx.zeros((3, 0, 8))).shape == (3, 0, 5)
    assert mx.fft.irfft(mx.zeros((0, 5), dtype=mx.complex64)).shape == (0, 8)
    # a zero-length axis with n given is zero-filled first
    assert_spectrum(mx.fft.fft(mx.zeros((2, 0)), n=3), np.zeros((2, 3)))
    a = mx.ones((2, 3))
    # no axes: the input as it is, dtype included (MLX)
    same = mx.fft.fftn(a, axes=[])
    assert same.dtype == mx.float32
    np.testing.assert_array_equal(np.asarray(same), np.ones((2, 3)))


def test_shift_and_frequencies():
    rng = np.random.default_rng(7)
    a = real(rng, (5, 6, 7))
    for axes in (None, 0, 1, -1, (0, 2), [2, 1]):
        np.testing.assert_array_equal(np.asarray(mx.fft.fftshift(mx.array(a), axes=axes)),
                                      np.fft.fftshift(a, axes=axes))
        np.testing.assert_array_equal(np.asarray(mx.fft.ifftshift(mx.array(a), axes=axes)),
                                      np.fft.ifftshift(a, axes=axes))
    for n, d in itertools.product([1, 2, 5, 8, 11], [1.0, 0.5, -2.0, 3]):
        f = mx.fft.fftfreq(n, d)
        assert f.dtype == mx.float32
        np.testing.assert_allclose(np.asarray(f), np.fft.fftfreq(n, d), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(mx.fft.rfftfreq(n, d=d)), np.fft.rfftfreq(n, d),
                                   rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(mx.fft.fftfreq(4)), np.fft.fftfreq(4))


def test_errors():
    x = mx.ones((4, 6))
    cases = [
        (lambda: mx.fft.fft(x, n=0), ValueError, r"\[fft\] Invalid FFT output size"),
        (lambda: mx.fft.irfft(x, n=-2), ValueError, r"\[irfft\] Invalid FFT output size"),
        (lambda: mx.fft.irfft(mx.ones((3, 1))), ValueError, r"\[irfft\] Invalid FFT output size"),
        (lambda: mx.fft.fft(mx.ones((4, 0))), ValueError, r"\[fft\] Invalid FFT output size"),
        (lambda: mx.fft.fft(x, axis=2), IndexError, r"\[fft\] axis 2 is out of bounds"),
        (lambda: mx.fft.fft(mx.array(1.0)), IndexError, r"\[fft\] axis -1 is out of bounds"),
        (lambda: mx.fft.fftn(x, axes=[0, 0]), ValueError, r"\[fftn\] Duplicated axis"),
        (lambda: mx.fft.fftn(x, axes=[0, -2]), ValueError, r"\[fftn\] Duplicated axis"),
        (lambda: mx.fft.fftn(x, s=[3], axes=[0, 1]), ValueError, r"\[fftn\] Shape \(3,\) and axes \(0,1\)"),
        (lambda: mx.fft.rfftn(x, s=[3, 4]), ValueError, r"\[rfftn\] `axes` should not be"),
        (lambda: mx.fft.fft(x, norm="bad"), ValueError, r"\[fft\] Invalid norm 'bad'"),
        (lambda: mx.fft.fft(x, n=1.5), TypeError, r"\[fft\] n must be an integer"),
        (lambda: mx.fft.fftshift(x, axes=[3]), IndexError, r"\[fftshift\] axis 3"),
        (lambda: mx.fft.fftfreq(0), ValueError, r"\[fftfreq\] `n` must be greater than 0"),
        (lambda: mx.fft.rfftfreq(-3), ValueError, r"\[rfftfreq\] `n` must be greater than 0"),
        (lambda: mx.fft.fftfreq(4, d=0), ValueError, r"\[fftfreq\] `d` must be non-zero"),
        (lambda: mx.fft.stft(mx.ones((50,)), n_fft=0), ValueError, r"\[stft\] n_fft must be"),
        (lambda: mx.fft.stft(mx.ones((50,)), n_fft=16, hop_length=0), ValueError, r"\[stft\] hop"),
        (lambda: mx.fft.stft(mx.ones((50,)), n_fft=16, win_length=20), ValueError, r"\[stft\] window"),
        (lambda: mx.fft.stft(mx.ones((50,)), n_fft=16, window=mx.ones((2, 2))), ValueError,
         r"\[stft\] window must be a one-dimensional"),
        (lambda: mx.fft.stft(mx.ones((50,)), n_fft=16, pad_mode="wrap"), ValueError, r"\[stft\] Invalid pad_mode"),
        (lambda: mx.fft.stft(mx.array(1.0), n_fft=16), ValueError, r"\[stft\] Input must have"),
        (lambda: mx.fft.stft(mx.ones((50,)), n_fft=100, center=False), ValueError, r"\[stft\] Input of length 50"),
        (lambda: mx.fft.istft(mx.ones((9,)).astype(mx.complex64)), ValueError, r"\[istft\] Input must have"),
        (lambda: mx.fft.istft(mx.ones((9, 4)).astype(mx.complex64), n_fft=10), ValueError,
         r"\[istft\] 9 frequencies"),
    ]
    for f, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            mx.eval(f())


HOSTILE = [None, "x", 1.5, 2 ** 70, -1, -2 ** 63, [[1], [2, 3]], {}, object(), float("nan"),
           [1] * 70, (), b"", True]


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2",
                                  "irfft2", "fftn", "ifftn", "rfftn", "irfftn", "fftshift",
                                  "ifftshift", "fftfreq", "rfftfreq", "stft", "istft"])
def test_hostile_arguments_raise_ordinary_errors(name):
    f = getattr(mx.fft, name)
    good = {"a": mx.ones((4, 6)), "x": mx.ones((40,)), "n": 4, "stft_matrix": mx.ones((9, 5)).astype(mx.complex64)}
    first = {"fftfreq": "n", "rfftfreq": "n", "stft": "x", "istft": "stft_matrix"}.get(name, "a")
    keywords = {"fft": ["n", "axis", "norm"], "ifft": ["n", "axis", "norm"], "rfft": ["n", "axis", "norm"],
                "irfft": ["n", "axis", "norm"], "fftfreq": ["d"], "rfftfreq": ["d"],
                "fftshift": ["axes"], "ifftshift": ["axes"],
                "stft": ["n_fft", "hop_length", "win_length", "window", "pad_mode", "norm", "onesided"],
                "istft": ["n_fft", "hop_length", "win_length", "window", "norm", "length"]}
    kws = keywords.get(name, ["s", "axes", "norm"])
    for bad in HOSTILE:
        for target in [first] + kws:
            args = {first: good[first]}
            args[target] = bad
            try:
                mx.eval(f(**args))
            except (ValueError, TypeError, IndexError, OverflowError) as e:
                assert "std::" not in str(e)


# ---- derivatives ----

def _loss_weights(rng, shape):
    return rng.standard_normal(shape), rng.standard_normal(shape)


def _np_loss(y, wr, wi):
    return float(np.sum(wr * y.real + wi * y.imag) + 0.5 * np.sum(np.abs(y) ** 2))


def _mx_loss(y, wr, wi):
    re, im = mx.real(y), mx.imag(y)
    return mx.sum(mx.array(wr.astype(np.float32)) * re + mx.array(wi.astype(np.float32)) * im) + \
        0.5 * mx.sum(re * re + im * im)


def _fd_grad(f_np, x, wr, wi, eps=1e-3):
    """Central differences of the float64 loss: dL/dRe x + i dL/dIm x."""
    x = x.astype(np.complex128) if np.iscomplexobj(x) else x.astype(np.float64)
    g = np.zeros(x.shape, dtype=x.dtype)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        for unit in ([1.0, 1j] if np.iscomplexobj(x) else [1.0]):
            xp, xm = x.copy(), x.copy()
            xp[i] += eps * unit
            xm[i] -= eps * unit
            d = (_np_loss(f_np(xp), wr, wi) - _np_loss(f_np(xm), wr, wi)) / (2 * eps)
            g[i] += d * unit
    return g


GRAD_CASES = [
    ("fft", dict(), (7,)), ("fft", dict(n=5), (3, 8)), ("fft", dict(n=11, axis=0, norm="ortho"), (6, 3)),
    ("ifft", dict(), (3, 8)), ("ifft", dict(n=9, norm="forward"), (2, 6)),
    ("rfft", dict(), (3, 8)), ("rfft", dict(), (9,)), ("rfft", dict(n=6, axis=0, norm="ortho"), (5, 2)),
    ("rfft", dict(n=12, norm="forward"), (7,)),
    ("irfft", dict(), (2, 5)), ("irfft", dict(n=9), (2, 5)), ("irfft", dict(n=4, axis=0, norm="ortho"), (6, 2)),
    ("irfft", dict(n=1), (3,)),
    ("fft2", dict(), (3, 4)), ("ifft2", dict(s=(4, 3)), (3, 5)),
    ("rfft2", dict(), (4, 6)), ("irfft2", dict(s=(3, 7)), (3, 4)),
    ("fftn", dict(axes=(0, 2), norm="ortho"), (3, 2, 4)), ("ifftn", dict(), (2, 3, 3)),
    ("rfftn", dict(s=(3, 5), axes=(2, 0)), (2, 2, 4)), ("irfftn", dict(), (2, 3, 4)),
    ("irfftn", dict(s=(2, 5), axes=(0, 1), norm="forward"), (3, 3, 2)),
]


def _case_input(fn, shape, rng):
    return real(rng, shape) if fn in ("rfft", "rfft2", "rfftn") else cplx(rng, shape)


@pytest.mark.parametrize("fn,kwargs,shape", GRAD_CASES)
def test_vjp_against_finite_differences(fn, kwargs, shape):
    rng = np.random.default_rng(11)
    x = _case_input(fn, shape, rng)
    out_shape = getattr(np.fft, fn)(x, **kwargs).shape
    wr, wi = _loss_weights(rng, out_shape)
    want = _fd_grad(lambda t: getattr(np.fft, fn)(t, **kwargs), x, wr, wi)
    f = lambda t: _mx_loss(getattr(mx.fft, fn)(t, **kwargs), wr, wi)  # noqa: E731
    got = np.asarray(mx.grad(f)(mx.array(x)))
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())
    # the same through non-contiguous views: transposed, reversed
    xt = np.ascontiguousarray(np.swapaxes(x, 0, -1))
    got_t = mx.grad(lambda t: f(mx.swapaxes(t, 0, -1)))(mx.array(xt))
    np.testing.assert_allclose(np.swapaxes(np.asarray(got_t), 0, -1), want, rtol=2e-4,
                               atol=2e-4 * np.abs(want).max())
    xr = np.ascontiguousarray(x[::-1])
    got_r = mx.grad(lambda t: f(t[::-1]))(mx.array(xr))
    np.testing.assert_allclose(np.asarray(got_r)[::-1], want, rtol=2e-4,
                               atol=2e-4 * np.abs(want).max())


@pytest.mark.parametrize("fn,kwargs,shape", GRAD_CASES)
def test_jvp_against_finite_differences(fn, kwargs, shape):
    rng = np.random.default_rng(12)
    x = _case_input(fn, shape, rng)
    t = _case_input(fn, shape, rng)
    f_np = lambda v: getattr(np.fft, fn)(v, **kwargs)  # noqa: E731
    eps = 1e-3
    x64 = x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)
    want = (f_np(x64 + eps * t) - f_np(x64 - eps * t)) / (2 * eps)
    # a sliced (non-contiguous) tangent as well
    big = np.concatenate([t, t], axis=-1)
    for tangent in (mx.array(t), mx.array(big)[..., : t.shape[-1]]):
        _, (jv,) = mx.jvp(lambda v: getattr(mx.fft, fn)(v, **kwargs), [mx.array(x)], [tangent])
        assert_spectrum(jv, want, rtol=5e-6)


def test_gradient_of_real_input_through_complex_transform():
    # fft of a float32 input: the gradient is real (the real part of A^H ct)
    rng = np.random.default_rng(13)
    x = real(rng, (6,))
    wr, wi = _loss_weights(rng, (6,))
    want = _fd_grad(np.fft.fft, x, wr, wi)
    got = mx.grad(lambda t: _mx_loss(mx.fft.fft(t), wr, wi))(mx.array(x))
    assert got.dtype == mx.float32
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=1e-4)


def test_second_derivative_through_transforms():
    # L(u) = sum over the half spectrum of |rfft(u)|^2 = u^T 2 Re(H^H H) u / 2 with H the
    # half-spectrum DFT matrix: the jvp of its gradient is the Hessian-vector product.
    n = 8
    x = mx.array(np.linspace(-1, 1, n).astype(np.float32))

    def loss(u):
        y = mx.fft.rfft(u)
        return mx.sum(mx.real(y) ** 2 + mx.imag(y) ** 2)

    v = np.arange(n, dtype=np.float32)
    _, (hv,) = mx.jvp(mx.grad(loss), [x], [mx.array(v)])
    half = np.fft.rfft(np.eye(n), axis=0)
    hess = 2 * np.real(half.conj().T @ half)
    np.testing.assert_allclose(np.asarray(hv), hess @ v, rtol=1e-4, atol=1e-3)


def test_gradients_match_mlx_for_complex_inputs():
    mlx = pytest.importorskip("mlx.core")
    rng = np.random.default_rng(14)
    z = cplx(rng, (4, 6))
    for fn, kw in [("fft", {}), ("ifft", {"n": 4}), ("irfft", {}), ("fft2", {}), ("irfftn", {"s": (3, 5), "axes": (0, 1)})]:
        ours = mx.grad(lambda t: mx.sum(mx.abs(getattr(mx.fft, fn)(t, **kw))))(mx.array(z))
        theirs = mlx.grad(lambda t: mlx.sum(mlx.abs(getattr(mlx.fft, fn)(t, **kw))))(mlx.array(z))
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-5)


# ---- stft / istft ----

def _stft_reference(x, n_fft, hop, win_length, window, center, pad_mode, norm, onesided):
    hop = hop or max(n_fft // 4, 1)
    w = np.ones(win_length or n_fft) if window is None else window.astype(np.float64)
    if len(w) < n_fft:
        left = (n_fft - len(w)) // 2
        w = np.pad(w, (left, n_fft - len(w) - left))
    if center:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)], mode=pad_mode)
    n_frames = 1 + (x.shape[-1] - n_fft) // hop
    frames = np.stack([x[..., i * hop: i * hop + n_fft] * w for i in range(n_frames)], axis=-2)
    spec = np.fft.rfft(frames, axis=-1, norm=norm) if onesided else np.fft.fft(frames, axis=-1, norm=norm)
    return np.swapaxes(spec, -1, -2)


STFT_CASES = [
    dict(n_fft=16),
    dict(n_fft=16, hop_length=5, win_length=10, pad_mode="constant", norm="ortho"),
    dict(n_fft=16, hop_length=4, window=np.hanning(16), center=False, norm="forward", onesided=False),
    dict(n_fft=15, hop_length=3, win_length=7, window=np.hanning(7), pad_mode="edge"),
    dict(n_fft=100),
]


@pytest.mark.parametrize("case", range(len(STFT_CASES)))
def test_stft_matches_reference_and_istft_inverts(case):
    c = dict(STFT_CASES[case])
    rng = np.random.default_rng(15)
    for shape in [(50,), (3, 50)]:
        x = real(rng, shape)
        args = dict(n_fft=c["n_fft"], hop=c.get("hop_length"), win_length=c.get("win_length"),
                    window=c.get("window"), center=c.get("center", True),
                    pad_mode=c.get("pad_mode", "reflect"), norm=c.get("norm", "backward"),
                    onesided=c.get("onesided", True))
        kw = {k: (mx.array(v.astype(np.float32)) if isinstance(v, np.ndarray) else v) for k, v in c.items()}
        got = mx.fft.stft(mx.array(x), **kw)
        assert_spectrum(got, _stft_reference(x.astype(np.float64), **args), rtol=1e-6)
        ikw = {k: v for k, v in kw.items() if k != "pad_mode"}
        back = np.asarray(mx.fft.istft(got, length=x.shape[-1], **ikw))
        # wherever the window reaches the signal it comes back; elsewhere (a zero envelope) 0
        n_fft, hop = c["n_fft"], c.get("hop_length") or c["n_fft"] // 4
        w = np.ones(c.get("win_length") or n_fft) if c.get("window") is None else c["window"]
        left = (n_fft - len(w)) // 2
        w = np.pad(w, (left, n_fft - len(w) - left))
        covered = np.zeros(n_fft + hop * (got.shape[-1] - 1))
        for i in range(got.shape[-1]):
            covered[i * hop: i * hop + n_fft] += w ** 2
        start = n_fft // 2 if args["center"] else 0
        covered = np.pad(covered, (0, max(0, start + x.shape[-1] - covered.size)))
        covered = covered[start: start + x.shape[-1]] > 1e-11
        np.testing.assert_allclose(back[..., covered], x[..., covered], rtol=1e-4, atol=1e-4)
        assert np.all(back[..., ~covered] == 0)


def _istft_reference(spec, n_fft, hop_length, window, win_length=None, center=True,
                     norm="backward", length=None):
    """Overlap-add of the windowed inverse frames over the squared-window envelope (0 where the
    envelope vanishes); center drops n_fft // 2 at each end; length cuts or pads with zeros."""
    w = window.astype(np.float64)
    if len(w) < n_fft:
        left = (n_fft - len(w)) // 2
        w = np.pad(w, (left, n_fft - len(w) - left))
    frames = np.fft.irfft(np.swapaxes(spec, -1, -2), n=n_fft, axis=-1, norm=norm) * w
    n_frames = frames.shape[-2]
    total = n_fft + hop_length * (n_frames - 1)
    y = np.zeros(spec.shape[:-2] + (total,))
    env = np.zeros(total)
    for i in range(n_frames):
        y[..., i * hop_length: i * hop_length + n_fft] += frames[..., i, :]
        env[i * hop_length: i * hop_length + n_fft] += w * w
    y = np.where(env > 1e-11, y / np.where(env > 1e-11, env, 1), 0)
    start = n_fft // 2 if center else 0
    end = total - n_fft // 2 if center else total
    if length is None:
        y = y[..., start:end]
    else:
        y = y[..., start:start + length]
        y = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, length - y.shape[-1])])
    return y


def test_istft_lengths_match_reference():
    rng = np.random.default_rng(16)
    x = real(rng, (2, 60))
    w = np.hanning(12).astype(np.float32)
    for kw in [dict(n_fft=12, hop_length=3), dict(n_fft=12, hop_length=4, center=False),
               dict(n_fft=12, hop_length=5, win_length=8, norm="ortho")]:
        spec = mx.fft.stft(mx.array(x), window=mx.array(w), **kw)
        for length in (None, 40, 80):
            got = np.asarray(mx.fft.istft(spec, window=mx.array(w), length=length, **kw))
            want = _istft_reference(np.asarray(spec).astype(np.complex128), window=w,
                                    length=length, **kw)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_istft_matches_mlx():
    mlx = pytest.importorskip("mlx.core")
    rng = np.random.default_rng(16)
    x = real(rng, (2, 60))
    w = np.hanning(12).astype(np.float32)
    for kw in [dict(n_fft=12, hop_length=3), dict(n_fft=12, hop_length=4, center=False),
               dict(n_fft=12, hop_length=5, win_length=8, norm="ortho")]:
        s_ours = mx.fft.stft(mx.array(x), window=mx.array(w), **kw)
        s_mlx = mlx.fft.stft(mlx.array(x), window=mlx.array(w), **kw)
        np.testing.assert_allclose(np.asarray(s_ours), np.asarray(s_mlx), rtol=1e-5, atol=1e-5)
        for length in (None, 40, 80):
            ours = mx.fft.istft(s_ours, window=mx.array(w), length=length, **kw)
            theirs = mlx.fft.istft(s_mlx, window=mlx.array(w), length=length, **kw)
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5)


def test_stft_gradient_against_finite_differences():
    rng = np.random.default_rng(17)
    x = real(rng, (20,))
    w = np.hanning(8)
    ref = lambda t: _stft_reference(t, 8, 3, None, w, True, "reflect", "backward", True)  # noqa: E731
    out_shape = ref(x.astype(np.float64)).shape
    wr, wi = _loss_weights(rng, out_shape)
    want = _fd_grad(ref, x, wr, wi)
    got = mx.grad(lambda t: _mx_loss(mx.fft.stft(t, n_fft=8, hop_length=3,
                                                 window=mx.array(w.astype(np.float32))), wr, wi))(mx.array(x))
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


def test_istft_gradient_against_finite_differences():
    rng = np.random.default_rng(18)
    w = np.hanning(8) + 0.1
    s = cplx(rng, (5, 6))

    def ref(spec):
        frames = np.fft.irfft(spec.T, n=8, axis=-1) * w
        total = 8 + 3 * 5
        y = np.zeros(total)
        env = np.zeros(total)
        for i in range(6):
            y[i * 3: i * 3 + 8] += frames[i]
            env[i * 3: i * 3 + 8] += w * w
        return (y / env)[4: total - 4]

    wr, wi = _loss_weights(rng, ref(s.astype(np.complex128)).shape)
    want = _fd_grad(ref, s, wr, wi)
    got = mx.grad(lambda t: _mx_loss(mx.fft.istft(t, n_fft=8, hop_length=3,
                                                  window=mx.array(w.astype(np.float32))), wr, wi))(mx.array(s))
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


def test_module_layout():
    import pullback.core.fft as fft_module
    assert mx.fft is fft_module
    for name in fft_module.__all__:
        assert callable(getattr(mx.fft, name))
