// Gather and scatter with dimension numbers: the two primitives that every form of advanced
// indexing, take/put, and `.at[...]` updates lower to.
//
// Both read index arrays I_0..I_{k-1} (integers, one per indexed axis of the operand, all of one
// shape `index_shape`) and a number of leading *batch* axes shared by the operand and the index
// arrays, so that a vmapped gather stays one gather. With operand `a` of shape
// batch + rest and `axes` = the indexed axes of `a` (each at least `batch`):
//
//   gather:  out[b, i, s] = a[b, start(b, i) + s]        out shape: index_shape + slice_sizes
//   scatter: out = a;  out[b, start(b, i) + s] (op)= updates[b, i, s]   for each (b, i) in order
//
// where b runs over the batch axes (the first `batch` axes of both `a` and the index arrays), i
// over the remaining index axes, s over `slice_sizes` (one size per non-batch axis of `a`), and
// start(b, i) is 0 on non-indexed axes and I_j[b, i] on axis axes[j]. A negative index counts
// from the end of its axis; an index whose slice would leave the axis raises std::out_of_range
// (IndexError in Python) at evaluation, before anything is written.
//
// Scatter applies updates in row-major order of (b, i): with repeated indices, plain assignment
// keeps the last update (its VJP sends the cotangent to that update only), and the reductions
// combine them all.
#pragma once

#include "pullback/ops.h"
#include "pullback/primitives/primitive.h"

namespace pullback {

const char* scatter_reduce_name(ScatterReduce r);

// The positions of the true elements of an evaluated bool array, in row-major order: one index
// array per axis (int32 when every flat position fits in it, else int64). Boolean-mask indexing
// turns a mask into these before it gathers. CPU kernel in backend/cpu/indexing.cpp.
std::vector<array> true_positions(const array& evaluated_mask);

// Inputs: (a, I_0, ..., I_{k-1}).
class Gather : public UnaryPrimitive {
 public:
  Gather(Stream s, std::vector<int> axes, Shape slice_sizes, int batch)
      : UnaryPrimitive(s), axes_(std::move(axes)), slice_sizes_(std::move(slice_sizes)),
        batch_(batch) {}
  const char* name() const override { return "Gather"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&, const std::vector<array>&) override;
  std::vector<array> jvp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

  const std::vector<int>& axes() const { return axes_; }
  const Shape& slice_sizes() const { return slice_sizes_; }
  int batch() const { return batch_; }

 private:
  std::vector<int> axes_;
  Shape slice_sizes_;
  int batch_;
};

// Inputs: (a, updates, I_0, ..., I_{k-1}); updates have the output shape of the matching gather.
class Scatter : public UnaryPrimitive {
 public:
  Scatter(Stream s, std::vector<int> axes, ScatterReduce reduce, int batch)
      : UnaryPrimitive(s), axes_(std::move(axes)), reduce_(reduce), batch_(batch) {}
  const char* name() const override;
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&, const std::vector<array>&) override;
  std::vector<array> jvp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

  const std::vector<int>& axes() const { return axes_; }
  ScatterReduce reduce() const { return reduce_; }
  int batch() const { return batch_; }

 private:
  std::vector<int> axes_;
  ScatterReduce reduce_;
  int batch_;
};

}  // namespace pullback
