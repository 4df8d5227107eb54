#include "pullback/primitives/random.h"

#include <stdexcept>

#include "pullback/ops.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

namespace {

Dtype bits_dtype(int width) {
  return width == 1 ? Dtype::uint8 : width == 2 ? Dtype::uint16 : Dtype::uint32;
}

// keys.shape[:-1] + shape: one block of `shape` per key.
Shape per_key_shape(const array& keys, const Shape& shape, const char* name) {
  if (keys.ndim() < 1 || keys.shape(-1) != 2) {
    throw std::invalid_argument(std::string("[") + name + "] Keys must have shape (..., 2); got " +
                                shape_str(keys.shape()) + ".");
  }
  Shape out(keys.shape().begin(), keys.shape().end() - 1);
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}

// The keys with their batch axis first (the layout the kernels take as a batch of keys).
array batch_first(const array& keys, int axis) {
  return axis == 0 ? keys : moveaxis(keys, axis, 0);
}

}  // namespace

// ---- RandomBits ----

std::vector<Shape> RandomBits::output_shapes(const Arrays& in) {
  return {per_key_shape(in[0], shape_, name())};
}

bool RandomBits::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const RandomBits*>(&other);
  return o && o->shape_ == shape_ && o->width_ == width_;
}

// Bits are integers: nothing flows back to the (integer) key, and tangents are zero.
Arrays RandomBits::vjp(const Arrays& primals, const Arrays&, const Ints&, const Arrays&) {
  return {zeros_like(primals[0], stream())};
}

Arrays RandomBits::jvp(const Arrays& primals, const Arrays&, const Ints&) {
  return {zeros(per_key_shape(primals[0], shape_, name()), bits_dtype(width_), stream())};
}

std::pair<Arrays, Ints> RandomBits::vmap(const Arrays& in, const Ints& axes) {
  if (axes[0] < 0) {
    return {{array(output_shapes(in)[0], bits_dtype(width_),
                   std::make_shared<RandomBits>(stream(), shape_, width_), in)},
            {-1}};
  }
  array keys = batch_first(in[0], axes[0]);
  return {{array(per_key_shape(keys, shape_, name()), bits_dtype(width_),
                 std::make_shared<RandomBits>(stream(), shape_, width_), {keys})},
          {0}};
}

// ---- RandomNormal ----

std::vector<Shape> RandomNormal::output_shapes(const Arrays& in) {
  return {per_key_shape(in[0], shape_, name())};
}

bool RandomNormal::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const RandomNormal*>(&other);
  return o && o->shape_ == shape_ && o->dtype_ == dtype_ && o->scaled_ == scaled_;
}

// The samples do not depend differentiably on the (integer) key.
Arrays RandomNormal::vjp(const Arrays& primals, const Arrays&, const Ints&, const Arrays&) {
  return {zeros_like(primals[0], stream())};
}

Arrays RandomNormal::jvp(const Arrays& primals, const Arrays&, const Ints&) {
  return {zeros(per_key_shape(primals[0], shape_, name()), dtype_, stream())};
}

std::pair<Arrays, Ints> RandomNormal::vmap(const Arrays& in, const Ints& axes) {
  auto node = std::make_shared<RandomNormal>(stream(), shape_, dtype_, scaled_);
  if (axes[0] < 0) return {{array(output_shapes(in)[0], dtype_, node, in)}, {-1}};
  array keys = batch_first(in[0], axes[0]);
  return {{array(per_key_shape(keys, shape_, name()), dtype_, node, {keys})}, {0}};
}

}  // namespace pullback
