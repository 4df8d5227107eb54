// CPU kernels of the random family: threefry2x32 words, the fused standard normal, and the
// covariance square root of multivariate_normal.
//
// The generator loops are written so that GCC vectorizes them (the 20 rounds are 32-bit adds,
// rotations and xors on independent counters); one copy per instruction set, picked with the
// elementwise kernels' choice (simd::kernels().isa, which PULLBACK_ISA caps). Every copy gives
// the same bits: integer arithmetic, and the normal's float steps are written out one
// rounding at a time (no contraction, fused multiply-adds only where MLX's erfinv has them).
// The normal's log (libm_logf.h) is libm's logf in every copy, though its double steps fuse
// on AVX2 and AVX-512 only: they decide which lanes libm recomputes, not the result.
#pragma GCC optimize("-ffp-contract=off")

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "pullback/backend/cpu/libm_logf.h"
#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/simd_math.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/primitives/random.h"

namespace pullback {

namespace {

#define PB_RANDOM_INLINE inline __attribute__((always_inline))

PB_RANDOM_INLINE uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// Threefry2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"):
// five groups of four rounds, a key injection after each.
PB_RANDOM_INLINE void threefry(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t& y0,
                               uint32_t& y1) {
  const uint32_t ks[3] = {k0, k1, k0 ^ k1 ^ 0x1BD11BDAu};
  uint32_t x0 = c0 + ks[0], x1 = c1 + ks[1];
#define PB_ROUND(r) x0 += x1, x1 = rotl(x1, r) ^ x0
#define PB_INJECT(g) x0 += ks[((g) + 1) % 3], x1 += ks[((g) + 2) % 3] + uint32_t((g) + 1)
  PB_ROUND(13); PB_ROUND(15); PB_ROUND(26); PB_ROUND(6);  PB_INJECT(0);
  PB_ROUND(17); PB_ROUND(29); PB_ROUND(16); PB_ROUND(24); PB_INJECT(1);
  PB_ROUND(13); PB_ROUND(15); PB_ROUND(26); PB_ROUND(6);  PB_INJECT(2);
  PB_ROUND(17); PB_ROUND(29); PB_ROUND(16); PB_ROUND(24); PB_INJECT(3);
  PB_ROUND(13); PB_ROUND(15); PB_ROUND(26); PB_ROUND(6);  PB_INJECT(4);
#undef PB_ROUND
#undef PB_INJECT
  y0 = x0;
  y1 = x1;
}

constexpr float kTwoPow32Inv = 2.3283064365386963e-10f;  // 2^-32
constexpr float kBelowOne = 0.99999994f;                  // nextafter(1, 0)
constexpr float kAboveMinusOne = -0.99999994f;            // nextafter(-1, 0)

// The uniform sample of MLX's normal: min(w / 2^32, nextafter(1, 0)) mapped to
// [nextafter(-1, 0), 1) as range * u + low, where range = 1 - low rounds to 2.
// Without AVX-512's unsigned conversion, float(w) is built from the two 16-bit halves (each
// converts exactly, the sum rounds once, so it is the correctly rounded float(w) too): GCC
// leaves a loop with float(uint32_t) scalar on AVX2.
template <bool kUnsignedConvert>
PB_RANDOM_INLINE float normal_uniform(uint32_t w) {
  const float whole = kUnsignedConvert
                          ? float(w)
                          : float(int32_t(w >> 16)) * 65536.0f + float(int32_t(w & 0xffffu));
  float u = whole * kTwoPow32Inv;
  u = simd::select(u < kBelowOne, u, kBelowOne);
  return 2.0f * u + kAboveMinusOne;
}

// Juffa's single-precision erfinv: a polynomial in t = log(1 - a^2), one for each side of
// |t| = 6.125, evaluated with fused multiply-adds; both are computed and one selected so that
// the loop vectorizes.
PB_RANDOM_INLINE float erfinv_poly(float a, float t) {
  float p = 3.03697567e-10f;
  p = __builtin_fmaf(p, t, 2.93243101e-8f);
  p = __builtin_fmaf(p, t, 1.22150334e-6f);
  p = __builtin_fmaf(p, t, 2.84108955e-5f);
  p = __builtin_fmaf(p, t, 3.93552968e-4f);
  p = __builtin_fmaf(p, t, 3.02698812e-3f);
  p = __builtin_fmaf(p, t, 4.83185798e-3f);
  p = __builtin_fmaf(p, t, -2.64646143e-1f);
  p = __builtin_fmaf(p, t, 8.40016484e-1f);
  float q = 5.43877832e-9f;
  q = __builtin_fmaf(q, t, 1.43285448e-7f);
  q = __builtin_fmaf(q, t, 1.22774793e-6f);
  q = __builtin_fmaf(q, t, 1.12963626e-7f);
  q = __builtin_fmaf(q, t, -5.61530760e-5f);
  q = __builtin_fmaf(q, t, -1.47697632e-4f);
  q = __builtin_fmaf(q, t, 2.31468678e-3f);
  q = __builtin_fmaf(q, t, 1.15392581e-2f);
  q = __builtin_fmaf(q, t, -2.32015476e-1f);
  q = __builtin_fmaf(q, t, 8.86226892e-1f);
  return a * simd::select(simd::abs_f(t) > 6.125f, p, q);
}

// Pairs per block of the normal kernel: its scratch stays in L1.
constexpr size_t kNormalBlock = 256;

// Positions of the set bits of each 8-bit mask, one a byte from the lowest, and their count:
// for gathering the flagged lanes without a branch per lane.
struct SetBitTable {
  uint64_t positions[256];
  uint8_t count[256];
  constexpr SetBitTable() : positions(), count() {
    for (int mask = 0; mask < 256; ++mask) {
      for (int bit = 0; bit < 8; ++bit) {
        if (mask >> bit & 1) positions[mask] |= uint64_t(bit) << (8 * count[mask]++);
      }
    }
  }
};
constexpr SetBitTable kSetBits;

// libm's logf of x[0..n) into y[0..n) (n <= kNormalBlock, x and y apart): the double route of
// libm_logf.h, vectorized, then std::log for the flagged lanes (about 5% of the normal's), or
// for all lanes when `all_libm` (a libm the margins were not made for).
template <bool kFma>
PB_RANDOM_INLINE void logf_like_libm(const float* __restrict x, float* __restrict y, size_t n,
                                     bool all_libm) {
  static_assert(kNormalBlock <= 256, "lane numbers are bytes");
  // 32-bit flags: a narrower type would make GCC take 32 lanes a step, which spills.
  uint32_t flagged[kNormalBlock];
  for (size_t j = 0; j < n; ++j) {
    bool needs_libm;
    y[j] = logf_or_flag<kFma>(x[j], needs_libm);
    flagged[j] = needs_libm | all_libm;
  }
  for (size_t j = n; j % 8; ++j) flagged[j] = 0;
  // The flagged lane numbers, eight lanes a step: the eight 0/1 flags, read as four 64-bit
  // words (flag 2i at bit 0 of word i, flag 2i + 1 at bit 32), become an 8-bit mask whose
  // set-bit positions are stored at once.
  unsigned char lanes[kNormalBlock + 8];
  size_t count = 0;
  for (size_t j = 0; j < n; j += 8) {
    uint64_t pairs[4];
    std::memcpy(pairs, flagged + j, sizeof pairs);
    const uint64_t spread = pairs[0] | pairs[1] << 2 | pairs[2] << 4 | pairs[3] << 6;
    const unsigned mask = unsigned((spread | spread >> 31) & 0xffu);
    const uint64_t at = kSetBits.positions[mask] + uint64_t(j) * 0x0101010101010101ull;
    std::memcpy(lanes + count, &at, 8);
    count += kSetBits.count[mask];
  }
  for (size_t i = 0; i < count; ++i) y[lanes[i]] = std::log(x[lanes[i]]);
}

// The kernels of one instruction set. `pairs` writes words lo[j], hi[j] from the counters
// (c0 + j, c1 + j), j < n. `normal_block` writes erfinv of the normal's uniform samples for
// the same counters (n <= kNormalBlock); its log is libm's logf (MLX's log), bit for bit.
// `logf_block` is logf_like_libm over any n (for the tests).
#define PB_RANDOM_KERNELS                                                                    \
  ATTR void pairs(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1,                       \
                  uint32_t* __restrict lo, uint32_t* __restrict hi, size_t n) {             \
    for (size_t j = 0; j < n; ++j) {                                                        \
      threefry(k0, k1, c0 + uint32_t(j), c1 + uint32_t(j), lo[j], hi[j]);                   \
    }                                                                                       \
  }                                                                                         \
  ATTR void normal_block(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1,                \
                         float* __restrict lo, float* __restrict hi, size_t n,              \
                         bool all_libm) {                                                   \
    float t[2 * kNormalBlock], log_t[2 * kNormalBlock];                                     \
    for (size_t j = 0; j < n; ++j) {                                                        \
      uint32_t w0, w1;                                                                      \
      threefry(k0, k1, c0 + uint32_t(j), c1 + uint32_t(j), w0, w1);                         \
      const float a0 = normal_uniform<kUnsignedConvert>(w0);                                \
      const float a1 = normal_uniform<kUnsignedConvert>(w1);                                \
      lo[j] = a0;                                                                           \
      hi[j] = a1;                                                                           \
      t[j] = __builtin_fmaf(a0, 0.0f - a0, 1.0f);                                           \
      t[kNormalBlock + j] = __builtin_fmaf(a1, 0.0f - a1, 1.0f);                            \
    }                                                                                       \
    logf_like_libm<kFma>(t, log_t, n, all_libm);                                            \
    logf_like_libm<kFma>(t + kNormalBlock, log_t + kNormalBlock, n, all_libm);              \
    for (size_t j = 0; j < n; ++j) {                                                        \
      lo[j] = erfinv_poly(lo[j], log_t[j]);                                                 \
      hi[j] = erfinv_poly(hi[j], log_t[kNormalBlock + j]);                                  \
    }                                                                                       \
  }                                                                                         \
  ATTR void logf_block(const float* x, float* y, size_t n) {                                \
    for (size_t i = 0; i < n; i += kNormalBlock) {                                          \
      float chunk[kNormalBlock];                                                            \
      const size_t m = std::min(kNormalBlock, n - i);                                       \
      logf_like_libm<kFma>(x + i, chunk, m, false);                                         \
      std::memcpy(y + i, chunk, m * sizeof(float));                                         \
    }                                                                                       \
  }                                                                                         \
  const Kernels table{pairs, normal_block, logf_block};

struct Kernels {
  void (*pairs)(uint32_t, uint32_t, uint32_t, uint32_t, uint32_t*, uint32_t*, size_t);
  void (*normal_block)(uint32_t, uint32_t, uint32_t, uint32_t, float*, float*, size_t, bool);
  void (*logf_block)(const float*, float*, size_t);
};

namespace baseline {
constexpr bool kUnsignedConvert = false;
constexpr bool kFma = false;
#define ATTR
PB_RANDOM_KERNELS
#undef ATTR
}  // namespace baseline
namespace avx2 {
constexpr bool kUnsignedConvert = false;
constexpr bool kFma = true;
#define ATTR __attribute__((target("avx2,fma")))
PB_RANDOM_KERNELS
#undef ATTR
}  // namespace avx2
namespace avx512 {
constexpr bool kUnsignedConvert = true;
constexpr bool kFma = true;
#define ATTR __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")))
PB_RANDOM_KERNELS
#undef ATTR
}  // namespace avx512
#undef PB_RANDOM_KERNELS

const Kernels& kernels_of(simd::Isa isa) {
  switch (isa) {
    case simd::Isa::Avx512: return avx512::table;
    case simd::Isa::Avx2: return avx2::table;
    default: return baseline::table;
  }
}
const Kernels& kernels() { return kernels_of(simd::kernels().isa); }

// Whether this process's libm is the one the margins of libm_logf.h were made for, as far as
// one float in 2^14 of [2^-126, 1] tells (a different logf algorithm differs on a good share
// of them): otherwise the normal takes std::log for every lane (MLX's bits on that libm, at
// the old speed). Once per process, about half a millisecond.
bool libm_is_known() {
  static const bool known = [] {
    constexpr size_t kChunk = 4096;
    float x[kChunk], y[kChunk];
    const Kernels& k = kernels();
    for (uint32_t bits = libm_logf_detail::kLowestBits; bits <= libm_logf_detail::kOneBits;) {
      size_t n = 0;
      for (; n < kChunk && bits <= libm_logf_detail::kOneBits; ++n, bits += 1u << 14) {
        x[n] = simd::as_float(bits);
      }
      k.logf_block(x, y, n);
      for (size_t j = 0; j < n; ++j) {
        if (simd::as_bits(y[j]) != simd::as_bits(std::log(x[j]))) return false;
      }
    }
    return true;
  }();
  return known;
}

// Pairs per parallel chunk: enough work (about 50 ns a pair) to pay for taking a chunk.
constexpr size_t kPairGrain = size_t(1) << 13;

// Key `i` of a (..., 2) uint32 array of keys in any layout.
void read_key(const array& keys, size_t i, uint32_t& k0, uint32_t& k1) {
  const uint32_t* p = keys.data<uint32_t>();
  k0 = p[cpu::offset_of(2 * i, keys.shape(), keys.strides())];
  k1 = p[cpu::offset_of(2 * i + 1, keys.shape(), keys.strides())];
}

// The n words of one key into w (4-byte aligned).
void key_words(uint32_t k0, uint32_t k1, uint32_t* w, size_t n) {
  const Kernels& k = kernels();
  const size_t half = n / 2, shift = half + n % 2;
  cpu::parallel_for(half, kPairGrain, [&](size_t b, size_t e) {
    k.pairs(k0, k1, uint32_t(b), uint32_t(b + shift), w + b, w + b + shift, e - b);
  });
  if (n % 2) {
    uint32_t unused;
    threefry(k0, k1, uint32_t(half), 0, w[half], unused);
  }
}

// The first `nbytes` bytes of one key's word stream into dst.
void key_bytes(uint32_t k0, uint32_t k1, unsigned char* dst, size_t nbytes) {
  const size_t n = (nbytes + 3) / 4;
  if (nbytes % 4 == 0 && reinterpret_cast<uintptr_t>(dst) % alignof(uint32_t) == 0) {
    key_words(k0, k1, reinterpret_cast<uint32_t*>(dst), n);
    return;
  }
  std::vector<uint32_t> words(n);
  key_words(k0, k1, words.data(), n);
  std::memcpy(dst, words.data(), nbytes);
}

// MLX's erfinv of the normal's uniform samples for one key's n outputs, handed to
// store(position, values, count) in blocks of consecutive positions.
template <typename Store>
void key_normal(uint32_t k0, uint32_t k1, size_t n, Store&& store) {
  const Kernels& k = kernels();
  const bool all_libm = !libm_is_known();
  const size_t half = n / 2, shift = half + n % 2;
  cpu::parallel_for(half, kPairGrain, [&](size_t b, size_t e) {
    float lo[kNormalBlock], hi[kNormalBlock];
    for (size_t i = b; i < e; i += kNormalBlock) {
      const size_t m = std::min(kNormalBlock, e - i);
      k.normal_block(k0, k1, uint32_t(i), uint32_t(i + shift), lo, hi, m, all_libm);
      store(i, lo, m);
      store(i + shift, hi, m);
    }
  });
  if (n % 2) {
    float lo[1], hi[1];
    k.normal_block(k0, k1, uint32_t(half), 0, lo, hi, 1, all_libm);
    store(half, lo, 1);
  }
}

template <typename T>
void normal_into(const array& keys, array& out, size_t per_key, bool scaled) {
  // MLX casts erfinv's float32 result to T, then multiplies by sqrt(2) rounded to T, in T.
  // For the half types a product of two of their values is exact in float, so rounding it to
  // T is that multiply's one rounding.
  using W = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const W sqrt2 = W(T(1.4142135623730951));
  T* dst = out.data<T>();
  const size_t num_keys = keys.size() / 2;
  for (size_t key = 0; key < num_keys; ++key) {
    uint32_t k0, k1;
    read_key(keys, key, k0, k1);
    T* seg = dst + key * per_key;
    key_normal(k0, k1, per_key, [&](size_t pos, const float* v, size_t m) {
      for (size_t j = 0; j < m; ++j) {
        const W e = W(T(v[j]));
        seg[pos + j] = scaled ? T(e * sqrt2) : T(e);
      }
    });
  }
}

}  // namespace

void threefry2x32(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t& x0,
                  uint32_t& x1) {
  threefry(k0, k1, c0, c1, x0, x1);
}

void libm_logf(simd::Isa isa, const float* x, float* y, size_t n) {
  kernels_of(isa).logf_block(x, y, n);
}

void RandomBits::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& keys = inputs[0];
  out.set_data(std::make_shared<Data>(out.nbytes()));
  const size_t num_keys = keys.size() / 2;
  if (out.size() == 0 || num_keys == 0) return;
  const size_t per_key = out.nbytes() / num_keys;
  auto* dst = static_cast<unsigned char*>(out.raw_data());
  for (size_t key = 0; key < num_keys; ++key) {
    uint32_t k0, k1;
    read_key(keys, key, k0, k1);
    key_bytes(k0, k1, dst + key * per_key, per_key);
  }
}

void RandomNormal::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& keys = inputs[0];
  out.set_data(std::make_shared<Data>(out.nbytes()));
  const size_t num_keys = keys.size() / 2;
  if (out.size() == 0 || num_keys == 0) return;
  const size_t per_key = out.size() / num_keys;
  switch (dtype_) {
    case Dtype::float32: return normal_into<float>(keys, out, per_key, scaled_);
    case Dtype::float64: return normal_into<double>(keys, out, per_key, scaled_);
    case Dtype::float16: return normal_into<float16_t>(keys, out, per_key, scaled_);
    case Dtype::bfloat16: return normal_into<bfloat16_t>(keys, out, per_key, scaled_);
    default:
      throw std::invalid_argument(std::string("[RandomNormal] Unsupported dtype ") +
                                  dtype_name(dtype_) + ".");
  }
}

}  // namespace pullback
