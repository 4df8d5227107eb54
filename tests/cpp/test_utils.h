// Helpers shared by the core gtest suites: building arrays from host values, reading them
// back through their strides, error capture, and central finite differences.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pullback/array.h"
#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"

namespace pbtest {

using pullback::array;
using pullback::Dtype;
using pullback::Shape;

// Element offset of row-major index `i` in an array with the given shape and strides.
inline int64_t strided_offset(size_t i, const Shape& shape, const pullback::Strides& strides) {
  int64_t off = 0;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    off += static_cast<int64_t>(i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

// Evaluates `a` and returns its elements in row-major order as T (which must be the C++
// type of a's dtype). Reads through strides, so views and broadcasts work.
template <typename T>
std::vector<T> to_vector(array a) {
  if (pullback::dtype_of<T>::value != a.dtype()) {
    throw std::logic_error(std::string("to_vector: array has dtype ") +
                           pullback::dtype_name(a.dtype()));
  }
  a.eval();
  std::vector<T> out(a.size());
  const T* p = a.data<T>();
  for (size_t i = 0; i < a.size(); ++i) out[i] = p[strided_offset(i, a.shape(), a.strides())];
  return out;
}

// An evaluated array of T's dtype holding `values` in `shape` (the inverse of to_vector<T>).
template <typename T>
array from_vector(const std::vector<T>& values, const Shape& shape) {
  if (pullback::shape_size(shape) != values.size())
    throw std::logic_error("from_vector: size mismatch");
  return array(values.data(), shape, pullback::dtype_of<T>::value);
}

// Elements of a real array of any dtype, converted to double on the host.
inline std::vector<double> to_doubles(const array& a) {
  using namespace pullback;
  std::vector<double> out;
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, complex64_t>) {
      throw std::logic_error("to_doubles: complex array");
    } else {
      for (auto v : to_vector<T>(a)) {
        if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
          out.push_back(static_cast<double>(static_cast<float>(v)));
        } else {
          out.push_back(static_cast<double>(v));
        }
      }
    }
  });
  return out;
}

// Elements of a real array of any dtype as float (through to_doubles; exact for float32 and
// the half types).
inline std::vector<float> to_floats(const array& a) {
  std::vector<float> out;
  for (double v : to_doubles(a)) out.push_back(static_cast<float>(v));
  return out;
}

// An evaluated array of `dtype` holding `values` converted on the host (half types through
// float, complex with a zero imaginary part).
inline array from_doubles(const std::vector<double>& values, const Shape& shape, Dtype dtype) {
  using namespace pullback;
  if (shape_size(shape) != values.size()) throw std::logic_error("from_doubles: size mismatch");
  array out = array::empty(shape, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    for (size_t i = 0; i < values.size(); ++i) {
      if constexpr (std::is_same_v<T, complex64_t>) {
        p[i] = complex64_t(static_cast<float>(values[i]), 0.f);
      } else if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
        p[i] = T(static_cast<float>(values[i]));
      } else {
        p[i] = static_cast<T>(values[i]);
      }
    }
  });
  return out;
}

inline array from_doubles(const std::vector<double>& values, Dtype dtype = Dtype::float64) {
  return from_doubles(values, {static_cast<int64_t>(values.size())}, dtype);
}

// `v` as stored in `dtype` and read back (the rounding a test input undergoes).
inline double round_trip(double v, Dtype dtype) {
  return to_doubles(from_doubles({v}, {}, dtype))[0];
}

// Values first, first + 1, ... (float32 unless `dtype` says otherwise) in `shape`.
inline array iota(const Shape& shape, Dtype dtype = Dtype::float32, double first = 0) {
  std::vector<double> v(pullback::shape_size(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = first + static_cast<double>(i);
  return from_doubles(v, shape, dtype);
}

// Runs f and returns the message of the exception of type E it throws ("" if none; a
// different exception type propagates and fails the test).
template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

// The bits of a float, and the float with the given bits.
inline uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
inline float float_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Whether |got - want| <= atol + rtol * |want|, treating equal infinities and two NaNs as
// equal.
inline bool close(double got, double want, double rtol, double atol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

inline void expect_close(const std::vector<double>& got, const std::vector<double>& want,
                         double rtol, double atol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(close(got[i], want[i], rtol, atol))
        << what << " [" << i << "]: got " << got[i] << ", want " << want[i];
  }
}

using ArrayFn = std::function<std::vector<array>(const std::vector<array>&)>;

// The cotangent of `x` for fn(x) with output cotangent `ct` (ones like fn(x) by default).
inline array grad_of(const std::function<array(const array&)>& fn, const array& x,
                     std::optional<array> ct = {}) {
  auto f = [&](const std::vector<array>& in) { return std::vector<array>{fn(in[0])}; };
  if (!ct) {
    array y = fn(x);
    ct = pullback::ones(y.shape(), y.dtype());
  }
  return pullback::vjp(f, {x}, {*ct}).second[0];
}

// Sum over outputs of <cotangent, output>, computed on the host.
inline double weighted_output(const ArrayFn& f, const std::vector<array>& primals,
                              const std::vector<array>& cotangents) {
  std::vector<array> outs = f(primals);
  double total = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    std::vector<double> o = to_doubles(outs[k]);
    std::vector<double> c = to_doubles(pullback::broadcast_to(cotangents[k], outs[k].shape()));
    for (size_t i = 0; i < o.size(); ++i) total += o[i] * c[i];
  }
  return total;
}

// Central differences of <cotangents, f(primals)> with respect to every element of
// primals[which] (a float64 array): the vjp f should produce for that primal.
inline std::vector<double> numeric_vjp(const ArrayFn& f, const std::vector<array>& primals,
                                       size_t which, const std::vector<array>& cotangents,
                                       double eps = 1e-6) {
  std::vector<double> x = to_doubles(primals[which]);
  std::vector<double> grad(x.size());
  for (size_t j = 0; j < x.size(); ++j) {
    std::vector<array> args = primals;
    std::vector<double> xp = x, xm = x;
    xp[j] += eps;
    xm[j] -= eps;
    args[which] = from_doubles(xp, primals[which].shape(), Dtype::float64);
    double fp = weighted_output(f, args, cotangents);
    args[which] = from_doubles(xm, primals[which].shape(), Dtype::float64);
    double fm = weighted_output(f, args, cotangents);
    grad[j] = (fp - fm) / (2 * eps);
  }
  return grad;
}

// Central differences of output `out` of f along the direction `tangents` (one per
// primal, float64): the jvp f should produce for that output.
inline std::vector<double> numeric_jvp(const ArrayFn& f, const std::vector<array>& primals,
                                       const std::vector<array>& tangents, size_t out = 0,
                                       double eps = 1e-6) {
  std::vector<array> plus, minus;
  for (size_t i = 0; i < primals.size(); ++i) {
    std::vector<double> x = to_doubles(primals[i]), t = to_doubles(tangents[i]);
    std::vector<double> xp = x, xm = x;
    for (size_t j = 0; j < x.size(); ++j) {
      xp[j] += eps * t[j];
      xm[j] -= eps * t[j];
    }
    plus.push_back(from_doubles(xp, primals[i].shape(), Dtype::float64));
    minus.push_back(from_doubles(xm, primals[i].shape(), Dtype::float64));
  }
  std::vector<double> fp = to_doubles(f(plus)[out]), fm = to_doubles(f(minus)[out]);
  for (size_t j = 0; j < fp.size(); ++j) fp[j] = (fp[j] - fm[j]) / (2 * eps);
  return fp;
}

constexpr double kRtol = 1e-6, kAtol = 1e-7;

inline array f64(const std::vector<double>& v, const Shape& shape) {
  return from_doubles(v, shape, Dtype::float64);
}
inline array f64(const std::vector<double>& v) { return from_doubles(v, Dtype::float64); }

// Values to weight outputs with: distinct, of both signs, never zero.
inline array cotangent_like(const Shape& shape) {
  std::vector<double> v(pullback::shape_size(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.3 + 0.7 * std::cos(1.7 * i);
  return f64(v, shape);
}

// Checks vjp (every primal) and jvp (all primals moved together) of f at `primals`.
inline void check_derivatives(const ArrayFn& f, const std::vector<array>& primals, const std::string& what,
                       double rtol = kRtol, double atol = kAtol) {
  std::vector<array> outs = f(primals);
  std::vector<array> cts;
  for (auto& o : outs) cts.push_back(cotangent_like(o.shape()));
  auto [vjp_outs, grads] = vjp(f, primals, cts);
  ASSERT_EQ(vjp_outs.size(), outs.size()) << what;
  for (size_t k = 0; k < outs.size(); ++k) {
    expect_close(to_doubles(vjp_outs[k]), to_doubles(outs[k]), 1e-15, 0, what + " vjp outputs");
  }
  ASSERT_EQ(grads.size(), primals.size()) << what;
  for (size_t i = 0; i < primals.size(); ++i) {
    EXPECT_EQ(grads[i].shape(), primals[i].shape()) << what << " grad " << i;
    EXPECT_EQ(grads[i].dtype(), primals[i].dtype()) << what << " grad " << i;
    expect_close(to_doubles(grads[i]), numeric_vjp(f, primals, i, cts), rtol, atol,
                 what + " vjp wrt " + std::to_string(i));
  }
  std::vector<array> tangents;
  for (size_t i = 0; i < primals.size(); ++i) {
    std::vector<double> t(primals[i].size());
    for (size_t j = 0; j < t.size(); ++j) t[j] = 1.0 - 0.37 * (j + i) + 0.05 * j * j;
    tangents.push_back(f64(t, primals[i].shape()));
  }
  auto [jvp_outs, touts] = jvp(f, primals, tangents);
  ASSERT_EQ(touts.size(), outs.size()) << what;
  for (size_t k = 0; k < outs.size(); ++k) {
    expect_close(to_doubles(jvp_outs[k]), to_doubles(outs[k]), 1e-15, 0, what + " jvp outputs");
    EXPECT_EQ(touts[k].shape(), outs[k].shape()) << what;
    expect_close(to_doubles(touts[k]), numeric_jvp(f, primals, tangents, k), rtol, atol,
                 what + " jvp output " + std::to_string(k));
  }
}

}  // namespace pbtest
