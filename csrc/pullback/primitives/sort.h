// Sorting along an axis (sort, argsort, partition, argpartition) and searchsorted.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

enum class SortKind : uint8_t { Sort, ArgSort, Partition, ArgPartition };

// Sorts (or partitions around `kth`) every row along `axis` (non-negative). The order is
// NumPy's: ascending, NaNs last, complex numbers by real part then imaginary part (those with a NaN part last). Argsort
// is stable, and partition uses the same total order (value, then index), so the values
// always equal the input gathered at the indices of the matching arg- kind: the derivative
// rules rely on that. Index kinds give uint32 (MLX's dtype).
class Sort : public UnaryPrimitive {
 public:
  Sort(Stream s, SortKind kind, int axis, int64_t kth = 0)
      : UnaryPrimitive(s), kind_(kind), axis_(axis), kth_(kth) {}
  SortKind kind() const { return kind_; }
  int axis() const { return axis_; }
  int64_t kth() const { return kth_; }
  const char* name() const override;
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
  // The indices that produce this primitive's values (ArgSort for Sort, ArgPartition for
  // Partition), as a new node on the same input.
  array indices_of(const array& in);
  SortKind kind_;
  int axis_;
  int64_t kth_;
};

// For each of `values` (input 1, any shape), the uint32 index into the 1-d sorted sequence
// (input 0, same dtype) where it would be inserted to keep the order: before equal
// elements (left) or after them (right). The order is Sort's (NaNs last).
class SearchSorted : public UnaryPrimitive {
 public:
  SearchSorted(Stream s, bool right) : UnaryPrimitive(s), right_(right) {}
  const char* name() const override { return "SearchSorted"; }
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
  bool right_;
};

}  // namespace pullback

namespace pullback {

// For a 1-d sorted array, the uint32 number of the group of equal elements each belongs to
// (0, 0, 1, 2, 2, ...): unique's building block. Each NaN is a group of its own (NaN != NaN,
// MLX's unique).
class SortedGroups : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  const char* name() const override { return "SortedGroups"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

}  // namespace pullback
