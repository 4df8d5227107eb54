// Sorting ops. sort/argsort/partition/argpartition build a Sort node along one axis; topk,
// median and unique are compositions of it with slices and gathers, so their derivatives
// come from those pieces.
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "pullback/primitives/sort.h"

namespace pullback {

namespace {

// The axis to sort along, with the array flattened when it is nullopt. An axis out of range
// is an IndexError, as in MLX.
std::pair<array, int> sort_axis(const array& a, std::optional<int> axis, const char* op,
                                Stream s) {
  if (!axis) return {reshape(a, {static_cast<int64_t>(a.size())}, s), 0};
  const int nd = a.ndim();
  if (*axis < -nd || *axis >= nd) {
    throw std::out_of_range(std::string("[") + op + "] Axis " + std::to_string(*axis) +
                            " is out of bounds for an array of shape " + shape_str(a.shape()) +
                            ".");
  }
  const int ax = *axis < 0 ? *axis + nd : *axis;
  // Indices are uint32 (MLX's dtype): a longer axis would give indices that wrap.
  if (static_cast<uint64_t>(a.shape(ax)) > uint64_t(UINT32_MAX) + 1) {
    fail(op, "The axis " + std::to_string(*axis) + " of an array of shape " +
                 shape_str(a.shape()) + " is longer than uint32 indices can address (2**32).");
  }
  return {a, ax};
}

array sort_node(const array& a, std::optional<int> axis, SortKind kind, int64_t kth,
                const char* op, Stream s) {
  auto [x, ax] = sort_axis(a, axis, op, s);
  if (kind == SortKind::Partition || kind == SortKind::ArgPartition) {
    const int64_t n = x.shape(ax);
    if (kth < -n || kth >= n) {
      fail(op, "kth " + std::to_string(kth) + " is out of range for axis " +
                   (axis ? std::to_string(*axis) : std::string("None")) + " of length " +
                   std::to_string(n) + " (array of shape " + shape_str(a.shape()) + ").");
    }
    if (kth < 0) kth += n;
  }
  const bool idx = kind == SortKind::ArgSort || kind == SortKind::ArgPartition;
  return array(x.shape(), idx ? Dtype::uint32 : x.dtype(),
               std::make_shared<Sort>(s, kind, ax, kth), {x});
}

}  // namespace

array sort(const array& a, std::optional<int> axis, Stream s) {
  return sort_node(a, axis, SortKind::Sort, 0, "sort", s);
}

array argsort(const array& a, std::optional<int> axis, Stream s) {
  return sort_node(a, axis, SortKind::ArgSort, 0, "argsort", s);
}

array partition(const array& a, int64_t kth, std::optional<int> axis, Stream s) {
  return sort_node(a, axis, SortKind::Partition, kth, "partition", s);
}

array argpartition(const array& a, int64_t kth, std::optional<int> axis, Stream s) {
  return sort_node(a, axis, SortKind::ArgPartition, kth, "argpartition", s);
}

array topk(const array& a, int64_t k, std::optional<int> axis, Stream s) {
  auto [x, ax] = sort_axis(a, axis, "topk", s);
  const int64_t n = x.shape(ax);
  if (k < 0 || k > n) {
    fail("topk", "k " + std::to_string(k) + " is out of range for axis " +
                     (axis ? std::to_string(*axis) : std::string("None")) + " of length " +
                     std::to_string(n) + " (array of shape " + shape_str(a.shape()) + ").");
  }
  // The k largest are the last k after partitioning at n - k (none to partition for k = 0).
  array p = k == 0 ? x : partition(x, n - k, ax, s);
  Shape start(x.ndim(), 0), stop = x.shape(), strides(x.ndim(), 1);
  start[ax] = n - k;
  return slice(p, start, stop, strides, s);
}

array median(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  const int nd = a.ndim();
  std::vector<int> red;
  if (!axes) {
    for (int d = 0; d < nd; ++d) red.push_back(d);
  } else {
    if (axes->empty()) fail("median", "Received an empty list of axes.");
    for (int ax : *axes) {
      if (ax < -nd || ax >= nd) {
        throw std::out_of_range("[median] Axis " + std::to_string(ax) +
                                " is out of bounds for an array of shape " +
                                shape_str(a.shape()) + ".");
      }
      red.push_back(ax < 0 ? ax + nd : ax);
    }
    std::sort(red.begin(), red.end());
    if (std::adjacent_find(red.begin(), red.end()) != red.end()) {
      fail("median", "Received duplicate axis in " + axes_str(*axes) + " for an array of shape " +
                         shape_str(a.shape()) + ".");
    }
  }
  // The reduced axes last, merged into one.
  Axes perm;
  Shape kept, kept_dims;
  int64_t m = 1;
  for (int d = 0; d < nd; ++d) {
    if (!std::binary_search(red.begin(), red.end(), d)) {
      perm.push_back(d);
      kept.push_back(a.shape(d));
      kept_dims.push_back(a.shape(d));
    } else {
      kept_dims.push_back(1);
    }
  }
  for (int d : red) {
    perm.push_back(d);
    m *= a.shape(d);
  }
  if (m == 0) {
    fail("median", "Cannot take the median over an empty axis (array of shape " +
                       shape_str(a.shape()) + ", axes " +
                       axes_str(Axes(red.begin(), red.end())) + ").");
  }
  const Dtype dt = is_inexact(a.dtype()) ? a.dtype() : Dtype::float32;
  Shape rows = kept;
  rows.push_back(m);
  array x = reshape(transpose(astype(a, dt, s), perm, s), rows, s);
  array sorted = sort(x, -1, s);
  auto at = [&](int64_t j) {
    Shape start(rows.size(), 0), stop = rows, step(rows.size(), 1);
    start.back() = j;
    stop.back() = j + 1;
    return slice(sorted, start, stop, step, s);
  };
  array med = multiply(add(at((m - 1) / 2), at(m / 2), s), array(0.5, dt), s);
  // NaNs sort last: the row holds one exactly when its last element is NaN.
  array nan_row = isnan(at(m - 1), s);
  med = where(nan_row, array(std::numeric_limits<double>::quiet_NaN(), dt), med, s);
  return reshape(med, keepdims ? kept_dims : kept, s);
}

array searchsorted(const array& sorted_sequence, const array& values, const std::string& side,
                   Stream s) {
  if (sorted_sequence.ndim() != 1) {
    fail("searchsorted", "The sorted sequence must be 1-d, but has shape " +
                             shape_str(sorted_sequence.shape()) + ".");
  }
  if (side != "left" && side != "right") {
    fail("searchsorted", "side must be 'left' or 'right', but got '" + side + "'.");
  }
  const Dtype dt = promote_types(sorted_sequence.dtype(), values.dtype());
  return array(values.shape(), Dtype::uint32, std::make_shared<SearchSorted>(s, side == "right"),
               {astype(sorted_sequence, dt, s), astype(values, dt, s)});
}

std::vector<array> unique(const array& a, int64_t size, bool return_index, bool return_inverse,
                          bool return_counts, const std::optional<array>& fill_value,
                          Stream s) {
  if (size < 0) fail("unique", "Received negative size " + std::to_string(size) + ".");
  if (fill_value && fill_value->size() != 1) {
    fail("unique", "The fill value must have one element, but has shape " +
                       shape_str(fill_value->shape()) + ".");
  }
  const int64_t n = static_cast<int64_t>(a.size());
  if (static_cast<uint64_t>(n) > uint64_t(UINT32_MAX) + 1) {
    fail("unique", "An array of shape " + shape_str(a.shape()) +
                       " has more elements than uint32 indices can address (2**32).");
  }
  std::vector<array> out;
  if (n == 0) {
    if (size > 0 && !fill_value) {
      fail("unique", "A fill value is required for an empty input with a non-zero size " +
                         std::to_string(size) + ".");
    }
    out.push_back(size > 0 ? full({size}, astype(reshape(*fill_value, {}, s), a.dtype(), s), s)
                           : zeros({0}, a.dtype(), s));
    if (return_index) out.push_back(zeros({size}, Dtype::uint32, s));
    if (return_inverse) out.push_back(zeros(a.shape(), Dtype::uint32, s));
    if (return_counts) out.push_back(zeros({size}, Dtype::int32, s));
    return out;
  }
  array flat = reshape(a, {n}, s);
  array perm = argsort(flat, 0, s);  // stable: the first of equal elements comes first
  array sorted = take(flat, perm, 0, s);
  array groups(Shape{n}, Dtype::uint32, std::make_shared<SortedGroups>(s), {sorted});
  // Where each of the groups 0..size starts in `sorted` (n past the last group).
  array starts = searchsorted(groups, integer_arange(0, size + 1, 1, Dtype::uint32, s), "left", s);
  array first = slice(starts, {0}, {size}, {1}, s);
  array valid = less(first, array(n, Dtype::uint32), s);
  // Padding entries read position 0, so they repeat the smallest element and its index.
  array pos = where(valid, first, zeros({size}, Dtype::uint32, s), s);
  array vals = take(sorted, pos, 0, s);
  if (fill_value) {
    vals = where(valid, vals, astype(reshape(*fill_value, {}, s), a.dtype(), s), s);
  }
  out.push_back(vals);
  if (return_index) out.push_back(take(perm, pos, 0, s));
  if (return_inverse) {
    // Elements of groups cut off by a small size point at the last entry kept.
    array g = minimum(groups, array(std::max<int64_t>(size - 1, 0), Dtype::uint32), s);
    array inv = put_along_axis(zeros({n}, Dtype::uint32, s), perm, g, 0, ScatterReduce::None, s);
    out.push_back(reshape(inv, a.shape(), s));
  }
  if (return_counts) {
    array next = slice(starts, {1}, {size + 1}, {1}, s);
    out.push_back(astype(subtract(astype(next, Dtype::int64, s), astype(first, Dtype::int64, s), s),
                         Dtype::int32, s));
  }
  return out;
}

}  // namespace pullback
