// Indexing ops: validate and build Gather / Scatter nodes (semantics in primitives/indexing.h).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "pullback/primitives/indexing.h"

namespace pullback {

namespace {

[[noreturn]] void fail(const char* op, const std::string& msg) {
  throw std::invalid_argument(std::string("[") + op + "] " + msg);
}

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
  check_slice_sizes("gather", a, slice_sizes, batch);
  Shape out = plan.index_shape;
  out.insert(out.end(), slice_sizes.begin(), slice_sizes.end());
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

}  // namespace pullback
