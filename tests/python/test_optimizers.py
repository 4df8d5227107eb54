"""pullback.optimizers: each optimizer over several steps against a NumPy transcription of its
update (and, where PyTorch is installed and the formulas agree, against torch.optim as an
extra); state save/restore; schedules; MultiOptimizer; clip_grad_norm."""

import math

import numpy as np
import pytest

import pullback.core as mx
import pullback.nn as nn
import pullback.optimizers as optim
from helpers import to_numpy
from pullback.utils import tree_flatten, tree_map, tree_unflatten

STEPS = 5


def make_problem(seed=0):
    """Parameters (a nested tree, float64) and a gradient tree per step."""
    rng = np.random.default_rng(seed)
    shapes = {"w": (4, 3), "b": [(3,)], "k": (2, 3, 4)}
    params = tree_map(lambda s: rng.standard_normal(s), shapes,
                      is_leaf=lambda s: isinstance(s, tuple))
    grads = [tree_map(lambda s: rng.standard_normal(s), shapes,
                      is_leaf=lambda s: isinstance(s, tuple)) for _ in range(STEPS)]
    return params, grads


def run_ours(optimizer, params, grads):
    current = tree_map(lambda p: mx.array(p, dtype=mx.float64), params)
    for g in grads:
        current = optimizer.apply_gradients(tree_map(lambda v: mx.array(v, dtype=mx.float64), g),
                                            current)
        mx.eval(current)
    return dict(tree_flatten(tree_map(to_numpy, current)))


def run_torch(make, params, grads):
    """``make(torch, tensors)`` builds a torch.optim optimizer; skips where torch is absent."""
    torch = pytest.importorskip("torch")
    flat = dict(tree_flatten(params))
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in flat.items()}
    opt = make(torch, list(tensors.values()))
    for g in grads:
        for k, gv in tree_flatten(g):
            tensors[k].grad = torch.tensor(gv)
        opt.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


def run_numpy(update, params, grads):
    """``update(p, g, state, step)`` returns the new p; state is a per-parameter dict."""
    flat = dict(tree_flatten(params))
    states = {k: {} for k in flat}
    for step, g in enumerate(grads, start=1):
        for k, gv in tree_flatten(g):
            flat[k] = update(flat[k], gv, states[k], step)
    return flat


def assert_same(ours, reference, rtol=1e-6, atol=1e-9):
    assert ours.keys() == reference.keys()
    for k in ours:
        np.testing.assert_allclose(ours[k], reference[k], rtol=rtol, atol=atol, err_msg=k)


# The learning rate lives in the state as a float32 array (as in MLX), so float64 parameters
# see it rounded: tolerances are relative 1e-6, not 1e-12.
LR32 = float(np.float32(0.1))


SGD_CASES = [dict(), dict(momentum=0.9), dict(momentum=0.9, nesterov=True),
             dict(momentum=0.5, weight_decay=0.1), dict(weight_decay=0.01)]


def sgd_reference(momentum=0.0, weight_decay=0.0, nesterov=False):
    def update(p, g, s, step):
        g = g + weight_decay * p
        if momentum:
            s["v"] = momentum * s.get("v", 0.0) + g
            g = g + momentum * s["v"] if nesterov else s["v"]
        return p - LR32 * g
    return update


@pytest.mark.parametrize("kw", SGD_CASES)
def test_sgd_by_hand(kw):
    params, grads = make_problem()
    ours = run_ours(optim.SGD(learning_rate=0.1, **kw), params, grads)
    assert_same(ours, run_numpy(sgd_reference(**kw), params, grads))


@pytest.mark.parametrize("kw", SGD_CASES)
def test_sgd_matches_torch(kw):
    """Optional extra to test_sgd_by_hand."""
    params, grads = make_problem()
    ours = run_ours(optim.SGD(learning_rate=0.1, **kw), params, grads)
    theirs = run_torch(lambda torch, ps: torch.optim.SGD(ps, lr=LR32, **kw), params, grads)
    assert_same(ours, theirs)


def test_sgd_dampening_by_hand():
    params, grads = make_problem()

    def update(p, g, s, step):
        g = g + 0.01 * p
        s["v"] = 0.9 * s.get("v", 0.0) + 0.7 * g  # MLX starts v at 0 (torch at g)
        return p - LR32 * s["v"]

    ours = run_ours(optim.SGD(0.1, momentum=0.9, dampening=0.3, weight_decay=0.01), params,
                    grads)
    assert_same(ours, run_numpy(update, params, grads))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(0.1, momentum=0.9, dampening=0.1, nesterov=True)


def test_rmsprop_adagrad_adadelta_by_hand():
    params, grads = make_problem(1)

    def rmsprop(p, g, s, step, alpha=0.9, eps=1e-6):
        s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g * g
        return p - LR32 * g / (np.sqrt(s["v"]) + eps)

    def adagrad(p, g, s, step, eps=1e-8):
        s["v"] = s.get("v", 0.0) + g * g
        return p - LR32 * g / (np.sqrt(s["v"]) + eps)

    def adadelta(p, g, s, step, rho=0.8, eps=1e-6):
        s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
        delta = np.sqrt(s.get("u", 0.0) + eps) / np.sqrt(s["v"] + eps) * g
        s["u"] = rho * s.get("u", 0.0) + (1 - rho) * delta * delta
        return p - LR32 * delta

    assert_same(run_ours(optim.RMSprop(0.1, alpha=0.9, eps=1e-6), params, grads),
                run_numpy(rmsprop, params, grads))
    assert_same(run_ours(optim.Adagrad(0.1), params, grads), run_numpy(adagrad, params, grads))
    assert_same(run_ours(optim.AdaDelta(0.1, rho=0.8), params, grads),
                run_numpy(adadelta, params, grads))
    for make in (lambda: optim.RMSprop(0.1, alpha=-0.1), lambda: optim.RMSprop(0.1, eps=0),
                 lambda: optim.Adagrad(0.1, eps=0), lambda: optim.AdaDelta(0.1, rho=-1),
                 lambda: optim.AdaDelta(0.1, eps=0)):
        with pytest.raises(ValueError):
            make()


def test_rmsprop_adagrad_adadelta_match_torch():
    """Optional extra to test_rmsprop_adagrad_adadelta_by_hand."""
    params, grads = make_problem(1)
    assert_same(run_ours(optim.RMSprop(0.1, alpha=0.9, eps=1e-6), params, grads),
                run_torch(lambda torch, ps: torch.optim.RMSprop(ps, lr=LR32, alpha=0.9,
                                                                eps=1e-6), params, grads))
    assert_same(run_ours(optim.Adagrad(0.1), params, grads),
                run_torch(lambda torch, ps: torch.optim.Adagrad(ps, lr=LR32, eps=1e-8), params,
                          grads))
    assert_same(run_ours(optim.AdaDelta(0.1, rho=0.8), params, grads),
                run_torch(lambda torch, ps: torch.optim.Adadelta(ps, lr=LR32, rho=0.8,
                                                                 eps=1e-6), params, grads))


def bias_corrected_adam(b1, b2, decay=0.0, eps=1e-8):
    def update(p, g, s, step):
        p = p * (1 - LR32 * decay)
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m_hat = s["m"] / (1 - b1 ** step)
        v_hat = s["v"] / (1 - b2 ** step)
        return p - LR32 * m_hat / (np.sqrt(v_hat) + eps)
    return update


# The bias corrections 1 - beta**step are float32 scalars (as in MLX), whose rounding the
# updates amplify where the parameters nearly cancel: relative 1e-4.
def test_adam_and_adamw_with_bias_correction_by_hand():
    params, grads = make_problem(2)
    assert_same(run_ours(optim.Adam(0.1, betas=[0.8, 0.9], bias_correction=True), params,
                         grads),
                run_numpy(bias_corrected_adam(0.8, 0.9), params, grads), rtol=1e-4)
    assert_same(run_ours(optim.AdamW(0.1, weight_decay=0.05, bias_correction=True), params,
                         grads),
                run_numpy(bias_corrected_adam(0.9, 0.999, decay=0.05), params, grads),
                rtol=1e-4)
    with pytest.raises(ValueError, match="beta1"):
        optim.Adam(0.1, betas=[1.0, 0.9])
    with pytest.raises(ValueError, match="epsilon"):
        optim.Adam(0.1, eps=-1.0)


def test_adam_and_adamw_with_bias_correction_match_torch():
    """Optional extra to test_adam_and_adamw_with_bias_correction_by_hand."""
    params, grads = make_problem(2)
    assert_same(run_ours(optim.Adam(0.1, betas=[0.8, 0.9], bias_correction=True), params,
                         grads),
                run_torch(lambda torch, ps: torch.optim.Adam(ps, lr=LR32, betas=(0.8, 0.9)),
                          params, grads), rtol=1e-4)
    assert_same(run_ours(optim.AdamW(0.1, weight_decay=0.05, bias_correction=True), params,
                         grads),
                run_torch(lambda torch, ps: torch.optim.AdamW(ps, lr=LR32, weight_decay=0.05),
                          params, grads), rtol=1e-4)


def test_adam_without_bias_correction_adamw_and_adamax_by_hand():
    params, grads = make_problem(3)
    b1, b2, eps = 0.9, 0.999, 1e-8

    def adam(p, g, s, step, decay=0.0):
        p = p * (1 - LR32 * decay)
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        return p - LR32 * s["m"] / (np.sqrt(s["v"]) + eps)

    def adamax(p, g, s, step):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = np.maximum(b2 * s.get("v", 0.0), np.abs(g))
        return p - LR32 * s["m"] / (s["v"] + eps)

    assert_same(run_ours(optim.Adam(0.1), params, grads), run_numpy(adam, params, grads))
    assert_same(run_ours(optim.AdamW(0.1), params, grads),
                run_numpy(lambda *a: adam(*a, decay=0.01), params, grads))
    assert_same(run_ours(optim.Adamax(0.1), params, grads), run_numpy(adamax, params, grads))


def test_lion_by_hand():
    params, grads = make_problem(4)
    b1, b2, wd = 0.9, 0.99, 0.1

    def lion(p, g, s, step):
        m = s.get("m", 0.0)
        direction = np.sign(b1 * m + (1 - b1) * g)
        s["m"] = b2 * m + (1 - b2) * g
        return (1 - LR32 * wd) * p - LR32 * direction

    assert_same(run_ours(optim.Lion(0.1, weight_decay=wd), params, grads),
                run_numpy(lion, params, grads))


def adafactor_reference(lr=None, eps=(1e-30, 1e-3), clip=1.0, decay=-0.8, beta_1=None,
                        weight_decay=0.0, scale_parameter=True, relative_step=True,
                        warmup_init=False):
    def rms(x):
        return np.sqrt(np.mean(x * x))

    def update(p, g, s, step):
        if relative_step:
            size = min(1e-6 * step if warmup_init else 1e-2, 1 / math.sqrt(step))
        else:
            size = lr
        size = float(np.float32(size))  # the schedule is a float32 array
        if scale_parameter:
            size = max(eps[1], rms(p)) * size
        beta_2 = 1.0 - float(np.float32(step ** decay))
        sq = g * g + eps[0]
        if g.ndim >= 2:
            s["row"] = beta_2 * s.get("row", 0.0) + (1 - beta_2) * sq.mean(-1)
            s["col"] = beta_2 * s.get("col", 0.0) + (1 - beta_2) * sq.mean(-2)
            r = 1 / np.sqrt(s["row"] / s["row"].mean(-1, keepdims=True))
            u = r[..., :, None] * (1 / np.sqrt(s["col"]))[..., None, :] * g
        else:
            s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * sq
            u = g / np.sqrt(s["v"])
        u = u / max(1.0, rms(u) / clip)
        u = size * u
        if beta_1 is not None:
            s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * u
            u = s["m"]
        if weight_decay:
            p = p - weight_decay * size * p
        return p - u
    return update


@pytest.mark.parametrize("kw", [dict(), dict(learning_rate=0.1, relative_step=False, beta_1=0.9,
                                              weight_decay=0.1),
                                dict(warmup_init=True, scale_parameter=False)])
def test_adafactor_by_hand(kw):
    params, grads = make_problem(5)
    ref_kw = {("lr" if k == "learning_rate" else k): v for k, v in kw.items()}
    assert_same(run_ours(optim.Adafactor(**kw), params, grads),
                run_numpy(adafactor_reference(**ref_kw), params, grads), rtol=1e-5)
    with pytest.raises(ValueError, match="learning_rate"):
        optim.Adafactor(relative_step=False)


def newton_schulz(x, steps):
    a, b, c = 3.4445, -4.7750, 2.0315
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_by_hand(nesterov):
    params, grads = make_problem(6)
    mu, wd = 0.95, 0.01

    def muon(p, g, s, step):
        g = g + wd * p
        s["v"] = mu * s.get("v", 0.0) + (1 - mu) * g
        u = g * (1 - mu) + s["v"] * mu if nesterov else s["v"]
        lr = LR32
        if u.ndim >= 2:
            shape = u.shape
            u = newton_schulz(u.reshape(shape[0], -1), 5).reshape(shape)
            lr = lr * max(1, shape[-2] / shape[-1]) ** 0.5
        return p - lr * u

    assert_same(run_ours(optim.Muon(0.1, nesterov=nesterov), params, grads),
                run_numpy(muon, params, grads), rtol=1e-5)
    # The Newton-Schulz iteration leaves singular values near 1.
    g = np.random.default_rng(0).standard_normal((8, 5))
    sv = np.linalg.svd(newton_schulz(g, 5), compute_uv=False)
    assert np.all((sv > 0.5) & (sv < 1.5))


@pytest.mark.parametrize("make", [
    lambda: optim.SGD(0.1, momentum=0.9), lambda: optim.RMSprop(0.01),
    lambda: optim.Adagrad(0.1), lambda: optim.AdaDelta(1.0),
    lambda: optim.Adam(0.01, bias_correction=True), lambda: optim.AdamW(0.01),
    lambda: optim.Adamax(0.01), lambda: optim.Lion(0.01), lambda: optim.Adafactor(),
    lambda: optim.Muon(0.02), lambda: optim.Adam(optim.cosine_decay(0.1, 4)),
])
def test_state_saved_and_restored_continues_bit_for_bit(make):
    params, grads = make_problem(7)
    params = tree_map(lambda p: mx.array(p, dtype=mx.float32), params)
    grads = [tree_map(lambda g: mx.array(g, dtype=mx.float32), g) for g in grads]
    first = make()
    current = params
    for g in grads[:2]:
        current = first.apply_gradients(g, current)
    mx.eval(current, first.state)
    saved = tree_flatten(first.state)
    assert all(isinstance(v, mx.array) for _, v in saved)
    second = make()
    second.state = tree_unflatten([(k, mx.array(to_numpy(v), dtype=v.dtype))
                                   for k, v in saved])
    a = b = current
    for g in grads[2:]:
        a = first.apply_gradients(g, a)
        b = second.apply_gradients(g, b)
    for (k1, v1), (k2, v2) in zip(tree_flatten(a), tree_flatten(b)):
        assert k1 == k2 and np.array_equal(to_numpy(v1), to_numpy(v2)), k1
    assert second.step.item() == STEPS


def test_init_state_step_and_learning_rate():
    opt = optim.Adam(0.5)
    assert opt.step.item() == 0 and opt.step.dtype == mx.uint64
    assert opt.learning_rate.item() == 0.5
    params = {"a": mx.ones((2,)), "l": [mx.zeros((1,)), {"x": mx.ones((3,))}]}
    opt.init(params)
    assert sorted(k for k, _ in tree_flatten(opt.state)) == [
        "a.m", "a.v", "l.0.m", "l.0.v", "l.1.x.m", "l.1.x.v", "learning_rate", "step"]
    # init keeps existing state and adds what is missing.
    opt.state["a"]["m"] = mx.full((2,), 7.0)
    opt.init({"a": mx.ones((2,)), "new": mx.ones((1,))})
    assert opt.state["a"]["m"].tolist() == [7.0, 7.0] and "m" in opt.state["new"]
    opt.learning_rate = 0.25
    assert opt.learning_rate.item() == 0.25
    updated = opt.apply_gradients({"a": mx.ones((2,))}, {"a": mx.ones((2,)), "other": 1})
    assert set(updated) == {"a"} and opt.step.item() == 1


def test_update_applies_to_a_module():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = mx.array([1.0, 2.0])
            self.frozen = mx.array([5.0])
            self.freeze(keys="frozen", recurse=False)

    model = Model()
    optim.SGD(0.5).update(model, {"w": mx.array([1.0, -1.0])})
    assert model.w.tolist() == [0.5, 2.5] and model.frozen.tolist() == [5.0]


def test_schedules():
    steps = [mx.array(s, dtype=mx.uint64) for s in range(10)]

    def values(schedule):
        return [float(np.asarray(to_numpy(mx.array(schedule(s))))) for s in steps]

    np.testing.assert_allclose(values(optim.exponential_decay(0.1, 0.9)),
                               [0.1 * 0.9 ** s for s in range(10)], rtol=1e-6)
    np.testing.assert_allclose(values(optim.step_decay(0.1, 0.5, 3)),
                               [0.1 * 0.5 ** (s // 3) for s in range(10)], rtol=1e-6)
    np.testing.assert_allclose(values(optim.cosine_decay(0.1, 5, end=0.01)),
                               [0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * min(s, 5) / 5))
                                for s in range(10)], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(values(optim.linear_schedule(0.0, 1.0, 4)),
                               [min(s, 4) / 4 for s in range(10)], rtol=1e-6)
    joined = optim.join_schedules([optim.linear_schedule(0.0, 0.1, 3),
                                   optim.cosine_decay(0.1, 4)], [3])
    np.testing.assert_allclose(values(joined),
                               [s / 30 for s in range(3)]
                               + [0.05 * (1 + math.cos(math.pi * min(s - 3, 4) / 4))
                                  for s in range(3, 10)], rtol=1e-6, atol=1e-8)
    for bad in (lambda: optim.step_decay(0.1, 0.5, 0), lambda: optim.cosine_decay(0.1, 0),
                lambda: optim.linear_schedule(0, 1, 0), lambda: optim.join_schedules([], []),
                lambda: optim.join_schedules([optim.exponential_decay(1, 1)], [2])):
        with pytest.raises(ValueError):
            bad()


def test_optimizer_follows_its_schedule():
    opt = optim.SGD(learning_rate=optim.step_decay(1.0, 0.5, 1))
    p = {"x": mx.array([0.0])}
    seen = []
    for _ in range(4):
        p = opt.apply_gradients({"x": mx.array([1.0])}, p)
        seen.append(opt.learning_rate.item())
    # Each step uses the rate at the step count before it: 1, 0.5, 0.25, 0.125.
    assert seen == [1.0, 0.5, 0.25, 0.125]
    assert p["x"].tolist() == [-1.875]


def test_multi_optimizer():
    params = {"w": mx.array([1.0, 1.0]), "bias": mx.array([1.0]), "sub": {"w": mx.array([2.0])}}
    grads = tree_map(lambda p: mx.ones_like(p), params)
    multi = optim.MultiOptimizer([optim.SGD(0.5), optim.SGD(0.1)],
                                 [lambda path, g: path.endswith("w")])
    out = multi.apply_gradients(grads, params)
    assert out["w"].tolist() == [0.5, 0.5] and out["sub"]["w"].tolist() == [1.5]
    assert out["bias"].tolist() == pytest.approx([0.9])
    assert len(multi.state["states"]) == 2
    multi.learning_rate = 0.2
    assert multi.learning_rate.item() == pytest.approx(0.2)
    assert multi.optimizers[1].learning_rate.item() == pytest.approx(0.2)
    multi.state = multi.state
    with pytest.raises(ValueError, match="MultiOptimizer"):
        multi.state = {"states": [{}]}
    with pytest.raises(ValueError, match="filters"):
        optim.MultiOptimizer([optim.SGD(0.1), optim.SGD(0.1)])


def test_clip_grad_norm():
    grads = {"a": mx.array([3.0, 4.0]), "b": [mx.array([12.0])]}
    clipped, norm = optim.clip_grad_norm(grads, 6.5)
    assert norm.item() == pytest.approx(13.0)
    assert clipped["a"].tolist() == pytest.approx([1.5, 2.0], rel=1e-5)
    assert clipped["b"][0].tolist() == pytest.approx([6.0], rel=1e-5)
    same, _ = optim.clip_grad_norm(grads, 100.0)
    assert same["a"].tolist() == [3.0, 4.0]
    half = {"h": mx.array([300.0, 400.0], dtype=mx.float16)}
    clipped, norm = optim.clip_grad_norm(half, 1.0)
    assert norm.item() == pytest.approx(500.0) and clipped["h"].dtype == mx.float16
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm(grads, -1.0)


FUSED_OPTIMIZERS = [
    lambda: optim.SGD(0.1, momentum=0.9), lambda: optim.SGD(0.1, momentum=0.9, dampening=0.3),
    lambda: optim.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda: optim.RMSprop(0.01), lambda: optim.Adagrad(0.1), lambda: optim.Adam(0.01),
    lambda: optim.Adam(0.01, bias_correction=True), lambda: optim.AdamW(0.01),
    lambda: optim.AdamW(0.01, bias_correction=True), lambda: optim.Adamax(0.01),
    lambda: optim.Lion(0.01), lambda: optim.Lion(0.01, weight_decay=0.1),
    lambda: optim.Adam(optim.cosine_decay(0.1, 4)),
]


def _steps(make, params, grads):
    optimizer, current = make(), params
    for g in grads:
        current = optimizer.apply_gradients(g, current)
        mx.eval(current, optimizer.state)
    return tree_flatten(current) + tree_flatten(optimizer.state)


@pytest.mark.parametrize("dtype", [mx.float32, mx.bfloat16, mx.float64])
@pytest.mark.parametrize("make", FUSED_OPTIMIZERS)
def test_fused_step_gives_the_unfused_bits(make, dtype):
    """Each elementwise step runs compiled (fused into one or a few passes); its results equal,
    bit for bit, the step run op by op (compile disabled)."""
    params, grads = make_problem(11)
    params = tree_map(lambda p: mx.array(p, dtype=dtype), params)
    grads = [tree_map(lambda g: mx.array(g, dtype=dtype), g) for g in grads]
    fused = _steps(make, params, grads)
    mx.disable_compile()
    try:
        plain = _steps(make, params, grads)
    finally:
        mx.enable_compile()
    assert [k for k, _ in fused] == [k for k, _ in plain]
    for (k, a), (_, b) in zip(fused, plain):
        assert a.dtype == b.dtype, k
        assert np.array_equal(to_numpy(a.astype(mx.float32)), to_numpy(b.astype(mx.float32)),
                              equal_nan=True), k


def test_fused_adam_step_is_one_compiled_graph_with_fused_passes():
    from pullback.optimizers import optimizers as impl

    optimizer = optim.Adam(0.01)
    p = {"w": mx.ones((64, 32))}
    optimizer.apply_gradients({"w": mx.full((64, 32), 0.5)}, p)
    graphs = impl._adam_step._compiled._graphs()
    assert graphs and any(g.fused > 0 for g in graphs)


def test_moments_of_another_dtype_follow_python_scalar_rules():
    """Restored float32 moments of a bfloat16 parameter: the step runs unfused, each Python
    scalar taking the dtype of the operand it meets (as the op-by-op formula does)."""
    optimizer = optim.Adam(0.1)
    p = mx.array([1.0, -2.0, 3.0], dtype=mx.bfloat16)
    g = mx.array([0.5, 0.25, -1.0], dtype=mx.bfloat16)
    optimizer.init({"p": p})
    optimizer.state["p"]["m"] = mx.array([0.1, 0.2, 0.3], dtype=mx.float32)
    optimizer.state["p"]["v"] = mx.array([0.01, 0.02, 0.03], dtype=mx.float32)
    m0, v0 = optimizer.state["p"]["m"], optimizer.state["p"]["v"]
    new = optimizer.apply_gradients({"p": g}, {"p": p})["p"]
    m = 0.9 * m0 + (1 - 0.9) * g
    v = 0.999 * v0 + (1 - 0.999) * mx.square(g)
    expect = p - mx.array(0.1).astype(mx.bfloat16) * m / (mx.sqrt(v) + 1e-8)
    assert optimizer.state["p"]["m"].dtype == mx.float32
    assert new.dtype == expect.dtype
    assert np.array_equal(to_numpy(new), to_numpy(expect))
    assert np.array_equal(to_numpy(optimizer.state["p"]["m"]), to_numpy(m))


def test_fused_steps_inside_compile_grad_and_vmap():
    """The compiled per-parameter steps compose: a compiled training step, a gradient through
    an optimizer step (meta-learning style) and vmap over independent parameter sets."""
    def one_step(w, g):
        optimizer = optim.Adam(0.1)
        optimizer.init({"w": w})
        return optimizer.apply_gradients({"w": g}, {"w": w})["w"]

    w = mx.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]])
    g = mx.array([[0.3, -0.1, 0.2], [0.5, 0.4, -0.6]])
    mx.disable_compile()
    try:
        expect = one_step(w, g)
        expect_grad = mx.grad(lambda w_: one_step(w_, g).sum())(w)
    finally:
        mx.enable_compile()
    assert np.array_equal(to_numpy(mx.compile(one_step)(w, g)), to_numpy(expect))
    assert np.allclose(to_numpy(mx.grad(lambda w_: one_step(w_, g).sum())(w)),
                       to_numpy(expect_grad), rtol=1e-6)
    batched = mx.vmap(one_step)(w, g)
    loop = mx.stack([one_step(w[i], g[i]) for i in range(2)])
    assert np.allclose(to_numpy(batched), to_numpy(loop), rtol=1e-6)


@pytest.mark.parametrize("value,error", [("abc", ValueError), (None, TypeError)])
def test_a_learning_rate_that_is_neither_a_number_nor_a_schedule_names_itself(value, error):
    # The exception class is mx.array's (as in MLX); the message names the optimizer and the
    # parameter.
    for make in (optim.SGD, optim.Adam, optim.AdamW):
        with pytest.raises(error, match=rf"^\[{make.__name__}\] learning_rate must be a number"):
            make(learning_rate=value)
        with pytest.raises(error, match=rf"^\[{make.__name__}\] learning_rate must be a number"):
            make(learning_rate=0.1).learning_rate = value
