"""mx.random: MLX bit-equality, reproducibility, shapes/dtypes/errors, statistics, derivatives."""
import numpy as np
import pytest
from scipy import stats

import pullback.core as mx

try:
    import mlx.core as mlxc
except ImportError:  # the bit-equality tests need MLX; everything else runs without it
    mlxc = None

needs_mlx = pytest.mark.skipif(mlxc is None, reason="mlx is not installed")

SHAPES = [(), (1,), (2,), (5,), (3, 7), (1001,), (4, 0), (1 << 16,)]


def npa(a):
    return np.array(a.astype(mx.float32) if a.dtype in (mx.float16, mx.bfloat16) else a)


def mlxa(a):
    return np.array(a.astype(mlxc.float32) if a.dtype in (mlxc.float16, mlxc.bfloat16) else a)


def same(a, b):
    a, b = npa(a), mlxa(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


# ---- threefry itself, against a reference written here ----

def threefry_ref(k0, k1, c0, c1):
    m = 0xFFFFFFFF
    ks = [k0, k1, k0 ^ k1 ^ 0x1BD11BDA]
    rot = [[13, 15, 26, 6], [17, 29, 16, 24]]
    x0, x1 = (c0 + ks[0]) & m, (c1 + ks[1]) & m
    for g in range(5):
        for r in rot[g % 2]:
            x0 = (x0 + x1) & m
            x1 = (((x1 << r) | (x1 >> (32 - r))) & m) ^ x0
        x0 = (x0 + ks[(g + 1) % 3]) & m
        x1 = (x1 + ks[(g + 2) % 3] + g + 1) & m
    return x0, x1


def words_ref(k0, k1, n):
    half, odd = n // 2, n % 2
    out = [0] * n
    for i in range(half):
        out[i], out[i + half + odd] = threefry_ref(k0, k1, i, i + half + odd)
    if odd:
        out[half] = threefry_ref(k0, k1, half, 0)[0]
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 17, 64, 101])
@pytest.mark.parametrize("seed", [0, 1, 2**33 + 7])
def test_bits_match_the_reference_layout(n, seed):
    k = mx.random.key(seed)
    got = np.array(mx.random.bits((n,), key=k)).tolist()
    assert got == words_ref(seed >> 32, seed & 0xFFFFFFFF, n)


@pytest.mark.parametrize("width,n", [(1, 1), (1, 7), (1, 12), (2, 3), (2, 5), (2, 8)])
def test_narrow_bits_are_the_word_stream_bytes(width, n):
    k = mx.random.key(9)
    got = np.array(mx.random.bits((n,), width=width, key=k))
    assert got.dtype == {1: np.uint8, 2: np.uint16}[width]
    words = np.array(words_ref(0, 9, (n * width + 3) // 4), dtype=np.uint32)
    np.testing.assert_array_equal(got, words.view(got.dtype)[:n])


def test_large_bits_across_parallel_chunks_and_the_odd_word():
    # 2^20 + 3 words: the vectorized pairs, the parallel chunks and the odd word.
    n = (1 << 20) + 3
    got = np.array(mx.random.bits((n,), key=mx.random.key(5)))
    half = n // 2
    for i in [0, 1, half - 1]:
        a, b = threefry_ref(0, 5, i, i + half + 1)
        assert got[i] == a and got[i + half + 1] == b
    assert got[half] == threefry_ref(0, 5, half, 0)[0]


# ---- MLX bit-equality ----

@needs_mlx
@pytest.mark.parametrize("seed", [0, 7, 2**40 + 5, 2**64 - 1])
def test_key_and_split_match_mlx(seed):
    same(mx.random.key(seed), mlxc.random.key(seed))
    for num in [0, 1, 2, 3, 10]:
        same(mx.random.split(mx.random.key(seed), num), mlxc.random.split(mlxc.random.key(seed), num))
    same(mx.random.split(mx.random.key(seed)), mlxc.random.split(mlxc.random.key(seed)))


@needs_mlx
@pytest.mark.parametrize("shape", SHAPES)
def test_distributions_match_mlx_bit_for_bit(shape):
    k, mk = mx.random.key(3), mlxc.random.key(3)
    for dt, mdt in [(mx.float32, mlxc.float32), (mx.float16, mlxc.float16), (mx.bfloat16, mlxc.bfloat16)]:
        same(mx.random.uniform(shape=shape, dtype=dt, key=k), mlxc.random.uniform(shape=shape, dtype=mdt, key=mk))
        same(mx.random.uniform(-2.5, 4, shape, dt, key=k), mlxc.random.uniform(-2.5, 4, shape, mdt, key=mk))
        same(mx.random.normal(shape, dt, key=k), mlxc.random.normal(shape, mdt, key=mk))
        same(mx.random.normal(shape, dt, loc=1.5, scale=3.0, key=k),
             mlxc.random.normal(shape, mdt, loc=1.5, scale=3.0, key=mk))
    same(mx.random.normal(shape, mx.float64, key=k), mlxc.random.normal(shape, mlxc.float64, key=mk))
    same(mx.random.normal(shape, loc=-1.0, key=k), mlxc.random.normal(shape, loc=-1.0, key=mk))
    for lo, hi, dt, mdt in [(-5, 17, mx.int32, mlxc.int32), (0, 10, mx.uint8, mlxc.uint8),
                            (-3, 300, mx.int8, mlxc.int8), (0, 2, mx.bool_, mlxc.bool_),
                            (5, 3, mx.int64, mlxc.int64), (-3.5, 300.5, mx.int32, mlxc.int32)]:
        same(mx.random.randint(lo, hi, shape, dt, key=k), mlxc.random.randint(lo, hi, shape, mdt, key=mk))
    same(mx.random.bernoulli(0.3, shape, key=k), mlxc.random.bernoulli(0.3, shape, key=mk))
    if len(shape) == 1:
        same(mx.random.permutation(shape[0], key=k), mlxc.random.permutation(shape[0], key=mk))


@needs_mlx
def test_array_parameters_broadcast_as_mlx():
    k, mk = mx.random.key(11), mlxc.random.key(11)
    lo, hi = np.array([0.0, 10.0], np.float32), np.array([[1.0], [20.0]], np.float32)
    same(mx.random.uniform(mx.array(lo), mx.array(hi), (3, 2, 2), key=k),
         mlxc.random.uniform(mlxc.array(lo), mlxc.array(hi), (3, 2, 2), key=mk))
    loc, scale = np.array([[1.0], [2.0], [3.0]], np.float32), np.array([1.0, 2.0], np.float32)
    same(mx.random.normal((3, 2), loc=mx.array(loc), scale=mx.array(scale), key=k),
         mlxc.random.normal((3, 2), loc=mlxc.array(loc), scale=mlxc.array(scale), key=mk))
    same(mx.random.normal((2,), loc=mx.array(loc), key=k), mlxc.random.normal((2,), loc=mlxc.array(loc), key=mk))
    p = np.array([0.1, 0.9], np.float32)
    same(mx.random.bernoulli(mx.array(p), (3, 2), key=k), mlxc.random.bernoulli(mlxc.array(p), (3, 2), key=mk))
    same(mx.random.bernoulli(mx.array(p), key=k), mlxc.random.bernoulli(mlxc.array(p), key=mk))
    x = np.arange(12).reshape(3, 4)
    for axis in [0, 1, -1]:
        same(mx.random.permutation(mx.array(x), axis, key=k), mlxc.random.permutation(mlxc.array(x), axis, key=mk))


@needs_mlx
def test_log_based_distributions_agree_with_mlx_up_to_the_log():
    # gumbel, laplace and categorical go through pullback's log/log1p (<= 1 ulp, glibc's differ
    # from them in a few percent of values) and truncated_normal through its erf/erfinv.
    k, mk, n = mx.random.key(4), mlxc.random.key(4), 20000
    np.testing.assert_allclose(npa(mx.random.gumbel((n,), key=k)), mlxa(mlxc.random.gumbel((n,), key=mk)),
                               rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(npa(mx.random.laplace((n,), loc=0.5, scale=2.0, key=k)),
                               mlxa(mlxc.random.laplace((n,), loc=0.5, scale=2.0, key=mk)), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(npa(mx.random.truncated_normal(-1, 2, (n,), key=k)),
                               mlxa(mlxc.random.truncated_normal(-1, 2, (n,), key=mk)), rtol=1e-4, atol=1e-4)
    logits = np.log(np.random.default_rng(0).dirichlet(np.ones(30), size=300)).astype(np.float32)
    a = np.array(mx.random.categorical(mx.array(logits), key=k))
    b = np.array(mlxc.random.categorical(mlxc.array(logits), key=mk))
    assert (a == b).mean() > 0.99
    for kw in [dict(num_samples=7), dict(shape=(4, 300)), dict(axis=0), dict(axis=0, shape=(2, 30))]:
        a = np.array(mx.random.categorical(mx.array(logits), key=k, **kw))
        b = np.array(mlxc.random.categorical(mlxc.array(logits), key=mk, **kw))
        assert a.shape == b.shape and a.dtype == b.dtype and (a == b).mean() > 0.98, kw


@needs_mlx
def test_multivariate_normal_matches_mlx_closely():
    mean = np.array([1.0, -2.0, 0.5], np.float32)
    cov = np.array([[2, 0.5, 0.1], [0.5, 1, 0.3], [0.1, 0.3, 0.7]], np.float32)
    for shape in [(), (4,), (2, 5)]:
        a = np.array(mx.random.multivariate_normal(mx.array(mean), mx.array(cov), shape, key=mx.random.key(5)))
        b = np.array(mlxc.random.multivariate_normal(mlxc.array(mean), mlxc.array(cov), shape,
                                                     key=mlxc.random.key(5), stream=mlxc.cpu))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# ---- reproducibility and the global key ----

def test_same_key_same_numbers_and_keys_are_independent():
    k = mx.random.key(42)
    a = np.array(mx.random.normal((1000,), key=k))
    np.testing.assert_array_equal(a, np.array(mx.random.normal((1000,), key=mx.random.key(42))))
    k1, k2 = mx.random.split(k)
    b, c = np.array(mx.random.normal((1000,), key=k1)), np.array(mx.random.normal((1000,), key=k2))
    assert abs(np.corrcoef(b, c)[0, 1]) < 0.1 and not np.array_equal(a, b)


def test_seed_resets_the_global_key_as_mlx_splits_it():
    mx.random.seed(5)
    a, b = np.array(mx.random.uniform(shape=(3,))), np.array(mx.random.uniform(shape=(3,)))
    s = mx.random.split(mx.random.key(5))
    np.testing.assert_array_equal(a, np.array(mx.random.uniform(shape=(3,), key=s[1])))
    s2 = mx.random.split(s[0])
    np.testing.assert_array_equal(b, np.array(mx.random.uniform(shape=(3,), key=s2[1])))
    mx.random.seed(5)
    np.testing.assert_array_equal(a, np.array(mx.random.uniform(shape=(3,))))


def test_global_key_from_threads_gives_distinct_draws():
    import threading
    mx.random.seed(1)
    out = []

    def draw():
        for _ in range(50):
            out.append(tuple(np.array(mx.random.bits((2,))).tolist()))

    ts = [threading.Thread(target=draw) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert len(set(out)) == 200


def test_strided_keys_are_read_through_their_layout():
    keys = mx.random.split(mx.random.key(3), 4)
    col = mx.transpose(mx.transpose(keys)[:, ::-1][:, ::-1])  # a non-contiguous view of row 2
    np.testing.assert_array_equal(np.array(mx.random.bits((9,), key=keys[2])),
                                  np.array(mx.random.bits((9,), key=col[2])))


# ---- shapes, dtypes, errors ----

def test_shapes_and_dtypes():
    k = mx.random.key(0)
    assert mx.random.uniform(key=k).shape == ()
    assert mx.random.uniform(shape=(2, 3), dtype=mx.float64, key=k).dtype == mx.float64
    assert mx.random.normal((0, 3), key=k).shape == (0, 3)
    assert mx.random.randint(0, 5, (4,), mx.uint16, key=k).dtype == mx.uint16
    assert mx.random.bernoulli(key=k).dtype == mx.bool_
    assert mx.random.truncated_normal(mx.array([0.0, 1.0]), mx.array([[1.0], [2.0], [3.0]]), key=k).shape == (3, 2)
    assert mx.random.categorical(mx.zeros((2, 5)), num_samples=3, key=k).shape == (2, 3)
    assert mx.random.categorical(mx.zeros((2, 5)), key=k).dtype == mx.uint32
    assert mx.random.permutation(0, key=k).shape == (0,)
    assert mx.random.bits((3,), width=2, key=k).dtype == mx.uint16
    assert mx.random.multivariate_normal(mx.zeros((2, 3)), mx.eye(3), key=k).shape == (2, 3)
    assert mx.random.multivariate_normal(mx.zeros(3), mx.eye(3), (4,), mx.float64, key=k).dtype == mx.float64


@pytest.mark.parametrize("call,exc", [
    (lambda k: mx.random.uniform(shape=(2,), dtype=mx.int32, key=k), ValueError),
    (lambda k: mx.random.uniform(mx.array([0.0, 1.0]), 2.0, shape=(3,), key=k), ValueError),
    (lambda k: mx.random.uniform(shape=(2,), key=mx.array([1, 2])), ValueError),
    (lambda k: mx.random.uniform(shape=(2,), key=mx.array([[1, 2]], mx.uint32)), ValueError),
    (lambda k: mx.random.uniform(shape=(-1,), key=k), ValueError),
    (lambda k: mx.random.uniform(shape=(2,), key=[1, 2]), TypeError),
    (lambda k: mx.random.normal((2,), mx.int32, key=k), ValueError),
    (lambda k: mx.random.randint(0, 5, (2,), mx.float32, key=k), ValueError),
    (lambda k: mx.random.bernoulli(2, (2,), key=k), ValueError),
    (lambda k: mx.random.bernoulli(mx.array([0.1, 0.2]), (3,), key=k), ValueError),
    (lambda k: mx.random.categorical(mx.zeros((2, 3)), axis=2, key=k), IndexError),
    (lambda k: mx.random.categorical(mx.zeros((2, 3)), shape=(2,), num_samples=2, key=k), ValueError),
    (lambda k: mx.random.categorical(mx.zeros((2, 3)), shape=(3,), key=k), ValueError),
    (lambda k: mx.random.categorical(mx.zeros((2, 3)), num_samples=-1, key=k), ValueError),
    (lambda k: mx.random.truncated_normal(0, 1, dtype=mx.int32, key=k), ValueError),
    (lambda k: mx.random.laplace((2,), mx.int32, key=k), ValueError),
    (lambda k: mx.random.permutation(-1, key=k), ValueError),
    (lambda k: mx.random.permutation(mx.array(3), key=k), ValueError),
    (lambda k: mx.random.permutation(mx.zeros((2, 2)), axis=2, key=k), ValueError),
    (lambda k: mx.random.bits((2,), width=3, key=k), ValueError),
    (lambda k: mx.random.split(k, -1), ValueError),
    (lambda k: mx.random.key(-1), ValueError),
    (lambda k: mx.random.key(2**64), ValueError),
    (lambda k: mx.random.key(1.5), TypeError),
    (lambda k: mx.random.multivariate_normal(mx.array(1.0), mx.eye(3), key=k), ValueError),
    (lambda k: mx.random.multivariate_normal(mx.zeros(3), mx.zeros(3), key=k), ValueError),
    (lambda k: mx.random.multivariate_normal(mx.zeros(3), mx.zeros((3, 2)), key=k), ValueError),
    (lambda k: mx.random.multivariate_normal(mx.zeros(2), mx.eye(3), key=k), ValueError),
    (lambda k: mx.random.multivariate_normal(mx.zeros(3), mx.eye(3), dtype=mx.float16, key=k), ValueError),
])
def test_errors(call, exc):
    with pytest.raises(exc) as info:
        mx.eval(call(mx.random.key(0)))
    assert str(info.value).startswith("[")


# ---- statistics: moments and Kolmogorov-Smirnov ----

N = 200_000


def ks_ok(x, cdf):
    assert stats.kstest(x, cdf).pvalue > 1e-4


@pytest.mark.parametrize("dt", [mx.float32, mx.float64, mx.float16, mx.bfloat16])
def test_uniform_and_normal_statistics(dt):
    k1, k2 = mx.random.split(mx.random.key(100))
    u = npa(mx.random.uniform(-1.0, 3.0, (N,), dt, key=k1)).astype(np.float64)
    assert u.min() >= -1 and u.max() < 3
    assert abs(u.mean() - 1) < 0.02 and abs(u.var() - 16 / 12) < 0.02
    z = npa(mx.random.normal((N,), dt, loc=2.0, scale=0.5, key=k2)).astype(np.float64)
    assert abs(z.mean() - 2) < 0.01 and abs(z.std() - 0.5) < 0.01
    if dt in (mx.float32, mx.float64):
        ks_ok(u, stats.uniform(-1, 4).cdf)
        ks_ok(z, stats.norm(2, 0.5).cdf)


def test_float64_uniform_has_53_bits():
    u = np.array(mx.random.uniform(shape=(N,), dtype=mx.float64, key=mx.random.key(1)))
    assert np.any((u * 2.0**32) % 1 != 0)  # not just a float32 or one word
    ks_ok(u, stats.uniform().cdf)


def test_discrete_distributions():
    k = mx.random.key(7)
    r = np.array(mx.random.randint(-3, 7, (N,), key=k))
    assert r.min() == -3 and r.max() == 6
    np.testing.assert_allclose(np.bincount(r + 3) / N, 0.1, atol=0.005)
    b = np.array(mx.random.bernoulli(mx.array([0.2, 0.7]), (N // 2, 2), key=k))
    np.testing.assert_allclose(b.mean(0), [0.2, 0.7], atol=0.01)
    p = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    c = np.array(mx.random.categorical(mx.array(np.log(p)), num_samples=N, key=k))
    chi = stats.chisquare(np.bincount(c, minlength=4), np.bincount(c, minlength=4).sum() * (p.astype(np.float64) / p.astype(np.float64).sum()))
    assert chi.pvalue > 1e-4
    perms = np.array([np.array(mx.random.permutation(4, key=kk)) for kk in mx.random.split(k, 2400)])
    assert all(sorted(q) == [0, 1, 2, 3] for q in perms)
    _, counts = np.unique(perms, axis=0, return_counts=True)
    assert len(counts) == 24 and stats.chisquare(counts).pvalue > 1e-4


def test_continuous_distributions():
    k = mx.random.key(8)
    g = np.array(mx.random.gumbel((N,), key=k)).astype(np.float64)
    ks_ok(g, stats.gumbel_r.cdf)
    lp = np.array(mx.random.laplace((N,), loc=1.0, scale=2.0, key=k)).astype(np.float64)
    ks_ok(lp, stats.laplace(1, 2).cdf)
    t = np.array(mx.random.truncated_normal(-1.0, 2.0, (N,), key=k)).astype(np.float64)
    assert t.min() >= -1 and t.max() <= 2
    ks_ok(t, stats.truncnorm(-1, 2).cdf)
    mean = np.array([1.0, -2.0], np.float32)
    cov = np.array([[2.0, 0.6], [0.6, 1.0]], np.float32)
    x = np.array(mx.random.multivariate_normal(mx.array(mean), mx.array(cov), (N,), key=k))
    np.testing.assert_allclose(x.mean(0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.03)


# ---- derivatives (w.r.t. the distribution parameters) ----

def central_fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


@pytest.mark.parametrize("view", ["plain", "transposed", "reversed"])
def test_parameter_gradients_vjp_and_jvp(view):
    k = mx.random.key(2)
    base = np.random.default_rng(0).uniform(0.5, 1.5, (2, 3))
    w = np.random.default_rng(1).standard_normal((3, 2))

    def prep(p):
        a = mx.array(p, dtype=mx.float64)
        return {"plain": a, "transposed": mx.transpose(mx.transpose(a) * 1.0),
                "reversed": a[:, ::-1][:, ::-1]}[view]

    def fn(loc, scale, low):
        z = mx.random.normal((3, 2, 3), mx.float64, loc=loc, scale=scale, key=k)
        u = mx.random.uniform(low, low + 2.0, (3, 2, 3), mx.float64, key=k)
        return mx.sum(z * z * mx.array(w[:, :, None]) + u * u)

    def fn_np(loc, scale, low):
        f64 = [mx.array(v, dtype=mx.float64) for v in (loc, scale, low)]
        return float(np.array(fn(*f64)))

    args = [base, base * 2, base - 1]
    grads = mx.grad(fn, argnums=(0, 1, 2))(*[prep(a) for a in args])
    for i in range(3):
        def fi(v, i=i):
            a = list(args)
            a[i] = v
            return fn_np(*a)
        want = central_fd(fi, args[i])
        np.testing.assert_allclose(np.array(grads[i]), want, rtol=1e-5, atol=1e-6)
        tangent = np.random.default_rng(i).standard_normal(base.shape)
        _, (jv,) = mx.jvp(lambda *xs: fn(*xs), [prep(a) for a in args],
                          [mx.array(tangent if j == i else np.zeros_like(base), dtype=mx.float64) for j in range(3)])
        np.testing.assert_allclose(float(np.array(jv)), (want * tangent).sum(), rtol=1e-5, atol=1e-6)


def test_key_has_no_gradient():
    k = mx.random.key(0)
    # The key is an integer input: the samples do not depend on it differentiably.
    gk = mx.grad(lambda kk: mx.sum(mx.random.normal((3,), key=kk)))(k)
    np.testing.assert_array_equal(np.array(gk), [0, 0])
    gm = mx.grad(lambda m: mx.sum(mx.random.multivariate_normal(m, mx.eye(2), (5,), key=k)))(mx.zeros(2))
    np.testing.assert_allclose(np.array(gm), [5.0, 5.0])


def test_multivariate_normal_covariance_gradient_vjp_and_jvp():
    # The samples are mean + z @ sqrt(cov) (the SVD square root) for fixed z, so their derivative
    # with respect to cov is that of the matrix square root: checked against central differences
    # of the same fixed-z function (distinct eigenvalues: the SVD's derivative is defined).
    k = mx.random.key(3)
    z = np.array(mx.random.normal((6, 3), mx.float64, key=k))
    w = np.random.default_rng(1).standard_normal((6, 3))
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])

    def loss_np(c):
        c = (c + c.T) / 2  # finite differences stay symmetric, as the SVD root assumes
        vals, vecs = np.linalg.eigh(c)
        return float(((z @ (vecs * np.sqrt(vals)) @ vecs.T) * w).sum())

    def loss(c):
        c = (c + c.T) / 2
        x = mx.random.multivariate_normal(mx.zeros(3, mx.float64), c, (6,), mx.float64, key=k)
        return mx.sum(x * mx.array(w, dtype=mx.float64))

    c64 = mx.array(cov, dtype=mx.float64)
    np.testing.assert_allclose(float(loss(c64)), loss_np(cov), rtol=1e-10)
    want = central_fd(loss_np, cov)
    np.testing.assert_allclose(np.array(mx.grad(loss)(c64)), want, rtol=1e-6, atol=1e-8)
    tangent = np.random.default_rng(2).standard_normal(cov.shape)
    _, (jv,) = mx.jvp(loss, [c64], [mx.array(tangent, dtype=mx.float64)])
    np.testing.assert_allclose(float(np.array(jv)), (want * tangent).sum(), rtol=1e-6, atol=1e-8)
