// Indexing ops: validate and build Gather / Scatter nodes (semantics in primitives/indexing.h).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "pullback/primitives/indexing.h"
#include "pullback/primitives/shape.h"

namespace pullback {

namespace {

// The operands of a gather or scatter made consistent: axes normalized, index arrays broadcast
// to one shape whose batch axes match a's.
struct IndexPlan {
  Axes axes;
  std::vector<array> indices;
  Shape index_shape;
};

IndexPlan plan_indices(const char* op, const array& a, const std::vector<array>& indices,
                       const Axes& axes, int batch, Stream s) {
  if (batch < 0 || batch > a.ndim()) {
    fail(op, "batch=" + std::to_string(batch) + " is out of range for an array of dimension " +
                 std::to_string(a.ndim()) + ".");
  }
  if (indices.size() != axes.size()) {
    fail(op, std::to_string(indices.size()) + " index arrays were given for " +
                 std::to_string(axes.size()) + " axes " + axes_str(axes) + ".");
  }
  IndexPlan plan;
  for (int ax : axes) {
    int n = normalize_axis(ax, a.ndim(), op);
    if (n < batch) {
      fail(op, "Axis " + std::to_string(ax) + " is one of the " + std::to_string(batch) +
                   " batch axes; batch axes cannot be indexed.");
    }
    if (std::find(plan.axes.begin(), plan.axes.end(), n) != plan.axes.end()) {
      fail(op, "Repeated axis " + std::to_string(ax) + " in " + axes_str(axes) + ".");
    }
    plan.axes.push_back(n);
  }
  const Shape batch_shape(a.shape().begin(), a.shape().begin() + batch);
  if (indices.empty()) {
    plan.index_shape = batch_shape;
    return plan;
  }
  Shape shape = indices[0].shape();
  for (size_t j = 0; j < indices.size(); ++j) {
    if (!is_integral(indices[j].dtype())) {
      fail(op, std::string("Indices must be integers; index array ") + std::to_string(j) +
                   " has dtype " + dtype_name(indices[j].dtype()) + ".");
    }
    shape = broadcast_shapes(shape, indices[j].shape());
  }
  if (static_cast<int>(shape.size()) < batch) {
    fail(op, "Indices of shape " + shape_str(shape) + " have fewer than the " +
                 std::to_string(batch) + " batch axes.");
  }
  for (int d = 0; d < batch; ++d) {
    if (shape[d] != batch_shape[d] && shape[d] != 1) {
      fail(op, "Batch axis " + std::to_string(d) + " of the indices, of shape " +
                   shape_str(shape) + ", does not match the array's shape " +
                   shape_str(a.shape()) + ".");
    }
    shape[d] = batch_shape[d];
  }
  for (const array& idx : indices) plan.indices.push_back(broadcast_to(idx, shape, s));
  plan.index_shape = shape;
  return plan;
}

void check_slice_sizes(const char* op, const array& a, const Shape& slice_sizes, int batch) {
  if (static_cast<int>(slice_sizes.size()) != a.ndim() - batch) {
    fail(op, "Got " + std::to_string(slice_sizes.size()) + " slice sizes " +
                 shape_str(slice_sizes) + " for an array of shape " + shape_str(a.shape()) +
                 " with " + std::to_string(batch) + " batch axes; expected " +
                 std::to_string(a.ndim() - batch) + ".");
  }
  for (size_t d = 0; d < slice_sizes.size(); ++d) {
    if (slice_sizes[d] < 0 || slice_sizes[d] > a.shape()[d + batch]) {
      fail(op, "Slice sizes " + shape_str(slice_sizes) + " do not fit in an array of shape " +
                   shape_str(a.shape()) + ".");
    }
  }
}

}  // namespace

array gather(const array& a, const std::vector<array>& indices, const Axes& axes,
             const Shape& slice_sizes, int batch, Stream s) {
  IndexPlan plan = plan_indices("gather", a, indices, axes, batch, s);
  Shape out = plan.index_shape;
  out.insert(out.end(), slice_sizes.begin(), slice_sizes.end());
  bool no_index = false;
  for (auto d : plan.index_shape) no_index = no_index || d == 0;
  if (no_index && !plan.indices.empty()) {
    // No index at all: nothing is read, so a slice larger than an empty axis is fine
    // (x[empty] and take(x, empty) of a size-0 axis are empty, as in NumPy and MLX).
    bool fits = true;
    for (size_t d = 0; d < slice_sizes.size() && d + batch < a.shape().size(); ++d) {
      fits = fits && slice_sizes[d] <= a.shape()[d + batch];
    }
    if (!fits && static_cast<int>(slice_sizes.size()) == a.ndim() - batch) {
      for (auto v : slice_sizes) {
        if (v < 0) check_slice_sizes("gather", a, slice_sizes, batch);
      }
      return zeros(out, a.dtype(), s);
    }
  }
  check_slice_sizes("gather", a, slice_sizes, batch);
  std::vector<array> inputs{a};
  inputs.insert(inputs.end(), plan.indices.begin(), plan.indices.end());
  return array(out, a.dtype(), std::make_shared<Gather>(s, plan.axes, slice_sizes, batch),
               std::move(inputs));
}

array scatter(const array& a, const std::vector<array>& indices, const array& updates,
              const Axes& axes, ScatterReduce reduce, int batch, Stream s) {
  const char* op = scatter_reduce_name(reduce);
  IndexPlan plan = plan_indices(op, a, indices, axes, batch, s);
  const size_t slice_ndim = static_cast<size_t>(a.ndim() - batch);
  if (updates.shape().size() < slice_ndim) {
    fail(op, "Updates of shape " + shape_str(updates.shape()) + " have fewer axes than the " +
                 std::to_string(slice_ndim) + " slice axes of an array of shape " +
                 shape_str(a.shape()) + ".");
  }
  const Shape slice_sizes(updates.shape().end() - slice_ndim, updates.shape().end());
  bool no_index = false;
  for (auto d : plan.index_shape) no_index = no_index || d == 0;
  if (no_index && !plan.indices.empty()) {
    // No index at all: nothing is written (an update into an empty axis is a no-op, as in
    // NumPy and MLX), whatever the slice sizes.
    bool fits = true;
    for (size_t d = 0; d < slice_sizes.size(); ++d) {
      fits = fits && slice_sizes[d] >= 0 && slice_sizes[d] <= a.shape()[d + batch];
    }
    if (!fits) return copy(a, s);
  }
  check_slice_sizes(op, a, slice_sizes, batch);
  Shape target = plan.index_shape;
  target.insert(target.end(), slice_sizes.begin(), slice_sizes.end());
  if (!is_broadcastable(updates.shape(), target)) {
    fail(op, "Updates of shape " + shape_str(updates.shape()) +
                 " cannot be broadcast to the indexed shape " + shape_str(target) + ".");
  }
  if ((reduce == ScatterReduce::Max || reduce == ScatterReduce::Min) &&
      a.dtype() == Dtype::complex64) {
    fail(op, "complex64 has no ordering for a maximum or minimum.");
  }
  array upd = updates.dtype() == a.dtype() ? updates : astype(updates, a.dtype(), s);
  upd = broadcast_to(upd, target, s);
  std::vector<array> inputs{a, upd};
  inputs.insert(inputs.end(), plan.indices.begin(), plan.indices.end());
  return array(a.shape(), a.dtype(), std::make_shared<Scatter>(s, plan.axes, reduce, batch),
               std::move(inputs));
}

// ---- index keys ----

IndexItem IndexItem::integer(int64_t v) {
  IndexItem it;
  it.kind = Kind::Integer;
  it.value = v;
  return it;
}
IndexItem IndexItem::slice(std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) {
  IndexItem it;
  it.kind = Kind::Slice;
  it.start = start;
  it.stop = stop;
  it.step = step;
  return it;
}
IndexItem IndexItem::new_axis() {
  IndexItem it;
  it.kind = Kind::NewAxis;
  return it;
}
IndexItem IndexItem::ellipsis() {
  IndexItem it;
  it.kind = Kind::Ellipsis;
  return it;
}
IndexItem IndexItem::of(const array& index) {
  IndexItem it;
  it.kind = Kind::Array;
  it.index = index;
  return it;
}

namespace {

using Kind = IndexItem::Kind;

[[noreturn]] void index_error(const char* op, const std::string& msg) {
  throw std::out_of_range(std::string("[") + op + "] " + msg);
}

// A malformed key (its structure or dtypes, not an out-of-range value) is a ValueError, as
// in MLX.
[[noreturn]] void key_error(const char* op, const std::string& msg) { fail(op, msg); }

// Python's slice bounds on an axis of size n, normalized for `slice` (stop may be -1 below a
// negative step). No intermediate overflows: a negative bound plus n stays in range.
void python_slice_bounds(int64_t n, const IndexItem& it, int64_t& start, int64_t& stop) {
  auto adjust = [&](std::optional<int64_t> b, int64_t dflt, int64_t lo, int64_t hi) {
    if (!b) return dflt;
    int64_t v = *b < 0 ? *b + n : *b;
    return std::clamp(v, lo, hi);
  };
  if (it.step > 0) {
    start = adjust(it.start, 0, 0, n);
    stop = adjust(it.stop, n, 0, n);
  } else {
    start = adjust(it.start, n - 1, -1, n - 1);
    stop = adjust(it.stop, -1, -1, n - 1);
  }
}

// The positions where a (possibly strided) bool mask is true, one integer array per mask axis.
// Evaluates the mask: the shape of the result depends on its values.
std::vector<array> nonzero_positions(const array& mask) {
  array m = mask;
  m.eval();
  return true_positions(m);
}

// A key resolved against an array: one item per axis of the extended view (the array with its
// slices applied and None axes inserted), no Ellipsis, bool masks turned into integer arrays.
struct ResolvedKey {
  Shape start, stop, step;  // per axis of `a`
  bool whole = true;        // every axis of `a` taken whole
  Shape view_shape;         // the extended view: one axis per item
  std::vector<Kind> kinds;  // per view axis: Slice, NewAxis, Integer or Array
  std::vector<int> advanced;        // view axes indexed by arrays (and by integers among them)
  std::vector<array> indices;       // their index arrays, broadcast to `index_shape`
  Shape index_shape;
  bool adjacent = false;  // advanced axes are consecutive: their result axes go in their place
};

ResolvedKey resolve(const char* op, const array& a, const IndexKey& key, Stream s) {
  // Axes each item consumes; a bool mask consumes as many axes as it has.
  int consumed = 0, ellipses = 0;
  bool any_array = false;
  for (const IndexItem& it : key) {
    if (it.kind == Kind::Ellipsis) ++ellipses;
    if (it.kind == Kind::Integer || it.kind == Kind::Slice) ++consumed;
    if (it.kind == Kind::Array) {
      any_array = true;
      consumed += it.index.dtype() == Dtype::bool_ ? it.index.ndim() : 1;
    }
  }
  if (ellipses > 1) key_error(op, "An index can only have a single ellipsis ('...').");
  const int nd = a.ndim();
  if (consumed > nd) {
    key_error(op, "Too many indices for an array of shape " + shape_str(a.shape()) + ": " +
                        std::to_string(consumed) + " were indexed.");
  }
  ResolvedKey r;
  r.start.assign(nd, 0);
  r.step.assign(nd, 1);
  r.stop = a.shape();
  std::vector<array> raw;  // per advanced view axis, before broadcasting
  int ax = 0;              // the next axis of `a`
  auto full_axis = [&](Kind kind) {
    r.view_shape.push_back(a.shape()[ax]);
    r.kinds.push_back(kind);
    ++ax;
  };
  auto add_advanced = [&](const array& idx, Kind kind) {
    r.advanced.push_back(static_cast<int>(r.view_shape.size()));
    raw.push_back(idx);
    full_axis(kind);
  };
  for (const IndexItem& it : key) {
    switch (it.kind) {
      case Kind::Ellipsis:
        for (int k = 0; k < nd - consumed; ++k) full_axis(Kind::Slice);
        break;
      case Kind::NewAxis:
        r.view_shape.push_back(1);
        r.kinds.push_back(Kind::NewAxis);
        break;
      case Kind::Slice: {
        if (it.step == 0) fail(op, "Slice step cannot be zero (axis " + std::to_string(ax) + ").");
        const int64_t n = a.shape()[ax];
        python_slice_bounds(n, it, r.start[ax], r.stop[ax]);
        r.step[ax] = it.step;
        const int64_t len = slice_length(r.start[ax], r.stop[ax], it.step);
        r.whole = r.whole && len == n && it.step == 1;
        r.view_shape.push_back(len);
        r.kinds.push_back(Kind::Slice);
        ++ax;
        break;
      }
      case Kind::Integer: {
        const int64_t n = a.shape()[ax];
        if (it.value < -n || it.value >= n) {
          index_error(op, "Index " + std::to_string(it.value) + " is out of bounds for axis " +
                              std::to_string(ax) + " with size " + std::to_string(n) + ".");
        }
        const int64_t i = it.value < 0 ? it.value + n : it.value;
        if (any_array) {
          // Among array indices an integer is a 0-d advanced index, as in NumPy.
          add_advanced(array(i, Dtype::int64), Kind::Integer);
        } else {
          r.start[ax] = i;
          r.stop[ax] = i + 1;
          r.whole = r.whole && n == 1;
          r.view_shape.push_back(1);
          r.kinds.push_back(Kind::Integer);
          ++ax;
        }
        break;
      }
      case Kind::Array: {
        const array& idx = it.index;
        if (idx.dtype() != Dtype::bool_) {
          if (!is_integral(idx.dtype())) {
            key_error(op, std::string("Arrays used as indices must be of integer or boolean "
                                        "dtype; got ") + dtype_name(idx.dtype()) + ".");
          }
          add_advanced(idx, Kind::Array);
          break;
        }
        for (int d = 0; d < idx.ndim(); ++d) {
          if (idx.shape()[d] != a.shape()[ax + d]) {
            key_error(op, "A boolean index of shape " + shape_str(idx.shape()) +
                                " does not match the indexed array of shape " +
                                shape_str(a.shape()) + " along axis " + std::to_string(ax + d) +
                                ".");
          }
        }
        if (idx.ndim() == 0) {
          // a[True] adds an axis of length 1 (a[False]: of length 0), as an advanced index.
          r.advanced.push_back(static_cast<int>(r.view_shape.size()));
          r.view_shape.push_back(1);
          r.kinds.push_back(Kind::Array);
          array m = copy(idx, s);
          m.eval();
          raw.push_back(zeros({m.item<bool>() ? 1 : 0}, Dtype::int64, s));
          break;
        }
        for (const array& p : nonzero_positions(idx)) add_advanced(p, Kind::Array);
        break;
      }
    }
  }
  while (ax < nd) full_axis(Kind::Slice);
  check_ndim(r.view_shape, op);  // None axes can push the view past the dimension limit
  if (!raw.empty()) {
    Shape shape = raw[0].shape();
    for (const array& idx : raw) {
      try {
        shape = broadcast_shapes(shape, idx.shape());
      } catch (const std::invalid_argument&) {
        std::string shapes;
        for (const array& i : raw) shapes += (shapes.empty() ? "" : " ") + shape_str(i.shape());
        key_error(op, "Index arrays could not be broadcast together with shapes " + shapes + ".");
      }
    }
    r.index_shape = shape;
    for (const array& idx : raw) r.indices.push_back(broadcast_to(idx, shape, s));
    r.adjacent = r.advanced.back() - r.advanced.front() + 1 == static_cast<int>(r.advanced.size());
  }
  return r;
}

// The view of `a` the key's basic part selects, with one axis per view axis of the key.
array extended_view(const array& a, const ResolvedKey& r, Stream s) {
  array v = r.whole ? a : slice(a, r.start, r.stop, r.step, s);
  return v.shape() == r.view_shape ? v : reshape(v, r.view_shape, s);
}

// Shape of the result without the advanced axes (and without integer axes on the basic path).
Shape remaining_shape(const ResolvedKey& r) {
  Shape out;
  for (size_t d = 0; d < r.view_shape.size(); ++d) {
    if (r.kinds[d] == Kind::Slice || r.kinds[d] == Kind::NewAxis) out.push_back(r.view_shape[d]);
  }
  return out;
}

// The permutation that moves the leading `nb` index axes of (index axes + rest) to `at`.
std::vector<int> move_index_axes(int nb, int at, int total) {
  std::vector<int> perm;
  for (int d = 0; d < at; ++d) perm.push_back(nb + d);
  for (int d = 0; d < nb; ++d) perm.push_back(d);
  for (int d = nb + at; d < total; ++d) perm.push_back(d);
  return perm;
}

// Where the index axes land in the result: in place of the advanced axes when those are
// adjacent, else first (NumPy's rule).
int index_axes_position(const ResolvedKey& r) {
  if (!r.adjacent) return 0;
  int at = 0;
  for (int d = 0; d < r.advanced.front(); ++d) {
    at += r.kinds[d] == Kind::Slice || r.kinds[d] == Kind::NewAxis;
  }
  return at;
}

Shape gather_slice_sizes(const ResolvedKey& r) {
  Shape sizes = r.view_shape;
  for (int d : r.advanced) sizes[d] = 1;
  return sizes;
}

// A single bool mask over the leading axes with a value that needs no positions: a select.
bool is_mask_select(const IndexKey& key, const array& a, const array& value) {
  if (key.size() != 1 || key[0].kind != Kind::Array || key[0].index.dtype() != Dtype::bool_) {
    return false;
  }
  const array& mask = key[0].index;
  if (mask.ndim() == 0 || mask.ndim() > a.ndim()) return false;
  const Shape rest(a.shape().begin() + mask.ndim(), a.shape().end());
  Shape v = value.shape();
  while (v.size() > rest.size() && v.front() == 1) v.erase(v.begin());
  return is_broadcastable(v, rest);
}

array combine(ScatterReduce reduce, const array& cur, const array& value, Stream s) {
  switch (reduce) {
    case ScatterReduce::Add: return add(cur, value, s);
    case ScatterReduce::Prod: return multiply(cur, value, s);
    case ScatterReduce::Max: return maximum(cur, value, s);
    case ScatterReduce::Min: return minimum(cur, value, s);
    default: return value;
  }
}

}  // namespace

array get_item(const array& a, const IndexKey& key, Stream s) {
  const char* op = "__getitem__";
  ResolvedKey r = resolve(op, a, key, s);
  array v = extended_view(a, r, s);
  const Shape rest = remaining_shape(r);
  if (r.advanced.empty()) return v.shape() == rest ? v : reshape(v, rest, s);
  array g = gather(v, r.indices, Axes(r.advanced.begin(), r.advanced.end()), gather_slice_sizes(r),
                   0, s);
  const int nb = static_cast<int>(r.index_shape.size());
  Shape flat = r.index_shape;
  flat.insert(flat.end(), rest.begin(), rest.end());
  g = reshape(g, flat, s);
  const int at = index_axes_position(r);
  return at == 0 ? g : transpose(g, move_index_axes(nb, at, static_cast<int>(flat.size())), s);
}

array set_item(const array& a, const IndexKey& key, const array& value_in, ScatterReduce reduce,
               Stream s) {
  const char* op = reduce == ScatterReduce::None ? "__setitem__" : scatter_reduce_name(reduce);
  array value = value_in.dtype() == a.dtype() ? value_in : astype(value_in, a.dtype(), s);
  if (is_mask_select(key, a, value)) {
    // No positions needed (and no evaluation): every selected element gets the same value
    // per trailing position, so where() does it and keeps the graph lazy.
    const array& mask = key[0].index;
    Shape m = mask.shape();
    m.resize(a.ndim(), 1);
    return where(reshape(mask, m, s), combine(reduce, a, value, s), a, s);
  }
  ResolvedKey r = resolve(op, a, key, s);
  const Shape rest = remaining_shape(r);
  // The shape a[key] has, which the value broadcasts to.
  Shape target;
  const int at = index_axes_position(r);
  const int nb = static_cast<int>(r.index_shape.size());
  if (r.advanced.empty()) {
    target = rest;
  } else {
    target.assign(rest.begin(), rest.begin() + at);
    target.insert(target.end(), r.index_shape.begin(), r.index_shape.end());
    target.insert(target.end(), rest.begin() + at, rest.end());
  }
  Shape vs = value.shape();
  size_t lead = 0;
  while (vs.size() - lead > target.size() && vs[lead] == 1) ++lead;
  if (lead) value = reshape(value, Shape(vs.begin() + lead, vs.end()), s);
  if (!is_broadcastable(value.shape(), target)) {
    fail(op, "Cannot assign a value of shape " + shape_str(value_in.shape()) +
                 " to an indexed region of shape " + shape_str(target) + ".");
  }
  value = broadcast_to(value, target, s);
  array v = extended_view(a, r, s);
  array updated;
  if (r.advanced.empty()) {
    // Basic indices select each element once: combine, then write the region back.
    updated = combine(reduce, v, reshape(value, r.view_shape, s), s);
  } else {
    if (at != 0) {  // back to index axes first, the order scatter reads
      std::vector<int> perm = move_index_axes(nb, at, static_cast<int>(target.size()));
      std::vector<int> inverse(perm.size());
      for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int>(i);
      value = transpose(value, inverse, s);
    }
    Shape upd_shape = r.index_shape;
    Shape sizes = gather_slice_sizes(r);
    upd_shape.insert(upd_shape.end(), sizes.begin(), sizes.end());
    updated = scatter(v, r.indices, reshape(value, upd_shape, s),
                      Axes(r.advanced.begin(), r.advanced.end()), reduce, 0, s);
  }
  // Back to the basic view's shape (integer and None axes as the slice has them).
  Shape region;
  for (size_t d = 0; d < a.shape().size(); ++d) {
    region.push_back(slice_length(r.start[d], r.stop[d], r.step[d]));
  }
  updated = reshape(updated, region, s);
  return r.whole ? updated : slice_update(a, updated, r.start, r.stop, r.step, s);
}

array take(const array& a, const array& indices, std::optional<int> axis, Stream s) {
  if (!axis) return take(reshape(a, {static_cast<int64_t>(a.size())}, s), indices, 0, s);
  const int ax = normalize_axis(*axis, a.ndim(), "take");
  IndexKey key(ax, IndexItem::slice());
  key.push_back(IndexItem::of(indices));
  if (!is_integral(indices.dtype())) {
    fail("take", std::string("Indices must be integers; got dtype ") +
                     dtype_name(indices.dtype()) + ".");
  }
  return get_item(a, key, s);
}

namespace {

// take_along_axis / put_along_axis as a gather or scatter whose batch axes are every axis but
// `axis` (moved last): one pass, no index arithmetic. Returns the array and indices moved and
// broadcast against each other.
std::pair<array, array> along_axis_operands(const char* op, const array& a, const array& indices,
                                            int ax, Stream s) {
  if (!is_integral(indices.dtype())) {
    fail(op, std::string("Indices must be integers; got dtype ") + dtype_name(indices.dtype()) + ".");
  }
  if (indices.ndim() != a.ndim()) {
    fail(op, "Indices of shape " + shape_str(indices.shape()) +
                 " must have as many axes as the array of shape " + shape_str(a.shape()) + ".");
  }
  array am = moveaxis(a, ax, -1, s), im = moveaxis(indices, ax, -1, s);
  Shape lead_a(am.shape().begin(), am.shape().end() - 1);
  Shape lead_i(im.shape().begin(), im.shape().end() - 1);
  Shape lead;
  try {
    lead = broadcast_shapes(lead_a, lead_i);
  } catch (const std::invalid_argument&) {
    fail(op, "Indices of shape " + shape_str(indices.shape()) + " do not broadcast with the array of shape " +
                 shape_str(a.shape()) + " outside axis " + std::to_string(ax) + ".");
  }
  Shape sa = lead, si = lead;
  sa.push_back(am.shape().back());
  si.push_back(im.shape().back());
  return {broadcast_to(am, sa, s), broadcast_to(im, si, s)};
}

}  // namespace

array take_along_axis(const array& a, const array& indices, std::optional<int> axis, Stream s) {
  if (!axis) {
    return take_along_axis(reshape(a, {static_cast<int64_t>(a.size())}, s),
                           reshape(indices, {static_cast<int64_t>(indices.size())}, s), 0, s);
  }
  const int ax = normalize_axis(*axis, a.ndim(), "take_along_axis");
  auto [am, im] = along_axis_operands("take_along_axis", a, indices, ax, s);
  const int batch = am.ndim() - 1;
  array g = gather(am, {im}, {batch}, {1}, batch, s);  // shape im + (1,)
  g = reshape(g, im.shape(), s);
  return moveaxis(g, -1, ax, s);
}

array put_along_axis(const array& a, const array& indices, const array& values,
                     std::optional<int> axis, ScatterReduce reduce, Stream s) {
  if (!axis) {
    array flat = put_along_axis(reshape(a, {static_cast<int64_t>(a.size())}, s),
                                reshape(indices, {static_cast<int64_t>(indices.size())}, s),
                                reshape(broadcast_to(values, indices.shape(), s),
                                        {static_cast<int64_t>(indices.size())}, s),
                                0, reduce, s);
    return reshape(flat, a.shape(), s);
  }
  const int ax = normalize_axis(*axis, a.ndim(), "put_along_axis");
  auto [am, im] = along_axis_operands("put_along_axis", a, indices, ax, s);
  if (am.shape() != moveaxis(a, ax, -1, s).shape()) {
    fail("put_along_axis", "Indices of shape " + shape_str(indices.shape()) +
                               " would broadcast the array of shape " + shape_str(a.shape()) + ".");
  }
  // Nothing is written through empty indices (NumPy then accepts values of any shape).
  if (im.size() == 0) return a;
  // Values with fewer axes broadcast from the right, before the axis moves.
  Shape padded(std::max(0, a.ndim() - values.ndim()), 1);
  padded.insert(padded.end(), values.shape().begin(), values.shape().end());
  array vm = moveaxis(reshape(values, padded, s), ax, -1, s);
  if (!is_broadcastable(vm.shape(), im.shape())) {
    fail("put_along_axis", "Values of shape " + shape_str(values.shape()) +
                               " do not broadcast to the indices' shape " +
                               shape_str(indices.shape()) + ".");
  }
  const int batch = am.ndim() - 1;
  Shape upd_shape = im.shape();
  upd_shape.push_back(1);
  array upd = reshape(broadcast_to(vm, im.shape(), s), upd_shape, s);
  array out = scatter(am, {im}, upd, {batch}, reduce, batch, s);
  return moveaxis(out, -1, ax, s);
}

// ---- slices with array starts ----

namespace {

// One 0-d start per axis from a 1-d (or, for one axis, 0-d) integer array.
std::vector<array> split_starts(const char* op, const array& start, size_t naxes, Stream s) {
  if (!is_integral(start.dtype())) {
    fail(op, std::string("start_indices must be integers; got dtype ") + dtype_name(start.dtype()) + ".");
  }
  const bool scalar = start.ndim() == 0;
  if (start.ndim() > 1 || (scalar ? naxes != 1 : static_cast<size_t>(start.shape()[0]) != naxes)) {
    fail(op, "start_indices of shape " + shape_str(start.shape()) + " do not give one start for each of the " +
                 std::to_string(naxes) + " axes.");
  }
  std::vector<array> out;
  for (size_t j = 0; j < naxes; ++j) {
    const int64_t k = static_cast<int64_t>(j);
    out.push_back(scalar ? start : reshape(slice(start, {k}, {k + 1}, {1}, s), {}, s));
  }
  return out;
}

}  // namespace

array dynamic_slice(const array& a, const array& start, const Axes& axes, const Shape& slice_size,
                    Stream s) {
  if (static_cast<int>(slice_size.size()) != a.ndim()) {
    fail("slice", "Got " + std::to_string(slice_size.size()) + " slice sizes for an array of shape " +
                      shape_str(a.shape()) + "; expected one per axis.");
  }
  return gather(a, split_starts("slice", start, axes.size(), s), axes, slice_size, 0, s);
}

array dynamic_slice_update(const array& a, const array& update, const array& start,
                           const Axes& axes, Stream s) {
  if (update.ndim() > a.ndim()) {
    fail("slice_update", "An update of shape " + shape_str(update.shape()) +
                             " has more axes than the array of shape " + shape_str(a.shape()) + ".");
  }
  Shape padded(a.ndim() - update.ndim(), 1);  // fewer axes broadcast from the right
  padded.insert(padded.end(), update.shape().begin(), update.shape().end());
  if (update.ndim() == 0) {
    // MLX fills with a scalar one position along each of `axes` and the whole of every other
    // axis (a non-scalar update covers only its own shape).
    padded = a.shape();
    for (int ax : axes) padded[normalize_axis(ax, a.ndim(), "slice_update")] = 1;
    return scatter(a, split_starts("slice_update", start, axes.size(), s),
                   broadcast_to(update, padded, s), axes, ScatterReduce::None, 0, s);
  }
  return scatter(a, split_starts("slice_update", start, axes.size(), s), reshape(update, padded, s),
                 axes, ScatterReduce::None, 0, s);
}

}  // namespace pullback
