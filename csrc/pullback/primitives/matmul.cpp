#include "pullback/primitives/matmul.h"

#include <stdexcept>

#include "pullback/ops.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

Shape matmul_output_shape(const Shape& a, const Shape& b) {
  const size_t na = a.size(), nb = b.size();
  if (a[na - 1] != b[nb - 2]) {
    throw std::invalid_argument("[matmul] Last dimension of a " + shape_str(a) +
                                " does not match the second to last of b " + shape_str(b) + ".");
  }
  const size_t batch_a = na - 2, batch_b = nb - 2;
  const size_t batch = batch_a > batch_b ? batch_a : batch_b;
  Shape out(batch + 2);
  for (size_t i = 0; i < batch; ++i) {
    // Right-aligned: axis i of the output batch is axis i - (batch - batch_x) of x.
    int64_t da = i + batch_a >= batch ? a[i + batch_a - batch] : 1;
    int64_t db = i + batch_b >= batch ? b[i + batch_b - batch] : 1;
    if (da != db && da != 1 && db != 1) {
      throw std::invalid_argument("[matmul] The batch dimensions of a " + shape_str(a) +
                                  " and b " + shape_str(b) + " cannot be broadcast together.");
    }
    out[i] = da == 1 ? db : da;
  }
  out[batch] = a[na - 2];
  out[batch + 1] = b[nb - 1];
  return out;
}

std::vector<Shape> Matmul::output_shapes(const Arrays& in) {
  return {matmul_output_shape(in[0].shape(), in[1].shape())};
}

namespace {

// Sums `x` over the axes that broadcasting added or stretched to reach it from `shape`.
array sum_to_shape(const array& x, const Shape& shape, Stream s) {
  if (x.shape() == shape) return x;
  const int lead = x.ndim() - static_cast<int>(shape.size());
  Axes axes;
  for (int i = 0; i < x.ndim(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && x.shape(i) != 1)) axes.push_back(i);
  }
  array r = axes.empty() ? x : sum(x, axes, /*keepdims=*/true, s);
  return r.shape() == shape ? r : reshape(r, shape, s);
}

int64_t batch_size_of(const Shape& shape) {
  int64_t n = 1;
  for (size_t i = 0; i + 2 < shape.size(); ++i) n *= shape[i];
  return n;
}

}  // namespace

Arrays Matmul::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums, const Arrays&) {
  const array& g = cts[0];
  const Stream s = stream();
  // The complex rule takes conjugate transposes (see Unary::vjp); conjugate is the
  // identity on real arrays, so this costs nothing for them.
  const array a = conjugate(primals[0], s);
  const array b = conjugate(primals[1], s);
  Arrays grads;
  for (int arg : argnums) {
    if (arg == 0) {
      // dA = dC @ B^T, summed over the batch axes that broadcasting stretched A along.
      grads.push_back(sum_to_shape(matmul(g, swapaxes(b, -1, -2, s), s), a.shape(), s));
    } else if (b.ndim() == 2 && a.ndim() > 2) {
      // B was shared by every batch entry: stacking the batch into the rows gives the
      // summed product in one gemm, rather than one per entry followed by a sum.
      // With a 2-D B the batch axes all come from A, so A's rows line up with dC's.
      const int64_t k = a.shape(-1), n = b.shape(-1);
      const int64_t rows = batch_size_of(g.shape()) * a.shape(-2);
      array a_rows = reshape(a, {rows, k}, s);
      grads.push_back(matmul(transpose(a_rows, s), reshape(g, {rows, n}, s), s));
    } else {
      // dB = A^T @ dC, summed over the batch axes that broadcasting stretched B along.
      grads.push_back(sum_to_shape(matmul(swapaxes(a, -1, -2, s), g, s), b.shape(), s));
    }
  }
  return grads;
}

Arrays Matmul::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  const Stream s = stream();
  array out;
  for (size_t i = 0; i < argnums.size(); ++i) {
    array term = argnums[i] == 0 ? matmul(tangents[i], primals[1], s)
                                 : matmul(primals[0], tangents[i], s);
    out = out.valid() ? add(out, term, s) : term;
  }
  return {out};
}

}  // namespace pullback
