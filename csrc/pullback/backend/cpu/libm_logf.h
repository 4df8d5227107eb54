// glibc's logf, bit for bit, mostly vectorized: the normal sampler needs exactly the log MLX
// gets from libm, and calling libm per element was half of its time on AVX2.
//
// Why this can be exact: log(x) is computed in double with a relative error far below a float
// ulp (about 2^-39), so rounding it to float gives the correctly rounded logf, except where
// log(x) lies within about 2^-15 ulp of the midpoint between two floats. glibc's logf
// (0.82 ulp) differs from the correctly rounded value only where its own result before rounding
// is on the other side of such a midpoint, i.e. where log(x) lies close to a midpoint. So every
// lane whose double result lies within a margin of a midpoint is recomputed with std::log. The
// margins (kLibmLogfMargins) are the largest distances from a midpoint at which this libm's
// logf and the rounded double disagree, found by trying every float in [2^-126, 1] against both
// of glibc's variants (FMA and SSE2): scripts/libm_logf_margins.sh writes them, and
// tests/cpp/test_libm_logf.cpp checks the result against std::log (every float in (0, 1] when
// PULLBACK_LOGF_EXHAUSTIVE=1). The margins reach 0.29 ulp just below 1, where glibc's logf is
// least accurate, and about 5% of the normal's inputs are recomputed. Inputs outside
// [2^-126, 1] (0, subnormals, x > 1, negatives, inf, NaN) always go to std::log. Another libm
// can disagree elsewhere; the sampler checks a sample of inputs at first use and falls back to
// std::log for every lane if any differs.
//
// The arithmetic is written one rounding a step (fused only where kFma asks) and the file that
// instantiates it turns off contraction, so each form gives the same bits on every machine.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pullback/backend/cpu/libm_logf_margins.h"
#include "pullback/backend/cpu/simd_math.h"

namespace pullback {

namespace libm_logf_detail {

// Bits of x for which the double route may be taken: positive normal floats up to 1.
constexpr uint32_t kLowestBits = 0x00800000u;  // 2^-126
constexpr uint32_t kOneBits = 0x3f800000u;

// log(x) in double for x with bits in [kLowestBits, kOneBits] (relative error below 2^-39;
// garbage elsewhere). x = 2^e m with m in [sqrt(1/2), sqrt(2)), then log m = 2 atanh(s) with
// s = (m - 1) / (m + 1), |s| <= 0.172, summed as its series 2 (s + s^3/3 + ... + s^13/13):
// the first term left out is below 2^-39 of the sum. kFma fuses the multiply-adds (AVX2 and
// AVX-512 copies), which changes the last bits; the margins cover both forms.
template <bool kFma>
PB_SIMD_INLINE double log_double(uint32_t bits) {
  constexpr uint32_t kSqrtHalfBits = 0x3f3504f3u;  // sqrt(1/2)
  constexpr double kLn2 = 0.6931471805599453;
  const int32_t e = int32_t(bits - kSqrtHalfBits) >> 23;
  const double m = double(simd::as_float(bits - (uint32_t(e) << 23)));
  const double s = (m - 1.0) / (m + 1.0);  // m - 1 and m + 1 are exact
  const double z = s * s;
  double p = 1.0 / 13;
  p = simd::madd<kFma>(p, z, 1.0 / 11);
  p = simd::madd<kFma>(p, z, 1.0 / 9);
  p = simd::madd<kFma>(p, z, 1.0 / 7);
  p = simd::madd<kFma>(p, z, 1.0 / 5);
  p = simd::madd<kFma>(p, z, 1.0 / 3);
  const double s2 = s + s;
  return simd::madd<kFma>(double(e), kLn2, simd::madd<kFma>(s2, z * p, s2));
}

// Distance of y from the nearest float midpoint, in 2^-29 float ulps: the 29 bits of the
// double's significand below float precision, against one half (2^28). y is normal and
// nonzero for every x < 1 in range, and exactly 0 for x = 1 (far from a midpoint).
PB_SIMD_INLINE uint32_t midpoint_distance(double y) {
  const int32_t below = int32_t(uint32_t(simd::as_bits(y)) & 0x1fffffffu) - 0x10000000;
  return uint32_t(below < 0 ? -below : below);
}

}  // namespace libm_logf_detail

// logf(x) rounded from the double route; `needs_libm` is set where it may differ from libm's
// (those lanes must be recomputed with std::log).
template <bool kFma>
PB_SIMD_INLINE float logf_or_flag(float x, bool& needs_libm) {
  using namespace libm_logf_detail;
  const uint32_t bits = simd::as_bits(x);
  const double y = log_double<kFma>(bits);
  // The margins of [1/2, 1) by the top 8 bits of the mantissa; one margin for all below.
  const uint32_t local = kLibmLogfMargins[(bits >> 15) & 0xffu];
  const uint32_t margin = (bits >> 23) == 126 ? local : kLibmLogfMarginBelowHalf;
  needs_libm = (bits - kLowestBits > kOneBits - kLowestBits) | (midpoint_distance(y) <= margin);
  return float(y);
}

// The kernel of one instruction set over n floats, for tests: y[i] = logf(x[i]) exactly as
// libm returns it. Defined in random.cpp. Only for an `isa` this CPU runs (simd::kernels_for
// tells).
void libm_logf(simd::Isa isa, const float* x, float* y, size_t n);

}  // namespace pullback
