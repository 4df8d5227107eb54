// CPU kernels for Sort (sort, argsort, partition, argpartition) and SearchSorted.
//
// Each row along the sorted axis is copied into a contiguous buffer (in a working type:
// float16/bfloat16 widen to float, exactly), sorted there, and written to the output. Rows are
// independent and split over threads. Rows of 4-byte keys (float32, int32, uint32, and the half
// floats through float) long enough to pay for it are sorted by an LSD radix sort on
// order-preserving unsigned keys: it is stable and linear, where std::sort is n log n with
// unpredictable branches. A single long row is radix sorted by all threads together.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/primitives/sort.h"

namespace pullback {
namespace {

// The type a row is sorted in (bool as a byte: std::vector<bool> has no data()).
template <typename T>
using Work = std::conditional_t<
    std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>, float,
    std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>>;

template <typename T>
bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(x);
  } else {
    return false;
  }
}

// NumPy's ascending order: NaNs after everything; complex by real part, then imaginary part,
// with the numbers that have a NaN part last.
template <typename T>
struct Less {
  bool operator()(const T& a, const T& b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return a < b || (std::isnan(b) && !std::isnan(a));
    } else if constexpr (std::is_same_v<T, complex64_t>) {
      // NumPy's classes, in order: no NaN part, NaN imaginary part only, NaN real part only,
      // both NaN; within a class by the parts that are not NaN, real first.
      auto cls = [](const complex64_t& z) {
        return (std::isnan(z.real()) ? 2 : 0) + (std::isnan(z.imag()) ? 1 : 0);
      };
      const int ca = cls(a), cb = cls(b);
      if (ca != cb) return ca < cb;
      if (ca == 0) return a.real() < b.real() || (a.real() == b.real() && a.imag() < b.imag());
      if (ca == 1) return a.real() < b.real();
      if (ca == 2) return a.imag() < b.imag();
      return false;
    } else {
      return a < b;
    }
  }
};

// Order-preserving unsigned keys for the radix sort. `stable_ties` makes values that compare
// equal (0.0 and -0.0; all NaNs) share one key, so that argsort keeps them in input order like
// a comparison sort; a value sort keeps -0.0 (it sorts before 0.0, which is equal anyway).
template <typename T>
uint32_t to_key(T x, bool stable_ties) {
  if constexpr (std::is_same_v<T, float>) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if (std::isnan(x)) return 0xffffffffu;
    if (stable_ties && u == 0x80000000u) u = 0;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return static_cast<uint32_t>(x) ^ 0x80000000u;
  } else {
    return static_cast<uint32_t>(x);
  }
}

template <typename T>
T from_key(uint32_t k) {
  if constexpr (std::is_same_v<T, float>) {
    if (k == 0xffffffffu) return std::numeric_limits<float>::quiet_NaN();
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return static_cast<int32_t>(k ^ 0x80000000u);
  } else {
    return static_cast<T>(k);
  }
}

template <typename T>
constexpr bool kRadix = std::is_same_v<T, float> || std::is_same_v<T, int32_t> ||
                        std::is_same_v<T, uint32_t>;
// Rows shorter than this are sorted by comparison: the radix sort's histograms cost more.
constexpr int64_t kRadixMin = 1024;
constexpr int kRadixBits = 11;
constexpr int kRadixPasses = 3;  // 33 bits cover a 32-bit key
constexpr uint32_t kRadixMask = (1u << kRadixBits) - 1;

// Rows at least this long are radix sorted by all threads together (one slice each), when
// they are not already sorted in parallel with other rows.
constexpr size_t kParallelRadixMin = size_t(1) << 17;

// Stable LSD radix sort of `keys` on the 32 bits from `shift0` up (an argsort packs the index
// below its key in a uint64, so that each element moves as one word). `tmp` is scratch of the
// same length. Each pass counts digits per slice, then every slice scatters its elements after
// those of earlier slices with the same digit (so the pass stays stable); passes where every
// key has the same digit are skipped. Returns whether the result ended in `tmp` (an odd number
// of passes moved data) rather than in `keys`.
template <typename K>
bool radix_sort(K* keys, K* tmp, size_t n, int shift0) {
  constexpr size_t kDigits = size_t(1) << kRadixBits;
  const size_t slices =
      n >= kParallelRadixMin ? static_cast<size_t>(std::max(1, cpu::num_threads())) : 1;
  std::vector<size_t> hist(slices * kDigits);
  auto slice_begin = [&](size_t t) { return n / slices * t; };
  auto slice_end = [&](size_t t) { return t + 1 == slices ? n : n / slices * (t + 1); };
  auto each_slice = [&](auto&& f) {
    if (slices == 1) {
      f(0);
    } else {
      cpu::parallel_for(slices, 1, [&](size_t b, size_t e) {
        for (size_t t = b; t < e; ++t) f(t);
      }, 1);
    }
  };
  bool in_scratch = false;
  for (int p = 0; p < kRadixPasses; ++p) {
    const int shift = shift0 + p * kRadixBits;
    auto digit = [shift](K k) { return static_cast<size_t>((k >> shift) & kRadixMask); };
    each_slice([&](size_t t) {
      size_t* h = hist.data() + t * kDigits;
      std::fill(h, h + kDigits, size_t(0));
      for (size_t i = slice_begin(t), e = slice_end(t); i < e; ++i) ++h[digit(keys[i])];
    });
    // One digit for all keys: nothing moves.
    const size_t d0 = digit(keys[0]);
    size_t c0 = 0;
    for (size_t t = 0; t < slices; ++t) c0 += hist[t * kDigits + d0];
    if (c0 == n) continue;
    size_t sum = 0;
    for (size_t d = 0; d < kDigits; ++d) {
      for (size_t t = 0; t < slices; ++t) {
        size_t c = hist[t * kDigits + d];
        hist[t * kDigits + d] = sum;
        sum += c;
      }
    }
    each_slice([&](size_t t) {
      size_t* h = hist.data() + t * kDigits;
      for (size_t i = slice_begin(t), e = slice_end(t); i < e; ++i) tmp[h[digit(keys[i])]++] = keys[i];
    });
    std::swap(keys, tmp);
    in_scratch = !in_scratch;
  }
  return in_scratch;
}

// Scratch buffers of one thread, reused across its rows.
template <typename W>
struct RowBuffers {
  std::vector<W> vals;
  std::vector<uint32_t> idx, keys, tmp_k;
  std::vector<uint64_t> pairs, tmp_p;  // key << 32 | index
};

template <typename T>
void sort_rows(const array& in, array& out, int axis, SortKind kind, int64_t kth) {
  using W = Work<T>;
  const int64_t n = in.shape(axis);
  const size_t rows = in.size() / static_cast<size_t>(n);
  Shape outer;
  Strides in_outer, out_outer;
  for (int d = 0; d < in.ndim(); ++d) {
    if (d == axis) continue;
    outer.push_back(in.shape(d));
    in_outer.push_back(in.strides()[d]);
    out_outer.push_back(out.strides()[d]);
  }
  const int64_t in_st = in.strides()[axis];
  const int64_t out_st = out.strides()[axis];
  const T* src = in.data<T>();
  const bool want_idx = kind == SortKind::ArgSort || kind == SortKind::ArgPartition;
  const size_t grain = std::max<size_t>(1, (size_t(1) << 15) / static_cast<size_t>(n));
  cpu::parallel_for(rows, grain, [&](size_t rb, size_t re) {
    RowBuffers<W> b;
    for (size_t r = rb; r < re; ++r) {
      const T* row = src + cpu::offset_of(r, outer, in_outer);
      const int64_t out_off = cpu::offset_of(r, outer, out_outer);
      auto write_idx = [&](const uint32_t* ix) {
        uint32_t* dst = out.data<uint32_t>() + out_off;
        for (int64_t j = 0; j < n; ++j) dst[j * out_st] = ix[j];
      };
      auto write_vals = [&](auto get) {
        T* dst = out.data<T>() + out_off;
        for (int64_t j = 0; j < n; ++j) dst[j * out_st] = static_cast<T>(get(j));
      };
      if constexpr (kRadix<W>) {
        if ((kind == SortKind::Sort || kind == SortKind::ArgSort) && n >= kRadixMin) {
          if (want_idx) {
            b.pairs.resize(n);
            b.tmp_p.resize(n);
            for (int64_t j = 0; j < n; ++j) {
              b.pairs[j] = uint64_t(to_key(static_cast<W>(row[j * in_st]), true)) << 32 |
                           static_cast<uint64_t>(j);
            }
            const bool moved = radix_sort(b.pairs.data(), b.tmp_p.data(), n, 32);
            const uint64_t* sp = moved ? b.tmp_p.data() : b.pairs.data();
            uint32_t* dst = out.data<uint32_t>() + out_off;
            for (int64_t j = 0; j < n; ++j) dst[j * out_st] = static_cast<uint32_t>(sp[j]);
          } else {
            b.keys.resize(n);
            b.tmp_k.resize(n);
            for (int64_t j = 0; j < n; ++j) b.keys[j] = to_key(static_cast<W>(row[j * in_st]), false);
            const bool moved = radix_sort(b.keys.data(), b.tmp_k.data(), n, 0);
            const uint32_t* sk = moved ? b.tmp_k.data() : b.keys.data();
            write_vals([&](int64_t j) { return from_key<W>(sk[j]); });
          }
          continue;
        }
      }
      b.vals.resize(n);
      for (int64_t j = 0; j < n; ++j) b.vals[j] = static_cast<W>(row[j * in_st]);
      Less<W> less;
      if (kind == SortKind::Sort) {
        std::sort(b.vals.begin(), b.vals.end(), less);
        write_vals([&](int64_t j) { return b.vals[j]; });
        continue;
      }
      b.idx.resize(n);
      std::iota(b.idx.begin(), b.idx.end(), 0u);
      const W* v = b.vals.data();
      if (kind == SortKind::ArgSort) {
        std::stable_sort(b.idx.begin(), b.idx.end(),
                         [&](uint32_t i, uint32_t j) { return less(v[i], v[j]); });
      } else {
        // A total order (value, then index): the partition is a function of the input, the
        // same for Partition and ArgPartition.
        std::nth_element(b.idx.begin(), b.idx.begin() + kth, b.idx.end(),
                         [&](uint32_t i, uint32_t j) {
                           if (less(v[i], v[j])) return true;
                           if (less(v[j], v[i])) return false;
                           return i < j;
                         });
      }
      if (want_idx) {
        write_idx(b.idx.data());
      } else {
        write_vals([&](int64_t j) { return v[b.idx[j]]; });
      }
    }
  });
}

}  // namespace

void Sort::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.size() == 0) return;
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    sort_rows<T>(in, out, axis_, kind_, kth_);
  });
}

void SearchSorted::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& seq = inputs[0];
  const array& vals = inputs[1];
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.size() == 0) return;
  dispatch_dtype(seq.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using W = Work<T>;
    // The sequence in the working type, contiguous, so each search reads it directly.
    const int64_t n = seq.shape(0);
    std::vector<W> s(n);
    const T* sp = seq.data<T>();
    for (int64_t j = 0; j < n; ++j) s[j] = static_cast<W>(sp[j * seq.strides()[0]]);
    const T* vp = vals.data<T>();
    uint32_t* dst = out.data<uint32_t>();
    Less<W> less;
    const bool right = right_;
    const bool dense = vals.flags().row_contiguous;
    cpu::parallel_for(vals.size(), size_t(1) << 12, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        const int64_t off = dense ? static_cast<int64_t>(i)
                                  : cpu::offset_of(i, vals.shape(), vals.strides());
        W x = static_cast<W>(vp[off]);
        auto it = right ? std::upper_bound(s.begin(), s.end(), x, less)
                        : std::lower_bound(s.begin(), s.end(), x, less);
        dst[i] = static_cast<uint32_t>(it - s.begin());
      }
    });
  });
}

void SortedGroups::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  out.set_data(std::make_shared<Data>(out.nbytes()));
  const int64_t n = in.size();
  if (n == 0) return;
  uint32_t* dst = out.data<uint32_t>();
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using W = Work<T>;
    const T* p = in.data<T>();
    const int64_t st = in.strides()[0];
    uint32_t g = 0;
    W prev = static_cast<W>(p[0]);
    dst[0] = 0;
    for (int64_t i = 1; i < n; ++i) {
      W x = static_cast<W>(p[i * st]);
      // `!=` makes every NaN a new group, as in MLX.
      if (x != prev) ++g;
      dst[i] = g;
      prev = x;
    }
  });
}

}  // namespace pullback
