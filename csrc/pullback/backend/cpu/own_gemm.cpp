// A float32 gemm with AVX-512 and AVX2 kernels (runtime dispatch; the kernels are in
// own_gemm_kernels.inc, one copy per instruction set): one product on one thread (a batch's)
// or one product split over our pool. This file is the driver, the same for both.
//
// Why our own: OpenBLAS's sgemm reached about 100-110 GFLOP/s per core on the MLP's products
// (256x512x512 and the like) where MKL (PyTorch's) comes close to the FMA units' peak (about
// 160 on an AVX-512 machine), and a threaded OpenBLAS gemm hands its work to a second thread
// pool that takes turns with ours. On AVX2 (AMD Zen 3) OpenBLAS is as fast as ours on large
// products, but ours wins on the narrow and small ones a training step is full of (figures in
// own_gemm_avx2.cpp) and keeps one thread pool.
//
// Shape of the computation (Goto-style): k runs in blocks of near-equal length, at most kc
// steps (512: a 512-step product writes c once). Per block, b is packed into slivers of nr
// columns (two vectors per step, zero past n; a transposed b goes through 8x8 register
// transposes), nc columns at a time so the packed block stays in L2. An mr x nr tile keeps
// its accumulators in registers (AVX-512: 12 x 32, AVX2: 6 x 16). A row-major a is read in
// place (one broadcast per row and step; its mr rows stay in L1 while the slivers stream past
// from L2): packing it would be a transposition, and measured no faster even with rows 2-4 KiB
// apart. A transposed a is copied, once per k block and task, into contiguous panels of mr
// rows (mr consecutive floats per step), read along a's memory rows; a tile then keeps its
// panel in mr rows' worth of L1 instead of one cache line per step. Partial tiles use masked
// loads and stores.
//
// Narrow c (a layer's 10 logits): with a row-major a and at most 12 columns, dot products along
// k (dots); with a transposed a, a thin c runs as its transpose (b^T a^T) so that the slivers
// run along m; otherwise c of at most one vector's columns uses slivers one vector wide.
//
// Threads: c is split into blocks, two per thread so that a thread the machine runs slower
// leaves work to the other; each task packs what it needs of a and b itself (no waiting on
// each other), and the split is chosen to pack the least twice. Every element of c is computed by one task, in the same order (its k blocks in turn, each a
// chain of fmas from zero added to c) whatever the split, so results do not depend on the
// thread count. k is never split across threads.
#include "pullback/backend/cpu/own_gemm.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pullback/backend/cpu/own_gemm_kernels.h"
#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/simd_math.h"

namespace pullback::cpu {
namespace {

using gemm::Kernels;

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

void run(const Kernels& K, const Problem& pr, bool threaded) {
  const int64_t m = pr.m, n = pr.n, k = pr.k, mr = K.mr;
  const int64_t threads = threaded ? num_threads() : 1;
  threaded = threads > 1 && static_cast<double>(m) * n * k >= kSplitFlops;
  // Rows in as few panels as mr allows, of near-equal heights (128 rows on AVX-512: 7 of 12
  // and 4 of 11 rather than 10 of 12 and one of 8, whose 16 accumulators keep the FMA units
  // less busy).
  const int64_t panels = (m + mr - 1) / mr, base = m / panels, taller = m % panels;
  auto panel_row = [&](int64_t s) { return s * base + std::min(s, taller); };
  // Slivers one vector wide where c has at most one vector's columns, else two.
  const bool narrow = n <= K.lanes;
  const int64_t nr = narrow ? K.lanes : 2 * K.lanes;
  const int64_t slivers = (n + nr - 1) / nr;
  const bool a_in_place = pr.a.cs == 1;
  const gemm::TileFn* tiles = K.tiles[a_in_place ? gemm::kARows : gemm::kAPanel][narrow ? 0 : 1];
  const gemm::PackFn pack_b = narrow ? K.pack_narrow : K.pack_wide;
  // k in blocks of near-equal length, at most kc (784 steps: 2 of 392, not 512 and 272).
  const int64_t k_blocks = (k + K.kc - 1) / K.kc;
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
    const int64_t group = std::max<int64_t>(1, K.nc / nr);  // slivers packed at once
    float* pb = scratch<0>(static_cast<size_t>(kc_max * nr * group));
    // A transposed a: the task's panels for one k block, packed once per block.
    const int64_t panel_stride = kc_max * mr + K.lanes;
    const int64_t most_panels = (panels + row_blocks - 1) / row_blocks;
    float* packed_a =
        a_in_place ? nullptr : scratch<1>(static_cast<size_t>(most_panels * panel_stride));
    for (int64_t t = begin; t < end; ++t) {
      const int64_t rb = t / col_blocks, cb = t % col_blocks;
      const int64_t s0 = panels * rb / row_blocks, s1 = panels * (rb + 1) / row_blocks;
      const int64_t q0 = slivers * cb / col_blocks, q1 = slivers * (cb + 1) / col_blocks;
      for (int64_t b = 0; b < k_blocks; ++b) {
        const int64_t k0 = block_start(b), kc = block_start(b + 1) - k0;
        if (!a_in_place) {
          K.pack_panels(pr.a.data + k0 * pr.a.cs + panel_row(s0), pr.a.cs, kc, s1 - s0,
                        std::max<int64_t>(0, std::min(s1, taller) - s0), base, packed_a,
                        panel_stride);
        }
        // Slivers in groups whose packed block (kc x nc) stays in L2 while the panels of a
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
            const float* a = a_in_place ? pr.a.data + i * pr.a.rs + k0
                                        : packed_a + (s - s0) * panel_stride;
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

// c = a @ b through dots (a row-major, n <= gemm::kDotColumns), the rows split over the pool.
void run_dots(const Kernels& K, int64_t m, int64_t n, int64_t k, SgemmOperand a, SgemmOperand b,
              float* c, int64_t ldc, bool threaded) {
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
  const int64_t rows = K.dot_rows[n - 1];
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
        K.dots[n - 1](k, a.data + i * a.rs, a.rs, bt, ldbt, c + i * ldc, ldc);
      }
      for (; i < i1; ++i) K.dots_one_row[n - 1](k, a.data + i * a.rs, a.rs, bt, ldbt, c + i * ldc, ldc);
    }
  });
}

// Tiles a product of m rows and n columns costs, in mr x nr units (a tile of few rows is held
// back by the latency of its accumulators: count at least a third of mr; up to one vector's
// columns take half a tile).
double tile_cost(const Kernels& K, int64_t m, int64_t n) {
  const int64_t nr = 2 * K.lanes;
  const double width = n <= K.lanes ? 0.5 : static_cast<double>((n + nr - 1) / nr);
  return static_cast<double>(std::max<int64_t>(m, K.mr / 3)) * width;
}

// The kernels for `isa`, if this CPU runs them (PULLBACK_ISA caps simd::kernels()).
const Kernels* gemm_kernels_for(simd::Isa isa) {
  if (simd::kernels_for(isa) == nullptr) return nullptr;
  if (isa == simd::Isa::Avx512) return &gemm::kAvx512Kernels;
  if (isa == simd::Isa::Avx2) return &gemm::kAvx2Kernels;
  return nullptr;
}

const Kernels* chosen_kernels() {
  static const Kernels* chosen = gemm_kernels_for(simd::kernels().isa);
  return chosen;
}

void sgemm_with(const Kernels& K, int64_t m, int64_t n, int64_t k, SgemmOperand a,
                SgemmOperand b, float* c, int64_t ldc, bool threaded, bool accumulate) {
  if (n <= gemm::kDotColumns && a.cs == 1 && !accumulate) {
    run_dots(K, m, n, k, a, b, c, ldc, threaded);
    return;
  }
  // A thin c (few columns, many rows) times a transposed a runs as its transpose, b^T a^T, so
  // that the two-vector tiles run along m (a, now b, is packed by contiguous copies).
  if (a.rs == 1 && tile_cost(K, n, m) * 1.25 < tile_cost(K, m, n)) {
    run(K, Problem{n, m, k, {b.data, b.cs, b.rs}, {a.data, a.cs, a.rs}, c, 1, ldc, accumulate},
        threaded);
  } else {
    run(K, Problem{m, n, k, a, b, c, ldc, 1, accumulate}, threaded);
  }
}

}  // namespace

bool own_sgemm_available() { return chosen_kernels() != nullptr; }

bool own_sgemm_suits(int64_t m, int64_t n, int64_t k) {
  const double flops = static_cast<double>(m) * n * k;
  // Up to 2^18 multiply-adds OpenBLAS runs its small-matrix kernels, which skip packing and
  // were as fast or faster (64^3: ~155 against ~135 GFLOP/s).
  return own_sgemm_available() && m > 1 && n > 1 && flops > double(1 << 18);
}

void own_sgemm(int64_t m, int64_t n, int64_t k, SgemmOperand a, SgemmOperand b, float* c,
               int64_t ldc, bool threaded, bool accumulate) {
  sgemm_with(*chosen_kernels(), m, n, k, a, b, c, ldc, threaded, accumulate);
}

bool own_sgemm_on(simd::Isa isa, int64_t m, int64_t n, int64_t k, SgemmOperand a,
                  SgemmOperand b, float* c, int64_t ldc, bool threaded, bool accumulate) {
  const Kernels* K = gemm_kernels_for(isa);
  if (K == nullptr) return false;
  sgemm_with(*K, m, n, k, a, b, c, ldc, threaded, accumulate);
  return true;
}

}  // namespace pullback::cpu
