"""Loss functions. Each returns the per-element (or per-sample) loss reduced as ``reduction``
asks: ``"none"``, ``"mean"`` or ``"sum"``. The defaults differ per loss, as in MLX."""

from __future__ import annotations

import math
from typing import Literal, Optional, Tuple, get_args

import pullback.core as mx

Reduction = Literal["none", "mean", "sum"]

_LOG_2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _reduce(loss: mx.array, reduction: Reduction, what: str) -> mx.array:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return mx.mean(loss)
    if reduction == "sum":
        return mx.sum(loss)
    raise ValueError(f"[{what}] Invalid reduction {reduction!r}. Must be one of "
                     f"{get_args(Reduction)}.")


def _same_shape(what: str, **arrays: mx.array) -> None:
    shapes = {name: tuple(a.shape) for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"[{what}] The shapes must match; got {listed}.")


def _weighted(loss: mx.array, weights: Optional[mx.array], what: str) -> mx.array:
    if weights is None:
        return loss
    if tuple(weights.shape) != tuple(loss.shape):
        raise ValueError(f"[{what}] Weights with shape {tuple(weights.shape)} do not match the "
                         f"loss's shape {tuple(loss.shape)}.")
    return loss * weights


def _without_axis(shape: Tuple[int, ...], axis: int, what: str) -> Tuple[int, ...]:
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"[{what}] axis {axis} is out of bounds for logits of shape {shape}.")
    axis %= len(shape)
    return shape[:axis] + shape[axis + 1:]


def _pick(x: mx.array, indices: mx.array, axis: int) -> mx.array:
    """``x[..., indices, ...]`` along ``axis``, one index per position of the other axes."""
    return mx.take_along_axis(x, mx.expand_dims(indices, axis), axis).squeeze(axis)


def cross_entropy(logits: mx.array, targets: mx.array, weights: Optional[mx.array] = None,
                  axis: int = -1, label_smoothing: float = 0.0,
                  reduction: Reduction = "none") -> mx.array:
    """Cross entropy between ``softmax(logits)`` along ``axis`` and ``targets``: class indices
    (one dimension fewer than ``logits``) or class probabilities (``logits``' shape).

    ``label_smoothing`` in [0, 1) mixes the target with the uniform distribution; ``weights``
    (the loss's shape) scale each sample's loss."""
    what = "cross_entropy"
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"[{what}] Label smoothing must be in [0, 1), got {label_smoothing}.")
    logits_shape, targets_shape = tuple(logits.shape), tuple(targets.shape)
    as_probabilities = targets.ndim == logits.ndim
    expected = logits_shape if as_probabilities else _without_axis(logits_shape, axis, what)
    if targets_shape != expected:
        raise ValueError(f"[{what}] Targets shape {targets_shape} does not match logits shape "
                         f"{logits_shape}.")
    if (not as_probabilities and label_smoothing == 0 and axis in (-1, logits.ndim - 1)
            and logits.dtype in (mx.float32, mx.float64, mx.float16, mx.bfloat16)):
        # The common case runs as the fused primitive: one pass per row forward and backward
        # (it computes in float32 at least; the loss keeps the logits' dtype, as the
        # composition below does).
        loss = mx.fast.cross_entropy(logits, targets)
        if loss.dtype != logits.dtype:
            loss = loss.astype(logits.dtype)
        return _reduce(_weighted(loss, weights, what), reduction, what)
    # Shifting by the (constant) max keeps exp in range; the loss does not depend on it.
    shifted = logits - mx.stop_gradient(mx.max(logits, axis=axis, keepdims=True))
    if as_probabilities:
        score = mx.sum(shifted * targets, axis=axis)
    else:
        score = _pick(shifted, targets, axis)
    loss = mx.logsumexp(shifted, axis=axis) - score
    if label_smoothing > 0:
        # -[(1 - s) * log p_target + s * mean(log p)] with log p = shifted - logsumexp.
        loss = loss + label_smoothing * (score - mx.mean(shifted, axis=axis))
    return _reduce(_weighted(loss, weights, what), reduction, what)


def binary_cross_entropy(inputs: mx.array, targets: mx.array,
                         weights: Optional[mx.array] = None, with_logits: bool = True,
                         reduction: Reduction = "mean") -> mx.array:
    """Binary cross entropy of ``targets`` in [0, 1] under ``inputs``: logits (``with_logits``,
    computed stably) or probabilities (their logarithms clipped at -100, as PyTorch does)."""
    what = "binary_cross_entropy"
    _same_shape(what, inputs=inputs, targets=targets)
    if with_logits:
        loss = mx.logaddexp(0.0, inputs) - inputs * targets
    else:
        log_p = mx.maximum(mx.log(inputs), -100)
        log_not_p = mx.maximum(mx.log(1 - inputs), -100)
        loss = -(targets * log_p + (1 - targets) * log_not_p)
    return _reduce(_weighted(loss, weights, what), reduction, what)


def l1_loss(predictions: mx.array, targets: mx.array, reduction: Reduction = "mean") -> mx.array:
    """``|predictions - targets|``."""
    _same_shape("l1_loss", predictions=predictions, targets=targets)
    return _reduce(mx.abs(predictions - targets), reduction, "l1_loss")


def mse_loss(predictions: mx.array, targets: mx.array,
             reduction: Reduction = "mean") -> mx.array:
    """``(predictions - targets)**2``."""
    _same_shape("mse_loss", predictions=predictions, targets=targets)
    return _reduce(mx.square(predictions - targets), reduction, "mse_loss")


def nll_loss(inputs: mx.array, targets: mx.array, axis: int = -1,
             reduction: Reduction = "none") -> mx.array:
    """Negative log likelihood: ``-inputs[target]`` along ``axis``, ``inputs`` being
    log-probabilities and ``targets`` class indices."""
    what = "nll_loss"
    expected = _without_axis(tuple(inputs.shape), axis, what)
    if tuple(targets.shape) != expected:
        raise ValueError(f"[{what}] Targets shape {tuple(targets.shape)} does not match inputs "
                         f"shape {tuple(inputs.shape)} without axis {axis}.")
    return _reduce(-_pick(inputs, targets, axis), reduction, what)


def gaussian_nll_loss(inputs: mx.array, targets: mx.array, vars: mx.array, full: bool = False,
                      eps: float = 1e-6, reduction: Reduction = "mean") -> mx.array:
    """Negative log likelihood of ``targets`` under normals of mean ``inputs`` and variance
    ``vars`` (clamped below at ``eps``); ``full`` adds the constant ``log(2 pi) / 2``."""
    what = "gaussian_nll_loss"
    _same_shape(what, inputs=inputs, targets=targets, vars=vars)
    vars = mx.maximum(vars, eps)
    loss = 0.5 * (mx.log(vars) + mx.square(targets - inputs) / vars)
    if full:
        loss = loss + _HALF_LOG_2PI
    return _reduce(loss, reduction, what)


def kl_div_loss(inputs: mx.array, targets: mx.array, axis: int = -1,
                reduction: Reduction = "none") -> mx.array:
    """Kullback-Leibler divergence ``sum(p_t * (log p_t - log p_in))`` along ``axis``; both
    ``inputs`` and ``targets`` are log-probabilities."""
    loss = mx.sum(mx.exp(targets) * (targets - inputs), axis)
    return _reduce(loss, reduction, "kl_div_loss")


def smooth_l1_loss(predictions: mx.array, targets: mx.array, beta: float = 1.0,
                   reduction: Reduction = "mean") -> mx.array:
    """``0.5 * d**2 / beta`` where ``d = |predictions - targets| < beta``, else
    ``d - 0.5 * beta``."""
    what = "smooth_l1_loss"
    _same_shape(what, predictions=predictions, targets=targets)
    diff = mx.abs(predictions - targets)
    loss = mx.where(diff < beta, 0.5 * mx.square(diff) / beta, diff - 0.5 * beta)
    return _reduce(loss, reduction, what)


def _p_distance(a: mx.array, b: mx.array, p: int, axis: int, eps: float) -> mx.array:
    return mx.power(mx.sum(mx.power(mx.abs(a - b), p), axis) + eps, 1.0 / p)


def triplet_loss(anchors: mx.array, positives: mx.array, negatives: mx.array, axis: int = -1,
                 p: int = 2, margin: float = 1.0, eps: float = 1e-6,
                 reduction: Reduction = "none") -> mx.array:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the ``p``-norm distance along
    ``axis`` (``eps`` added inside the root for a finite gradient at 0)."""
    positive = _p_distance(anchors, positives, p, axis, eps)
    negative = _p_distance(anchors, negatives, p, axis, eps)
    return _reduce(mx.maximum(positive - negative + margin, 0), reduction, "triplet_loss")


def hinge_loss(inputs: mx.array, targets: mx.array, reduction: Reduction = "none") -> mx.array:
    """``max(1 - inputs * targets, 0)`` for targets in {-1, 1}."""
    return _reduce(mx.maximum(1 - inputs * targets, 0), reduction, "hinge_loss")


def huber_loss(inputs: mx.array, targets: mx.array, delta: float = 1.0,
               reduction: Reduction = "none") -> mx.array:
    """``0.5 * e**2`` for ``|e| <= delta``, else ``delta * (|e| - 0.5 * delta)``, where
    ``e = inputs - targets``."""
    magnitude = mx.abs(inputs - targets)
    quadratic = mx.minimum(magnitude, delta)
    loss = 0.5 * mx.square(quadratic) + delta * (magnitude - quadratic)
    return _reduce(loss, reduction, "huber_loss")


def log_cosh_loss(inputs: mx.array, targets: mx.array, reduction: Reduction = "none") -> mx.array:
    """``log(cosh(inputs - targets))``, computed without overflow as
    ``logaddexp(e, -e) - log 2``."""
    errors = inputs - targets
    return _reduce(mx.logaddexp(errors, -errors) - _LOG_2, reduction, "log_cosh_loss")


def cosine_similarity_loss(x1: mx.array, x2: mx.array, axis: int = 1, eps: float = 1e-8,
                           reduction: Reduction = "none") -> mx.array:
    """Cosine similarity of ``x1`` and ``x2`` along ``axis``:
    ``x1 . x2 / max(|x1| |x2|, eps)``."""
    norms = mx.sqrt(mx.sum(mx.square(x1), axis=axis)) * mx.sqrt(mx.sum(mx.square(x2), axis=axis))
    loss = mx.sum(x1 * x2, axis=axis) / mx.maximum(norms, eps)
    return _reduce(loss, reduction, "cosine_similarity_loss")


def margin_ranking_loss(inputs1: mx.array, inputs2: mx.array, targets: mx.array,
                        margin: float = 0.0, reduction: Reduction = "none") -> mx.array:
    """``max(0, -targets * (inputs1 - inputs2) + margin)`` for targets in {-1, 1}."""
    what = "margin_ranking_loss"
    _same_shape(what, inputs1=inputs1, inputs2=inputs2, targets=targets)
    loss = mx.maximum(0, -targets * (inputs1 - inputs2) + margin)
    return _reduce(loss, reduction, what)
