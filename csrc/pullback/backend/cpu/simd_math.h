// Branch-free float32 math for the elementwise kernels, and the per-ISA kernel tables.
//
// The scalar functions below are written so that GCC vectorizes a loop calling them: no calls
// into libm, no data-dependent branches (both sides of a choice are computed and selected),
// integer tricks on the float bits instead of frexp/ldexp. `kFma` picks fused multiply-adds,
// which the AVX2 and AVX-512 kernels use and the baseline (SSE2) kernel cannot; everything
// else is plain IEEE arithmetic, so kernels with the same kFma return identical bits. The
// file that instantiates them disables FP contraction for the same reason.
//
// Accuracy against the correctly rounded result, over every float input (a sweep of one float
// in 13 of all 2^32, and the gtest sweeps in tests/cpp/test_simd_math.cpp): at most 1 ulp for
// exp, expm1, log, log1p, sin, cos, tanh and erf, at most 2 ulp for sigmoid. sin/cos take
// this path for |x| <= kTrigFastLimit only; the kernels hand larger inputs, inf and NaN to
// std::sin/std::cos. Special values (NaN, +-inf, +-0, overflow, underflow to subnormals and
// to 0) match std::.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pullback::simd {

#define PB_SIMD_INLINE inline __attribute__((always_inline))

PB_SIMD_INLINE float as_float(uint32_t u) { return __builtin_bit_cast(float, u); }
PB_SIMD_INLINE uint32_t as_bits(float f) { return __builtin_bit_cast(uint32_t, f); }
PB_SIMD_INLINE uint64_t as_bits(double d) { return __builtin_bit_cast(uint64_t, d); }
PB_SIMD_INLINE float abs_f(float x) { return as_float(as_bits(x) & 0x7fffffffu); }
// |mag| with the sign of `sign`.
PB_SIMD_INLINE float with_sign_of(float mag, float sign) {
  return as_float((as_bits(mag) & 0x7fffffffu) | (as_bits(sign) & 0x80000000u));
}

// Whether x[0..n) are all finite: x * 0 is 0 for finite x and NaN for inf and NaN, and an OR
// over the comparisons vectorizes where a branch per element would not.
template <typename T>
inline bool all_finite(const T* x, size_t n) {
  int not_finite = 0;
  for (size_t i = 0; i < n; ++i) {
    const T z = x[i] * T(0);
    not_finite |= z != z;
  }
  return !not_finite;
}

// c ? a : b, as bit masks. A plain ?: on floats lets GCC sink each side's arithmetic into a
// branch, which it then will not flatten again (the arithmetic might trap), and the loop stays
// scalar.
PB_SIMD_INLINE float select(bool c, float a, float b) {
  const uint32_t m = 0u - uint32_t(c);
  return as_float((as_bits(a) & m) | (as_bits(b) & ~m));
}
PB_SIMD_INLINE int32_t select(bool c, int32_t a, int32_t b) {
  const int32_t m = -int32_t(c);
  return (a & m) | (b & ~m);
}

template <bool kFma>
PB_SIMD_INLINE float madd(float a, float b, float c) {
  if constexpr (kFma) return __builtin_fmaf(a, b, c);
  else return a * b + c;
}
template <bool kFma>
PB_SIMD_INLINE double madd(double a, double b, double c) {
  if constexpr (kFma) return __builtin_fma(a, b, c);
  else return a * b + c;
}

constexpr float kInf = __builtin_inff();
constexpr float kNaN = __builtin_nanf("");
// Adding then subtracting this rounds a float of magnitude < 2^22 to the nearest integer, and
// the low bits of the sum hold that integer.
constexpr float kRoundMagic = 12582912.f;  // 1.5 * 2^23
constexpr double kRoundMagicD = 6755399441055744.0;  // 1.5 * 2^52

// 2^n for n in [-126, 127].
PB_SIMD_INLINE float pow2i(int32_t n) { return as_float(uint32_t(n + 127) << 23); }

// x = n ln2 + r with |r| <= ln2/2: n by rounding x log2(e), r with ln2 split in two parts so
// that n ln2 is exact. Returns r and sets n.
template <bool kFma>
PB_SIMD_INLINE float reduce_ln2(float x, int32_t& n) {
  constexpr float kLog2e = 1.44269504f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const float t = madd<kFma>(x, kLog2e, kRoundMagic);
  const float nf = t - kRoundMagic;
  n = int32_t(as_bits(t) - as_bits(kRoundMagic));
  return madd<kFma>(nf, -kLn2Lo, madd<kFma>(nf, -kLn2Hi, x));
}

// e^x = 2^n * e^r with n = round(x / ln2), |r| <= ln2 / 2; ln2 is split so that n * kLn2Hi is
// exact. The scale 2^n is applied as two factors so that n in [-150, 128] neither wraps the
// exponent field nor loses the subnormal rounding: p * 2^h is exact, the second product rounds
// once.
template <bool kFma>
PB_SIMD_INLINE float exp(float x) {
  float xc = select(x > 89.f, 89.f, x);  // comparisons are false for NaN, which passes through
  xc = select(xc < -104.f, -104.f, xc);
  int32_t ni;
  const float r = reduce_ln2<kFma>(xc, ni);
  // e^r = 1 + r + r^2 P(r), near-minimax on |r| <= ln2/2 (relative error 4e-9).
  float p = 1.381461275741458e-03f;
  p = madd<kFma>(p, r, 8.368710055947304e-03f);
  p = madd<kFma>(p, r, 4.166838899254799e-02f);
  p = madd<kFma>(p, r, 1.666652113199234e-01f);
  p = madd<kFma>(p, r, 4.999999403953552e-01f);
  const float y = madd<kFma>(p, r * r, r) + 1.f;
  const int32_t h = ni >> 1;
  return y * pow2i(h) * pow2i(ni - h);
}

// e^x - 1: the same reduction, e^x - 1 = 2^n (e^r - 1) + (2^n - 1), where 2^n - 1 is exact while
// n <= 24; beyond that the -1 hardly matters and the exp route (with its split scale) is used.
template <bool kFma>
PB_SIMD_INLINE float expm1(float x) {
  float xc = select(x > 89.f, 89.f, x);
  xc = select(xc < -30.f, -30.f, xc);  // e^-30 - 1 rounds to -1
  int32_t ni;
  const float r = reduce_ln2<kFma>(xc, ni);
  // e^r - 1 = r + r^2/2 + r^3 E(r) (relative error 1e-9).
  float e = 1.982412941e-04f;
  e = madd<kFma>(e, r, 1.393324463e-03f);
  e = madd<kFma>(e, r, 8.333419450e-03f);
  e = madd<kFma>(e, r, 4.166648164e-02f);
  e = madd<kFma>(e, r, 1.666666567e-01f);
  const float pm1 = madd<kFma>(r * r, madd<kFma>(r, e, 0.5f), r);  // e^r - 1
  const int32_t h = ni >> 1;
  const float s1 = pow2i(h), s2 = pow2i(ni - h);
  const float scale = s1 * s2;  // exact while n <= 127
  const float moderate = madd<kFma>(pm1, scale, scale - 1.f);
  const float large = (pm1 + 1.f) * s1 * s2 - 1.f;
  return select(x == 0.f, x, select(ni > 24, large, moderate));  // keeps the sign of zero
}

// log x = e ln2 + log(1 + m), where x = 2^e (1 + m) with 1 + m in [sqrt(1/2), sqrt(2)).
template <bool kFma>
PB_SIMD_INLINE float log(float x) {
  constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const bool subnormal = x < 1.17549435e-38f;  // also true for 0 and negatives, fixed below
  const float xs = select(subnormal, x * 8388608.f, x);  // 2^23
  const uint32_t bits = as_bits(xs);
  int32_t e = int32_t((bits >> 23) & 0xff) - 126 - select(subnormal, 23, 0);
  float m = as_float((bits & 0x007fffffu) | 0x3f000000u);  // in [0.5, 1)
  const bool low = m < 0.707106781f;
  e = select(low, e - 1, e);
  m = select(low, (m + m) - 1.f, m - 1.f);  // exact
  const float fe = float(e);
  const float z = m * m;
  // log(1 + m) = m - m^2/2 + m^3 Q(m) (relative error 6e-9).
  float q = -7.634499669e-02f;
  q = madd<kFma>(q, m, 1.276158243e-01f);
  q = madd<kFma>(q, m, -1.316018403e-01f);
  q = madd<kFma>(q, m, 1.420175731e-01f);
  q = madd<kFma>(q, m, -1.662335694e-01f);
  q = madd<kFma>(q, m, 2.000122666e-01f);
  q = madd<kFma>(q, m, -2.500081956e-01f);
  q = madd<kFma>(q, m, 3.333333135e-01f);
  float y = (m * z) * q;
  y = madd<kFma>(fe, kLn2Lo, y);
  y = madd<kFma>(z, -0.5f, y);
  float r = madd<kFma>(fe, kLn2Hi, m + y);
  r = select(x == kInf, kInf, r);
  r = select(x == 0.f, -kInf, r);
  r = select(x < 0.f, kNaN, r);
  return select(x != x, x, r);
}

// log(1 + x) = log(u) + (x - (u - 1)) / u with u = 1 + x rounded; the second term restores what
// the rounding of u lost.
template <bool kFma>
PB_SIMD_INLINE float log1p(float x) {
  const float u = 1.f + x;
  const float c = x - (u - 1.f);
  float r = log<kFma>(u) + c / u;
  r = select(x == kInf, kInf, r);
  r = select(x == -1.f, -kInf, r);
  return select(x == 0.f, x, r);
}

// sin/cos: the quadrant reduction runs in double (exact for |x| < 2^20, where q < 2^20 keeps
// q * kPio2A exact), then float polynomials on |r| <= pi/4.
constexpr uint32_t kTrigFastLimitBits = 0x49800000u;  // 2^20
constexpr float kTrigFastLimit = 1048576.f;
// Inputs the fast sin/cos cannot take: |x| > kTrigFastLimit, inf, NaN.
PB_SIMD_INLINE bool trig_needs_libm(float x) { return (as_bits(x) & 0x7fffffffu) > kTrigFastLimitBits; }

template <bool kFma>
PB_SIMD_INLINE float sin_quadrant(float x, uint32_t quadrant_offset) {
  constexpr double kTwoOverPi = 0x1.45f306dc9c883p-1;
  constexpr double kPio2A = 0x1.921fb54400000p+0, kPio2B = 0x1.0b4611a600000p-34,
                   kPio2C = 0x1.3198a2e037073p-69;
  // Inputs outside the fast range are computed elsewhere; zeroing them keeps int32_t(n) defined.
  const double xd = select(trig_needs_libm(x), 0.f, x);
  const double t = madd<kFma>(xd, kTwoOverPi, kRoundMagicD);
  const double n = t - kRoundMagicD;
  // From n rather than from the bits of t: GCC vectorizes this conversion, not the bit route.
  const uint32_t q = uint32_t(int32_t(n)) + quadrant_offset;
  double rd = madd<kFma>(n, -kPio2A, xd);
  rd = madd<kFma>(n, -kPio2B, rd);
  rd = madd<kFma>(n, -kPio2C, rd);
  const float r = float(rd);
  const float u = r * r;
  // sin r = r + r^3 S(r^2) (relative error 4e-9).
  float s = 2.718121550e-06f;
  s = madd<kFma>(s, u, -1.983931288e-04f);
  s = madd<kFma>(s, u, 8.333329111e-03f);
  s = madd<kFma>(s, u, -1.666666716e-01f);
  const float sin_r = madd<kFma>(r * u, s, r);
  // cos r = 1 - r^2/2 + r^4 C(r^2) (relative error 2e-10).
  float c = 2.443315680e-05f;
  c = madd<kFma>(c, u, -1.388731645e-03f);
  c = madd<kFma>(c, u, 4.166664556e-02f);
  const float cos_r = madd<kFma>(u * u, c, u * -0.5f) + 1.f;
  const float v = select((q & 1u) != 0, cos_r, sin_r);
  return as_float(as_bits(v) ^ ((q & 2u) << 30));
}
template <bool kFma>
PB_SIMD_INLINE float sin(float x) {
  return select(x == 0.f, x, sin_quadrant<kFma>(x, 0));  // r + r^3 S would turn -0 into +0
}
template <bool kFma>
PB_SIMD_INLINE float cos(float x) { return sin_quadrant<kFma>(x, 1); }

// tanh: odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1) (no cancellation there).
template <bool kFma>
PB_SIMD_INLINE float tanh(float x) {
  const float a = abs_f(x);
  const float u = x * x;
  float p = 2.142961137e-03f;
  p = madd<kFma>(p, u, -8.177397773e-03f);
  p = madd<kFma>(p, u, 2.170070261e-02f);
  p = madd<kFma>(p, u, -5.394676328e-02f);
  p = madd<kFma>(p, u, 1.333320588e-01f);
  p = madd<kFma>(p, u, -3.333333135e-01f);
  const float small = madd<kFma>(x * u, p, x);
  const float large = 1.f - 2.f / (exp<kFma>(a + a) + 1.f);
  return with_sign_of(select(a < 0.625f, small, large), x);
}

// 1 / (1 + e^-x), from e = e^-|x| so that nothing overflows: 1/(1+e) for x >= 0, e/(1+e) below.
template <bool kFma>
PB_SIMD_INLINE float sigmoid(float x) {
  const float e = exp<kFma>(-abs_f(x));
  const float d = 1.f + e;
  return select(x >= 0.f, 1.f / d, e / d);
}

// erf: x (1 + E(x^2)) for |x| < 1, else 1 - e^{-x^2} R(|x|) with R = erfc * e^{x^2} fitted on
// [1, 4]; erf rounds to +-1 beyond 4.
template <bool kFma>
PB_SIMD_INLINE float erf(float x) {
  float a = abs_f(x);
  a = select(a > 4.f, 4.f, a);
  const float u = x * x;
  float e = 7.853858551e-05f;
  e = madd<kFma>(e, u, -8.010192541e-04f);
  e = madd<kFma>(e, u, 5.188327748e-03f);
  e = madd<kFma>(e, u, -2.685381286e-02f);
  e = madd<kFma>(e, u, 1.128358543e-01f);
  e = madd<kFma>(e, u, -3.761262596e-01f);
  e = madd<kFma>(e, u, 1.283791661e-01f);
  const float small = madd<kFma>(x, e, x);
  const float t = a - 2.5f;
  float r = 1.194673168e-04f;
  r = madd<kFma>(r, t, 2.986532636e-04f);
  r = madd<kFma>(r, t, 7.079566712e-04f);
  r = madd<kFma>(r, t, -4.946509725e-04f);
  r = madd<kFma>(r, t, 2.355225850e-03f);
  r = madd<kFma>(r, t, -8.165431209e-03f);
  r = madd<kFma>(r, t, 2.488582768e-02f);
  r = madd<kFma>(r, t, -7.434786856e-02f);
  r = madd<kFma>(r, t, 2.108076215e-01f);
  const float large = 1.f - exp<kFma>(-(a * a)) * r;
  return with_sign_of(select(a < 1.f, small, large), x);
}

// ---- Kernels over contiguous float32 arrays, one table per instruction set. ----

using UnaryKernel = void (*)(const float* in, float* out, size_t n);
// out[i] = a[i] op b[i], a[0] op b[i], or a[i] op b[0] depending on the table slot.
using BinaryKernel = void (*)(const float* a, const float* b, float* out, size_t n);

// y[i] = x[i] * mul[0] + add[0], then * mul[1] + add[1], ... for `steps` steps, each product
// and sum rounded on its own (as the unfused ops round them): compile's fused chains of
// scalar additions, subtractions and multiplications, kept in registers.
using AffineKernel = void (*)(const float* x, float* y, size_t n, const float* mul,
                              const float* add, size_t steps);

enum class UnaryKind { Exp, Expm1, Log, Log1p, Sin, Cos, Tanh, Sigmoid, Erf, Sqrt, Negative, Abs, Square, Count };
enum class BinaryKind { Add, Subtract, Multiply, Divide, Maximum, Minimum, Count };
// Which operand is a broadcast scalar.
enum class Operands { VectorVector, ScalarVector, VectorScalar, Count };
enum class Isa { Baseline, Avx2, Avx512 };

struct KernelTable {
  Isa isa;
  UnaryKernel unary[size_t(UnaryKind::Count)];
  BinaryKernel binary[size_t(BinaryKind::Count)][size_t(Operands::Count)];
  AffineKernel affine;
};

// The widest table this CPU runs (chosen once).
const KernelTable& kernels();
// The table for `isa`, or nullptr if this CPU lacks it (tests compare all of them).
const KernelTable* kernels_for(Isa isa);
const char* isa_name(Isa isa);

}  // namespace pullback::simd
