// The float32 kernel tables: the same loops compiled three times (baseline x86-64, AVX2+FMA,
// AVX-512) and picked once by what the CPU supports.
//
// FP contraction is off in this file so that a * b + c is never fused behind our back: the
// kernels fuse exactly where simd_math.h's madd<true> asks, which makes the AVX2 and AVX-512
// tables return identical bits (and the tests of one vouch for the other).
#pragma GCC optimize("-ffp-contract=off")

#include "pullback/backend/cpu/simd_math.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace pullback::simd {
namespace {

template <float (*F)(float)>
PB_SIMD_INLINE void map(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = F(x[i]);
}

// As map, for functions whose fast form covers only part of the range: each block is checked
// first, and a block holding an input outside it is done element by element with `Slow`
// there. Checking before writing keeps this right when y aliases x.
template <float (*F)(float), float (*Slow)(float)>
PB_SIMD_INLINE void map_checked(const float* x, float* y, size_t n) {
  constexpr size_t kBlock = 512;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = n - b < kBlock ? n : b + kBlock;
    uint32_t outside = 0;
    for (size_t i = b; i < e; ++i) outside |= trig_needs_libm(x[i]);
    if (!outside) {
      for (size_t i = b; i < e; ++i) y[i] = F(x[i]);
    } else {
      for (size_t i = b; i < e; ++i) {
        const float v = x[i];
        y[i] = trig_needs_libm(v) ? Slow(v) : F(v);
      }
    }
  }
}

template <float (*F)(float, float), Operands kForm>
PB_SIMD_INLINE void map2(const float* a, const float* b, float* y, size_t n) {
  if constexpr (kForm == Operands::VectorVector) {
    for (size_t i = 0; i < n; ++i) y[i] = F(a[i], b[i]);
  } else if constexpr (kForm == Operands::ScalarVector) {
    const float s = a[0];
    for (size_t i = 0; i < n; ++i) y[i] = F(s, b[i]);
  } else {
    const float s = b[0];
    for (size_t i = 0; i < n; ++i) y[i] = F(a[i], s);
  }
}

float libm_sin(float x) { return std::sin(x); }
float libm_cos(float x) { return std::cos(x); }

PB_SIMD_INLINE float sqrt_op(float x) { return std::sqrt(x); }
PB_SIMD_INLINE float negative_op(float x) { return -x; }
PB_SIMD_INLINE float abs_op(float x) { return abs_f(x); }
PB_SIMD_INLINE float square_op(float x) { return x * x; }

PB_SIMD_INLINE float add_op(float x, float y) { return x + y; }
PB_SIMD_INLINE float subtract_op(float x, float y) { return x - y; }
PB_SIMD_INLINE float multiply_op(float x, float y) { return x * y; }
PB_SIMD_INLINE float divide_op(float x, float y) { return x / y; }
// NaN in either operand propagates (as in binary.cpp).
PB_SIMD_INLINE float maximum_op(float x, float y) { return (x > y || x != x) ? x : y; }
PB_SIMD_INLINE float minimum_op(float x, float y) { return (x < y || x != x) ? x : y; }

// Eight vectors in flight: each step's multiply and add depend on the previous step's, so the
// latency of the chain is hidden only by that many independent vectors. kBytes is the target's
// register width: a wider generic vector than the target has is lowered through the stack
// (AVX2 code on 64-byte vectors ran the chain 5x slower than unfused passes).
template <size_t kBytes>
PB_SIMD_INLINE void affine_chain(const float* x, float* y, size_t n, const float* mul,
                                 const float* add, size_t steps) {
  // Unaligned access through a 4-byte-aligned vector type (memcpy into an array of vectors
  // left the array on the stack).
  typedef float vec __attribute__((vector_size(kBytes), aligned(4), may_alias));
  constexpr size_t kLanes = kBytes / sizeof(float), kVectors = 8, kWidth = kLanes * kVectors;
  size_t i = 0;
  for (; i + kWidth <= n; i += kWidth) {
    vec v[kVectors];
#pragma GCC unroll 8
    for (size_t j = 0; j < kVectors; ++j) v[j] = *reinterpret_cast<const vec*>(x + i + kLanes * j);
    for (size_t s = 0; s < steps; ++s) {
      const float m = mul[s], p = add[s];
#pragma GCC unroll 8
      for (size_t j = 0; j < kVectors; ++j) v[j] = v[j] * m + p;
    }
#pragma GCC unroll 8
    for (size_t j = 0; j < kVectors; ++j) *reinterpret_cast<vec*>(y + i + kLanes * j) = v[j];
  }
  for (; i < n; ++i) {
    float v = x[i];
    for (size_t s = 0; s < steps; ++s) v = v * mul[s] + add[s];
    y[i] = v;
  }
}

}  // namespace

// One namespace of kernels per instruction set. ATTR is the target attribute, FMA whether the
// polynomials fuse.
#define PB_UNARY(name, fn) \
  ATTR void name(const float* x, float* y, size_t n) { map<fn>(x, y, n); }
#define PB_BINARY(name, fn)                                                        \
  ATTR void name##_vv(const float* a, const float* b, float* y, size_t n) {         \
    map2<fn, Operands::VectorVector>(a, b, y, n);                                   \
  }                                                                                 \
  ATTR void name##_sv(const float* a, const float* b, float* y, size_t n) {         \
    map2<fn, Operands::ScalarVector>(a, b, y, n);                                   \
  }                                                                                 \
  ATTR void name##_vs(const float* a, const float* b, float* y, size_t n) {         \
    map2<fn, Operands::VectorScalar>(a, b, y, n);                                   \
  }
#define PB_KERNELS                                                                      \
  PB_UNARY(exp_k, simd::exp<FMA>)                                                       \
  PB_UNARY(expm1_k, simd::expm1<FMA>)                                                   \
  PB_UNARY(log_k, simd::log<FMA>)                                                       \
  PB_UNARY(log1p_k, simd::log1p<FMA>)                                                   \
  PB_UNARY(tanh_k, simd::tanh<FMA>)                                                     \
  PB_UNARY(sigmoid_k, simd::sigmoid<FMA>)                                               \
  PB_UNARY(erf_k, simd::erf<FMA>)                                                       \
  PB_UNARY(sqrt_k, sqrt_op)                                                             \
  PB_UNARY(negative_k, negative_op)                                                     \
  PB_UNARY(abs_k, abs_op)                                                               \
  PB_UNARY(square_k, square_op)                                                         \
  ATTR void sin_k(const float* x, float* y, size_t n) {                                 \
    map_checked<simd::sin<FMA>, libm_sin>(x, y, n);                                     \
  }                                                                                     \
  ATTR void cos_k(const float* x, float* y, size_t n) {                                 \
    map_checked<simd::cos<FMA>, libm_cos>(x, y, n);                                     \
  }                                                                                     \
  PB_BINARY(add, add_op)                                                                \
  PB_BINARY(subtract, subtract_op)                                                      \
  PB_BINARY(multiply, multiply_op)                                                      \
  PB_BINARY(divide, divide_op)                                                          \
  PB_BINARY(maximum, maximum_op)                                                        \
  PB_BINARY(minimum, minimum_op)                                                        \
  ATTR void affine_k(const float* x, float* y, size_t n, const float* mul,              \
                     const float* add, size_t steps) {                                  \
    affine_chain<VECTOR_BYTES>(x, y, n, mul, add, steps);                               \
  }                                                                                     \
  const KernelTable table{                                                              \
      ISA,                                                                              \
      {exp_k, expm1_k, log_k, log1p_k, sin_k, cos_k, tanh_k, sigmoid_k, erf_k, sqrt_k,  \
       negative_k, abs_k, square_k},                                                    \
      {{add_vv, add_sv, add_vs},                                                        \
       {subtract_vv, subtract_sv, subtract_vs},                                         \
       {multiply_vv, multiply_sv, multiply_vs},                                         \
       {divide_vv, divide_sv, divide_vs},                                               \
       {maximum_vv, maximum_sv, maximum_vs},                                            \
       {minimum_vv, minimum_sv, minimum_vs}},                                           \
      affine_k};

namespace baseline {
#define ATTR
#define FMA false
#define ISA Isa::Baseline
#define VECTOR_BYTES 16
PB_KERNELS
#undef ATTR
#undef FMA
#undef ISA
#undef VECTOR_BYTES
}  // namespace baseline

namespace avx2 {
#define ATTR __attribute__((target("avx2,fma")))
#define FMA true
#define ISA Isa::Avx2
#define VECTOR_BYTES 32
PB_KERNELS
#undef ATTR
#undef FMA
#undef ISA
#undef VECTOR_BYTES
}  // namespace avx2

namespace avx512 {
#define ATTR __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")))
#define FMA true
#define ISA Isa::Avx512
#define VECTOR_BYTES 64
PB_KERNELS
#undef ATTR
#undef FMA
#undef ISA
#undef VECTOR_BYTES
}  // namespace avx512

#undef PB_UNARY
#undef PB_BINARY
#undef PB_KERNELS

namespace {
bool cpu_has(Isa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case Isa::Baseline: return true;
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512:
      return cpu_has(Isa::Avx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw");
  }
  return false;
}

// PULLBACK_ISA=baseline|avx2|avx512 caps the choice (for benchmarks and tests).
const KernelTable& pick() {
  Isa cap = Isa::Avx512;
  if (const char* env = std::getenv("PULLBACK_ISA")) {
    if (!std::strcmp(env, "baseline")) cap = Isa::Baseline;
    else if (!std::strcmp(env, "avx2")) cap = Isa::Avx2;
  }
  if (cap == Isa::Avx512 && cpu_has(Isa::Avx512)) return avx512::table;
  if (cap != Isa::Baseline && cpu_has(Isa::Avx2)) return avx2::table;
  return baseline::table;
}
}  // namespace

const KernelTable& kernels() {
  static const KernelTable& chosen = pick();
  return chosen;
}

const KernelTable* kernels_for(Isa isa) {
  if (!cpu_has(isa)) return nullptr;
  switch (isa) {
    case Isa::Baseline: return &baseline::table;
    case Isa::Avx2: return &avx2::table;
    case Isa::Avx512: return &avx512::table;
  }
  return nullptr;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Baseline: return "baseline";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

}  // namespace pullback::simd
