// Elementwise functions of one array.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

enum class UnaryOp : uint8_t {
  Abs, Negative, Sign, Exp, Expm1, Log, Log1p, Log2, Log10, Sqrt, Rsqrt, Square, Reciprocal,
  Sin, Cos, Tan, ArcSin, ArcCos, ArcTan, Sinh, Cosh, Tanh, ArcSinh, ArcCosh, ArcTanh,
  Sigmoid, Erf, ErfInv, Floor, Ceil, Round, Conjugate, Real, Imag,
  // Predicates last: unary_op_is_predicate relies on the order.
  IsNan, IsInf, IsFinite, IsPosInf, IsNegInf, LogicalNot,
};

const char* unary_op_name(UnaryOp op);  // "Exp"
// Whether the op yields bool (the isnan family, logical_not).
bool unary_op_is_predicate(UnaryOp op);
// The output dtype of `op` on an input of dtype `in`: bool for predicates, float32 for the
// magnitude and the parts of a complex64 input, `in` otherwise.
Dtype unary_output_dtype(UnaryOp op, Dtype in);

class Unary : public UnaryPrimitive {
 public:
  Unary(Stream s, UnaryOp op) : UnaryPrimitive(s), op_(op) {}
  UnaryOp op() const { return op_; }
  const char* name() const override { return unary_op_name(op_); }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  // d out / d x as a lazy graph (x the primal, y the output).
  array derivative(const array& x, const array& y);
  UnaryOp op_;
};

}  // namespace pullback
