// Convolution as blocked im2col + gemm: a block of output rows gathers its input windows into
// a small (cache-resident) column buffer, which one OpenBLAS gemm multiplies by the weight.
// Blocks run on the pool's threads, each with a single-threaded gemm. Input dilation, padding
// (negative: cropping), kernel dilation and flipping are all resolved by per-axis index tables,
// so one kernel serves the forward convolution and both of its derivatives. Float32 2-D 3x3
// stride-1 convolutions (the input derivative of one is another) and their weight derivatives
// go to the Winograd kernels of conv_winograd.cpp instead, where the channels suit them.
#include <algorithm>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "pullback/backend/cpu/blas_threads.h"
#include "pullback/backend/cpu/conv_winograd.h"
#include "pullback/backend/cpu/own_gemm.h"
#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/ops.h"
#include "pullback/primitives/conv.h"

namespace pullback {
namespace {

// Column-buffer budget per block (elements): stays in L2 next to the gemm's own packing.
constexpr int64_t kColumnBlockElements = int64_t(1) << 17;
// At most this many columns (taps x channels) per block; longer rows are summed block by block.
constexpr int64_t kMaxBlockColumns = 4096;
// Fewest output rows per block (a gemm of fewer rows runs poorly).
constexpr int64_t kMinBlockRows = 16;

// c (m x n, ldc) = op(a) @ op(b) (op: transposed when asked), accumulated into c when `add`.
template <typename T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T* c, int64_t ldc, bool add) {
  const auto oa = ta ? CblasTrans : CblasNoTrans, ob = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    // Our own gemm where it runs (own_gemm.h): it matches MKL where OpenBLAS trails it (the
    // ResNet block: forward 13.5 -> 10.7 ms, fwd+bwd 38.9 -> 32.4 ms). Each call here is one
    // block on one pool thread, so it runs unthreaded.
    if (cpu::own_sgemm_suits(m, n, k)) {
      cpu::own_sgemm(m, n, k, {a, ta ? 1 : lda, ta ? lda : 1}, {b, tb ? 1 : ldb, tb ? ldb : 1},
                     c, ldc, false, add);
      return;
    }
    scipy_cblas_sgemm(CblasRowMajor, oa, ob, m, n, k, 1.0f, a, lda, b, ldb, add ? 1.0f : 0.0f, c,
                      ldc);
  } else {
    scipy_cblas_dgemm(CblasRowMajor, oa, ob, m, n, k, 1.0, a, lda, b, ldb, add ? 1.0 : 0.0, c,
                      ldc);
  }
}

// The convolution seen as three spatial axes (missing leading ones have size 1).
struct Geometry {
  int64_t N, C, O, G, Cg, Og;
  int64_t S[3], K[3], P[3];
  // src[i][p * K[i] + t]: the input index along axis i read by output p through tap t, or -1
  // where that position is padding or a dilation hole.
  std::vector<int64_t> src[3];
  int64_t taps() const { return K[0] * K[1] * K[2]; }
  int64_t rows() const { return N * P[0] * P[1] * P[2]; }
};

Geometry geometry_of(const Shape& x, const Shape& w, const Shape& out, const ConvParams& p) {
  Geometry g;
  const int d = static_cast<int>(p.strides.size());
  g.N = x[0];
  g.C = x.back();
  g.O = w[0];
  g.G = p.groups;
  g.Cg = w.back();
  g.Og = g.O / g.G;
  for (int i = 0; i < 3; ++i) {
    const int a = i - (3 - d);  // the spatial axis this is, or negative for a padded one
    g.S[i] = a < 0 ? 1 : x[a + 1];
    g.K[i] = a < 0 ? 1 : w[a + 1];
    g.P[i] = a < 0 ? 1 : out[a + 1];
    const int64_t stride = a < 0 ? 1 : p.strides[a], lo = a < 0 ? 0 : p.padding_lo[a];
    const int64_t kd = a < 0 ? 1 : p.kernel_dilation[a], id = a < 0 ? 1 : p.input_dilation[a];
    const bool flip = a >= 0 && p.flip;
    g.src[i].resize(static_cast<size_t>(g.P[i] * g.K[i]));
    for (int64_t o = 0; o < g.P[i]; ++o) {
      for (int64_t t = 0; t < g.K[i]; ++t) {
        const int64_t tap = flip ? g.K[i] - 1 - t : t;
        const int64_t q = o * stride + tap * kd - lo;  // position in the dilated input
        const bool hit = q >= 0 && q % id == 0 && q / id < g.S[i];
        g.src[i][o * g.K[i] + t] = hit ? q / id : -1;
      }
    }
  }
  return g;
}

// Whether output row r reads exactly input row r through the only tap (a 1x1 convolution
// without padding or strides): then the input itself is the column matrix.
bool is_pointwise(const Geometry& g) {
  if (g.taps() != 1) return false;
  for (int i = 0; i < 3; ++i) {
    if (g.P[i] != g.S[i]) return false;
    for (int64_t o = 0; o < g.P[i]; ++o) {
      if (g.src[i][o] != o) return false;
    }
  }
  return true;
}

// Gathers the windows of output rows [r0, r0 + nr) for group `gr` and taps [t0, t0 + nt) into
// `cols` (row r at cols + r * ld): tap t's Cg channels at column (t - t0) * Cg, zeros where the
// tap falls on padding or a dilation hole.
template <typename T>
void fill_columns(const Geometry& g, const T* xd, int64_t gr, int64_t r0, int64_t nr, int64_t t0,
                  int64_t nt, T* cols, int64_t ld) {
  const int64_t P12 = g.P[1] * g.P[2], P012 = g.P[0] * P12, K12 = g.K[1] * g.K[2];
  const int64_t image = g.S[0] * g.S[1] * g.S[2] * g.C;
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t m = r0 + r;
    const int64_t n = m / P012, p0 = (m / P12) % g.P[0], p1 = (m / g.P[2]) % g.P[1],
                  p2 = m % g.P[2];
    const T* xn = xd + n * image + gr * g.Cg;
    T* row = cols + r * ld;
    for (int64_t t = t0; t < t0 + nt; ++t) {
      const int64_t k0 = t / K12, k1 = (t / g.K[2]) % g.K[1], k2 = t % g.K[2];
      const int64_t i0 = g.src[0][p0 * g.K[0] + k0], i1 = g.src[1][p1 * g.K[1] + k1],
                    i2 = g.src[2][p2 * g.K[2] + k2];
      T* dst = row + (t - t0) * g.Cg;
      if (i0 < 0 || i1 < 0 || i2 < 0) {
        std::memset(dst, 0, sizeof(T) * g.Cg);
      } else {
        std::memcpy(dst, xn + ((i0 * g.S[1] + i1) * g.S[2] + i2) * g.C, sizeof(T) * g.Cg);
      }
    }
  }
}

// How the rows (output positions) and columns (taps x channels) are cut into blocks: whole
// taps per column block, rows to fill the column buffer, and enough blocks to keep every thread
// busy.
struct Blocking {
  int64_t taps, cols, rows, count;
};

Blocking blocking_of(const Geometry& g) {
  Blocking b;
  const int64_t M = g.rows(), threads = cpu::num_threads();
  b.taps = std::clamp<int64_t>(kMaxBlockColumns / std::max<int64_t>(g.Cg, 1), 1, g.taps());
  b.cols = b.taps * g.Cg;
  b.rows = std::max<int64_t>(kMinBlockRows, kColumnBlockElements / b.cols);
  b.rows = std::min(b.rows, std::max<int64_t>(kMinBlockRows, (M + 4 * threads - 1) / (4 * threads)));
  b.rows = std::min(b.rows, M);
  b.count = (M + b.rows - 1) / b.rows;
  return b;
}

// The convolution as conv_winograd.h describes it, where it is one (2-D, 3x3, stride 1, no
// dilation, one group) and that path suits it; x, w and out the forward's shapes.
bool winograd_form(const Shape& x, const Shape& w, const Shape& out, const ConvParams& p,
                   cpu::WinogradConv& wc, bool weight_grad) {
  if (p.strides.size() != 2 || p.groups != 1 || w[1] != 3 || w[2] != 3) return false;
  for (int i = 0; i < 2; ++i) {
    if (p.strides[i] != 1 || p.kernel_dilation[i] != 1 || p.input_dilation[i] != 1) return false;
  }
  wc = {x[0], x[1], x[2], x[3], w[0], out[1], out[2], p.padding_lo[0], p.padding_lo[1], p.flip};
  return weight_grad ? cpu::winograd_weight_grad_suits(wc) : cpu::winograd_suits(wc);
}

// Throws where a size exceeds the 32-bit ints of this BLAS.
void check_blas_sizes(const Geometry& g, const Shape& w) {
  if (g.taps() * g.Cg > INT_MAX || g.O > INT_MAX || g.C > INT_MAX) {
    throw std::invalid_argument("[conv] A weight of shape " + shape_str(w) +
                                " exceeds the 32-bit sizes BLAS accepts.");
  }
}

template <typename T>
void conv_into(const array& x, const array& w, array& out, const ConvParams& p) {
  if (out.size() == 0) return;  // before the index tables, which may be long for such shapes
  const Geometry g = geometry_of(x.shape(), w.shape(), out.shape(), p);
  T* y = out.data<T>();
  const int64_t M = g.rows(), taps = g.taps(), Kg = taps * g.Cg;
  if (M == 0 || g.O == 0) return;
  if (Kg == 0) {
    std::memset(y, 0, out.nbytes());
    return;
  }
  const T* xd = x.data<T>();
  const T* wd = w.data<T>();

  check_blas_sizes(g, w.shape());

  if constexpr (std::is_same_v<T, float>) {
    cpu::WinogradConv wc;
    if (winograd_form(x.shape(), w.shape(), out.shape(), p, wc, false) &&
        cpu::winograd_conv(wc, xd, wd, y)) {
      return;
    }
  }

  if (is_pointwise(g) && M <= INT_MAX) {
    // One gemm per group over all rows, threaded by OpenBLAS.
    for (int64_t gr = 0; gr < g.G; ++gr) {
      gemm<T>(false, true, M, g.Og, g.Cg, xd + gr * g.Cg, g.C, wd + gr * g.Og * Kg, Kg, y + gr * g.Og,
                 g.O, false);
    }
    return;
  }

  const Blocking bl = blocking_of(g);
  const int64_t block_rows = bl.rows, block_cols = bl.cols, taps_per_block = bl.taps;
  const int64_t nblocks = bl.count, threads = cpu::num_threads();
  auto run = [&](size_t begin, size_t end) {
    std::vector<T> cols(static_cast<size_t>(block_rows * block_cols));
    for (size_t b = begin; b < end; ++b) {
      const int64_t r0 = static_cast<int64_t>(b) * block_rows;
      const int64_t nr = std::min(block_rows, M - r0);
      for (int64_t gr = 0; gr < g.G; ++gr) {
        for (int64_t t0 = 0; t0 < taps; t0 += taps_per_block) {
          const int64_t nt = std::min(taps_per_block, taps - t0);
          fill_columns(g, xd, gr, r0, nr, t0, nt, cols.data(), block_cols);
          gemm<T>(false, true, nr, g.Og, nt * g.Cg, cols.data(), block_cols,
                     wd + gr * g.Og * Kg + t0 * g.Cg, Kg, y + r0 * g.O + gr * g.Og, g.O, t0 > 0);
        }
      }
    }
  };
  if (nblocks > 1 && threads > 1) {
    cpu::SingleThreadedBlas hold;
    cpu::parallel_for(static_cast<size_t>(nblocks), 1, run);
  } else {
    run(0, static_cast<size_t>(nblocks));
  }
}

// dw (O, K..., Cg) = per group, ct's rows (transposed) times the forward kernel's columns,
// summed over all rows. Each thread sums a contiguous range of row blocks into its own buffer
// (the first into dw itself); the buffers are added in order, so results do not depend on
// timing.
template <typename T>
void weight_grad_into(const array& x, const array& ct, array& dw, const ConvParams& p) {
  T* out = dw.data<T>();
  std::memset(out, 0, dw.nbytes());
  if (x.size() == 0 || ct.size() == 0 || dw.size() == 0) return;
  const Geometry g = geometry_of(x.shape(), dw.shape(), ct.shape(), p);
  const int64_t M = g.rows(), Kg = g.taps() * g.Cg;
  if (M == 0 || Kg == 0 || g.O == 0) return;
  check_blas_sizes(g, dw.shape());
  const T* xd = x.data<T>();
  const T* cd = ct.data<T>();

  if constexpr (std::is_same_v<T, float>) {
    cpu::WinogradConv wc;
    if (winograd_form(x.shape(), dw.shape(), ct.shape(), p, wc, true)) {
      if (cpu::winograd_weight_grad(wc, xd, cd, out)) return;
      std::memset(out, 0, dw.nbytes());  // the sums below add into dw
    }
  }

  if (is_pointwise(g) && M <= INT_MAX) {
    for (int64_t gr = 0; gr < g.G; ++gr) {
      gemm<T>(true, false, g.Og, g.Cg, M, cd + gr * g.Og, g.O, xd + gr * g.Cg, g.C,
              out + gr * g.Og * Kg, Kg, false);
    }
    return;
  }

  const Blocking bl = blocking_of(g);
  const int64_t parts = std::min<int64_t>(cpu::num_threads(), bl.count);
  const size_t part_size = static_cast<size_t>(g.O * Kg);
  std::vector<std::vector<T>> partial(static_cast<size_t>(parts - 1));
  auto run = [&](size_t begin, size_t end) {
    std::vector<T> cols(static_cast<size_t>(bl.rows * bl.cols));
    for (size_t part = begin; part < end; ++part) {
      T* acc = out;
      if (part > 0) {
        partial[part - 1].assign(part_size, T(0));
        acc = partial[part - 1].data();
      }
      const int64_t b0 = bl.count * static_cast<int64_t>(part) / parts;
      const int64_t b1 = bl.count * static_cast<int64_t>(part + 1) / parts;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r0 = b * bl.rows, nr = std::min(bl.rows, M - r0);
        for (int64_t gr = 0; gr < g.G; ++gr) {
          for (int64_t t0 = 0; t0 < g.taps(); t0 += bl.taps) {
            const int64_t nt = std::min(bl.taps, g.taps() - t0);
            fill_columns(g, xd, gr, r0, nr, t0, nt, cols.data(), bl.cols);
            gemm<T>(true, false, g.Og, nt * g.Cg, nr, cd + r0 * g.O + gr * g.Og, g.O, cols.data(),
                    bl.cols, acc + gr * g.Og * Kg + t0 * g.Cg, Kg, true);
          }
        }
      }
    }
  };
  if (parts > 1) {
    cpu::SingleThreadedBlas hold;
    cpu::parallel_for(static_cast<size_t>(parts), 1, run, 1);
  } else {
    run(0, 1);
  }
  for (const auto& part : partial) {
    for (size_t i = 0; i < part_size; ++i) out[i] += part[i];
  }
}

// A row-contiguous view of `a`: itself, or a copy.
array row_contiguous_copy(const array& a) {
  if (a.flags().row_contiguous) return a;
  array c = array::empty(a.shape(), a.dtype());
  cpu::copy_to_contiguous(a, c);
  return c;
}

array converted(const array& a, Dtype t) {
  array c = array::empty(a.shape(), t);
  cpu::convert(a, c);
  return c;
}

}  // namespace

namespace {

// Runs kernel<T>(a, b, out) in out's dtype on row-contiguous operands; half precision goes
// through float32 (no half-precision gemm here), rounded once at the end.
template <template <typename> class Kernel>
void dispatch(const array& a, const array& b, array& out, const ConvParams& p) {
  cpu::configure_blas_threads();
  out.set_data(std::make_shared<Data>(out.nbytes()));
  switch (out.dtype()) {
    case Dtype::float32:
      Kernel<float>::run(row_contiguous_copy(a), row_contiguous_copy(b), out, p);
      break;
    case Dtype::float64:
      Kernel<double>::run(row_contiguous_copy(a), row_contiguous_copy(b), out, p);
      break;
    case Dtype::float16:
    case Dtype::bfloat16: {
      array out32 = array::empty(out.shape(), Dtype::float32);
      Kernel<float>::run(converted(a, Dtype::float32), converted(b, Dtype::float32), out32, p);
      cpu::convert(out32, out);
      break;
    }
    default:
      throw std::invalid_argument(std::string("[conv] Convolution supports floating point types "
                                              "only; got ") +
                                  dtype_name(out.dtype()) + ".");
  }
}

template <typename T>
struct ForwardKernel {
  static void run(const array& x, const array& w, array& out, const ConvParams& p) {
    conv_into<T>(x, w, out, p);
  }
};

template <typename T>
struct WeightGradKernel {
  static void run(const array& x, const array& ct, array& dw, const ConvParams& p) {
    weight_grad_into<T>(x, ct, dw, p);
  }
};

}  // namespace

void Convolution::eval_cpu(const std::vector<array>& inputs, array& out) {
  dispatch<ForwardKernel>(inputs[0], inputs[1], out, p_);
}

void ConvolutionWeightGrad::eval_cpu(const std::vector<array>& inputs, array& out) {
  dispatch<WeightGradKernel>(inputs[0], inputs[1], out, p_);
}

}  // namespace pullback
