// A float32 gemm for small products, written for AVX-512 (runtime dispatch).
//
// Why our own: OpenBLAS's single-threaded sgemm reached about 110-130 GFLOP/s per core on
// 128^3 products where MKL (PyTorch's) reaches about 150, so batches of small products, which
// run one product per pool thread, trailed PyTorch. b is packed, per block of kKC steps along k,
// into slivers of kNR columns (two vectors per step, zero past n) with vector copies; a is read
// in place (one broadcast per row and step), since packing it is a transposition whose scalar
// moves cost as much as the arithmetic of a 64^3 product. A 12 x 32 tile keeps 24 accumulators
// in registers; the 12 rows of a block (12 KiB) stay in L1 while the packed b streams past them
// in order from L2. Each product runs on one thread in a fixed order, so results do not depend
// on the thread count.
#include "pullback/backend/cpu/small_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "pullback/backend/cpu/simd_math.h"

namespace pullback::cpu {
namespace {

constexpr int64_t kMR = 12;   // rows per tile
constexpr int64_t kNR = 32;   // columns per tile: two 16-float vectors
constexpr int64_t kKC = 256;  // steps along k per packed block

#define PB_AVX512 __attribute__((target("avx512f,avx2,fma,prefer-vector-width=512")))

// Columns of b (kc rows from row 0) into slivers of kNR columns: sliver s holds b(p, s * kNR + j)
// at out[s * kNR * kc + p * kNR + j]; columns past n are zero. b is row-major (b(p, j) at
// b[p * ldb + j]): the copy is two vector moves per row of a sliver.
PB_AVX512 void pack_b(const float* b, int64_t ldb, int64_t n, int64_t kc, float* out) {
  for (int64_t j0 = 0; j0 < n; j0 += kNR) {
    const int64_t cols = std::min(kNR, n - j0);
    float* dst = out + j0 * kc;
    const float* src = b + j0;
    if (cols == kNR) {
      for (int64_t p = 0; p < kc; ++p, src += ldb, dst += kNR) {
        _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
        _mm512_storeu_ps(dst + 16, _mm512_loadu_ps(src + 16));
      }
    } else {
      std::fill(dst, dst + kc * kNR, 0.0f);
      for (int64_t p = 0; p < kc; ++p, src += ldb, dst += kNR) std::copy(src, src + cols, dst);
    }
  }
}

// c (R x cols, row stride ldc) = (or += when `add`) rows of a times the packed b sliver. a is
// read in place: a(r, p) at a[r * a_rs + p] when a is row-major, at a[r + p * a_cs] otherwise.
template <int R, bool kTransposedA>
PB_AVX512 void tile(int64_t kc, const float* a, int64_t a_rs, int64_t a_cs, const float* bp,
                    float* c, int64_t ldc, int64_t cols, bool add) {
  const int64_t row_step = kTransposedA ? 1 : a_rs, k_step = kTransposedA ? a_cs : 1;
  __m512 lo[R], hi[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, a += k_step, bp += kNR) {
    const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * row_step]);
      lo[r] = _mm512_fmadd_ps(x, b0, lo[r]);
      hi[r] = _mm512_fmadd_ps(x, b1, hi[r]);
    }
  }
  if (cols == kNR) {
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      float* row = c + r * ldc;
      if (add) {
        lo[r] = _mm512_add_ps(lo[r], _mm512_loadu_ps(row));
        hi[r] = _mm512_add_ps(hi[r], _mm512_loadu_ps(row + 16));
      }
      _mm512_storeu_ps(row, lo[r]);
      _mm512_storeu_ps(row + 16, hi[r]);
    }
    return;
  }
  // The last columns: through a buffer, so nothing past the row's end is touched.
  alignas(64) float buf[kNR];
  for (int r = 0; r < R; ++r) {
    float* row = c + r * ldc;
    _mm512_store_ps(buf, lo[r]);
    _mm512_store_ps(buf + 16, hi[r]);
    for (int64_t j = 0; j < cols; ++j) row[j] = add ? row[j] + buf[j] : buf[j];
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, float*, int64_t,
                       int64_t, bool);
template <bool T>
constexpr TileFn kTiles[kMR] = {tile<1, T>, tile<2, T>, tile<3, T>, tile<4, T>,
                                tile<5, T>, tile<6, T>, tile<7, T>, tile<8, T>,
                                tile<9, T>, tile<10, T>, tile<11, T>, tile<12, T>};

}  // namespace

bool small_sgemm_suits(int64_t m, int64_t n, int64_t k) {
  static const bool available = simd::kernels().isa == simd::Isa::Avx512;
  const double flops = static_cast<double>(m) * n * k;
  // Up to 2^18 multiply-adds OpenBLAS runs its small-matrix kernels, which skip packing and
  // were as fast or faster (64^3: ~155 against ~135 GFLOP/s); the packed b (kept per thread)
  // stays within 1 MiB.
  return available && m > 1 && n > 1 && flops > double(1 << 18) && flops <= double(1 << 24) &&
         n * std::min(k, kKC) <= (int64_t(1) << 18);
}

void small_sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                 const float* b, int64_t ldb, float* c) {
  const int64_t kc_max = std::min(k, kKC);
  const int64_t n_pad = (n + kNR - 1) / kNR * kNR;
  // Per thread and kept between calls: a batch reuses it for every product. 16 floats of slack
  // align the start to 64 bytes.
  thread_local std::vector<float> scratch;
  const size_t need = static_cast<size_t>(n_pad * kc_max + 16);
  if (scratch.size() < need) scratch.resize(need);
  float* bp = scratch.data();
  bp += (64 - reinterpret_cast<uintptr_t>(bp) % 64) % 64 / sizeof(float);
  const TileFn* tiles = a_cs == 1 ? kTiles<false> : kTiles<true>;
  // The rows in as few tiles as kMR allows, of near-equal heights (128 rows: 7 of 12 and 4 of
  // 11 rather than 10 of 12 and one of 8, whose 16 accumulators keep the FMA units less busy).
  const int64_t slivers = (m + kMR - 1) / kMR, base = m / slivers, taller = m % slivers;
  auto sliver_rows = [&](int64_t s) { return base + (s < taller ? 1 : 0); };
  for (int64_t k0 = 0; k0 < k; k0 += kKC) {
    const int64_t kc = std::min(kKC, k - k0);
    pack_b(b + k0 * ldb, ldb, n, kc, bp);
    for (int64_t s = 0, i0 = 0; s < slivers; i0 += sliver_rows(s), ++s) {
      const int64_t rows = sliver_rows(s);
      for (int64_t j0 = 0; j0 < n; j0 += kNR) {
        const int64_t cols = std::min(kNR, n - j0);
        tiles[rows - 1](kc, a + i0 * a_rs + k0 * a_cs, a_rs, a_cs, bp + j0 * kc, c + i0 * n + j0, n,
                        cols, k0 > 0);
      }
    }
  }
}

#undef PB_AVX512

}  // namespace pullback::cpu
