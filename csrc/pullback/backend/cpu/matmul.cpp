// Matmul through OpenBLAS (scipy-openblas32, whose symbols carry a scipy_ prefix), and for
// float32 on AVX-512 CPUs through our own gemm (own_gemm.h), which runs on our thread pool.
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pullback/backend/cpu/blas_threads.h"
#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/own_gemm.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/interrupt.h"
#include "pullback/ops.h"
#include "pullback/primitives/matmul.h"

namespace pullback {
namespace {

using cpu::SingleThreadedBlas;

// OpenBLAS runs a gemm on one thread up to this m*n*k (65536 * GEMM_MULTITHREAD_THRESHOLD),
// so up to here a batch may be split over our pool without two thread pools stacking up.
constexpr double kSingleThreadedGemm = 1 << 18;
// gemv goes multithreaded much earlier (m*n around 9216).
constexpr double kSingleThreadedGemv = 1 << 13;
// Batches of products up to this size each (m*n*k) run one product per pool thread with
// OpenBLAS held to one thread: a threaded gemm of 128^3 spends much of its time handing work
// to its own pool and waiting for it (a (64,128,128) batch ran 4x slower than PyTorch).
constexpr double kBatchSplitGemm = double(1 << 22);
// Whether a batch runs as one product per pool thread (OpenBLAS held to one thread) rather
// than as a sequence of products each threaded by OpenBLAS. Small products always split; larger
// ones split when the batch divides evenly over the threads (or is long enough that the
// remainder matters little): OpenBLAS synchronises its threads once per product, and batches
// of 512x512x64 products ran several times slower that way (over 10x with the cores
// oversubscribed by other processes).
bool split_batch(int64_t nbatch, double flops) {
  const int64_t threads = cpu::num_threads();
  if (threads < 2 || nbatch < threads) return false;
  return flops <= kBatchSplitGemm || nbatch % threads == 0 || nbatch >= 8 * threads;
}

// Multiply-adds per pool chunk below which splitting a batch costs more than it saves.
constexpr double kBatchGrainFlops = 1 << 17;
// A gemm beyond this many multiply-adds (about 0.2 s) runs as panels of rows of about
// kPanelFlops each, so that an interrupt is acted on between them; a panel keeps at least
// kMinPanelRows rows, enough that repacking b for each panel costs little.
constexpr double kInterruptibleGemmFlops = double(int64_t(1) << 34);
constexpr double kPanelFlops = double(int64_t(1) << 33);
constexpr int64_t kMinPanelRows = 128;

// How BLAS reads an operand's matrices in row-major terms: element (i, j) lives at
// i * ld + j, or at j * ld + i when `transposed`.
struct MatrixLayout {
  bool usable = false;
  bool transposed = false;
  int64_t ld = 0;
};

// A size-1 axis may carry any stride, so it never disqualifies a layout.
MatrixLayout layout_of(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
  if ((cols == 1 || col_stride == 1) &&
      (rows == 1 || (row_stride >= std::max<int64_t>(cols, 1) && row_stride <= INT_MAX))) {
    return {true, false, rows == 1 ? std::max<int64_t>(cols, 1) : row_stride};
  }
  if ((rows == 1 || row_stride == 1) &&
      (cols == 1 || (col_stride >= std::max<int64_t>(rows, 1) && col_stride <= INT_MAX))) {
    return {true, true, cols == 1 ? std::max<int64_t>(rows, 1) : col_stride};
  }
  return {};
}

// `x` itself when BLAS can read its matrices in place (plain or transposed), otherwise a
// row-contiguous copy.
array blas_operand(const array& x, MatrixLayout& layout) {
  const int n = x.ndim();
  layout = layout_of(x.shape(n - 2), x.shape(n - 1), x.strides(n - 2), x.strides(n - 1));
  if (layout.usable) return x;
  array c = array::empty(x.shape(), x.dtype());
  cpu::copy_to_contiguous(x, c);
  layout = layout_of(c.shape(n - 2), c.shape(n - 1), c.strides(n - 2), c.strides(n - 1));
  return c;
}

// x's element stride along each output batch axis; 0 where x is broadcast along it.
Strides batch_strides_of(const array& x, const Shape& batch) {
  Strides st(batch.size(), 0);
  const int lead = static_cast<int>(batch.size()) - (x.ndim() - 2);
  for (int i = std::max(lead, 0); i < static_cast<int>(batch.size()); ++i) {
    if (x.shape(i - lead) != 1) st[i] = x.strides(i - lead);
  }
  return st;
}

template <typename T>
void gemm(const MatrixLayout& la, const MatrixLayout& lb, int64_t m, int64_t n, int64_t k,
          const T* a, const T* b, T* c) {
  const auto ta = la.transposed ? CblasTrans : CblasNoTrans;
  const auto tb = lb.transposed ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    scipy_cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, la.ld, b, lb.ld, 0.0f, c, n);
  } else if constexpr (std::is_same_v<T, complex64_t>) {
    const complex64_t one(1.f, 0.f), zero(0.f, 0.f);
    scipy_cblas_cgemm(CblasRowMajor, ta, tb, m, n, k, &one, a, la.ld, b, lb.ld, &zero, c, n);
  } else {
    scipy_cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, la.ld, b, lb.ld, 0.0, c, n);
  }
}

// y = op(A) x with A given as a row-major `rows` x `cols` matrix with leading dimension ld.
template <typename T>
void gemv(bool transpose, int64_t rows, int64_t cols, const T* a, int64_t ld, const T* x,
          int64_t incx, T* y) {
  const auto t = transpose ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    scipy_cblas_sgemv(CblasRowMajor, t, rows, cols, 1.0f, a, ld, x, incx, 0.0f, y, 1);
  } else if constexpr (std::is_same_v<T, complex64_t>) {
    const complex64_t one(1.f, 0.f), zero(0.f, 0.f);
    scipy_cblas_cgemv(CblasRowMajor, t, rows, cols, &one, a, ld, x, incx, &zero, y, 1);
  } else {
    scipy_cblas_dgemv(CblasRowMajor, t, rows, cols, 1.0, a, ld, x, incx, 0.0, y, 1);
  }
}

template <typename T>
T blas_dot(int64_t k, const T* a, int64_t inca, const T* b, int64_t incb) {
  if constexpr (std::is_same_v<T, float>) {
    return scipy_cblas_sdot(k, a, inca, b, incb);
  } else if constexpr (std::is_same_v<T, complex64_t>) {
    T r;
    scipy_cblas_cdotu_sub(k, a, inca, b, incb, &r);
    return r;
  } else {
    return scipy_cblas_ddot(k, a, inca, b, incb);
  }
}

// Elements per partial dot product. A fixed size (not one per thread) keeps the result the
// same whatever the thread count.
constexpr int64_t kDotChunk = int64_t(1) << 16;

// c[0] = a . b. OpenBLAS runs a dot on one thread (and gemv with a single row or column too),
// which a long one leaves memory-bound on one core: partial dots of kDotChunk elements run on
// the pool instead and are summed in order, in double for float.
template <typename T>
void dot(int64_t k, const T* a, int64_t inca, const T* b, int64_t incb, T* c) {
  if (k < 2 * kDotChunk) {
    *c = blas_dot(k, a, inca, b, incb);
    return;
  }
  const size_t chunks = static_cast<size_t>((k + kDotChunk - 1) / kDotChunk);
  std::vector<T> partial(chunks);
  SingleThreadedBlas hold;
  cpu::parallel_for(chunks, 1, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const int64_t lo = static_cast<int64_t>(i) * kDotChunk;
      partial[i] = blas_dot(std::min(kDotChunk, k - lo), a + lo * inca, inca, b + lo * incb, incb);
    }
  });
  using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;
  Acc sum = Acc(0);
  for (const T& p : partial) sum += Acc(p);
  *c = T(sum);
}

// Which gemm a float32 product runs on: OpenBLAS's, or ours (own_gemm.h) on the calling thread
// (one product of a batch split over the pool) or split over the pool itself.
enum class Gemm { kBlas, kOwnOneThread, kOwnThreaded };

// One (m x k) @ (k x n) product into the row-contiguous c. A single row by a single column is
// a dot; a single row or column otherwise goes to gemv, which skips the packing that gemm does.
template <typename T>
void product(const MatrixLayout& la, const MatrixLayout& lb, int64_t m, int64_t n, int64_t k,
             const T* a, const T* b, T* c, Gemm which = Gemm::kBlas) {
  // Rows [r, r + rows) of the product, through `which` gemm.
  auto rows_gemm = [&](int64_t r, int64_t rows) {
    const T* a_rows = la.transposed ? a + r : a + r * la.ld;
    if constexpr (std::is_same_v<T, float>) {
      if (which != Gemm::kBlas) {
        const cpu::SgemmOperand sa{a_rows, la.transposed ? 1 : la.ld, la.transposed ? la.ld : 1};
        const cpu::SgemmOperand sb{b, lb.transposed ? 1 : lb.ld, lb.transposed ? lb.ld : 1};
        cpu::own_sgemm(rows, n, k, sa, sb, c + r * n, n, which == Gemm::kOwnThreaded);
        return;
      }
    }
    gemm(la, lb, rows, n, k, a_rows, b, c + r * n);
  };
  if (m == 1 && n == 1) {
    dot(k, a, la.transposed ? la.ld : 1, b, lb.transposed ? 1 : lb.ld, c);
  } else if (n == 1) {
    const int64_t incx = lb.transposed ? 1 : lb.ld;  // b's only column
    if (la.transposed) {
      gemv(true, k, m, a, la.ld, b, incx, c);
    } else {
      gemv(false, m, k, a, la.ld, b, incx, c);
    }
  } else if (m == 1) {
    const int64_t incx = la.transposed ? la.ld : 1;  // a's only row
    if (lb.transposed) {
      gemv(false, n, k, b, lb.ld, a, incx, c);
    } else {
      gemv(true, k, n, b, lb.ld, a, incx, c);
    }
  } else if (static_cast<double>(m) * n * k <= kInterruptibleGemmFlops) {
    rows_gemm(0, m);
  } else {
    // A long product runs as panels of rows, each still one large gemm, with a poll for an
    // interrupt between them (interrupt.h).
    const double flops = static_cast<double>(m) * n * k;
    const int64_t panel =
        std::max<int64_t>(kMinPanelRows, static_cast<int64_t>(m * (kPanelFlops / flops)));
    for (int64_t r = 0; r < m; r += panel) {
      if (r > 0 && interrupt_kernel_now()) throw Interrupted();
      rows_gemm(r, std::min(panel, m - r));
    }
  }
}

void check_blas_size(int64_t v, const array& a, const array& b) {
  if (v > INT_MAX) {
    throw std::invalid_argument("[matmul] Matrices of a " + shape_str(a.shape()) + " and b " +
                                shape_str(b.shape()) + " exceed the 32-bit sizes BLAS accepts.");
  }
}

// Which gemm an m x k by k x n product of T runs on (`one_thread`: on the calling thread).
template <typename T>
Gemm own_gemm(int64_t m, int64_t n, int64_t k, bool one_thread) {
  if constexpr (std::is_same_v<T, float>) {
    if (cpu::own_sgemm_suits(m, n, k)) {
      return one_thread ? Gemm::kOwnOneThread : Gemm::kOwnThreaded;
    }
  }
  return Gemm::kBlas;
}

// out (already allocated, row-contiguous) = a @ b, batch axes broadcast.
template <typename T>
void matmul_into(const array& a_in, const array& b_in, array& out) {
  const int64_t m = out.shape(-2), n = out.shape(-1), k = a_in.shape(-1);
  if (out.size() == 0) return;
  T* c = out.data<T>();
  if (k == 0) {
    std::fill(c, c + out.size(), T(0));
    return;
  }
  check_blas_size(m, a_in, b_in);
  check_blas_size(n, a_in, b_in);
  check_blas_size(k, a_in, b_in);
  MatrixLayout la, lb;
  const array a = blas_operand(a_in, la);
  const array b = blas_operand(b_in, lb);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();

  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  const Strides sa = batch_strides_of(a, batch), sb = batch_strides_of(b, batch);
  const int64_t nbatch = static_cast<int64_t>(shape_size(batch));

  // A shared b and an a whose batch entries follow each other row after row (e.g. a
  // (batch, m, k) row-major array) make one tall gemm instead of a loop of short ones.
  if (nbatch > 1 && !la.transposed &&
      std::all_of(sb.begin(), sb.end(), [](int64_t s) { return s == 0; })) {
    bool stacked = true;
    int64_t expect = la.ld * m;
    for (int d = static_cast<int>(batch.size()) - 1; d >= 0 && stacked; --d) {
      if (batch[d] == 1) continue;
      stacked = sa[d] == expect;
      expect *= batch[d];
    }
    if (stacked && nbatch * m <= INT_MAX) {
      product(la, lb, nbatch * m, n, k, pa, pb, c, own_gemm<T>(nbatch * m, n, k, false));
      return;
    }
  }

  const int64_t mn = m * n;
  const double flops = static_cast<double>(m) * n * k;
  const Gemm one_each = own_gemm<T>(m, n, k, true);
  auto run = [&](size_t i, Gemm which) {
    product(la, lb, m, n, k, pa + cpu::offset_of(i, batch, sa), pb + cpu::offset_of(i, batch, sb),
            c + static_cast<int64_t>(i) * mn, which);
  };
  const double single_threaded = (m == 1 || n == 1) ? kSingleThreadedGemv : kSingleThreadedGemm;
  if (nbatch > 1 && flops <= single_threaded) {
    const auto grain = static_cast<size_t>(std::max(1.0, kBatchGrainFlops / flops));
    cpu::parallel_for(nbatch, grain, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) run(i, one_each);
    });
  } else if (split_batch(nbatch, flops)) {
    std::optional<SingleThreadedBlas> hold;
    if (one_each == Gemm::kBlas) hold.emplace();
    // Chunks of a few products, taken in turn: a thread the machine runs slower (or that
    // joins late) leaves the rest of the batch to the others.
    const size_t chunk = std::max<size_t>(1, static_cast<size_t>(nbatch) / (8 * cpu::num_threads()));
    cpu::parallel_for(
        nbatch, 1, [&](size_t begin, size_t end) {
          for (size_t i = begin; i < end; ++i) run(i, one_each);
        },
        chunk);
  } else {
    // Products split over all threads, one after another, with a poll between them.
    const Gemm threaded = own_gemm<T>(m, n, k, false);
    for (int64_t i = 0; i < nbatch; ++i) {
      if (i > 0 && interrupt_kernel_now()) throw Interrupted();
      run(static_cast<size_t>(i), threaded);
    }
  }
}

}  // namespace

void Matmul::eval_cpu(const std::vector<array>& inputs, array& out) {
  cpu::configure_blas_threads();
  const array& a = inputs[0];
  const array& b = inputs[1];
  out.set_data(std::make_shared<Data>(out.nbytes()));
  switch (out.dtype()) {
    case Dtype::float32:
      matmul_into<float>(a, b, out);
      break;
    case Dtype::float64:
      matmul_into<double>(a, b, out);
      break;
    case Dtype::complex64:
      matmul_into<complex64_t>(a, b, out);
      break;
    case Dtype::float16:
    case Dtype::bfloat16: {
      // BLAS has no half-precision gemm here: compute in float32 and round once at the end.
      array a32 = array::empty(a.shape(), Dtype::float32);
      array b32 = array::empty(b.shape(), Dtype::float32);
      array out32 = array::empty(out.shape(), Dtype::float32);
      cpu::convert(a, a32);
      cpu::convert(b, b32);
      matmul_into<float>(a32, b32, out32);
      cpu::convert(out32, out);
      break;
    }
    default:
      throw std::invalid_argument(std::string("[matmul] Only real floating point types are supported but ") +
                                  dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()) +
                                  " were given.");
  }
}

}  // namespace pullback
