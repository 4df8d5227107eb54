#include "pullback/primitives/special.h"

#include "pullback/ops.h"

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

}  // namespace pullback
