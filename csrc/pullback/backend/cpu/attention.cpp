// CPU kernels of the fused attention primitives (primitives/attention.h) and of CrossEntropy.
//
// Attention runs per (batch, head, block of query rows): the block's scores against every key
// it may see (a causal block stops at its last row's diagonal, so the blocks above it are never
// computed) are one gemm into a scratch of Bq x Lk that stays in L2, the softmax runs on those
// rows in place, and a second gemm multiplies them into v. The rows' logsumexp is kept, so the
// backward recomputes each block's probabilities with one gemm instead of storing them. The
// blocks are spread over our pool, one block per task. The float32 products run on our own
// register tiles where the CPU has AVX2 or AVX-512 (TileProduct below), the others through
// BLAS held to one thread.
// float16/bfloat16 inputs are converted to float32 first and accumulate there; float64 runs
// in double.
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "pullback/backend/cpu/blas_threads.h"
#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/simd_math.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/ops.h"
#include "pullback/primitives/attention.h"

namespace pullback {
namespace {

// Row-major C = alpha op(A) op(B) + beta C.
template <typename W>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, W alpha, const W* a,
          int64_t lda, const W* b, int64_t ldb, W beta, W* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS refuses the leading dimensions of empty operands
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == W(0) ? W(0) : beta * c[i * ldc + j];
    return;
  }
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<W, float>) {
    scipy_cblas_sgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b,
                      int(ldb), beta, c, int(ldc));
  } else {
    scipy_cblas_dgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b,
                      int(ldb), beta, c, int(ldc));
  }
}

// A row maximum with 16 independent lanes, so that GCC vectorizes it (one running value
// would be a chain of dependent scalar operations).
constexpr int kLanes = 16;

template <typename W>
PB_SIMD_INLINE W row_max(const W* x, int64_t n, W init) {
  W part[kLanes];
  for (int l = 0; l < kLanes; ++l) part[l] = init;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] = x[j + l] > part[l] ? x[j + l] : part[l];
  W m = init;
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  for (int l = 0; l < kLanes; ++l) m = part[l] > m ? part[l] : m;
  return m;
}

// The float32 row loops of the softmax, compiled per instruction set (as simd_math.cpp's
// tables) so that they run 8 or 16 lanes wide where the CPU has them: beside the two gemms they
// are the rest of the work.
// e^x for x <= 0 (a score less its row's maximum or logsumexp), as simd::exp but without
// its handling of large results and subnormal ones: below e^-87 (< 2^-125) the result is 0,
// -inf (a masked score) included; a weight that small vanishes in the row's sum anyway. One
// scale 2^n instead of two and one clamp instead of two: the exponentials are most of the
// softmax's time.
template <bool kFma>
PB_SIMD_INLINE float exp_nonpositive(float x) {
  constexpr float kLow = -87.f;
  const float xc = simd::select(x < kLow, kLow, x);  // NaN passes through
  int32_t n;
  const float r = simd::reduce_ln2<kFma>(xc, n);
  float p = 1.381461275741458e-03f;  // simd::exp's polynomial
  p = simd::madd<kFma>(p, r, 8.368710055947304e-03f);
  p = simd::madd<kFma>(p, r, 4.166838899254799e-02f);
  p = simd::madd<kFma>(p, r, 1.666652113199234e-01f);
  p = simd::madd<kFma>(p, r, 4.999999403953552e-01f);
  const float y = simd::madd<kFma>(p, r * r, r) + 1.f;
  return simd::select(x < kLow, 0.f, y * simd::pow2i(n));
}

// x[j] = exp(x[j] - shift); returns the sum of the new x. shift is at least every x[j].
template <bool kFma>
PB_SIMD_INLINE float exp_sum_body(float* x, int64_t n, float shift) {
  float part[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      x[j + l] = exp_nonpositive<kFma>(x[j + l] - shift);
      part[l] += x[j + l];
    }
  float total = 0;
  for (; j < n; ++j) {
    x[j] = exp_nonpositive<kFma>(x[j] - shift);
    total += x[j];
  }
  for (int l = 0; l < kLanes; ++l) total += part[l];
  return total;
}

// row_max for float32 in vectors of W lanes: GCC leaves row_max's lanes scalar (a vmaxss each).
template <int W>
PB_SIMD_INLINE float row_max_lanes(const float* x, int64_t n, float init) {
  typedef float V __attribute__((vector_size(W * 4), aligned(4), may_alias));
  V m0 = init - V{}, m1 = m0;
  int64_t j = 0;
  for (; j + 2 * W <= n; j += 2 * W) {
    const V a = *reinterpret_cast<const V*>(x + j), b = *reinterpret_cast<const V*>(x + j + W);
    m0 = a > m0 ? a : m0;  // a NaN is skipped, as in row_max
    m1 = b > m1 ? b : m1;
  }
  m0 = m1 > m0 ? m1 : m0;
  float lanes[W], m = init;
  *reinterpret_cast<V*>(lanes) = m0;
  for (int l = 0; l < W; ++l) m = lanes[l] > m ? lanes[l] : m;
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// ds[j] = p[j] (ds[j] - delta): the probabilities' cotangent turned into the scores'.
template <bool kFma>
PB_SIMD_INLINE void softmax_grad_body(float* ds, const float* p, int64_t n, float delta) {
  for (int64_t j = 0; j < n; ++j) ds[j] = p[j] * (ds[j] - delta);
}

struct RowKernels {
  float (*max)(const float*, int64_t, float);
  float (*exp_sum)(float*, int64_t, float);
  void (*softmax_grad)(float*, const float*, int64_t, float);
};

#define PB_ROW_KERNELS(NS, ATTR, FMA, W)                                                       \
  namespace NS {                                                                               \
  ATTR float max(const float* x, int64_t n, float i) { return row_max_lanes<W>(x, n, i); }     \
  ATTR float exp_sum(float* x, int64_t n, float s) { return exp_sum_body<FMA>(x, n, s); }      \
  ATTR void softmax_grad(float* ds, const float* p, int64_t n, float d) {                      \
    softmax_grad_body<FMA>(ds, p, n, d);                                                       \
  }                                                                                            \
  constexpr RowKernels table{max, exp_sum, softmax_grad};                                      \
  }
PB_ROW_KERNELS(rows_baseline, , false, 4)
PB_ROW_KERNELS(rows_avx2, __attribute__((target("avx2,fma"))), true, 8)
PB_ROW_KERNELS(rows_avx512, __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512"))), true, 16)
#undef PB_ROW_KERNELS

// The same choice as the elementwise kernels (PULLBACK_ISA caps both).
const RowKernels& row_kernels() {
  switch (simd::kernels().isa) {
    case simd::Isa::Avx512: return rows_avx512::table;
    case simd::Isa::Avx2: return rows_avx2::table;
    default: return rows_baseline::table;
  }
}

// Float32 products of the attention kernels, written for these shapes instead of calling
// sgemm: OpenBLAS packs both operands on every call and clears C before a product that
// overwrites it, which at a head's sizes (a few hundred rows, 64 features) took a fifth of
// the time beside its compute kernel. Here the right operand (k, v and their transposes) is
// packed once per head and reused by every query block, and the left one is read where it
// lies (broadcast one element at a time, which needs no packing).
//
// The right operand B (kdim x n) is kept in panels of `nr` columns, panel p holding
// B(k, p nr + c) at [p * panel_stride + k nr + c], zero past column n. The left one is read
// through strides, so that both a matrix and its transpose can be used as they lie.
struct TileProduct {
  int64_t m, n, kdim;
  float alpha;
  const float* a;  // A(i, k) = a[i * a_row + k * a_col]
  int64_t a_row, a_col;
  const float* b;  // panels as above
  int64_t panel_stride;
  float* c;  // C(i, j) = c[i * ldc + j]
  int64_t ldc;
  bool accumulate;  // C += alpha A B, else C = alpha A B
};

// The right operand's slices of kKc rows: a panel's slice (kKc x nr floats, 32 KiB with
// AVX-512) stays in L1 while the left operand's rows stream past it.
constexpr int64_t kKc = 128;

// acc (MR x NV vectors) = A B over kc steps. A(r, k) is rows[r][k] when kRowMajor, else
// rows[0][k * step + r] (its rows lie next to each other: a transposed matrix, or a packed tail).
template <int W, int MR, int NV, bool kRowMajor, typename V>
PB_SIMD_INLINE void tile_steps(const float* const* rows, int64_t step, const float* bp, int64_t kc,
                               V (&acc)[MR][NV]) {
  // Loads through a type of its own: V as deduced has lost its typedef's alignment of 4.
  typedef float U __attribute__((vector_size(W * 4), aligned(4), may_alias));
  constexpr int NR = W * NV;
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  const float* row[MR];
  for (int r = 0; r < MR; ++r) row[r] = rows[kRowMajor ? r : 0];
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const U*>(bp + k * NR + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      // A broadcast: x - 0 is x, where 0 + x would not be for x = -0 and costs an add.
      const V av = (kRowMajor ? row[r][k] : row[0][k * step + r]) - V{};
      for (int v = 0; v < NV; ++v) acc[r][v] += av * bv[v];
    }
  }
}

template <int W, int MR, int NV>
PB_SIMD_INLINE void tile_product_body(const TileProduct& t, float* tail) {
  typedef float V __attribute__((vector_size(W * 4), aligned(4), may_alias));
  constexpr int NR = W * NV;
  const int64_t groups = (t.m + MR - 1) / MR, panels = (t.n + NR - 1) / NR;
  const bool row_major = t.a_col == 1;
  for (int64_t k0 = 0; k0 < t.kdim; k0 += kKc) {
    const int64_t kc = std::min(kKc, t.kdim - k0);
    const bool add = t.accumulate || k0 > 0;
    for (int64_t p = 0; p < panels; ++p) {
      const float* bp = t.b + p * t.panel_stride + k0 * NR;
      const int64_t j0 = p * NR, cols = std::min<int64_t>(NR, t.n - j0);
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t i0 = g * MR, rows = std::min<int64_t>(MR, t.m - i0);
        V acc[MR][NV];
        if (row_major) {
          // Rows past m repeat the last one (read, never stored).
          const float* rp[MR];
          for (int r = 0; r < MR; ++r) rp[r] = t.a + std::min<int64_t>(i0 + r, t.m - 1) * t.a_row + k0;
          tile_steps<W, MR, NV, true>(rp, 0, bp, kc, acc);
        } else if (rows == MR) {
          const float* base = t.a + i0 + k0 * t.a_col;  // a_row == 1
          tile_steps<W, MR, NV, false>(&base, t.a_col, bp, kc, acc);
        } else {
          // The last rows of a transposed operand, copied so that no read passes its end.
          for (int64_t k = 0; k < kc; ++k)
            for (int r = 0; r < MR; ++r)
              tail[k * MR + r] = r < rows ? t.a[i0 + r + (k0 + k) * t.a_col] : 0.f;
          const float* base = tail;
          tile_steps<W, MR, NV, false>(&base, MR, bp, kc, acc);
        }
        if (rows == MR && cols == NR) {
          // Whole tiles: vector stores straight into C.
          for (int r = 0; r < MR; ++r) {
            float* cr = t.c + (i0 + r) * t.ldc + j0;
            for (int v = 0; v < NV; ++v) {
              V* cv = reinterpret_cast<V*>(cr + v * W);
              *cv = add ? *cv + t.alpha * acc[r][v] : t.alpha * acc[r][v];
            }
          }
          continue;
        }
        // A partial tile (the last rows or columns) goes through `part`.
        float part[MR][NR];
        for (int r = 0; r < MR; ++r)
          for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(&part[r][v * W]) = t.alpha * acc[r][v];
        for (int64_t r = 0; r < rows; ++r) {
          float* cr = t.c + (i0 + r) * t.ldc + j0;
          for (int64_t j = 0; j < cols; ++j) cr[j] = add ? cr[j] + part[r][j] : part[r][j];
        }
      }
    }
  }
}

// Per instruction set, a tile of 6 rows by 4 vectors: 24 of the 32 zmm registers with
// AVX-512 (6 x 64), 12 of the 16 ymm with AVX2 (6 x 16, of 2 vectors). Six rows keep the
// row pointers of a row-major left operand in registers.
struct TileKernels {
  int nr, mr;
  void (*product)(const TileProduct&, float*);
};
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")))
void tile_product_avx512(const TileProduct& t, float* tail) { tile_product_body<16, 6, 4>(t, tail); }
__attribute__((target("avx2,fma")))
void tile_product_avx2(const TileProduct& t, float* tail) { tile_product_body<8, 6, 2>(t, tail); }

// Null without AVX2: float32 then goes through sgemm as float64 does.
const TileKernels* tile_kernels() {
  static constexpr TileKernels avx512{64, 6, tile_product_avx512};
  static constexpr TileKernels avx2{16, 6, tile_product_avx2};
  switch (simd::kernels().isa) {
    case simd::Isa::Avx512: return &avx512;
    case simd::Isa::Avx2: return &avx2;
    default: return nullptr;
  }
}

// x[j] = exp(x[j] - shift); returns their sum.
template <typename W>
W exp_shift_sum(W* x, int64_t n, W shift) {
  if constexpr (std::is_same_v<W, float>) {
    return row_kernels().exp_sum(x, n, shift);
  } else {
    W total = 0;
    for (int64_t i = 0; i < n; ++i) total += (x[i] = std::exp(x[i] - shift));
    return total;
  }
}

template <typename W>
W row_max_of(const W* x, int64_t n, W init) {
  if constexpr (std::is_same_v<W, float>) return row_kernels().max(x, n, init);
  else return row_max(x, n, init);
}

template <typename W>
void softmax_grad(W* ds, const W* p, int64_t n, W delta) {
  if constexpr (std::is_same_v<W, float>) row_kernels().softmax_grad(ds, p, n, delta);
  else for (int64_t j = 0; j < n; ++j) ds[j] = p[j] * (ds[j] - delta);
}

// Scratch of at least `n` elements, kept per thread between calls (slot picks one of a few
// buffers a kernel needs at once): zeroing a fresh block of scores for every task showed up
// in profiles. It holds the largest block seen (Bq x Lk, at least 8 rows), per thread.
// Slots: 0-2 a kernel's blocks, 3-4 the forward's packed k^T and v (kept between its tasks:
// no other kernel writes them), 5-9 the backward's packed operands, 11 product()'s tail rows.
constexpr int kScratchSlots = 12;
constexpr int kPackedLeftSlot = kScratchSlots - 1;
template <typename W>
W* scratch(int slot, int64_t n) {
  thread_local std::vector<W> buffers[kScratchSlots];
  std::vector<W>& b = buffers[slot];
  if (b.size() < size_t(n)) b.resize(size_t(n));
  return b.data();
}

// `x` as a row-contiguous array of type `t` (itself when it already is one).
array contiguous_as(const array& x, Dtype t) {
  if (x.dtype() == t && x.flags().row_contiguous) return x;
  array c = array::empty(x.shape(), t);
  if (x.dtype() == t) cpu::copy_to_contiguous(x, c);
  else cpu::convert(x, c);
  return c;
}

// B(k, j) = b[k * k_step + j * j_step] (k < kdim, j < n) into panels of nr columns, zero
// past n (TileProduct's layout, panel_stride kdim * nr).
void pack_panels(const float* b, int64_t kdim, int64_t n, int64_t k_step, int64_t j_step, int nr,
                 float* dst) {
  const int64_t panels = (n + nr - 1) / nr;
  for (int64_t p = 0; p < panels; ++p) {
    float* panel = dst + p * kdim * nr;
    if (j_step == 1) {  // rows of B: whole runs of columns
      const int64_t cols = std::min<int64_t>(nr, n - p * nr);
      for (int64_t k = 0; k < kdim; ++k) {
        std::copy(b + k * k_step + p * nr, b + k * k_step + p * nr + cols, panel + k * nr);
        std::fill(panel + k * nr + cols, panel + (k + 1) * nr, 0.f);
      }
      continue;
    }
    for (int c = 0; c < nr; ++c) {
      const int64_t j = p * nr + c;
      if (j >= n) {
        for (int64_t k = 0; k < kdim; ++k) panel[k * nr + c] = 0.f;
        continue;
      }
      const float* src = b + j * j_step;
      for (int64_t k = 0; k < kdim; ++k) panel[k * nr + c] = src[k * k_step];
    }
  }
}

// The right operand of a product: as it lies in memory (row-major, `trans` when it is B^T)
// for sgemm/dgemm, and packed for the tile kernels when they run.
template <typename W>
struct Rhs {
  const W* plain;
  int64_t ld;
  bool trans;
  const float* packed = nullptr;
  int64_t panel_stride = 0;
};

// Floats of a packed right operand: kdim x n with n rounded up to whole panels.
int64_t panels_size(int64_t kdim, int64_t n, int nr) { return kdim * ((n + nr - 1) / nr) * nr; }

// C (m x n) = alpha A B (+ C when `accumulate`), A (m x kdim) row-major with leading
// dimension lda, or its transpose when trans_a.
template <typename W>
void product(const TileKernels* tiles, int64_t m, int64_t n, int64_t kdim, W alpha, const W* a,
             int64_t lda, bool trans_a, const Rhs<W>& b, bool accumulate, W* c, int64_t ldc) {
  if constexpr (std::is_same_v<W, float>) {
    if (tiles) {
      if (m == 0 || n == 0) return;
      if (kdim == 0) {
        if (!accumulate)
          for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
        return;
      }
      const TileProduct t{m, n, kdim, alpha, a, trans_a ? 1 : lda, trans_a ? lda : 1,
                          b.packed, b.panel_stride, c, ldc, accumulate};
      tiles->product(t, scratch<float>(kPackedLeftSlot, tiles->mr * kKc));
      return;
    }
  }
  gemm<W>(trans_a, b.trans, m, n, kdim, alpha, a, lda, b.plain, b.ld, accumulate ? W(1) : W(0), c, ldc);
}

// The tile kernels for work type W, null for double.
template <typename W>
const TileKernels* tiles_for() {
  if constexpr (std::is_same_v<W, float>) return tile_kernels();
  else return nullptr;
}

// A right operand packed into scratch slot `slot` for the tile kernels (only `plain` without
// them). `k_step`/`j_step` as in pack_panels.
template <typename W>
Rhs<W> rhs(const TileKernels* tiles, int slot, const W* b, int64_t ld, bool trans, int64_t kdim,
           int64_t n) {
  Rhs<W> r{b, ld, trans};
  if constexpr (std::is_same_v<W, float>) {
    if (tiles) {
      float* dst = scratch<float>(slot, panels_size(kdim, n, tiles->nr));
      pack_panels(b, kdim, n, trans ? 1 : ld, trans ? ld : 1, tiles->nr, dst);
      r.packed = dst;
      r.panel_stride = kdim * tiles->nr;
    }
  }
  return r;
}

// The Rhs that rhs() with the same arguments returned, without packing again (its panels are
// still in the slot).
template <typename W>
Rhs<W> packed_rhs(const TileKernels* tiles, int slot, const W* b, int64_t ld, bool trans,
                  int64_t kdim, int64_t n) {
  Rhs<W> r{b, ld, trans};
  if constexpr (std::is_same_v<W, float>) {
    r.packed = scratch<float>(slot, panels_size(kdim, n, tiles->nr));
    r.panel_stride = kdim * tiles->nr;
  }
  return r;
}

// What the forward's slots 3-4 hold on this thread: k^T and v of key/value head `unit` of
// forward call `generation`. The tasks a thread takes in a row mostly share the head, so
// they are packed once per head and thread; the generation tells this call's from any other's.
struct ForwardPacked {
  uint64_t generation = 0;
  int64_t unit = -1;
};
thread_local ForwardPacked forward_packed;
std::atomic<uint64_t> forward_calls{0};

// Rows of queries per task: enough for an efficient gemm, few enough that the block's scores
// (Bq x Lk) stay in L2. Without a causal mask, blocks of up to 256 rows (512 KiB of scores at
// Lk = 512): BLAS then packs k and v fewer times, and the tile kernels' backward ran best there
// (their forward measured alike from 64 to 256 rows). A causal block computes the upper triangle
// of its diagonal square for nothing, so there blocks stay at 32 rows (measured on 8 heads x
// 512 x 64: 64-row causal blocks ran about 8% slower with BLAS, about 5% with the tiles).
int64_t query_block(int64_t lk, bool causal) {
  const int64_t budget = causal ? int64_t(1) << 15 : int64_t(1) << 17;
  return std::clamp<int64_t>(budget / std::max<int64_t>(lk, 1), 8, causal ? 32 : 256);
}

// Everything the forward and backward kernels share about one call.
template <typename W>
struct Attention {
  int64_t batch, heads, kv_heads, rep, lq, lk, d, dv;
  W scale;
  AttentionMask mask_kind;
  const W* q;
  const W* k;
  const W* v;
  // The mask's element strides per axis, 0 where it broadcasts.
  const bool* bool_mask = nullptr;
  const W* add_mask = nullptr;
  int64_t ms[4] = {0, 0, 0, 0};
  const W* sinks = nullptr;  // (Bs, H)
  int64_t sink_batches = 0;

  // `in`: the work_inputs below.
  Attention(const std::vector<array>& in, float scale_, AttentionMask mask, bool has_sinks)
      : scale(W(scale_)), mask_kind(mask) {
    batch = in[0].shape(0), heads = in[0].shape(1), lq = in[0].shape(2), d = in[0].shape(3);
    kv_heads = in[1].shape(1), lk = in[1].shape(2), dv = in[2].shape(3);
    rep = heads / kv_heads;
    q = in[0].data<W>(), k = in[1].data<W>(), v = in[2].data<W>();
    int next = 3;
    if (mask == AttentionMask::Bool || mask == AttentionMask::Additive) {
      const array& m = in[next++];
      for (int a = 0; a < 4; ++a) ms[a] = m.shape(a) == 1 ? 0 : m.strides(a);
      if (mask == AttentionMask::Bool) bool_mask = m.data<bool>();
      else add_mask = m.data<W>();
    }
    if (add_mask && is_causal_additive_mask()) {
      mask_kind = AttentionMask::Causal;
      add_mask = nullptr;
    }
    if (has_sinks) {
      sinks = in[next].data<W>();  // made row-contiguous by the caller
      sink_batches = in[next].shape(0);
    }
  }

  // Whether the additive mask is a causal mask written out (what nn.MultiHeadAttention's
  // create_additive_causal_mask makes): one (lq, lk) matrix for every batch and head, 0 on and
  // below the (bottom-right aligned) diagonal and at most -1e30 above it, every row keeping a
  // key, and k finite. Then every score above the diagonal is so low that its exponential is
  // exactly 0 (scores of finite inputs stay far below 1e29), so the kernels may skip those keys
  // as for mask="causal", which halves the work (PyTorch's is_causal does the same).
  bool is_causal_additive_mask() const {
    if (ms[0] != 0 || ms[1] != 0 || lk < lq || lq == 0) return false;
    const W low = W(-1e30);
    for (int64_t i = 0; i < lq; ++i) {
      const W* row = add_mask + i * ms[2];
      const int64_t last = i + lk - lq;  // the last key row i sees
      for (int64_t j = 0; j < lk; ++j) {
        const W m = row[j * ms[3]];
        if (j <= last ? m != W(0) : !(m <= low)) return false;
      }
    }
    return simd::all_finite(k, static_cast<size_t>(batch * kv_heads * lk * d));
  }

  const W* q_rows(int64_t b, int64_t h, int64_t i) const { return q + ((b * heads + h) * lq + i) * d; }
  const W* k_of(int64_t b, int64_t h) const { return k + (b * kv_heads + h / rep) * lk * d; }
  const W* v_of(int64_t b, int64_t h) const { return v + (b * kv_heads + h / rep) * lk * dv; }
  bool has_sink() const { return sinks != nullptr; }
  W sink(int64_t b, int64_t h) const { return sinks[(sink_batches == 1 ? 0 : b) * heads + h]; }

  // Keys a block of rows ending before `i1` may see: a causal block stops at the diagonal.
  int64_t keys_for(int64_t i1) const {
    if (mask_kind != AttentionMask::Causal) return lk;
    return std::clamp<int64_t>(i1 + lk - lq, 0, lk);
  }

  // s (m x nk) = scale q k^T of rows [i0, i0 + m) with the mask applied; a dropped position
  // holds -inf. kept[r]: whether row r keeps any key (bool and causal masks can drop all).
  // kt: k^T of head h as a right operand (rhs()).
  void scores(int64_t b, int64_t h, int64_t i0, int64_t m, int64_t nk, W* s, bool* kept,
              const TileKernels* tiles, const Rhs<W>& kt) const {
    if (nk > 0) product<W>(tiles, m, nk, d, scale, q_rows(b, h, i0), d, false, kt, false, s, nk);
    constexpr W kNegInf = -std::numeric_limits<W>::infinity();
    for (int64_t r = 0; r < m; ++r) {
      const int64_t i = i0 + r;
      W* row = s + r * nk;
      kept[r] = lk > 0;
      if (mask_kind == AttentionMask::Causal) {
        const int64_t end = std::clamp<int64_t>(i + 1 + lk - lq, 0, nk);
        for (int64_t j = end; j < nk; ++j) row[j] = kNegInf;
        kept[r] = end > 0;
      } else if (bool_mask) {
        const bool* mr = bool_mask + b * ms[0] + h * ms[1] + i * ms[2];
        int64_t count = 0;
        for (int64_t j = 0; j < nk; ++j) {
          const bool keep = mr[j * ms[3]];
          count += keep;
          if (!keep) row[j] = kNegInf;
        }
        kept[r] = count > 0;
      } else if (add_mask) {
        const W* mr = add_mask + b * ms[0] + h * ms[1] + i * ms[2];
        for (int64_t j = 0; j < nk; ++j) row[j] += mr[j * ms[3]];
      }
    }
  }

  // A row that keeps no key and has no sink: every score is the same lowest finite value
  // (MLX's rule), so its probabilities are uniform over all keys.
  bool uniform_row(bool kept) const { return !kept && !has_sink(); }
  W uniform_lse() const {
    return lk == 0 ? -std::numeric_limits<W>::infinity()
                   : std::numeric_limits<W>::lowest() + std::log(W(lk));
  }
};

template <typename T, typename W>
void attention_forward(const Attention<W>& a, T* out, W* lse) {
  const int64_t bq = query_block(a.lk, a.mask_kind == AttentionMask::Causal);
  const int64_t blocks = (a.lq + bq - 1) / bq;
  const int64_t tasks = a.batch * a.heads * blocks;
  const TileKernels* tiles = tiles_for<W>();
  const uint64_t generation = ++forward_calls;
  auto run = [&](size_t lo, size_t hi) {
    W* s = scratch<W>(0, bq * a.lk);
    W* o = scratch<W>(1, bq * a.dv);
    W* inv = scratch<W>(2, bq);
    std::unique_ptr<bool[]> kept(new bool[size_t(bq)]);
    for (size_t task = lo; task < hi; ++task) {
      // The last query blocks see the most keys under a causal mask: hand them out first.
      const int64_t blk = blocks - 1 - int64_t(task) % blocks;
      const int64_t bh = int64_t(task) / blocks, b = bh / a.heads, h = bh % a.heads;
      const int64_t i0 = blk * bq, m = std::min(bq, a.lq - i0);
      const int64_t nk = a.keys_for(i0 + m);
      const int64_t unit = b * a.kv_heads + h / a.rep;
      const bool cached =
          tiles && forward_packed.generation == generation && forward_packed.unit == unit;
      auto operand = cached ? packed_rhs<W> : rhs<W>;
      const Rhs<W> kt = operand(tiles, 3, a.k_of(b, h), a.d, true, a.d, a.lk);
      const Rhs<W> vp = operand(tiles, 4, a.v_of(b, h), a.dv, false, a.lk, a.dv);
      forward_packed = {generation, unit};
      a.scores(b, h, i0, m, nk, s, kept.get(), tiles, kt);
      for (int64_t r = 0; r < m; ++r) {
        W* row = s + r * nk;
        W* row_lse = lse + bh * a.lq + i0 + r;
        if (a.uniform_row(kept[r])) {
          std::fill(row, row + nk, W(0));
          *row_lse = a.uniform_lse();
          continue;
        }
        const W mx = row_max_of(row, nk, a.has_sink() ? a.sink(b, h)
                                                      : -std::numeric_limits<W>::infinity());
        const W total =
            exp_shift_sum(row, nk, mx) + (a.has_sink() ? std::exp(a.sink(b, h) - mx) : W(0));
        inv[r] = W(1) / total;
        *row_lse = mx + std::log(total);
      }
      if (nk > 0) {
        product<W>(tiles, m, a.dv, nk, W(1), s, nk, false, vp, false, o, a.dv);
      } else {
        std::fill(o, o + m * a.dv, W(0));
      }
      for (int64_t r = 0; r < m; ++r) {
        T* dst = out + (bh * a.lq + i0 + r) * a.dv;
        const W* src = o + r * a.dv;
        if (a.uniform_row(kept[r])) {
          // The mean of all of v (its rows past nk included).
          const W* vv = a.v_of(b, h);
          for (int64_t c = 0; c < a.dv; ++c) {
            W acc = 0;
            for (int64_t j = 0; j < a.lk; ++j) acc += vv[j * a.dv + c];
            dst[c] = T(a.lk ? acc / W(a.lk) : W(0));
          }
        } else {
          for (int64_t c = 0; c < a.dv; ++c) dst[c] = T(src[c] * inv[r]);
        }
      }
    }
  };
  cpu::SingleThreadedBlas hold;
  cpu::parallel_for(size_t(tasks), 1, run, 1);
}

// The backward per (batch, key/value head): the query heads of a group and all their query
// blocks run in one task, so the task owns its rows of dk and dv and nothing is shared.
template <typename W>
void attention_backward(const Attention<W>& a, const W* o, const W* lse, const W* dout, W* dq,
                        W* dk, W* dv, W* dsinks_rows) {
  const int64_t bq = query_block(a.lk, a.mask_kind == AttentionMask::Causal);
  const int64_t units = a.batch * a.kv_heads;
  const TileKernels* tiles = tiles_for<W>();
  auto run = [&](size_t lo, size_t hi) {
    W* p = scratch<W>(0, bq * a.lk);
    W* dp = scratch<W>(1, bq * a.lk);
    W* delta = scratch<W>(2, bq);
    std::unique_ptr<bool[]> kept(new bool[size_t(bq)]);
    for (size_t unit = lo; unit < hi; ++unit) {
      const int64_t b = int64_t(unit) / a.kv_heads, g = int64_t(unit) % a.kv_heads;
      W* dk_u = dk + unit * a.lk * a.d;
      W* dv_u = dv + unit * a.lk * a.dv;
      std::fill(dk_u, dk_u + a.lk * a.d, W(0));
      std::fill(dv_u, dv_u + a.lk * a.dv, W(0));
      // The unit's k and v as right operands: k^T for the scores, v^T for dp, k for dq.
      const W* kk = a.k_of(b, g * a.rep);
      const W* vv = a.v_of(b, g * a.rep);
      const Rhs<W> kt = rhs<W>(tiles, 5, kk, a.d, true, a.d, a.lk);
      const Rhs<W> vt = rhs<W>(tiles, 6, vv, a.dv, true, a.dv, a.lk);
      const Rhs<W> k_rhs = rhs<W>(tiles, 7, kk, a.d, false, a.lk, a.d);
      for (int64_t h = g * a.rep; h < (g + 1) * a.rep; ++h) {
        const int64_t bh = b * a.heads + h;
        W sink_grad = 0;
        for (int64_t i0 = 0; i0 < a.lq; i0 += bq) {
          const int64_t m = std::min(bq, a.lq - i0), nk = a.keys_for(i0 + m);
          const W* do_blk = dout + (bh * a.lq + i0) * a.dv;
          const W* o_blk = o + (bh * a.lq + i0) * a.dv;
          W* dq_blk = dq + (bh * a.lq + i0) * a.d;
          a.scores(b, h, i0, m, nk, p, kept.get(), tiles, kt);
          for (int64_t r = 0; r < m; ++r) {
            W* row = p + r * nk;
            const W* dor = do_blk + r * a.dv;
            W dot = 0;
            for (int64_t c = 0; c < a.dv; ++c) dot += dor[c] * o_blk[r * a.dv + c];
            delta[r] = dot;  // Dv terms per row: not worth vectorizing
            const W row_lse = lse[bh * a.lq + i0 + r];
            if (a.uniform_row(kept[r])) {
              // Uniform weights 1/Lk on every key; the scores themselves are constants.
              std::fill(row, row + nk, W(0));
              const W w = a.lk ? W(1) / W(a.lk) : W(0);
              for (int64_t j = 0; j < a.lk; ++j)
                for (int64_t c = 0; c < a.dv; ++c) dv_u[j * a.dv + c] += w * dor[c];
              continue;
            }
            exp_shift_sum(row, nk, row_lse);
            if (a.has_sink()) sink_grad -= std::exp(a.sink(b, h) - row_lse) * dot;
          }
          if (nk == 0) {
            std::fill(dq_blk, dq_blk + m * a.d, W(0));
            continue;
          }
          const Rhs<W> do_rhs = rhs<W>(tiles, 8, do_blk, a.dv, false, m, a.dv);
          const Rhs<W> q_rhs = rhs<W>(tiles, 9, a.q_rows(b, h, i0), a.d, false, m, a.d);
          product<W>(tiles, nk, a.dv, m, W(1), p, nk, true, do_rhs, true, dv_u, a.dv);
          product<W>(tiles, m, nk, a.dv, W(1), do_blk, a.dv, false, vt, false, dp, nk);
          for (int64_t r = 0; r < m; ++r) softmax_grad(dp + r * nk, p + r * nk, nk, delta[r]);
          product<W>(tiles, m, a.d, nk, a.scale, dp, nk, false, k_rhs, false, dq_blk, a.d);
          product<W>(tiles, nk, a.d, m, a.scale, dp, nk, true, q_rhs, true, dk_u, a.d);
        }
        if (dsinks_rows) dsinks_rows[bh] = sink_grad;
      }
    }
  };
  cpu::SingleThreadedBlas hold;
  cpu::parallel_for(size_t(units), 1, run, 1);
}

// Inputs in the work type, row-contiguous: q, k, v, then the optional mask (left as it is:
// the kernels read it through its strides) and sinks.
std::vector<array> work_inputs(const std::vector<array>& in, int count, Dtype wt, AttentionMask mask) {
  std::vector<array> w;
  for (int i = 0; i < count; ++i) {
    const bool is_mask = i == 3 && (mask == AttentionMask::Bool || mask == AttentionMask::Additive);
    w.push_back(is_mask ? in[i] : contiguous_as(in[i], wt));
  }
  return w;
}

int forward_input_count(AttentionMask mask, bool has_sinks) {
  return 3 + (mask == AttentionMask::Bool || mask == AttentionMask::Additive) + has_sinks;
}

template <typename F>
void for_attention_type(Dtype t, F&& f) {
  switch (t) {
    case Dtype::float32: f(float{}, float{}); break;
    case Dtype::float64: f(double{}, double{}); break;
    case Dtype::float16: f(float16_t{}, float{}); break;
    case Dtype::bfloat16: f(bfloat16_t{}, float{}); break;
    default:
      throw std::invalid_argument(std::string("[scaled_dot_product_attention] Unsupported type ") +
                                  dtype_name(t) + ".");
  }
}

void check_blas_sizes(const array& q, const array& k, const array& v) {
  const int64_t most = std::max({q.shape(2), k.shape(2), q.shape(3), v.shape(3)});
  if (most > std::numeric_limits<int>::max())
    throw std::invalid_argument("[scaled_dot_product_attention] Sequences or features of q " +
                                shape_str(q.shape()) + ", k " + shape_str(k.shape()) +
                                " exceed the 32-bit sizes BLAS accepts.");
}

}  // namespace

void ScaledDotProductAttention::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  cpu::configure_blas_threads();
  array& out = outputs[0];
  array& lse = outputs[1];
  out.set_data(std::make_shared<Data>(out.nbytes()));
  lse.set_data(std::make_shared<Data>(lse.nbytes()));
  if (out.size() == 0 && lse.size() == 0) return;
  check_blas_sizes(inputs[0], inputs[1], inputs[2]);
  const int count = forward_input_count(mask_, has_sinks_);
  for_attention_type(out.dtype(), [&](auto t_tag, auto w_tag) {
    using T = decltype(t_tag);
    using W = decltype(w_tag);
    const Dtype wt = std::is_same_v<W, double> ? Dtype::float64 : Dtype::float32;
    std::vector<array> w = work_inputs(inputs, count, wt, mask_);
    Attention<W> a(w, scale_, mask_, has_sinks_);
    attention_forward<T, W>(a, out.data<T>(), lse.data<W>());
  });
}

void ScaledDotProductAttentionVJP::eval_cpu(const std::vector<array>& inputs,
                                            std::vector<array>& outputs) {
  cpu::configure_blas_threads();
  for (auto& o : outputs) o.set_data(std::make_shared<Data>(o.nbytes()));
  const int count = forward_input_count(mask_, has_sinks_);
  const array& q = inputs[0];
  check_blas_sizes(q, inputs[1], inputs[2]);
  for_attention_type(q.dtype(), [&](auto t_tag, auto w_tag) {
    using T = decltype(t_tag);
    using W = decltype(w_tag);
    const Dtype wt = std::is_same_v<W, double> ? Dtype::float64 : Dtype::float32;
    std::vector<array> w = work_inputs(inputs, count, wt, mask_);
    Attention<W> a(w, scale_, mask_, has_sinks_);
    const array o = contiguous_as(inputs[count], wt);
    const array lse = contiguous_as(inputs[count + 1], wt);
    const array dout = contiguous_as(inputs[count + 2], wt);
    // The cotangents in the work type; outputs of that type are written in place.
    std::vector<array> grads;
    for (int i = 0; i < 3; ++i)
      grads.push_back(std::is_same_v<T, W> ? outputs[i] : array::empty(outputs[i].shape(), wt));
    std::vector<W> sink_rows(has_sinks_ ? size_t(a.batch * a.heads) : 0);
    attention_backward<W>(a, o.data<W>(), lse.data<W>(), dout.data<W>(), grads[0].data<W>(),
                          grads[1].data<W>(), grads[2].data<W>(),
                          has_sinks_ ? sink_rows.data() : nullptr);
    if constexpr (!std::is_same_v<T, W>) {
      for (int i = 0; i < 3; ++i) cpu::convert(grads[i], outputs[i]);
    }
    if (has_sinks_) {
      array& ds = outputs[3];
      W* dst = ds.data<W>();
      std::fill(dst, dst + ds.size(), W(0));
      for (int64_t b = 0; b < a.batch; ++b)
        for (int64_t h = 0; h < a.heads; ++h)
          dst[(a.sink_batches == 1 ? 0 : b) * a.heads + h] += sink_rows[b * a.heads + h];
    }
  });
}

// Per row, while it sits in L1: its maximum, the sum of exponentials (vectorized for float32
// through a scratch row) and the target's logit; the unfused graph streams the whole array
// through memory for each of those steps.
void CrossEntropy::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& logits_in = inputs[0];
  const array targets = contiguous_as(inputs[1], Dtype::int64);
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.size() == 0) return;
  const int64_t c = logits_in.shape(-1);
  const int64_t rows = int64_t(out.size());
  const bool wide = out.dtype() == Dtype::float64;
  const array logits = contiguous_as(logits_in, wide ? Dtype::float64 : Dtype::float32);
  auto run = [&](auto tag) {
    using W = decltype(tag);
    const W* x = logits.data<W>();
    const int64_t* t = targets.data<int64_t>();
    W* y = out.data<W>();
    const size_t grain = std::max<size_t>(1, cpu::kElementwiseGrain / size_t(std::max<int64_t>(c, 1)));
    cpu::parallel_for(size_t(rows), grain, [&](size_t lo, size_t hi) {
      std::vector<W> exps(static_cast<size_t>(c));
      for (size_t r = lo; r < hi; ++r) {
        const W* row = x + int64_t(r) * c;
        const W mx = row_max_of(row, c, -std::numeric_limits<W>::infinity());
        W total = 1;  // all -inf, or a +inf: the logsumexp is the maximum itself
        if (!std::isinf(mx)) {
          std::copy(row, row + c, exps.data());
          total = exp_shift_sum(exps.data(), c, mx);
        }
        const int64_t target = t[r];
        const W picked = target >= 0 && target < c ? row[target] : std::numeric_limits<W>::quiet_NaN();
        y[r] = mx + std::log(total) - picked;
      }
    });
  };
  if (wide) run(double{});
  else run(float{});
}

void CrossEntropyVJP::eval_cpu(const std::vector<array>& inputs, array& out) {
  const int64_t c = inputs[0].shape(-1);
  const int64_t rows = c == 0 ? 0 : int64_t(inputs[0].size()) / c;
  const bool wide = inputs[2].dtype() == Dtype::float64;
  const Dtype wt = wide ? Dtype::float64 : Dtype::float32;
  const array logits = contiguous_as(inputs[0], wt);
  const array targets = contiguous_as(inputs[1], Dtype::int64);
  const array g = contiguous_as(inputs[2], wt);
  // The result in the work type; converted at the end for half types.
  array grad = out.dtype() == wt ? out : array::empty(out.shape(), wt);
  if (out.dtype() == wt) out.set_data(std::make_shared<Data>(out.nbytes()));
  auto run = [&](auto tag) {
    using W = decltype(tag);
    const W* x = logits.data<W>();
    const int64_t* t = targets.data<int64_t>();
    const W* gp = g.data<W>();
    W* y = grad.data<W>();
    const size_t grain = std::max<size_t>(1, cpu::kElementwiseGrain / size_t(std::max<int64_t>(c, 1)));
    cpu::parallel_for(size_t(rows), grain, [&](size_t lo, size_t hi) {
      for (size_t r = lo; r < hi; ++r) {
        const W* row = x + int64_t(r) * c;
        W* dst = y + int64_t(r) * c;
        const W mx = row_max_of(row, c, -std::numeric_limits<W>::infinity());
        std::copy(row, row + c, dst);
        const W scale = gp[r] / exp_shift_sum(dst, c, mx);
        for (int64_t j = 0; j < c; ++j) dst[j] *= scale;
        if (t[r] >= 0 && t[r] < c) dst[t[r]] -= gp[r];
      }
    });
  };
  if (rows > 0) {
    if (wide) run(double{});
    else run(float{});
  }
  if (out.dtype() != wt) {
    out.set_data(std::make_shared<Data>(out.nbytes()));
    cpu::convert(grad, out);
  }
}

}  // namespace pullback
