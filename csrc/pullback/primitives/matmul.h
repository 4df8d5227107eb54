// Matrix multiplication over the last two axes, with NumPy broadcasting of the batch axes.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

// out[..., i, j] = sum_k a[..., i, k] * b[..., k, j]. Both inputs have at least two axes
// and one real floating dtype; their batch axes (all but the last two) broadcast against
// each other, so an input may have fewer of them or size-1 ones.
class Matmul : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  const char* name() const override { return "Matmul"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums,
                         const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

// The output shape of Matmul for inputs of these shapes (each with at least two axes);
// throws naming both shapes when the inner or the batch axes do not agree.
Shape matmul_output_shape(const Shape& a, const Shape& b);

}  // namespace pullback
