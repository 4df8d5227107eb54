// own_sgemm's kernels for AVX-512: 16-float vectors, tiles of 12 rows by 32 columns (24
// accumulators of the 32 registers). The kernels themselves are in own_gemm_kernels.inc.
#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "pullback/backend/cpu/own_gemm_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx2,fma,prefer-vector-width=512")

namespace pullback::cpu::gemm {
namespace avx512 {

using Vec = __m512;
using Mask = __mmask16;
constexpr int64_t kW = 16;
constexpr int64_t kMR = 12;
constexpr int kDotAccumulators = 24;

inline Mask mask_of(int64_t count) {
  return count >= 16 ? Mask(0xFFFF) : Mask((1u << (count > 0 ? count : 0)) - 1);
}
inline Vec zero() { return _mm512_setzero_ps(); }
inline Vec load(const float* p) { return _mm512_load_ps(p); }
inline Vec load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
inline void store(float* p, Vec v) { _mm512_store_ps(p, v); }
inline void store_unaligned(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline void store(float* p, Vec v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
inline Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec add_vec(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline void store8(float* p, __m256 v, int64_t count) {
  _mm256_mask_storeu_ps(p, static_cast<__mmask8>(mask_of(count < 8 ? count : 8)), v);
}
inline float sum(Vec v) {
  // (The masked forms: GCC 12 warns about the unmasked ones' undefined pass-through operand.)
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, 0x4E));  // halves
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, 0xB1));  // quarters
  __m128 x = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, v, 0);
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

#include "pullback/backend/cpu/own_gemm_kernels.inc"

}  // namespace avx512

// Blocks of 512 steps by 512 columns: the packed block (1 MiB) stays in the L2 of the
// AVX-512 machines measured (1-2 MiB), and a 512-step product writes c once.
extern const Kernels kAvx512Kernels = avx512::make_kernels(512, 512);

}  // namespace pullback::cpu::gemm

#pragma GCC pop_options
