// Shape rules and derivatives of the linalg primitives. The derivative rules are built from ops
// (matmul, triangular solves, masks), so higher derivatives follow.
//
// Matrices that a kernel reads only one triangle of (cholesky, eigh, tri_inv,
// solve_triangular) get derivatives with respect to that triangle: the other one's entries do
// not change the result, so their cotangents are zero, as finite differences see it.
#include "pullback/primitives/linalg.h"

#include <algorithm>

#include "pullback/ops.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

namespace {

array mT(const array& x, Stream s) { return swapaxes(x, -1, -2, s); }
array mm(const array& a, const array& b, Stream s) { return matmul(a, b, s); }

// Columns [lo, hi) (axis -1) or rows (axis -2) of a stack of matrices.
array part(const array& x, int axis, int64_t lo, int64_t hi, Stream s) {
  Shape start(x.ndim(), 0), stop = x.shape(), step(x.ndim(), 1);
  const int ax = axis < 0 ? axis + x.ndim() : axis;
  start[ax] = lo;
  stop[ax] = hi;
  return slice(x, start, stop, step, s);
}

array diag_of(const array& x, Stream s) { return diagonal(x, 0, -2, -1, s); }

// The stack of diagonal matrices with the vectors v (..., k) on their diagonals.
array diag_embed(const array& v, Stream s) {
  return multiply(expand_dims(v, {-2}, s), identity(v.shape(-1), v.dtype(), s), s);
}

// x with its columns (rows) scaled by v: x diag(v) (diag(v) x).
array scale_cols(const array& x, const array& v, Stream s) {
  return multiply(x, expand_dims(v, {-2}, s), s);
}
array scale_rows(const array& x, const array& v, Stream s) {
  return multiply(x, expand_dims(v, {-1}, s), s);
}

// F_ij = 1 / (v_j - v_i) off the diagonal, 0 on it (the diagonal is never divided by zero, so
// that higher derivatives stay finite there).
array gap_reciprocals(const array& v, Stream s) {
  array diff = subtract(expand_dims(v, {-2}, s), expand_dims(v, {-1}, s), s);
  array on_diag = astype(identity(v.shape(-1), Dtype::bool_, s), Dtype::bool_, s);
  array zero(0.0, v.dtype()), one(1.0, v.dtype());
  return where(on_diag, zero, reciprocal(where(on_diag, one, diff, s), s), s);
}

// The triangle (lower, or upper) of x including the diagonal, or strictly below/above it.
array triangle(const array& x, bool upper, bool strict, Stream s) {
  if (upper) return triu(x, strict ? 1 : 0, s);
  return tril(x, strict ? -1 : 0, s);
}

// The symmetric matrix that a kernel reading only one triangle of x sees.
array symmetric_from(const array& x, bool upper, Stream s) {
  return add(triangle(x, upper, false, s), mT(triangle(x, upper, true, s), s), s);
}

// The cotangent of the triangle that a kernel read, given the cotangent G of the symmetric
// matrix it saw (the adjoint of symmetric_from).
array onto_triangle(const array& g, bool upper, Stream s) {
  array both = triangle(add(g, mT(g, s), s), upper, false, s);
  return subtract(both, multiply(g, identity(g.shape(-1), g.dtype(), s), s), s);
}

array inverse_node(const array& a, InverseKind kind, Stream s) {
  return array(a.shape(), a.dtype(), std::make_shared<Inverse>(s, kind), {a});
}

array solve_node(const array& a, const array& b, bool triangular, bool upper, Stream s) {
  return array(b.shape(), b.dtype(), std::make_shared<Solve>(s, triangular, upper), {a, b});
}

Arrays svd_uv(const array& a, Stream s) {
  auto prim = std::make_shared<SVD>(s, true);
  return array::make_arrays(prim->output_shapes({a}), {a.dtype(), a.dtype(), a.dtype()}, prim,
                            {a});
}

Arrays eigh_vectors(const array& a, bool upper, Stream s) {
  auto prim = std::make_shared<Eigh>(s, upper, true);
  return array::make_arrays(prim->output_shapes({a}), {a.dtype(), a.dtype()}, prim, {a});
}

// The tangent given for input i, or zeros.
array tangent_of(const Arrays& primals, const Arrays& tangents, const Ints& argnums, int i,
                 Stream s) {
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == i) return tangents[k];
  }
  return zeros_like(primals[i], s);
}

// MLX differentiates neither svd nor eigh of a complex matrix; neither do we.
void refuse_complex(const array& a, const char* prim, const char* transform) {
  if (a.dtype() == Dtype::complex64) {
    throw std::invalid_argument(std::string("[") + prim + "] The " + transform +
                                " of a complex64 input is not supported.");
  }
}

Shape batch_shape(const array& a) { return Shape(a.shape().begin(), a.shape().end() - 2); }

Shape with_tail(Shape batch, std::initializer_list<int64_t> tail) {
  batch.insert(batch.end(), tail.begin(), tail.end());
  return batch;
}

}  // namespace

// ---- Inverse ----

std::vector<Shape> Inverse::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool Inverse::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Inverse*>(&other);
  return o && o->kind_ == kind_;
}

Arrays Inverse::vjp(const Arrays&, const Arrays& cts, const Ints&, const Arrays& outputs) {
  Stream s = stream();
  array yt = mT(outputs[0], s);
  array g = negative(mm(mm(yt, cts[0], s), yt, s), s);
  if (kind_ == InverseKind::General) return {g};
  return {triangle(g, kind_ == InverseKind::Upper, false, s)};
}

Arrays Inverse::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  Stream s = stream();
  array y = inverse_node(primals[0], kind_, s);
  array t = tangents[0];
  if (kind_ != InverseKind::General) t = triangle(t, kind_ == InverseKind::Upper, false, s);
  return {negative(mm(mm(y, t, s), y, s), s)};
}

// ---- Solve ----

std::vector<Shape> Solve::output_shapes(const Arrays& in) { return {in[1].shape()}; }

bool Solve::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Solve*>(&other);
  return o && o->triangular_ == triangular_ && o->upper_ == upper_;
}

Arrays Solve::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                  const Arrays& outputs) {
  Stream s = stream();
  const array& a = primals[0];
  // B's cotangent solves with A^T (a triangular A^T has the other triangle).
  array gb = solve_node(mT(a, s), cts[0], triangular_, !upper_, s);
  Arrays out;
  for (int i : argnums) {
    if (i == 1) {
      out.push_back(gb);
      continue;
    }
    array ga = negative(mm(gb, mT(outputs[0], s), s), s);
    out.push_back(triangular_ ? triangle(ga, upper_, false, s) : ga);
  }
  return out;
}

Arrays Solve::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  Stream s = stream();
  const array& a = primals[0];
  array x = solve_node(a, primals[1], triangular_, upper_, s);
  array ta = tangent_of(primals, tangents, argnums, 0, s);
  if (triangular_) ta = triangle(ta, upper_, false, s);
  array rhs = subtract(tangent_of(primals, tangents, argnums, 1, s), mm(ta, x, s), s);
  return {solve_node(a, rhs, triangular_, upper_, s)};
}

// ---- vmap ----
// Every primitive here already treats each axis before the last two as a batch axis, so a
// vmapped batch axis among those stays where it is (nothing moves or copies) and the outputs,
// whose leading axes are the input's, carry it at the same place. Only a batch axis that sits
// among the matrix axes (in_axes pointing at a row or column axis) moves to the front.

namespace {

// `x` with its batch `axis` (-1: none) at `pos`: moved there, or, when unbatched, broadcast to
// `batch` examples there (a view).
array batch_axis_at(const array& x, int axis, int pos, int64_t batch, Stream s) {
  if (axis == pos) return x;
  if (axis >= 0) return moveaxis(x, axis, pos, s);
  Shape shape = x.shape();
  shape.insert(shape.begin() + pos, batch);
  return broadcast_to(expand_dims(x, {pos}, s), shape, s);
}

// Where the batch axis of a batched stack of matrices can stay: in place among the leading
// axes, else in front.
int stack_position(const array& x, int axis) { return axis < x.ndim() - 2 ? axis : 0; }

// The primitive `prim` applied to the batched matrix `x`, with every output's batch axis.
std::pair<Arrays, Ints> vmap_matrix_op(std::shared_ptr<Primitive> prim, const array& x, int axis,
                                       const std::vector<Dtype>& dtypes) {
  const int pos = stack_position(x, axis);
  array a = batch_axis_at(x, axis, pos, 0, prim->stream());
  Arrays out = array::make_arrays(prim->output_shapes({a}), dtypes, prim, {a});
  return {out, Ints(out.size(), pos)};
}

}  // namespace

std::pair<Arrays, Ints> Inverse::vmap(const Arrays& in, const Ints& axes) {
  return vmap_matrix_op(std::make_shared<Inverse>(stream(), kind_), in[0], axes[0],
                        {in[0].dtype()});
}

std::pair<Arrays, Ints> Solve::vmap(const Arrays& in, const Ints& axes) {
  Stream s = stream();
  const array &a = in[0], &b = in[1];
  const int nd = b.ndim();  // one more than an example's: both inputs have the same rank
  if (axes[0] < 0) {
    // One matrix for all examples: their right-hand sides become more columns of one system,
    // (..., n, B, k) -> (..., n, B k), so that A is factored (or read by trsm) once, not B
    // times. The solution's columns split back the same way, the batch axis before k.
    array rhs = batch_axis_at(b, axes[1], nd - 2, 0, s);
    Shape split = rhs.shape();
    Shape merged(split.begin(), split.end() - 2);
    merged.push_back(split[nd - 2] * split[nd - 1]);
    array x = solve_node(a, reshape(rhs, merged, s), triangular_, upper_, s);
    return {{reshape(x, split, s)}, {nd - 2}};
  }
  const int64_t batch = vmap_batch_size(in, axes);
  int pos = stack_position(a, axes[0]);
  // A batch axis among a's matrix axes goes where b's can stay.
  if (axes[0] >= a.ndim() - 2 && axes[1] >= 0) pos = stack_position(b, axes[1]);
  array aa = batch_axis_at(a, axes[0], pos, batch, s);
  array bb = batch_axis_at(b, axes[1], pos, batch, s);
  return {{solve_node(aa, bb, triangular_, upper_, s)}, {pos}};
}

// ---- Cholesky ----
// A = L L^T gives dL = L Phi(L^-1 dA L^-T), Phi taking the lower triangle with its diagonal
// halved; the vjp is the adjoint of that map.

namespace {
array phi(const array& x, Stream s) {
  array half_diag = multiply(x, identity(x.shape(-1), x.dtype(), s), s);
  return subtract(tril(x, 0, s), multiply(half_diag, array(0.5, x.dtype()), s), s);
}
}  // namespace

std::vector<Shape> Cholesky::output_shapes(const Arrays& in) { return {in[0].shape()}; }

Arrays Cholesky::vjp(const Arrays&, const Arrays& cts, const Ints&, const Arrays& outputs) {
  Stream s = stream();
  const array& l = outputs[0];
  array lt = mT(l, s);
  array z = phi(mm(lt, cts[0], s), s);
  // G = L^-T Z L^-1, by two solves with the upper triangular L^T.
  array g1 = solve_node(lt, z, true, true, s);
  array g = mT(solve_node(lt, mT(g1, s), true, true, s), s);
  return {onto_triangle(multiply(add(g, mT(g, s), s), array(0.5, g.dtype()), s), false, s)};
}

Arrays Cholesky::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  Stream s = stream();
  array l = array(primals[0].shape(), primals[0].dtype(), std::make_shared<Cholesky>(stream()),
                  {primals[0]});
  array ds = symmetric_from(tangents[0], false, s);
  array w1 = solve_node(l, ds, true, false, s);
  array w = mT(solve_node(l, mT(w1, s), true, false, s), s);
  return {mm(l, phi(w, s), s)};
}

std::pair<Arrays, Ints> Cholesky::vmap(const Arrays& in, const Ints& axes) {
  return vmap_matrix_op(std::make_shared<Cholesky>(stream()), in[0], axes[0], {in[0].dtype()});
}

// ---- QR ----

std::vector<Shape> QR::output_shapes(const Arrays& in) {
  const int64_t m = in[0].shape(-2), n = in[0].shape(-1), k = std::min(m, n);
  Shape b = batch_shape(in[0]);
  return {with_tail(b, {m, k}), with_tail(b, {k, n})};
}

namespace {

// The vjp of A = Q R for m >= n (R square and invertible).
array qr_tall_vjp(const array& q, const array& r, const array& gq, const array& gr, Stream s) {
  array m = subtract(mm(r, mT(gr, s), s), mm(mT(gq, s), q, s), s);
  array copyltu = add(tril(m, 0, s), mT(tril(m, -1, s), s), s);
  array x = add(gq, mm(q, copyltu, s), s);
  // X R^-T = (R^-1 X^T)^T
  return mT(solve_node(r, mT(x, s), true, true, s), s);
}

// The tangents (dQ, dR) of A = Q R for m >= n.
std::pair<array, array> qr_tall_jvp(const array& q, const array& r, const array& da, Stream s) {
  array dar = mT(solve_node(mT(r, s), mT(da, s), true, false, s), s);  // dA R^-1
  array c = mm(mT(q, s), dar, s);
  array low = tril(c, -1, s);
  array upper_part = add(subtract(c, low, s), mT(low, s), s);  // C - (low - low^T)
  return {subtract(dar, mm(q, upper_part, s), s), mm(upper_part, r, s)};
}

}  // namespace

Arrays QR::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays& outputs) {
  Stream s = stream();
  const array& a = primals[0];
  const array &q = outputs[0], &r = outputs[1];
  const int64_t m = a.shape(-2), n = a.shape(-1);
  if (m >= n) return {qr_tall_vjp(q, r, cts[0], cts[1], s)};
  // A = [X | Y] with X square: X = Q U and Y = Q V for R = [U | V].
  array y = part(a, -1, m, n, s);
  array u = part(r, -1, 0, m, s);
  array gu = part(cts[1], -1, 0, m, s), gv = part(cts[1], -1, m, n, s);
  array gy = mm(q, gv, s);
  array gx = qr_tall_vjp(q, u, add(cts[0], mm(y, mT(gv, s), s), s), gu, s);
  return {concatenate({gx, gy}, -1, s)};
}

Arrays QR::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  Stream s = stream();
  const array& a = primals[0];
  auto prim = std::make_shared<QR>(s);
  Arrays qr = array::make_arrays(output_shapes({a}), {a.dtype(), a.dtype()}, prim, {a});
  const int64_t m = a.shape(-2), n = a.shape(-1);
  if (m >= n) {
    auto [dq, dr] = qr_tall_jvp(qr[0], qr[1], tangents[0], s);
    return {dq, dr};
  }
  array v = part(qr[1], -1, m, n, s);
  auto [dq, du] = qr_tall_jvp(qr[0], part(qr[1], -1, 0, m, s), part(tangents[0], -1, 0, m, s), s);
  array dy = part(tangents[0], -1, m, n, s);
  array dv = mm(mT(qr[0], s), subtract(dy, mm(dq, v, s), s), s);
  return {dq, concatenate({du, dv}, -1, s)};
}

std::pair<Arrays, Ints> QR::vmap(const Arrays& in, const Ints& axes) {
  const Dtype t = in[0].dtype();
  return vmap_matrix_op(std::make_shared<QR>(stream()), in[0], axes[0], {t, t});
}

// ---- SVD ----
// With U (m, k), V (n, k) the leading singular vectors and F_ij = 1 / (s_j^2 - s_i^2):
// dP = U^T dA V, dS = diag(dP), U^T dU = F o (dP S + S dP^T), V^T dV = F o (S dP + dP^T S),
// plus, for a rectangular A, the parts of dU (dV) outside U's (V's) columns.

std::vector<Shape> SVD::output_shapes(const Arrays& in) {
  const int64_t m = in[0].shape(-2), n = in[0].shape(-1), k = std::min(m, n);
  Shape b = batch_shape(in[0]);
  Shape sv = b;
  sv.push_back(k);
  if (!compute_uv_) return {sv};
  return {with_tail(b, {m, m}), sv, with_tail(b, {n, n})};
}

bool SVD::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const SVD*>(&other);
  return o && o->compute_uv_ == compute_uv_;
}

Arrays SVD::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays& outputs) {
  refuse_complex(primals[0], name(), "vjp");
  Stream s = stream();
  const array& a = primals[0];
  const int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  Arrays usv = compute_uv_ ? outputs : svd_uv(a, s);
  array u = part(usv[0], -1, 0, k, s);
  array vt = part(usv[2], -2, 0, k, s);
  const array& sv = usv[1];
  const array& gs = compute_uv_ ? cts[1] : cts[0];
  array g = mm(scale_cols(u, gs, s), vt, s);
  if (!compute_uv_) return {g};
  array v = mT(vt, s);
  array gu = part(cts[0], -1, 0, k, s);
  array gv = mT(part(cts[2], -2, 0, k, s), s);
  array f = gap_reciprocals(square(sv, s), s);
  array utgu = mm(mT(u, s), gu, s), vtgv = mm(mT(v, s), gv, s);
  array j = multiply(f, utgu, s), kk = multiply(f, vtgv, s);
  array inner = add(scale_cols(add(j, mT(j, s), s), sv, s), scale_rows(add(kk, mT(kk, s), s), sv, s), s);
  g = add(g, mm(mm(u, inner, s), vt, s), s);
  array inv_s = reciprocal(sv, s);
  if (m > k) {
    array outside = subtract(gu, mm(u, utgu, s), s);
    g = add(g, mm(scale_cols(outside, inv_s, s), vt, s), s);
  }
  if (n > k) {
    array outside = subtract(gv, mm(v, vtgv, s), s);
    g = add(g, mm(scale_cols(u, inv_s, s), mT(outside, s), s), s);
  }
  return {g};
}

Arrays SVD::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  refuse_complex(primals[0], name(), "jvp");
  Stream s = stream();
  const array& a = primals[0];
  const array& da = tangents[0];
  const int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  Arrays usv = svd_uv(a, s);
  array u = part(usv[0], -1, 0, k, s);
  array v = mT(part(usv[2], -2, 0, k, s), s);
  const array& sv = usv[1];
  array dp = mm(mm(mT(u, s), da, s), v, s);
  array ds = diag_of(dp, s);
  if (!compute_uv_) return {ds};
  array f = gap_reciprocals(square(sv, s), s);
  array dpt = mT(dp, s);
  array du = mm(u, multiply(f, add(scale_cols(dp, sv, s), scale_rows(dpt, sv, s), s), s), s);
  array dv = mm(v, multiply(f, add(scale_rows(dp, sv, s), scale_cols(dpt, sv, s), s), s), s);
  array inv_s = reciprocal(sv, s);
  if (m > k) {
    du = add(du, scale_cols(subtract(mm(da, v, s), mm(u, dp, s), s), inv_s, s), s);
    Shape rest = a.shape();
    rest[rest.size() - 1] = m - k;
    du = concatenate({du, zeros(rest, a.dtype(), s)}, -1, s);
  }
  array dvt = mT(dv, s);
  if (n > k) {
    dvt = mT(add(dv, scale_cols(subtract(mm(mT(da, s), u, s), mm(v, dpt, s), s), inv_s, s), s), s);
    Shape rest = a.shape();
    rest[rest.size() - 2] = n - k;
    dvt = concatenate({dvt, zeros(rest, a.dtype(), s)}, -2, s);
  }
  return {du, ds, dvt};
}

std::pair<Arrays, Ints> SVD::vmap(const Arrays& in, const Ints& axes) {
  return vmap_matrix_op(std::make_shared<SVD>(stream(), compute_uv_), in[0], axes[0],
                        std::vector<Dtype>(compute_uv_ ? 3 : 1, in[0].dtype()));
}

// ---- Eigh ----
// A V = V diag(w): dw = diag(V^T dA V), dV = V (F o (V^T dA V)) with F_ij = 1 / (w_j - w_i).

std::vector<Shape> Eigh::output_shapes(const Arrays& in) {
  Shape w = in[0].shape();
  w.pop_back();
  if (!vectors_) return {w};
  return {w, in[0].shape()};
}

bool Eigh::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Eigh*>(&other);
  return o && o->upper_ == upper_ && o->vectors_ == vectors_;
}

Arrays Eigh::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays& outputs) {
  refuse_complex(primals[0], name(), "vjp");
  Stream s = stream();
  Arrays wv = vectors_ ? outputs : eigh_vectors(primals[0], upper_, s);
  const array &w = wv[0], &v = wv[1];
  array inner = diag_embed(cts[0], s);
  if (vectors_) {
    inner = add(inner, multiply(gap_reciprocals(w, s), mm(mT(v, s), cts[1], s), s), s);
  }
  array g = mm(mm(v, inner, s), mT(v, s), s);
  return {onto_triangle(multiply(add(g, mT(g, s), s), array(0.5, g.dtype()), s), upper_, s)};
}

Arrays Eigh::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  refuse_complex(primals[0], name(), "jvp");
  Stream s = stream();
  Arrays wv = eigh_vectors(primals[0], upper_, s);
  const array &w = wv[0], &v = wv[1];
  array p = mm(mm(mT(v, s), symmetric_from(tangents[0], upper_, s), s), v, s);
  array dw = diag_of(p, s);
  if (!vectors_) return {dw};
  return {dw, mm(v, multiply(gap_reciprocals(w, s), p, s), s)};
}

std::pair<Arrays, Ints> Eigh::vmap(const Arrays& in, const Ints& axes) {
  return vmap_matrix_op(std::make_shared<Eigh>(stream(), upper_, vectors_), in[0], axes[0],
                        std::vector<Dtype>(vectors_ ? 2 : 1, in[0].dtype()));
}

// ---- Eig, LUFactor (no derivatives) ----

std::vector<Shape> Eig::output_shapes(const Arrays& in) {
  Shape w = in[0].shape();
  w.pop_back();
  if (!vectors_) return {w};
  return {w, in[0].shape()};
}

bool Eig::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Eig*>(&other);
  return o && o->vectors_ == vectors_;
}

std::vector<Shape> LUFactor::output_shapes(const Arrays& in) {
  const int64_t m = in[0].shape(-2), n = in[0].shape(-1);
  Shape b = batch_shape(in[0]);
  Shape piv = b, perm = b;
  piv.push_back(std::min(m, n));
  perm.push_back(m);
  return {in[0].shape(), piv, perm};
}

std::pair<Arrays, Ints> Eig::vmap(const Arrays& in, const Ints& axes) {
  return vmap_matrix_op(std::make_shared<Eig>(stream(), vectors_), in[0], axes[0],
                        std::vector<Dtype>(vectors_ ? 2 : 1, Dtype::complex64));
}

std::pair<Arrays, Ints> LUFactor::vmap(const Arrays& in, const Ints& axes) {
  return vmap_matrix_op(std::make_shared<LUFactor>(stream()), in[0], axes[0],
                        {in[0].dtype(), Dtype::uint32, Dtype::uint32});
}

// ---- Determinant ----
// d log|det A| = tr(A^-1 dA), d det A = det A tr(A^-1 dA).

std::vector<Shape> Determinant::output_shapes(const Arrays& in) {
  Shape b = batch_shape(in[0]);
  if (!log_) return {b};
  return {b, b};
}

bool Determinant::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Determinant*>(&other);
  return o && o->log_ == log_;
}

Arrays Determinant::vjp(const Arrays& primals, const Arrays& cts, const Ints&,
                        const Arrays& outputs) {
  Stream s = stream();
  array scale = log_ ? cts[1] : multiply(cts[0], outputs[0], s);
  array inv_t = mT(inverse_node(primals[0], InverseKind::General, s), s);
  return {multiply(expand_dims(scale, {-2, -1}, s), inv_t, s)};
}

Arrays Determinant::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  Stream s = stream();
  const array& a = primals[0];
  array tr = sum(diag_of(solve_node(a, tangents[0], false, false, s), s), Axes{-1}, false, s);
  if (log_) {
    return {zeros(batch_shape(a), a.dtype(), s), tr};
  }
  array d = array(batch_shape(a), a.dtype(), std::make_shared<Determinant>(s, false), {a});
  return {multiply(d, tr, s)};
}

std::pair<Arrays, Ints> Determinant::vmap(const Arrays& in, const Ints& axes) {
  return vmap_matrix_op(std::make_shared<Determinant>(stream(), log_), in[0], axes[0],
                        std::vector<Dtype>(log_ ? 2 : 1, in[0].dtype()));
}

}  // namespace pullback
