// The normal sampler's logf (backend/cpu/libm_logf.h, kernels in random.cpp) against
// std::log bit for bit, on every instruction set this CPU runs: every float in [1/2, 1] (where
// libm's logf is furthest from correctly rounded) and in [2^-20, 2^-19), the special values,
// and with PULLBACK_LOGF_EXHAUSTIVE=1 every float in (0, 1] (about 20 s a set). Run it once
// more under GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA to check against glibc's other logf.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "pullback/backend/cpu/libm_logf.h"

using namespace pullback;
using simd::Isa;

namespace {

std::vector<Isa> isas_here() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Baseline, Isa::Avx2, Isa::Avx512}) {
    if (simd::kernels_for(isa)) out.push_back(isa);
  }
  return out;
}

bool same_result(float ours, float libm) {
  return std::isnan(ours) ? std::isnan(libm) : simd::as_bits(ours) == simd::as_bits(libm);
}

// Every float with bits in [first, last] through the kernel of `isa`, in chunks (odd sizes,
// so that the kernel's tails are crossed too); returns the mismatches, reporting a few.
size_t mismatches_in(Isa isa, uint32_t first, uint32_t last) {
  constexpr size_t kChunk = (size_t(1) << 20) + 3;
  std::vector<float> x(kChunk), y(kChunk);
  size_t bad = 0;
  for (uint64_t start = first; start <= last; start += kChunk) {
    const size_t n = size_t(std::min<uint64_t>(kChunk, uint64_t(last) - start + 1));
    for (size_t i = 0; i < n; ++i) x[i] = simd::as_float(uint32_t(start + i));
    libm_logf(isa, x.data(), y.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const float libm = std::log(x[i]);
      if (same_result(y[i], libm)) continue;
      if (++bad <= 5) {
        ADD_FAILURE() << simd::isa_name(isa) << ": logf(" << x[i] << " = 0x" << std::hex
                      << simd::as_bits(x[i]) << ") gave 0x" << simd::as_bits(y[i])
                      << ", libm 0x" << simd::as_bits(libm) << std::dec;
      }
    }
  }
  return bad;
}

TEST(LibmLogf, EveryFloatFromHalfToOne) {
  for (Isa isa : isas_here()) {
    EXPECT_EQ(mismatches_in(isa, simd::as_bits(0.5f), simd::as_bits(1.0f)), 0u)
        << simd::isa_name(isa);
  }
}

TEST(LibmLogf, EveryFloatInOneLowBinade) {
  for (Isa isa : isas_here()) {
    EXPECT_EQ(mismatches_in(isa, simd::as_bits(0x1p-20f), simd::as_bits(0x1p-19f) - 1), 0u)
        << simd::isa_name(isa);
  }
}

TEST(LibmLogf, EveryFloatUpToOneWhenAsked) {
  const char* env = std::getenv("PULLBACK_LOGF_EXHAUSTIVE");
  if (!env || std::strcmp(env, "1") != 0) {
    GTEST_SKIP() << "set PULLBACK_LOGF_EXHAUSTIVE=1 to try every float in (0, 1]";
  }
  for (Isa isa : isas_here()) {
    EXPECT_EQ(mismatches_in(isa, 1u, simd::as_bits(1.0f)), 0u) << simd::isa_name(isa);
  }
}

// Outside [2^-126, 1] every lane goes to libm: zeros, subnormals, x > 1, negatives, inf, NaN;
// mixed into a block with ordinary inputs so that the flagged lanes sit among others.
TEST(LibmLogf, SpecialValuesMatchLibm) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> specials = {
      0.0f, -0.0f, std::numeric_limits<float>::denorm_min(), 1e-40f,
      std::numeric_limits<float>::min(), std::nextafter(std::numeric_limits<float>::min(), 0.f),
      1.0f, std::nextafter(1.0f, 2.0f), 1.5f, 2.0f, 1e30f, std::numeric_limits<float>::max(),
      inf, -inf, -1.0f, -0.5f, std::numeric_limits<float>::quiet_NaN(), 0.75f, 0.999f, 1e-30f};
  std::vector<float> x;
  for (int rep = 0; rep < 40; ++rep) {
    for (size_t i = 0; i < specials.size(); ++i) {
      x.push_back(specials[(i * 7 + rep) % specials.size()]);
      x.push_back(0.3f + 0.01f * float(rep) + 0.001f * float(i));
    }
  }
  for (Isa isa : isas_here()) {
    for (size_t n : {size_t(1), size_t(7), size_t(255), size_t(256), size_t(257), x.size()}) {
      std::vector<float> y(n);
      libm_logf(isa, x.data(), y.data(), n);
      for (size_t i = 0; i < n; ++i) {
        EXPECT_TRUE(same_result(y[i], std::log(x[i])))
            << simd::isa_name(isa) << " n=" << n << " x=" << x[i] << " gave " << y[i];
      }
    }
  }
}

}  // namespace
