// own_sgemm's kernels for AVX2 and FMA: 8-float vectors, tiles of 6 rows by 16 columns (12
// accumulators, two slivers and a broadcast fill the 16 registers). The kernels themselves are
// in own_gemm_kernels.inc.
//
// Measured on an AMD EPYC (Zen 3, 2 cores), GFLOP/s of c = a @ b, both threads, m x k x n
// (OpenBLAS 0.3 from scipy-openblas / ours / PyTorch's MKL):
//   256x784x512   181 / 182 / 167      2048x256x1024  181 / 174 / 172
//   256x512x10     51 /  85 /  22      128x64x128      66 / 135 /  96
// Large products tie with OpenBLAS (both near the FMA units' peak); narrow and small ones,
// which a training step is full of, run up to twice as fast.
#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "pullback/backend/cpu/own_gemm_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace pullback::cpu::gemm {
namespace avx2 {

using Vec = __m256;
constexpr int64_t kW = 8;
constexpr int64_t kMR = 6;
constexpr int kDotAccumulators = 12;

// A lane mask, and whether it is all lanes (then the plain load and store, which are faster
// than the masked ones, above all the store on AMD's cores).
struct Mask {
  __m256i lanes;
  bool all;
};
inline Mask mask_of(int64_t count) {
  const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int n = static_cast<int>(count < 0 ? 0 : count > 8 ? 8 : count);
  return {_mm256_cmpgt_epi32(_mm256_set1_epi32(n), index), n == 8};
}
inline Vec zero() { return _mm256_setzero_ps(); }
inline Vec load(const float* p) { return _mm256_load_ps(p); }
inline Vec load(const float* p, Mask m) {
  return m.all ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m.lanes);
}
inline void store(float* p, Vec v) { _mm256_store_ps(p, v); }
inline void store_unaligned(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline void store(float* p, Vec v, Mask m) {
  if (m.all) {
    _mm256_storeu_ps(p, v);
  } else {
    _mm256_maskstore_ps(p, m.lanes, v);
  }
}
inline Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec add_vec(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline void store8(float* p, __m256 v, int64_t count) { store(p, v, mask_of(count)); }
inline float sum(Vec v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // halves
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

#include "pullback/backend/cpu/own_gemm_kernels.inc"

}  // namespace avx2

// Blocks of 512 steps by 128 columns: the packed block (256 KiB) stays in the 512 KiB L2 of
// AMD's Zen cores while a's rows (6 x 512 floats) stay in L1.
extern const Kernels kAvx2Kernels = avx2::make_kernels(512, 128);

}  // namespace pullback::cpu::gemm

#pragma GCC pop_options
