// Winograd convolution F(m x m, 3 x 3) for 3x3 stride-1 float32 convolutions, channels last.
//
// The output is cut into m x m tiles; tile t reads an a x a input patch d (a = m + 2) and
//   y_t = A^T [ U (.) V_t ] A,   U = G w G^T (per output/input channel pair),   V_t = B^T d_t B,
// where (.) multiplies elementwise over the a x a positions and sums over input channels: one
// gemm per position xi, M[xi] (tiles x O) = V[xi] (tiles x C) @ U[xi] (C x O). That costs a^2
// multiply-adds per channel pair per tile instead of 9 m^2 (F(4x4): 36 against 144).
//
// Work is done per block of tiles small enough that its transformed inputs and products stay
// in L2: transform the block's patches, run the a^2 gemms, transform back into y. The weight is
// transformed once per call (in double, then rounded). Each tile is computed by one block in
// the same order whatever the number of threads, so results do not depend on it.
//
// The weight derivative is the same algebra read backwards: with Z_t = A dY_t A^T,
//   dw = G^T [ sum_t Z_t (.) V_t ] G,
// i.e. per position a gemm dU[xi] (C x O) += V[xi]^T Z[xi] summed over tiles. The tiles are
// summed in a fixed number of chunks (each a float accumulator), the chunks then added in
// order in double, so that sum too is independent of the thread count.
//
// Measured on the ResNet block (32x32x32x64 -> 64, pad 1), one thread, and the largest error
// against float64 relative to the largest output (also with inputs spread over e^-8..e^8):
//                          forward   dx        dw        error fwd / dx / dw
//   im2col (conv.cpp)      x 1.85    x 1.85    x 1.7     6.7e-7 / 6.6e-7 / 3.3e-7
//   F(2x2)                 12.8 ms   13.0 ms   15.6 ms   3.6e-7 / 3.6e-7 / 4.0e-7
//   F(4x4), 0 +-1 +-2      7.4       7.6       9.0       8.2e-6 / 9.4e-6 / 3.9e-6
//   F(4x4), 0 +-1 2 -1/2   7.5       7.7       9.4       3.2e-6 / 2.9e-6 / 1.3e-6
// (im2col: its time over the default's, measured side by side on a busier machine.) F(4x4) with
// the better-conditioned points is the default; F(2x2) takes small outputs (see
// tile_size). The tests' float32 tolerance (2e-5 of the largest output) holds for all of them.
#include "pullback/backend/cpu/conv_winograd.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "pullback/backend/cpu/blas_threads.h"
#include "pullback/backend/cpu/own_gemm.h"
#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/simd_math.h"

namespace pullback::cpu {
namespace {

// Floats of transformed inputs and products per block (512 KiB): with the transformed weight
// they stay in L2. The ResNet block (64 channels) gets 28 tiles per block; 24 to 36 measured
// best, 96 and more 10-15% slower.
constexpr int64_t kBlockFloats = int64_t(1) << 17;
// The weight derivative's tiles are summed in at most this many chunks (fixed, not the thread
// count, so results do not depend on it).
constexpr int64_t kWeightGradChunks = 4;

// The one-dimensional transforms of F(m, 3): inputs (a values) -> B^T d, products (a values)
// -> A^T p (m values), output cotangents (m values) -> A dy (a values). Written out so that
// no multiplication by 0 or 1 remains.
template <int M>
struct Tile;

template <>
struct Tile<2> {
  static constexpr int kA = 4;
  // G: the 4 x 3 weight transform.
  static constexpr double kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  template <class V>
  PB_SIMD_INLINE static void input(const V* d, V* o) {
    o[0] = d[0] - d[2];
    o[1] = d[1] + d[2];
    o[2] = d[2] - d[1];
    o[3] = d[1] - d[3];
  }
  template <class V>
  PB_SIMD_INLINE static void output(const V* p, V* y) {
    y[0] = p[0] + p[1] + p[2];
    y[1] = p[1] - p[2] - p[3];
  }
  template <class V>
  PB_SIMD_INLINE static void grad(const V* dy, V* z) {
    z[0] = dy[0];
    z[1] = dy[0] + dy[1];
    z[2] = dy[0] - dy[1];
    z[3] = -dy[1];
  }
};

template <>
struct Tile<4> {
  static constexpr int kA = 6;
  // G: the 6 x 3 weight transform. Interpolation points 0, 1, -1, 2, -1/2 and infinity: in
  // float32 about 2.5 times more accurate than the usual 0, 1, -1, 2, -2 (whose transforms
  // reach 8 where these reach 2.5), for a few more additions.
  static constexpr double kG[6][3] = {{1, 0, 0},
                                      {-1.0 / 3, -1.0 / 3, -1.0 / 3},
                                      {1.0 / 3, -1.0 / 3, 1.0 / 3},
                                      {1.0 / 15, 2.0 / 15, 4.0 / 15},
                                      {-16.0 / 15, 8.0 / 15, -4.0 / 15},
                                      {0, 0, 1}};
  template <class V>
  PB_SIMD_INLINE static void input(const V* d, V* o) {
    const V d42 = d[4] - d[2], d31 = d[3] - d[1];
    o[0] = (d[0] + d[4] - 2.0f * d[2]) - 1.5f * d31;
    o[1] = (d[4] - d[1]) - 2.5f * d[2] - 0.5f * d[3];
    o[2] = (d[4] + d[1]) + 0.5f * d[2] - 2.5f * d[3];
    o[3] = d42 + 0.5f * d31;
    o[4] = d42 - 2.0f * d31;
    o[5] = (d[1] + d[5] - 2.0f * d[3]) + 1.5f * (d[2] - d[4]);
  }
  template <class V>
  PB_SIMD_INLINE static void output(const V* p, V* y) {
    const V s12 = p[1] + p[2], d12 = p[1] - p[2];
    y[0] = p[0] + s12 + p[3] + p[4];
    y[1] = d12 + 2.0f * p[3] - 0.5f * p[4];
    y[2] = s12 + 4.0f * p[3] + 0.25f * p[4];
    y[3] = d12 + 8.0f * p[3] - 0.125f * p[4] + p[5];
  }
  template <class V>
  PB_SIMD_INLINE static void grad(const V* dy, V* z) {
    const V s02 = dy[0] + dy[2], s13 = dy[1] + dy[3];
    z[0] = dy[0];
    z[1] = s02 + s13;
    z[2] = s02 - s13;
    z[3] = dy[0] + 2.0f * dy[1] + 4.0f * dy[2] + 8.0f * dy[3];
    z[4] = dy[0] - 0.5f * dy[1] + 0.25f * dy[2] - 0.125f * dy[3];
    z[5] = dy[3];
  }
};

// Applies a one-dimensional transform to n channels at once: entry k of the input at
// in + k * is, entry k of the output at out + k * os (n floats each). Sixteen channels at a
// time as one GCC vector, which each instruction set's kernel lowers to its own registers
// (the auto-vectorizer versions this loop for aliasing and took the scalar branch).
using Vec16 = float __attribute__((vector_size(64)));
enum class Step { Input, Output, Grad };

template <int M, Step S, class V>
PB_SIMD_INLINE void apply(const V* u, V* v) {
  if constexpr (S == Step::Input) Tile<M>::input(u, v);
  else if constexpr (S == Step::Output) Tile<M>::output(u, v);
  else Tile<M>::grad(u, v);
}

template <int M, Step S>
PB_SIMD_INLINE void transform_rows(const float* in, int64_t is, float* out, int64_t os,
                                   int64_t n) {
  constexpr int In = S == Step::Grad ? M : Tile<M>::kA, Out = S == Step::Output ? M : Tile<M>::kA;
  int64_t c = 0;
  for (; c + 16 <= n; c += 16) {
    Vec16 u[In], v[Out];
    for (int k = 0; k < In; ++k) __builtin_memcpy(&u[k], in + k * is + c, sizeof(Vec16));
    apply<M, S>(u, v);
    for (int k = 0; k < Out; ++k) __builtin_memcpy(out + k * os + c, &v[k], sizeof(Vec16));
  }
  for (; c < n; ++c) {
    float u[In], v[Out];
    for (int k = 0; k < In; ++k) u[k] = in[k * is + c];
    apply<M, S>(u, v);
    for (int k = 0; k < Out; ++k) out[k * os + c] = v[k];
  }
}

using RowKernel = void (*)(const float* in, int64_t is, float* out, int64_t os, int64_t n);
struct RowKernels {
  RowKernel input, output, grad;
};

// The row kernels of both tiles, once per instruction set (ATTR: its target attribute).
#define PB_WINOGRAD_ROWS(ns, ATTR)                                                    \
  namespace ns {                                                                     \
  template <int M>                                                                   \
  ATTR void input(const float* in, int64_t is, float* out, int64_t os, int64_t n) {  \
    transform_rows<M, Step::Input>(in, is, out, os, n);                              \
  }                                                                                  \
  template <int M>                                                                   \
  ATTR void output(const float* in, int64_t is, float* out, int64_t os, int64_t n) { \
    transform_rows<M, Step::Output>(in, is, out, os, n);                             \
  }                                                                                  \
  template <int M>                                                                   \
  ATTR void grad(const float* in, int64_t is, float* out, int64_t os, int64_t n) {   \
    transform_rows<M, Step::Grad>(in, is, out, os, n);                               \
  }                                                                                  \
  template <int M>                                                                   \
  constexpr RowKernels table{input<M>, output<M>, grad<M>};                          \
  }
#define PB_AVX512_TARGET \
  __attribute__((target("avx512f,avx512vl,avx2,fma,prefer-vector-width=512")))
PB_WINOGRAD_ROWS(rows_baseline, )
PB_WINOGRAD_ROWS(rows_avx2, __attribute__((target("avx2,fma"))))
PB_WINOGRAD_ROWS(rows_avx512, PB_AVX512_TARGET)
#undef PB_AVX512_TARGET
#undef PB_WINOGRAD_ROWS

// The same choice as the elementwise kernels (PULLBACK_ISA caps both).
template <int M>
const RowKernels& row_kernels() {
  switch (simd::kernels().isa) {
    case simd::Isa::Avx512: return rows_avx512::table<M>;
    case simd::Isa::Avx2: return rows_avx2::table<M>;
    default: return rows_baseline::table<M>;
  }
}

// c (m x n, ldc) = a @ b (+= with `add`), a read transposed (a(i, p) at a[p * lda + i]) when
// `ta`. Our own gemm where it suits, else OpenBLAS (held to one thread by the caller).
void sgemm(bool ta, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float* c, int64_t ldc, bool add) {
  if (own_sgemm_suits(m, n, k)) {
    own_sgemm(m, n, k, {a, ta ? 1 : lda, ta ? lda : 1}, {b, ldb, 1}, c, ldc, false, add);
    return;
  }
  scipy_cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, int(m), int(n),
                    int(k), 1.0f, a, int(lda), b, int(ldb), add ? 1.0f : 0.0f, c, int(ldc));
}

// A float buffer left uninitialized (every element is written before it is read).
std::unique_ptr<float[]> buffer(int64_t n) {
  return std::unique_ptr<float[]>(new float[static_cast<size_t>(std::max<int64_t>(n, 1))]);
}

// How the tiles are laid out and cut into blocks.
template <int M>
struct Tiling {
  static constexpr int kA = Tile<M>::kA, kA2 = kA * kA;
  int64_t rows, cols, count;  // tiles per image along each axis, tiles in all
  int64_t block, blocks;      // tiles per block, blocks

  Tiling(const WinogradConv& g, int64_t min_block) {
    rows = (g.P0 + M - 1) / M;
    cols = (g.P1 + M - 1) / M;
    count = g.N * rows * cols;
    // Few enough tiles per block for L2, but at least min_block (the gemms' rows, or the
    // length of the weight derivative's sums) for the gemms to run well where the channels
    // are many. Independent of the thread count.
    block = std::clamp<int64_t>(kBlockFloats / (kA2 * (g.C + g.O)), min_block, 512);
    block = std::min(block, count);
    blocks = (count + block - 1) / block;
  }

  // Tile t: its image and the output position of its first row and column.
  struct Origin {
    int64_t n, y, x;
  };
  Origin origin(int64_t t) const {
    return {t / (rows * cols), (t / cols) % rows * M, t % cols * M};
  }
};

// Runs f(begin, end) over blocks [0, n) on the pool, OpenBLAS held to one thread meanwhile.
void for_blocks(int64_t n, const std::function<void(size_t, size_t)>& f, size_t max_chunk) {
  if (n > 1 && num_threads() > 1) {
    SingleThreadedBlas hold;
    parallel_for(static_cast<size_t>(n), 1, f, max_chunk);
  } else {
    f(0, static_cast<size_t>(n));
  }
}

// Transforms the input patch of tile `t` into v (position xi's C channels at v + xi * vs).
// `rows` (a * a * C) and `gather` (a * C) are scratch.
template <int M>
void input_tile(const WinogradConv& g, const RowKernels& rk, const Tiling<M>& tl, const float* x,
                int64_t t, float* v, int64_t vs, float* rows, float* gather) {
  constexpr int A = Tile<M>::kA;
  const int64_t C = g.C;
  const auto at = tl.origin(t);
  const int64_t y0 = at.y - g.lo0, x0 = at.x - g.lo1;
  for (int i = 0; i < A; ++i) {
    float* row = rows + i * A * C;
    const int64_t iy = y0 + i;
    if (iy < 0 || iy >= g.H) {
      std::memset(row, 0, sizeof(float) * A * C);
      continue;
    }
    const float* line = x + (at.n * g.H + iy) * g.W * C;
    if (x0 >= 0 && x0 + A <= g.W) {
      rk.input(line + x0 * C, C, row, C, C);
    } else {
      for (int j = 0; j < A; ++j) {
        const int64_t ix = x0 + j;
        if (ix < 0 || ix >= g.W) std::memset(gather + j * C, 0, sizeof(float) * C);
        else std::memcpy(gather + j * C, line + ix * C, sizeof(float) * C);
      }
      rk.input(gather, C, row, C, C);
    }
  }
  for (int j = 0; j < A; ++j) rk.input(rows + j * C, A * C, v + j * vs, A * vs, C);
}

// Transforms the products of tile `t` (position xi's O values at p + xi * ps) back into y.
// `rows` (a * m * O) and `tile` (m * m * O) are scratch. Returns whether the tile's outputs are
// all finite (checked while they are in L1).
template <int M>
bool output_tile(const WinogradConv& g, const RowKernels& rk, const Tiling<M>& tl,
                 const float* p, int64_t ps, int64_t t, float* y, float* rows, float* tile) {
  constexpr int A = Tile<M>::kA;
  const int64_t O = g.O;
  const auto at = tl.origin(t);
  const int64_t y0 = at.y, x0 = at.x;
  for (int i = 0; i < A; ++i) rk.output(p + i * A * ps, ps, rows + i * M * O, O, O);
  float* dst = y + ((at.n * g.P0 + y0) * g.P1 + x0) * O;
  const bool inside = y0 + M <= g.P0 && x0 + M <= g.P1;
  for (int j = 0; j < M; ++j) {
    if (inside) rk.output(rows + j * O, M * O, dst + j * O, g.P1 * O, O);
    else rk.output(rows + j * O, M * O, tile + j * O, M * O, O);
  }
  const int64_t h = std::min<int64_t>(M, g.P0 - y0), w = std::min<int64_t>(M, g.P1 - x0);
  bool finite = true;
  for (int64_t i = 0; i < h; ++i) {
    float* row = dst + i * g.P1 * O;
    if (!inside) std::memcpy(row, tile + i * M * O, sizeof(float) * w * O);
    finite &= simd::all_finite(row, static_cast<size_t>(w * O));
  }
  return finite;
}

// Transforms the output cotangent of tile `t` into z (position xi's O values at z + xi * zs).
// `rows` (m * a * O) and `gather` (m * O) are scratch.
template <int M>
void grad_tile(const WinogradConv& g, const RowKernels& rk, const Tiling<M>& tl, const float* ct,
               int64_t t, float* z, int64_t zs, float* rows, float* gather) {
  constexpr int A = Tile<M>::kA;
  const int64_t O = g.O;
  const auto at = tl.origin(t);
  const int64_t y0 = at.y, x0 = at.x;
  const int64_t w = std::min<int64_t>(M, g.P1 - x0);
  for (int i = 0; i < M; ++i) {
    float* row = rows + i * A * O;
    if (y0 + i >= g.P0) {
      std::memset(row, 0, sizeof(float) * A * O);
      continue;
    }
    const float* src = ct + ((at.n * g.P0 + y0 + i) * g.P1 + x0) * O;
    if (w == M) {
      rk.grad(src, O, row, O, O);
    } else {
      std::memcpy(gather, src, sizeof(float) * w * O);
      std::memset(gather + w * O, 0, sizeof(float) * (M - w) * O);
      rk.grad(gather, O, row, O, O);
    }
  }
  for (int j = 0; j < A; ++j) rk.grad(rows + j * O, A * O, z + j * zs, A * zs, O);
}

// U[xi] (C x O) = G w G^T per channel pair, w flipped when the convolution is; in double. The
// taps are first laid out as nine C x O matrices, so that the transform runs along contiguous
// channel pairs (vectorized, spread over the pool).
template <int M>
std::unique_ptr<float[]> transformed_weight(const WinogradConv& g, const float* w) {
  constexpr int A = Tile<M>::kA;
  const auto& G = Tile<M>::kG;
  const int64_t C = g.C, O = g.O, Q = C * O;
  // Transposed in 16 x 16 blocks of (o, c), so that reads and writes both stay in cache.
  auto taps = buffer(9 * Q);
  for (int64_t o0 = 0; o0 < O; o0 += 16) {
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      for (int k = 0; k < 9; ++k) {
        float* dst = taps.get() + k * Q;
        for (int64_t o = o0; o < std::min(o0 + 16, O); ++o) {
          const float* src = w + (o * 9 + (g.flip ? 8 - k : k)) * C;
          for (int64_t c = c0; c < std::min(c0 + 16, C); ++c) dst[c * O + o] = src[c];
        }
      }
    }
  }
  auto u = buffer(A * A * Q);
  auto run = [&](size_t begin, size_t end) {
    const int64_t q0 = static_cast<int64_t>(begin), n = static_cast<int64_t>(end - begin);
    std::vector<double> h(static_cast<size_t>(A * 3 * n));  // G w, row i and column b
    for (int i = 0; i < A; ++i) {
      for (int b = 0; b < 3; ++b) {
        double* hr = h.data() + (i * 3 + b) * n;
        const float* k0 = taps.get() + b * Q + q0;
        const float* k1 = k0 + 3 * Q;
        const float* k2 = k0 + 6 * Q;
        for (int64_t q = 0; q < n; ++q) {
          hr[q] = G[i][0] * double(k0[q]) + G[i][1] * double(k1[q]) + G[i][2] * double(k2[q]);
        }
      }
    }
    for (int i = 0; i < A; ++i) {
      const double* h0 = h.data() + i * 3 * n;
      for (int j = 0; j < A; ++j) {
        float* ur = u.get() + (i * A + j) * Q + q0;
        for (int64_t q = 0; q < n; ++q) {
          ur[q] = static_cast<float>(h0[q] * G[j][0] + h0[n + q] * G[j][1] +
                                     h0[2 * n + q] * G[j][2]);
        }
      }
    }
  };
  parallel_for(static_cast<size_t>(Q), 4096, run);
  return u;
}

template <int M>
bool conv_tiles(const WinogradConv& g, const float* x, const float* w, float* y) {
  constexpr int A = Tile<M>::kA, A2 = A * A;
  const RowKernels& rk = row_kernels<M>();
  const Tiling<M> tl(g, 16);
  const auto u = transformed_weight<M>(g, w);
  const int64_t C = g.C, O = g.O, T = tl.block;
  std::atomic<bool> finite{true};
  auto run = [&](size_t begin, size_t end) {
    bool block_finite = true;
    auto v = buffer(A2 * T * C), p = buffer(A2 * T * O);
    auto rows = buffer(A * A * std::max(C, O));
    auto scratch = buffer(std::max(A, M * M) * std::max(C, O));
    for (size_t b = begin; b < end; ++b) {
      const int64_t t0 = static_cast<int64_t>(b) * T, nt = std::min(T, tl.count - t0);
      for (int64_t t = 0; t < nt; ++t) {
        input_tile<M>(g, rk, tl, x, t0 + t, v.get() + t * C, T * C, rows.get(), scratch.get());
      }
      for (int xi = 0; xi < A2; ++xi) {
        sgemm(false, nt, O, C, v.get() + xi * T * C, C, u.get() + xi * C * O, O,
              p.get() + xi * T * O, O, false);
      }
      for (int64_t t = 0; t < nt; ++t) {
        block_finite &= output_tile<M>(g, rk, tl, p.get() + t * O, T * O, t0 + t, y, rows.get(),
                                       scratch.get());
      }
    }
    if (!block_finite) finite.store(false, std::memory_order_relaxed);
  };
  for_blocks(tl.blocks, run, 4);
  return finite.load();
}

template <int M>
void weight_grad_tiles(const WinogradConv& g, const float* x, const float* ct, float* dw) {
  constexpr int A = Tile<M>::kA, A2 = A * A;
  const RowKernels& rk = row_kernels<M>();
  const Tiling<M> tl(g, 24);
  const int64_t C = g.C, O = g.O, T = tl.block;
  const int64_t chunks = std::min(kWeightGradChunks, tl.blocks);
  const int64_t part = A2 * C * O;
  auto partial = buffer(chunks * part);  // each chunk's first block writes, the rest add
  auto run = [&](size_t begin, size_t end) {
    auto v = buffer(A2 * T * C), z = buffer(A2 * T * O);
    auto rows = buffer(A * A * std::max(C, O));
    auto scratch = buffer(std::max(A, M * M) * std::max(C, O));
    for (size_t chunk = begin; chunk < end; ++chunk) {
      float* acc = partial.get() + chunk * part;
      const int64_t b0 = tl.blocks * static_cast<int64_t>(chunk) / chunks;
      const int64_t b1 = tl.blocks * static_cast<int64_t>(chunk + 1) / chunks;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t t0 = b * T, nt = std::min(T, tl.count - t0);
        for (int64_t t = 0; t < nt; ++t) {
          input_tile<M>(g, rk, tl, x, t0 + t, v.get() + t * C, T * C, rows.get(), scratch.get());
          grad_tile<M>(g, rk, tl, ct, t0 + t, z.get() + t * O, T * O, rows.get(), scratch.get());
        }
        for (int xi = 0; xi < A2; ++xi) {
          sgemm(true, C, O, nt, v.get() + xi * T * C, C, z.get() + xi * T * O, O,
                acc + xi * C * O, O, b > b0);
        }
      }
    }
  };
  for_blocks(chunks, run, 1);

  // dw[o, a', b', c] = sum_{i, j} G[i][a] G[j][b] dU[i, j][c][o], the chunks added in order,
  // in double, kQ channel pairs (q = c * O + o) at a time.
  constexpr int64_t kQ = 1024;
  const auto& G = Tile<M>::kG;
  std::vector<double> du(static_cast<size_t>(A2 * kQ)), h(static_cast<size_t>(3 * A * kQ));
  for (int64_t q0 = 0; q0 < C * O; q0 += kQ) {
    const int64_t nq = std::min(kQ, C * O - q0);
    for (int xi = 0; xi < A2; ++xi) {
      double* d = du.data() + xi * kQ;
      const float* src = partial.get() + xi * C * O + q0;
      for (int64_t q = 0; q < nq; ++q) d[q] = src[q];
      for (int64_t k = 1; k < chunks; ++k) {
        for (int64_t q = 0; q < nq; ++q) d[q] += src[k * part + q];
      }
    }
    for (int a = 0; a < 3; ++a) {
      for (int j = 0; j < A; ++j) {
        double* hr = h.data() + (a * A + j) * kQ;
        for (int64_t q = 0; q < nq; ++q) hr[q] = 0;
        for (int i = 0; i < A; ++i) {
          const double* d = du.data() + (i * A + j) * kQ;
          for (int64_t q = 0; q < nq; ++q) hr[q] += G[i][a] * d[q];
        }
      }
    }
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b) {
        const int sa = g.flip ? 2 - a : a, sb = g.flip ? 2 - b : b;
        for (int64_t q = 0; q < nq; ++q) {
          double s = 0;
          for (int j = 0; j < A; ++j) s += h[(a * A + j) * kQ + q] * G[j][b];
          const int64_t c = (q0 + q) / O, o = (q0 + q) % O;
          dw[((o * 3 + sa) * 3 + sb) * C + c] = static_cast<float>(s);
        }
      }
    }
  }
}

// The tile size: F(4x4, 3x3) does 36 multiplications per 16 outputs, F(2x2, 3x3) 16 per 4, so
// F(4x4) wins where the tiles cover the output well; F(2x2) where they do not (outputs of
// 6x6 or less), being the more accurate (see the top of the file). PULLBACK_WINOGRAD_TILE=2|4
// overrides the choice; 0 turns the Winograd path off (im2col's rounding, about 4 times smaller
// than F(4x4)'s, for whoever needs it).
int forced_tile() {
  static const int forced = [] {
    const char* env = std::getenv("PULLBACK_WINOGRAD_TILE");
    return env && *env ? std::atoi(env) : -1;
  }();
  return forced;
}

int tile_size(const WinogradConv& g) {
  const int forced = forced_tile();
  if (forced == 2 || forced == 4) return forced;
  const int64_t cost4 = ((g.P0 + 3) / 4) * ((g.P1 + 3) / 4) * 36;
  const int64_t cost2 = ((g.P0 + 1) / 2) * ((g.P1 + 1) / 2) * 16;
  return cost4 < cost2 ? 4 : 2;
}

}  // namespace

bool winograd_suits(const WinogradConv& g) {
  // Fewer channels leave the products too small to gain over im2col. Transforming the weight
  // costs about as much per channel pair as 30 tiles save, so few tiles only pay where the
  // channels are few (im2col's gemm is then narrow and slow). Many channels make the
  // transformed weight (36 floats per pair) outgrow L2, and every block streams it again.
  // Measured against im2col, one thread: 64 x 64 channels 2x faster from 32 tiles on, 128 x
  // 128 2.6x at 392 tiles; 256 x 256 1.3x at 128 tiles and 2x at 512; 512 x 512 at 128 tiles
  // 1.15x slower; 4 to 32 tiles of 256 or 512 channels 1.3 to 4x slower.
  if (forced_tile() == 0 || g.C < 8 || g.O < 8 || g.P0 < 1 || g.P1 < 1) return false;
  const int64_t m = tile_size(g), pairs = g.C * g.O;
  const int64_t tiles = g.N * ((g.P0 + m - 1) / m) * ((g.P1 + m - 1) / m);
  if (pairs <= 64 * 64) return true;
  if (pairs <= 128 * 128) return tiles >= 128;
  return pairs <= 256 * 256 && tiles >= 256;
}

bool winograd_weight_grad_suits(const WinogradConv& g) {
  // Its sums over tiles (one C x O gemm per position and block) gained nothing over im2col at
  // 256 x 256 channels (128 and 512 tiles).
  return winograd_suits(g) && g.C * g.O <= 128 * 128;
}

bool winograd_conv(const WinogradConv& g, const float* x, const float* w, float* y) {
  return tile_size(g) == 4 ? conv_tiles<4>(g, x, w, y) : conv_tiles<2>(g, x, w, y);
}

bool winograd_weight_grad(const WinogradConv& g, const float* x, const float* ct, float* dw) {
  if (tile_size(g) == 4) weight_grad_tiles<4>(g, x, ct, dw);
  else weight_grad_tiles<2>(g, x, ct, dw);
  return simd::all_finite(dw, static_cast<size_t>(g.O * 9 * g.C));
}

}  // namespace pullback::cpu
