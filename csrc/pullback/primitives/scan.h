// Cumulative scans along one axis: cumsum, cumprod, cummax, cummin, logcumsumexp.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

enum class ScanOp : uint8_t { Sum, Prod, Max, Min, LogAddExp };

const char* scan_op_name(ScanOp op);  // "CumSum"

// Scans its input along `axis` (non-negative): output j combines the inputs up to j (from j on
// when `reverse`), including j itself when `inclusive`. The output has the input's shape and
// dtype; the ops cast beforehand (cumsum of bool to int32, logcumsumexp of integers to float32).
// float16/bfloat16 accumulate in float32, integers wrap in their own type (MLX's and NumPy's
// results), and cummax/cummin propagate NaN as NumPy's maximum.accumulate does.
class Scan : public UnaryPrimitive {
 public:
  Scan(Stream s, ScanOp op, int axis, bool reverse, bool inclusive)
      : UnaryPrimitive(s), op_(op), axis_(axis), reverse_(reverse), inclusive_(inclusive) {}
  ScanOp op() const { return op_; }
  const char* name() const override { return scan_op_name(op_); }
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
  // The derivative rules of the inclusive scan; the exclusive one is a shift of it.
  array inclusive_vjp(const array& x, const array& out, const array& ct);
  array inclusive_jvp(const array& x, const array& out, const array& t);
  ScanOp op_;
  int axis_;
  bool reverse_;
  bool inclusive_;
};

}  // namespace pullback
