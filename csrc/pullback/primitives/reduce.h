// Reductions over axes (sum, prod, max, min, and, or) and index reductions (argmax, argmin).
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, And, Or };

const char* reduce_op_name(ReduceOp op);  // "Sum"

// The accumulator dtype the kernel uses for `op` over `in`: sums and products of integers
// accumulate in 64 bits, half floats in float32, and/or work on bool.
Dtype reduce_accumulator_dtype(ReduceOp op, Dtype in);

// Reduces its input over `axes` (sorted, non-negative, distinct). The output keeps the
// reduced axes with size 1, so every cotangent rule is a plain broadcast; the user op
// reshapes it away when keepdims is false. The output dtype is a parameter because the
// ops ask for a float32 result from float16/bfloat16 input where precision matters.
class Reduce : public UnaryPrimitive {
 public:
  Reduce(Stream s, ReduceOp op, std::vector<int> axes, Dtype out_dtype)
      : UnaryPrimitive(s), op_(op), axes_(std::move(axes)), out_dtype_(out_dtype) {}
  ReduceOp op() const { return op_; }
  const std::vector<int>& axes() const { return axes_; }
  const char* name() const override { return reduce_op_name(op_); }
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
  // The derivative of the reduction with respect to each input element, at a broadcast
  // of the output's shape (Sum, Prod, Max, Min only).
  array input_weights(const array& in, const array& out);
  // input_weights computed in floating point for integer inputs.
  array weights(const array& in, const array& out);
  ReduceOp op_;
  std::vector<int> axes_;
  Dtype out_dtype_;
};

enum class ArgReduceOp : uint8_t { ArgMax, ArgMin };

// The uint32 index of the largest (smallest) element along one axis; the first one among
// ties, and the first NaN if there is one (NumPy's rule). The axis is kept with size 1.
class ArgReduce : public UnaryPrimitive {
 public:
  ArgReduce(Stream s, ArgReduceOp op, int axis) : UnaryPrimitive(s), op_(op), axis_(axis) {}
  const char* name() const override { return op_ == ArgReduceOp::ArgMax ? "ArgMax" : "ArgMin"; }
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
  ArgReduceOp op_;
  int axis_;
};

}  // namespace pullback
