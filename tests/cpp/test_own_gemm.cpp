// own_sgemm (backend/cpu/own_gemm.h) against a double-accumulated reference, on every set of
// kernels this CPU runs (AVX-512, AVX2): sizes around the tile edges (12 or 6 rows, 32 or 16
// columns, 256 steps), transposed operands, leading dimensions wider than the matrices, and the
// same bits whether the product is split over the pool or not.
#include "pullback/backend/cpu/own_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "pullback/backend/cpu/simd_math.h"

using pullback::cpu::own_sgemm_on;
using pullback::cpu::SgemmOperand;
using pullback::simd::Isa;

namespace {

// A rows x cols matrix stored row-major (or transposed: column-major) with `pad` spare
// elements at the end of each stored line, filled with NaN so that a read of them shows.
struct Stored {
  std::vector<float> data;
  int64_t rs = 0, cs = 0;
  Stored(int64_t rows, int64_t cols, bool transposed, int64_t pad, std::mt19937& gen) {
    const int64_t lines = transposed ? cols : rows, width = (transposed ? rows : cols) + pad;
    data.assign(static_cast<size_t>(lines * width), NAN);
    rs = transposed ? 1 : width;
    cs = transposed ? width : 1;
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) data[static_cast<size_t>(i * rs + j * cs)] = dist(gen);
    }
  }
  float at(int64_t i, int64_t j) const { return data[static_cast<size_t>(i * rs + j * cs)]; }
  SgemmOperand operand() const { return {data.data(), rs, cs}; }
};

// The kernel sets this CPU runs.
std::vector<Isa> isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Avx512, Isa::Avx2}) {
    if (pullback::simd::kernels_for(isa) != nullptr) out.push_back(isa);
  }
  return out;
}

// Runs one product both ways (split over the pool and on one thread) on the kernels of `isa`
// and checks each against the reference, the two against each other bit for bit, and the
// padding of c untouched.
void check_on(Isa isa, int64_t m, int64_t n, int64_t k, bool ta, bool tb, int64_t pad) {
  const std::string what = std::string(pullback::simd::isa_name(isa)) + " " + std::to_string(m) +
                           "x" + std::to_string(k) + "x" + std::to_string(n) +
                           " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                           " pad=" + std::to_string(pad);
  std::mt19937 gen(static_cast<unsigned>(m * 1000003 + n * 1009 + k * 7 + ta * 2 + tb));
  const Stored a(m, k, ta, pad, gen), b(k, n, tb, pad, gen);
  const int64_t ldc = n + pad;
  std::vector<float> threaded(static_cast<size_t>(m * ldc), -7.0f), single = threaded;
  ASSERT_TRUE(own_sgemm_on(isa, m, n, k, a.operand(), b.operand(), threaded.data(), ldc, true));
  ASSERT_TRUE(own_sgemm_on(isa, m, n, k, a.operand(), b.operand(), single.data(), ldc, false));
  ASSERT_EQ(0, std::memcmp(threaded.data(), single.data(), threaded.size() * sizeof(float)))
      << what;
  // float32 rounding grows with k: each partial sum has a relative error of a few 2^-24.
  const double tol = 1e-6 * (8.0 + static_cast<double>(k));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = threaded[static_cast<size_t>(i * ldc + j)];
      if (j >= n) {
        ASSERT_EQ(got, -7.0f) << what << " wrote past the row at (" << i << ", " << j << ")";
        continue;
      }
      double want = 0.0;
      for (int64_t p = 0; p < k; ++p) want += double(a.at(i, p)) * double(b.at(p, j));
      ASSERT_NEAR(got, want, tol) << what << " at (" << i << ", " << j << ")";
    }
  }
}

void check(int64_t m, int64_t n, int64_t k, bool ta, bool tb, int64_t pad = 0) {
  for (Isa isa : isas()) check_on(isa, m, n, k, ta, tb, pad);
}

bool available() { return !isas().empty(); }

}  // namespace

TEST(OwnGemm, SizesAroundTheTileEdges) {
  if (!available()) GTEST_SKIP() << "neither AVX-512 nor AVX2 on this CPU";
  const int64_t sizes[] = {1, 2, 5, 6, 7, 11, 12, 13, 16, 17, 31, 32, 33, 100, 255, 256, 257};
  for (int64_t m : sizes) {
    for (int64_t n : sizes) {
      for (int64_t k : {int64_t(1), int64_t(13), int64_t(256), int64_t(257)}) {
        check(m, n, k, false, false);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(OwnGemm, TransposedOperandsAndWideRows) {
  if (!available()) GTEST_SKIP() << "neither AVX-512 nor AVX2 on this CPU";
  const int64_t shapes[][3] = {{1, 33, 700},   {2, 700, 11},   {12, 32, 256},  {13, 31, 257},
                               {33, 12, 100},  {100, 257, 33}, {255, 256, 13}, {257, 100, 255},
                               {700, 11, 31},  {700, 257, 2},  {31, 700, 700}, {256, 256, 512},
                               {11, 1, 257},   {257, 2, 1}};
  for (const auto& s : shapes) {
    for (int t = 0; t < 4; ++t) {
      for (int64_t pad : {int64_t(0), int64_t(5), int64_t(16)}) {
        check(s[0], s[1], s[2], t & 1, t & 2, pad);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(OwnGemm, LeadingDimensionsOnFewCacheSets) {
  // Rows 1 KiB to 4 KiB apart map onto a few L1 sets: such an a is packed, not read in place.
  if (!available()) GTEST_SKIP() << "neither AVX-512 nor AVX2 on this CPU";
  for (int64_t k : {int64_t(256), int64_t(512), int64_t(1024)}) {
    check(100, 70, k, false, false);
    check(100, 70, k, false, true);
    if (HasFatalFailure()) return;
  }
}

TEST(OwnGemm, AccumulatesIntoC) {
  // c += a @ b (conv.cpp sums blocks of taps this way): the product lands on top of what c held,
  // including the thin shapes that would otherwise run as dot products.
  if (!available()) GTEST_SKIP() << "neither AVX-512 nor AVX2 on this CPU";
  const int64_t shapes[][3] = {{33, 64, 576}, {64, 576, 227}, {100, 7, 300}, {12, 32, 600}};
  for (Isa isa : isas()) {
    for (const auto& s : shapes) {
      for (int t = 0; t < 4; ++t) {
        const int64_t m = s[0], n = s[1], k = s[2];
        std::mt19937 gen(static_cast<unsigned>(m + n * 31 + k * 7 + t));
        const Stored a(m, k, t & 1, 0, gen), b(k, n, t & 2, 0, gen), start(m, n, false, 0, gen);
        std::vector<float> c = start.data;
        ASSERT_TRUE(own_sgemm_on(isa, m, n, k, a.operand(), b.operand(), c.data(), n, t & 1, true));
        const double tol = 1e-6 * (8.0 + static_cast<double>(k));
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            double want = start.at(i, j);
            for (int64_t p = 0; p < k; ++p) want += double(a.at(i, p)) * double(b.at(p, j));
            ASSERT_NEAR(c[static_cast<size_t>(i * n + j)], want, tol)
                << pullback::simd::isa_name(isa) << " " << m << "x" << k << "x" << n;
          }
        }
      }
    }
  }
}
