#include <memory>
#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "pullback/primitives/matmul.h"

namespace pullback {

array matmul(const array& a_in, const array& b_in, Stream s) {
  if (a_in.ndim() == 0 || b_in.ndim() == 0) {
    throw std::invalid_argument("[matmul] Got a 0-dimensional input (a " + shape_str(a_in.shape()) +
                                ", b " + shape_str(b_in.shape()) +
                                "); inputs must have at least one dimension.");
  }
  const Dtype out_type = promote_types(a_in.dtype(), b_in.dtype());
  if (!is_floating(out_type) && out_type != Dtype::complex64) {
    throw std::invalid_argument(std::string("[matmul] Only real floating point types are supported but ") +
                                dtype_name(a_in.dtype()) + " and " + dtype_name(b_in.dtype()) +
                                " were given, which promote to " + dtype_name(out_type) + ".");
  }
  const int64_t a_inner = a_in.shape(-1);
  const int64_t b_inner = b_in.ndim() == 1 ? b_in.shape(0) : b_in.shape(-2);
  if (a_inner != b_inner) {
    throw std::invalid_argument("[matmul] Last dimension of a " + shape_str(a_in.shape()) +
                                " does not match the " +
                                (b_in.ndim() == 1 ? "only dimension" : "second to last") + " of b " +
                                shape_str(b_in.shape()) + ".");
  }

  // NumPy's rule for vectors: a 1-D a is a row, a 1-D b a column, and the axis each one
  // gained is dropped from the result.
  array a = a_in.dtype() == out_type ? a_in : astype(a_in, out_type, s);
  array b = b_in.dtype() == out_type ? b_in : astype(b_in, out_type, s);
  if (a.ndim() == 1) a = reshape(a, {1, a.shape(0)}, s);
  if (b.ndim() == 1) b = reshape(b, {b.shape(0), 1}, s);

  Shape out_shape;
  try {
    out_shape = matmul_output_shape(a.shape(), b.shape());
  } catch (const std::invalid_argument&) {
    // Restate with the shapes the caller passed rather than the reshaped ones.
    throw std::invalid_argument("[matmul] The batch dimensions of a " + shape_str(a_in.shape()) +
                                " and b " + shape_str(b_in.shape()) +
                                " cannot be broadcast together.");
  }
  array out(out_shape, out_type, std::make_shared<Matmul>(s), {a, b});

  if (a_in.ndim() == 1 || b_in.ndim() == 1) {
    Shape squeezed(out_shape.begin(), out_shape.end() - 2);
    if (a_in.ndim() != 1) squeezed.push_back(out_shape[out_shape.size() - 2]);
    if (b_in.ndim() != 1) squeezed.push_back(out_shape.back());
    out = reshape(out, squeezed, s);
  }
  return out;
}

}  // namespace pullback
