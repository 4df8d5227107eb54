"""Regression tests for issue 5's numerics items: complex derivatives, isclose, round with
negative decimals, arange's integer ranges, slices with extreme steps, 64-bit integer
accumulation, complex comparisons, and edge inputs of the core ops."""

import sys

import numpy as np
import pytest

import pullback.core as mx

# ---------------------------------------------------------------------------------------------
# 1. Complex derivatives: for a real loss L of z = x + iy the gradient is dL/dx + i dL/dy; a
#    cotangent u of an output w stands for L = Re(sum(conj(u) * w)). Each rule is checked
#    against central differences of the same function computed by NumPy in complex128.

Z = np.array([0.7 + 0.4j, -0.3 + 1.1j, 1.2 - 0.6j])
U = np.array([0.5 - 1.0j, 1.5 + 0.25j, -0.75 + 0.5j])
T = np.array([0.25 + 0.5j, -1.0 + 0.75j, 0.5 - 0.25j])


def fd_gradient(loss, z, h=1e-6):
    """dL/dx + i dL/dy for every element of z, by central differences."""
    g = np.zeros(z.shape, dtype=np.complex128)
    for k in range(z.size):
        for direction in (1.0, 1j):
            e = np.zeros(z.shape, dtype=np.complex128)
            e.flat[k] = h * direction
            d = (loss(z + e) - loss(z - e)) / (2 * h)
            g.flat[k] += d if direction == 1.0 else 1j * d
    return g


def check_vjp_jvp(f_mx, f_np, z=Z, u=None, t=T, rtol=2e-3, atol=2e-4):
    zc = mx.array(z.astype(np.complex64))
    out_np = f_np(z)
    if u is None:  # a fixed cotangent of the output's shape and kind
        k = np.arange(np.size(out_np)).reshape(np.shape(out_np))
        u = 0.5 + 0.37 * k - 1j * (0.8 - 0.29 * k)
        u = u if np.iscomplexobj(out_np) else u.real
    u = np.asarray(u)
    loss = lambda w: np.real(np.sum(np.conj(u) * f_np(w)))
    ct = mx.array(u.astype(np.complex64 if np.iscomplexobj(u) else np.float32))
    _, (vjp,) = mx.vjp(f_mx, [zc], [ct])
    np.testing.assert_allclose(np.array(vjp), fd_gradient(loss, z), rtol=rtol, atol=atol)
    # jvp: f'(z) t for holomorphic f; in general the directional derivative along t.
    h = 1e-6
    expected = (f_np(z + h * t) - f_np(z - h * t)) / (2 * h)
    _, (jvp,) = mx.jvp(f_mx, [zc], [mx.array(t.astype(np.complex64))])
    np.testing.assert_allclose(np.array(jvp), expected, rtol=rtol, atol=atol)


UNARY = [
    ("negative", mx.negative, np.negative),
    ("square", mx.square, np.square),
    ("exp", mx.exp, np.exp),
    ("log", mx.log, np.log),
    ("sqrt", mx.sqrt, np.sqrt),
    ("rsqrt", mx.rsqrt, lambda z: 1 / np.sqrt(z)),
    ("reciprocal", mx.reciprocal, np.reciprocal),
    ("sin", mx.sin, np.sin),
    ("cos", mx.cos, np.cos),
    ("tan", mx.tan, np.tan),
    ("sinh", mx.sinh, np.sinh),
    ("cosh", mx.cosh, np.cosh),
    ("tanh", mx.tanh, np.tanh),
    ("abs", mx.abs, np.abs),
    ("conj", mx.conj, np.conj),
    ("real", mx.real, np.real),
    ("imag", mx.imag, np.imag),
    ("log2", mx.log2, np.log2),
    ("log10", mx.log10, np.log10),
    ("log1p", mx.log1p, np.log1p),
    ("arcsin", mx.arcsin, np.arcsin),
    ("arccos", mx.arccos, np.arccos),
    ("arctan", mx.arctan, np.arctan),
    ("arcsinh", mx.arcsinh, np.arcsinh),
    ("arccosh", mx.arccosh, np.arccosh),
    ("arctanh", mx.arctanh, np.arctanh),
]

# Principal branches, as NumPy's (and MLX's): values on a grid that crosses every branch cut.
COMPLEX_GRID = np.array([x + 1j * y for x in (-2.5, -1.0, -0.3, 0.0, 0.4, 1.0, 3.0)
                         for y in (-2.0, -0.5, 0.0, 0.7, 1.5)], dtype=np.complex64)


@pytest.mark.parametrize("name", ["log2", "log10", "log1p", "arcsin", "arccos", "arctan",
                                  "arcsinh", "arccosh", "arctanh"])
def test_complex_inverse_and_log_functions_match_numpy(name):
    z = COMPLEX_GRID
    if name == "arctan":  # its poles at +-i
        z = z[np.abs(np.abs(z.imag) - 1) > 0.1]
    got = np.array(getattr(mx, name)(mx.array(z)))
    assert got.dtype == np.complex64
    with np.errstate(all="ignore"):
        want = getattr(np, name)(z.astype(np.complex128))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6, err_msg=name)


def test_round_of_complex_rounds_each_part():
    z = np.array([1.5 + 2.5j, -0.3 - 0.7j, 2.25 - 1.35j, -1.5 + 0.5j], dtype=np.complex64)
    np.testing.assert_array_equal(np.array(mx.round(mx.array(z))), np.round(z))
    np.testing.assert_allclose(np.array(mx.round(mx.array(z), 1)), np.round(z, 1), rtol=1e-6)


@pytest.mark.parametrize("name,f_mx,f_np", UNARY, ids=[u[0] for u in UNARY])
def test_complex_unary_vjp_jvp_match_finite_differences(name, f_mx, f_np):
    check_vjp_jvp(f_mx, f_np)


C = np.array([1.0 - 0.5j, 0.3 + 0.9j, -1.1 + 0.2j])

BINARY = [
    ("add", lambda z: z + mx.array(C.astype(np.complex64)), lambda z: z + C),
    ("subtract_rhs", lambda z: mx.array(C.astype(np.complex64)) - z, lambda z: C - z),
    ("multiply", lambda z: z * mx.array(C.astype(np.complex64)), lambda z: z * C),
    ("multiply_self", lambda z: z * z * z, lambda z: z**3),
    ("divide_lhs", lambda z: z / mx.array(C.astype(np.complex64)), lambda z: z / C),
    ("divide_rhs", lambda z: mx.array(C.astype(np.complex64)) / z, lambda z: C / z),
    ("power_base", lambda z: mx.power(z, mx.array(C.astype(np.complex64))), lambda z: z**C),
    ("power_exponent", lambda z: mx.power(mx.array(C.astype(np.complex64)), z), lambda z: C**z),
    ("power_real_exponent", lambda z: z**2.5, lambda z: z**2.5),
    ("scalar_multiply", lambda z: z * (1 + 2j), lambda z: z * (1 + 2j)),
    ("where", lambda z: mx.where(mx.array([True, False, True]), z * 2j, z * z),
     lambda z: np.where([True, False, True], z * 2j, z * z)),
    ("maximum", lambda z: mx.maximum(z, mx.array(np.complex64(0.5 + 5j))),
     lambda z: np.where((z.real > 0.5), z, 0.5 + 5j)),
]


@pytest.mark.parametrize("name,f_mx,f_np", BINARY, ids=[b[0] for b in BINARY])
def test_complex_binary_vjp_jvp_match_finite_differences(name, f_mx, f_np):
    check_vjp_jvp(f_mx, f_np)


REDUCE_AND_SHAPE = [
    ("sum", lambda z: mx.sum(z * z), lambda z: np.sum(z * z)),
    ("prod", lambda z: mx.prod(z), lambda z: np.prod(z)),
    ("prod_with_zero", lambda z: mx.prod(z * mx.array(np.array([1, 0, 1], np.complex64))),
     lambda z: np.prod(z * np.array([1, 0, 1]))),
    ("mean", lambda z: mx.mean(mx.exp(z)), lambda z: np.mean(np.exp(z))),
    ("var", lambda z: mx.var(z), lambda z: np.var(z)),
    ("max", lambda z: mx.max(z * 1j), lambda z: (z * 1j)[np.lexsort(((z * 1j).imag, (z * 1j).real))[-1]]),
    ("reshape_transpose", lambda z: mx.transpose(mx.reshape(mx.concatenate([z, z * z]), (2, 3))) * 1j,
     lambda z: np.concatenate([z, z * z]).reshape(2, 3).T * 1j),
    ("slice_broadcast", lambda z: mx.broadcast_to(z[::-2], (2, 2)) * z[1], lambda z: np.broadcast_to(z[::-2], (2, 2)) * z[1]),
    ("astype_to_real", lambda z: mx.astype(z * (1 + 1j), mx.float32) ** 2, lambda z: np.real(z * (1 + 1j)) ** 2),
    ("abs_composition", lambda z: mx.abs(z * (1 + 2j)).sum(), lambda z: np.abs(z * (1 + 2j)).sum()),
    ("setitem_like", lambda z: mx.concatenate([z[:1] * 2, mx.exp(z[1:])]), lambda z: np.concatenate([z[:1] * 2, np.exp(z[1:])])),
    # Complex matmul (cgemm/cgemv) and advanced indexing (gather/scatter) of complex arrays.
    ("matmul", lambda z: mx.reshape(z, (3, 1)) @ mx.reshape(z * 1j, (1, 3)) @ mx.array(C.astype(np.complex64)),
     lambda z: z.reshape(3, 1) @ (z * 1j).reshape(1, 3) @ C),
    ("matvec_transposed", lambda z: mx.swapaxes(mx.reshape(mx.concatenate([z, z * z]), (2, 3)), 0, 1) @ mx.array(C[:2].astype(np.complex64)),
     lambda z: np.concatenate([z, z * z]).reshape(2, 3).T @ C[:2]),
    ("gather", lambda z: z[mx.array([2, 0, 2])] * z[1], lambda z: z[[2, 0, 2]] * z[1]),
    ("scatter_add", lambda z: mx.zeros(4, dtype=mx.complex64).at[mx.array([1, 1, 3])].add(z * z),
     lambda z: np.bincount([1, 1, 3], weights=(z * z).real, minlength=4) + 1j * np.bincount([1, 1, 3], weights=(z * z).imag, minlength=4)),
]


@pytest.mark.parametrize("name,f_mx,f_np", REDUCE_AND_SHAPE, ids=[r[0] for r in REDUCE_AND_SHAPE])
def test_complex_reduce_and_shape_vjp_jvp_match_finite_differences(name, f_mx, f_np):
    check_vjp_jvp(f_mx, f_np)


def test_complex_grad_of_issue_example():
    g = mx.grad(lambda z: mx.abs(z * (1 + 2j)).sum())(mx.array([1 + 2j]))
    np.testing.assert_allclose(np.array(g), [1 + 2j], rtol=1e-6)


def test_real_input_through_complex_gets_real_gradient():
    # x real -> complex: the gradient is the real part of the complex one.
    x = np.array([1.0, -2.0, 0.5])
    f = lambda v: mx.abs(mx.astype(v, mx.complex64) * (1 + 2j)).sum()
    g = mx.grad(f)(mx.array(x.astype(np.float32)))
    assert g.dtype == mx.float32
    np.testing.assert_allclose(np.array(g), np.sqrt(5) * np.sign(x), rtol=1e-6)


def test_complex_gradients_match_finite_differences_of_numpy():
    # The same losses as test_complex_gradients_match_mlx, against central differences of a
    # float64 NumPy transcription: the gradient is dL/dRe z + i dL/dIm z.
    z = np.array([1 + 2j, -0.5 + 0.3j], dtype=np.complex64)
    cases = [
        (lambda v: mx.abs(mx.exp(v) * (1 + 2j)).sum(), lambda v: np.abs(np.exp(v) * (1 + 2j)).sum()),
        (lambda v: mx.abs(mx.prod(v) / (v[0] + 3j)), lambda v: np.abs(np.prod(v) / (v[0] + 3j))),
        (lambda v: mx.var(v * v), lambda v: np.var(v * v)),
        (lambda v: (mx.real(v * v) + 3 * mx.imag(mx.conj(v) * (2 + 1j))).sum(),
         lambda v: (np.real(v * v) + 3 * np.imag(np.conj(v) * (2 + 1j))).sum()),
    ]
    base, eps = z.astype(np.complex128), 1e-6
    for f_mx, f_np in cases:
        want = np.zeros_like(base)
        for i in range(base.size):
            for unit in (1.0, 1j):
                up, down = base.copy(), base.copy()
                up[i] += eps * unit
                down[i] -= eps * unit
                want[i] += unit * (float(np.real(f_np(up))) - float(np.real(f_np(down)))) / (2 * eps)
        got = np.array(mx.grad(f_mx)(mx.array(z)))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_complex_gradients_match_mlx():
    mlx = pytest.importorskip("mlx.core")
    z = np.array([1 + 2j, -0.5 + 0.3j], dtype=np.complex64)
    fns = [
        lambda m: (lambda v: m.abs(m.exp(v) * (1 + 2j)).sum()),
        # (MLX 0.32's gradients of c ** z and z ** c disagree with finite differences, so
        # power is checked only in the finite-difference tests above.)
        lambda m: (lambda v: m.abs(m.prod(v) / (v[0] + 3j))),
        lambda m: (lambda v: m.var(v * v)),
        lambda m: (lambda v: (m.real(v * v) + 3 * m.imag(m.conj(v) * (2 + 1j))).sum()),
    ]
    for make in fns:
        ours = np.array(mx.grad(make(mx))(mx.array(z)))
        theirs = np.array(mlx.grad(make(mlx))(mlx.array(z)))
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_sign_of_complex_has_zero_gradient_as_in_mlx():
    g = mx.grad(lambda v: mx.abs(mx.sign(v) * 2).sum())(mx.array([1 + 2j]))
    np.testing.assert_array_equal(np.array(g), [0j])


def test_real_imag_conj_values():
    z = np.array([1 + 2j, -3.5 - 0.25j, np.inf + 0j], dtype=np.complex64)
    a = mx.array(z)
    np.testing.assert_array_equal(np.array(mx.real(a)), z.real)
    np.testing.assert_array_equal(np.array(mx.imag(a)), z.imag)
    np.testing.assert_array_equal(np.array(mx.conj(a)), np.conj(z))
    np.testing.assert_array_equal(np.array(mx.conjugate(a)), np.conj(z))
    assert mx.real(a).dtype == mx.float32 and mx.imag(a).dtype == mx.float32
    x = mx.array([1.5, -2.0])
    np.testing.assert_array_equal(np.array(mx.real(x)), [1.5, -2.0])
    np.testing.assert_array_equal(np.array(mx.imag(x)), [0.0, 0.0])
    np.testing.assert_array_equal(np.array(mx.conj(x)), [1.5, -2.0])


def test_abs_of_complex_is_float():
    z = mx.array(np.array([[3 + 4j, 1j], [2, -1 - 1j]], dtype=np.complex64))
    r = mx.abs(z)
    assert r.dtype == mx.float32
    np.testing.assert_allclose(np.array(r), np.abs(np.array(z)), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# 2. isclose / allclose with special values.

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 1e-9, np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-45],
                   dtype=np.float32)


@pytest.mark.parametrize("equal_nan", [False, True])
def test_isclose_special_values_match_numpy(equal_nan):
    a = np.repeat(SPECIAL, SPECIAL.size)
    b = np.tile(SPECIAL, SPECIAL.size)
    ours = np.array(mx.isclose(mx.array(a), mx.array(b), equal_nan=equal_nan))
    np.testing.assert_array_equal(ours, np.isclose(a, b, equal_nan=equal_nan))


def test_isclose_infinities_of_opposite_sign():
    assert not mx.isclose(mx.array(-np.inf), mx.array(np.inf)).item()
    assert not mx.allclose(mx.array([1.0, -np.inf]), mx.array([1.0, np.inf])).item()
    assert mx.allclose(mx.array([1.0, np.inf]), mx.array([1.0, np.inf])).item()
    assert not mx.allclose(mx.array([np.nan]), mx.array([np.nan])).item()
    assert mx.allclose(mx.array([np.nan]), mx.array([np.nan]), equal_nan=True).item()
    # A finite value is never close to an infinity, however large the tolerance.
    assert not mx.isclose(mx.array(1.0), mx.array(np.inf), rtol=10.0, atol=1e30).item()


def test_isclose_tolerances_integers_and_complex():
    a = np.array([1.0, 100.0, 1e-10, 5.0])
    b = np.array([1.0 + 1e-6, 100.01, 0.0, 5.1])
    for rtol, atol in [(1e-5, 1e-8), (1e-3, 0.0), (0.0, 0.2)]:
        np.testing.assert_array_equal(
            np.array(mx.isclose(mx.array(a.astype(np.float32)), mx.array(b.astype(np.float32)), rtol, atol)),
            np.isclose(a.astype(np.float32), b.astype(np.float32), rtol, atol))
    np.testing.assert_array_equal(np.array(mx.isclose(mx.array([1, 2, 3]), mx.array([1, 3, 3]))),
                                  [True, False, True])
    z = np.array([1 + 1j, np.inf + 0j, complex(np.inf, 1)], dtype=np.complex64)
    w = np.array([1 + 1.000001j, np.inf + 0j, complex(-np.inf, 1)], dtype=np.complex64)
    np.testing.assert_array_equal(np.array(mx.isclose(mx.array(z), mx.array(w))), [True, True, False])


# ---------------------------------------------------------------------------------------------
# 3. round with decimals.

INT_DTYPES = [mx.int8, mx.int16, mx.int32, mx.int64, mx.uint8, mx.uint16, mx.uint32, mx.uint64]


def test_round_integers_negative_decimals_issue_example():
    r = mx.round(mx.array([1234, 1250, -1251]), -2)
    assert r.dtype == mx.int32
    np.testing.assert_array_equal(np.array(r), [1200, 1200, -1300])


def test_round_integers_ties_go_to_even():
    x = np.array([15, 25, -15, -25, 1250, 1350, -1250, -1350, 5, -5, 0])
    np.testing.assert_array_equal(np.array(mx.round(mx.array(x), -1)), np.round(x, -1))
    np.testing.assert_array_equal(np.array(mx.round(mx.array(x), -2)), np.round(x, -2))


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=str)
def test_round_integers_every_dtype_matches_numpy(dtype):
    npt = np.dtype(str(dtype).split(".")[-1])
    info = np.iinfo(npt)
    rng = np.random.default_rng(0)
    x = rng.integers(max(info.min, -10**6), min(info.max, 10**6), size=200, endpoint=True).astype(npt)
    x = np.concatenate([x, np.array([info.min, info.max, info.max - 4, 0], dtype=npt)])
    for d in (-1, -2, -3, 0, 2):
        ours = np.array(mx.round(mx.array(x), d))
        assert ours.dtype == npt
        # NumPy rounds through float64, which is exact below 2**53; above, compare with Python.
        expected = np.array([round(int(v), d) for v in x], dtype=object)
        expected = np.array([int(e) % (1 << info.bits) for e in expected], dtype=np.uint64)
        expected = expected.astype(npt)  # wraps at the dtype's edge as NumPy does
        np.testing.assert_array_equal(ours, expected, err_msg=f"decimals={d}")


def test_round_integer_overflow_wraps_like_numpy():
    x = np.array([127, 125, -128], dtype=np.int8)
    np.testing.assert_array_equal(np.array(mx.round(mx.array(x), -1)), np.round(x, -1))
    np.testing.assert_array_equal(np.array(mx.round(mx.array(x), -3)), [0, 0, 0])
    np.testing.assert_array_equal(np.array(mx.round(mx.array([255], dtype=mx.uint8), -1)), [4])


def test_round_int64_exact_beyond_float64_precision():
    values = [2**62 + 7, -(2**62) - 7, 2**62 + 15, 2**63 - 8, -(2**63) + 3]
    r = mx.round(mx.array(values, dtype=mx.int64), -1)
    assert r.tolist() == [round(v, -1) for v in values]  # NumPy's float64 path loses these
    r = mx.round(mx.array([6 * 10**18, -6 * 10**18, 5 * 10**18, 10**18], dtype=mx.int64), -19)
    wrap = lambda v: (v + 2**63) % 2**64 - 2**63
    assert r.tolist() == [wrap(10**19), wrap(-(10**19)), 0, 0]
    u = mx.array(np.array([2**64 - 1, 2**63 + 5, 2**64 - 6], dtype=np.uint64))
    assert mx.round(u, -30).tolist() == [0, 0, 0]
    assert mx.round(u, -1).tolist() == [round(2**64 - 1, -1) % 2**64, round(2**63 + 5, -1), round(2**64 - 6, -1)]  # 4: wraps


def test_round_floats_negative_and_positive_decimals():
    x = np.array([1234.5678, -1251.0, 1250.0, 1350.0, -0.0, np.inf, -np.inf, np.nan, 0.125, 2.675],
                 dtype=np.float32)
    for d in (-3, -2, -1, 0, 1, 2):
        np.testing.assert_allclose(np.array(mx.round(mx.array(x), d)), np.round(x, d), rtol=1e-6)
    # A value whose scaled form overflows keeps its value instead of turning into inf.
    assert mx.round(mx.array(np.float32(3e38)), 5).item() == np.float32(3e38)
    assert mx.round(mx.array([1.5, 2.5, -0.5]), 0).tolist() == [2.0, 2.0, -0.0]


# ---------------------------------------------------------------------------------------------
# 4. arange.


@pytest.mark.parametrize("args", [
    (2**31 - 2, 2**31 + 2), (-(2**31) - 2, -(2**31) + 2), (2**31 + 2, 2**31 - 2, -1),
    (0, 2**32, 2**30), (2**53 + 1, 2**53 + 3), (2**63 - 3, 2**63 - 1), (-(2**63), -(2**63) + 3),
    (0, 2**31, 2**30), (0, 10, 2**40), (2**62, -(2**62), -(2**62)), (-5, 2**31, 2**31 - 1),
])
def test_arange_integer_ranges_match_numpy(args):
    r = mx.arange(*args)
    expected = np.arange(*args)
    assert r.dtype == mx.int64
    assert r.tolist() == expected.tolist()


def test_arange_dtype_inference():
    assert mx.arange(10).dtype == mx.int32
    assert mx.arange(-(2**31), 2**31 - 1, 2**30).dtype == mx.int32
    assert mx.arange(2**31, 2**31 - 1).dtype == mx.int64  # as MLX: any bound beyond int32
    assert mx.arange(0.0, 3).dtype == mx.float32
    assert mx.arange(10, 0, -3).tolist() == [10, 7, 4, 1]
    assert mx.arange(0, 3, 0.5).tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_arange_explicit_dtype_wraps_like_numpy():
    np.testing.assert_array_equal(np.array(mx.arange(0, 300, 100, dtype=mx.int8)),
                                  np.arange(0, 300, 100, dtype=np.int8))
    np.testing.assert_array_equal(np.array(mx.arange(250, 260, dtype=mx.uint8)),
                                  np.arange(250, 260).astype(np.uint8))
    np.testing.assert_array_equal(np.array(mx.arange(2**31 - 2, 2**31 + 2, dtype=mx.int32)),
                                  np.arange(2**31 - 2, 2**31 + 2).astype(np.int32))
    assert mx.arange(2**53 + 1, 2**53 + 4, dtype=mx.float32).tolist() == [float(np.float32(2**53 + k)) for k in (1, 2, 3)]
    # A float range with an integer dtype beyond int64 does not hit undefined casts.
    assert mx.arange(0.0, 3.0, dtype=mx.int16).tolist() == [0, 1, 2]


def test_arange_errors():
    with pytest.raises(ValueError, match=r"^\[arange\]"):
        mx.arange(0, 2**64)
    with pytest.raises(ValueError, match=r"^\[arange\]"):
        mx.arange(0, 10, 0)
    with pytest.raises(ValueError, match=r"^\[arange\]"):
        mx.arange(-(2**63), 2**63 - 1)  # 2**64 - 1 elements


# ---------------------------------------------------------------------------------------------
# 5. Slices with extreme bounds and steps, against NumPy.

BIG = sys.maxsize
EXTREMES = [None, 0, 1, -1, 2, -2, 5, -5, BIG, -BIG, -BIG - 1, 2**63, -(2**63), 2**100, -(2**100)]
STEPS = [None, 1, -1, 2, -3, BIG, -BIG, 2**63, -(2**63), 2**100, -(2**100), BIG - 1]


def _slices():
    for step in STEPS:
        for start in EXTREMES:
            for stop in (None, BIG, -BIG, 2**100, -(2**100), 3, -3):
                yield slice(start, stop, step)


@pytest.mark.parametrize("shape", [(7,), (1,), (0,), (4, 3)])
def test_getitem_setitem_with_extreme_slices_match_numpy(shape):
    base = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    a = mx.array(base)
    for sl in _slices():
        np.testing.assert_array_equal(np.array(a[sl]), base[sl], err_msg=str(sl))
        key = (slice(None), sl) if len(shape) == 2 else sl
        np.testing.assert_array_equal(np.array(a[key]), base[key], err_msg=str(key))
        b, nb_ = mx.array(base), base.copy()
        b[key] = 100
        nb_[key] = 100
        np.testing.assert_array_equal(np.array(b), nb_, err_msg=str(key))


def test_issue_examples_for_huge_steps():
    a = mx.arange(10)
    a[:: -sys.maxsize] = 100
    assert a.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 100]
    assert mx.arange(10)[:: sys.maxsize].tolist() == [0]
    assert mx.arange(10)[3:: sys.maxsize].tolist() == [3]
    assert mx.arange(10)[:: -sys.maxsize].tolist() == [9]


def test_slice_of_huge_step_has_gradient():
    g = mx.grad(lambda v: (v[1:: sys.maxsize] * 3).sum())(mx.arange(5, dtype=mx.float32))
    assert g.tolist() == [0, 3, 0, 0, 0]


# ---------------------------------------------------------------------------------------------
# 6. Integer reductions beyond 2**31 elements (broadcast: no memory).

N = 2**31 + 5


def test_int64_sum_over_more_than_2_31_elements():
    r = mx.broadcast_to(mx.array(1, dtype=mx.int64), (N,)).sum()
    assert r.dtype == mx.int64 and r.item() == N


def test_narrow_integer_sums_keep_mlx_dtypes_and_wrap_modularly():
    r = mx.broadcast_to(mx.array(3, dtype=mx.int8), (N,)).sum()
    assert r.dtype == mx.int32
    assert r.item() == (3 * N + 2**31) % 2**32 - 2**31
    r = mx.broadcast_to(mx.array(1, dtype=mx.uint32), (N,)).sum()
    assert r.dtype == mx.uint32 and r.item() == N


def test_integer_sums_of_large_values_are_exact_before_narrowing():
    # Partial sums pass 2**31 and come back: exact in 64 bits (signed overflow in 32 bits is
    # undefined behaviour).
    x = np.array([2**31 - 1] * 40 + [-(2**31 - 1)] * 40 + [7], dtype=np.int32)
    assert mx.sum(mx.array(x)).item() == 7
    assert mx.sum(mx.array(x.reshape(9, 9)), axis=0).tolist() == x.reshape(9, 9).sum(0).astype(np.int32).tolist()
    y = np.full(1000, 2**31 - 1, dtype=np.int64)
    assert mx.sum(mx.array(y)).item() == int(y.sum())
    assert mx.prod(mx.array([2**20, 2**20, 2**-0], dtype=mx.int32)).item() == 0  # 2**40 wraps to 0 in int32
    assert mx.prod(mx.array([2**20, 2**20], dtype=mx.int64)).item() == 2**40


# ---------------------------------------------------------------------------------------------
# 7. Complex comparisons: lexicographic, as MLX (and NumPy) order complex numbers.

ZA = np.array([1 + 2j, 3 - 1j, 1 + 1j, 1 + 1j, -2 + 0j, complex(np.nan, 0)], dtype=np.complex64)
ZB = np.array([1 + 1j, 2 + 5j, 1 + 1j, 1 + 3j, -2 + 0j, 1 + 0j], dtype=np.complex64)


@pytest.mark.parametrize("op", ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"])
def test_complex_comparisons_are_lexicographic(op):
    ours = np.array(getattr(mx, op)(mx.array(ZA), mx.array(ZB)))
    np.testing.assert_array_equal(ours, getattr(np, op)(ZA, ZB))


def test_complex_maximum_minimum_match_numpy():
    np.testing.assert_array_equal(np.array(mx.maximum(mx.array(ZA), mx.array(ZB))), np.maximum(ZA, ZB))
    np.testing.assert_array_equal(np.array(mx.minimum(mx.array(ZA), mx.array(ZB))), np.minimum(ZA, ZB))
    finite = ZA[:5]
    assert mx.max(mx.array(finite)).item() == np.max(finite)
    assert mx.min(mx.array(finite)).item() == np.min(finite)
    assert mx.argmax(mx.array(finite)).item() == np.argmax(finite)
    assert mx.argmin(mx.array(finite)).item() == np.argmin(finite)


def test_complex_comparisons_match_mlx():
    mlx = pytest.importorskip("mlx.core")
    a, b = ZA[:5], ZB[:5]
    for op in ["less", "greater", "less_equal", "greater_equal", "maximum", "minimum"]:
        ours = np.array(getattr(mx, op)(mx.array(a), mx.array(b)))
        theirs = np.array(getattr(mlx, op)(mlx.array(a), mlx.array(b)))
        np.testing.assert_array_equal(ours, theirs, err_msg=op)


@pytest.mark.parametrize("op", ["floor_divide", "remainder", "arctan2", "logaddexp"])
def test_unsupported_complex_binary_ops_fail_at_the_call(op):
    z = mx.array([1 + 1j])
    with pytest.raises(ValueError, match=rf"^\[{op}\]"):
        getattr(mx, op)(z, z)  # no eval: the error comes from building the op


# ---------------------------------------------------------------------------------------------
# Edge inputs of the core ops.


def test_reductions_over_nan_and_signed_zero():
    x = np.array([1.0, np.nan, 3.0, -np.inf], dtype=np.float32)
    assert np.isnan(mx.max(mx.array(x)).item()) and np.isnan(mx.min(mx.array(x)).item())
    assert mx.argmax(mx.array(x)).item() == np.argmax(x) == 1
    assert mx.argmin(mx.array(x)).item() == np.argmin(x) == 1
    z = np.array([-0.0, 0.0], dtype=np.float32)
    assert mx.argmax(mx.array(z)).item() == np.argmax(z) == 0


def test_zero_size_reductions_match_numpy():
    e = np.zeros((0, 3), dtype=np.float32)
    np.testing.assert_array_equal(np.array(mx.sum(mx.array(e), axis=0)), e.sum(0))
    np.testing.assert_array_equal(np.array(mx.prod(mx.array(e), axis=0)), e.prod(0))
    assert mx.sum(mx.array(e)).item() == 0.0
    assert np.isnan(mx.mean(mx.array(e)).item())
    with pytest.raises(ValueError, match=r"^\[max\]"):
        mx.max(mx.array(e), axis=0)
    with pytest.raises(ValueError, match=r"^\[argmax\]"):
        mx.argmax(mx.array(e), axis=0)
    assert mx.max(mx.array(e), axis=1).shape == (0,)


@pytest.mark.parametrize("index", [sys.maxsize, -sys.maxsize - 1, 2**63, -(2**63) - 1, 2**100, -(2**100)])
def test_huge_integer_indices_raise_index_error_naming_the_op(index):
    a = mx.arange(5)
    with pytest.raises(IndexError, match=rf"^\[__getitem__\] Index {index} is out of bounds"):
        a[index]
    with pytest.raises(IndexError, match=rf"^\[__setitem__\] Index {index} is out of bounds"):
        a[index] = 1
    assert a.tolist() == [0, 1, 2, 3, 4]


def test_complex_second_order_gradient_matches_finite_differences():
    # g(z) = sum |grad f(z)|**2 with f(z) = sum |z**3 + c z|: a real function of a complex
    # gradient, differentiated again.
    c = 0.5 - 1.5j
    f = lambda v: mx.abs(v * v * v + v * c).sum()
    g = lambda v: mx.sum(mx.square(mx.abs(mx.grad(f)(v))))

    def f_grad_np(z):  # d|w|/dx + i d|w|/dy with w = z**3 + c z: conj(w') w / |w|
        w = z**3 + c * z
        return np.conj(3 * z**2 + c) * w / np.abs(w)

    g_np = lambda z: np.sum(np.abs(f_grad_np(z)) ** 2)
    ours = np.array(mx.grad(g)(mx.array(Z.astype(np.complex64))))
    np.testing.assert_allclose(ours, fd_gradient(g_np, Z), rtol=2e-3, atol=2e-3)


def test_round_floats_with_extreme_decimals():
    x = np.array([0.0, -0.0, 1.5e-40, 3e38, -2.5, np.inf, -np.inf, np.nan, 12345.678], dtype=np.float32)
    same = lambda r, e: np.testing.assert_array_equal(np.array(r), np.array(e, dtype=np.float32))
    # Beyond every digit of float32 (and far beyond): unchanged, where NumPy gives nan.
    for d in (80, 2**31 - 1):
        same(mx.round(mx.array(x), d), x)
    # Subnormals still round at 40 decimals (two scale factors; 10**40 overflows float32).
    assert mx.round(mx.array(np.float32(1.5e-40)), 40).item() == pytest.approx(2e-40, rel=1e-4)
    # Above every finite value: signed zeros, infinities and NaN stay.
    for d in (-39, -400, -(2**31)):
        same(mx.round(mx.array(x), d), [0.0, -0.0, 0.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 0.0])
    assert mx.round(mx.array(np.float32(3e38)), -38).item() == np.float32(3e38)
    # float16 and bfloat16 round through float32: 10**5 is infinite in float16.
    h = np.array([60000, 40000, 1.5, 0.0001234], dtype=np.float16)
    for d in (-5, -4, 2, 5):
        np.testing.assert_array_equal(np.array(mx.round(mx.array(h), d)),
                                      np.round(h.astype(np.float32), d).astype(np.float16))
    # complex: each part rounded, as in MLX.
    assert mx.round(mx.array([1.234 - 5.678j]), 2).tolist() == [pytest.approx(1.23 - 5.68j)]
    assert mx.round(mx.array([1234, -1250], dtype=mx.int64), -(2**31)).tolist() == [0, 0]


@pytest.mark.parametrize("decimals", [-400, -2, 0, 2, 40, 100])
def test_round_has_zero_gradient_everywhere(decimals):
    x = mx.array(np.array([1.25, 3e38, -7.5, 1e-40], dtype=np.float32))
    g = mx.grad(lambda v: mx.round(v, decimals).sum())(x)
    assert g.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_arange_takes_numpy_integers_as_integers():
    r = mx.arange(np.int64(5))
    assert r.dtype == mx.int32 and r.tolist() == [0, 1, 2, 3, 4]
    r = mx.arange(np.int64(2**40), 2**40 + 2)
    assert r.dtype == mx.int64 and r.tolist() == [2**40, 2**40 + 1]
    assert mx.arange(np.float32(3)).dtype == mx.float32


def test_integer_overflow_wraps_like_numpy():
    for dt, npdt in ((mx.int32, np.int32), (mx.int64, np.int64), (mx.uint16, np.uint16),
                     (mx.int16, np.int16), (mx.uint32, np.uint32)):
        info = np.iinfo(npdt)
        v = np.array([info.max, info.min, info.max // 3, 7], dtype=npdt)
        x = mx.array(v, dtype=dt)
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(np.array(x * x), v * v)
            np.testing.assert_array_equal(np.array(x + x), v + v)
            np.testing.assert_array_equal(np.array(x - v[::-1].copy()), v - v[::-1])
            np.testing.assert_array_equal(np.array(-x), -v)
            np.testing.assert_array_equal(np.array(mx.abs(x)), np.abs(v))
            np.testing.assert_array_equal(np.array(mx.square(x)), np.square(v))
        if info.min < 0:
            assert (x // -1).tolist() == (-v).tolist()
    big = mx.array([2**40, 2**40, 3], dtype=mx.int64)
    assert mx.prod(big).item() == 0


def test_complex_and_tiny_values_are_true():
    assert mx.array(1j).astype(mx.bool_).item() is True
    assert mx.array([0j, 2 + 0j, 1j]).astype(mx.bool_).tolist() == [False, True, True]
    assert mx.logical_and(mx.array(1j), True).item() is True
    assert mx.logical_not(mx.array([1j, 0j])).tolist() == [False, True]
    assert mx.array(1e-300, dtype=mx.float64).astype(mx.bool_).item() is True


def test_real_imag_properties_and_conj_method():
    a = mx.array([1 + 2j, -3.5 - 0.5j])
    assert a.real.tolist() == [1.0, -3.5] and a.imag.tolist() == [2.0, -0.5]
    assert a.conj().tolist() == [1 - 2j, -3.5 + 0.5j]
    assert mx.array([1.5]).imag.tolist() == [0.0] and mx.array([1.5]).real.tolist() == [1.5]
