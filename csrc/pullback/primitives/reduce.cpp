#include "pullback/primitives/reduce.h"

#include "pullback/ops.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "Sum";
    case ReduceOp::Prod: return "Prod";
    case ReduceOp::Max: return "Max";
    case ReduceOp::Min: return "Min";
    case ReduceOp::And: return "And";
    default: return "Or";
  }
}

Dtype reduce_accumulator_dtype(ReduceOp op, Dtype in) {
  switch (op) {
    case ReduceOp::And:
    case ReduceOp::Or: return Dtype::bool_;
    case ReduceOp::Max:
    case ReduceOp::Min:
      return in == Dtype::float16 || in == Dtype::bfloat16 ? Dtype::float32 : in;
    default: break;
  }
  // Integer sums and products accumulate in 64 bits: a 32-bit accumulator overflows (undefined
  // behaviour for signed types) on arrays of more than 2**31 elements, which pullback allows.
  switch (in) {
    case Dtype::bool_:
    case Dtype::int8:
    case Dtype::int16:
    case Dtype::int32: return Dtype::int64;
    case Dtype::uint8:
    case Dtype::uint16:
    case Dtype::uint32: return Dtype::uint64;
    case Dtype::float16:
    case Dtype::bfloat16: return Dtype::float32;
    default: return in;
  }
}

std::vector<Shape> Reduce::output_shapes(const Arrays& in) {
  Shape shape = in[0].shape();
  for (int ax : axes_) shape[ax] = 1;
  return {shape};
}

bool Reduce::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Reduce*>(&other);
  return o && o->op_ == op_ && o->axes_ == axes_ && o->out_dtype_ == out_dtype_;
}

// Max/Min: the cotangent is split evenly among the elements equal to the result (MLX's
// rule), so the weights sum to one over each reduced group.
// Prod: d prod / d x_i is the product of the other elements. It is computed without
// dividing by zero: with no zero in the group it is prod / x_i; with exactly one zero it
// is the product of the nonzero elements at the zero and 0 elsewhere; with two or more
// zeros it is 0 everywhere. Derivatives of this rule stay finite as well.
array Reduce::input_weights(const array& x, const array& out) {
  Stream s = stream();
  std::optional<Axes> axes = axes_;
  array zero(0.0, x.dtype());
  if (op_ == ReduceOp::Max || op_ == ReduceOp::Min) {
    array mask = equal(x, out, s);
    array count = astype(sum(mask, axes, true, s), x.dtype(), s);
    // mask / count: a group whose extremum is NaN matches nothing and gets 0/0 = NaN
    // everywhere, as in MLX, so a NaN is not hidden behind a zero derivative.
    return divide(astype(mask, x.dtype(), s), count, s);
  }
  array one(1.0, x.dtype());
  array is_zero = equal(x, zero, s);
  array safe = where(is_zero, one, x, s);
  array nonzero_prod = prod(safe, axes, true, s);
  array zeros_count = sum(is_zero, axes, true, s);
  array at_zero = where(equal(zeros_count, array(1), s), nonzero_prod, zero, s);
  array elsewhere =
      where(equal(zeros_count, array(0), s), divide(nonzero_prod, safe, s), zero, s);
  return where(is_zero, at_zero, elsewhere, s);
}

// input_weights in floating point: integer inputs take the same derivative (MLX's rule), but
// its shares (1/count) and quotients need a float to be computed in.
array Reduce::weights(const array& x, const array& out) {
  if (is_inexact(x.dtype())) return input_weights(x, out);
  return input_weights(astype(x, Dtype::float32, stream()), astype(out, Dtype::float32, stream()));
}

Arrays Reduce::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays& outputs) {
  const array& x = primals[0];
  Stream s = stream();
  if (op_ == ReduceOp::And || op_ == ReduceOp::Or) return {zeros_like(x, s)};
  if (op_ == ReduceOp::Sum) return {astype(broadcast_to(cts[0], x.shape(), s), x.dtype(), s)};
  // Complex products: the cotangent times the conjugate derivative (see Unary::vjp).
  array w = conjugate(weights(x, outputs[0]), s);
  return {astype(multiply(cts[0], w, s), x.dtype(), s)};
}

Arrays Reduce::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  const array& x = primals[0];
  Stream s = stream();
  Shape out_shape = output_shapes(primals)[0];
  auto reduce_sum = [&](const array& t) {
    return array(out_shape, out_dtype_,
                 std::make_shared<Reduce>(s, ReduceOp::Sum, axes_, out_dtype_), {t});
  };
  if (op_ == ReduceOp::Sum) return {reduce_sum(tangents[0])};
  if (op_ == ReduceOp::And || op_ == ReduceOp::Or) return {zeros(out_shape, out_dtype_, s)};
  if (op_ == ReduceOp::Max || op_ == ReduceOp::Min) {
    // MLX's forward rule: the tangent of the element that argmax/argmin picks (the first of
    // ties, a NaN where there is one), unlike the vjp, which splits among ties.
    const int nd = x.ndim();
    std::vector<bool> reduced(nd, false);
    for (int ax : axes_) reduced[ax] = true;
    Axes perm;
    Shape grouped;  // the kept axes, then one axis of the reduced group's size
    int64_t group_size = 1;
    for (int d = 0; d < nd; ++d) {
      if (!reduced[d]) {
        perm.push_back(d);
        grouped.push_back(x.shape()[d]);
      } else {
        group_size *= x.shape()[d];
      }
    }
    for (int d = 0; d < nd; ++d) {
      if (reduced[d]) perm.push_back(d);
    }
    grouped.push_back(group_size);
    auto group = [&](const array& a) { return reshape(transpose(a, perm, s), grouped, s); };
    array gx = group(x);
    array idx = op_ == ReduceOp::Max ? argmax(gx, -1, true, s) : argmin(gx, -1, true, s);
    array picked = take_along_axis(group(tangents[0]), idx, -1, s);
    return {astype(reshape(picked, out_shape, s), out_dtype_, s)};
  }
  array out(out_shape, out_dtype_, std::make_shared<Reduce>(s, op_, axes_, out_dtype_), {x});
  array w = weights(x, out);
  return {reduce_sum(astype(multiply(tangents[0], w, s), x.dtype(), s))};
}

// The batch axis stays where it is (the output keeps every axis), and the reduced axes move
// past it: one reduction over the whole batch, in the layout the input already has.
std::pair<Arrays, Ints> Reduce::vmap(const Arrays& in, const Ints& axes) {
  const int b = axes[0];
  std::vector<int> shifted;
  shifted.reserve(axes_.size());
  for (int ax : axes_) shifted.push_back(ax >= b ? ax + 1 : ax);
  Shape shape = in[0].shape();
  for (int ax : shifted) shape[ax] = 1;
  return {{array(std::move(shape), out_dtype_,
                 std::make_shared<Reduce>(stream(), op_, std::move(shifted), out_dtype_), {in[0]})},
          {b}};
}

std::vector<Shape> ArgReduce::output_shapes(const Arrays& in) {
  Shape shape = in[0].shape();
  shape[axis_] = 1;
  return {shape};
}

bool ArgReduce::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const ArgReduce*>(&other);
  return o && o->op_ == op_ && o->axis_ == axis_;
}

// Indices are piecewise constant: no derivative flows through them (MLX returns zeros too).
Arrays ArgReduce::vjp(const Arrays& primals, const Arrays&, const Ints&, const Arrays&) {
  return {zeros_like(primals[0], stream())};
}

Arrays ArgReduce::jvp(const Arrays& primals, const Arrays&, const Ints&) {
  return {zeros(output_shapes(primals)[0], Dtype::uint32, stream())};
}

// As Reduce: the batch axis stays, the reduced axis moves past it.
std::pair<Arrays, Ints> ArgReduce::vmap(const Arrays& in, const Ints& axes) {
  const int b = axes[0];
  const int ax = axis_ >= b ? axis_ + 1 : axis_;
  Shape shape = in[0].shape();
  shape[ax] = 1;
  return {{array(std::move(shape), Dtype::uint32, std::make_shared<ArgReduce>(stream(), op_, ax),
                 {in[0]})},
          {b}};
}

}  // namespace pullback
