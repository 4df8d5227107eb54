// CPU kernel for Scan.
//
// The input is viewed as (outer, n, inner) around the scanned axis (a row-contiguous copy is
// made first when its layout is anything else). Two layouts follow:
// - inner == 1 (the axis is contiguous): each row is one dependent chain of operations, so
//   several rows are scanned together to overlap their latencies; a few very long rows are cut
//   into pieces scanned in parallel, each seeded with the total of the pieces before it.
// - inner > 1 (a strided axis): a tile of neighbouring columns is scanned together, row of the
//   axis after row, so each step reads a contiguous piece and the update vectorizes across it.
// Both split the independent rows or column tiles over threads with parallel_for.
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/ordering.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/backend/cpu/wrapping.h"
#include "pullback/primitives/scan.h"

namespace pullback {
namespace {

using cpu::greater;
using cpu::is_nan;
using cpu::less;

// Columns of the strided layout scanned together: the accumulators stay in L1 and each step
// reads a run long enough for the hardware prefetcher.
constexpr int64_t kColumnTile = 1024;
// A contiguous row at least this long is cut into pieces when there are too few rows to keep
// every thread busy.
constexpr int64_t kLongRow = int64_t(1) << 16;

// Half floats accumulate in float32: a float16 running sum stops growing at 2048.
template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>,
                               float, T>;

template <typename A>
A extreme(bool high) {
  if constexpr (std::is_same_v<A, bool>) {
    return high;
  } else if constexpr (std::is_same_v<A, complex64_t>) {
    float inf = std::numeric_limits<float>::infinity();
    return high ? complex64_t(inf, inf) : complex64_t(-inf, -inf);
  } else if constexpr (std::numeric_limits<A>::has_infinity) {
    return high ? std::numeric_limits<A>::infinity() : -std::numeric_limits<A>::infinity();
  } else {
    return high ? std::numeric_limits<A>::max() : std::numeric_limits<A>::lowest();
  }
}

template <typename A>
struct SumOp {
  static A init() { return A(0); }
  static A apply(A acc, A x) {
    if constexpr (std::is_same_v<A, bool>) return acc || x;  // not reached: cumsum casts bool
    else return cpu::wrapping_add(acc, x);
  }
};

template <typename A>
struct ProdOp {
  static A init() { return A(1); }
  static A apply(A acc, A x) {
    if constexpr (std::is_same_v<A, bool>) return acc && x;
    else return cpu::wrapping_mul(acc, x);
  }
};

// NaN wins from wherever it appears (NumPy's maximum.accumulate): once the accumulator is NaN
// no comparison replaces it.
template <typename A>
struct MaxOp {
  static A init() { return extreme<A>(false); }
  static A apply(A acc, A x) {
    if constexpr (std::is_same_v<A, bool>) return acc || x;
    else return greater(x, acc) || is_nan(x) ? x : acc;
  }
};

template <typename A>
struct MinOp {
  static A init() { return extreme<A>(true); }
  static A apply(A acc, A x) {
    if constexpr (std::is_same_v<A, bool>) return acc && x;
    else return greater(acc, x) || is_nan(x) ? x : acc;
  }
};

// log(exp(acc) + exp(x)) without overflow: the larger operand (by real part) is factored out.
// -inf operands contribute nothing (and two of them do not make -inf - -inf = NaN).
template <typename A>
struct LogAddExpOp {
  static A init() {
    if constexpr (std::is_same_v<A, complex64_t>) {
      return complex64_t(-std::numeric_limits<float>::infinity(), 0.0f);
    } else {
      return -std::numeric_limits<A>::infinity();
    }
  }
  static A apply(A acc, A x) {
    if constexpr (std::is_same_v<A, complex64_t>) {
      if (is_nan(acc) || is_nan(x)) return complex64_t(NAN, NAN);
      const complex64_t& hi = x.real() > acc.real() ? x : acc;
      const complex64_t& lo = x.real() > acc.real() ? acc : x;
      if (std::isinf(lo.real()) && lo.real() < 0) return hi;
      if (std::isinf(hi.real())) return hi;
      return hi + std::log(complex64_t(1.0f) + std::exp(lo - hi));
    } else if constexpr (std::is_floating_point_v<A>) {
      if (is_nan(acc) || is_nan(x)) return acc + x;
      A hi = x > acc ? x : acc;
      A lo = x > acc ? acc : x;
      if (lo == -std::numeric_limits<A>::infinity() || hi == std::numeric_limits<A>::infinity()) {
        return hi;
      }
      return hi + std::log1p(std::exp(lo - hi));
    } else {
      return acc;  // not reached: logcumsumexp casts integers to float32
    }
  }
};

template <typename T, typename A>
inline A load(T v) {
  return static_cast<A>(v);
}

// How one scan walks its data: `n` steps along the axis, `step` elements apart (negative when
// reversed, from the last element).
struct Walk {
  int64_t n;
  int64_t step;
  bool inclusive;
};

// Scans R contiguous rows `row_stride` apart together (their chains of operations overlap),
// starting from the accumulators `acc`.
template <typename T, typename Op, int R>
void scan_rows(const T* in, T* out, int64_t row_stride, const Walk& w, Acc<T>* acc) {
  using A = Acc<T>;
  for (int64_t i = 0; i < w.n; ++i) {
    const int64_t at = i * w.step;
    for (int r = 0; r < R; ++r) {
      A x = load<T, A>(in[at + r * row_stride]);
      if (w.inclusive) {
        acc[r] = Op::apply(acc[r], x);
        out[at + r * row_stride] = static_cast<T>(acc[r]);
      } else {
        out[at + r * row_stride] = static_cast<T>(acc[r]);
        acc[r] = Op::apply(acc[r], x);
      }
    }
  }
}

// The scan of rows [begin, end) of a (rows, n) contiguous array.
template <typename T, typename Op>
void scan_contiguous_rows(const T* in, T* out, size_t begin, size_t end, int64_t n, bool reverse,
                          bool inclusive) {
  using A = Acc<T>;
  Walk w{n, reverse ? -1 : 1, inclusive};
  const int64_t first = reverse ? n - 1 : 0;
  size_t r = begin;
  for (; r + 4 <= end; r += 4) {
    A acc[4] = {Op::init(), Op::init(), Op::init(), Op::init()};
    scan_rows<T, Op, 4>(in + r * n + first, out + r * n + first, n, w, acc);
  }
  for (; r < end; ++r) {
    A acc[1] = {Op::init()};
    scan_rows<T, Op, 1>(in + r * n + first, out + r * n + first, n, w, acc);
  }
}

// One long contiguous row, scanned in `pieces` pieces in parallel: first each piece's total
// (read only), then each piece's scan seeded with the combination of the totals before it.
template <typename T, typename Op>
void scan_long_row(const T* in, T* out, int64_t n, bool reverse, bool inclusive) {
  using A = Acc<T>;
  const int64_t pieces = std::min<int64_t>(cpu::num_threads() * 16, n / (kLongRow / 16));
  const int64_t len = (n + pieces - 1) / pieces;
  // Piece p covers positions [p * len, ...) in scan order.
  auto piece = [&](int64_t p, const T*& src, T*& dst, Walk& w) {
    const int64_t start = p * len;
    w = Walk{std::min(len, n - start), reverse ? -1 : 1, inclusive};
    const int64_t first = reverse ? n - 1 - start : start;
    src = in + first;
    dst = out + first;
  };
  std::vector<A> seed(pieces, Op::init());
  cpu::parallel_for(pieces - 1, 1, [&](size_t b, size_t e) {
    for (size_t p = b; p < e; ++p) {
      const T* src;
      T* dst;
      Walk w;
      piece(static_cast<int64_t>(p), src, dst, w);
      // Several accumulators: the total needs no order, so the chains overlap.
      A part[4] = {Op::init(), Op::init(), Op::init(), Op::init()};
      int64_t i = 0;
      for (; i + 4 <= w.n; i += 4) {
        for (int k = 0; k < 4; ++k) part[k] = Op::apply(part[k], load<T, A>(src[(i + k) * w.step]));
      }
      for (; i < w.n; ++i) part[0] = Op::apply(part[0], load<T, A>(src[i * w.step]));
      seed[p + 1] = Op::apply(Op::apply(part[0], part[1]), Op::apply(part[2], part[3]));
    }
  });
  for (int64_t p = 1; p < pieces; ++p) seed[p] = Op::apply(seed[p - 1], seed[p]);
  // Four neighbouring pieces of full length are scanned together, so that their chains of
  // operations overlap as in scan_contiguous_rows.
  const int64_t groups = (pieces + 3) / 4;
  cpu::parallel_for(groups, 1, [&](size_t b, size_t e) {
    for (size_t g = b; g < e; ++g) {
      const int64_t p0 = static_cast<int64_t>(g) * 4;
      const T* src;
      T* dst;
      Walk w;
      if (p0 + 4 <= pieces && (p0 + 4) * len <= n) {
        piece(p0, src, dst, w);
        A acc[4] = {seed[p0], seed[p0 + 1], seed[p0 + 2], seed[p0 + 3]};
        scan_rows<T, Op, 4>(src, dst, reverse ? -len : len, w, acc);
        continue;
      }
      for (int64_t p = p0; p < std::min(p0 + 4, pieces); ++p) {
        piece(p, src, dst, w);
        A acc[1] = {seed[p]};
        scan_rows<T, Op, 1>(src, dst, 0, w, acc);
      }
    }
  });
}

// Columns [k0, k0 + width) of one outer block of a (n, inner) array, scanned together.
template <typename T, typename Op>
void scan_columns(const T* in, T* out, int64_t n, int64_t inner, int64_t width, bool reverse,
                  bool inclusive) {
  using A = Acc<T>;
  A acc[kColumnTile];
  for (int64_t k = 0; k < width; ++k) acc[k] = Op::init();
  for (int64_t s = 0; s < n; ++s) {
    const int64_t i = reverse ? n - 1 - s : s;
    const T* src = in + i * inner;
    T* dst = out + i * inner;
    if (inclusive) {
      for (int64_t k = 0; k < width; ++k) {
        acc[k] = Op::apply(acc[k], load<T, A>(src[k]));
        dst[k] = static_cast<T>(acc[k]);
      }
    } else {
      for (int64_t k = 0; k < width; ++k) {
        A x = load<T, A>(src[k]);
        dst[k] = static_cast<T>(acc[k]);
        acc[k] = Op::apply(acc[k], x);
      }
    }
  }
}

template <typename T, typename Op>
void run_scan(const T* in, T* out, int64_t outer, int64_t n, int64_t inner, bool reverse,
              bool inclusive) {
  if (inner == 1) {
    const int64_t threads = cpu::num_threads();
    if (outer < 2 * threads && n >= kLongRow && threads > 1) {
      for (int64_t r = 0; r < outer; ++r) {
        scan_long_row<T, Op>(in + r * n, out + r * n, n, reverse, inclusive);
      }
      return;
    }
    const size_t grain = std::max<size_t>(1, cpu::kElementwiseGrain / static_cast<size_t>(n));
    cpu::parallel_for(static_cast<size_t>(outer), grain, [&](size_t b, size_t e) {
      scan_contiguous_rows<T, Op>(in, out, b, e, n, reverse, inclusive);
    });
    return;
  }
  const int64_t tiles = (inner + kColumnTile - 1) / kColumnTile;
  const size_t work_per_tile = static_cast<size_t>(n * std::min(inner, kColumnTile));
  const size_t grain = std::max<size_t>(1, cpu::kElementwiseGrain / work_per_tile);
  cpu::parallel_for(static_cast<size_t>(outer * tiles), grain, [&](size_t b, size_t e) {
    for (size_t job = b; job < e; ++job) {
      const int64_t o = static_cast<int64_t>(job) / tiles;
      const int64_t k0 = (static_cast<int64_t>(job) % tiles) * kColumnTile;
      const int64_t offset = o * n * inner + k0;
      scan_columns<T, Op>(in + offset, out + offset, n, inner, std::min(kColumnTile, inner - k0),
                          reverse, inclusive);
    }
  });
}

}  // namespace

void Scan::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  // The kernel reads a row-contiguous input; a copy of another layout is scanned in place.
  array src = in;
  if (!in.flags().row_contiguous) {
    src = array::empty(in.shape(), in.dtype());
    src.set_data(std::make_shared<Data>(in.nbytes()));
    cpu::copy_to_contiguous(in, src);
    out.copy_shared_buffer(src, src.strides(), src.flags(), src.data_size());
  } else if (in.is_donatable() && in.data_size() == in.size()) {
    out.copy_shared_buffer(in, in.strides(), in.flags(), in.data_size());
  } else {
    out.set_data(std::make_shared<Data>(out.nbytes()));
  }
  if (out.size() == 0) return;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis_; ++d) outer *= in.shape(d);
  for (int d = axis_ + 1; d < in.ndim(); ++d) inner *= in.shape(d);
  const int64_t n = in.shape(axis_);
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    const T* x = src.data<T>();
    T* y = out.data<T>();
    switch (op_) {
      case ScanOp::Sum: return run_scan<T, SumOp<A>>(x, y, outer, n, inner, reverse_, inclusive_);
      case ScanOp::Prod: return run_scan<T, ProdOp<A>>(x, y, outer, n, inner, reverse_, inclusive_);
      case ScanOp::Max: return run_scan<T, MaxOp<A>>(x, y, outer, n, inner, reverse_, inclusive_);
      case ScanOp::Min: return run_scan<T, MinOp<A>>(x, y, outer, n, inner, reverse_, inclusive_);
      default: return run_scan<T, LogAddExpOp<A>>(x, y, outer, n, inner, reverse_, inclusive_);
    }
  });
}

}  // namespace pullback
