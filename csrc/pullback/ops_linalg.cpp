// mx.linalg: each op checks shapes and dtypes (MLX's rules), broadcasts batch axes and builds
// the linalg primitives (primitives/linalg.h); norm, pinv, cross, lu, cholesky_inv and the upper
// variants are compositions of them and of ordinary ops.
#include "pullback/ops_linalg.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "pullback/ops.h"
#include "pullback/primitives/linalg.h"

namespace pullback::linalg {

namespace {

std::string op_name(const char* op) { return std::string("linalg::") + op; }

[[noreturn]] void fail_op(const char* op, const std::string& msg) {
  throw std::invalid_argument("[" + op_name(op) + "] " + msg);
}

array mT(const array& x, Stream s) { return swapaxes(x, -1, -2, s); }

void check_matrix(const array& a, const char* op) {
  if (a.ndim() < 2) {
    fail_op(op, "Arrays must have >= 2 dimensions. Received array with " +
                    std::to_string(a.ndim()) + " dimensions.");
  }
  // LAPACK's integers are 32-bit.
  if (a.shape(-1) > INT_MAX / 2 || a.shape(-2) > INT_MAX / 2) {
    fail_op(op, "Matrices of shape " + shape_str(a.shape()) + " are too large for LAPACK.");
  }
}

void check_square(const array& a, const char* op) {
  check_matrix(a, op);
  if (a.shape(-1) != a.shape(-2)) {
    fail_op(op, "Only defined for square matrices; received shape " + shape_str(a.shape()) + ".");
  }
}

void check_float(const array& a, const char* op) {
  if (a.dtype() != Dtype::float32 && a.dtype() != Dtype::float64) {
    fail_op(op, std::string("Arrays must have type float32 or float64. Received array with type ") +
                    dtype_name(a.dtype()) + ".");
  }
}

// svd, eigh/eigvalsh and eig/eigvals also take complex64, as MLX does (inv, solve, qr,
// cholesky, lu, det... do not, there either).
void check_float_or_complex(const array& a, const char* op) {
  if (a.dtype() != Dtype::complex64) check_float(a, op);
}

// The real dtype of singular values and Hermitian eigenvalues of `a`.
Dtype real_part_type(const array& a) {
  return a.dtype() == Dtype::complex64 ? Dtype::float32 : a.dtype();
}

// The float type det, slogdet and norm compute in: float32 for integers, bool and half floats.
Dtype compute_type(Dtype t) { return t == Dtype::float64 ? Dtype::float64 : Dtype::float32; }

// The dtype they return: half floats keep theirs, integers and bool give float32.
Dtype result_type_of(Dtype t) {
  if (t == Dtype::float16 || t == Dtype::bfloat16 || t == Dtype::float64) return t;
  return Dtype::float32;
}

array cast(const array& a, Dtype t, Stream s) { return a.dtype() == t ? a : astype(a, t, s); }

std::vector<array> node(std::shared_ptr<Primitive> prim, const std::vector<array>& inputs,
                        const std::vector<Dtype>& dtypes) {
  return array::make_arrays(prim->output_shapes(inputs), dtypes, prim, inputs);
}

array single(std::shared_ptr<Primitive> prim, const std::vector<array>& inputs) {
  Shape shape = prim->output_shapes(inputs)[0];
  return array(shape, inputs.back().dtype(), std::move(prim), inputs);
}

// Elements [lo, hi) of x along `axis` (negative: from the end).
array axis_range(const array& x, int axis, int64_t lo, int64_t hi, Stream s) {
  Shape start(x.ndim(), 0), stop = x.shape(), step(x.ndim(), 1);
  const int ax = axis < 0 ? axis + x.ndim() : axis;
  start[ax] = lo;
  stop[ax] = hi;
  return slice(x, start, stop, step, s);
}

// Shared by solve and solve_triangular: the promoted, broadcast operands (b as a matrix) and
// whether b was a vector.
struct SolveOperands {
  array a, b;
  bool vector;
};

SolveOperands solve_operands(const array& a_in, const array& b_in, const char* op, Stream s) {
  Dtype t = promote_types(a_in.dtype(), b_in.dtype());
  if (t != Dtype::float32 && t != Dtype::float64) {
    fail_op(op, std::string("Input arrays must promote to float32 or float64. Received arrays "
                            "with type ") +
                    dtype_name(a_in.dtype()) + " and " + dtype_name(b_in.dtype()) + ".");
  }
  check_square(a_in, op);
  if (b_in.ndim() < 1) fail_op(op, "b must have at least one dimension; received a scalar.");
  const bool vector = b_in.ndim() == 1;
  array b = vector ? expand_dims(b_in, {-1}, s) : b_in;
  const int64_t n = a_in.shape(-1);
  if (b.shape(-2) != n) {
    fail_op(op, "Last dimension of first input with shape " + shape_str(a_in.shape()) +
                    " must match second to last dimension of second input with shape " +
                    shape_str(b_in.shape()) + ".");
  }
  Shape ba(a_in.shape().begin(), a_in.shape().end() - 2);
  Shape bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(ba, bb);
  } catch (const std::invalid_argument&) {
    fail_op(op, "The batch axes of a " + shape_str(a_in.shape()) + " and b " +
                    shape_str(b_in.shape()) + " do not broadcast.");
  }
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), {n, n});
  sb.insert(sb.end(), {n, b.shape(-1)});
  array a = cast(a_in, t, s);
  b = cast(b, t, s);
  if (a.shape() != sa) a = broadcast_to(a, sa, s);
  if (b.shape() != sb) b = broadcast_to(b, sb, s);
  return {a, b, vector};
}

array solve_impl(const array& a, const array& b, bool triangular, bool upper, const char* op,
                 Stream s) {
  SolveOperands o = solve_operands(a, b, op, s);
  array x = single(std::make_shared<Solve>(s, triangular, upper), {o.a, o.b});
  return o.vector ? squeeze(x, Axes{-1}, s) : x;
}

}  // namespace

array inv(const array& a, Stream s) {
  check_float(a, "inv");
  check_square(a, "inv");
  return single(std::make_shared<Inverse>(s, InverseKind::General), {a});
}

array tri_inv(const array& a, bool upper, Stream s) {
  check_float(a, "tri_inv");
  check_square(a, "tri_inv");
  return single(std::make_shared<Inverse>(s, upper ? InverseKind::Upper : InverseKind::Lower), {a});
}

array cholesky(const array& a, bool upper, Stream s) {
  check_float(a, "cholesky");
  check_square(a, "cholesky");
  if (!upper) return single(std::make_shared<Cholesky>(s), {a});
  // The upper factor reads A's upper triangle, which is the lower one of A^T.
  return mT(single(std::make_shared<Cholesky>(s), {mT(a, s)}), s);
}

array cholesky_inv(const array& a, bool upper, Stream s) {
  check_float(a, "cholesky_inv");
  check_square(a, "cholesky_inv");
  // A = L L^T gives inv(A) = L^-T L^-1; A = U^T U gives U^-1 U^-T.
  array t = tri_inv(a, upper, s);
  return upper ? matmul(t, mT(t, s), s) : matmul(mT(t, s), t, s);
}

array solve(const array& a, const array& b, Stream s) {
  return solve_impl(a, b, false, false, "solve", s);
}

array solve_triangular(const array& a, const array& b, bool upper, Stream s) {
  return solve_impl(a, b, true, upper, "solve_triangular", s);
}

std::pair<array, array> qr(const array& a, Stream s) {
  check_float(a, "qr");
  check_matrix(a, "qr");
  auto out = node(std::make_shared<QR>(s), {a}, {a.dtype(), a.dtype()});
  return {out[0], out[1]};
}

std::vector<array> svd(const array& a, bool compute_uv, Stream s) {
  check_float_or_complex(a, "svd");
  check_matrix(a, "svd");
  const Dtype sv = real_part_type(a);
  if (!compute_uv) return node(std::make_shared<SVD>(s, false), {a}, {sv});
  return node(std::make_shared<SVD>(s, true), {a}, {a.dtype(), sv, a.dtype()});
}

namespace {
bool upper_of(const std::string& uplo, const char* op) {
  if (uplo != "L" && uplo != "U") {
    fail_op(op, "UPLO must be 'L' or 'U'; received '" + uplo + "'.");
  }
  return uplo == "U";
}
}  // namespace

std::pair<array, array> eigh(const array& a, const std::string& uplo, Stream s) {
  const bool upper = upper_of(uplo, "eigh");
  check_float_or_complex(a, "eigh");
  check_square(a, "eigh");
  auto out = node(std::make_shared<Eigh>(s, upper, true), {a}, {real_part_type(a), a.dtype()});
  return {out[0], out[1]};
}

array eigvalsh(const array& a, const std::string& uplo, Stream s) {
  const bool upper = upper_of(uplo, "eigvalsh");
  check_float_or_complex(a, "eigvalsh");
  check_square(a, "eigvalsh");
  return node(std::make_shared<Eigh>(s, upper, false), {a}, {real_part_type(a)})[0];
}

std::pair<array, array> eig(const array& a, Stream s) {
  check_float_or_complex(a, "eig");
  check_square(a, "eig");
  auto out = node(std::make_shared<Eig>(s, true), {a}, {Dtype::complex64, Dtype::complex64});
  return {out[0], out[1]};
}

array eigvals(const array& a, Stream s) {
  check_float_or_complex(a, "eigvals");
  check_square(a, "eigvals");
  return node(std::make_shared<Eig>(s, false), {a}, {Dtype::complex64})[0];
}

namespace {
std::vector<array> lu_node(const array& a, const char* op, Stream s) {
  check_float(a, op);
  check_matrix(a, op);
  return node(std::make_shared<LUFactor>(s), {a}, {a.dtype(), Dtype::uint32, Dtype::uint32});
}
}  // namespace

std::tuple<array, array, array> lu(const array& a, Stream s) {
  auto out = lu_node(a, "lu", s);
  const int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  array l = add(tril(axis_range(out[0], -1, 0, k, s), -1, s), eye(m, k, 0, a.dtype(), s), s);
  array u = triu(axis_range(out[0], -2, 0, k, s), 0, s);
  return {out[2], l, u};
}

std::pair<array, array> lu_factor(const array& a, Stream s) {
  auto out = lu_node(a, "lu_factor", s);
  return {out[0], out[1]};
}

namespace {
std::vector<array> determinant(const array& a, bool log, const char* op, Stream s) {
  check_square(a, op);
  if (a.dtype() == Dtype::complex64) {
    fail_op(op, "Arrays must have a real type; received complex64.");
  }
  array x = cast(a, compute_type(a.dtype()), s);
  std::vector<Dtype> dtypes(log ? 2 : 1, x.dtype());
  auto out = node(std::make_shared<Determinant>(s, log), {x}, dtypes);
  for (auto& o : out) o = cast(o, result_type_of(a.dtype()), s);
  return out;
}
}  // namespace

array det(const array& a, Stream s) { return determinant(a, false, "det", s)[0]; }

std::pair<array, array> slogdet(const array& a, Stream s) {
  auto out = determinant(a, true, "slogdet", s);
  return {out[0], out[1]};
}

array pinv(const array& a, Stream s) {
  check_float(a, "pinv");
  check_matrix(a, "pinv");
  const int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  if (k == 0) {
    Shape shape = a.shape();
    std::swap(shape[shape.size() - 1], shape[shape.size() - 2]);
    return zeros(shape, a.dtype(), s);
  }
  auto usv = svd(a, true, s);
  array u = axis_range(usv[0], -1, 0, k, s), vt = axis_range(usv[2], -2, 0, k, s);
  const array& sv = usv[1];
  // Singular values below max(m, n) * eps * the largest count as zero (MLX's cutoff).
  const double eps = a.dtype() == Dtype::float64 ? std::numeric_limits<double>::epsilon()
                                                 : double(std::numeric_limits<float>::epsilon());
  array cutoff = multiply(max(sv, Axes{-1}, true, s), array(double(std::max(m, n)) * eps, a.dtype()), s);
  array keep = greater(sv, cutoff, s);
  array one(1.0, a.dtype()), zero(0.0, a.dtype());
  array sinv = where(keep, reciprocal(where(keep, sv, one, s), s), zero, s);
  return matmul(multiply(mT(vt, s), expand_dims(sinv, {-2}, s), s), mT(u, s), s);
}

array cross(const array& a_in, const array& b_in, int axis, Stream s) {
  Dtype t = promote_types(a_in.dtype(), b_in.dtype());
  if (t == Dtype::bool_) fail_op("cross", "Arrays of type bool have no cross product.");
  const int nd = std::max(a_in.ndim(), b_in.ndim());
  if (a_in.ndim() == 0 || b_in.ndim() == 0 || axis >= nd || axis < -nd) {
    throw std::out_of_range("[linalg::cross] Axis " + std::to_string(axis) +
                            " is out of bounds for arrays with shapes " + shape_str(a_in.shape()) +
                            " and " + shape_str(b_in.shape()) + ".");
  }
  // The axis counts from the end of the broadcast shape in each operand.
  const int from_end = axis < 0 ? -axis : nd - axis;
  auto prepare = [&](const array& x, const char* which) {
    if (from_end > x.ndim()) {
      throw std::out_of_range("[linalg::cross] Axis " + std::to_string(axis) +
                              " is out of bounds for " + which + " of shape " +
                              shape_str(x.shape()) + ".");
    }
    array y = moveaxis(cast(x, t, s), x.ndim() - from_end, -1, s);
    const int64_t d = y.shape(-1);
    if (d != 2 && d != 3) {
      fail_op("cross", std::string("The specified axis must have size 2 or 3; ") + which +
                           " has shape " + shape_str(x.shape()) + ".");
    }
    if (d == 2) {
      Shape z = y.shape();
      z.back() = 1;
      y = concatenate({y, zeros(z, t, s)}, -1, s);
    }
    return y;
  };
  array a = prepare(a_in, "a"), b = prepare(b_in, "b");
  auto c = [&](const array& x, int i) { return axis_range(x, -1, i, i + 1, s); };
  auto term = [&](int i, int j) {
    return subtract(multiply(c(a, i), c(b, j), s), multiply(c(a, j), c(b, i), s), s);
  };
  array out = concatenate({term(1, 2), term(2, 0), term(0, 1)}, -1, s);
  return moveaxis(out, -1, out.ndim() - from_end, s);
}

// ---- norm ----

namespace {

array abs_real(const array& x, Stream s) { return abs(x, s); }

array sum_sq(const array& x, const Axes& axes, bool keepdims, Stream s) {
  array ax = x.dtype() == Dtype::complex64 ? abs(x, s) : x;
  return sqrt(sum(square(ax, s), axes, keepdims, s), s);
}

array vector_norm(const array& x, double ord, int axis, bool keepdims, Stream s) {
  const Axes axes{axis};
  if (ord == 2) return sum_sq(x, axes, keepdims, s);
  array ax = abs_real(x, s);
  if (std::isinf(ord)) return ord > 0 ? max(ax, axes, keepdims, s) : min(ax, axes, keepdims, s);
  if (ord == 0) {
    return sum(astype(not_equal(ax, array(0.0, ax.dtype()), s), ax.dtype(), s), axes, keepdims, s);
  }
  if (ord == 1) return sum(ax, axes, keepdims, s);
  array p(ord, ax.dtype());
  return power(sum(power(ax, p, s), axes, keepdims, s), array(1.0 / ord, ax.dtype()), s);
}

std::string ord_str(double ord) {
  if (std::isinf(ord)) return ord > 0 ? "inf" : "-inf";
  std::string t = std::to_string(ord);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return t;
}

// Singular values of the matrices spanning axes (r, c), as (..., k), in a float type svd takes.
array singular_values(const array& x, int r, int c, Stream s) {
  Axes perm;
  for (int d = 0; d < x.ndim(); ++d) {
    if (d != r && d != c) perm.push_back(d);
  }
  perm.push_back(r);
  perm.push_back(c);
  array m = transpose(x, perm, s);
  // A complex matrix's singular values are real: float32, the dtype its other norms return.
  if (m.dtype() == Dtype::complex64) return svd(m, false, s)[0];
  array mf = cast(m, compute_type(m.dtype()), s);
  return cast(svd(mf, false, s)[0], m.dtype(), s);
}

array matrix_norm(const array& x, const NormOrder& ord, int r, int c, bool keepdims, Stream s) {
  const Axes both{std::min(r, c), std::max(r, c)};
  if (auto* name = std::get_if<std::string>(&ord)) {
    if (*name == "fro") return sum_sq(x, both, keepdims, s);
    if (*name == "nuc") {
      array out = sum(singular_values(x, r, c, s), Axes{-1}, false, s);
      return keepdims ? expand_dims(out, both, s) : out;
    }
    fail_op("norm", "Invalid ord '" + *name + "' for matrix norm.");
  }
  const double o = std::get<double>(ord);
  if (o == 2 || o == -2) {
    array sv = singular_values(x, r, c, s);
    array out = o > 0 ? max(sv, Axes{-1}, false, s) : min(sv, Axes{-1}, false, s);
    return keepdims ? expand_dims(out, both, s) : out;
  }
  if (o == 1 || o == -1 || std::isinf(o)) {
    // 1: the largest column sum (sum over rows r, extremum over columns c); inf: the other way.
    const bool columns = o == 1 || o == -1;
    const int summed = columns ? r : c, over = columns ? c : r;
    array sums = sum(abs_real(x, s), Axes{summed}, true, s);
    array out = o > 0 ? max(sums, Axes{over}, true, s) : min(sums, Axes{over}, true, s);
    return keepdims ? out : squeeze(out, both, s);
  }
  fail_op("norm", "Invalid ord " + ord_str(o) + " for matrix norm.");
}

}  // namespace

array norm(const array& a, const std::optional<NormOrder>& ord, const std::optional<Axes>& axis,
           bool keepdims, Stream s) {
  array x = a;
  if (!is_inexact(a.dtype())) x = astype(a, Dtype::float32, s);
  Axes axes;
  if (axis) {
    axes = *axis;
    for (auto& ax : axes) ax = normalize_axis(ax, x.ndim(), "linalg::norm");
    if (axes.size() == 2 && axes[0] == axes[1]) fail_op("norm", "Duplicate axes " + axes_str(*axis) + ".");
  } else if (!ord) {
    // The 2-norm of the flattened array.
    Axes all(x.ndim());
    for (int d = 0; d < x.ndim(); ++d) all[d] = d;
    return sum_sq(x, all, keepdims, s);
  } else {
    for (int d = 0; d < x.ndim(); ++d) axes.push_back(d);
  }
  if (axes.empty() || axes.size() > 2) {
    fail_op("norm", "Received " + std::to_string(axes.size()) +
                        " axes; a norm is taken over one axis (vectors) or two (matrices).");
  }
  if (axes.size() == 1) {
    if (!ord) return sum_sq(x, axes, keepdims, s);
    if (auto* name = std::get_if<std::string>(&*ord)) {
      fail_op("norm", "Norm '" + *name + "' only supported for matrices, but received 1 axis.");
    }
    return vector_norm(x, std::get<double>(*ord), axes[0], keepdims, s);
  }
  return matrix_norm(x, ord ? *ord : NormOrder(std::string("fro")), axes[0], axes[1], keepdims, s);
}

}  // namespace pullback::linalg
