"""pullback.nn.losses: values against NumPy references written here (and, where PyTorch is
installed, against it as an extra), reductions, argument checks, numerical stability, and
derivatives against central differences."""

import math

import numpy as np
import pytest

import pullback.core as mx
import pullback.nn as nn
from helpers import check_grad, to_numpy

losses = nn.losses


def A(x, dtype=mx.float64):
    return mx.array(x, dtype=dtype)


def close(got, want, tol=1e-10):
    np.testing.assert_allclose(to_numpy(got), np.asarray(want, dtype=np.float64), rtol=tol,
                               atol=tol)


def np_log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# NumPy references for the losses, written from their formulas (reduction "none").
def np_smoothed_cross_entropy(logits, targets, smoothing):
    """Class indices: (1 - s) of the true class's -log p plus s spread evenly over classes."""
    logp = np_log_softmax(logits)
    picked = logp[np.arange(len(targets)), targets]
    return -(1 - smoothing) * picked - smoothing * logp.mean(-1)


def np_smoothed_cross_entropy_probs(logits, probs, smoothing):
    smoothed = probs * (1 - smoothing) + smoothing / probs.shape[-1]
    return -(smoothed * np_log_softmax(logits)).sum(-1)


def np_bce_with_logits(x, t):
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


def np_bce(p, t):
    # Logs clipped at -100, so probabilities of exactly 0 and 1 stay finite.
    return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))


def np_smooth_l1(d, beta):
    ad = np.abs(d)
    return np.where(ad < beta, 0.5 * d ** 2 / beta, ad - 0.5 * beta)


def np_huber(d, delta):
    ad = np.abs(d)
    return np.where(ad <= delta, 0.5 * d ** 2, delta * (ad - 0.5 * delta))


def np_margin_ranking(a, b, sign, margin):
    return np.maximum(-sign * (a - b) + margin, 0)


def np_gaussian_nll(mean, target, var, full):
    value = 0.5 * (np.log(var) + (mean - target) ** 2 / var)
    return value + 0.5 * math.log(2 * math.pi) if full else value


def np_kl_div_log_target(logp, logq, axis=-1):
    return (np.exp(logq) * (logq - logp)).sum(axis)


def np_cosine_similarity(a, b, axis):
    return (a * b).sum(axis) / (np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis))


@pytest.fixture
def logits(rng):
    return rng.standard_normal((6, 5)) * 3


def test_cross_entropy_with_class_indices(logits, rng):
    targets = rng.integers(0, 5, size=6)
    expected = -np_log_softmax(logits)[np.arange(6), targets]
    close(losses.cross_entropy(A(logits), mx.array(targets)), expected)
    close(losses.cross_entropy(A(logits), mx.array(targets), reduction="mean"), expected.mean())
    close(losses.cross_entropy(A(logits), mx.array(targets), reduction="sum"), expected.sum())
    weights = rng.random(6)
    close(losses.cross_entropy(A(logits), mx.array(targets), weights=A(weights)),
          expected * weights)
    # Along another axis.
    close(losses.cross_entropy(A(logits.T), mx.array(targets), axis=0), expected)
    for smoothing in (0.1, 0.5):
        ref = np_smoothed_cross_entropy(logits, targets, smoothing)
        close(losses.cross_entropy(A(logits), mx.array(targets), label_smoothing=smoothing), ref)


def test_cross_entropy_with_probabilities(logits, rng):
    probs = np.exp(np_log_softmax(rng.standard_normal((6, 5))))
    expected = -(probs * np_log_softmax(logits)).sum(-1)
    close(losses.cross_entropy(A(logits), A(probs)), expected)
    ref = np_smoothed_cross_entropy_probs(logits, probs, 0.2)
    close(losses.cross_entropy(A(logits), A(probs), label_smoothing=0.2), ref)


def test_cross_entropy_is_stable_and_checks_arguments(rng):
    big = A([[1000.0, -1000.0, 0.0]])
    close(losses.cross_entropy(big, mx.array([1])), [2000.0])
    close(losses.cross_entropy(big.astype(mx.float32), mx.array([0])), [0.0])
    with pytest.raises(ValueError, match=r"cross_entropy.*\(3,\).*\(6, 5\)"):
        losses.cross_entropy(A(np.zeros((6, 5))), mx.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(6, 4\)"):
        losses.cross_entropy(A(np.zeros((6, 5))), A(np.zeros((6, 4))))
    with pytest.raises(ValueError, match="Label smoothing"):
        losses.cross_entropy(A(np.zeros((2, 3))), mx.array([0, 1]), label_smoothing=1.0)
    with pytest.raises(ValueError, match="axis 2"):
        losses.cross_entropy(A(np.zeros((2, 3))), mx.array([0, 1]), axis=2)
    with pytest.raises(ValueError, match="Weights"):
        losses.cross_entropy(A(np.zeros((2, 3))), mx.array([0, 1]), weights=A([1.0]))
    with pytest.raises(ValueError, match="Invalid reduction"):
        losses.cross_entropy(A(np.zeros((2, 3))), mx.array([0, 1]), reduction="avg")


def test_cross_entropy_derivatives(logits, rng):
    targets = mx.array(rng.integers(0, 5, size=6))
    probs = np.exp(np_log_softmax(rng.standard_normal((6, 5))))  # rows sum to 1
    check_grad(lambda x: losses.cross_entropy(x.T[::-1], targets, label_smoothing=0.2),
               [logits[::-1].T])
    check_grad(lambda x, p: losses.cross_entropy(x, p.T, reduction="mean"), [logits, probs.T])


def test_binary_cross_entropy(rng):
    x = rng.standard_normal((4, 3)) * 4
    t = rng.random((4, 3))
    w = rng.random((4, 3))
    ref = np_bce_with_logits(x, t)
    close(losses.binary_cross_entropy(A(x), A(t), reduction="none"), ref)
    close(losses.binary_cross_entropy(A(x), A(t)), ref.mean())
    close(losses.binary_cross_entropy(A(x), A(t), weights=A(w), reduction="sum"),
          (ref * w).sum())
    p = 1 / (1 + np.exp(-x))
    ref = np_bce(p, t)
    close(losses.binary_cross_entropy(A(p), A(t), with_logits=False, reduction="none"), ref,
          1e-8)
    # log is clipped at -100, as PyTorch does: probabilities of exactly 0 and 1 stay finite.
    close(losses.binary_cross_entropy(A([0.0, 1.0]), A([1.0, 0.0]), with_logits=False,
                                      reduction="none"), [100.0, 100.0])
    close(losses.binary_cross_entropy(A([800.0, -800.0]), A([0.0, 1.0]), reduction="none"),
          [800.0, 800.0])
    with pytest.raises(ValueError, match=r"binary_cross_entropy.*\(2,\).*\(3,\)"):
        losses.binary_cross_entropy(A([1.0, 2.0]), A([1.0, 2.0, 3.0]))
    check_grad(lambda a, b: losses.binary_cross_entropy(a.T, b), [x.T, t])
    # Probabilities well inside (0, 1), where central differences are accurate.
    mild = 1 / (1 + np.exp(-x / 4))
    check_grad(lambda a: losses.binary_cross_entropy(a[::-1], A(t, a.dtype), with_logits=False),
               [mild[::-1]])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_regression_losses(reduction, rng):
    a, b = rng.standard_normal((2, 5, 3)) * 2

    def reduce(v):
        return {"none": v, "mean": v.mean(), "sum": v.sum()}[reduction]

    d = a - b
    close(losses.l1_loss(A(a), A(b), reduction), reduce(np.abs(d)))
    close(losses.mse_loss(A(a), A(b), reduction), reduce(d ** 2))
    for beta in (1.0, 0.5):
        ref = reduce(np_smooth_l1(d, beta))
        close(losses.smooth_l1_loss(A(a), A(b), beta=beta, reduction=reduction), ref)
    for delta in (1.0, 2.0):
        ref = reduce(np_huber(d, delta))
        close(losses.huber_loss(A(a), A(b), delta=delta, reduction=reduction), ref)
    close(losses.log_cosh_loss(A(a), A(b), reduction), reduce(np.log(np.cosh(d))))
    sign = np.where(rng.random((5, 3)) > 0.5, 1.0, -1.0)
    close(losses.hinge_loss(A(a), A(sign), reduction), reduce(np.maximum(1 - a * sign, 0)))
    ref = reduce(np_margin_ranking(a, b, sign, 0.3))
    close(losses.margin_ranking_loss(A(a), A(b), A(sign), margin=0.3, reduction=reduction), ref)
    var = rng.random((5, 3)) + 0.1
    for full in (False, True):
        ref = reduce(np_gaussian_nll(a, b, var, full))
        close(losses.gaussian_nll_loss(A(a), A(b), A(var), full=full, reduction=reduction), ref)


def test_regression_loss_shape_checks():
    for fn in (losses.l1_loss, losses.mse_loss, losses.smooth_l1_loss):
        with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
            fn(A([1.0, 2.0]), A([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="margin_ranking_loss"):
        losses.margin_ranking_loss(A([1.0]), A([1.0]), A([1.0, 1.0]))
    with pytest.raises(ValueError, match="gaussian_nll_loss.*vars"):
        losses.gaussian_nll_loss(A([1.0]), A([1.0]), A([1.0, 1.0]))


def test_log_cosh_does_not_overflow():
    close(losses.log_cosh_loss(A([1000.0, -1000.0]), A([0.0, 0.0])),
          [1000.0 - math.log(2), 1000.0 - math.log(2)])


def test_nll_and_kl_div(rng):
    logp = np_log_softmax(rng.standard_normal((4, 5)))
    targets = rng.integers(0, 5, size=4)
    ref = -logp[np.arange(4), targets]
    close(losses.nll_loss(A(logp), mx.array(targets)), ref)
    close(losses.nll_loss(A(logp.T), mx.array(targets), axis=0, reduction="mean"), ref.mean())
    with pytest.raises(ValueError, match="nll_loss"):
        losses.nll_loss(A(logp), mx.array([0, 1]))
    logq = np_log_softmax(rng.standard_normal((4, 5)))
    ref = np_kl_div_log_target(logp, logq)
    close(losses.kl_div_loss(A(logp), A(logq)), ref)
    close(losses.kl_div_loss(A(logp.T), A(logq.T), axis=0, reduction="sum"), ref.sum())
    check_grad(lambda p, q: losses.kl_div_loss(p.T, q), [logp.T, logq])
    check_grad(lambda p: losses.nll_loss(p[::-1], mx.array(targets), reduction="mean"),
               [logp[::-1]])


def test_triplet_and_cosine_similarity(rng):
    a, p, n = rng.standard_normal((3, 4, 6))
    for norm, margin in ((2, 1.0), (1, 0.5)):
        # Ours puts eps inside the root (as MLX): a 1e-6 shift of each p-th power sum.
        def dist(u, v):
            return (np.sum(np.abs(u - v) ** norm, -1) + 1e-6) ** (1 / norm)
        mine = np.maximum(dist(a, p) - dist(a, n) + margin, 0)
        close(losses.triplet_loss(A(a), A(p), A(n), p=norm, margin=margin), mine)
    close(losses.cosine_similarity_loss(A(a), A(p)), np_cosine_similarity(a, p, 1))
    close(losses.cosine_similarity_loss(A(a), A(p), axis=0, reduction="mean"),
          np_cosine_similarity(a, p, 0).mean())
    close(losses.cosine_similarity_loss(A(np.zeros((1, 3))), A(np.ones((1, 3)))), [0.0])
    check_grad(lambda x, y, z: losses.triplet_loss(x.T, y, z, margin=5.0), [a.T, p, n])
    check_grad(lambda x, y: losses.cosine_similarity_loss(x[::-1], y, reduction="sum"),
               [a[::-1], p])


def test_regression_loss_derivatives(rng):
    a, b = rng.standard_normal((2, 3, 4)) * 2
    b = a + np.where(np.abs(b) < 0.1, 0.3, b)  # keep the kinks of l1/huber away
    var = rng.random((3, 4)) + 0.5
    sign = np.where(rng.random((3, 4)) > 0.5, 1.0, -1.0)
    check_grad(lambda x, y: losses.l1_loss(x.T, y.T), [a, b])
    check_grad(lambda x, y: losses.mse_loss(x[::-1], y[::-1], "sum"), [a, b])
    check_grad(lambda x, y: losses.smooth_l1_loss(x, y, beta=0.7), [a, b])
    check_grad(lambda x, y: losses.huber_loss(x.T, y.T, delta=0.8), [a, b])
    check_grad(lambda x, y: losses.log_cosh_loss(x, y), [a, b])
    # Constants in the primals' dtype, so that float32 runs stay float32.
    check_grad(lambda x, v: losses.gaussian_nll_loss(x, A(b, x.dtype), v.T, full=True),
               [a, var.T])
    check_grad(lambda x: losses.hinge_loss(x, A(sign * 3.0, x.dtype)), [a])
    check_grad(lambda x, y: losses.margin_ranking_loss(x, y, A(sign, x.dtype), margin=0.1),
               [a, b])


def test_losses_in_float32_follow_the_input_dtype(rng):
    x = mx.array(rng.standard_normal((3, 4)), dtype=mx.float32)
    y = mx.array(rng.standard_normal((3, 4)), dtype=mx.float32)
    for value in (losses.mse_loss(x, y), losses.l1_loss(x, y), losses.huber_loss(x, y),
                  losses.cross_entropy(x, mx.array([0, 1, 2])),
                  losses.binary_cross_entropy(x, mx.sigmoid(y)),
                  losses.kl_div_loss(x, y), losses.log_cosh_loss(x, y)):
        assert value.dtype == mx.float32


def test_losses_match_torch(rng):
    """Optional extra: every value here is also checked against the NumPy references above."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    def T(x):
        return torch.tensor(np.asarray(x))

    logits = rng.standard_normal((6, 5)) * 3
    targets = rng.integers(0, 5, size=6)
    probs = np.exp(np_log_softmax(rng.standard_normal((6, 5))))
    for smoothing in (0.1, 0.5):
        ref = F.cross_entropy(T(logits), T(targets), label_smoothing=smoothing,
                              reduction="none").numpy()
        close(losses.cross_entropy(A(logits), mx.array(targets), label_smoothing=smoothing), ref)
    ref = F.cross_entropy(T(logits), T(probs), label_smoothing=0.2, reduction="none").numpy()
    close(losses.cross_entropy(A(logits), A(probs), label_smoothing=0.2), ref)

    x = rng.standard_normal((4, 3)) * 4
    t = rng.random((4, 3))
    ref = F.binary_cross_entropy_with_logits(T(x), T(t), reduction="none").numpy()
    close(losses.binary_cross_entropy(A(x), A(t), reduction="none"), ref)
    p = 1 / (1 + np.exp(-x))
    ref = F.binary_cross_entropy(T(p), T(t), reduction="none").numpy()
    close(losses.binary_cross_entropy(A(p), A(t), with_logits=False, reduction="none"), ref,
          1e-8)

    a, b = rng.standard_normal((2, 5, 3)) * 2
    sign = np.where(rng.random((5, 3)) > 0.5, 1.0, -1.0)
    var = rng.random((5, 3)) + 0.1
    for reduction in ("none", "mean", "sum"):
        for beta in (1.0, 0.5):
            ref = F.smooth_l1_loss(T(a), T(b), beta=beta, reduction=reduction).numpy()
            close(losses.smooth_l1_loss(A(a), A(b), beta=beta, reduction=reduction), ref)
        for delta in (1.0, 2.0):
            ref = F.huber_loss(T(a), T(b), delta=delta, reduction=reduction).numpy()
            close(losses.huber_loss(A(a), A(b), delta=delta, reduction=reduction), ref)
        ref = F.margin_ranking_loss(T(a), T(b), T(sign), margin=0.3,
                                    reduction=reduction).numpy()
        close(losses.margin_ranking_loss(A(a), A(b), A(sign), margin=0.3, reduction=reduction),
              ref)
        for full in (False, True):
            ref = F.gaussian_nll_loss(T(a), T(b), T(var), full=full,
                                      reduction=reduction).numpy()
            close(losses.gaussian_nll_loss(A(a), A(b), A(var), full=full, reduction=reduction),
                  ref)

    logp = np_log_softmax(rng.standard_normal((4, 5)))
    logq = np_log_softmax(rng.standard_normal((4, 5)))
    nll_targets = rng.integers(0, 5, size=4)
    ref = F.nll_loss(T(logp), T(nll_targets), reduction="none").numpy()
    close(losses.nll_loss(A(logp), mx.array(nll_targets)), ref)
    ref = F.kl_div(T(logp), T(logq), log_target=True, reduction="none").numpy().sum(-1)
    close(losses.kl_div_loss(A(logp), A(logq)), ref)

    u, v, w = rng.standard_normal((3, 4, 6))
    for norm, margin in ((2, 1.0), (1, 0.5)):
        ref = F.triplet_margin_loss(T(u), T(v), T(w), margin=margin, p=norm, eps=0.0,
                                    reduction="none").numpy()
        # Ours puts eps inside the root (as MLX), hence the looser tolerance.
        np.testing.assert_allclose(
            to_numpy(losses.triplet_loss(A(u), A(v), A(w), p=norm, margin=margin)), ref,
            atol=1e-5)
    close(losses.cosine_similarity_loss(A(u), A(v)),
          F.cosine_similarity(T(u), T(v), dim=1).numpy())
