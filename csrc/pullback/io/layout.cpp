#include "pullback/io/layout.h"

#include <stdexcept>

#include "pullback/ops.h"

namespace pullback::io {

uint64_t payload_bytes(const Shape& shape, Dtype dtype, const Source& src) {
  uint64_t n = size_of(dtype);
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n) || n > (uint64_t(1) << 62)) {
      throw std::runtime_error(std::string("[") + src.op() + "] '" + src.name() +
                               "' describes an array of shape " + shape_str(shape) +
                               ", too large for any file (corrupt header).");
    }
  }
  return n;
}

array empty_with_layout(const Shape& shape, Dtype dtype, bool fortran) {
  array out(std::make_shared<ArrayDesc>(shape, dtype));
  auto data = std::make_shared<Data>(out.nbytes());
  int non_unit = 0;
  for (int64_t d : shape) non_unit += d > 1;
  // With at most one axis longer than 1, both orders are the same bytes: keep C strides.
  if (!fortran || non_unit <= 1) {
    out.set_data(std::move(data));
    return out;
  }
  Strides strides(shape.size());
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    strides[i] = stride;
    stride *= shape[i];
  }
  ArrayFlags flags{false, true, true};
  out.set_data(std::move(data), out.size(), std::move(strides), flags);
  return out;
}

array dense_for_writing(const array& a, bool allow_fortran) {
  array x = a;
  x.eval();
  if (x.flags().row_contiguous || (allow_fortran && x.flags().col_contiguous)) return x;
  array c = copy(x);
  c.eval();
  return c;
}

}  // namespace pullback::io
