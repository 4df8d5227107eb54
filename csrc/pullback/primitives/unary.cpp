#include "pullback/primitives/unary.h"

#include <cmath>

#include "pullback/ops.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

const char* unary_op_name(UnaryOp op) {
  static constexpr const char* names[] = {
      "Abs",    "Negative", "Sign",    "Exp",     "Expm1",    "Log",      "Log1p",
      "Log2",   "Log10",    "Sqrt",    "Rsqrt",   "Square",   "Reciprocal", "Sin",
      "Cos",    "Tan",      "ArcSin",  "ArcCos",  "ArcTan",   "Sinh",     "Cosh",
      "Tanh",   "ArcSinh",  "ArcCosh", "ArcTanh", "Sigmoid",  "Erf",      "ErfInv",
      "Floor",  "Ceil",     "Round",   "Conjugate", "Real",   "Imag",     "IsNan",
      "IsInf",  "IsFinite", "IsPosInf", "IsNegInf", "LogicalNot"};
  static_assert(sizeof(names) / sizeof(names[0]) == size_t(UnaryOp::LogicalNot) + 1);
  return names[static_cast<int>(op)];
}

bool unary_op_is_predicate(UnaryOp op) { return op >= UnaryOp::IsNan; }

Dtype unary_output_dtype(UnaryOp op, Dtype in) {
  if (unary_op_is_predicate(op)) return Dtype::bool_;
  bool to_real = op == UnaryOp::Abs || op == UnaryOp::Real || op == UnaryOp::Imag;
  return to_real && is_complex(in) ? Dtype::float32 : in;
}

namespace {
array scalar(double v, const array& like) { return array(v, like.dtype()); }
}  // namespace

array Unary::derivative(const array& x, const array& y) {
  Stream s = stream();
  auto one = scalar(1.0, x);
  switch (op_) {
    case UnaryOp::Abs: return sign(x, s);
    case UnaryOp::Negative: return scalar(-1.0, x);
    case UnaryOp::Exp: return y;
    case UnaryOp::Expm1: return add(y, one, s);
    case UnaryOp::Log: return reciprocal(x, s);
    case UnaryOp::Log1p: return reciprocal(add(x, one, s), s);
    case UnaryOp::Log2: return reciprocal(multiply(x, scalar(M_LN2, x), s), s);
    case UnaryOp::Log10: return reciprocal(multiply(x, scalar(M_LN10, x), s), s);
    case UnaryOp::Sqrt: return divide(scalar(0.5, x), y, s);
    case UnaryOp::Rsqrt: return multiply(scalar(-0.5, x), divide(y, x, s), s);
    case UnaryOp::Square: return multiply(scalar(2.0, x), x, s);
    case UnaryOp::Reciprocal: return negative(square(y, s), s);
    case UnaryOp::Sin: return cos(x, s);
    case UnaryOp::Cos: return negative(sin(x, s), s);
    case UnaryOp::Tan: return add(one, square(y, s), s);
    case UnaryOp::ArcSin: return rsqrt(subtract(one, square(x, s), s), s);
    case UnaryOp::ArcCos: return negative(rsqrt(subtract(one, square(x, s), s), s), s);
    case UnaryOp::ArcTan: return reciprocal(add(one, square(x, s), s), s);
    case UnaryOp::Sinh: return cosh(x, s);
    case UnaryOp::Cosh: return sinh(x, s);
    case UnaryOp::Tanh: return subtract(one, square(y, s), s);
    case UnaryOp::ArcSinh: return rsqrt(add(square(x, s), one, s), s);
    // Complex x: 1 / (sqrt(x - 1) sqrt(x + 1)), the branch of arccosh's principal value
    // (rsqrt(x^2 - 1) flips its sign where Re x < 0). Real x keeps rsqrt(x^2 - 1), whose
    // value at -inf (0) is MLX's.
    case UnaryOp::ArcCosh:
      if (is_complex(x.dtype()))
        return reciprocal(multiply(sqrt(subtract(x, one, s), s), sqrt(add(x, one, s), s), s), s);
      return rsqrt(subtract(square(x, s), one, s), s);
    case UnaryOp::ArcTanh: return reciprocal(subtract(one, square(x, s), s), s);
    case UnaryOp::Sigmoid: return multiply(y, subtract(one, y, s), s);
    case UnaryOp::Erf:
      return multiply(scalar(M_2_SQRTPI, x), exp(negative(square(x, s), s), s), s);
    case UnaryOp::ErfInv:
      return multiply(scalar(0.5 * std::sqrt(M_PI), x), exp(square(y, s), s), s);
    default:  // piecewise constant (sign, floor, ceil, round) and predicates
      return zeros_like(x, s);
  }
}

// Complex convention (MLX's and PyTorch's): the gradient of a real loss L at z = x + iy is
// dL/dx + i dL/dy. For a holomorphic f the cotangent is then multiplied by conj(f'(z)),
// while a tangent is multiplied by f'(z). abs, real, imag and conjugate are not holomorphic
// and have their own rules.
Arrays Unary::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays& outputs) {
  const array& x = primals[0];
  const Stream s = stream();
  if (unary_op_is_predicate(op_)) return {zeros_like(x, s)};
  const bool cplx = is_complex(x.dtype());
  array g;
  switch (op_) {
    case UnaryOp::Negative: g = negative(cts[0], s); break;
    case UnaryOp::Conjugate: g = conjugate(cts[0], s); break;
    // A real cotangent c of Re(z) is c + 0i; of Im(z), i c.
    case UnaryOp::Real: g = cts[0]; break;
    case UnaryOp::Imag:
      if (!cplx) return {zeros_like(x, s)};
      g = multiply(astype(cts[0], x.dtype(), s), array(complex64_t(0.f, 1.f)), s);
      break;
    // d|z|/dx + i d|z|/dy = z / |z|: the cotangent (real) times sign(z), unconjugated.
    case UnaryOp::Abs: g = multiply(cts[0], sign(x, s), s); break;
    default: {
      array d = derivative(x, outputs[0]);
      g = multiply(cts[0], cplx ? conjugate(d, s) : d, s);
    }
  }
  // Integer inputs follow the same formulas, the result cast back (MLX's rule).
  return {g.dtype() == x.dtype() ? g : astype(g, x.dtype(), s)};
}

Arrays Unary::jvp(const Arrays& primals, const Arrays& ts, const Ints&) {
  const array& x = primals[0];
  const Stream s = stream();
  // A predicate's tangent is a zero that later ops promote. Its dtype follows MLX, where
  // isnan/isposinf/isneginf of a float are comparisons of x (zeros in the tangent's dtype) and
  // the rest are logical ops (bool zeros).
  if (unary_op_is_predicate(op_)) {
    const bool compares_x = op_ == UnaryOp::IsNan || op_ == UnaryOp::IsPosInf ||
                            op_ == UnaryOp::IsNegInf;
    Dtype t = compares_x && is_inexact(x.dtype()) ? ts[0].dtype() : Dtype::bool_;
    return {zeros(x.shape(), t, s)};
  }
  switch (op_) {
    case UnaryOp::Negative: return {negative(ts[0], s)};
    case UnaryOp::Conjugate: return {conjugate(ts[0], s)};
    case UnaryOp::Real: return {real(ts[0], s)};
    case UnaryOp::Imag: return {imag(ts[0], s)};
    case UnaryOp::Abs:
      // d|z| = Re(conj(sign(z)) dz), which is sign(x) dx for real x.
      if (is_complex(x.dtype())) return {real(multiply(conjugate(sign(x, s), s), ts[0], s), s)};
      break;
    default: break;
  }
  // The output is rebuilt here; common subexpressions are merged when graphs are compiled.
  array y(x.shape(), x.dtype(), std::make_shared<Unary>(s, op_), {x});
  return {multiply(ts[0], derivative(x, y), s)};
}

std::pair<Arrays, Ints> Unary::vmap(const Arrays& in, const Ints& axes) {
  Dtype t = unary_output_dtype(op_, in[0].dtype());
  return {{array(in[0].shape(), t, std::make_shared<Unary>(stream(), op_), {in[0]})}, axes};
}

bool Unary::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Unary*>(&other);
  return o && o->op_ == op_;
}

std::vector<Shape> Unary::output_shapes(const Arrays& in) { return {in[0].shape()}; }

}  // namespace pullback
