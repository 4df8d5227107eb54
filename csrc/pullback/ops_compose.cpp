// Ops composed from existing primitives; see ops_compose.h. Nothing here adds a primitive, so
// every derivative comes from the rules of the ops each function is built from.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>

#include "pullback/ops.h"

namespace pullback {

namespace {

// MLX reports an axis outside the array as an IndexError in these ops.
int index_axis(int axis, int ndim, const char* op, const char* what = "Axis") {
  if (axis < -ndim || axis >= ndim) {
    throw std::out_of_range(std::string("[") + op + "] " + what + " " + std::to_string(axis) +
                            " is out of bounds for array with " + std::to_string(ndim) +
                            " dimensions.");
  }
  return axis < 0 ? axis + ndim : axis;
}

array int_vector(const std::vector<int64_t>& v, Stream) {
  return array(v.data(), Shape{static_cast<int64_t>(v.size())}, Dtype::int64);
}

// a[start:stop] along `axis` (bounds already inside the axis).
array axis_slice(const array& a, int axis, int64_t start, int64_t stop, int64_t step, Stream s) {
  Shape st(a.ndim(), 0), sp = a.shape(), stp(a.ndim(), 1);
  st[axis] = start;
  sp[axis] = stop;
  stp[axis] = step;
  return slice(a, st, sp, stp, s);
}

int64_t checked_product(const Shape& shape, const char* op) {
  int64_t n = 1;
  for (auto d : shape) {
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      fail(op, "The result of shape " + shape_str(shape) + " is too large.");
    }
    n *= d;
  }
  return n;
}

}  // namespace

// ---- padding ----

array pad(const array& a, const std::vector<std::pair<int64_t, int64_t>>& pad_width_in,
          const std::string& mode, const array& constant_values, Stream s) {
  const int nd = a.ndim();
  std::vector<std::pair<int64_t, int64_t>> widths = pad_width_in;
  if (widths.size() == 1 && nd != 1) widths.assign(nd, widths[0]);
  if (nd == 0) widths.clear();
  if (static_cast<int>(widths.size()) != nd) {
    fail("pad", "Got " + std::to_string(pad_width_in.size()) + " padding pairs for an array of shape " +
                    shape_str(a.shape()) + "; give one (before, after) pair, or one per axis.");
  }
  for (int d = 0; d < nd; ++d) {
    if (widths[d].first < 0 || widths[d].second < 0) {
      fail("pad", "Padding sizes must be non-negative; got (" + std::to_string(widths[d].first) +
                      ", " + std::to_string(widths[d].second) + ") for axis " + std::to_string(d) + ".");
    }
  }
  if (mode != "constant" && mode != "edge" && mode != "reflect" && mode != "symmetric") {
    fail("pad", "Invalid padding mode '" + mode +
                    "'; valid modes are 'constant', 'edge', 'reflect' and 'symmetric'.");
  }
  Shape out_shape = a.shape();
  bool any = false;
  for (int d = 0; d < nd; ++d) {
    out_shape[d] += widths[d].first + widths[d].second;
    any = any || widths[d].first > 0 || widths[d].second > 0;
  }
  if (mode == "constant") {
    if (constant_values.size() != 1) {
      fail("pad", "constant_values must be a scalar (one element); got an array of shape " +
                      shape_str(constant_values.shape()) + ".");
    }
    if (!any) return a;
    checked_product(out_shape, "pad");
    // `a` written into a broadcast fill: SliceUpdate writes each output element once (the
    // fill around the interior, `a` inside), with no filled buffer made first.
    array fill = reshape(astype(constant_values, a.dtype(), s), {}, s);
    array out = broadcast_to(fill, out_shape, s);
    Shape start(nd), stop(nd), step(nd, 1);
    for (int d = 0; d < nd; ++d) {
      start[d] = widths[d].first;
      stop[d] = widths[d].first + a.shape(d);
    }
    return slice_update(out, a, start, stop, step, s);
  }
  array out = a;
  for (int d = 0; d < nd; ++d) {
    const auto [lo, hi] = widths[d];
    if (lo == 0 && hi == 0) continue;
    const int64_t n = a.shape(d);
    if (n == 0) {
      fail("pad", "Cannot pad the empty axis " + std::to_string(d) + " of an array of shape " +
                      shape_str(a.shape()) + " in mode '" + mode + "'.");
    }
    if (mode == "edge") {
      // Broadcast views of the first and last slices, joined by one concatenation.
      std::vector<array> parts;
      if (lo > 0) {
        Shape bs = out.shape();
        bs[d] = lo;
        parts.push_back(broadcast_to(axis_slice(out, d, 0, 1, 1, s), bs, s));
      }
      parts.push_back(out);
      if (hi > 0) {
        Shape bs = out.shape();
        bs[d] = hi;
        parts.push_back(broadcast_to(axis_slice(out, d, n - 1, n, 1, s), bs, s));
      }
      out = concatenate(parts, d, s);
      continue;
    }
    // reflect / symmetric: the source of every output position, periodic with the reflection.
    const bool reflect = mode == "reflect";
    const int64_t period = reflect ? 2 * (n - 1) : 2 * n;
    std::vector<int64_t> idx(static_cast<size_t>(n + lo + hi));
    for (int64_t i = -lo; i < n + hi; ++i) {
      int64_t src = 0;
      if (period > 0) {
        int64_t m = ((i % period) + period) % period;
        src = m < n ? m : (reflect ? period - m : period - 1 - m);
      }
      idx[static_cast<size_t>(i + lo)] = src;
    }
    out = take(out, int_vector(idx, s), d, s);
  }
  return out;
}

array repeat(const array& a_in, int64_t repeats, std::optional<int> axis, Stream s) {
  if (repeats < 0) fail("repeat", "Number of repeats cannot be negative; got " + std::to_string(repeats) + ".");
  array a = a_in;
  int ax = 0;
  if (!axis) {
    a = reshape(a, {-1}, s);
  } else {
    ax = index_axis(*axis, a.ndim(), "repeat");
  }
  Shape expanded = a.shape();
  expanded.insert(expanded.begin() + ax + 1, repeats);
  Shape out_shape = a.shape();
  out_shape[ax] *= repeats;
  checked_product(out_shape, "repeat");
  array e = broadcast_to(expand_dims(a, {ax + 1}, s), expanded, s);
  return reshape(e, out_shape, s);
}

array tile(const array& a, const std::vector<int64_t>& reps_in, Stream s) {
  for (auto r : reps_in) {
    if (r < 0) fail("tile", "Repetitions must be non-negative; got " + std::to_string(r) + ".");
  }
  const size_t nd = std::max<size_t>(a.ndim(), reps_in.size());
  Shape shape(nd - a.ndim(), 1);
  shape.insert(shape.end(), a.shape().begin(), a.shape().end());
  std::vector<int64_t> reps(nd - reps_in.size(), 1);
  reps.insert(reps.end(), reps_in.begin(), reps_in.end());
  // (1, d0, 1, d1, ...) broadcast to (r0, d0, r1, d1, ...), then merged pairwise.
  Shape inter, bshape, out_shape;
  for (size_t d = 0; d < nd; ++d) {
    inter.push_back(1);
    inter.push_back(shape[d]);
    bshape.push_back(reps[d]);
    bshape.push_back(shape[d]);
    out_shape.push_back(reps[d] * shape[d]);
  }
  checked_product(out_shape, "tile");
  if (out_shape == a.shape()) return a;
  return reshape(broadcast_to(reshape(a, inter, s), bshape, s), out_shape, s);
}

array roll(const array& a, const std::vector<int64_t>& shift, const std::optional<Axes>& axes,
           Stream s) {
  if (shift.empty()) fail("roll", "At least one shift is required.");
  if (!axes) {
    int64_t total = 0;
    for (auto v : shift) total += v;  // wraps only beyond int64, far past any axis length
    if (a.ndim() == 0) return a;
    return reshape(roll(reshape(a, {-1}, s), {total}, Axes{0}, s), a.shape(), s);
  }
  const Axes& ax = *axes;
  if (ax.empty()) return a;
  if (shift.size() != 1 && ax.size() != 1 && shift.size() != ax.size()) {
    fail("roll", "shift " + shape_str(Shape(shift.begin(), shift.end())) + " and axis " +
                     axes_str(ax) + " must have the same length (or one of them length 1).");
  }
  std::vector<int64_t> per_axis(a.ndim(), 0);
  const size_t n = std::max(shift.size(), ax.size());
  for (size_t i = 0; i < n; ++i) {
    int d = index_axis(ax[ax.size() == 1 ? 0 : i], a.ndim(), "roll");
    int64_t len = a.shape(d);
    if (len == 0) continue;
    int64_t v = shift[shift.size() == 1 ? 0 : i] % len;
    per_axis[d] = (per_axis[d] + v + len) % len;
  }
  array out = a;
  for (int d = 0; d < a.ndim(); ++d) {
    const int64_t k = per_axis[d], len = a.shape(d);
    if (k == 0) continue;
    out = concatenate({axis_slice(out, d, len - k, len, 1, s), axis_slice(out, d, 0, len - k, 1, s)},
                      d, s);
  }
  return out;
}

array flip(const array& a, const std::optional<Axes>& axes, Stream s) {
  std::vector<bool> rev(a.ndim(), !axes.has_value());
  if (axes) {
    for (int ax : *axes) {
      int d = index_axis(ax, a.ndim(), "flip");
      rev[d] = !rev[d];  // flipping twice restores the axis
    }
  }
  Shape start(a.ndim()), stop(a.ndim()), step(a.ndim());
  bool any = false;
  for (int d = 0; d < a.ndim(); ++d) {
    if (rev[d] && a.shape(d) > 1) {
      start[d] = a.shape(d) - 1, stop[d] = -1, step[d] = -1;
      any = true;
    } else {
      start[d] = 0, stop[d] = a.shape(d), step[d] = 1;
    }
  }
  return any ? slice(a, start, stop, step, s) : a;
}

array unflatten(const array& a, int axis, const Shape& shape, Stream s) {
  if (shape.empty()) fail("unflatten", "The shape to unflatten to cannot be empty.");
  int ax = index_axis(axis, a.ndim(), "unflatten");
  const int64_t n = a.shape(ax);
  Shape full_shape = shape;
  if (!infer_shape(full_shape, static_cast<size_t>(n), "unflatten")) {
    fail("unflatten", "Cannot unflatten axis " + std::to_string(axis) + " of size " +
                          std::to_string(n) + " into shape " + shape_str(shape) + ".");
  }
  Shape out(a.shape().begin(), a.shape().begin() + ax);
  out.insert(out.end(), full_shape.begin(), full_shape.end());
  out.insert(out.end(), a.shape().begin() + ax + 1, a.shape().end());
  return reshape(a, out, s);
}

std::vector<array> unstack(const array& a, int axis, Stream s) {
  int ax = index_axis(axis, a.ndim(), "unstack");
  std::vector<array> out;
  out.reserve(a.shape(ax));
  for (int64_t i = 0; i < a.shape(ax); ++i) {
    out.push_back(squeeze(axis_slice(a, ax, i, i + 1, 1, s), Axes{ax}, s));
  }
  return out;
}

array atleast_nd(const array& a, int ndim, Stream s) {
  if (a.ndim() >= ndim) return a;
  Shape shape = a.shape();
  if (ndim == 1) return reshape(a, {a.size() == 1 ? 1 : static_cast<int64_t>(a.size())}, s);
  if (ndim == 2) {
    shape.insert(shape.begin(), 2 - a.ndim(), 1);
    return reshape(a, shape, s);
  }
  // NumPy's atleast_3d: (N,) -> (1, N, 1), (M, N) -> (M, N, 1).
  if (a.ndim() == 0) return reshape(a, {1, 1, 1}, s);
  if (a.ndim() == 1) return reshape(a, {1, a.shape(0), 1}, s);
  return reshape(a, {a.shape(0), a.shape(1), 1}, s);
}

array matrix_transpose(const array& a, Stream s) {
  if (a.ndim() < 2) {
    fail("matrix_transpose", "Input array must have at least 2 dimensions; got shape " +
                                 shape_str(a.shape()) + ".");
  }
  return swapaxes(a, -1, -2, s);
}

array diff(const array& a, int n, int axis, Stream s) {
  if (n < 0) fail("diff", "Order n must be non-negative; got " + std::to_string(n) + ".");
  if (a.ndim() == 0) {
    throw std::out_of_range("[diff] Axis " + std::to_string(axis) +
                            " is out of bounds for array with 0 dimensions.");
  }
  int ax = index_axis(axis, a.ndim(), "diff");
  array out = a;
  for (int i = 0; i < n; ++i) {
    const int64_t len = out.shape(ax);
    if (len == 0) break;
    array hi = axis_slice(out, ax, 1, len, 1, s), lo = axis_slice(out, ax, 0, len - 1, 1, s);
    // NumPy's diff of booleans is their inequality.
    out = out.dtype() == Dtype::bool_ ? not_equal(hi, lo, s) : subtract(hi, lo, s);
  }
  return out;
}

std::vector<array> meshgrid(const std::vector<array>& arrays, bool sparse,
                            const std::string& indexing, Stream s) {
  if (indexing != "xy" && indexing != "ij") {
    fail("meshgrid", "Invalid indexing '" + indexing + "'; valid values are 'xy' and 'ij'.");
  }
  const int nd = static_cast<int>(arrays.size());
  std::vector<array> flat;
  for (auto& a : arrays) flat.push_back(reshape(a, {-1}, s));
  Shape out_shape;
  for (auto& f : flat) out_shape.push_back(f.shape(0));
  const bool xy = indexing == "xy" && nd >= 2;
  if (xy) std::swap(out_shape[0], out_shape[1]);
  std::vector<array> out;
  for (int i = 0; i < nd; ++i) {
    int pos = i;
    if (xy && i < 2) pos = 1 - i;
    Shape shape(nd, 1);
    shape[pos] = flat[i].shape(0);
    array r = reshape(flat[i], shape, s);
    out.push_back(sparse ? r : broadcast_to(r, out_shape, s));
  }
  return out;
}

// ---- triangles and diagonals ----

array tri(int64_t n, int64_t m, int k, Dtype dtype, Stream s) {
  n = std::max<int64_t>(n, 0);
  m = std::max<int64_t>(m, 0);
  array rows = reshape(integer_arange(0, n, 1, Dtype::int64, s), {n, 1}, s);
  array cols = reshape(integer_arange(0, m, 1, Dtype::int64, s), {1, m}, s);
  array mask = greater_equal(add(rows, array(static_cast<int64_t>(k), Dtype::int64), s), cols, s);
  return astype(mask, dtype, s);
}

array tril(const array& x, int k, Stream s) {
  if (x.ndim() < 2) fail("tril", "The array must be at least 2-D; got shape " + shape_str(x.shape()) + ".");
  array mask = tri(x.shape(-2), x.shape(-1), k, Dtype::bool_, s);
  return where(mask, x, array(static_cast<int64_t>(0), x.dtype()), s);
}

array triu(const array& x, int k, Stream s) {
  if (x.ndim() < 2) fail("triu", "The array must be at least 2-D; got shape " + shape_str(x.shape()) + ".");
  array mask = tri(x.shape(-2), x.shape(-1), k - 1, Dtype::bool_, s);
  return where(mask, array(static_cast<int64_t>(0), x.dtype()), x, s);
}

array diagonal(const array& a, int offset, int axis1, int axis2, Stream s) {
  if (a.ndim() < 2) {
    fail("diagonal", "The array must have at least two dimensions; got shape " + shape_str(a.shape()) + ".");
  }
  int ax1 = index_axis(axis1, a.ndim(), "diagonal", "axis1");
  int ax2 = index_axis(axis2, a.ndim(), "diagonal", "axis2");
  if (ax1 == ax2) fail("diagonal", "axis1 and axis2 cannot be the same axis (" + std::to_string(ax1) + ").");
  Axes perm;
  for (int d = 0; d < a.ndim(); ++d) {
    if (d != ax1 && d != ax2) perm.push_back(d);
  }
  perm.push_back(ax1);
  perm.push_back(ax2);
  array t = transpose(a, perm, s);
  const int nd = t.ndim();
  int64_t rows = t.shape(nd - 2), cols = t.shape(nd - 1);
  int64_t r0 = offset < 0 ? std::min<int64_t>(-static_cast<int64_t>(offset), rows) : 0;
  int64_t c0 = offset > 0 ? std::min<int64_t>(offset, cols) : 0;
  int64_t len = std::max<int64_t>(0, std::min(rows - r0, cols - c0));
  Shape start(nd, 0), stop = t.shape(), step(nd, 1);
  start[nd - 2] = r0, stop[nd - 2] = r0 + len;
  start[nd - 1] = c0, stop[nd - 1] = c0 + len;
  array sq = slice(t, start, stop, step, s);
  // The diagonal of a (len, len) block is every (len + 1)-th element of its flattening.
  Shape flat(sq.shape().begin(), sq.shape().end() - 2);
  flat.push_back(len * len);
  array f = reshape(sq, flat, s);
  Shape fs(flat.size(), 0), fe = flat, fst(flat.size(), 1);
  fst.back() = len + 1;
  return slice(f, fs, fe, fst, s);
}

array diag(const array& a, int k, Stream s) {
  if (a.ndim() == 2) return diagonal(a, k, 0, 1, s);
  if (a.ndim() != 1) {
    fail("diag", "The array must be 1-D or 2-D; got an array with " + std::to_string(a.ndim()) +
                     " dimensions.");
  }
  const int64_t len = a.shape(0), off = std::abs(static_cast<int64_t>(k));
  // v[:, None] joined to an (L, L) block of zeros, flattened and cut to L*L, puts v[i] at (i, i).
  array z = zeros({len, len}, a.dtype(), s);
  array joined = concatenate({reshape(a, {len, 1}, s), z}, 1, s);
  array sq = reshape(slice(reshape(joined, {-1}, s), {0}, {len * len}, {1}, s), {len, len}, s);
  if (off == 0) return sq;
  std::vector<std::pair<int64_t, int64_t>> w = k > 0 ? std::vector<std::pair<int64_t, int64_t>>{{0, off}, {off, 0}}
                                                     : std::vector<std::pair<int64_t, int64_t>>{{off, 0}, {0, off}};
  return pad(sq, w, "constant", array(static_cast<int64_t>(0), a.dtype()), s);
}

array trace(const array& a, int offset, int axis1, int axis2, std::optional<Dtype> dtype, Stream s) {
  if (a.ndim() < 2) {
    fail("trace", "The array must have at least two dimensions; got shape " + shape_str(a.shape()) + ".");
  }
  array d = diagonal(a, offset, axis1, axis2, s);
  if (dtype) return astype(sum(astype(d, *dtype, s), Axes{-1}, false, s), *dtype, s);
  return sum(d, Axes{-1}, false, s);
}

// ---- products ----

array outer(const array& a, const array& b, Stream s) {
  return multiply(reshape(a, {-1, 1}, s), reshape(b, {1, -1}, s), s);
}

array tensordot(const array& a, const array& b, const Axes& axes_a, const Axes& axes_b, Stream s) {
  if (axes_a.size() != axes_b.size()) {
    fail("tensordot", "The axes lists " + axes_str(axes_a) + " and " + axes_str(axes_b) +
                          " must have the same length.");
  }
  std::vector<bool> ca(a.ndim(), false), cb(b.ndim(), false);
  Axes pa, pb;
  int64_t k = 1;
  for (size_t i = 0; i < axes_a.size(); ++i) {
    int x = normalize_axis(axes_a[i], a.ndim(), "tensordot");
    int y = normalize_axis(axes_b[i], b.ndim(), "tensordot");
    if (ca[x] || cb[y]) fail("tensordot", "Repeated axis in " + axes_str(axes_a) + " / " + axes_str(axes_b) + ".");
    if (a.shape(x) != b.shape(y)) {
      fail("tensordot", "a " + shape_str(a.shape()) + " and b " + shape_str(b.shape()) +
                            " must have the same size on the contracted axes (axis " +
                            std::to_string(axes_a[i]) + " of a, " + std::to_string(axes_b[i]) + " of b).");
    }
    ca[x] = cb[y] = true;
    pa.push_back(x);
    pb.push_back(y);
    k *= a.shape(x);
  }
  Axes perm_a, perm_b = pb;
  Shape out_shape;
  int64_t fa = 1, fb = 1;
  for (int d = 0; d < a.ndim(); ++d) {
    if (!ca[d]) perm_a.push_back(d), out_shape.push_back(a.shape(d)), fa *= a.shape(d);
  }
  perm_a.insert(perm_a.end(), pa.begin(), pa.end());
  for (int d = 0; d < b.ndim(); ++d) {
    if (!cb[d]) perm_b.push_back(d), out_shape.push_back(b.shape(d)), fb *= b.shape(d);
  }
  array am = reshape(transpose(a, perm_a, s), {fa, k}, s);
  array bm = reshape(transpose(b, perm_b, s), {k, fb}, s);
  return reshape(matmul(am, bm, s), out_shape, s);
}

array tensordot(const array& a, const array& b, int axes, Stream s) {
  if (axes < 0) fail("tensordot", "axes must be non-negative; got " + std::to_string(axes) + ".");
  if (axes > a.ndim() || axes > b.ndim()) {
    fail("tensordot", "Cannot contract " + std::to_string(axes) + " axes of a " + shape_str(a.shape()) +
                          " and b " + shape_str(b.shape()) + ".");
  }
  Axes xa, xb;
  for (int i = 0; i < axes; ++i) {
    xa.push_back(a.ndim() - axes + i);
    xb.push_back(i);
  }
  return tensordot(a, b, xa, xb, s);
}

array inner(const array& a, const array& b, Stream s) {
  if (a.ndim() == 0 || b.ndim() == 0) return multiply(a, b, s);
  if (a.shape(-1) != b.shape(-1)) {
    fail("inner", "a " + shape_str(a.shape()) + " and b " + shape_str(b.shape()) +
                      " must have the same last dimension.");
  }
  return tensordot(a, b, Axes{-1}, Axes{-1}, s);
}

array vecdot(const array& a, const array& b, int axis, Stream s) {
  Shape shape;
  try {
    shape = broadcast_shapes(a.shape(), b.shape());
  } catch (const std::invalid_argument&) {
    fail("vecdot", "a " + shape_str(a.shape()) + " and b " + shape_str(b.shape()) + " cannot be broadcast together.");
  }
  if (shape.empty()) fail("vecdot", "The inputs must have at least one dimension.");
  const int nd = static_cast<int>(shape.size());
  int ax = normalize_axis(axis, nd, "vecdot");
  auto size_at = [&](const array& x) {
    int d = ax - (nd - x.ndim());
    return d < 0 ? int64_t{1} : x.shape(d);
  };
  if (size_at(a) != size_at(b)) {
    fail("vecdot", "a " + shape_str(a.shape()) + " and b " + shape_str(b.shape()) +
                       " must have the same size along axis " + std::to_string(axis) + ".");
  }
  return sum(multiply(conjugate(a, s), b, s), Axes{ax}, false, s);
}

array kron(const array& a, const array& b, Stream s) {
  const int nd = std::max(a.ndim(), b.ndim());
  Shape sa(nd - a.ndim(), 1), sb(nd - b.ndim(), 1);
  sa.insert(sa.end(), a.shape().begin(), a.shape().end());
  sb.insert(sb.end(), b.shape().begin(), b.shape().end());
  Shape ia, ib, out;
  for (int d = 0; d < nd; ++d) {
    ia.push_back(sa[d]), ia.push_back(1);
    ib.push_back(1), ib.push_back(sb[d]);
    out.push_back(sa[d] * sb[d]);
  }
  checked_product(out, "kron");
  return reshape(multiply(reshape(a, ia, s), reshape(b, ib, s), s), out, s);
}

array addmm(const array& c, const array& a, const array& b, double alpha, double beta, Stream s) {
  Dtype t = promote_types(promote_types(a.dtype(), b.dtype()), c.dtype());
  if (!is_floating(t)) {
    fail("addmm", std::string("Only real floating point types are supported; the inputs promote to ") +
                      dtype_name(t) + ".");
  }
  array p = matmul(astype(a, t, s), astype(b, t, s), s);
  if (!is_broadcastable(c.shape(), p.shape())) {
    fail("addmm", "c of shape " + shape_str(c.shape()) + " does not broadcast to the shape " +
                      shape_str(p.shape()) + " of a @ b.");
  }
  array ct = astype(c, t, s);
  if (alpha != 1.0) p = multiply(p, array(alpha, t), s);
  if (beta == 0.0) return p;  // as in BLAS: c is ignored, NaN or not
  if (beta != 1.0) ct = multiply(ct, array(beta, t), s);
  return add(p, ct, s);
}

// ---- einsum ----

namespace {

// Labels: 'A'..'Z' are 0..25, 'a'..'z' 26..51 (so label order is ASCII order); the axes an
// ellipsis stands for are 52, 53, ..., right-aligned across operands as in broadcasting.
constexpr int kEllipsisBase = 52;

struct EinsumPlan {
  std::vector<std::vector<int>> inputs;  // labels of each operand's axes
  std::vector<int> output;
  std::vector<int64_t> sizes;            // by label
  std::vector<std::vector<int>> path;
  int64_t naive_flops = 0, opt_flops = 0;
  size_t naive_scaling = 0, opt_scaling = 0;
};

// A term as labels, with -1 for an ellipsis.
std::vector<int> parse_term(const std::string& term) {
  std::vector<int> out;
  bool ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    char ch = term[i];
    if (ch == ' ') continue;
    if (ch == '.') {
      if (term.compare(i, 3, "...") != 0 || ellipsis) {
        fail("einsum", "Invalid subscript '" + term + "': '.' must form a single '...'.");
      }
      ellipsis = true;
      out.push_back(-1);
      i += 2;
    } else if (ch >= 'A' && ch <= 'Z') {
      out.push_back(ch - 'A');
    } else if (ch >= 'a' && ch <= 'z') {
      out.push_back(26 + ch - 'a');
    } else {
      fail("einsum", std::string("Invalid character '") + ch + "' in subscripts '" + term + "'.");
    }
  }
  return out;
}

int64_t size_of(const std::vector<int>& labels, const std::vector<int64_t>& sizes) {
  int64_t n = 1;
  for (int l : labels) n *= sizes[l];
  return n;
}

// NumPy's count: the product of the sizes, times the number of terms less one (at least one),
// plus one when something is summed.
int64_t flop_count(const std::vector<int>& idx, bool inner, size_t terms, const std::vector<int64_t>& sizes) {
  int64_t factor = std::max<int64_t>(1, static_cast<int64_t>(terms) - 1) + (inner ? 1 : 0);
  return size_of(idx, sizes) * factor;
}

std::vector<int> set_of(const std::vector<int>& v) {
  std::vector<int> out = v;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<int> set_union(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<int> set_inter(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

EinsumPlan plan_einsum(const std::string& subscripts, const std::vector<Shape>& shapes) {
  EinsumPlan plan;
  std::string lhs = subscripts, rhs;
  const bool explicit_out = subscripts.find("->") != std::string::npos;
  if (explicit_out) {
    size_t p = subscripts.find("->");
    lhs = subscripts.substr(0, p);
    rhs = subscripts.substr(p + 2);
    if (rhs.find("->") != std::string::npos) fail("einsum", "Subscripts '" + subscripts + "' contain '->' twice.");
  }
  std::vector<std::string> terms;
  size_t start = 0;
  while (true) {
    size_t p = lhs.find(',', start);
    terms.push_back(lhs.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  if (shapes.empty()) fail("einsum", "At least one operand is required.");
  if (terms.size() != shapes.size()) {
    fail("einsum", "Number of operands, " + std::to_string(shapes.size()) +
                       ", does not match the number of input subscripts, " + std::to_string(terms.size()) + ".");
  }
  std::vector<std::vector<int>> raw;
  int ell = 0;
  for (size_t k = 0; k < terms.size(); ++k) {
    raw.push_back(parse_term(terms[k]));
    const int letters = static_cast<int>(std::count_if(raw[k].begin(), raw[k].end(), [](int l) { return l >= 0; }));
    const bool has_ell = letters != static_cast<int>(raw[k].size());
    const int nd = static_cast<int>(shapes[k].size());
    if ((has_ell && letters > nd) || (!has_ell && letters != nd)) {
      fail("einsum", "Invalid number of subscripts " + std::to_string(letters) + " for input " +
                         std::to_string(k) + " with " + std::to_string(nd) + " dimensions.");
    }
    if (has_ell) ell = std::max(ell, nd - letters);
  }
  plan.sizes.assign(kEllipsisBase + ell, 1);
  std::vector<bool> seen(kEllipsisBase + ell, false);
  for (size_t k = 0; k < raw.size(); ++k) {
    const int nd = static_cast<int>(shapes[k].size());
    const int e = nd - static_cast<int>(std::count_if(raw[k].begin(), raw[k].end(), [](int l) { return l >= 0; }));
    std::vector<int> labels;
    for (int l : raw[k]) {
      if (l >= 0) {
        labels.push_back(l);
      } else {
        for (int t = 0; t < e; ++t) labels.push_back(kEllipsisBase + ell - e + t);
      }
    }
    for (int d = 0; d < nd; ++d) {
      int l = labels[d];
      int64_t n = shapes[k][d];
      if (!seen[l]) {
        plan.sizes[l] = n, seen[l] = true;
      } else if (n != plan.sizes[l]) {
        if (plan.sizes[l] == 1) {
          plan.sizes[l] = n;
        } else if (n != 1) {
          fail("einsum", "Cannot broadcast dimension " + std::to_string(d) + " of input " + std::to_string(k) +
                             " with shape " + shape_str(shapes[k]) + " to size " + std::to_string(plan.sizes[l]) + ".");
        }
      }
    }
    plan.inputs.push_back(labels);
  }
  if (explicit_out) {
    for (int l : parse_term(rhs)) {
      if (l < 0) {
        for (int t = 0; t < ell; ++t) plan.output.push_back(kEllipsisBase + t);
        continue;
      }
      if (contains(plan.output, l)) fail("einsum", "Repeated index in the output '" + rhs + "'.");
      if (!seen[l]) fail("einsum", "Output index '" + std::string(1, l < 26 ? 'A' + l : 'a' + l - 26) +
                                       "' does not appear in the inputs.");
      plan.output.push_back(l);
    }
  } else {
    std::vector<int> count(kEllipsisBase, 0);
    for (auto& in : plan.inputs) {
      for (int l : in) {
        if (l < kEllipsisBase) ++count[l];
      }
    }
    for (int t = 0; t < ell; ++t) plan.output.push_back(kEllipsisBase + t);
    for (int l = 0; l < kEllipsisBase; ++l) {
      if (count[l] == 1) plan.output.push_back(l);
    }
  }

  // Costs and the greedy order of pairwise contractions, following NumPy's einsum_path: take
  // the pair that removes the most elements (then the cheapest), among pairs sharing an index
  // if there are any; the result joins the end of the list.
  std::vector<std::vector<int>> sets;
  for (auto& in : plan.inputs) sets.push_back(set_of(in));
  const std::vector<int> out_set = set_of(plan.output);
  std::vector<int> all;
  for (auto& st : sets) all = set_union(all, st);
  plan.naive_scaling = all.size();
  // Something is summed when an index is missing from the output.
  plan.naive_flops = flop_count(all, set_inter(all, out_set).size() != all.size(), sets.size(), plan.sizes);
  auto contraction = [&](const std::vector<size_t>& pos, std::vector<int>& result, std::vector<int>& idx,
                         bool& removed) {
    idx.clear();
    for (size_t p : pos) idx = set_union(idx, sets[p]);
    std::vector<int> remain = out_set;
    for (size_t q = 0; q < sets.size(); ++q) {
      if (std::find(pos.begin(), pos.end(), q) == pos.end()) remain = set_union(remain, sets[q]);
    }
    result = set_inter(idx, remain);
    removed = result.size() != idx.size();
  };
  auto take_step = [&](const std::vector<size_t>& pos) {
    std::vector<int> result, idx;
    bool removed;
    contraction(pos, result, idx, removed);
    plan.opt_flops += flop_count(idx, removed, pos.size(), plan.sizes);
    plan.opt_scaling = std::max(plan.opt_scaling, idx.size());
    plan.path.push_back(std::vector<int>(pos.begin(), pos.end()));
    for (auto it = pos.rbegin(); it != pos.rend(); ++it) sets.erase(sets.begin() + *it);
    sets.push_back(result);
  };
  if (sets.size() == 1) take_step({0});
  while (sets.size() > 1) {
    bool found = false;
    std::pair<int64_t, int64_t> best_key;
    std::vector<size_t> best;
    for (int pass = 0; pass < 2 && !found; ++pass) {
      for (size_t i = 0; i < sets.size(); ++i) {
        for (size_t j = i + 1; j < sets.size(); ++j) {
          if (pass == 0 && set_inter(sets[i], sets[j]).empty()) continue;
          std::vector<int> result, idx;
          bool removed;
          contraction({i, j}, result, idx, removed);
          int64_t removed_size = size_of(sets[i], plan.sizes) + size_of(sets[j], plan.sizes) -
                                 size_of(result, plan.sizes);
          std::pair<int64_t, int64_t> key{-removed_size, flop_count(idx, removed, 2, plan.sizes)};
          if (!found || key < best_key) best_key = key, best = {i, j}, found = true;
        }
      }
    }
    take_step(best);
  }
  return plan;
}

// Sums the axes of `x` whose labels are not in `keep`.
array sum_unneeded(const array& x, std::vector<int>& labels, const std::vector<int>& keep, Stream s) {
  Axes axes;
  std::vector<int> rest;
  for (size_t d = 0; d < labels.size(); ++d) {
    if (contains(keep, labels[d])) {
      rest.push_back(labels[d]);
    } else {
      axes.push_back(static_cast<int>(d));
    }
  }
  if (axes.empty()) return x;
  labels = rest;
  return sum(x, axes, false, s);
}

array permuted(const array& x, const std::vector<int>& labels, const std::vector<int>& order, Stream s) {
  Axes perm;
  for (int l : order) perm.push_back(static_cast<int>(std::find(labels.begin(), labels.end(), l) - labels.begin()));
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int>(i);
  return identity ? x : transpose(x, perm, s);
}

}  // namespace

std::pair<std::vector<std::vector<int>>, std::string> einsum_path(const std::string& subscripts,
                                                                  const std::vector<Shape>& shapes) {
  EinsumPlan plan = plan_einsum(subscripts, shapes);
  std::ostringstream os;
  os << "  Complete contraction:  " << subscripts << "\n"
     << "         Naive scaling:  " << plan.naive_scaling << "\n"
     << "     Optimized scaling:  " << plan.opt_scaling << "\n"
     << "      Naive FLOP count:  " << plan.naive_flops << "\n"
     << "  Optimized FLOP count:  " << plan.opt_flops << "\n";
  return {plan.path, os.str()};
}

array einsum(const std::string& subscripts, const std::vector<array>& operands, Stream s) {
  std::vector<Shape> shapes;
  for (auto& a : operands) shapes.push_back(a.shape());
  EinsumPlan plan = plan_einsum(subscripts, shapes);
  Dtype dtype = operands[0].dtype();
  for (auto& a : operands) dtype = promote_types(dtype, a.dtype());

  std::vector<array> ops;
  std::vector<std::vector<int>> labels = plan.inputs;
  for (size_t k = 0; k < operands.size(); ++k) {
    array x = astype(operands[k], dtype, s);
    auto& lb = labels[k];
    // A label repeated within one operand selects its diagonal.
    for (bool again = true; again;) {
      again = false;
      for (size_t p = 0; p < lb.size() && !again; ++p) {
        for (size_t q = p + 1; q < lb.size() && !again; ++q) {
          if (lb[p] != lb[q]) continue;
          if (x.shape(p) != x.shape(q)) {
            fail("einsum", "Index repeated in input " + std::to_string(k) + " covers axes of sizes " +
                               std::to_string(x.shape(p)) + " and " + std::to_string(x.shape(q)) + ".");
          }
          x = diagonal(x, 0, static_cast<int>(p), static_cast<int>(q), s);
          int l = lb[p];
          lb.erase(lb.begin() + q);
          lb.erase(lb.begin() + p);
          lb.push_back(l);
          again = true;
        }
      }
    }
    Shape target;
    for (int l : lb) target.push_back(plan.sizes[l]);
    if (target != x.shape()) x = broadcast_to(x, target, s);
    ops.push_back(x);
  }

  for (auto& step : plan.path) {
    std::vector<int> keep = plan.output;
    for (size_t q = 0; q < ops.size(); ++q) {
      if (std::find(step.begin(), step.end(), static_cast<int>(q)) == step.end()) {
        keep.insert(keep.end(), labels[q].begin(), labels[q].end());
      }
    }
    if (step.size() == 1) {
      array x = sum_unneeded(ops[step[0]], labels[step[0]], keep, s);
      std::vector<int> lb = labels[step[0]];
      ops.erase(ops.begin() + step[0]);
      labels.erase(labels.begin() + step[0]);
      ops.push_back(x);
      labels.push_back(lb);
      continue;
    }
    std::vector<int> la = labels[step[0]], lb = labels[step[1]];
    std::vector<int> keep_a = keep, keep_b = keep;
    keep_a.insert(keep_a.end(), lb.begin(), lb.end());
    keep_b.insert(keep_b.end(), la.begin(), la.end());
    array a = sum_unneeded(ops[step[0]], la, keep_a, s);
    array b = sum_unneeded(ops[step[1]], lb, keep_b, s);
    std::vector<int> batch, contr, free_a, free_b;
    for (int l : la) {
      if (!contains(lb, l)) free_a.push_back(l);
      else if (contains(keep, l)) batch.push_back(l);
      else contr.push_back(l);
    }
    for (int l : lb) {
      if (!contains(la, l)) free_b.push_back(l);
    }
    auto cat = [](std::initializer_list<const std::vector<int>*> parts) {
      std::vector<int> out;
      for (auto* p : parts) out.insert(out.end(), p->begin(), p->end());
      return out;
    };
    std::vector<int> result_labels = cat({&batch, &free_a, &free_b});
    Shape result_shape;
    for (int l : result_labels) result_shape.push_back(plan.sizes[l]);
    array r;
    if (is_floating(dtype)) {
      // Lowered to one batched matmul: (batch, free_a, contr) @ (batch, contr, free_b).
      int64_t nb = size_of(batch, plan.sizes), nfa = size_of(free_a, plan.sizes);
      int64_t nk = size_of(contr, plan.sizes), nfb = size_of(free_b, plan.sizes);
      array am = reshape(permuted(a, la, cat({&batch, &free_a, &contr}), s), {nb, nfa, nk}, s);
      array bm = reshape(permuted(b, lb, cat({&batch, &contr, &free_b}), s), {nb, nk, nfb}, s);
      r = reshape(matmul(am, bm, s), result_shape, s);
    } else {
      // matmul takes real floating types only: multiply with broadcasting and sum instead.
      std::vector<int> order = cat({&batch, &free_a, &free_b, &contr});
      auto expand = [&](const array& x, const std::vector<int>& lx) {
        std::vector<int> present;
        Shape shape;
        for (int l : order) {
          if (contains(lx, l)) present.push_back(l), shape.push_back(plan.sizes[l]);
          else shape.push_back(1);
        }
        return reshape(permuted(x, lx, present, s), shape, s);
      };
      r = multiply(expand(a, la), expand(b, lb), s);
      if (!contr.empty()) {
        Axes axes;
        for (size_t i = 0; i < contr.size(); ++i) axes.push_back(static_cast<int>(result_labels.size() + i));
        r = sum(r, axes, false, s);
      }
      r = astype(r, dtype, s);
    }
    ops.erase(ops.begin() + step[1]);
    labels.erase(labels.begin() + step[1]);
    ops.erase(ops.begin() + step[0]);
    labels.erase(labels.begin() + step[0]);
    ops.push_back(r);
    labels.push_back(result_labels);
  }
  array x = sum_unneeded(ops[0], labels[0], plan.output, s);
  return permuted(x, labels[0], plan.output, s);
}

// ---- elementwise compositions ----

array clip(const array& a, const std::optional<array>& a_min, const std::optional<array>& a_max,
           Stream s) {
  if (!a_min && !a_max) fail("clip", "At most one of a_min and a_max may be None.");
  array out = a;
  if (a_min) out = maximum(out, *a_min, s);
  if (a_max) out = minimum(out, *a_max, s);
  return out;
}

array nan_to_num(const array& a, double nan, std::optional<double> posinf,
                 std::optional<double> neginf, Stream s) {
  const Dtype t = a.dtype();
  if (!is_inexact(t)) return a;
  if (is_complex(t)) {
    fail("nan_to_num", "complex64 is not supported.");
  }
  double big = t == Dtype::float16   ? 65504.0
               : t == Dtype::bfloat16 ? 3.3895313892515355e38
               : t == Dtype::float32  ? static_cast<double>(std::numeric_limits<float>::max())
                                      : std::numeric_limits<double>::max();
  array out = where(isnan(a, s), array(nan, t), a, s);
  out = where(isposinf(a, s), array(posinf.value_or(big), t), out, s);
  return where(isneginf(a, s), array(neginf.value_or(-big), t), out, s);
}

array trunc(const array& a, Stream s) {
  if (is_complex(a.dtype())) fail("trunc", "complex64 is not supported.");
  if (!is_floating(a.dtype())) return a;
  // Toward zero: floor above zero, ceil below (the comparison keeps NaN and -0.0 as they are).
  return where(less(a, array(0.0, a.dtype()), s), ceil(a, s), floor(a, s), s);
}

array degrees(const array& a, Stream s) {
  Dtype t = is_inexact(a.dtype()) ? a.dtype() : Dtype::float32;
  return multiply(astype(a, t, s), array(180.0 / M_PI, t), s);
}

array radians(const array& a, Stream s) {
  Dtype t = is_inexact(a.dtype()) ? a.dtype() : Dtype::float32;
  return multiply(astype(a, t, s), array(M_PI / 180.0, t), s);
}

array logical_xor(const array& a, const array& b, Stream s) {
  return not_equal(astype(a, Dtype::bool_, s), astype(b, Dtype::bool_, s), s);
}

std::pair<array, array> divmod(const array& a, const array& b, Stream s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (is_complex(t)) fail("divmod", "complex64 is not supported.");
  return {floor_divide(a, b, s), remainder(a, b, s)};
}

array count_nonzero(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  array nz = a.dtype() == Dtype::bool_ ? a : not_equal(a, array(static_cast<int64_t>(0), a.dtype()), s);
  return sum(nz, axes, keepdims, s);
}

std::pair<array, array> minmax(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  return {min(a, axes, keepdims, s), max(a, axes, keepdims, s)};
}

array contiguous(const array& a, bool, Stream s) {
  // Layouts are known only once evaluated, so the copy decides then: a row-contiguous input is
  // shared, anything else copied into row order (which also satisfies allow_col_major).
  return copy(a, s);
}

}  // namespace pullback
