// CPU kernels for Reduce and ArgReduce.
//
// The input's axes are split into kept axes (the output's, in order) and reduced axes;
// each group is collapsed where the input's strides allow, and the reduced axes are
// ordered so the one with the smallest stride is innermost. Three layouts follow:
// - rows: the innermost reduced axis is contiguous; each output reduces contiguous runs
//   with several independent accumulators (the compiler vectorizes those, but will not
//   reassociate a single float accumulator).
// - columns: the innermost kept axis is contiguous; a tile of neighbouring outputs
//   accumulates whole input rows at a time, which vectorizes across outputs.
// - anything else walks the reduced elements with their strides.
// Work is split over outputs when there are enough of them, otherwise over the reduced
// elements, with one partial result per slice combined at the end.
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/ordering.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/backend/cpu/wrapping.h"
#include "pullback/primitives/reduce.h"

namespace pullback {
namespace {

using cpu::greater;
using cpu::is_nan;
using cpu::less;

using cpu::wrapping_add;
using cpu::wrapping_mul;

// Elements of work below which a slice is not worth a thread.
constexpr size_t kReduceGrain = size_t(1) << 15;
// A long reduction is cut into slices of about this many elements (a few milliseconds), up to
// kMaxReduceSlices of them (the partial results take slices * outputs accumulators).
constexpr size_t kReduceSliceElements = size_t(1) << 22;
constexpr size_t kMaxReduceSlices = size_t(1) << 14;
// Bytes of outputs accumulated together in the column layout: wide enough that each
// input row is read in long sequential pieces, small enough to stay in L1/L2.
constexpr int64_t kColumnTileBytes = 16384;
// Outputs tracked together by the column layout of argmax/argmin (on the stack).
constexpr int64_t kArgTile = 512;

// float16 as its bits. Kernels read float16 input through this type: the compiler
// vectorizes loads of 16-bit integers but not of _Float16 on baseline x86-64, where each
// _Float16 -> float conversion is a library call.
struct HalfBits {
  uint16_t bits;
};

// float16 -> float32 with integer and float arithmetic the compiler can vectorize.
inline float half_to_float(HalfBits h) {
  const uint16_t bits = h.bits;
  uint32_t magnitude = bits & 0x7fffu;
  uint32_t shifted = magnitude << 13;
  float f;
  std::memcpy(&f, &shifted, 4);
  f *= 0x1p112f;  // rebias the exponent; also normalizes subnormal halves exactly
  uint32_t u;
  std::memcpy(&u, &f, 4);
  // inf and nan keep an all-ones exponent; selected with masks so the loop has no branch.
  uint32_t special = 0u - static_cast<uint32_t>(magnitude >= 0x7c00u);
  u = (u & ~special) | ((shifted | 0x7f800000u) & special);
  u |= static_cast<uint32_t>(bits & 0x8000u) << 16;
  std::memcpy(&f, &u, 4);
  return f;
}

template <typename A, typename T>
inline A load(T v) {
  if constexpr (std::is_same_v<T, HalfBits>) {
    return half_to_float(v);
  } else if constexpr (std::is_same_v<T, bfloat16_t>) {
    return static_cast<float>(v);
  } else {
    return static_cast<A>(v);
  }
}


template <typename A>
A lowest() {
  if constexpr (std::is_same_v<A, complex64_t>) {
    float inf = std::numeric_limits<float>::infinity();
    return complex64_t(-inf, -inf);
  } else if constexpr (std::numeric_limits<A>::has_infinity) {
    return -std::numeric_limits<A>::infinity();
  } else {
    return std::numeric_limits<A>::lowest();
  }
}

template <typename A>
A highest() {
  if constexpr (std::is_same_v<A, complex64_t>) {
    float inf = std::numeric_limits<float>::infinity();
    return complex64_t(inf, inf);
  } else if constexpr (std::numeric_limits<A>::has_infinity) {
    return std::numeric_limits<A>::infinity();
  } else {
    return std::numeric_limits<A>::max();
  }
}

template <typename Acc>
struct SumOp {
  using A = Acc;
  static A init() { return A(0); }
  static A apply(A acc, A x) { return wrapping_add(acc, x); }
};
template <typename Acc>
struct ProdOp {
  using A = Acc;
  static A init() { return A(1); }
  static A apply(A acc, A x) { return wrapping_mul(acc, x); }
};
// NaN wins, as in NumPy.
template <typename Acc>
struct MaxOp {
  using A = Acc;
  static A init() { return lowest<A>(); }
  static A apply(A acc, A x) {
    acc = greater(x, acc) ? x : acc;
    return is_nan(x) ? x : acc;  // two plain selects: the compiler vectorizes these
  }
};
template <typename Acc>
struct MinOp {
  using A = Acc;
  static A init() { return highest<A>(); }
  static A apply(A acc, A x) {
    acc = less(x, acc) ? x : acc;
    return is_nan(x) ? x : acc;
  }
};
struct AndOp {
  using A = bool;
  static A init() { return true; }
  static A apply(A acc, A x) { return acc & x; }
};
struct OrOp {
  using A = bool;
  static A init() { return false; }
  static A apply(A acc, A x) { return acc | x; }
};

// The compile-time twin of reduce_accumulator_dtype for sums and products.
template <typename T>
using SumAcc = std::conditional_t<
    std::is_same_v<T, HalfBits> || std::is_same_v<T, bfloat16_t>, float,
    std::conditional_t<std::is_same_v<T, bool> || std::is_same_v<T, int8_t> ||
                           std::is_same_v<T, int16_t> || std::is_same_v<T, int32_t>,
                       int64_t,
                       std::conditional_t<std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t> ||
                                              std::is_same_v<T, uint32_t>,
                                          uint64_t, T>>>;
template <typename T>
using CompareAcc =
    std::conditional_t<std::is_same_v<T, HalfBits> || std::is_same_v<T, bfloat16_t>, float, T>;
// The type a kernel reads elements of dtype T as.
template <typename T>
using Stored = std::conditional_t<std::is_same_v<T, float16_t>, HalfBits, T>;

// Kept and reduced axes of the input, each collapsed; both lists hold at least one axis.
struct Plan {
  Shape kshape;
  Strides kstrides;
  Shape rshape;
  Strides rstrides;
  size_t out_size = 1;
  size_t r_size = 1;
};

void append_collapsing(Shape& shape, Strides& strides, int64_t n, int64_t stride) {
  if (!shape.empty() && strides.back() == stride * n) {
    shape.back() *= n;
    strides.back() = stride;
  } else {
    shape.push_back(n);
    strides.push_back(stride);
  }
}

Plan make_plan(const array& in, const std::vector<int>& axes) {
  Plan p;
  std::vector<bool> reduced(in.ndim(), false);
  for (int ax : axes) reduced[ax] = true;
  std::vector<int> raxes;
  for (int d = 0; d < in.ndim(); ++d) {
    int64_t n = in.shape(d);
    if (reduced[d]) {
      p.r_size *= n;
      if (n != 1) raxes.push_back(d);
    } else {
      p.out_size *= n;
      if (n != 1) append_collapsing(p.kshape, p.kstrides, n, in.strides(d));
    }
  }
  // Iteration order over the reduced elements is free: put the smallest stride innermost.
  std::stable_sort(raxes.begin(), raxes.end(), [&](int a, int b) {
    return std::abs(in.strides(a)) > std::abs(in.strides(b));
  });
  for (int d : raxes) append_collapsing(p.rshape, p.rstrides, in.shape(d), in.strides(d));
  if (p.kshape.empty()) {
    p.kshape.push_back(1);
    p.kstrides.push_back(0);
  }
  if (p.rshape.empty()) {
    p.rshape.push_back(1);
    p.rstrides.push_back(0);
  }
  return p;
}

// Element offset of a flat row-major index over some axes, advanced one index at a time.
class OffsetWalker {
 public:
  OffsetWalker(const int64_t* shape, const int64_t* strides, int ndim)
      : shape_(shape), strides_(strides), idx_(ndim, 0) {}
  void seek(size_t flat) {
    offset = 0;
    for (int d = static_cast<int>(idx_.size()) - 1; d >= 0; --d) {
      idx_[d] = static_cast<int64_t>(flat % shape_[d]);
      flat /= shape_[d];
      offset += idx_[d] * strides_[d];
    }
  }
  void next() {
    for (int d = static_cast<int>(idx_.size()) - 1; d >= 0; --d) {
      if (++idx_[d] < shape_[d]) {
        offset += strides_[d];
        return;
      }
      offset -= strides_[d] * (shape_[d] - 1);
      idx_[d] = 0;
    }
  }
  int64_t offset = 0;

 private:
  const int64_t* shape_;
  const int64_t* strides_;
  std::vector<int64_t> idx_;
};

// Calls f(offset, begin, end) for each run along the innermost reduced axis that lies in
// the flat reduced range [rb, re); `outer` walks the other reduced axes.
template <typename F>
void for_each_run(const Plan& p, OffsetWalker& outer, size_t rb, size_t re, F&& f) {
  const int64_t n = p.rshape.back();
  outer.seek(rb / n);
  int64_t begin = static_cast<int64_t>(rb % n);
  size_t pos = rb;
  while (pos < re) {
    int64_t end = std::min<int64_t>(n, begin + static_cast<int64_t>(re - pos));
    f(outer.offset, begin, end);
    pos += end - begin;
    begin = 0;
    outer.next();
  }
}

// Long contiguous runs are read in chunks, each as four streams over its four quarters:
// one sequential stream leaves memory bandwidth unused (about half of it, single-threaded).
// Chunks also bound how many values each accumulator adds in sequence (float sums lose
// less precision).
constexpr int64_t kChunk = 32768;

#if defined(__SSE2__)
// float32 max/min with maxps/minps and NaN tracked on the side: the compiler turns a
// NaN-propagating comparison into branches rather than vector code.
template <bool kMax>
float extremum_f32(const float* x, int64_t n) {
  const float init = kMax ? -std::numeric_limits<float>::infinity()
                          : std::numeric_limits<float>::infinity();
  auto pick = [](__m128 a, __m128 b) { return kMax ? _mm_max_ps(a, b) : _mm_min_ps(a, b); };
  __m128 a0 = _mm_set1_ps(init), a1 = a0, a2 = a0, a3 = a0;
  __m128 nan = _mm_setzero_ps();
  float r = init;
  bool has_nan = false;
  for (int64_t b = 0; b < n; b += kChunk) {
    const float* q = x + b;
    const int64_t m = std::min(kChunk, n - b);
    const int64_t part = (m / 4) & ~int64_t(3);
    const float *s1 = q + part, *s2 = q + 2 * part, *s3 = q + 3 * part;
    for (int64_t i = 0; i < part; i += 4) {
      __m128 x0 = _mm_loadu_ps(q + i), x1 = _mm_loadu_ps(s1 + i);
      __m128 x2 = _mm_loadu_ps(s2 + i), x3 = _mm_loadu_ps(s3 + i);
      a0 = pick(a0, x0);
      a1 = pick(a1, x1);
      a2 = pick(a2, x2);
      a3 = pick(a3, x3);
      // unordered(a, b) is true where either is NaN.
      nan = _mm_or_ps(nan, _mm_or_ps(_mm_cmpunord_ps(x0, x1), _mm_cmpunord_ps(x2, x3)));
    }
    for (int64_t i = 4 * part; i < m; ++i) {
      float v = q[i];
      has_nan |= v != v;
      r = (kMax ? v > r : v < r) ? v : r;
    }
  }
  float lanes[4];
  _mm_storeu_ps(lanes, pick(pick(a0, a1), pick(a2, a3)));
  for (float v : lanes) r = (kMax ? v > r : v < r) ? v : r;
  has_nan |= _mm_movemask_ps(nan) != 0;
  return has_nan ? std::numeric_limits<float>::quiet_NaN() : r;
}
#endif

template <typename Op, typename T>
typename Op::A reduce_contiguous(const T* x, int64_t n) {
  using A = typename Op::A;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float> && std::is_same_v<Op, MaxOp<float>>) {
    return extremum_f32<true>(x, n);
  } else if constexpr (std::is_same_v<T, float> && std::is_same_v<Op, MinOp<float>>) {
    return extremum_f32<false>(x, n);
  }
#endif
  A total = Op::init();
  if (n < 64) {
    for (int64_t i = 0; i < n; ++i) total = Op::apply(total, load<A>(x[i]));
    return total;
  }
  // Four independent accumulators per stream: the compiler vectorizes these, but will not
  // reassociate a single float accumulator.
  for (int64_t b = 0; b < n; b += kChunk) {
    const T* q = x + b;
    const int64_t m = std::min(kChunk, n - b);
    const int64_t part = (m / 4) & ~int64_t(3);
    const T *s1 = q + part, *s2 = q + 2 * part, *s3 = q + 3 * part;
    A lanes[16];
    for (int k = 0; k < 16; ++k) lanes[k] = Op::init();
    // Sub-blocks fold into `lanes` every 128 values per accumulator, again for precision.
    for (int64_t sb = 0; sb < part; sb += 512) {
      const int64_t se = std::min(part, sb + 512);
      A sub[16];
      for (int k = 0; k < 16; ++k) sub[k] = Op::init();
      for (int64_t i = sb; i < se; i += 4) {
        for (int k = 0; k < 4; ++k) {
          sub[k] = Op::apply(sub[k], load<A>(q[i + k]));
          sub[4 + k] = Op::apply(sub[4 + k], load<A>(s1[i + k]));
          sub[8 + k] = Op::apply(sub[8 + k], load<A>(s2[i + k]));
          sub[12 + k] = Op::apply(sub[12 + k], load<A>(s3[i + k]));
        }
      }
      for (int k = 0; k < 16; ++k) lanes[k] = Op::apply(lanes[k], sub[k]);
    }
    for (int64_t i = 4 * part; i < m; ++i) lanes[0] = Op::apply(lanes[0], load<A>(q[i]));
    for (int w = 8; w > 0; w /= 2) {
      for (int k = 0; k < w; ++k) lanes[k] = Op::apply(lanes[k], lanes[k + w]);
    }
    total = Op::apply(total, lanes[0]);
  }
  return total;
}

// Rows and general layouts.
template <typename Op, typename T>
void partial_rows(const T* in, const Plan& p, size_t ob, size_t oe, size_t rb, size_t re,
                  typename Op::A* dst) {
  using A = typename Op::A;
  OffsetWalker kept(p.kshape.data(), p.kstrides.data(), static_cast<int>(p.kshape.size()));
  OffsetWalker outer(p.rshape.data(), p.rstrides.data(), static_cast<int>(p.rshape.size()) - 1);
  const int64_t rs = p.rstrides.back();
  kept.seek(ob);
  // One whole run per output (the common case, e.g. the last axis): no per-output setup,
  // which matters when the runs are short.
  if (p.rshape.size() == 1 && rb == 0 && re == p.r_size) {
    const int64_t n = p.rshape[0];
    auto one = [&](const T* x) {
      if (rs == 1 && n >= 64) return reduce_contiguous<Op>(x, n);
      A acc = Op::init();
      for (int64_t i = 0; i < n; ++i) acc = Op::apply(acc, load<A>(x[i * rs]));
      return acc;
    };
    if (p.kshape.size() == 1) {
      const int64_t ks = p.kstrides[0];
      for (size_t o = ob; o < oe; ++o) dst[o - ob] = one(in + static_cast<int64_t>(o) * ks);
    } else {
      for (size_t o = ob; o < oe; ++o, kept.next()) dst[o - ob] = one(in + kept.offset);
    }
    return;
  }
  // Several runs per output: take each run position for all outputs in turn, so that
  // neighbouring outputs read neighbouring memory.
  std::fill(dst, dst + (oe - ob), Op::init());
  for_each_run(p, outer, rb, re, [&](int64_t off, int64_t begin, int64_t end) {
    const int64_t len = end - begin;
    kept.seek(ob);
    for (size_t o = ob; o < oe; ++o, kept.next()) {
      const T* x = in + kept.offset + off + begin * rs;
      A acc = dst[o - ob];
      if (rs == 1 && len >= 64) {
        acc = Op::apply(acc, reduce_contiguous<Op>(x, len));
      } else {
        for (int64_t i = 0; i < len; ++i) acc = Op::apply(acc, load<A>(x[i * rs]));
      }
      dst[o - ob] = acc;
    }
  });
}

// Columns layout: tiles of neighbouring outputs accumulate input rows.
template <typename Op, typename T>
void partial_columns(const T* in, const Plan& p, size_t ob, size_t oe, size_t rb, size_t re,
                     typename Op::A* dst) {
  using A = typename Op::A;
  const int64_t cols = p.kshape.back();
  const int64_t rs = p.rstrides.back();
  OffsetWalker kept(p.kshape.data(), p.kstrides.data(), static_cast<int>(p.kshape.size()) - 1);
  OffsetWalker outer(p.rshape.data(), p.rstrides.data(), static_cast<int>(p.rshape.size()) - 1);
  // Few columns over adjacent rows: view each group of `group` rows as one wide row, so
  // the vector loop stays long; the lanes fold back onto the columns afterwards.
  const int64_t group = rs == cols && cols < 64 ? std::max<int64_t>(1, 128 / cols) : 1;
  const int64_t tile = std::max<int64_t>(64, kColumnTileBytes / static_cast<int64_t>(sizeof(A)));
  A wide[128];  // group * cols <= 128
  kept.seek(ob / cols);
  size_t o = ob;
  while (o < oe) {
    const int64_t j0 = static_cast<int64_t>(o % cols);
    const int64_t j1 = std::min<int64_t>(cols, j0 + static_cast<int64_t>(oe - o));
    for (int64_t t = j0; t < j1; t += tile) {
      const int64_t len = std::min(tile, j1 - t);
      A* acc = dst + (o - ob) + (t - j0);
      for (int64_t j = 0; j < len; ++j) acc[j] = Op::init();
      const bool widen = group > 1 && len == cols;
      for_each_run(p, outer, rb, re, [&](int64_t off, int64_t begin, int64_t end) {
        const T* x = in + kept.offset + off + t;
        int64_t i = begin;
        if (widen && end - begin >= 2 * group) {
          const int64_t width = group * cols;
          for (int64_t l = 0; l < width; ++l) wide[l] = Op::init();
          for (; i + group <= end; i += group) {
            const T* row = x + i * rs;
            for (int64_t l = 0; l < width; ++l) wide[l] = Op::apply(wide[l], load<A>(row[l]));
          }
          for (int64_t l = 0; l < width; ++l) acc[l % cols] = Op::apply(acc[l % cols], wide[l]);
        }
        // Four rows per pass: a quarter of the accumulator loads and stores.
        for (; i + 4 <= end; i += 4) {
          const T* r0 = x + i * rs;
          const T* r1 = r0 + rs;
          const T* r2 = r1 + rs;
          const T* r3 = r2 + rs;
          for (int64_t j = 0; j < len; ++j) {
            A a = Op::apply(acc[j], load<A>(r0[j]));
            a = Op::apply(a, load<A>(r1[j]));
            a = Op::apply(a, load<A>(r2[j]));
            acc[j] = Op::apply(a, load<A>(r3[j]));
          }
        }
        for (; i < end; ++i) {
          const T* row = x + i * rs;
          for (int64_t j = 0; j < len; ++j) acc[j] = Op::apply(acc[j], load<A>(row[j]));
        }
      });
    }
    o += j1 - j0;
    kept.next();
  }
}

template <typename Op, typename T>
void reduce_typed(const array& in, const Plan& p, typename Op::A* dst) {
  using A = typename Op::A;
  const T* src = in.data<T>();
  const bool columns = p.rstrides.back() != 1 && p.kstrides.back() == 1;
  auto partial = [&](size_t ob, size_t oe, size_t rb, size_t re, A* d) {
    if (columns) {
      partial_columns<Op>(src, p, ob, oe, rb, re, d);
    } else {
      partial_rows<Op>(src, p, ob, oe, rb, re, d);
    }
  };
  const size_t outs = p.out_size, rsize = p.r_size;
  const size_t threads = static_cast<size_t>(cpu::num_threads());
  if (threads == 1 || outs * rsize < 2 * kReduceGrain) {
    partial(0, outs, 0, rsize, dst);
    return;
  }
  if (outs >= 4 * threads || rsize < 2 * kReduceGrain) {
    size_t grain = std::max<size_t>(1, kReduceGrain / rsize);
    cpu::parallel_for(outs, grain, [&](size_t b, size_t e) { partial(b, e, 0, rsize, dst + b); });
    return;
  }
  // Few long reductions: every slice of the reduced elements makes partial results. Slices
  // are short enough that an interrupt is acted on between them, and one is taken at a time.
  const size_t slices = std::min({rsize / kReduceGrain, kMaxReduceSlices,
                                  std::max(threads, rsize / kReduceSliceElements)});
  std::unique_ptr<A[]> parts(new A[slices * outs]);
  cpu::parallel_for(slices, 1, [&](size_t b, size_t e) {
    for (size_t c = b; c < e; ++c) {
      partial(0, outs, rsize * c / slices, rsize * (c + 1) / slices, parts.get() + c * outs);
    }
  }, /*max_chunk=*/1);
  for (size_t o = 0; o < outs; ++o) {
    A acc = parts[o];
    for (size_t c = 1; c < slices; ++c) acc = Op::apply(acc, parts[c * outs + o]);
    dst[o] = acc;
  }
}

template <typename Op, typename T>
void run_reduce(const array& in, const Plan& p, array& acc) {
  using A = typename Op::A;
  A* dst = acc.data<A>();
  if (p.r_size == 0) {
    std::fill(dst, dst + p.out_size, Op::init());
    return;
  }
  reduce_typed<Op, T>(in, p, dst);
}

// ---- argmax / argmin ----

template <bool kMax, typename A>
inline bool better(A x, A best) {
  bool wins = kMax ? greater(x, best) : less(x, best);
  return wins | (is_nan(x) & !is_nan(best));
}

template <bool kMax, typename T>
void arg_reduce_typed(const array& in, const Plan& p, uint32_t* dst) {
  using A = CompareAcc<T>;
  const T* src = in.data<T>();
  const int64_t n = p.rshape.back(), rs = p.rstrides.back();
  const bool columns = rs != 1 && p.kstrides.back() == 1 && n > 1;
  const size_t grain = std::max<size_t>(1, kReduceGrain / static_cast<size_t>(n));
  if (!columns) {
    cpu::parallel_for(p.out_size, grain, [&](size_t b, size_t e) {
      OffsetWalker kept(p.kshape.data(), p.kstrides.data(), static_cast<int>(p.kshape.size()));
      kept.seek(b);
      for (size_t o = b; o < e; ++o, kept.next()) {
        const T* x = src + kept.offset;
        if (rs == 1 && n >= 64) {
          // Contiguous rows: the vectorized extremum, then the first position holding it.
          A m = kMax ? reduce_contiguous<MaxOp<A>>(x, n) : reduce_contiguous<MinOp<A>>(x, n);
          int64_t i = 0;
          if (is_nan(m)) {
            while (!is_nan(load<A>(x[i]))) ++i;
          } else {
            while (!(load<A>(x[i]) == m)) ++i;
          }
          dst[o] = static_cast<uint32_t>(i);
          continue;
        }
        A best = load<A>(x[0]);
        uint32_t at = 0;
        for (int64_t i = 1; i < n; ++i) {
          A v = load<A>(x[i * rs]);
          if (better<kMax>(v, best)) {
            best = v;
            at = static_cast<uint32_t>(i);
          }
        }
        dst[o] = at;
      }
    });
    return;
  }
  const int64_t cols = p.kshape.back();
  cpu::parallel_for(p.out_size, grain, [&](size_t b, size_t e) {
    OffsetWalker kept(p.kshape.data(), p.kstrides.data(), static_cast<int>(p.kshape.size()) - 1);
    A best[kArgTile];
    uint32_t at[kArgTile];
    kept.seek(b / cols);
    size_t o = b;
    while (o < e) {
      const int64_t j0 = static_cast<int64_t>(o % cols);
      const int64_t j1 = std::min<int64_t>(cols, j0 + static_cast<int64_t>(e - o));
      for (int64_t t = j0; t < j1; t += kArgTile) {
        const int64_t len = std::min(kArgTile, j1 - t);
        const T* x = src + kept.offset + t;
        for (int64_t j = 0; j < len; ++j) {
          best[j] = load<A>(x[j]);
          at[j] = 0;
        }
        for (int64_t i = 1; i < n; ++i) {
          const T* row = x + i * rs;
          for (int64_t j = 0; j < len; ++j) {
            A v = load<A>(row[j]);
            bool w = better<kMax>(v, best[j]);
            best[j] = w ? v : best[j];
            at[j] = w ? static_cast<uint32_t>(i) : at[j];
          }
        }
        std::copy(at, at + len, dst + o + (t - j0));
      }
      o += j1 - j0;
      kept.next();
    }
  });
}

}  // namespace

void Reduce::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Dtype acc_dtype = reduce_accumulator_dtype(op_, in.dtype());
  // The kernel writes accumulators; another output dtype gets a converted copy.
  array acc = acc_dtype == out.dtype() ? out : array::empty(out.shape(), acc_dtype);
  if (acc.is_same(out)) out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.size() != 0) {
    Plan p = make_plan(in, axes_);
    dispatch_dtype(in.dtype(), [&](auto tag) {
      using T = Stored<decltype(tag)>;
      switch (op_) {
        case ReduceOp::Sum: return run_reduce<SumOp<SumAcc<T>>, T>(in, p, acc);
        case ReduceOp::Prod: return run_reduce<ProdOp<SumAcc<T>>, T>(in, p, acc);
        case ReduceOp::Max: return run_reduce<MaxOp<CompareAcc<T>>, T>(in, p, acc);
        case ReduceOp::Min: return run_reduce<MinOp<CompareAcc<T>>, T>(in, p, acc);
        default: break;
      }
      if constexpr (std::is_same_v<T, bool>) {
        if (op_ == ReduceOp::And) return run_reduce<AndOp, T>(in, p, acc);
        return run_reduce<OrOp, T>(in, p, acc);
      } else {
        throw std::invalid_argument(std::string("[") + name() + "] Expects a bool input, got " +
                                    dtype_name(in.dtype()) + ".");
      }
    });
  }
  if (!acc.is_same(out)) {
    out.set_data(std::make_shared<Data>(out.nbytes()));
    cpu::convert(acc, out);
  }
}

void ArgReduce::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.size() == 0) return;
  if (in.shape(axis_) == 0) {
    throw std::invalid_argument(std::string("[") + name() + "] Cannot reduce an empty axis.");
  }
  Plan p = make_plan(in, {axis_});
  uint32_t* dst = out.data<uint32_t>();
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using T = Stored<decltype(tag)>;
    if (op_ == ArgReduceOp::ArgMax) {
      arg_reduce_typed<true, T>(in, p, dst);
    } else {
      arg_reduce_typed<false, T>(in, p, dst);
    }
  });
}

}  // namespace pullback
