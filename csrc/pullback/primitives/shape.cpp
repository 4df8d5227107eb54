#include "pullback/primitives/shape.h"

#include "pullback/ops.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

// No intermediate may overflow whatever the bounds and step (a step of +-2**63 - 1 is valid
// in Python): the distance and the step's magnitude are taken as unsigned, where they fit.
int64_t slice_length(int64_t start, int64_t stop, int64_t step) {
  if (step > 0) {
    if (stop <= start) return 0;
    uint64_t span = static_cast<uint64_t>(stop) - static_cast<uint64_t>(start);
    return static_cast<int64_t>((span - 1) / static_cast<uint64_t>(step) + 1);
  }
  if (start <= stop) return 0;
  uint64_t span = static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
  uint64_t magnitude = uint64_t(0) - static_cast<uint64_t>(step);
  return static_cast<int64_t>((span - 1) / magnitude + 1);
}

namespace {

template <typename P>
const P* same_type(const Primitive& other) {
  return dynamic_cast<const P*>(&other);
}

// Whatever the reduction's accumulator type, a cotangent has its primal's dtype.
array as_dtype_of(const array& x, const array& like, Stream s) {
  return x.dtype() == like.dtype() ? x : astype(x, like.dtype(), s);
}

// `x` with its batch axis at `to`: moved there from `from`, or, for an unbatched `x`
// (from == -1), a new axis of size `batch` broadcast in (a view: nothing is copied).
array batch_axis_at(const array& x, int from, int to, int64_t batch, Stream s) {
  if (from == to) return x;
  if (from >= 0) return moveaxis(x, from, to, s);
  Shape shape = x.shape();
  shape.insert(shape.begin() + to, batch);
  return broadcast_to(expand_dims(x, {to}, s), shape, s);
}

// The slice bounds of an example with a whole batch axis of size `batch` inserted at `axis`.
void insert_batch_bounds(Shape& start, Shape& stop, Shape& step, int axis, int64_t batch) {
  start.insert(start.begin() + axis, 0);
  stop.insert(stop.begin() + axis, batch);
  step.insert(step.begin() + axis, 1);
}

}  // namespace

// ---- Broadcast ----

Arrays Broadcast::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays&) {
  const array& in = primals[0];
  const array& ct = cts[0];
  const int diff = ct.ndim() - in.ndim();
  Axes axes;
  for (int d = 0; d < diff; ++d) axes.push_back(d);
  for (int d = 0; d < in.ndim(); ++d) {
    if (in.shape()[d] == 1 && ct.shape()[d + diff] != 1) axes.push_back(d + diff);
  }
  array g = axes.empty() ? ct : sum(ct, axes, /*keepdims=*/true, stream());
  return {as_dtype_of(reshape(g, in.shape(), stream()), in, stream())};
}

Arrays Broadcast::jvp(const Arrays&, const Arrays& ts, const Ints&) {
  return {broadcast_to(ts[0], shape_, stream())};
}

bool Broadcast::is_equivalent(const Primitive& other) const {
  auto* o = same_type<Broadcast>(other);
  return o && o->shape_ == shape_;
}

// The batch axis goes in front of the broadcast shape (the input gets size-1 axes for the
// leading axes the broadcast adds, so that its batch axis lines up with the output's).
std::pair<Arrays, Ints> Broadcast::vmap(const Arrays& in, const Ints& axes) {
  int64_t batch = in[0].shape(axes[0]);
  array x = vmap_to_front(in[0], axes[0], batch);
  int added = static_cast<int>(shape_.size()) - (x.ndim() - 1);
  if (added > 0) {
    Shape s = x.shape();
    s.insert(s.begin() + 1, added, 1);
    x = reshape(x, s, stream());
  }
  Shape target = shape_;
  target.insert(target.begin(), batch);
  return {{broadcast_to(x, target, stream())}, {0}};
}

std::vector<Shape> Broadcast::output_shapes(const Arrays&) { return {shape_}; }

// ---- Reshape ----

Arrays Reshape::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays&) {
  return {reshape(cts[0], primals[0].shape(), stream())};
}

Arrays Reshape::jvp(const Arrays&, const Arrays& ts, const Ints&) {
  return {reshape(ts[0], shape_, stream())};
}

bool Reshape::is_equivalent(const Primitive& other) const {
  auto* o = same_type<Reshape>(other);
  return o && o->shape_ == shape_;
}

std::pair<Arrays, Ints> Reshape::vmap(const Arrays& in, const Ints& axes) {
  int64_t batch = in[0].shape(axes[0]);
  Shape target = shape_;
  target.insert(target.begin(), batch);
  return {{reshape(vmap_to_front(in[0], axes[0], batch), target, stream())}, {0}};
}

std::vector<Shape> Reshape::output_shapes(const Arrays&) { return {shape_}; }

// ---- Transpose ----

Arrays Transpose::vjp(const Arrays&, const Arrays& cts, const Ints&, const Arrays&) {
  Axes inverse(perm_.size());
  for (size_t i = 0; i < perm_.size(); ++i) inverse[perm_[i]] = static_cast<int>(i);
  return {transpose(cts[0], inverse, stream())};
}

Arrays Transpose::jvp(const Arrays&, const Arrays& ts, const Ints&) {
  return {transpose(ts[0], perm_, stream())};
}

bool Transpose::is_equivalent(const Primitive& other) const {
  auto* o = same_type<Transpose>(other);
  return o && o->perm_ == perm_;
}

// One transpose of the batched input: the batch axis first, then the permuted example axes.
std::pair<Arrays, Ints> Transpose::vmap(const Arrays& in, const Ints& axes) {
  int b = axes[0];
  std::vector<int> perm{b};
  for (int p : perm_) perm.push_back(p < b ? p : p + 1);
  return {{transpose(in[0], perm, stream())}, {0}};
}

std::vector<Shape> Transpose::output_shapes(const Arrays& inputs) {
  Shape out(perm_.size());
  for (size_t i = 0; i < perm_.size(); ++i) out[i] = inputs[0].shape()[perm_[i]];
  return {out};
}

// ---- Slice ----

Arrays Slice::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays&) {
  array base = zeros(primals[0].shape(), cts[0].dtype(), stream());
  return {slice_update(base, cts[0], start_, stop_, strides_, stream())};
}

Arrays Slice::jvp(const Arrays&, const Arrays& ts, const Ints&) {
  return {slice(ts[0], start_, stop_, strides_, stream())};
}

bool Slice::is_equivalent(const Primitive& other) const {
  auto* o = same_type<Slice>(other);
  return o && o->start_ == start_ && o->stop_ == stop_ && o->strides_ == strides_;
}

// The batch axis stays where it is and is taken whole: one strided view, no transpose.
std::pair<Arrays, Ints> Slice::vmap(const Arrays& in, const Ints& axes) {
  const int b = axes[0];
  Shape start = start_, stop = stop_, step = strides_;
  insert_batch_bounds(start, stop, step, b, in[0].shape(b));
  return {{slice(in[0], start, stop, step, stream())}, {b}};
}

std::vector<Shape> Slice::output_shapes(const Arrays&) {
  Shape out(start_.size());
  for (size_t d = 0; d < start_.size(); ++d) out[d] = slice_length(start_[d], stop_[d], strides_[d]);
  return {out};
}

// ---- SliceUpdate ----

Arrays SliceUpdate::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                        const Arrays&) {
  Arrays grads;
  for (int arg : argnums) {
    if (arg == 0) {
      array hole = zeros(primals[1].shape(), cts[0].dtype(), stream());
      grads.push_back(slice_update(cts[0], hole, start_, stop_, strides_, stream()));
    } else {
      grads.push_back(as_dtype_of(slice(cts[0], start_, stop_, strides_, stream()), primals[1],
                                  stream()));
    }
  }
  return grads;
}

Arrays SliceUpdate::jvp(const Arrays& primals, const Arrays& ts, const Ints& argnums) {
  array ta = zeros_like(primals[0], stream());
  array tu = zeros_like(primals[1], stream());
  for (size_t k = 0; k < argnums.size(); ++k) (argnums[k] == 0 ? ta : tu) = ts[k];
  return {slice_update(ta, tu, start_, stop_, strides_, stream())};
}

bool SliceUpdate::is_equivalent(const Primitive& other) const {
  auto* o = same_type<SliceUpdate>(other);
  return o && o->start_ == start_ && o->stop_ == stop_ && o->strides_ == strides_;
}

// The output is batched at the batch axis of `a` (or at the front when only the update is
// batched, `a` then broadcast as a view: the kernel copies it into the output anyway). An
// unbatched update stays unbatched: a size-1 axis that slice_update broadcasts.
std::pair<Arrays, Ints> SliceUpdate::vmap(const Arrays& in, const Ints& axes) {
  const int64_t batch = vmap_batch_size(in, axes);
  const int b = axes[0] >= 0 ? axes[0] : 0;
  array a = batch_axis_at(in[0], axes[0], b, batch, stream());
  array update = axes[1] >= 0 ? batch_axis_at(in[1], axes[1], b, batch, stream())
                              : expand_dims(in[1], {b}, stream());
  Shape start = start_, stop = stop_, step = strides_;
  insert_batch_bounds(start, stop, step, b, batch);
  return {{slice_update(a, update, start, stop, step, stream())}, {b}};
}

std::vector<Shape> SliceUpdate::output_shapes(const Arrays& inputs) {
  return {inputs[0].shape()};
}

// ---- Concatenate ----

Arrays Concatenate::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                        const Arrays&) {
  const array& ct = cts[0];
  std::vector<int64_t> offsets(primals.size() + 1, 0);
  for (size_t i = 0; i < primals.size(); ++i) {
    offsets[i + 1] = offsets[i] + primals[i].shape()[axis_];
  }
  Arrays grads;
  for (int arg : argnums) {
    Shape start(ct.ndim(), 0), stop = ct.shape(), step(ct.ndim(), 1);
    start[axis_] = offsets[arg];
    stop[axis_] = offsets[arg + 1];
    grads.push_back(slice(ct, start, stop, step, stream()));
  }
  return grads;
}

Arrays Concatenate::jvp(const Arrays& primals, const Arrays& ts, const Ints& argnums) {
  Arrays parts;
  parts.reserve(primals.size());
  for (auto& p : primals) parts.push_back(zeros_like(p, stream()));
  for (size_t k = 0; k < argnums.size(); ++k) parts[argnums[k]] = ts[k];
  return {concatenate(parts, axis_, stream())};
}

bool Concatenate::is_equivalent(const Primitive& other) const {
  auto* o = same_type<Concatenate>(other);
  return o && o->axis_ == axis_;
}

// One concatenate with the batch axis where the first batched input has it: the other batched
// inputs are moved there (views) and the unbatched ones broadcast along it.
std::pair<Arrays, Ints> Concatenate::vmap(const Arrays& in, const Ints& axes) {
  const int64_t batch = vmap_batch_size(in, axes);
  int b = 0;
  for (int ax : axes) {
    if (ax >= 0) {
      b = ax;
      break;
    }
  }
  Arrays parts;
  parts.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    parts.push_back(batch_axis_at(in[i], axes[i], b, batch, stream()));
  }
  return {{concatenate(parts, axis_ < b ? axis_ : axis_ + 1, stream())}, {b}};
}

std::vector<Shape> Concatenate::output_shapes(const Arrays& inputs) {
  Shape out = inputs[0].shape();
  out[axis_] = 0;
  for (auto& in : inputs) out[axis_] += in.shape()[axis_];
  return {out};
}

}  // namespace pullback
