// Creation and elementwise ops.
#include "pullback/ops.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "pullback/primitives/binary.h"
#include "pullback/primitives/misc.h"
#include "pullback/primitives/unary.h"

namespace pullback {

namespace {

void check_shape(const Shape& shape, const char* op) {
  for (auto d : shape) {
    if (d < 0) {
      throw std::invalid_argument(std::string("[") + op + "] Negative dimensions are not allowed: " +
                                  shape_str(shape) + ".");
    }
  }
}

}  // namespace

// ---- creation ----

array arange(double start, double stop, double step, Dtype dtype, Stream s) {
  if (step == 0 || !std::isfinite(step)) {
    throw std::invalid_argument("[arange] The step must be finite and nonzero; got " +
                                std::to_string(step) + ".");
  }
  if (!std::isfinite(start) || !std::isfinite(stop)) {
    throw std::invalid_argument("[arange] start and stop must be finite.");
  }
  if (dtype == Dtype::bool_) throw std::invalid_argument("[arange] A bool arange is not supported.");
  double n = std::ceil((stop - start) / step);
  if (n > 1e18) {
    throw std::invalid_argument("[arange] The range [" + std::to_string(start) + ", " +
                                std::to_string(stop) + ") with step " + std::to_string(step) +
                                " has too many elements.");
  }
  int64_t size = n > 0 ? static_cast<int64_t>(n) : 0;
  return array({size}, dtype, std::make_shared<Arange>(s, start, step), {});
}

array integer_arange(int64_t start, int64_t stop, int64_t step, Dtype dtype, Stream s) {
  if (step == 0) throw std::invalid_argument("[arange] The step must be nonzero; got 0.");
  if (dtype == Dtype::bool_) throw std::invalid_argument("[arange] A bool arange is not supported.");
  // The count in 128 bits: stop - start overflows int64 for ranges wider than 2**63.
  __int128 span = static_cast<__int128>(stop) - start;
  __int128 n = step > 0 ? (span > 0 ? (span - 1) / step + 1 : 0)
                        : (span < 0 ? (-span - 1) / -static_cast<__int128>(step) + 1 : 0);
  if (n > static_cast<__int128>(INT64_MAX)) {
    throw std::invalid_argument("[arange] The range [" + std::to_string(start) + ", " +
                                std::to_string(stop) + ") with step " + std::to_string(step) +
                                " has too many elements.");
  }
  return array({static_cast<int64_t>(n)}, dtype,
               std::make_shared<Arange>(s, IntegerRange{start, step}), {});
}

array linspace(double start, double stop, int64_t num, bool endpoint, Dtype dtype, Stream s) {
  if (num < 0) {
    throw std::invalid_argument("[linspace] num must be non-negative; got " + std::to_string(num) + ".");
  }
  int64_t div = endpoint ? num - 1 : num;
  double step = div > 0 ? (stop - start) / static_cast<double>(div) : 0.0;
  return array({num}, dtype, std::make_shared<Arange>(s, start, step), {});
}

array full(const Shape& shape, const array& vals, Dtype dtype, Stream s) {
  check_shape(shape, "full");
  return copy(broadcast_to(astype(vals, dtype, s), shape, s), s);
}

array full(const Shape& shape, const array& vals, Stream s) {
  return full(shape, vals, vals.dtype(), s);
}

array zeros(const Shape& shape, Dtype dtype, Stream s) {
  return full(shape, array(static_cast<int64_t>(0), dtype), dtype, s);
}

array ones(const Shape& shape, Dtype dtype, Stream s) {
  return full(shape, array(static_cast<int64_t>(1), dtype), dtype, s);
}

array zeros_like(const array& a, Stream s) { return zeros(a.shape(), a.dtype(), s); }
array ones_like(const array& a, Stream s) { return ones(a.shape(), a.dtype(), s); }

array eye(int64_t n, int64_t m, int k, Dtype dtype, Stream s) {
  if (n < 0 || m < 0) {
    throw std::invalid_argument("[eye] n and m must be non-negative; got " + std::to_string(n) +
                                " and " + std::to_string(m) + ".");
  }
  array rows = reshape(arange(static_cast<double>(k), static_cast<double>(k + n), 1.0, Dtype::int64, s),
                       {n, 1}, s);
  array cols = arange(0.0, static_cast<double>(m), 1.0, Dtype::int64, s);
  return astype(equal(rows, cols, s), dtype, s);
}

array identity(int64_t n, Dtype dtype, Stream s) { return eye(n, n, 0, dtype, s); }

array copy(const array& a, Stream s) {
  return array(a.shape(), a.dtype(), std::make_shared<Copy>(s), {a});
}

// ---- elementwise: one array ----

array astype(const array& a, Dtype dtype, Stream s) {
  if (a.dtype() == dtype) return a;
  return array(a.shape(), dtype, std::make_shared<AsType>(s, dtype), {a});
}

array stop_gradient(const array& a, Stream s) {
  return array(a.shape(), a.dtype(), std::make_shared<StopGradient>(s), {a});
}

namespace {

enum class Domain { any, inexact, real };

// `name` is the user-level op for error messages.
array unary(const char* name, UnaryOp op, const array& a, Stream s, Domain domain = Domain::inexact) {
  Dtype t = a.dtype();
  if (domain != Domain::any) t = to_inexact(t);
  if (domain == Domain::real && is_complex(t)) {
    throw std::invalid_argument(std::string("[") + name + "] Not supported for complex inputs.");
  }
  Dtype out = unary_op_is_predicate(op) ? Dtype::bool_ : t;
  return array(a.shape(), out, std::make_shared<Unary>(s, op), {astype(a, t, s)});
}

}  // namespace

array abs(const array& a, Stream s) {
  Dtype out = is_complex(a.dtype()) ? Dtype::float32 : a.dtype();
  return array(a.shape(), out, std::make_shared<Unary>(s, UnaryOp::Abs), {a});
}
array negative(const array& a, Stream s) {
  if (a.dtype() == Dtype::bool_) {
    throw std::invalid_argument("[negative] The negative of a boolean array is not supported.");
  }
  return unary("negative", UnaryOp::Negative, a, s, Domain::any);
}
array sign(const array& a, Stream s) { return unary("sign", UnaryOp::Sign, a, s, Domain::any); }
array square(const array& a, Stream s) { return unary("square", UnaryOp::Square, a, s, Domain::any); }
array exp(const array& a, Stream s) { return unary("exp", UnaryOp::Exp, a, s); }
array log(const array& a, Stream s) { return unary("log", UnaryOp::Log, a, s); }
array sqrt(const array& a, Stream s) { return unary("sqrt", UnaryOp::Sqrt, a, s); }
array rsqrt(const array& a, Stream s) { return unary("rsqrt", UnaryOp::Rsqrt, a, s); }
array reciprocal(const array& a, Stream s) { return unary("reciprocal", UnaryOp::Reciprocal, a, s); }
array sin(const array& a, Stream s) { return unary("sin", UnaryOp::Sin, a, s); }
array cos(const array& a, Stream s) { return unary("cos", UnaryOp::Cos, a, s); }
array tan(const array& a, Stream s) { return unary("tan", UnaryOp::Tan, a, s); }
array sinh(const array& a, Stream s) { return unary("sinh", UnaryOp::Sinh, a, s); }
array cosh(const array& a, Stream s) { return unary("cosh", UnaryOp::Cosh, a, s); }
array tanh(const array& a, Stream s) { return unary("tanh", UnaryOp::Tanh, a, s); }
array expm1(const array& a, Stream s) { return unary("expm1", UnaryOp::Expm1, a, s, Domain::real); }
array log1p(const array& a, Stream s) { return unary("log1p", UnaryOp::Log1p, a, s); }
array log2(const array& a, Stream s) { return unary("log2", UnaryOp::Log2, a, s); }
array log10(const array& a, Stream s) { return unary("log10", UnaryOp::Log10, a, s); }
array arcsin(const array& a, Stream s) { return unary("arcsin", UnaryOp::ArcSin, a, s); }
array arccos(const array& a, Stream s) { return unary("arccos", UnaryOp::ArcCos, a, s); }
array arctan(const array& a, Stream s) { return unary("arctan", UnaryOp::ArcTan, a, s); }
array arcsinh(const array& a, Stream s) { return unary("arcsinh", UnaryOp::ArcSinh, a, s); }
array arccosh(const array& a, Stream s) { return unary("arccosh", UnaryOp::ArcCosh, a, s); }
array arctanh(const array& a, Stream s) { return unary("arctanh", UnaryOp::ArcTanh, a, s); }
array sigmoid(const array& a, Stream s) { return unary("sigmoid", UnaryOp::Sigmoid, a, s, Domain::real); }
array erf(const array& a, Stream s) { return unary("erf", UnaryOp::Erf, a, s, Domain::real); }
array erfinv(const array& a, Stream s) { return unary("erfinv", UnaryOp::ErfInv, a, s, Domain::real); }

array floor(const array& a, Stream s) {
  // Integers are their own floor, but its derivative is 0 as for floats (MLX's rule).
  if (!is_inexact(a.dtype())) return stop_gradient(a, s);
  return unary("floor", UnaryOp::Floor, a, s, Domain::real);
}
array ceil(const array& a, Stream s) {
  // Integers are their own ceil, but its derivative is 0 as for floats (MLX's rule).
  if (!is_inexact(a.dtype())) return stop_gradient(a, s);
  return unary("ceil", UnaryOp::Ceil, a, s, Domain::real);
}

namespace {

// `a` (an integer array) rounded to a multiple of p = 10**k (k > 0), ties to even, exactly:
// with r = a mod p (0 <= r < p), the result is a - r or a + (p - r), and neither sum
// overflows unless the rounded value itself is outside the dtype (where it wraps, as in
// NumPy). NumPy and MLX go through float64 instead, which loses the low digits of large
// int64 values. Integers of up to 32 bits are computed in int64 and converted back.
array round_integer_to_power_of_ten(const array& a, int k, Stream s) {
  const Dtype t = a.dtype();
  const Dtype work = t == Dtype::uint64 ? Dtype::uint64 : Dtype::int64;
  const uint64_t work_max = work == Dtype::uint64 ? UINT64_MAX : uint64_t(INT64_MAX);
  uint64_t p = 1;
  bool fits = true;
  for (int i = 0; i < k && fits; ++i) {
    fits = p <= work_max / 10;
    p *= 10;
  }
  array x = astype(a, work, s);
  array zero = zeros_like(x, s);
  if (!fits) {
    // 10**k is beyond the 64-bit range: only int64 with k = 19 has values that round away
    // from 0 (|x| > 5e18 goes to +-1e19, which wraps); everything else rounds to 0.
    if (work != Dtype::int64 || k != 19) return astype(zero, t, s);
    const int64_t half = 5000000000000000000;
    const uint64_t ten19 = 10000000000000000000ull;
    array up(static_cast<int64_t>(ten19), work), down(static_cast<int64_t>(uint64_t(0) - ten19), work);
    array r = where(greater(x, array(half, work), s), up,
                    where(less(x, array(-half, work), s), down, zero, s), s);
    return astype(r, t, s);
  }
  array pw(static_cast<int64_t>(p), work);  // stored modulo 2**64: exact for uint64 too
  array q = floor_divide(x, pw, s);
  array r = remainder(x, pw, s);
  array rest = subtract(pw, r, s);  // the distance to the next multiple
  array q_odd = not_equal(remainder(q, array(int64_t(2), work), s), zero, s);
  array up = logical_or(greater(r, rest, s), logical_and(equal(r, rest, s), q_odd, s), s);
  return astype(where(up, add(x, rest, s), subtract(x, r, s), s), t, s);
}

}  // namespace

array round(const array& a, int decimals, Stream s) {
  if (!is_inexact(a.dtype())) {
    if (decimals >= 0 || a.dtype() == Dtype::bool_) return stop_gradient(a, s);  // derivative 0
    // Beyond 10**40 every 64-bit value rounds alike; the clamp also keeps -INT_MIN defined.
    return round_integer_to_power_of_ten(a, decimals < -40 ? 40 : -decimals, s);
  }
  // complex: the real and imaginary parts each rounded, as in MLX.
  if (decimals == 0) return unary("round", UnaryOp::Round, a, s);
  if (a.dtype() == Dtype::float16 || a.dtype() == Dtype::bfloat16) {
    // Scaled in float32: 10**5 is already infinite in float16, and the scaling loses less.
    return astype(round(astype(a, Dtype::float32, s), decimals, s), a.dtype(), s);
  }
  // The largest power of ten the dtype holds; half of the next one exceeds the dtype's max.
  const int max_exp = a.dtype() == Dtype::float64 ? 308 : 38;
  if (decimals < 0) {
    if (decimals < -max_exp) {
      // Every finite value is below half of 10**-d: it rounds to (signed) zero.
      return stop_gradient(where(isfinite(a, s), multiply(a, array(0.0, a.dtype()), s), a, s), s);
    }
    // Dividing by 10**-d is exact where multiplying by the inexact 10**d is not.
    array scale(std::pow(10.0, -decimals), a.dtype());
    return multiply(unary("round", UnaryOp::Round, divide(a, scale, s), s), scale, s);
  }
  // No value of the dtype has a digit beyond 2 * max_exp decimals (the smallest subnormals
  // are 1.4e-45 and 4.9e-324).
  // Rounding is piecewise constant: the values that pass through have no gradient either.
  if (decimals > 2 * max_exp) return stop_gradient(a, s);
  // 10**d as one or two factors that the dtype holds.
  array scale(std::pow(10.0, std::min(decimals, max_exp)), a.dtype());
  array scaled = multiply(a, scale, s);
  std::optional<array> extra;
  if (decimals > max_exp) {
    extra = array(std::pow(10.0, decimals - max_exp), a.dtype());
    scaled = multiply(scaled, *extra, s);
  }
  array rounded = unary("round", UnaryOp::Round, scaled, s);
  if (extra) rounded = divide(rounded, *extra, s);
  rounded = divide(rounded, scale, s);
  // Where a * 10**d overflows, a has no digits that far right to round: it stays (and so do
  // infinities and NaN).
  return where(isfinite(scaled, s), rounded, stop_gradient(a, s), s);
}

array isnan(const array& a, Stream s) { return unary("isnan", UnaryOp::IsNan, a, s, Domain::any); }
array isinf(const array& a, Stream s) { return unary("isinf", UnaryOp::IsInf, a, s, Domain::any); }
array isfinite(const array& a, Stream s) { return unary("isfinite", UnaryOp::IsFinite, a, s, Domain::any); }
array isposinf(const array& a, Stream s) { return unary("isposinf", UnaryOp::IsPosInf, a, s, Domain::any); }
array isneginf(const array& a, Stream s) { return unary("isneginf", UnaryOp::IsNegInf, a, s, Domain::any); }
array logical_not(const array& a, Stream s) { return unary("logical_not", UnaryOp::LogicalNot, a, s, Domain::any); }

array conjugate(const array& a, Stream s) {
  if (!is_complex(a.dtype())) return a;
  return array(a.shape(), a.dtype(), std::make_shared<Unary>(s, UnaryOp::Conjugate), {a});
}
array real(const array& a, Stream s) {
  if (!is_complex(a.dtype())) return a;
  return array(a.shape(), Dtype::float32, std::make_shared<Unary>(s, UnaryOp::Real), {a});
}
array imag(const array& a, Stream s) {
  if (!is_complex(a.dtype())) return zeros_like(a, s);
  return array(a.shape(), Dtype::float32, std::make_shared<Unary>(s, UnaryOp::Imag), {a});
}

// ---- elementwise: two arrays ----

namespace {

// Converts both operands to `in`, broadcasts them to one shape, and applies `op`.
array binary(BinaryOp op, const array& a, const array& b, Dtype in, Dtype out, Stream s) {
  array x = astype(a, in, s);
  array y = astype(b, in, s);
  // The shape is taken before the operands are moved into the node's inputs.
  Shape shape = x.shape() == y.shape() ? x.shape() : broadcast_shapes(x.shape(), y.shape());
  if (x.shape() != shape) x = broadcast_to(x, shape, s);
  if (y.shape() != shape) y = broadcast_to(y, shape, s);
  return array(std::move(shape), out, std::make_shared<Binary>(s, op), {std::move(x), std::move(y)});
}

array arithmetic(BinaryOp op, const array& a, const array& b, Stream s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  return binary(op, a, b, t, t, s);
}

// Integer-style arithmetic that has no meaning on two booleans.
array numeric_arithmetic(const char* name, BinaryOp op, const array& a, const array& b, Stream s) {
  // Booleans act as the integers 0 and 1 and stay bool (MLX): x ** y = x or not y,
  // x // y = x and y, x % y = x and not y (with x // 0 = 0 and x % 0 = x as for integers).
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (is_complex(t) && op != BinaryOp::Power) {
    throw std::invalid_argument(std::string("[") + name + "] Not supported for complex inputs.");
  }
  return binary(op, a, b, t, t, s);
}

array inexact_arithmetic(const char* name, BinaryOp op, const array& a, const array& b, Stream s,
                         bool real) {
  Dtype t = to_inexact(promote_types(a.dtype(), b.dtype()));
  if (real && is_complex(t)) {
    throw std::invalid_argument(std::string("[") + name + "] Not supported for complex inputs.");
  }
  return binary(op, a, b, t, t, s);
}

array comparison(BinaryOp op, const array& a, const array& b, Stream s) {
  return binary(op, a, b, promote_types(a.dtype(), b.dtype()), Dtype::bool_, s);
}

}  // namespace

array add(const array& a, const array& b, Stream s) { return arithmetic(BinaryOp::Add, a, b, s); }
array subtract(const array& a, const array& b, Stream s) {
  return arithmetic(BinaryOp::Subtract, a, b, s);
}
array multiply(const array& a, const array& b, Stream s) {
  return arithmetic(BinaryOp::Multiply, a, b, s);
}
array divide(const array& a, const array& b, Stream s) {
  return inexact_arithmetic("divide", BinaryOp::Divide, a, b, s, false);
}
array floor_divide(const array& a, const array& b, Stream s) {
  return numeric_arithmetic("floor_divide", BinaryOp::FloorDivide, a, b, s);
}
array remainder(const array& a, const array& b, Stream s) {
  return numeric_arithmetic("remainder", BinaryOp::Remainder, a, b, s);
}
array power(const array& a, const array& b, Stream s) {
  return numeric_arithmetic("power", BinaryOp::Power, a, b, s);
}
// Complex operands compare lexicographically, as in MLX.
array maximum(const array& a, const array& b, Stream s) { return arithmetic(BinaryOp::Maximum, a, b, s); }
array minimum(const array& a, const array& b, Stream s) { return arithmetic(BinaryOp::Minimum, a, b, s); }
array arctan2(const array& a, const array& b, Stream s) {
  return inexact_arithmetic("arctan2", BinaryOp::ArcTan2, a, b, s, true);
}
array logaddexp(const array& a, const array& b, Stream s) {
  return inexact_arithmetic("logaddexp", BinaryOp::LogAddExp, a, b, s, true);
}
array equal(const array& a, const array& b, Stream s) { return comparison(BinaryOp::Equal, a, b, s); }
array not_equal(const array& a, const array& b, Stream s) {
  return comparison(BinaryOp::NotEqual, a, b, s);
}
array less(const array& a, const array& b, Stream s) { return comparison(BinaryOp::Less, a, b, s); }
array less_equal(const array& a, const array& b, Stream s) {
  return comparison(BinaryOp::LessEqual, a, b, s);
}
array greater(const array& a, const array& b, Stream s) {
  return comparison(BinaryOp::Greater, a, b, s);
}
array greater_equal(const array& a, const array& b, Stream s) {
  return comparison(BinaryOp::GreaterEqual, a, b, s);
}
namespace {
array bitwise(const char* name, BinaryOp op, const array& a, const array& b, Stream s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (!is_integral(t) && t != Dtype::bool_) {
    throw std::invalid_argument(std::string("[") + name +
                                "] Only integer and boolean arrays are allowed; got " +
                                dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()) + ".");
  }
  return binary(op, a, b, t, t, s);
}
}  // namespace

array bitwise_and(const array& a, const array& b, Stream s) {
  return bitwise("bitwise_and", BinaryOp::BitwiseAnd, a, b, s);
}
array bitwise_or(const array& a, const array& b, Stream s) {
  return bitwise("bitwise_or", BinaryOp::BitwiseOr, a, b, s);
}
array bitwise_xor(const array& a, const array& b, Stream s) {
  return bitwise("bitwise_xor", BinaryOp::BitwiseXor, a, b, s);
}
// Booleans shift as uint8 (MLX: True << True is 2).
array left_shift(const array& a, const array& b, Stream s) {
  if (a.dtype() == Dtype::bool_ && b.dtype() == Dtype::bool_) {
    return left_shift(astype(a, Dtype::uint8, s), astype(b, Dtype::uint8, s), s);
  }
  return bitwise("left_shift", BinaryOp::LeftShift, a, b, s);
}
array right_shift(const array& a, const array& b, Stream s) {
  if (a.dtype() == Dtype::bool_ && b.dtype() == Dtype::bool_) {
    return right_shift(astype(a, Dtype::uint8, s), astype(b, Dtype::uint8, s), s);
  }
  return bitwise("right_shift", BinaryOp::RightShift, a, b, s);
}
// ~a: logical not for bool, all bits flipped (x ^ -1) for integers.
array bitwise_invert(const array& a, Stream s) {
  if (a.dtype() == Dtype::bool_) return logical_not(a, s);
  if (!is_integral(a.dtype())) {
    throw std::invalid_argument(std::string("[bitwise_invert] Only integer and boolean arrays are "
                                            "allowed; got ") + dtype_name(a.dtype()) + ".");
  }
  return bitwise_xor(a, array(int64_t(-1), a.dtype()), s);
}

array logical_and(const array& a, const array& b, Stream s) {
  return binary(BinaryOp::LogicalAnd, a, b, Dtype::bool_, Dtype::bool_, s);
}
array logical_or(const array& a, const array& b, Stream s) {
  return binary(BinaryOp::LogicalOr, a, b, Dtype::bool_, Dtype::bool_, s);
}

array isclose(const array& a, const array& b, double rtol, double atol, bool equal_nan, Stream s) {
  Dtype t = to_inexact(promote_types(a.dtype(), b.dtype()));
  Dtype real_t = is_complex(t) ? Dtype::float32 : t;
  array x = astype(a, t, s);
  array y = astype(b, t, s);
  array diff = abs(subtract(x, y, s), s);
  array tol = add(array(atol, real_t), multiply(array(rtol, real_t), abs(y, s), s), s);
  // inf - inf is nan and inf <= inf holds, so infinities are compared by equality alone.
  array finite = logical_and(isfinite(x, s), isfinite(y, s), s);
  array close = where(finite, less_equal(diff, tol, s), equal(x, y, s), s);
  if (equal_nan) close = logical_or(close, logical_and(isnan(x, s), isnan(y, s), s), s);
  return close;
}

array allclose(const array& a, const array& b, double rtol, double atol, bool equal_nan, Stream s) {
  return all(isclose(a, b, rtol, atol, equal_nan, s), std::nullopt, false, s);
}

array where(const array& cond, const array& x, const array& y, Stream s) {
  Dtype t = promote_types(x.dtype(), y.dtype());
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), x.shape()), y.shape());
  auto prepare = [&](const array& a, Dtype d) {
    array r = astype(a, d, s);
    return r.shape() == shape ? r : broadcast_to(r, shape, s);
  };
  return array(shape, t, std::make_shared<Select>(s),
               {prepare(cond, Dtype::bool_), prepare(x, t), prepare(y, t)});
}

}  // namespace pullback
