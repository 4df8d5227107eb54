// Primitives of the "special" family: raw strided views (as_strided), bit reinterpretation
// (view), explicit graph dependencies (depends) and the Walsh-Hadamard transform.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

// A view of the input's elements in row-major order (a contiguous copy is made first when the
// input is laid out otherwise) with the given shape, strides and offset, all in elements. The
// op has checked that every element the view reaches lies inside the input.
class AsStrided : public UnaryPrimitive {
 public:
  AsStrided(Stream s, Shape shape, Strides strides, int64_t offset)
      : UnaryPrimitive(s), shape_(std::move(shape)), strides_(std::move(strides)),
        offset_(offset) {}
  const char* name() const override { return "AsStrided"; }
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
  Shape shape_;
  Strides strides_;
  int64_t offset_;
};

// The input's bytes read as another dtype; the last axis is rescaled by the ratio of the
// element sizes (the op has checked it divides). Viewing as bool normalizes each byte to 0/1,
// since a bool holding another value is undefined in C++. No derivative: reinterpreting bits
// is not a differentiable function (a view to the same dtype never builds this node).
class View : public UnaryPrimitive {
 public:
  View(Stream s, Dtype dtype) : UnaryPrimitive(s), dtype_(dtype) {}
  const char* name() const override { return "View"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  Dtype dtype_;
};

// Inputs (x_0 .. x_{n-1}, d_0 .. d_{m-1}); outputs x_0 .. x_{n-1} unchanged, computed only
// after every d_j. Derivatives flow to the x_i; the d_j get zero cotangents.
class Depends : public Primitive {
 public:
  Depends(Stream s, int num_outputs) : Primitive(s), num_outputs_(num_outputs) {}
  const char* name() const override { return "Depends"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  int num_outputs_;
};

// y = scale * (H_n x) along the last axis, n = m 2^k with m in {1, 12, 20, 28} (MLX's sizes):
// H_n = kron(H_m, S_{2^k}) with S the Sylvester Hadamard matrix (entries +-1,
// S_{2j} = [[S_j, S_j], [S_j, -S_j]]) and H_m MLX's Hadamard matrix of order m (H_1 = [1]).
// The input is real floating; float16 and bfloat16 accumulate in float32. With `transposed`,
// H_n^T instead: H_20 and H_28 are not symmetric, so that is the vjp (the others are).
// m of n = m 2^k for the sizes the transform takes (m in {1, 12, 20, 28}), else 0.
int hadamard_order_of(int64_t n);

class Hadamard : public UnaryPrimitive {
 public:
  Hadamard(Stream s, double scale, bool transposed = false)
      : UnaryPrimitive(s), scale_(scale), transposed_(transposed) {}
  const char* name() const override { return "Hadamard"; }
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
  double scale_;
  bool transposed_;
};

}  // namespace pullback
