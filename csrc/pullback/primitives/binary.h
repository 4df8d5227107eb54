// Elementwise functions of two arrays (already broadcast and promoted by the op), and where.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

enum class BinaryOp : uint8_t {
  Add, Subtract, Multiply, Divide, FloorDivide, Remainder, Power, Maximum, Minimum, ArcTan2,
  LogAddExp, BitwiseAnd, BitwiseOr, BitwiseXor, LeftShift, RightShift,
  // From here on the output is bool (binary_op_is_comparison).
  Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual, LogicalAnd, LogicalOr,
};

const char* binary_op_name(BinaryOp op);  // "Add"
bool binary_op_is_comparison(BinaryOp op);  // yields bool

class Binary : public UnaryPrimitive {
 public:
  Binary(Stream s, BinaryOp op) : UnaryPrimitive(s), op_(op) {}
  BinaryOp op() const { return op_; }
  const char* name() const override { return binary_op_name(op_); }
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
  // d out / d a (wrt = 0) or d out / d b (wrt = 1) as a lazy graph.
  array partial(const std::vector<array>& primals, const array& out, int wrt);
  BinaryOp op_;
};

// where(condition, x, y) with all three broadcast to one shape; x and y share a dtype.
class Select : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  const char* name() const override { return "Select"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

}  // namespace pullback
