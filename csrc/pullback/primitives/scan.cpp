#include "pullback/primitives/scan.h"

#include <cmath>

#include "pullback/ops.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

const char* scan_op_name(ScanOp op) {
  switch (op) {
    case ScanOp::Sum: return "CumSum";
    case ScanOp::Prod: return "CumProd";
    case ScanOp::Max: return "CumMax";
    case ScanOp::Min: return "CumMin";
    default: return "LogCumSumExp";
  }
}

std::vector<Shape> Scan::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool Scan::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Scan*>(&other);
  return o && o->op_ == op_ && o->axis_ == axis_ && o->reverse_ == reverse_ &&
         o->inclusive_ == inclusive_;
}

namespace {

array scan_node(const array& x, ScanOp op, int axis, bool reverse, bool inclusive, Stream s) {
  return array(x.shape(), x.dtype(), std::make_shared<Scan>(s, op, axis, reverse, inclusive), {x});
}

// Elements [lo, hi) of `a` along `axis`.
array take_range(const array& a, int axis, int64_t lo, int64_t hi, Stream s) {
  Shape start(a.ndim(), 0), stop = a.shape(), step(a.ndim(), 1);
  start[axis] = lo;
  stop[axis] = hi;
  return slice(a, start, stop, step, s);
}

// `a` moved one step along `axis`, towards the end (`forward`) or the start, with a zero
// entering at the vacated end: output j of an exclusive scan is output j - 1 of the inclusive
// one (j + 1 when reversed), so tangents move forward and cotangents back.
array shift(const array& a, int axis, bool forward, Stream s) {
  const int64_t n = a.shape(axis);
  Shape one = a.shape();
  one[axis] = 1;
  array z = zeros(one, a.dtype(), s);
  if (forward) return concatenate({z, take_range(a, axis, 0, n - 1, s)}, axis, s);
  return concatenate({take_range(a, axis, 1, n, s), z}, axis, s);
}

// Positions along `axis` (0 .. n-1), shaped to broadcast against an array of `ndim` axes.
array positions(int64_t n, int axis, int ndim, Dtype dtype, Stream s) {
  Shape shape(ndim, 1);
  shape[axis] = n;
  return reshape(integer_arange(0, n, 1, dtype, s), shape, s);
}

// log(c) for c >= 0, with log(0) = -inf reached without evaluating log at 0: its derivative
// there (inf) times the zero cotangent that arrives would make NaN in second derivatives.
array log_nonnegative(const array& c, Stream s) {
  array positive = greater(c, array(0.0, c.dtype()), s);
  array safe = where(positive, c, array(1.0, c.dtype()), s);
  return where(positive, log(safe, s), array(-INFINITY, c.dtype()), s);
}

}  // namespace

// For each output, the index of the input it copies: the latest (in scan order) element equal
// to the running extremum. With ties the derivative goes to that one element, which is MLX's
// choice; a NaN output copies the NaN that made it.
static array extremum_source(const array& x, const array& out, int axis, bool reverse,
                             Stream s) {
  const int64_t n = x.shape(axis);
  Dtype idx = n < (int64_t(1) << 31) ? Dtype::int32 : Dtype::int64;
  array mask = equal(x, out, s);
  if (is_inexact(x.dtype())) mask = logical_or(mask, isnan(x, s), s);
  array fill(reverse ? n : int64_t(-1), idx);
  array src = where(mask, positions(n, axis, x.ndim(), idx, s), fill, s);
  // Positions are piecewise constant in x: no derivative flows through them, and marking that
  // lets the scatter of the vjp be differentiated again (grad of grad).
  return stop_gradient(scan_node(src, reverse ? ScanOp::Min : ScanOp::Max, axis, reverse, true, s), s);
}

namespace {

// The pieces of the zero-safe product derivative. d out_j / d x_i (i <= j in scan order) is
// the product of the other elements up to j. Before the first zero z that is out_j / x_i; at z
// it is (product before z) * (product of z+1 .. j); after z every such product holds x_z = 0.
struct ProdParts {
  array before;   // positions before the first zero
  array first;    // the first zero
  array reached;  // the first zero and everything after it
  array safe;     // x with its zeros replaced by 1
  array ex;       // the exclusive product: at the first zero, the product before it
  array tail;     // at j >= z: the product of z+1 .. j (1 at z)
};

ProdParts prod_parts(const array& x, int axis, bool reverse, Stream s) {
  array zero(0.0, x.dtype()), one(1.0, x.dtype());
  array is_zero = equal(x, zero, s);
  array count = scan_node(astype(is_zero, Dtype::int32, s), ScanOp::Sum, axis, reverse, true, s);
  ProdParts p;
  p.before = equal(count, array(0), s);
  p.first = logical_and(is_zero, equal(count, array(1), s), s);
  p.reached = greater_equal(count, array(1), s);
  p.safe = where(is_zero, one, x, s);
  p.ex = scan_node(x, ScanOp::Prod, axis, reverse, false, s);
  array after = logical_and(p.reached, logical_not(p.first, s), s);
  p.tail = scan_node(where(after, x, one, s), ScanOp::Prod, axis, reverse, true, s);
  return p;
}

}  // namespace

array Scan::inclusive_vjp(const array& x, const array& out, const array& ct) {
  Stream s = stream();
  const bool complex = x.dtype() == Dtype::complex64;
  switch (op_) {
    case ScanOp::Sum: return scan_node(ct, ScanOp::Sum, axis_, !reverse_, true, s);
    case ScanOp::Max:
    case ScanOp::Min: {
      array src = extremum_source(x, out, axis_, reverse_, s);
      return put_along_axis(zeros_like(ct, s), src, ct, axis_, ScatterReduce::Add, s);
    }
    case ScanOp::Prod: {
      // Complex: the cotangent times the conjugate derivative, which is the derivative at the
      // conjugates (a polynomial with real coefficients).
      array xc = complex ? conjugate(x, s) : x;
      array oc = complex ? conjugate(out, s) : out;
      ProdParts p = prod_parts(xc, axis_, reverse_, s);
      array zero(0.0, x.dtype());
      array later_sum = scan_node(multiply(ct, oc, s), ScanOp::Sum, axis_, !reverse_, true, s);
      array part_before = where(p.before, divide(later_sum, p.safe, s), zero, s);
      array zsum = sum(where(p.reached, multiply(ct, p.tail, s), zero, s), Axes{axis_}, true, s);
      return add(part_before, where(p.first, multiply(p.ex, zsum, s), zero, s), s);
    }
    default: break;
  }
  // LogCumSumExp: d out_j / d x_i = exp(x_i - out_j) for i <= j.
  if (complex) {
    // Shifted by the largest real part, which keeps exp(x - c) bounded.
    array c = stop_gradient(max(real(x, s), Axes{axis_}, true, s), s);
    c = where(isfinite(c, s), c, array(0.0f), s);
    array later = scan_node(multiply(ct, conjugate(exp(subtract(c, out, s), s), s), s),
                            ScanOp::Sum, axis_, !reverse_, true, s);
    return multiply(conjugate(exp(subtract(x, c, s), s), s), later, s);
  }
  // The sum over j >= i of ct_j exp(x_i - out_j), in the log domain (a reverse logcumsumexp)
  // for the positive and negative parts of the cotangent separately, so nothing overflows.
  // out_j = -inf only where every x_i up to j is -inf, whose derivative is 0 anyway.
  array safe_out = where(isneginf(out, s), array(0.0, x.dtype()), out, s);
  array zero(0.0, x.dtype());
  auto part = [&](const array& c) {
    array l = scan_node(subtract(log_nonnegative(c, s), safe_out, s), ScanOp::LogAddExp, axis_,
                        !reverse_, true, s);
    return exp(add(x, l, s), s);
  };
  return subtract(part(maximum(ct, zero, s)), part(maximum(negative(ct, s), zero, s)), s);
}

array Scan::inclusive_jvp(const array& x, const array& out, const array& t) {
  Stream s = stream();
  switch (op_) {
    case ScanOp::Sum: return scan_node(t, ScanOp::Sum, axis_, reverse_, true, s);
    case ScanOp::Max:
    case ScanOp::Min:
      return take_along_axis(t, extremum_source(x, out, axis_, reverse_, s), axis_, s);
    case ScanOp::Prod: {
      ProdParts p = prod_parts(x, axis_, reverse_, s);
      array zero(0.0, x.dtype());
      array ratios = where(p.before, divide(t, p.safe, s), zero, s);
      array running = scan_node(ratios, ScanOp::Sum, axis_, reverse_, true, s);
      array from_before = multiply(out, running, s);
      array at_zero = sum(where(p.first, multiply(t, p.ex, s), zero, s), Axes{axis_}, true, s);
      array from_zero = where(p.reached, multiply(p.tail, at_zero, s), zero, s);
      return add(from_before, from_zero, s);
    }
    default: break;
  }
  if (x.dtype() == Dtype::complex64) {
    array c = stop_gradient(max(real(x, s), Axes{axis_}, true, s), s);
    c = where(isfinite(c, s), c, array(0.0f), s);
    array run = scan_node(multiply(t, exp(subtract(x, c, s), s), s), ScanOp::Sum, axis_,
                          reverse_, true, s);
    return multiply(run, exp(subtract(c, out, s), s), s);
  }
  // sum over i <= j of t_i exp(x_i - out_j), split by the sign of t as in the vjp.
  array safe_out = where(isneginf(out, s), array(0.0, x.dtype()), out, s);
  array zero(0.0, x.dtype());
  auto part = [&](const array& c) {
    array l =
        scan_node(add(x, log_nonnegative(c, s), s), ScanOp::LogAddExp, axis_, reverse_, true, s);
    return exp(subtract(l, safe_out, s), s);
  };
  return subtract(part(maximum(t, zero, s)), part(maximum(negative(t, s), zero, s)), s);
}

Arrays Scan::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays& outputs) {
  const array& x = primals[0];
  Stream s = stream();
  // Bool scans (cumprod, cummax, cummin of bool) are piecewise constant, as are empty axes.
  if (x.dtype() == Dtype::bool_ || x.shape(axis_) == 0) return {zeros_like(x, s)};
  array ct = cts[0];
  array out = outputs[0];
  if (!inclusive_) {
    ct = shift(ct, axis_, reverse_, s);
    out = scan_node(x, op_, axis_, reverse_, true, s);
  }
  // Integer products take the derivative in float32 (as Reduce does), then the input's type.
  if (op_ == ScanOp::Prod && !is_inexact(x.dtype())) {
    Dtype f = Dtype::float32;
    return {astype(inclusive_vjp(astype(x, f, s), astype(out, f, s), astype(ct, f, s)), x.dtype(),
                   s)};
  }
  return {astype(inclusive_vjp(x, out, ct), x.dtype(), s)};
}

Arrays Scan::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  const array& x = primals[0];
  Stream s = stream();
  if (x.dtype() == Dtype::bool_ || x.shape(axis_) == 0) return {zeros_like(x, s)};
  array out = scan_node(x, op_, axis_, reverse_, true, s);
  array t = tangents[0];
  array r = op_ == ScanOp::Prod && !is_inexact(x.dtype())
                ? inclusive_jvp(astype(x, Dtype::float32, s), astype(out, Dtype::float32, s),
                                astype(t, Dtype::float32, s))
                : inclusive_jvp(x, out, t);
  r = astype(r, x.dtype(), s);
  return {inclusive_ ? r : shift(r, axis_, !reverse_, s)};
}

// The batch axis stays where it is and the scanned axis moves past it.
std::pair<Arrays, Ints> Scan::vmap(const Arrays& in, const Ints& axes) {
  const int b = axes[0];
  const int ax = axis_ >= b ? axis_ + 1 : axis_;
  return {{scan_node(in[0], op_, ax, reverse_, inclusive_, stream())}, {b}};
}

}  // namespace pullback
