#include "pullback/primitives/special.h"

#include "pullback/ops.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

// ---- AsStrided ----

std::vector<Shape> AsStrided::output_shapes(const Arrays&) { return {shape_}; }

bool AsStrided::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const AsStrided*>(&other);
  return o && o->shape_ == shape_ && o->strides_ == strides_ && o->offset_ == offset_;
}

// Each output element copies one input element (in row-major numbering), possibly the same one
// many times: the cotangent of an input element is the sum of the cotangents of its copies.
Arrays AsStrided::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays&) {
  const array& x = primals[0];
  Stream s = stream();
  const int64_t n = static_cast<int64_t>(x.size());
  const int64_t m = static_cast<int64_t>(shape_size(shape_));
  Dtype idx_type = n < (int64_t(1) << 31) ? Dtype::int32 : Dtype::int64;
  array positions = integer_arange(0, n, 1, idx_type, s);
  array source = array(shape_, idx_type, std::make_shared<AsStrided>(s, shape_, strides_, offset_),
                       {positions});
  array flat = put_along_axis(zeros({n}, cts[0].dtype(), s), reshape(source, {m}, s),
                              reshape(cts[0], {m}, s), 0, ScatterReduce::Add, s);
  return {reshape(flat, x.shape(), s)};
}

Arrays AsStrided::jvp(const Arrays&, const Arrays& tangents, const Ints&) {
  const array& t = tangents[0];
  return {array(shape_, t.dtype(), std::make_shared<AsStrided>(stream(), shape_, strides_, offset_),
                {t})};
}

// The view reads its input's elements in row-major order. With the batch axis in front, the
// batched input's row-major order is the examples' orders one after the other, n elements
// each: one view with a leading axis of stride n reaches every example's elements.
std::pair<Arrays, Ints> AsStrided::vmap(const Arrays& in, const Ints& axes) {
  const int64_t batch = in[0].shape(axes[0]);
  array x = vmap_to_front(in[0], axes[0], batch);
  const Shape& example = x.shape();
  const int64_t n = shape_size(Shape(example.begin() + 1, example.end()));
  Shape shape = shape_;
  shape.insert(shape.begin(), batch);
  Strides strides = strides_;
  strides.insert(strides.begin(), n);
  return {{as_strided(x, shape, strides, offset_, stream())}, {0}};
}

// ---- View ----

std::vector<Shape> View::output_shapes(const Arrays& in) {
  Shape shape = in[0].shape();
  const size_t from = size_of(in[0].dtype()), to = size_of(dtype_);
  if (!shape.empty() && from != to) shape.back() = shape.back() * int64_t(from) / int64_t(to);
  return {shape};
}

bool View::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const View*>(&other);
  return o && o->dtype_ == dtype_;
}

// Only the last axis is rescaled: the batch axis stays unless it is the last one (then it goes
// in front, where the view does not touch it).
std::pair<Arrays, Ints> View::vmap(const Arrays& in, const Ints& axes) {
  int b = axes[0];
  array x = in[0];
  if (b == x.ndim() - 1 && size_of(x.dtype()) != size_of(dtype_)) {
    x = moveaxis(x, b, 0, stream());
    b = 0;
  }
  return {{view(x, dtype_, stream())}, {b}};
}

// ---- Depends ----

std::vector<Shape> Depends::output_shapes(const Arrays& in) {
  std::vector<Shape> shapes;
  for (int i = 0; i < num_outputs_; ++i) shapes.push_back(in[i].shape());
  return shapes;
}

bool Depends::is_equivalent(const Primitive&) const {
  // Two Depends nodes with equal inputs are interchangeable, but merging them would gain
  // nothing and could reorder side effects a caller relies on.
  return false;
}

void Depends::eval_cpu(const Arrays& inputs, Arrays& outputs) {
  for (int i = 0; i < num_outputs_; ++i) outputs[i].copy_shared_buffer(inputs[i]);
}

Arrays Depends::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums, const Arrays&) {
  Arrays out;
  for (int a : argnums) {
    out.push_back(a < num_outputs_ ? cts[a] : zeros_like(primals[a], stream()));
  }
  return out;
}

Arrays Depends::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  Arrays out;
  for (int i = 0; i < num_outputs_; ++i) {
    array t = zeros_like(primals[i], stream());
    for (size_t k = 0; k < argnums.size(); ++k) {
      if (argnums[k] == i) t = tangents[k];
    }
    out.push_back(t);
  }
  return out;
}

// The same ordering on the batched inputs; each output keeps its input's batch axis. An output
// of an unbatched input is broadcast along the batch (a view) rather than left unbatched: it
// still depends on a mapped input, so the replay visits its consumers, and their rules expect
// at least one batched input.
std::pair<Arrays, Ints> Depends::vmap(const Arrays& in, const Ints& axes) {
  const int64_t batch = vmap_batch_size(in, axes);
  Arrays xs(in.begin(), in.begin() + num_outputs_), ds(in.begin() + num_outputs_, in.end());
  Arrays outs = depends(xs, ds);
  Ints out_axes(axes.begin(), axes.begin() + num_outputs_);
  for (int i = 0; i < num_outputs_; ++i) {
    if (out_axes[i] < 0) {
      outs[i] = vmap_to_front(outs[i], -1, batch);
      out_axes[i] = 0;
    }
  }
  return {outs, out_axes};
}

// ---- Hadamard ----

int hadamard_order_of(int64_t n) {
  if (n <= 0) return 0;
  int64_t odd = n;
  while (odd % 2 == 0) odd /= 2;
  // m = 4 * odd for m = 12, 20, 28 (odd 3, 5, 7), which needs n to be a multiple of 4.
  if (odd == 1) return 1;
  if ((odd == 3 || odd == 5 || odd == 7) && n % (4 * odd) == 0) return int(4 * odd);
  return 0;
}

std::vector<Shape> Hadamard::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool Hadamard::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Hadamard*>(&other);
  return o && o->scale_ == scale_ && o->transposed_ == transposed_;
}

Arrays Hadamard::vjp(const Arrays&, const Arrays& cts, const Ints&, const Arrays&) {
  const array& c = cts[0];
  return {array(c.shape(), c.dtype(), std::make_shared<Hadamard>(stream(), scale_, !transposed_),
                {c})};
}

Arrays Hadamard::jvp(const Arrays&, const Arrays& tangents, const Ints&) {
  const array& t = tangents[0];
  return {array(t.shape(), t.dtype(), std::make_shared<Hadamard>(stream(), scale_, transposed_),
                {t})};
}

// The transform runs along the last axis: the batch axis stays unless it is the last one.
std::pair<Arrays, Ints> Hadamard::vmap(const Arrays& in, const Ints& axes) {
  int b = axes[0];
  array x = in[0];
  if (b == x.ndim() - 1) {
    x = moveaxis(x, b, 0, stream());
    b = 0;
  }
  return {{array(x.shape(), x.dtype(), std::make_shared<Hadamard>(stream(), scale_), {x})}, {b}};
}

}  // namespace pullback
