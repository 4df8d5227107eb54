#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "pullback/backend/cpu/elementwise.h"
#include "pullback/backend/cpu/wrapping.h"
#include "pullback/primitives/unary.h"

namespace pullback {
namespace {

using cpu::is_half_v;
using cpu::unary_loop;
using simd::UnaryKind;

[[noreturn]] void bad_dtype(UnaryOp op, Dtype t) {
  throw std::invalid_argument(std::string("[") + unary_op_name(op) + "] Unsupported dtype " +
                              dtype_name(t) + ".");
}

// The vectorized float32 kernel for `kind`, for this CPU.
simd::UnaryKernel fast(UnaryKind kind) { return simd::kernels().unary[size_t(kind)]; }

// Real floating types; half types compute in float. float32 and the half types run the
// vectorized `kernel` when there is one (it approximates f to about an ulp of float32).
template <typename F>
void real_op(UnaryOp op, const array& in, array& out, F f, simd::UnaryKernel kernel = nullptr) {
  switch (in.dtype()) {
    case Dtype::float32:
      if (kernel) return cpu::unary_kernel_loop<float>(in, out, kernel, cpu::kMathGrain);
      return unary_loop<float, float>(in, out, f);
    case Dtype::float64: return unary_loop<double, double>(in, out, f);
    case Dtype::float16:
      if (kernel) return cpu::unary_kernel_loop<float16_t>(in, out, kernel, cpu::kMathGrain);
      return unary_loop<float16_t, float16_t>(
          in, out, [&](float16_t x) { return float16_t(f(static_cast<float>(x))); });
    case Dtype::bfloat16:
      if (kernel) return cpu::unary_kernel_loop<bfloat16_t>(in, out, kernel, cpu::kMathGrain);
      return unary_loop<bfloat16_t, bfloat16_t>(
          in, out, [&](bfloat16_t x) { return bfloat16_t(f(static_cast<float>(x))); });
    default: bad_dtype(op, in.dtype());
  }
}

// Real floating types and complex64 (f must accept std::complex<float> too).
template <typename F>
void inexact_op(UnaryOp op, const array& in, array& out, F f, simd::UnaryKernel kernel = nullptr) {
  if (in.dtype() == Dtype::complex64) return unary_loop<complex64_t, complex64_t>(in, out, f);
  real_op(op, in, out, f, kernel);
}

// Every real dtype; f maps T -> T (half types through float, bool through int). Callers
// handle complex64 themselves.
template <typename F>
void any_op(const array& in, array& out, F f) {
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, complex64_t>) {
      throw std::logic_error("complex64 reached a real-only loop");
    } else if constexpr (is_half_v<T>) {
      unary_loop<T, T>(in, out, [&](T x) { return T(f(static_cast<float>(x))); });
    } else if constexpr (std::is_same_v<T, bool>) {
      unary_loop<T, T>(in, out, [&](T x) { return static_cast<bool>(f(static_cast<int>(x))); });
    } else {
      unary_loop<T, T>(in, out, [&](T x) { return static_cast<T>(f(x)); });
    }
  });
}

// Every dtype -> bool.
template <typename F>
void predicate_op(const array& in, array& out, F f) {
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_half_v<T>) {
      unary_loop<T, bool>(in, out, [&](T x) { return f(static_cast<float>(x)); });
    } else {
      unary_loop<T, bool>(in, out, f);
    }
  });
}

template <typename T>
constexpr bool is_cplx = std::is_same_v<T, complex64_t>;

// Single-precision erfinv (Giles, "Approximating the erfinv function"), refined by Newton
// steps on erf in the working precision.
template <typename T>
T erfinv_impl(T y) {
  if (y <= T(-1)) return y == T(-1) ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::quiet_NaN();
  if (y >= T(1)) return y == T(1) ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::quiet_NaN();
  if (std::isnan(y)) return y;
  double w = -std::log((1.0 - double(y)) * (1.0 + double(y))), p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w; p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w; p = 1.50140941 + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w; p = 2.83297682 + p * w;
  }
  double x = p * double(y);
  for (int i = 0; i < 2; ++i) {
    double err = std::erf(x) - double(y);
    x -= err / (M_2_SQRTPI * std::exp(-x * x));
  }
  return static_cast<T>(x);
}

template <typename T>
T sigmoid_impl(T x) {
  // Stable for large |x| in both directions.
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

}  // namespace

void Unary::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (cpu::run_in_storage_order(inputs, out, [&](const std::vector<array>& flat, array& flat_out) {
        eval_cpu(flat, flat_out);
      })) {
    return;
  }
  cpu::allocate_output(inputs, out);
  if (out.size() == 0) return;
  // Exact ops: float32 takes the vectorized kernel (any layout); other dtypes the loops below.
  if (in.dtype() == Dtype::float32) {
    switch (op_) {
      case UnaryOp::Abs: return cpu::unary_kernel_loop<float>(in, out, fast(UnaryKind::Abs));
      case UnaryOp::Negative: return cpu::unary_kernel_loop<float>(in, out, fast(UnaryKind::Negative));
      case UnaryOp::Square: return cpu::unary_kernel_loop<float>(in, out, fast(UnaryKind::Square));
      case UnaryOp::Sqrt: return cpu::unary_kernel_loop<float>(in, out, fast(UnaryKind::Sqrt));
      default: break;
    }
  }
  switch (op_) {
    case UnaryOp::Abs:
      if (in.dtype() == Dtype::complex64) {
        return unary_loop<complex64_t, float>(in, out, [](complex64_t x) { return std::abs(x); });
      }
      return any_op(in, out, [](auto x) {
        using T = decltype(x);
        if constexpr (std::is_unsigned_v<T>) return x;
        else if constexpr (std::is_floating_point_v<T>) return std::fabs(x);  // abs(-0.) is +0.
        else return x < T(0) ? cpu::wrapping_neg(x) : x;  // abs(INT_MIN) wraps, as NumPy
      });
    case UnaryOp::Negative:
      if (in.dtype() == Dtype::complex64) {
        return unary_loop<complex64_t, complex64_t>(in, out, [](complex64_t x) { return -x; });
      }
      return any_op(in, out, [](auto x) { return cpu::wrapping_neg(x); });
    case UnaryOp::Sign:
      if (in.dtype() == Dtype::complex64) {
        return unary_loop<complex64_t, complex64_t>(in, out, [](complex64_t x) {
          float m = std::abs(x);
          return m == 0.f ? complex64_t(0.f) : x / m;
        });
      }
      // sign(NaN) is 0, as in MLX (NumPy says NaN), which also makes abs's derivative 0 there.
      return any_op(in, out, [](auto x) {
        using T = decltype(x);
        return static_cast<T>((T(0) < x) - (x < T(0)));
      });
    case UnaryOp::Square:
      if (in.dtype() == Dtype::complex64) {
        return unary_loop<complex64_t, complex64_t>(in, out, [](complex64_t x) { return x * x; });
      }
      return any_op(in, out, [](auto x) { return cpu::wrapping_mul(x, x); });
    case UnaryOp::Exp:
      return inexact_op(op_, in, out, [](auto x) { return std::exp(x); }, fast(UnaryKind::Exp));
    case UnaryOp::Log:
      return inexact_op(op_, in, out, [](auto x) { return std::log(x); }, fast(UnaryKind::Log));
    case UnaryOp::Sqrt: return inexact_op(op_, in, out, [](auto x) { return std::sqrt(x); });
    case UnaryOp::Sin:
      return inexact_op(op_, in, out, [](auto x) { return std::sin(x); }, fast(UnaryKind::Sin));
    case UnaryOp::Cos:
      return inexact_op(op_, in, out, [](auto x) { return std::cos(x); }, fast(UnaryKind::Cos));
    case UnaryOp::Tan: return inexact_op(op_, in, out, [](auto x) { return std::tan(x); });
    case UnaryOp::Sinh: return inexact_op(op_, in, out, [](auto x) { return std::sinh(x); });
    case UnaryOp::Cosh: return inexact_op(op_, in, out, [](auto x) { return std::cosh(x); });
    case UnaryOp::Tanh:
      return inexact_op(op_, in, out, [](auto x) { return std::tanh(x); }, fast(UnaryKind::Tanh));
    case UnaryOp::Reciprocal:
      return inexact_op(op_, in, out, [](auto x) { return decltype(x)(1) / x; });
    case UnaryOp::Rsqrt:
      return inexact_op(op_, in, out, [](auto x) { return decltype(x)(1) / std::sqrt(x); });
    case UnaryOp::Expm1:
      return real_op(op_, in, out, [](auto x) { return std::expm1(x); }, fast(UnaryKind::Expm1));
    // complex64 through std::complex's principal branches (as MLX), log1p and log2 by way
    // of log (std::complex has neither).
    case UnaryOp::Log1p:
      return inexact_op(op_, in, out, [](auto x) {
        if constexpr (is_cplx<decltype(x)>) return std::log(x + 1.f);
        else return std::log1p(x);
      }, fast(UnaryKind::Log1p));
    case UnaryOp::Log2:
      return inexact_op(op_, in, out, [](auto x) {
        if constexpr (is_cplx<decltype(x)>) return std::log(x) / float(M_LN2);
        else return std::log2(x);
      });
    case UnaryOp::Log10: return inexact_op(op_, in, out, [](auto x) { return std::log10(x); });
    case UnaryOp::ArcSin: return inexact_op(op_, in, out, [](auto x) { return std::asin(x); });
    case UnaryOp::ArcCos: return inexact_op(op_, in, out, [](auto x) { return std::acos(x); });
    case UnaryOp::ArcTan: return inexact_op(op_, in, out, [](auto x) { return std::atan(x); });
    case UnaryOp::ArcSinh: return inexact_op(op_, in, out, [](auto x) { return std::asinh(x); });
    case UnaryOp::ArcCosh: return inexact_op(op_, in, out, [](auto x) { return std::acosh(x); });
    case UnaryOp::ArcTanh: return inexact_op(op_, in, out, [](auto x) { return std::atanh(x); });
    case UnaryOp::Sigmoid:
      return real_op(op_, in, out, [](auto x) { return sigmoid_impl(x); }, fast(UnaryKind::Sigmoid));
    case UnaryOp::Erf:
      return real_op(op_, in, out, [](auto x) { return std::erf(x); }, fast(UnaryKind::Erf));
    case UnaryOp::ErfInv: return real_op(op_, in, out, [](auto x) { return erfinv_impl(x); });
    case UnaryOp::Floor: return real_op(op_, in, out, [](auto x) { return std::floor(x); });
    case UnaryOp::Ceil: return real_op(op_, in, out, [](auto x) { return std::ceil(x); });
    case UnaryOp::Round:
      return inexact_op(op_, in, out, [](auto x) {
        if constexpr (is_cplx<decltype(x)>) {
          return complex64_t(std::nearbyint(x.real()), std::nearbyint(x.imag()));
        } else {
          return std::nearbyint(x);
        }
      });
    case UnaryOp::Conjugate:
    case UnaryOp::Real:
    case UnaryOp::Imag:
      if (in.dtype() == Dtype::complex64) {
        if (op_ == UnaryOp::Conjugate) {
          return unary_loop<complex64_t, complex64_t>(in, out, [](complex64_t x) { return std::conj(x); });
        }
        if (op_ == UnaryOp::Real) {
          return unary_loop<complex64_t, float>(in, out, [](complex64_t x) { return x.real(); });
        }
        return unary_loop<complex64_t, float>(in, out, [](complex64_t x) { return x.imag(); });
      }
      // A real number is its own conjugate and real part; its imaginary part is 0.
      if (op_ == UnaryOp::Imag) return any_op(in, out, [](auto x) { return decltype(x)(0); });
      return any_op(in, out, [](auto x) { return x; });
    case UnaryOp::IsNan:
      return predicate_op(in, out, [](auto x) {
        if constexpr (std::is_floating_point_v<decltype(x)>) return std::isnan(x);
        else if constexpr (is_cplx<decltype(x)>) return std::isnan(x.real()) || std::isnan(x.imag());
        else return false;
      });
    case UnaryOp::IsInf:
      return predicate_op(in, out, [](auto x) {
        if constexpr (std::is_floating_point_v<decltype(x)>) return std::isinf(x);
        else if constexpr (is_cplx<decltype(x)>) return std::isinf(x.real()) || std::isinf(x.imag());
        else return false;
      });
    case UnaryOp::IsFinite:
      return predicate_op(in, out, [](auto x) {
        if constexpr (std::is_floating_point_v<decltype(x)>) return std::isfinite(x);
        else if constexpr (is_cplx<decltype(x)>) return std::isfinite(x.real()) && std::isfinite(x.imag());
        else return true;
      });
    case UnaryOp::IsPosInf:
      return predicate_op(in, out, [](auto x) {
        if constexpr (std::is_floating_point_v<decltype(x)>) return std::isinf(x) && x > 0;
        else return false;
      });
    case UnaryOp::IsNegInf:
      return predicate_op(in, out, [](auto x) {
        if constexpr (std::is_floating_point_v<decltype(x)>) return std::isinf(x) && x < 0;
        else return false;
      });
    case UnaryOp::LogicalNot:
      return predicate_op(in, out, [](auto x) { return x == decltype(x)(0); });
  }
}

}  // namespace pullback
