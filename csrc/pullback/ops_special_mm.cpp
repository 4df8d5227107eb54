// block_masked_mm, gather_mm and segmented_mm, built from matmul, take and elementwise ops so
// that their derivatives (with respect to a and b) come from those ops' rules.
#include "pullback/ops.h"

namespace pullback {

namespace {

// Matmul's operand rule for these ops: one real floating dtype shared by both.
Dtype product_dtype(const char* op, const array& a, const array& b) {
  const Dtype t = promote_types(a.dtype(), b.dtype());
  if (!is_floating(t)) {
    fail(op, std::string("Only real floating point types are supported but ") +
                 dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()) + " were given, which promote to " +
                 dtype_name(t) + ".");
  }
  return t;
}

void check_indices(const char* op, const array& idx, const char* what) {
  if (!is_integral(idx.dtype())) {
    fail(op, std::string("Got ") + what + " with invalid dtype " + dtype_name(idx.dtype()) +
                 "; they must be integers.");
  }
}

Shape batch_of(const array& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }

// A block mask (batch..., rows_blocks, cols_blocks) expanded to one entry per element of a
// (out_batch..., rows, cols) operand, cast to `t`. Throws naming the mask when its shape is off.
array expand_mask(const array& mask, const char* which, const Shape& batch, int64_t rows,
                  int64_t cols, int64_t bs, Dtype t, Stream s) {
  const int64_t rb = (rows + bs - 1) / bs, cb = (cols + bs - 1) / bs;
  Shape want = batch;
  want.push_back(rb);
  want.push_back(cb);
  if (mask.ndim() < 2 || !is_broadcastable(mask.shape(), want)) {
    fail("block_masked_mm", std::string(which) + " of shape " + shape_str(mask.shape()) +
                                " does not broadcast to the block shape " + shape_str(want) + ".");
  }
  if (mask.dtype() == Dtype::complex64) fail("block_masked_mm", std::string(which) + " cannot be complex.");
  array m = broadcast_to(stop_gradient(mask, s), want, s);
  // (..., rb, cb) -> (..., rb, bs, cb, bs) -> (..., rb * bs, cb * bs), then cut to rows, cols.
  Shape spread = batch, blocks = batch, tiled = batch;
  for (int64_t d : {rb, int64_t(1), cb, int64_t(1)}) spread.push_back(d);
  for (int64_t d : {rb, bs, cb, bs}) blocks.push_back(d);
  tiled.push_back(rb * bs);
  tiled.push_back(cb * bs);
  m = reshape(broadcast_to(reshape(m, spread, s), blocks, s), tiled, s);
  if (rb * bs != rows || cb * bs != cols) {
    Shape start(m.ndim(), 0), stop = m.shape(), step(m.ndim(), 1);
    stop[m.ndim() - 2] = rows;
    stop[m.ndim() - 1] = cols;
    m = slice(m, start, stop, step, s);
  }
  return m.dtype() == Dtype::bool_ ? m : astype(m, t, s);
}

// x with a mask applied: bool masks select (so an inf or NaN in a masked-out block is dropped,
// not turned into NaN), numeric masks multiply.
array apply_mask(const array& x, const array& m, Stream s) {
  if (m.dtype() == Dtype::bool_) return where(m, x, zeros({}, x.dtype(), s), s);
  return multiply(x, m, s);
}

}  // namespace

array block_masked_mm(const array& a_in, const array& b_in, int block_size,
                      const std::optional<array>& mask_out, const std::optional<array>& mask_lhs,
                      const std::optional<array>& mask_rhs, Stream s) {
  const char* op = "block_masked_mm";
  if (block_size <= 0) fail(op, "block_size must be positive; got " + std::to_string(block_size) + ".");
  if (a_in.ndim() < 2 || b_in.ndim() < 2) {
    fail(op, "Inputs must have at least two dimensions; got shapes " + shape_str(a_in.shape()) +
                 " and " + shape_str(b_in.shape()) + ".");
  }
  const Dtype t = product_dtype(op, a_in, b_in);
  if (a_in.shape(-1) != b_in.shape(-2)) {
    fail(op, "Last dimension of a " + shape_str(a_in.shape()) +
                 " does not match the second to last of b " + shape_str(b_in.shape()) + ".");
  }
  Shape batch;
  try {
    batch = broadcast_shapes(batch_of(a_in), batch_of(b_in));
  } catch (const std::invalid_argument&) {
    fail(op, "The batch dimensions of a " + shape_str(a_in.shape()) + " and b " +
                 shape_str(b_in.shape()) + " cannot be broadcast together.");
  }
  const int64_t M = a_in.shape(-2), K = a_in.shape(-1), N = b_in.shape(-1), bs = block_size;
  array a = astype(a_in, t, s), b = astype(b_in, t, s);
  // Expand each mask before the product (checking all shapes first, so that errors come out
  // before any node is built for a masked-out operand).
  std::optional<array> ml, mr, mo;
  if (mask_lhs) ml = expand_mask(*mask_lhs, "mask_lhs", batch, M, K, bs, t, s);
  if (mask_rhs) mr = expand_mask(*mask_rhs, "mask_rhs", batch, K, N, bs, t, s);
  if (mask_out) mo = expand_mask(*mask_out, "mask_out", batch, M, N, bs, t, s);
  if (ml) a = apply_mask(a, *ml, s);
  if (mr) b = apply_mask(b, *mr, s);
  array out = matmul(a, b, s);
  return mo ? apply_mask(out, *mo, s) : out;
}

array gather_mm(const array& a_in, const array& b_in, const std::optional<array>& lhs_indices,
                const std::optional<array>& rhs_indices, bool, Stream s) {
  const char* op = "gather_mm";
  if (a_in.ndim() == 0 || b_in.ndim() == 0) {
    fail(op, "Inputs must have at least one dimension; got shapes " + shape_str(a_in.shape()) +
                 " and " + shape_str(b_in.shape()) + ".");
  }
  const Dtype t = product_dtype(op, a_in, b_in);
  if (lhs_indices) check_indices(op, *lhs_indices, "lhs_indices");
  if (rhs_indices) check_indices(op, *rhs_indices, "rhs_indices");
  // NumPy's rule for vectors: a 1-D a is a row, a 1-D b a column, dropped from the result.
  array a = a_in.ndim() == 1 ? reshape(a_in, {1, a_in.shape(0)}, s) : a_in;
  array b = b_in.ndim() == 1 ? reshape(b_in, {b_in.shape(0), 1}, s) : b_in;
  if (a.shape(-1) != b.shape(-2)) {
    fail(op, "Last dimension of a " + shape_str(a_in.shape()) +
                 " does not match the second to last of b " + shape_str(b_in.shape()) + ".");
  }
  const int64_t M = a.shape(-2), K = a.shape(-1), N = b.shape(-1);
  const Shape a_batch = batch_of(a), b_batch = batch_of(b);
  const int64_t A = static_cast<int64_t>(shape_size(a_batch));
  const int64_t B = static_cast<int64_t>(shape_size(b_batch));
  auto index_or_all = [&](const std::optional<array>& idx, int64_t count, const Shape& batch) {
    if (idx) return *idx;
    return reshape(integer_arange(0, count, 1, Dtype::uint32, s), batch, s);
  };
  array li = index_or_all(lhs_indices, A, a_batch);
  array ri = index_or_all(rhs_indices, B, b_batch);
  Shape out_batch;
  try {
    out_batch = broadcast_shapes(li.shape(), ri.shape());
  } catch (const std::invalid_argument&) {
    fail(op, "The index shapes " + shape_str(li.shape()) + " (lhs) and " + shape_str(ri.shape()) +
                 " (rhs) cannot be broadcast together.");
  }
  array ga = take(reshape(astype(a, t, s), {A, M, K}, s), li, 0, s);
  array gb = take(reshape(astype(b, t, s), {B, K, N}, s), ri, 0, s);
  array out = matmul(ga, gb, s);
  if (a_in.ndim() == 1 || b_in.ndim() == 1) {
    Shape squeezed = out_batch;
    if (a_in.ndim() != 1) squeezed.push_back(M);
    if (b_in.ndim() != 1) squeezed.push_back(N);
    out = reshape(out, squeezed, s);
  }
  return out;
}

array segmented_mm(const array& a_in, const array& b_in, const array& segments, Stream s) {
  const char* op = "segmented_mm";
  if (a_in.ndim() != 2 || b_in.ndim() != 2) {
    fail(op, "Batched matmul is not supported: a and b must be 2-D; got shapes " +
                 shape_str(a_in.shape()) + " and " + shape_str(b_in.shape()) + ".");
  }
  const Dtype t = product_dtype(op, a_in, b_in);
  if (!is_integral(segments.dtype())) {
    fail(op, std::string("Got segments with invalid dtype ") + dtype_name(segments.dtype()) +
                 "; segments must be integers.");
  }
  if (segments.ndim() == 0 || segments.shape(-1) != 2) {
    fail(op, "Segments must have shape (..., 2); got " + shape_str(segments.shape()) + ".");
  }
  if (a_in.shape(1) != b_in.shape(0)) {
    fail(op, "Last dimension of a " + shape_str(a_in.shape()) +
                 " does not match the first of b " + shape_str(b_in.shape()) + ".");
  }
  const int64_t K = a_in.shape(1);
  // Which inner positions k each segment holds: lo <= k < hi, one row of K per segment.
  array seg = astype(segments, Dtype::int64, s);
  Shape bounds_shape(segments.shape().begin(), segments.shape().end() - 1);
  bounds_shape.push_back(1);
  const int last = segments.ndim() - 1;
  Shape start(segments.ndim(), 0), stop = segments.shape(), step(segments.ndim(), 1);
  stop[last] = 1;
  array lo = slice(seg, start, stop, step, s);
  start[last] = 1;
  stop[last] = 2;
  array hi = slice(seg, start, stop, step, s);
  array k = integer_arange(0, K, 1, Dtype::int64, s);
  array inside = logical_and(greater_equal(k, lo, s), less(k, hi, s), s);  // (..., K)
  Shape row_mask = inside.shape();
  row_mask.insert(row_mask.end() - 1, 1);  // (..., 1, K): the same for every row of a
  array a = where(reshape(inside, row_mask, s), astype(a_in, t, s), zeros({}, t, s), s);
  return matmul(a, astype(b_in, t, s), s);
}

}  // namespace pullback
