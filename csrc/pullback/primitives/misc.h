// Primitives that move or convert data without arithmetic: identity, copy, astype,
// stop_gradient, and the filling kernels behind arange.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

// Passes its input through as a view; stands in for primals while a transform traces.
class Identity : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  const char* name() const override { return "Identity"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&, const std::vector<array>&) override;
  std::vector<array> jvp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>&,
                                                       const std::vector<int>&) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

// A row-contiguous copy of its input (which may be strided or broadcast).
class Copy : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  const char* name() const override { return "Copy"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&, const std::vector<array>&) override;
  std::vector<array> jvp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>&,
                                                       const std::vector<int>&) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

class AsType : public UnaryPrimitive {
 public:
  AsType(Stream s, Dtype dtype) : UnaryPrimitive(s), dtype_(dtype) {}
  const char* name() const override { return "AsType"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&, const std::vector<array>&) override;
  std::vector<array> jvp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>&,
                                                       const std::vector<int>&) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  Dtype dtype_;
};

class StopGradient : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  const char* name() const override { return "StopGradient"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&, const std::vector<array>&) override;
  std::vector<array> jvp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>&,
                                                       const std::vector<int>&) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

// The parameters of an integer arange, whose values are computed in 64-bit integers.
struct IntegerRange {
  int64_t start, step;
};

// start, start + step, ... (`out.size()` values) in the output dtype, computed in float64
// or, for an IntegerRange, exactly in 64-bit integers (wrapping into a narrower dtype).
class Arange : public UnaryPrimitive {
 public:
  Arange(Stream s, double start, double step) : UnaryPrimitive(s), start_(start), step_(step) {}
  Arange(Stream s, IntegerRange r)
      : UnaryPrimitive(s), start_(r.start), step_(r.step), integral_(true), range_(r) {}
  const char* name() const override { return "Arange"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  double start_, step_;
  bool integral_ = false;
  IntegerRange range_{0, 0};
};

}  // namespace pullback
