#include "pullback/primitives/matmul.h"

#include <algorithm>
#include <stdexcept>

#include "pullback/ops.h"
#include "pullback/transforms/vmap.h"

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

namespace {

// `x` with axes i and i + 1 merged into one.
array merge_axes(const array& x, int i, Stream s) {
  Shape shape = x.shape();
  shape[i] *= shape[i + 1];
  shape.erase(shape.begin() + i + 1);
  return reshape(x, std::move(shape), s);
}

// `x` with axis i split into (d0, d1).
array split_axis(const array& x, int i, int64_t d0, int64_t d1, Stream s) {
  Shape shape = x.shape();
  shape[i] = d1;
  shape.insert(shape.begin() + i, d0);
  return reshape(x, std::move(shape), s);
}

// The batched `x` with its batch axis first, then size-1 axes up to `ndim` axes, so that the
// batch axes of the two operands line up for one batched product whose batch axis is 0.
array batch_first(const array& x, int axis, int ndim, Stream s) {
  array y = axis == 0 ? x : moveaxis(x, axis, 0, s);
  if (y.ndim() >= ndim) return y;
  Shape shape = y.shape();
  shape.insert(shape.begin() + 1, ndim - y.ndim(), 1);
  return reshape(y, std::move(shape), s);
}

}  // namespace

// A batch on one side only is folded into that side's matrix: a batched a (batch B, rows M)
// becomes B*M rows, a batched b B*N columns, so the B products are one GEMM (per matrix of the
// other operand's own batch axes) instead of B small ones. The fold is free where the batch axis
// sits next to the rows (columns) already; otherwise it costs a copy of the batched operand,
// which pays for itself except in one case: b batched ahead of K with few rows in a (M <= 2N),
// where the B products re-read only the small a while the copy would move all of b.
// A batch axis among the operand's own batch axes stays in place where the other operand's batch
// axes do not reach it; otherwise (and with both sides batched) the batch axes go first and the
// product runs batched, broadcasting an unbatched operand.
std::pair<Arrays, Ints> Matmul::vmap(const Arrays& in, const Ints& axes) {
  const Stream s = stream();
  const int ba = axes[0], bb = axes[1];
  // Per-example ranks, and that of the per-example output.
  const int ra = in[0].ndim() - (ba >= 0 ? 1 : 0);
  const int rb = in[1].ndim() - (bb >= 0 ? 1 : 0);
  const int ro = std::max(ra, rb);
  const int64_t batch = vmap_batch_size(in, axes);
  if (bb < 0) {
    if (ba == ra - 1) {
      // (..., M, B, K): the rows are already M*B.
      const array out = matmul(merge_axes(in[0], ra - 2, s), in[1], s);
      return {{split_axis(out, ro - 2, in[0].shape(ra - 2), batch, s)}, {ro - 1}};
    }
    if (ba == ra - 2 || ba == ra) {
      // (..., B, M, K), moved there when the batch axis came last (a copy either way: BLAS
      // cannot read matrices whose elements lie B apart in both directions).
      const array a = ba == ra ? moveaxis(in[0], ra, ra - 2, s) : in[0];
      const array out = matmul(merge_axes(a, ra - 2, s), in[1], s);
      return {{split_axis(out, ro - 2, batch, a.shape(ra - 1), s)}, {ro - 2}};
    }
    if (ba <= ra - rb) {
      // One of a's own batch axes, ahead of all of b's: the product broadcasts b over it in
      // place (one tall GEMM in the kernel when b has no batch axes and a's are contiguous).
      return {{matmul(in[0], in[1], s)}, {ba}};
    }
  } else if (ba < 0) {
    if (bb == rb || bb == rb - 1) {
      // (..., K, N, B) or (..., K, B, N): the columns are already N*B or B*N.
      const array out = matmul(in[0], merge_axes(in[1], rb - 1, s), s);
      const int64_t first = bb == rb ? in[1].shape(rb - 1) : batch;
      const int64_t second = bb == rb ? batch : in[1].shape(rb);
      return {{split_axis(out, ro - 1, first, second, s)}, {bb == rb ? ro : ro - 1}};
    }
    const int64_t m = in[0].shape(-2), n = in[1].shape(-1);
    if (m > 2 * n) {
      const array b = moveaxis(in[1], bb, rb - 1, s);  // (..., K, B, N), a copy
      const array out = matmul(in[0], merge_axes(b, rb - 1, s), s);
      return {{split_axis(out, ro - 1, batch, n, s)}, {ro - 1}};
    }
    // One of b's own batch axes, ahead of all of a's: the product broadcasts a over it.
    if (bb <= rb - ra) return {{matmul(in[0], in[1], s)}, {bb}};
  }
  const array a = ba >= 0 ? batch_first(in[0], ba, ro + 1, s) : in[0];
  const array b = bb >= 0 ? batch_first(in[1], bb, ro + 1, s) : in[1];
  return {{matmul(a, b, s)}, {0}};
}

}  // namespace pullback
