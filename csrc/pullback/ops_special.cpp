// as_strided, view, depends, convolve, the window functions and hadamard_transform: each op
// validates its arguments (MLX's rules) and builds a node of primitives/special.h or a small
// graph of existing ops.
#include <cmath>

#include "pullback/ops.h"
#include "pullback/primitives/special.h"

namespace pullback {

array as_strided(const array& a, std::optional<Shape> shape_in, std::optional<Strides> strides_in,
                 int64_t offset, Stream s) {
  Shape shape = shape_in ? *shape_in : a.shape();
  check_ndim(shape, "as_strided");
  for (int64_t d : shape) {
    if (d < 0) fail("as_strided", "Negative dimension in shape " + shape_str(shape) + ".");
  }
  Strides strides = strides_in ? *strides_in : row_major_strides(shape);
  if (strides.size() != shape.size()) {
    fail("as_strided", "The shape " + shape_str(shape) + " and the strides " + shape_str(strides) +
                           " must have the same length.");
  }
  // The lowest and highest element the view reaches, in __int128 so that no product wraps.
  if (shape_size(shape) > 0) {
    __int128 lo = offset, hi = offset;
    for (size_t d = 0; d < shape.size(); ++d) {
      __int128 reach = static_cast<__int128>(shape[d] - 1) * strides[d];
      (reach < 0 ? lo : hi) += reach;
    }
    if (lo < 0 || hi >= static_cast<__int128>(a.size())) {
      fail("as_strided", "A view of shape " + shape_str(shape) + ", strides " + shape_str(strides) +
                             " and offset " + std::to_string(offset) +
                             " reaches outside the array of " + std::to_string(a.size()) +
                             " elements (shape " + shape_str(a.shape()) + ").");
    }
  }
  return array(shape, a.dtype(), std::make_shared<AsStrided>(s, shape, strides, offset), {a});
}

array view(const array& a, Dtype dtype, Stream s) {
  if (a.dtype() == dtype) return a;
  const int64_t from = static_cast<int64_t>(size_of(a.dtype()));
  const int64_t to = static_cast<int64_t>(size_of(dtype));
  Shape shape = a.shape();
  if (from != to) {
    if (a.ndim() == 0) {
      fail("view", std::string("Changing the type of a scalar is only allowed for types with the "
                               "same size; ") + dtype_name(a.dtype()) + " has " +
                       std::to_string(from) + " bytes and " + dtype_name(dtype) + " " +
                       std::to_string(to) + ".");
    }
    const int64_t bytes = shape.back() * from;
    if (bytes % to != 0) {
      fail("view", "When viewing as a larger dtype, the size in bytes of the last axis must be a "
                   "multiple of the requested type size; the last axis of " +
                       shape_str(shape) + " holds " + std::to_string(bytes) + " bytes of " +
                       dtype_name(a.dtype()) + " and " + dtype_name(dtype) + " has " +
                       std::to_string(to) + ".");
    }
    shape.back() = bytes / to;
  }
  return array(shape, dtype, std::make_shared<View>(s, dtype), {a});
}

std::vector<array> depends(const std::vector<array>& inputs,
                           const std::vector<array>& dependencies) {
  if (inputs.empty()) fail("depends", "At least one input is required.");
  if (dependencies.empty()) return inputs;
  std::vector<array> all = inputs;
  all.insert(all.end(), dependencies.begin(), dependencies.end());
  std::vector<Shape> shapes;
  std::vector<Dtype> dtypes;
  for (const array& x : inputs) {
    shapes.push_back(x.shape());
    dtypes.push_back(x.dtype());
  }
  return array::make_arrays(std::move(shapes), dtypes,
                            std::make_shared<Depends>(current_stream(), static_cast<int>(inputs.size())), all);
}

array convolve(const array& a_in, const array& v_in, const std::string& mode, Stream s) {
  if (mode != "full" && mode != "same" && mode != "valid") {
    fail("convolve", "Invalid mode '" + mode + "'; expected 'full', 'same' or 'valid'.");
  }
  if (a_in.ndim() != 1 || v_in.ndim() != 1) {
    fail("convolve", "Inputs must be 1D; got shapes " + shape_str(a_in.shape()) + " and " +
                         shape_str(v_in.shape()) + ".");
  }
  if (a_in.size() == 0 || v_in.size() == 0) fail("convolve", "Inputs cannot be empty.");
  const Dtype t = promote_types(a_in.dtype(), v_in.dtype());
  if (!is_floating(t)) {
    fail("convolve", std::string("Only real floating point types are supported; ") +
                         dtype_name(a_in.dtype()) + " and " + dtype_name(v_in.dtype()) +
                         " promote to " + dtype_name(t) + ".");
  }
  const bool swap = v_in.size() > a_in.size();
  array a = astype(swap ? v_in : a_in, t, s);
  array v = astype(swap ? a_in : v_in, t, s);
  const int64_t n = a.shape(0), m = v.shape(0);
  // out[i] = sum_j padded[i + j] * v[m - 1 - j]: the rows of a sliding-window view of the
  // zero-padded signal times the reversed kernel, one matrix-vector product.
  int64_t left = 0, out_len = n - m + 1;
  if (mode == "full") {
    left = m - 1;
    out_len = n + m - 1;
  } else if (mode == "same") {
    left = m / 2;
    out_len = n;
  }
  const int64_t right = out_len + m - 1 - n - left;
  array padded = a;
  if (left > 0 || right > 0) {
    padded = concatenate({zeros({left}, t, s), a, zeros({right}, t, s)}, 0, s);
  }
  array windows = as_strided(padded, Shape{out_len, m}, Strides{1, 1}, 0, s);
  array reversed = as_strided(v, Shape{m}, Strides{-1}, m - 1, s);
  return matmul(windows, reversed, s);
}

namespace {

// A float32 window of M points, w[i] = f(i), computed in float64.
template <typename F>
array window(int64_t M, F f) {
  const int64_t n = std::max<int64_t>(M, 0);
  std::vector<float> w(static_cast<size_t>(n));
  if (n == 1) w[0] = 1.0f;
  if (n > 1) {
    for (int64_t i = 0; i < n; ++i) w[i] = static_cast<float>(f(static_cast<double>(i), double(n - 1)));
  }
  return array(w.data(), Shape{n}, Dtype::float32);
}

}  // namespace

array bartlett(int64_t M, Stream) {
  return window(M, [](double i, double d) { return 1.0 - std::abs(2.0 * i - d) / d; });
}

array blackman(int64_t M, Stream) {
  return window(M, [](double i, double d) {
    return 0.42 - 0.5 * std::cos(2.0 * M_PI * i / d) + 0.08 * std::cos(4.0 * M_PI * i / d);
  });
}

array hamming(int64_t M, Stream) {
  return window(M, [](double i, double d) { return 0.54 - 0.46 * std::cos(2.0 * M_PI * i / d); });
}

array hanning(int64_t M, Stream) {
  return window(M, [](double i, double d) { return 0.5 - 0.5 * std::cos(2.0 * M_PI * i / d); });
}

array hadamard_transform(const array& a_in, std::optional<double> scale, Stream s) {
  if (a_in.dtype() == Dtype::complex64) {
    fail("hadamard_transform", "Complex inputs are not supported.");
  }
  array a = is_floating(a_in.dtype()) ? a_in : astype(a_in, Dtype::float32, s);
  if (a.size() == 0) {
    fail("hadamard_transform", "Does not support empty arrays; got shape " + shape_str(a.shape()) + ".");
  }
  if (a.ndim() == 0) a = reshape(a, {1}, s);
  const int64_t n = a.shape(-1);
  if (hadamard_order_of(n) == 0) {
    fail("hadamard_transform", "The last axis must have size m * 2^k with m in (1, 12, 20, 28); "
                               "got " + std::to_string(n) + " (shape " + shape_str(a_in.shape()) + ").");
  }
  const double sc = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(n));
  array out(a.shape(), a.dtype(), std::make_shared<Hadamard>(s, sc), {a});
  return a_in.ndim() == 0 ? reshape(out, {}, s) : out;
}

}  // namespace pullback
