#include "pullback/primitives/binary.h"

#include "pullback/ops.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

const char* binary_op_name(BinaryOp op) {
  static constexpr const char* names[] = {
      "Add",     "Subtract", "Multiply",  "Divide",    "FloorDivide", "Remainder",  "Power",
      "Maximum", "Minimum",  "ArcTan2",   "LogAddExp", "BitwiseAnd",  "BitwiseOr",  "BitwiseXor",
      "LeftShift", "RightShift", "Equal", "NotEqual",  "Less",        "LessEqual",  "Greater",
      "GreaterEqual", "LogicalAnd", "LogicalOr"};
  static_assert(sizeof(names) / sizeof(names[0]) == size_t(BinaryOp::LogicalOr) + 1);
  return names[static_cast<int>(op)];
}

bool binary_op_is_comparison(BinaryOp op) { return op >= BinaryOp::Equal; }

array Binary::partial(const Arrays& p, const array& out, int wrt) {
  Stream s = stream();
  const array& a = p[0];
  const array& b = p[1];
  auto one = array(1.0, a.dtype());
  switch (op_) {
    case BinaryOp::Add: return one;
    case BinaryOp::Subtract: return wrt == 0 ? one : array(-1.0, a.dtype());
    case BinaryOp::Multiply: return wrt == 0 ? b : a;
    case BinaryOp::Divide:
      return wrt == 0 ? reciprocal(b, s) : negative(divide(out, b, s), s);
    case BinaryOp::Remainder:
      return wrt == 0 ? one : negative(floor_divide(a, b, s), s);
    case BinaryOp::Power:
      if (wrt == 0) return multiply(b, power(a, subtract(b, one, s), s), s);
      // d/db a^b = a^b log a, taken as 0 wherever a^b is 0 (a == 0 with b > 0: the limit from
      // a > 0; or an underflow), as MLX does; -inf at 0^0.
      return where(equal(out, array(0.0, out.dtype()), s), array(0.0, a.dtype()),
                   multiply(out, log(a, s), s), s);
    case BinaryOp::Maximum:
      // Ties send the whole derivative to b, as in MLX (so relu's is 0 at 0, as everywhere).
      return astype(wrt == 0 ? greater(a, b, s) : less_equal(a, b, s), a.dtype(), s);
    case BinaryOp::Minimum:
      return astype(wrt == 0 ? less(a, b, s) : greater_equal(a, b, s), a.dtype(), s);
    case BinaryOp::ArcTan2: {
      array denom = add(square(a, s), square(b, s), s);
      return wrt == 0 ? divide(b, denom, s) : divide(negative(a, s), denom, s);
    }
    case BinaryOp::LogAddExp:
      return wrt == 0 ? sigmoid(subtract(a, b, s), s) : sigmoid(subtract(b, a, s), s);
    default:  // floor_divide, comparisons, logical ops are piecewise constant
      return zeros_like(a, s);
  }
}

namespace {
// Comparisons, logical ops and floor_divide are piecewise constant. Integer inputs are not
// special: their derivatives follow the same formulas in the integer dtype, as in MLX.
bool zero_derivative(BinaryOp op) {
  return binary_op_is_comparison(op) || op == BinaryOp::FloorDivide ||
         (op >= BinaryOp::BitwiseAnd && op <= BinaryOp::RightShift);
}
array in_dtype(const array& x, Dtype t, Stream s) { return x.dtype() == t ? x : astype(x, t, s); }
}  // namespace

Arrays Binary::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                   const Arrays& outputs) {
  Arrays grads;
  for (int i : argnums) {
    const Dtype t = primals[i].dtype();
    if (zero_derivative(op_)) {
      grads.push_back(zeros_like(primals[i], stream()));
    } else if (op_ == BinaryOp::Add || (op_ == BinaryOp::Subtract && i == 0)) {
      grads.push_back(in_dtype(cts[0], t, stream()));
    } else if (op_ == BinaryOp::Subtract) {
      grads.push_back(in_dtype(negative(cts[0], stream()), t, stream()));
    } else {
      // Complex inputs: the cotangent times conj(d out / d input) (see Unary::vjp).
      array d = partial(primals, outputs[0], i);
      grads.push_back(in_dtype(multiply(cts[0], conjugate(d, stream()), stream()), t, stream()));
    }
  }
  return grads;
}

Arrays Binary::jvp(const Arrays& primals, const Arrays& ts, const Ints& argnums) {
  if (zero_derivative(op_)) {
    // A tangent that can flow into later ops: the incoming tangent's dtype, not bool.
    return {zeros(primals[0].shape(), binary_op_is_comparison(op_) ? ts[0].dtype() : primals[0].dtype(),
                  stream())};
  }
  array out(primals[0].shape(), primals[0].dtype(), std::make_shared<Binary>(stream(), op_), primals);
  array result;
  for (size_t k = 0; k < argnums.size(); ++k) {
    array term = multiply(ts[k], partial(primals, out, argnums[k]), stream());
    result = result.valid() ? add(result, term, stream()) : term;
  }
  return {result};
}

bool Binary::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Binary*>(&other);
  return o && o->op_ == op_;
}

// The operands share one shape (ops broadcast them first), so with the batch axis in front of
// both the same primitive applies to the whole batch.
std::pair<Arrays, Ints> Binary::vmap(const Arrays& in, const Ints& axes) {
  Arrays x = vmap_all_to_front(in, axes);
  Dtype t = binary_op_is_comparison(op_) ? Dtype::bool_ : x[0].dtype();
  Shape shape = x[0].shape();
  return {{array(std::move(shape), t, std::make_shared<Binary>(stream(), op_), std::move(x))}, {0}};
}

std::vector<Shape> Binary::output_shapes(const Arrays& in) { return {in[0].shape()}; }

Arrays Select::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums, const Arrays&) {
  Arrays grads;
  array zero = zeros_like(cts[0], stream());
  for (int i : argnums) {
    if (i == 0) {
      grads.push_back(zeros_like(primals[0], stream()));
    } else if (i == 1) {
      grads.push_back(where(primals[0], cts[0], zero, stream()));
    } else {
      grads.push_back(where(primals[0], zero, cts[0], stream()));
    }
  }
  return grads;
}

Arrays Select::jvp(const Arrays& primals, const Arrays& ts, const Ints& argnums) {
  array tx = zeros_like(primals[1], stream());
  array ty = tx;
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == 1) tx = ts[k];
    if (argnums[k] == 2) ty = ts[k];
  }
  return {where(primals[0], tx, ty, stream())};
}

std::pair<Arrays, Ints> Select::vmap(const Arrays& in, const Ints& axes) {
  Arrays x = vmap_all_to_front(in, axes);
  Dtype t = x[1].dtype();
  Shape shape = x[0].shape();
  return {{array(std::move(shape), t, std::make_shared<Select>(stream()), std::move(x))}, {0}};
}

std::vector<Shape> Select::output_shapes(const Arrays& in) { return {in[0].shape()}; }

}  // namespace pullback
