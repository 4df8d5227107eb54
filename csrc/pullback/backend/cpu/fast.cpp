// CPU kernels of the mx.fast primitives: RMSNorm, LayerNorm, RoPE.
//
// Each views its input as rows of the last axis (a row-contiguous copy is made first for any
// other layout) and treats one row per step: the row is read once for its statistics while it
// sits in L1, then once more to write the output, where the unfused graph streams the whole
// array through memory for every op. Rows are split over threads with parallel_for.
// float16/bfloat16 compute in float32; float64 in double.
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/primitives/fast.h"

namespace pullback {
namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename T>
constexpr bool is_float_type = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                               std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;

// `a` itself when row-contiguous, else a row-contiguous copy.
array row_major(const array& a) {
  if (a.flags().row_contiguous) return a;
  array c = array::empty(a.shape(), a.dtype());
  c.set_data(std::make_shared<Data>(a.nbytes()));
  cpu::copy_to_contiguous(a, c);
  return c;
}

// Output storage: the input's buffer when it may be reused in place, else a fresh one.
void allocate_output(const array& in, array& out) {
  if (in.is_donatable() && in.flags().row_contiguous && in.data_size() == in.size() &&
      in.dtype() == out.dtype()) {
    out.copy_shared_buffer(in, in.strides(), in.flags(), in.data_size());
  } else {
    out.set_data(std::make_shared<Data>(out.nbytes()));
  }
}

// Rows per parallel chunk: about kElementwiseGrain elements.
size_t row_grain(int64_t width) {
  return std::max<size_t>(1, cpu::kElementwiseGrain / size_t(std::max<int64_t>(width, 1)));
}

// Eight partial sums, so the loop vectorizes without reassociating one running sum.
template <typename T, typename A, typename F>
A row_sum(const T* x, int64_t n, F&& term) {
  A part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) part[k] += term(A(x[i + k]));
  A total = 0;
  for (; i < n; ++i) total += term(A(x[i]));
  for (int k = 0; k < 8; ++k) total += part[k];
  return total;
}

template <typename F>
void for_float_type(Dtype t, const char* op, F&& f) {
  dispatch_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_type<T>) f(tag);
    else throw std::invalid_argument(std::string("[") + op + "] Unsupported type.");
  });
}

}  // namespace

void RMSNorm::eval_cpu(const std::vector<array>& inputs, array& out) {
  array x = row_major(inputs[0]);
  array w = has_weight_ ? row_major(inputs[1]) : x;
  allocate_output(x, out);
  if (out.size() == 0) return;
  const int64_t d = x.shape(-1);
  const int64_t rows = int64_t(x.size()) / d;
  const float eps = eps_;
  const bool has_weight = has_weight_;
  for_float_type(x.dtype(), "rms_norm", [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    const T* xp = x.data<T>();
    const T* wp = has_weight ? w.data<T>() : nullptr;
    T* yp = out.data<T>();
    cpu::parallel_for(size_t(rows), row_grain(d), [&](size_t lo, size_t hi) {
      for (size_t r = lo; r < hi; ++r) {
        const T* xr = xp + r * d;
        T* yr = yp + r * d;
        A ss = row_sum<T, A>(xr, d, [](A v) { return v * v; });
        A inv = A(1) / std::sqrt(ss / A(d) + A(eps));
        if (wp) {
          for (int64_t i = 0; i < d; ++i) yr[i] = T(A(xr[i]) * inv * A(wp[i]));
        } else {
          for (int64_t i = 0; i < d; ++i) yr[i] = T(A(xr[i]) * inv);
        }
      }
    });
  });
}

void LayerNorm::eval_cpu(const std::vector<array>& inputs, array& out) {
  array x = row_major(inputs[0]);
  array w = has_weight_ ? row_major(inputs[1]) : x;
  array b = has_bias_ ? row_major(inputs[has_weight_ ? 2 : 1]) : x;
  allocate_output(x, out);
  if (out.size() == 0) return;
  const int64_t d = x.shape(-1);
  const int64_t rows = int64_t(x.size()) / d;
  const float eps = eps_;
  const bool has_weight = has_weight_, has_bias = has_bias_;
  for_float_type(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    const T* xp = x.data<T>();
    const T* wp = has_weight ? w.data<T>() : nullptr;
    const T* bp = has_bias ? b.data<T>() : nullptr;
    T* yp = out.data<T>();
    cpu::parallel_for(size_t(rows), row_grain(d), [&](size_t lo, size_t hi) {
      for (size_t r = lo; r < hi; ++r) {
        const T* xr = xp + r * d;
        T* yr = yp + r * d;
        // Two reads of the row (mean, then the centred squares) while it is in L1: the
        // one-pass E[x^2] - E[x]^2 loses all precision when the mean is large.
        A mu = row_sum<T, A>(xr, d, [](A v) { return v; }) / A(d);
        A var = row_sum<T, A>(xr, d, [mu](A v) { return (v - mu) * (v - mu); }) / A(d);
        A inv = A(1) / std::sqrt(var + A(eps));
        for (int64_t i = 0; i < d; ++i) {
          A v = (A(xr[i]) - mu) * inv;
          if (wp) v *= A(wp[i]);
          if (bp) v += A(bp[i]);
          yr[i] = T(v);
        }
      }
    });
  });
}

void RoPE::eval_cpu(const std::vector<array>& inputs, array& out) {
  array x = row_major(inputs[0]);
  allocate_output(x, out);
  if (out.size() == 0) return;
  const int64_t d = x.shape(-1);
  const int64_t len = x.shape(-2);
  const int64_t rows = int64_t(x.size()) / d;
  const int64_t half = dims_ / 2;
  // The inverse frequencies, in double: the angles of late positions need them exact.
  std::vector<double> inv_freq(half);
  if (has_freqs_) {
    array f = row_major(inputs[1]);
    for_float_type(f.dtype(), "rope", [&](auto tag) {
      using F = decltype(tag);
      for (int64_t i = 0; i < half; ++i) inv_freq[i] = 1.0 / double(f.data<F>()[i]);
    });
  } else {
    for (int64_t i = 0; i < half; ++i)
      inv_freq[i] = std::pow(double(base_), -double(2 * i) / double(dims_));
  }
  const double sign = inverse_ ? -1.0 : 1.0;
  const double scale = scale_;
  const int64_t offset = offset_;
  const bool traditional = traditional_;
  const bool in_place = out.data<char>() == x.data<char>();
  for_float_type(x.dtype(), "rope", [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    const T* xp = x.data<T>();
    T* yp = out.data<T>();
    // cos and sin of every (position, pair) once, when the table is small: rows of many heads
    // share the positions, and a sin/cos costs far more than the rotation itself.
    const bool tabulate = len * half <= (int64_t(1) << 22);
    std::vector<A> table_cos, table_sin;
    auto angles = [&](int64_t l, A* c, A* sn) {
      const double pos = double(offset + l);
      for (int64_t i = 0; i < half; ++i) {
        double theta = sign * pos * scale * inv_freq[i];
        c[i] = A(std::cos(theta));
        sn[i] = A(std::sin(theta));
      }
    };
    if (tabulate) {
      table_cos.resize(size_t(len * half));
      table_sin.resize(size_t(len * half));
      cpu::parallel_for(size_t(len), row_grain(8 * half), [&](size_t lo, size_t hi) {
        for (size_t l = lo; l < hi; ++l)
          angles(int64_t(l), table_cos.data() + l * half, table_sin.data() + l * half);
      });
    }
    cpu::parallel_for(size_t(rows), row_grain(d), [&](size_t lo, size_t hi) {
      std::vector<A> own_cos(tabulate ? 0 : half), own_sin(tabulate ? 0 : half);
      int64_t l_cached = -1;
      for (size_t r = lo; r < hi; ++r) {
        const int64_t l = int64_t(r) % len;
        const A* cs = nullptr;
        const A* sn = nullptr;
        if (tabulate) {
          cs = table_cos.data() + l * half;
          sn = table_sin.data() + l * half;
        } else {
          if (l != l_cached) angles(l, own_cos.data(), own_sin.data());
          l_cached = l;
          cs = own_cos.data();
          sn = own_sin.data();
        }
        const T* xr = xp + r * d;
        T* yr = yp + r * d;
        const int64_t stride = traditional ? 1 : half;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t a = traditional ? 2 * i : i;
          const A x1 = A(xr[a]), x2 = A(xr[a + stride]);
          yr[a] = T(x1 * cs[i] - x2 * sn[i]);
          yr[a + stride] = T(x1 * sn[i] + x2 * cs[i]);
        }
        if (!in_place)
          for (int64_t i = dims_; i < d; ++i) yr[i] = xr[i];
      }
    });
  });
}

}  // namespace pullback
