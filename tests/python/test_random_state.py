"""mx.random.state: the global key as a list of one item, read and replaced through state[0],
split with graph ops while it is unevaluated, so that compiled functions that name it in
``inputs``/``outputs`` draw new numbers on every call (MLX's numbers)."""
import threading
from functools import partial

import numpy as np
import pytest

import pullback.core as mx
import pullback.nn as nn
import pullback.optimizers as optim

try:
    import mlx.core as mlxc
except ImportError:
    mlxc = None

needs_mlx = pytest.mark.skipif(mlxc is None, reason="mlx is not installed")


def words(a):
    return np.array(a).tolist()


def split_pair(k):
    """(next global key, key used) of one keyless draw from global key k."""
    pair = mx.random.split(k)
    return pair[0], pair[1]


# ---- the list-like object ----

def test_state_is_a_list_of_one_key():
    mx.random.seed(11)
    s = mx.random.state
    assert isinstance(s, list) and len(s) == 1 and bool(s)
    assert mx.random.state is s and "state" in mx.random.__all__
    (k,) = list(s)
    assert k.dtype == mx.uint32 and k.shape == (2,)
    assert words(k) == [0, 11] == words(s[0]) == words(s[-1])
    assert [words(x) for x in enumerate(s) for x in x[1:]] == [[0, 11]]
    assert "random.state" in repr(s)
    assert s == s and s != [s[0]] and hash(s) == hash(s)


def test_reading_the_state_does_not_advance_it():
    mx.random.seed(2)
    for _ in range(3):
        assert words(mx.random.state[0]) == [0, 2]
    a = mx.random.uniform(shape=(3,))
    mx.random.seed(2)
    np.testing.assert_array_equal(np.array(mx.random.uniform(shape=(3,))), np.array(a))


def test_bad_indices_values_and_resizing_raise():
    s = mx.random.state
    for i in [1, -2, 5]:
        with pytest.raises(IndexError, match=r"\[random.state\]"):
            s[i]
        with pytest.raises(IndexError, match=r"\[random.state\]"):
            s[i] = mx.random.key(0)
    for i in [slice(0, 1), 0.0, True, "0"]:
        with pytest.raises(TypeError, match=r"\[random.state\]"):
            s[i]
    with pytest.raises(TypeError, match=r"\[random.state\]"):
        s[0] = [0, 1]
    for bad in [mx.array([1, 2, 3], dtype=mx.uint32), mx.array([1, 2], dtype=mx.int32),
                mx.zeros((1, 2), dtype=mx.uint32), mx.array(3, dtype=mx.uint32)]:
        with pytest.raises(ValueError, match=r"\[random.state\]"):
            s[0] = bad
    for mutate in [lambda: s.append(1), lambda: s.pop(), lambda: s.clear(),
                   lambda: s.extend([1]), lambda: s.insert(0, 1)]:
        with pytest.raises(TypeError, match=r"\[random.state\]"):
            mutate()
    with pytest.raises(TypeError):
        del s[0]
    assert len(s) == 1


# ---- against MLX ----

@needs_mlx
@pytest.mark.parametrize("seed", [0, 3, 2**32 - 1, 2**33 + 7, 2**64 - 1])
def test_state_after_seed_and_draws_is_mlx_state(seed):
    mx.random.seed(seed)
    mlxc.random.seed(seed)
    assert words(mx.random.state[0]) == words(mlxc.random.state[0])
    for shape in [(2,), (3, 4), ()]:
        a, b = mx.random.uniform(shape=shape), mlxc.random.uniform(shape=shape)
        np.testing.assert_array_equal(np.array(a), np.array(b))
        assert words(mx.random.state[0]) == words(mlxc.random.state[0])


# ---- assigning a key ----

@pytest.mark.parametrize("how", ["evaluated", "strided view", "lazy"])
def test_assigned_key_drives_the_keyless_draws(how):
    k0 = mx.random.key(1234)
    if how == "evaluated":
        k = k0
    elif how == "strided view":
        k = mx.array([5, 0, 1234], dtype=mx.uint32)[::-2]  # [1234, 5], stride -2
        mx.eval(k)
        k0 = mx.array([1234, 5], dtype=mx.uint32)
    else:
        k = k0 + mx.array(0, dtype=mx.uint32)  # a graph node, not evaluated yet
    mx.random.state[0] = k
    # The draws are the explicit-key draws of the split chain from k.
    g = k0
    for shape, draw in [((4,), lambda key=None: mx.random.uniform(shape=(4,), key=key)),
                        ((3,), lambda key=None: mx.random.normal(shape=(3,), key=key)),
                        ((5,), lambda key=None: mx.random.bits(shape=(5,), key=key)),
                        ((2, 2), lambda key=None: mx.random.bernoulli(0.3, (2, 2), key=key))]:
        got = draw()
        g, used = split_pair(g)
        np.testing.assert_array_equal(np.array(got), np.array(draw(used)))
        assert words(mx.random.state[0]) == words(g)


def test_a_lazy_key_stays_lazy_until_evaluated_then_the_host_path_resumes():
    k = mx.random.key(77)
    lazy = mx.random.split(k)[1]
    mx.random.state[0] = lazy
    assert words(mx.random.state[0]) == words(mx.random.split(k)[1])
    a = mx.random.uniform(shape=(3,))
    g = mx.random.state[0]  # the advanced key: a graph node computed from `lazy`
    mx.eval(g)
    b = mx.random.uniform(shape=(3,))
    c = mx.random.uniform(shape=(3,))
    ref = mx.random.split(k)[1]
    want = []
    for _ in range(3):
        ref, used = split_pair(ref)
        want.append(np.array(mx.random.uniform(shape=(3,), key=used)))
    for got, w in zip([a, b, c], want):
        np.testing.assert_array_equal(np.array(got), w)
    assert words(mx.random.state[0]) == words(ref)


def test_seed_replaces_an_assigned_lazy_key():
    mx.random.state[0] = mx.random.split(mx.random.key(5))[0]
    mx.random.seed(9)
    assert words(mx.random.state[0]) == [0, 9]
    a = mx.random.uniform(shape=(2,))
    _, used = split_pair(mx.random.key(9))
    np.testing.assert_array_equal(np.array(a), np.array(mx.random.uniform(shape=(2,), key=used)))


# ---- compile ----

def draws(x):
    return [x + mx.random.uniform(shape=(3,)), mx.random.normal(shape=(2, 2)),
            mx.random.uniform(shape=(2,), dtype=mx.float64),
            mx.random.bernoulli(0.5, (4,)), mx.random.randint(0, 10, (3,))]


def test_compiled_keyless_draws_advance_the_state_like_uncompiled_calls():
    x = mx.zeros((3,))
    mx.random.seed(42)
    want = [[np.array(a) for a in draws(x)] for _ in range(4)]
    want_state = words(mx.random.state[0])

    mx.random.seed(42)
    state = [mx.random.state]
    f = mx.compile(draws, inputs=state, outputs=state)
    got = [[np.array(a) for a in f(x)] for _ in range(4)]
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(got[0][0], got[1][0])  # new numbers on every call
    assert words(mx.random.state[0]) == want_state
    assert len(f._compiled._graphs()) == 1
    # Uncompiled draws continue the same sequence.
    mx.random.seed(42)
    for _ in range(4):
        draws(x)
    after = np.array(mx.random.uniform(shape=(5,)))
    mx.random.seed(42)
    for _ in range(4):
        f(x)
    np.testing.assert_array_equal(np.array(mx.random.uniform(shape=(5,))), after)


def test_compiled_with_the_state_as_input_only_leaves_it_unchanged():
    mx.random.seed(0)
    state = [mx.random.state]
    f = mx.compile(lambda x: x + mx.random.uniform(shape=(2,)), inputs=state)
    a, b = np.array(f(mx.zeros(2))), np.array(f(mx.zeros(2)))
    np.testing.assert_array_equal(a, b)
    assert words(mx.random.state[0]) == [0, 0]
    _, used = split_pair(mx.random.key(0))
    np.testing.assert_array_equal(a, np.array(mx.random.uniform(shape=(2,), key=used)))


@needs_mlx
def test_compiled_state_matches_mlx():
    def run(m):
        m.random.seed(7)
        state = [m.random.state]

        @partial(m.compile, inputs=state, outputs=state)
        def f(x):
            return x * m.random.uniform(shape=(4,)) + m.random.normal(shape=(4,))

        out = [np.array(f(m.ones((4,)))) for _ in range(3)]
        return out, np.array(m.random.state[0])

    got, got_state = run(mx)
    want, want_state = run(mlxc)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got_state, want_state)


def test_a_failed_trace_restores_the_state():
    mx.random.seed(5)
    state = [mx.random.state]

    def bad(x):
        mx.random.uniform(shape=(2,))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        mx.compile(bad, inputs=state, outputs=state)(mx.zeros(2))
    assert words(mx.random.state[0]) == [0, 5]
    a = mx.random.uniform(shape=(2,))
    _, used = split_pair(mx.random.key(5))
    np.testing.assert_array_equal(np.array(a), np.array(mx.random.uniform(shape=(2,), key=used)))


def test_dropout_in_a_compiled_training_step_matches_uncompiled():
    rng = np.random.default_rng(0)
    data = mx.array(rng.standard_normal((16, 6)).astype(np.float32))
    target = mx.array(rng.standard_normal((16, 3)).astype(np.float32))

    def run(compiled):
        mx.random.seed(3)
        model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
        mx.eval(model.parameters())
        model.train()
        opt = optim.SGD(learning_rate=0.05)
        opt.init(model.trainable_parameters())

        def loss_fn(model, x, y):
            return nn.losses.mse_loss(model(x), y)

        def step(x, y):
            loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
            opt.update(model, grads)
            return loss

        state = [model.state, opt.state, mx.random.state]
        if compiled:
            step = mx.compile(step, inputs=state, outputs=state)
        losses = []
        for _ in range(6):
            losses.append(step(data, target).item())
            mx.eval(state)
        return losses, np.array(model.layers[0].weight), words(mx.random.state[0]), step

    want, want_w, want_state, _ = run(False)
    got, got_w, got_state, step = run(True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-5, atol=1e-6)
    assert got_state == want_state
    assert len(set(got)) == len(got)  # a new dropout mask (and loss) at every step
    assert len(step._compiled._graphs()) == 1


# ---- threads ----

@pytest.mark.parametrize("lazy", [False, True])
def test_concurrent_keyless_draws_use_each_key_once(lazy):
    threads, per = 4, 50
    start = mx.random.key(123)
    seq = []
    g = start
    for _ in range(threads * per):
        g, used = split_pair(g)
        seq.append(tuple(words(mx.random.bits((2,), key=used))))
    mx.random.state[0] = start + mx.array(0, dtype=mx.uint32) if lazy else start
    out = [[] for _ in range(threads)]

    def work(i):
        for _ in range(per):
            out[i].append(mx.random.bits((2,)))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    got = sorted(tuple(words(a)) for o in out for a in o)
    assert got == sorted(seq)
    assert words(mx.random.state[0]) == words(g)
