"""Activation functions, each in function form (``nn.relu``) and module form (``nn.ReLU``)."""

from __future__ import annotations

import math
import pullback.core as mx
from pullback.nn.layers.base import Module

_SQRT_HALF = math.sqrt(0.5)
_TANH_GELU_SCALE = math.sqrt(2.0 / math.pi)
# selu's constants as MLX rounds them (Klambauer et al.'s alpha and lambda).
_SELU_ALPHA = 1.67326
_SELU_SCALE = 1.0507


def sigmoid(x: mx.array) -> mx.array:
    """Logistic sigmoid ``1 / (1 + exp(-x))``."""
    return mx.sigmoid(x)


def relu(x: mx.array) -> mx.array:
    """Rectified linear unit ``max(x, 0)``."""
    return mx.maximum(x, 0)


def relu2(x: mx.array) -> mx.array:
    """Squared ReLU ``max(x, 0)**2``."""
    return mx.square(mx.maximum(x, 0))


def relu6(x: mx.array) -> mx.array:
    """ReLU clipped at 6: ``min(max(x, 0), 6)``."""
    return mx.minimum(mx.maximum(x, 0), 6.0)


def leaky_relu(x: mx.array, negative_slope: float = 0.01) -> mx.array:
    """``max(negative_slope * x, x)``."""
    return mx.maximum(negative_slope * x, x)


def log_softmax(x: mx.array, axis: int = -1) -> mx.array:
    """``x - logsumexp(x, axis)``: the logarithm of softmax, computed stably."""
    return x - mx.logsumexp(x, axis=axis, keepdims=True)


def elu(x: mx.array, alpha: float = 1.0) -> mx.array:
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    # expm1 keeps the digits that exp(x) - 1 loses for small negative x.
    return mx.where(x > 0, x, alpha * mx.expm1(mx.minimum(0, x)))


def softmax(x: mx.array, axis: int = -1) -> mx.array:
    """Softmax along ``axis``."""
    return mx.softmax(x, axis=axis)


def softplus(x: mx.array) -> mx.array:
    """``log(1 + exp(x))``, computed stably."""
    return mx.logaddexp(x, 0)


def softsign(x: mx.array) -> mx.array:
    """``x / (1 + |x|)``."""
    return mx.divide(x, 1 + mx.abs(x))


def softshrink(x: mx.array, lambd: float = 0.5) -> mx.array:
    """``x - sign(x) * lambd`` where ``|x| > lambd``, else 0."""
    return mx.where(mx.abs(x) > lambd, x - mx.sign(x) * lambd, 0)


def celu(x: mx.array, alpha: float = 1.0) -> mx.array:
    """Continuously differentiable ELU: ``max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)``."""
    return mx.maximum(x, 0.0) + alpha * mx.expm1(mx.minimum(x, 0.0) / alpha)


def silu(x: mx.array) -> mx.array:
    """Sigmoid linear unit (swish): ``x * sigmoid(x)``."""
    return x * mx.sigmoid(x)


def log_sigmoid(x: mx.array) -> mx.array:
    """``log(sigmoid(x)) = -softplus(-x)``, computed stably."""
    return -softplus(-x)


def gelu(x: mx.array) -> mx.array:
    """Gaussian error linear unit ``x * Phi(x)``, with the exact normal CDF."""
    return x * (1 + mx.erf(x * _SQRT_HALF)) / 2


def gelu_approx(x: mx.array) -> mx.array:
    """GELU through the tanh approximation of the normal CDF."""
    return 0.5 * x * (1 + mx.tanh(_TANH_GELU_SCALE * (x + 0.044715 * x ** 3)))


def gelu_fast_approx(x: mx.array) -> mx.array:
    """GELU through the sigmoid approximation ``x * sigmoid(1.702 * x)``."""
    return x * mx.sigmoid(1.702 * x)


def glu(x: mx.array, axis: int = -1) -> mx.array:
    """Gated linear unit: splits ``x`` in two halves ``a, b`` along ``axis``, returns
    ``a * sigmoid(b)``."""
    a, b = mx.split(x, 2, axis=axis)
    return a * mx.sigmoid(b)


def step(x: mx.array, threshold: float = 0.0) -> mx.array:
    """1 where ``x >= threshold``, else 0 (int32, as MLX)."""
    return mx.where(x >= threshold, 1, 0)


def selu(x: mx.array) -> mx.array:
    """Scaled ELU: ``1.0507 * elu(x, 1.67326)``."""
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


def prelu(x: mx.array, alpha: mx.array) -> mx.array:
    """Parametric ReLU: ``max(0, x) + alpha * min(0, x)``."""
    return mx.maximum(0, x) + alpha * mx.minimum(0, x)


def mish(x: mx.array) -> mx.array:
    """``x * tanh(softplus(x))``."""
    return x * mx.tanh(softplus(x))


def hardswish(x: mx.array) -> mx.array:
    """``x * min(max(x + 3, 0), 6) / 6``."""
    return x * mx.minimum(mx.maximum(x + 3, 0), 6) / 6


def hard_tanh(x: mx.array, min_val: float = -1.0, max_val: float = 1.0) -> mx.array:
    """``x`` clipped to ``[min_val, max_val]``."""
    return mx.minimum(mx.maximum(x, min_val), max_val)


def hard_shrink(x: mx.array, lambd: float = 0.5) -> mx.array:
    """``x`` where ``|x| > lambd``, else 0."""
    return mx.where(mx.abs(x) > lambd, x, 0)


def softmin(x: mx.array, axis: int = -1) -> mx.array:
    """``softmax(-x, axis)``."""
    return mx.softmax(-x, axis=axis)


def tanh(x: mx.array) -> mx.array:
    """Hyperbolic tangent."""
    return mx.tanh(x)


# ---- module forms ----

class Sigmoid(Module):
    """Applies :func:`sigmoid` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return sigmoid(x)


class Mish(Module):
    """Applies :func:`mish` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return mish(x)


class ReLU(Module):
    """Applies :func:`relu` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return relu(x)


class ReLU2(Module):
    """Applies :func:`relu2` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return relu2(x)


class ReLU6(Module):
    """Applies :func:`relu6` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return relu6(x)


class Softmax(Module):
    """Applies :func:`softmax` over the last axis."""
    def __call__(self, x: mx.array) -> mx.array:
        return softmax(x)


class Softplus(Module):
    """Applies :func:`softplus` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return softplus(x)


class Softsign(Module):
    """Applies :func:`softsign` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return softsign(x)


class SiLU(Module):
    """Applies :func:`silu` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return silu(x)


class LogSoftmax(Module):
    """Applies :func:`log_softmax` over the last axis."""
    def __call__(self, x: mx.array) -> mx.array:
        return log_softmax(x)


class LogSigmoid(Module):
    """Applies :func:`log_sigmoid` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return log_sigmoid(x)


class Tanh(Module):
    """Applies :func:`tanh` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return tanh(x)


class Hardswish(Module):
    """Applies :func:`hardswish` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return hardswish(x)


class SELU(Module):
    """Applies :func:`selu` elementwise."""
    def __call__(self, x: mx.array) -> mx.array:
        return selu(x)


class HardTanh(Module):
    """Applies :func:`hard_tanh` elementwise (to [-1, 1])."""
    def __call__(self, x: mx.array) -> mx.array:
        return hard_tanh(x)


class Softmin(Module):
    """Applies :func:`softmin` over the last axis."""
    def __call__(self, x: mx.array) -> mx.array:
        return softmin(x)


class GLU(Module):
    """Applies :func:`glu` along ``axis``."""
    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def __call__(self, x: mx.array) -> mx.array:
        return glu(x=x, axis=self.axis)


class LeakyReLU(Module):
    """Applies :func:`leaky_relu` with ``negative_slope``."""
    def __init__(self, negative_slope: float = 1e-2) -> None:
        super().__init__()
        self._negative_slope = negative_slope

    def __call__(self, x: mx.array) -> mx.array:
        return leaky_relu(x, self._negative_slope)


class ELU(Module):
    """Applies :func:`elu` with ``alpha``."""
    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self._alpha = alpha

    def __call__(self, x: mx.array) -> mx.array:
        return elu(x, self._alpha)


class CELU(Module):
    """Applies :func:`celu` with ``alpha``."""
    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self._alpha = alpha

    def __call__(self, x: mx.array) -> mx.array:
        return celu(x, self._alpha)


class Softshrink(Module):
    """Applies :func:`softshrink` with ``lambd``."""
    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def __call__(self, x: mx.array) -> mx.array:
        return softshrink(x, self.lambd)


class HardShrink(Module):
    """Applies :func:`hard_shrink` with ``lambd``."""
    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def __call__(self, x: mx.array) -> mx.array:
        return hard_shrink(x, self.lambd)


class Step(Module):
    """Applies :func:`step` with ``threshold``."""
    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        self.threshold = threshold

    def __call__(self, x: mx.array) -> mx.array:
        return step(x, self.threshold)


class PReLU(Module):
    """Applies :func:`prelu` with a learned slope per channel (``num_parameters`` of them,
    starting at ``init``)."""
    def __init__(self, num_parameters: int = 1, init: float = 0.25) -> None:
        super().__init__()
        self.weight = mx.full([num_parameters], init)

    def __call__(self, x: mx.array) -> mx.array:
        return prelu(x, self.weight)


class GELU(Module):
    """Applies :func:`gelu` (``approx="none"``), :func:`gelu_approx` (``"precise"`` or
    ``"tanh"``) or :func:`gelu_fast_approx` (``"fast"``)."""
    _FORMS = {"none": gelu, "precise": gelu_approx, "tanh": gelu_approx, "fast": gelu_fast_approx}

    def __init__(self, approx: str = "none") -> None:
        super().__init__()
        if approx not in self._FORMS:
            raise ValueError(f"[GELU] The approximation should be one of {list(self._FORMS)} but "
                             f"'{approx}' was given.")
        self._approx = approx

    def __call__(self, x: mx.array) -> mx.array:
        return self._FORMS[self._approx](x)
