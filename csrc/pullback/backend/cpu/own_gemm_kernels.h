// The inner kernels of own_sgemm (own_gemm.cpp), one set per instruction set: AVX-512
// (own_gemm_avx512.cpp) and AVX2 (own_gemm_avx2.cpp), both written once in
// own_gemm_kernels.inc over a small vector interface. The driver in own_gemm.cpp only sees
// this table.
#pragma once

#include <cstdint>

namespace pullback::cpu::gemm {

// How a tile reads a: in place and row-major (a(r, p) at a[r * lda + p]) or from a packed
// panel (a(r, p) at a[p * mr + r]).
enum ALayout { kARows, kAPanel };

// c (R x cols, c(r, j) at c[r * c_rs + j * c_cs]) = (or += when `add`) R rows of a times a
// packed sliver of b.
using TileFn = void (*)(int64_t kc, const float* a, int64_t lda, const float* bp, float* c,
                        int64_t c_rs, int64_t c_cs, int64_t cols, bool add);
// Packs `count` (at most W) columns of a kc x count block, x(p, j) at x[p * rs + j * cs], into
// out[p * W + j], zero for count <= j < W.
using PackFn = void (*)(const float* x, int64_t rs, int64_t cs, int64_t count, int64_t kc,
                        float* out);
// Packs the panels of a transposed a for kc steps (see pack_panels in own_gemm_kernels.inc).
using PanelsFn = void (*)(const float* x, int64_t ld, int64_t kc, int64_t count, int64_t taller,
                          int64_t h, float* out, int64_t stride);
// c (R x N, row stride ldc) = R rows of a row-major a times b given as its N columns (b(p, j)
// at bt[j * ldbt + p]): dot products along k, for a c too narrow for the tiles.
using DotsFn = void (*)(int64_t k, const float* a, int64_t lda, const float* bt, int64_t ldbt,
                        float* c, int64_t ldc);

constexpr int kMaxRows = 12;    // the most rows a tile takes on any instruction set
constexpr int kDotColumns = 12; // the most columns the dot-product path takes

struct Kernels {
  int64_t lanes;  // floats per vector
  int64_t mr;     // rows per tile (at most kMaxRows)
  int64_t kc;     // most steps along k per block
  int64_t nc;     // columns per packed block of b (kc x nc floats stay in L2)
  // tiles[layout][wide][R - 1]: slivers two vectors wide (wide) or one.
  TileFn tiles[2][2][kMaxRows];
  PanelsFn pack_panels;
  PackFn pack_wide;    // W = 2 lanes
  PackFn pack_narrow;  // W = lanes
  // dots[N - 1] takes dot_rows[N - 1] rows at once, dots_one_row[N - 1] one.
  int64_t dot_rows[kDotColumns];
  DotsFn dots[kDotColumns];
  DotsFn dots_one_row[kDotColumns];
};

// Defined only where the compiler can target them; used only where the CPU runs them.
extern const Kernels kAvx512Kernels;
extern const Kernels kAvx2Kernels;

}  // namespace pullback::cpu::gemm
