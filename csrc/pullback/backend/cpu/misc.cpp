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

void Arange::eval_cpu(const std::vector<array>&, array& out) {
  out.set_data(std::make_shared<Data>(out.nbytes()));
  const double start = start_, step = step_;
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* dst = out.data<T>();
    for (size_t i = 0; i < out.size(); ++i) {
      if constexpr (std::is_same_v<T, complex64_t>) {
        dst[i] = complex64_t(static_cast<float>(start + step * i), 0.f);
      } else if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
        dst[i] = T(static_cast<float>(start + step * i));
      } else {
        dst[i] = static_cast<T>(start + step * i);
      }
    }
  });
}

}  // namespace pullback
