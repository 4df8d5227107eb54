// A float32 gemm written for AVX-512 (runtime dispatch): one product on one thread (a batch's)
// or one product split over our pool.
//
// Why our own: OpenBLAS's sgemm reached about 100-110 GFLOP/s per core on the MLP's products
// (256x512x512 and the like) where MKL (PyTorch's) comes close to the FMA units' peak (about
// 160 on this machine), and a threaded OpenBLAS gemm hands its work to a second thread pool that takes
// turns with ours.
//
// Shape of the computation (Goto-style): k runs in blocks of near-equal length, at most kKC
// steps, so a 512-step product writes c once. Per block, b is packed into slivers of kNR
// columns (two vectors per step, zero past n; a transposed b goes through 8x8 register
// transposes), kNC columns at a time so the packed block (1 MiB) stays in L2. A kMR x kNR tile
// keeps 24 accumulators in registers. A row-major a is read in place (one broadcast per row and
// step; its 12 rows stay in L1 while the slivers stream past from L2): packing it would be a
// transposition, and measured no faster even with rows 2-4 KiB apart. A transposed a is copied
// per block of 12 rows into a contiguous panel (12 consecutive floats per step, cheap), which
// keeps the panel in 12 rows' worth of L1 instead of one cache line per step. Partial tiles
// use masked loads and stores.
//
// Narrow c (a layer's 10 logits): with a row-major a and at most 12 columns, dot products along
// k (dots); with a transposed a, a thin c runs as its transpose (b^T a^T) so that the slivers
// run along m; otherwise c of at most 16 columns uses slivers one vector wide.
//
// Threads: c is split into blocks, two per thread so that a thread the machine runs slower
// leaves work to the other; each task packs what it needs of a and b itself (no waiting on
// each other), and the split is chosen to pack the least twice. Every element of c is computed by one task, in the same order (its k blocks in turn, each a
// chain of fmas from zero added to c) whatever the split, so results do not depend on the
// thread count. k is never split across threads.
#include "pullback/backend/cpu/own_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/simd_math.h"

namespace pullback::cpu {
namespace {

constexpr int64_t kMR = 12;    // rows per tile
constexpr int64_t kNR = 32;    // columns per tile: two 16-float vectors
constexpr int64_t kKC = 512;   // most steps along k per block
constexpr int64_t kNC = 512;   // columns per packed block of b: kKC x kNC floats = 1 MiB

#define PB_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma,prefer-vector-width=512")))

// The first `count` (0 to 16) lanes of a vector.
inline __mmask16 lanes(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << std::max<int64_t>(count, 0)) - 1);
}

// The 8 rows of r become its 8 columns.
PB_AVX512 inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
    u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
    u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
    u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
    u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

// Packs `count` (at most W) columns of a kc x count block, x(p, j) at x[p * rs + j * cs] with rs
// or cs equal to 1, into out[p * W + j], zero for count <= j < W: a panel of a (W = kMR, the
// columns being a's rows) or a sliver of b (W = kNR). With cs == 1 each step is a masked vector
// copy; otherwise the block is transposed 8 x 8 through registers.
template <int W>
PB_AVX512 void pack(const float* x, int64_t rs, int64_t cs, int64_t count, int64_t kc, float* out) {
  if (cs == 1) {
    const __mmask16 lo = lanes(count), hi = lanes(count - 16);
    for (int64_t p = 0; p < kc; ++p, x += rs, out += W) {
      if constexpr (W <= 16) {
        _mm512_mask_storeu_ps(out, lanes(W), _mm512_maskz_loadu_ps(lo, x));
      } else {
        static_assert(W == 32, "a sliver is two vectors");
        _mm512_store_ps(out, _mm512_maskz_loadu_ps(lo, x));
        _mm512_store_ps(out + 16, _mm512_maskz_loadu_ps(hi, x + 16));
      }
    }
    return;
  }
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (int64_t j0 = 0; j0 < W; j0 += 8) {
      __m256 r[8];
      for (int64_t i = 0; i < 8; ++i) {
        r[i] = j0 + i < count ? _mm256_loadu_ps(x + (j0 + i) * cs + p) : _mm256_setzero_ps();
      }
      transpose8x8(r);
      const __mmask8 keep = static_cast<__mmask8>(lanes(W - j0));
      for (int64_t i = 0; i < 8; ++i) _mm256_mask_storeu_ps(out + (p + i) * W + j0, keep, r[i]);
    }
  }
  for (; p < kc; ++p) {
    for (int64_t j = 0; j < W; ++j) out[p * W + j] = j < count ? x[j * cs + p] : 0.0f;
  }
}

// How a tile reads a: in place and row-major (a(r, p) at a[r * lda + p]) or from a packed
// panel (a(r, p) at a[p * kMR + r]).
enum ALayout { kARows, kAPanel };

// c (R x cols, c(r, j) at c[r * c_rs + j * c_cs]) = (or += when `add`) R rows of a times a
// packed sliver of b, V vectors (16 V columns) wide.
template <int R, int L, int V>
PB_AVX512 void tile(int64_t kc, const float* a, int64_t lda, const float* bp, float* c,
                    int64_t c_rs, int64_t c_cs, int64_t cols, bool add) {
  const int64_t row_step = L == kARows ? lda : 1, k_step = L == kARows ? 1 : kMR;
  __m512 acc[R][V];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p, a += k_step, bp += 16 * V) {
    __m512 bv[V];
    for (int v = 0; v < V; ++v) bv[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * row_step]);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
    }
  }
  if (c_cs == 1) {
    __mmask16 mask[V];
    for (int v = 0; v < V; ++v) mask[v] = lanes(cols - 16 * v);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      float* row = c + r * c_rs;
      for (int v = 0; v < V; ++v) {
        if (add) acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(mask[v], row + 16 * v));
        _mm512_mask_storeu_ps(row + 16 * v, mask[v], acc[r][v]);
      }
    }
    return;
  }
  // c transposed (a product computed as its transpose): element by element.
  alignas(64) float buf[16 * V];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) _mm512_store_ps(buf + 16 * v, acc[r][v]);
    for (int64_t j = 0; j < cols; ++j) {
      float& x = c[r * c_rs + j * c_cs];
      x = add ? x + buf[j] : buf[j];
    }
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t,
                       int64_t, bool);
template <int L, int V>
constexpr TileFn kTiles[kMR] = {tile<1, L, V>, tile<2, L, V>, tile<3, L, V>, tile<4, L, V>,
                                tile<5, L, V>, tile<6, L, V>, tile<7, L, V>, tile<8, L, V>,
                                tile<9, L, V>, tile<10, L, V>, tile<11, L, V>, tile<12, L, V>};

// The sum of v's 16 lanes, in a fixed order.
PB_AVX512 inline float sum_lanes(__m512 v) {
  // (The masked forms: GCC 12 warns about the unmasked ones' undefined pass-through operand.)
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, 0x4E));  // halves
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, 0xB1));  // quarters
  __m128 x = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, v, 0);
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

// c (R rows x N columns, row stride ldc) = R rows of a row-major a (a(r, p) at a[r * lda + p])
// times b given as its N columns (b(p, j) at bt[j * ldbt + p]), for a c too narrow for the
// tiles: dot products along k, 16 steps per vector, each of the R x N sums reduced across its
// lanes at the end. a streams along its rows (where the tiles would broadcast from 12 rows at
// once into a sliver mostly of padding), and every lane of every fma is useful.
template <int R, int N>
PB_AVX512 void dots(int64_t k, const float* a, int64_t lda, const float* bt, int64_t ldbt,
                    float* c, int64_t ldc) {
  __m512 acc[R][N];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < k; p += 16) {
    const __mmask16 m = lanes(k - p);
    __m512 x[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) x[r] = _mm512_maskz_loadu_ps(m, a + r * lda + p);
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) {
      const __m512 y = _mm512_maskz_loadu_ps(m, bt + j * ldbt + p);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(x[r], y, acc[r][j]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) c[r * ldc + j] = sum_lanes(acc[r][j]);
  }
}

using DotsFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t);
// The columns a dots call takes at most (past 12 the one-vector slivers do as well: a row per
// call, each of its 16-lane fmas wholly useful either way); kDots[N - 1] takes kDotRows[N - 1]
// rows (as many as keep the R x N accumulators within 24 registers), kDotsOneRow[N - 1] one.
constexpr int64_t kDotColumns = 12;
constexpr int64_t kDotRows[kDotColumns] = {3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2};
constexpr DotsFn kDots[kDotColumns] = {dots<3, 1>, dots<3, 2>,  dots<3, 3>,  dots<3, 4>,
                                       dots<3, 5>, dots<3, 6>,  dots<3, 7>,  dots<3, 8>,
                                       dots<2, 9>, dots<2, 10>, dots<2, 11>, dots<2, 12>};
constexpr DotsFn kDotsOneRow[kDotColumns] = {dots<1, 1>, dots<1, 2>,  dots<1, 3>,  dots<1, 4>,
                                             dots<1, 5>, dots<1, 6>,  dots<1, 7>,  dots<1, 8>,
                                             dots<1, 9>, dots<1, 10>, dots<1, 11>, dots<1, 12>};

// A buffer of at least `count` floats starting on a 64-byte boundary, kept per thread (and
// per `Slot`) between calls, so that a batch or a training loop allocates it once.
template <int Slot>
float* scratch(size_t count) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < count + 16) buffer.resize(count + 16);
  float* p = buffer.data();
  return p + (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64 / sizeof(float);
}

struct Problem {
  int64_t m, n, k;
  SgemmOperand a, b;
  float* c;
  int64_t c_rs, c_cs;
  bool accumulate;  // c += a @ b
};

// Runs f(begin, end) over [0, n): on the pool when `threaded`, else on the calling thread.
template <typename F>
void for_blocks(bool threaded, int64_t n, const F& f) {
  if (!threaded) {
    f(0, n);
    return;
  }
  parallel_for(static_cast<size_t>(n), 1,
               [&](size_t b, size_t e) { f(static_cast<int64_t>(b), static_cast<int64_t>(e)); }, 1);
}

// Below this many multiply-adds a product runs on one thread: handing out the blocks costs more.
constexpr double kSplitFlops = double(1 << 20);
// Blocks of c per thread: more than one, so that a thread the machine runs slower (or that
// joins late) leaves its remaining blocks to the others.
constexpr int64_t kBlocksPerThread = 2;

void run(const Problem& pr, bool threaded) {
  const int64_t m = pr.m, n = pr.n, k = pr.k;
  const int64_t threads = threaded ? num_threads() : 1;
  threaded = threads > 1 && static_cast<double>(m) * n * k >= kSplitFlops;
  // Rows in as few panels as kMR allows, of near-equal heights (128 rows: 7 of 12 and 4 of 11
  // rather than 10 of 12 and one of 8, whose 16 accumulators keep the FMA units less busy).
  const int64_t panels = (m + kMR - 1) / kMR, base = m / panels, taller = m % panels;
  auto panel_row = [&](int64_t s) { return s * base + std::min(s, taller); };
  // Slivers one vector wide where c has at most 16 columns, else two.
  const bool narrow = n <= 16;
  const int64_t nr = narrow ? 16 : kNR;
  const int64_t slivers = (n + nr - 1) / nr;
  const bool a_in_place = pr.a.cs == 1;
  const TileFn* tiles = a_in_place ? (narrow ? kTiles<kARows, 1> : kTiles<kARows, 2>)
                                   : (narrow ? kTiles<kAPanel, 1> : kTiles<kAPanel, 2>);
  auto (*const pack_b)(const float*, int64_t, int64_t, int64_t, int64_t, float*) =
      narrow ? pack<16> : pack<kNR>;
  // k in blocks of near-equal length, at most kKC (784 steps: 2 of 392, not 512 and 272).
  const int64_t k_blocks = (k + kKC - 1) / kKC;
  auto block_start = [&](int64_t b) { return k * b / k_blocks; };
  const int64_t kc_max = (k + k_blocks - 1) / k_blocks;

  // Blocks of c: row_blocks x col_blocks tasks, about kBlocksPerThread per thread. Each task
  // packs the slivers of b under its columns and the panels of a beside its rows, so b is
  // packed once per block row and a once per block column: the split is the one that packs
  // (or, in place, rereads) the least. A transposed b costs twice a plain copy to pack; a
  // read in place costs about half of one.
  const int64_t want = threaded ? threads * kBlocksPerThread : 1;
  int64_t row_blocks = 1, col_blocks = std::min(slivers, want);
  double least = -1.0;
  for (int64_t rb = 1; rb <= std::min(panels, want); ++rb) {
    const int64_t cb = std::min(slivers, (want + rb - 1) / rb);
    const double cost = static_cast<double>(rb) * n * (pr.b.cs == 1 ? 1.0 : 2.0) +
                        static_cast<double>(cb) * m * (a_in_place ? 0.5 : 1.0);
    if (least < 0.0 || cost < least) {
      least = cost;
      row_blocks = rb;
      col_blocks = cb;
    }
  }
  for_blocks(threaded, row_blocks * col_blocks, [&](int64_t begin, int64_t end) {
    const int64_t group = kNC / nr;  // slivers packed at once
    float* pb = scratch<0>(static_cast<size_t>(kc_max * nr * group));
    float* panel = a_in_place ? nullptr : scratch<1>(static_cast<size_t>(kc_max * kMR));
    for (int64_t t = begin; t < end; ++t) {
      const int64_t rb = t / col_blocks, cb = t % col_blocks;
      const int64_t s0 = panels * rb / row_blocks, s1 = panels * (rb + 1) / row_blocks;
      const int64_t q0 = slivers * cb / col_blocks, q1 = slivers * (cb + 1) / col_blocks;
      for (int64_t b = 0; b < k_blocks; ++b) {
        const int64_t k0 = block_start(b), kc = block_start(b + 1) - k0;
        // Slivers in groups whose packed block (kKC x kNC) stays in L2 while the panels of a
        // pass over it.
        for (int64_t g0 = q0; g0 < q1; g0 += group) {
          const int64_t g1 = std::min(q1, g0 + group);
          for (int64_t q = g0; q < g1; ++q) {
            const int64_t j = q * nr;
            pack_b(pr.b.data + k0 * pr.b.rs + j * pr.b.cs, pr.b.rs, pr.b.cs, std::min(nr, n - j),
                   kc, pb + (q - g0) * nr * kc);
          }
          for (int64_t s = s0; s < s1; ++s) {
            const int64_t i = panel_row(s), h = base + (s < taller ? 1 : 0);
            const float* a = pr.a.data + i * pr.a.rs + k0 * pr.a.cs;
            if (!a_in_place) {
              pack<kMR>(a, pr.a.cs, pr.a.rs, h, kc, panel);
              a = panel;
            }
            for (int64_t q = g0; q < g1; ++q) {
              const int64_t j = q * nr;
              tiles[h - 1](kc, a, pr.a.rs, pb + (q - g0) * nr * kc,
                           pr.c + i * pr.c_rs + j * pr.c_cs, pr.c_rs, pr.c_cs, std::min(nr, n - j),
                           b > 0 || pr.accumulate);
            }
          }
        }
      }
    }
  });
}

// c = a @ b through dots (a row-major, n <= kDotColumns), the rows split over the pool.
void run_dots(int64_t m, int64_t n, int64_t k, SgemmOperand a, SgemmOperand b, float* c,
              int64_t ldc, bool threaded) {
  // b's columns, each contiguous along k: b itself where it is transposed, else a copy.
  const float* bt = b.data;
  int64_t ldbt = b.cs;
  if (b.rs != 1) {
    float* copy = scratch<2>(static_cast<size_t>(n * k));
    for (int64_t p = 0; p < k; ++p) {
      for (int64_t j = 0; j < n; ++j) copy[j * k + p] = b.data[p * b.rs + j * b.cs];
    }
    bt = copy;
    ldbt = k;
  }
  const int64_t rows = kDotRows[n - 1];
  const int64_t threads = threaded ? num_threads() : 1;
  const bool split = threads > 1 && static_cast<double>(m) * n * k >= kSplitFlops;
  // One block per thread: a short product gains little from balancing, and the same rows go
  // to the same thread call after call (a training loop's), whose L2 still holds them.
  const int64_t blocks = split ? std::min((m + rows - 1) / rows, threads) : 1;
  for_blocks(split, blocks, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t i = m * t / blocks;
      const int64_t i1 = m * (t + 1) / blocks;
      for (; i + rows <= i1; i += rows) {
        kDots[n - 1](k, a.data + i * a.rs, a.rs, bt, ldbt, c + i * ldc, ldc);
      }
      for (; i < i1; ++i) kDotsOneRow[n - 1](k, a.data + i * a.rs, a.rs, bt, ldbt, c + i * ldc, ldc);
    }
  });
}

// Tiles a product of m rows and n columns costs, in kMR x kNR units (a tile of few rows is
// held back by the latency of its accumulators: count at least 4 rows; up to 16 columns take
// half a tile).
double tile_cost(int64_t m, int64_t n) {
  const double width = n <= 16 ? 0.5 : static_cast<double>((n + kNR - 1) / kNR);
  return static_cast<double>(std::max<int64_t>(m, 4)) * width;
}

}  // namespace

bool own_sgemm_available() {
  static const bool available = simd::kernels().isa == simd::Isa::Avx512;
  return available;
}

bool own_sgemm_suits(int64_t m, int64_t n, int64_t k) {
  const double flops = static_cast<double>(m) * n * k;
  // Up to 2^18 multiply-adds OpenBLAS runs its small-matrix kernels, which skip packing and
  // were as fast or faster (64^3: ~155 against ~135 GFLOP/s).
  return own_sgemm_available() && m > 1 && n > 1 && flops > double(1 << 18);
}

void own_sgemm(int64_t m, int64_t n, int64_t k, SgemmOperand a, SgemmOperand b, float* c,
               int64_t ldc, bool threaded, bool accumulate) {
  if (n <= kDotColumns && a.cs == 1 && !accumulate) {
    run_dots(m, n, k, a, b, c, ldc, threaded);
    return;
  }
  // A thin c (few columns, many rows) times a transposed a runs as its transpose, b^T a^T, so
  // that the 32-wide tiles run along m (a, now b, is packed by contiguous copies).
  if (a.rs == 1 && tile_cost(n, m) * 1.25 < tile_cost(m, n)) {
    run(Problem{n, m, k, {b.data, b.cs, b.rs}, {a.data, a.cs, a.rs}, c, 1, ldc, accumulate},
        threaded);
  } else {
    run(Problem{m, n, k, a, b, c, ldc, 1, accumulate}, threaded);
  }
}

#undef PB_AVX512

}  // namespace pullback::cpu
