// Shape ops: validate, then build Broadcast / Reshape / Transpose / Slice / SliceUpdate /
// Concatenate nodes. Everything else here is a composition of those six.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "pullback/primitives/shape.h"

namespace pullback {

namespace {

// Normalizes every axis against `ndim` and rejects repeats.
Axes normalize_axes(const Axes& axes, int ndim, const char* op) {
  Axes out;
  out.reserve(axes.size());
  for (int ax : axes) {
    int a = normalize_axis(ax, ndim, op);
    if (std::find(out.begin(), out.end(), a) != out.end()) {
      fail(op, "Repeated axis " + std::to_string(ax) + " in " + axes_str(axes) + ".");
    }
    out.push_back(a);
  }
  return out;
}

// Clamps a normalized per-axis slice into the axis so that every selected element exists.
void clamp_slice(int64_t n, int64_t& start, int64_t& stop, int64_t step) {
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, n);
    stop = std::clamp<int64_t>(stop, start, n);
  } else {
    start = std::clamp<int64_t>(start, -1, n - 1);
    stop = std::clamp<int64_t>(stop, -1, start);
  }
}

// Checks the three per-axis lists and returns the clamped bounds and the selected shape.
// An axis that selects at most one element gets the step 1 (and an empty one the bounds
// 0:0): its step never moves the view, and a huge step times the axis stride would
// overflow the view's strides. Every step kept is then smaller than its axis.
Shape prepare_slice(const char* op, const array& a, Shape& start, Shape& stop, Shape& strides) {
  const size_t nd = static_cast<size_t>(a.ndim());
  if (start.size() != nd || stop.size() != nd || strides.size() != nd) {
    fail(op, "Expected " + std::to_string(nd) + " start, stop and stride values for an array of shape " +
                 shape_str(a.shape()) + "; got " + std::to_string(start.size()) + ", " +
                 std::to_string(stop.size()) + " and " + std::to_string(strides.size()) + ".");
  }
  Shape out(nd);
  for (size_t d = 0; d < nd; ++d) {
    if (strides[d] == 0) fail(op, "Slice step cannot be zero (axis " + std::to_string(d) + ").");
    clamp_slice(a.shape()[d], start[d], stop[d], strides[d]);
    out[d] = slice_length(start[d], stop[d], strides[d]);
    if (out[d] <= 1) {
      if (out[d] == 0) start[d] = 0;
      stop[d] = start[d] + out[d];
      strides[d] = 1;
    }
  }
  return out;
}


// NumPy assignment drops leading size-1 axes of a value with more axes than its target.
array drop_leading_ones(const array& value, size_t ndim, Stream s) {
  if (static_cast<size_t>(value.ndim()) <= ndim) return value;
  size_t lead = value.ndim() - ndim;
  for (size_t d = 0; d < lead; ++d) {
    if (value.shape()[d] != 1) return value;
  }
  return reshape(value, Shape(value.shape().begin() + lead, value.shape().end()), s);
}

}  // namespace

namespace {
template <typename T>
std::string tuple_str(const std::vector<T>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(v[i]);
  }
  return s + (v.size() == 1 ? ",)" : ")");
}
}  // namespace

bool is_broadcastable(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t diff = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d) {
    if (from[d] != 1 && from[d] != to[d + diff]) return false;
  }
  return true;
}

std::string axes_str(const Axes& axes) { return tuple_str(axes); }
std::string shape_str(const Shape& shape) { return tuple_str(shape); }

void fail(const char* op, const std::string& msg) {
  throw std::invalid_argument(std::string("[") + op + "] " + msg);
}

bool infer_shape(Shape& shape, size_t total, const char* op) {
  int infer = -1;
  size_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) fail(op, "Can only infer one dimension; got shape " + shape_str(shape) + ".");
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      fail(op, "Invalid dimension " + std::to_string(shape[i]) + " in shape " + shape_str(shape) +
                   ".");
    } else {
      known *= static_cast<size_t>(shape[i]);
    }
  }
  if (infer >= 0) {
    if (known == 0 || total % known != 0) return false;
    shape[infer] = static_cast<int64_t>(total / known);
  } else if (known != total) {
    return false;
  }
  return true;
}

int normalize_axis(int axis, int ndim, const char* op) {
  if (axis < -ndim || axis >= ndim) {
    // IndexError, as MLX raises for an axis out of range in every op that takes one.
    throw std::out_of_range(std::string("[") + op + "] axis " + std::to_string(axis) +
                            " is out of bounds for array of dimension " + std::to_string(ndim) +
                            ".");
  }
  return axis < 0 ? axis + ndim : axis;
}

// ---- broadcasting ----

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t nd = std::max(a.size(), b.size());
  Shape out(nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da == db || db == 1) {
      out[nd - 1 - i] = da;
    } else if (da == 1) {
      out[nd - 1 - i] = db;
    } else {
      fail("broadcast_shapes",
           "Shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be broadcast.");
    }
  }
  return out;
}

array broadcast_to(const array& a, const Shape& shape, Stream s) {
  if (a.shape() == shape) return a;
  for (auto d : shape) {
    if (d < 0) fail("broadcast_to", "Negative dimensions are not allowed in shape " + shape_str(shape) + ".");
  }
  if (!is_broadcastable(a.shape(), shape)) {
    fail("broadcast_to", "Cannot broadcast array of shape " + shape_str(a.shape()) + " to shape " +
                             shape_str(shape) + ".");
  }
  return array(shape, a.dtype(), std::make_shared<Broadcast>(s, shape), {a});
}

std::vector<array> broadcast_arrays(const std::vector<array>& arrays, Stream s) {
  if (arrays.empty()) return {};
  Shape shape = arrays[0].shape();
  for (size_t i = 1; i < arrays.size(); ++i) shape = broadcast_shapes(shape, arrays[i].shape());
  std::vector<array> out;
  out.reserve(arrays.size());
  for (auto& a : arrays) out.push_back(broadcast_to(a, shape, s));
  return out;
}

// ---- reshape and friends ----

array reshape(const array& a, Shape shape, Stream s) {
  if (!infer_shape(shape, a.size(), "reshape")) {
    fail("reshape", "Cannot reshape array of size " + std::to_string(a.size()) + " and shape " +
                        shape_str(a.shape()) + " into shape " + shape_str(shape) + ".");
  }
  if (shape == a.shape()) return a;
  return array(shape, a.dtype(), std::make_shared<Reshape>(s, shape), {a});
}

array flatten(const array& a, int start_axis, int end_axis, Stream s) {
  if (a.ndim() == 0) return reshape(a, {1}, s);
  // As in MLX, axes past either end are clamped to the array (flatten(a, 0, 9) flattens it
  // all); only a start that lands after the end is an error.
  const int nd = a.ndim();
  int start = std::max(start_axis < 0 ? start_axis + nd : start_axis, 0);
  int end = std::min(end_axis < 0 ? end_axis + nd : end_axis, nd - 1);
  if (start > end) {
    fail("flatten", "start_axis " + std::to_string(start_axis) + " comes after end_axis " +
                        std::to_string(end_axis) + " for an array of shape " + shape_str(a.shape()) + ".");
  }
  Shape shape(a.shape().begin(), a.shape().begin() + start);
  int64_t merged = 1;
  for (int d = start; d <= end; ++d) merged *= a.shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), a.shape().begin() + end + 1, a.shape().end());
  return reshape(a, shape, s);
}

array squeeze(const array& a, const std::optional<Axes>& axes, Stream s) {
  Shape shape;
  if (!axes) {
    for (auto d : a.shape()) {
      if (d != 1) shape.push_back(d);
    }
    return reshape(a, shape, s);
  }
  Axes norm = normalize_axes(*axes, a.ndim(), "squeeze");
  for (size_t i = 0; i < norm.size(); ++i) {
    if (a.shape()[norm[i]] != 1) {
      fail("squeeze", "Cannot squeeze axis " + std::to_string((*axes)[i]) + " of an array of shape " +
                          shape_str(a.shape()) + ": its size is " +
                          std::to_string(a.shape()[norm[i]]) + ", not 1.");
    }
  }
  for (int d = 0; d < a.ndim(); ++d) {
    if (std::find(norm.begin(), norm.end(), d) == norm.end()) shape.push_back(a.shape()[d]);
  }
  return reshape(a, shape, s);
}

array expand_dims(const array& a, const Axes& axes, Stream s) {
  const int out_nd = a.ndim() + static_cast<int>(axes.size());
  Axes norm = normalize_axes(axes, out_nd, "expand_dims");
  Shape shape(out_nd, 1);
  int src = 0;
  for (int d = 0; d < out_nd; ++d) {
    if (std::find(norm.begin(), norm.end(), d) == norm.end()) shape[d] = a.shape()[src++];
  }
  return reshape(a, shape, s);
}

// ---- axis permutations ----

array transpose(const array& a, const Axes& axes, Stream s) {
  if (static_cast<int>(axes.size()) != a.ndim()) {
    fail("transpose", "Received " + std::to_string(axes.size()) + " axes " + axes_str(axes) +
                          " for an array of shape " + shape_str(a.shape()) + ".");
  }
  Axes perm = normalize_axes(axes, a.ndim(), "transpose");
  bool identity = true;
  Shape shape(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    identity = identity && perm[i] == static_cast<int>(i);
    shape[i] = a.shape()[perm[i]];
  }
  if (identity) return a;
  return array(shape, a.dtype(), std::make_shared<Transpose>(s, perm), {a});
}

array transpose(const array& a, Stream s) {
  Axes perm(a.ndim());
  for (int i = 0; i < a.ndim(); ++i) perm[i] = a.ndim() - 1 - i;
  return transpose(a, perm, s);
}

array swapaxes(const array& a, int axis1, int axis2, Stream s) {
  int a1 = normalize_axis(axis1, a.ndim(), "swapaxes");
  int a2 = normalize_axis(axis2, a.ndim(), "swapaxes");
  Axes perm(a.ndim());
  for (int i = 0; i < a.ndim(); ++i) perm[i] = i;
  std::swap(perm[a1], perm[a2]);
  return transpose(a, perm, s);
}

array moveaxis(const array& a, int source, int destination, Stream s) {
  int src = normalize_axis(source, a.ndim(), "moveaxis");
  int dst = normalize_axis(destination, a.ndim(), "moveaxis");
  Axes perm;
  for (int i = 0; i < a.ndim(); ++i) {
    if (i != src) perm.push_back(i);
  }
  perm.insert(perm.begin() + dst, src);
  return transpose(a, perm, s);
}

// ---- joining and splitting ----

array concatenate(const std::vector<array>& arrays, std::optional<int> axis, Stream s) {
  if (arrays.empty()) fail("concatenate", "Need at least one array to concatenate.");
  if (!axis) {
    std::vector<array> flat;
    flat.reserve(arrays.size());
    for (auto& a : arrays) flat.push_back(reshape(a, {-1}, s));
    return concatenate(flat, 0, s);
  }
  const array& first = arrays[0];
  if (first.ndim() == 0) fail("concatenate", "Zero-dimensional arrays cannot be concatenated.");
  int ax = normalize_axis(*axis, first.ndim(), "concatenate");
  Dtype dtype = first.dtype();
  Shape shape = first.shape();
  for (size_t i = 1; i < arrays.size(); ++i) {
    const array& a = arrays[i];
    bool match = a.ndim() == first.ndim();
    for (int d = 0; match && d < a.ndim(); ++d) match = d == ax || a.shape()[d] == first.shape()[d];
    if (!match) {
      fail("concatenate", "Array 0 of shape " + shape_str(first.shape()) + " and array " +
                              std::to_string(i) + " of shape " + shape_str(a.shape()) +
                              " differ outside the concatenation axis " + std::to_string(*axis) + ".");
    }
    shape[ax] += a.shape()[ax];
    dtype = promote_types(dtype, a.dtype());
  }
  std::vector<array> inputs;
  inputs.reserve(arrays.size());
  for (auto& a : arrays) inputs.push_back(a.dtype() == dtype ? a : astype(a, dtype, s));
  return array(shape, dtype, std::make_shared<Concatenate>(s, ax), std::move(inputs));
}

array stack(const std::vector<array>& arrays, int axis, Stream s) {
  if (arrays.empty()) fail("stack", "Need at least one array to stack.");
  for (size_t i = 1; i < arrays.size(); ++i) {
    if (arrays[i].shape() != arrays[0].shape()) {
      fail("stack", "All arrays must have the same shape; array 0 has shape " +
                        shape_str(arrays[0].shape()) + " and array " + std::to_string(i) +
                        " has shape " + shape_str(arrays[i].shape()) + ".");
    }
  }
  int ax = normalize_axis(axis, arrays[0].ndim() + 1, "stack");
  std::vector<array> expanded;
  expanded.reserve(arrays.size());
  for (auto& a : arrays) expanded.push_back(expand_dims(a, {ax}, s));
  return concatenate(expanded, ax, s);
}

std::vector<array> split(const array& a, int64_t num_sections, int axis, Stream s) {
  int ax = normalize_axis(axis, a.ndim(), "split");
  const int64_t n = a.shape()[ax];
  if (num_sections <= 0) {
    fail("split", "Number of sections must be positive; got " + std::to_string(num_sections) + ".");
  }
  if (n % num_sections != 0) {
    fail("split", "Array of shape " + shape_str(a.shape()) + " cannot be split into " +
                      std::to_string(num_sections) + " equal sections along axis " +
                      std::to_string(axis) + ".");
  }
  Shape indices;
  for (int64_t k = 1; k < num_sections; ++k) indices.push_back(k * (n / num_sections));
  return split(a, indices, ax, s);
}

std::vector<array> split(const array& a, const Shape& indices, int axis, Stream s) {
  int ax = normalize_axis(axis, a.ndim(), "split");
  const int64_t n = a.shape()[ax];
  // Each section is a[bounds[k]:bounds[k+1]] along the axis, with Python's slice rules.
  auto wrap = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  Shape bounds{0};
  for (auto i : indices) bounds.push_back(wrap(i));
  bounds.push_back(n);
  std::vector<array> out;
  out.reserve(bounds.size() - 1);
  for (size_t k = 0; k + 1 < bounds.size(); ++k) {
    Shape start(a.ndim(), 0), stop = a.shape(), step(a.ndim(), 1);
    start[ax] = bounds[k];
    stop[ax] = std::max(bounds[k], bounds[k + 1]);
    out.push_back(slice(a, start, stop, step, s));
  }
  return out;
}

// ---- slicing ----

array slice(const array& a, const Shape& start_in, const Shape& stop_in, const Shape& strides,
            Stream s) {
  Shape start = start_in, stop = stop_in, step = strides;
  Shape shape = prepare_slice("slice", a, start, stop, step);
  bool whole = shape == a.shape();
  for (size_t d = 0; whole && d < step.size(); ++d) whole = step[d] == 1;
  if (whole) return a;
  return array(shape, a.dtype(), std::make_shared<Slice>(s, start, stop, step), {a});
}

array slice_update(const array& a, const array& update, const Shape& start_in,
                   const Shape& stop_in, const Shape& strides, Stream s) {
  Shape start = start_in, stop = stop_in, step = strides;
  Shape region = prepare_slice("slice_update", a, start, stop, step);
  array upd = drop_leading_ones(update, region.size(), s);
  if (!is_broadcastable(upd.shape(), region)) {
    fail("slice_update", "Cannot broadcast update of shape " + shape_str(update.shape()) +
                             " into the slice of shape " + shape_str(region) + " of an array of shape " +
                             shape_str(a.shape()) + ".");
  }
  if (shape_size(region) == 0) return a;
  if (upd.dtype() != a.dtype()) upd = astype(upd, a.dtype(), s);
  upd = broadcast_to(upd, region, s);
  return array(a.shape(), a.dtype(), std::make_shared<SliceUpdate>(s, start, stop, step),
               {a, upd});
}

}  // namespace pullback
