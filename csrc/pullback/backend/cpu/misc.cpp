#include <cmath>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/primitives/misc.h"

namespace pullback {

void Identity::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.copy_shared_buffer(inputs[0]);
}

void StopGradient::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.copy_shared_buffer(inputs[0]);
}

void Copy::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (in.flags().row_contiguous && in.data_size() == in.size()) {
    out.copy_shared_buffer(in);
    return;
  }
  out.set_data(std::make_shared<Data>(out.nbytes()));
  cpu::copy_to_contiguous(in, out);
}

void AsType::eval_cpu(const std::vector<array>& inputs, array& out) {
  cpu::allocate_output(inputs, out);
  cpu::convert(inputs[0], out);
}

namespace {

// A float64 value as integer type T: converted through int64, which wraps into narrower
// types as NumPy's arange does. Values beyond int64 (undefined for a plain cast) saturate.
template <typename T>
T integer_from_double(double v) {
  if (!(v > -9223372036854775808.0)) return static_cast<T>(INT64_MIN);  // also NaN
  if (v >= 9223372036854775808.0) return static_cast<T>(INT64_MAX);
  return static_cast<T>(static_cast<int64_t>(v));
}

}  // namespace

void Arange::eval_cpu(const std::vector<array>&, array& out) {
  out.set_data(std::make_shared<Data>(out.nbytes()));
  const double start = start_, step = step_;
  // start + i * step modulo 2**64: the true value whenever it fits in int64.
  const uint64_t istart = static_cast<uint64_t>(range_.start);
  const uint64_t istep = static_cast<uint64_t>(range_.step);
  const bool integral = integral_;
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* dst = out.data<T>();
    for (size_t i = 0; i < out.size(); ++i) {
      if (integral) {
        const int64_t v = static_cast<int64_t>(istart + istep * i);
        if constexpr (std::is_same_v<T, complex64_t>) {
          dst[i] = complex64_t(static_cast<float>(v), 0.f);
        } else if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
          dst[i] = T(static_cast<float>(v));
        } else {
          dst[i] = static_cast<T>(v);
        }
        continue;
      }
      const double v = start + step * i;
      if constexpr (std::is_same_v<T, complex64_t>) {
        dst[i] = complex64_t(static_cast<float>(v), 0.f);
      } else if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
        dst[i] = T(static_cast<float>(v));
      } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        dst[i] = integer_from_double<T>(v);
      } else {
        dst[i] = static_cast<T>(v);
      }
    }
  });
}

}  // namespace pullback
