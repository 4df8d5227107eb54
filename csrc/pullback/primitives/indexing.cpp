#include "pullback/primitives/indexing.h"

#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

const char* scatter_reduce_name(ScatterReduce r) {
  switch (r) {
    case ScatterReduce::Add: return "scatter_add";
    case ScatterReduce::Prod: return "scatter_prod";
    case ScatterReduce::Max: return "scatter_max";
    case ScatterReduce::Min: return "scatter_min";
    default: return "scatter";
  }
}

namespace {

Arrays tail(const Arrays& v, size_t from) { return Arrays(v.begin() + from, v.end()); }

// The slice sizes that updates of `upd_shape` carry for index arrays of `index_ndim` axes.
Shape update_slice_sizes(const Shape& upd_shape, size_t index_ndim) {
  return Shape(upd_shape.begin() + index_ndim, upd_shape.end());
}

// Integer indices have no derivative; asking for one (the indices depend on a differentiated
// input) is an error, as in MLX.
[[noreturn]] void no_index_derivative(const char* op) {
  throw std::invalid_argument(std::string("[") + op +
                              "] Cannot compute the derivative with respect to the indices; "
                              "wrap them in stop_gradient.");
}

size_t index_ndim(const Arrays& indices, int batch) {
  return indices.empty() ? static_cast<size_t>(batch) : indices[0].shape().size();
}

}  // namespace

// ---- Gather ----

Arrays Gather::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums, const Arrays&) {
  Arrays grads;
  for (int arg : argnums) {
    if (arg > 0) no_index_derivative("gather");
    array base = zeros(primals[0].shape(), cts[0].dtype(), stream());
    grads.push_back(
        scatter(base, tail(primals, 1), cts[0], axes_, ScatterReduce::Add, batch_, stream()));
  }
  return grads;
}

Arrays Gather::jvp(const Arrays& primals, const Arrays& ts, const Ints& argnums) {
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == 0) return {gather(ts[k], tail(primals, 1), axes_, slice_sizes_, batch_, stream())};
  }
  return {zeros(output_shapes(primals)[0], primals[0].dtype(), stream())};
}

// A vmapped gather stays one gather. With the operand batched, the mapped axis becomes one
// more leading batch axis of the primitive (operand and indices both put it first; unbatched
// indices get a size-1 axis there, which gather() broadcasts). With only the indices batched,
// the operand stays as it is: the mapped axis is one more index axis, placed right after the
// primitive's batch axes so that those still line up with the operand's.
std::pair<Arrays, Ints> Gather::vmap(const Arrays& in, const Ints& axes) {
  const Stream s = stream();
  const int at = axes[0] >= 0 ? 0 : batch_;
  Arrays indices;
  for (size_t j = 1; j < in.size(); ++j) {
    indices.push_back(axes[j] >= 0 ? moveaxis(in[j], axes[j], at, s) : expand_dims(in[j], {at}, s));
  }
  if (axes[0] < 0) return {{gather(in[0], indices, axes_, slice_sizes_, batch_, s)}, {batch_}};
  Ints shifted = axes_;
  for (int& ax : shifted) ++ax;
  array a = moveaxis(in[0], axes[0], 0, s);
  return {{gather(a, indices, shifted, slice_sizes_, batch_ + 1, s)}, {0}};
}

bool Gather::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Gather*>(&other);
  return o && o->axes_ == axes_ && o->slice_sizes_ == slice_sizes_ && o->batch_ == batch_;
}

std::vector<Shape> Gather::output_shapes(const Arrays& inputs) {
  Arrays indices = tail(inputs, 1);
  Shape out = indices.empty() ? Shape(inputs[0].shape().begin(), inputs[0].shape().begin() + batch_)
                              : indices[0].shape();
  out.insert(out.end(), slice_sizes_.begin(), slice_sizes_.end());
  return {out};
}

// ---- Scatter ----

const char* Scatter::name() const {
  switch (reduce_) {
    case ScatterReduce::Add: return "ScatterAdd";
    case ScatterReduce::Prod: return "ScatterProd";
    case ScatterReduce::Max: return "ScatterMax";
    case ScatterReduce::Min: return "ScatterMin";
    default: return "Scatter";
  }
}

namespace {

// For each update element, the product of `a` and of every other update that lands on the same
// element: d out / d update for scatter_prod. Built from counts of zeros so that no update is
// divided by zero: with z zeros landing on an element and P the product of a and the nonzero
// updates there, a nonzero update gets P / u when z == 0 (else 0) and a zero one gets P when
// z == 1 (else 0).
array exclusive_products(const array& a, const Arrays& indices, const array& upd,
                         const Ints& axes, int batch, Stream s) {
  const Shape slices = update_slice_sizes(upd.shape(), index_ndim(indices, batch));
  array zero = zeros({}, upd.dtype(), s);
  array one = ones({}, upd.dtype(), s);
  array is_zero = equal(upd, zero, s);
  array nonzero_upd = where(is_zero, one, upd, s);
  array total = scatter(a, indices, nonzero_upd, axes, ScatterReduce::Prod, batch, s);
  array zero_count = scatter(zeros(a.shape(), Dtype::int32, s), indices,
                             astype(is_zero, Dtype::int32, s), axes, ScatterReduce::Add, batch, s);
  array p_at = gather(total, indices, axes, slices, batch, s);
  array z_at = gather(zero_count, indices, axes, slices, batch, s);
  array when_nonzero = where(equal(z_at, array(0), s), divide(p_at, nonzero_upd, s), zero, s);
  array when_zero = where(equal(z_at, array(1), s), p_at, zero, s);
  return where(is_zero, when_zero, when_nonzero, s);
}

// For scatter_max/min: which sources (a's elements, and each update) equal the result, and how
// many sources tie there. The forward derivative is split evenly among tied sources; the
// vjp gives every tied source the whole cotangent (MLX's rule).
struct Winners {
  array a_mask, upd_mask, count;  // masks in the value dtype; count per element of `out`
};
Winners winners(const array& a, const Arrays& indices, const array& upd, const array& out,
                const Ints& axes, int batch, Stream s) {
  const Shape slices = update_slice_sizes(upd.shape(), index_ndim(indices, batch));
  array a_mask = astype(equal(a, out, s), a.dtype(), s);
  array upd_mask = astype(equal(upd, gather(out, indices, axes, slices, batch, s), s), a.dtype(), s);
  array count = scatter(a_mask, indices, upd_mask, axes, ScatterReduce::Add, batch, s);
  return {a_mask, upd_mask, count};
}

}  // namespace

Arrays Scatter::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                    const Arrays& outputs) {
  const Stream s = stream();
  const array& a = primals[0];
  const array& upd = primals[1];
  const Arrays indices = tail(primals, 2);
  const array& ct = cts[0];
  const Shape slices = update_slice_sizes(upd.shape(), index_ndim(indices, batch_));
  auto gathered = [&](const array& x) { return gather(x, indices, axes_, slices, batch_, s); };
  Arrays grads;
  for (int arg : argnums) {
    if (arg >= 2) no_index_derivative(scatter_reduce_name(reduce_));
    const bool wrt_a = arg == 0;
    switch (reduce_) {
      case ScatterReduce::Add:
        grads.push_back(wrt_a ? ct : gathered(ct));
        break;
      case ScatterReduce::None: {
        if (wrt_a) {  // the overwritten elements of `a` do not reach the output
          grads.push_back(scatter(ct, indices, zeros_like(upd, s), axes_, ScatterReduce::None,
                                  batch_, s));
          break;
        }
        // With repeated indices only the last update to an element is kept: number every update
        // element, scatter the numbers the same way, and keep the cotangent where an update
        // reads back its own number.
        array ids = reshape(arange(0.0, static_cast<double>(upd.size()), 1.0, Dtype::int64, s),
                            upd.shape(), s);
        array landed = scatter(full(a.shape(), array(int64_t(-1), Dtype::int64), s), indices, ids,
                               axes_, ScatterReduce::None, batch_, s);
        array kept = equal(gathered(landed), ids, s);
        grads.push_back(where(kept, gathered(ct), zeros({}, ct.dtype(), s), s));
        break;
      }
      case ScatterReduce::Prod: {
        if (wrt_a) {
          array factor = scatter(ones_like(a, s), indices, upd, axes_, ScatterReduce::Prod, batch_, s);
          grads.push_back(multiply(ct, factor, s));
        } else {
          grads.push_back(multiply(gathered(ct), exclusive_products(a, indices, upd, axes_, batch_, s), s));
        }
        break;
      }
      case ScatterReduce::Max:
      case ScatterReduce::Min: {
        // Every source equal to the result gets the whole cotangent, as in MLX (ties are not
        // split, unlike the max reduction's vjp).
        Winners w = winners(a, indices, upd, outputs[0], axes_, batch_, s);
        grads.push_back(wrt_a ? multiply(ct, w.a_mask, s) : multiply(gathered(ct), w.upd_mask, s));
        break;
      }
    }
  }
  return grads;
}

Arrays Scatter::jvp(const Arrays& primals, const Arrays& ts, const Ints& argnums) {
  const Stream s = stream();
  const array& a = primals[0];
  const array& upd = primals[1];
  const Arrays indices = tail(primals, 2);
  // Tangents of a and of the updates (zeros where not differentiated).
  array ta, tu;
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == 0) ta = ts[k];
    if (argnums[k] == 1) tu = ts[k];
  }
  const Dtype td = ta.valid() ? ta.dtype() : (tu.valid() ? tu.dtype() : a.dtype());
  if (!ta.valid()) ta = zeros(a.shape(), td, s);
  if (!tu.valid()) tu = zeros(upd.shape(), td, s);
  switch (reduce_) {
    case ScatterReduce::None:
    case ScatterReduce::Add:
      return {scatter(ta, indices, tu, axes_, reduce_, batch_, s)};
    case ScatterReduce::Prod: {
      array factor = scatter(ones_like(a, s), indices, upd, axes_, ScatterReduce::Prod, batch_, s);
      array from_upd = multiply(tu, exclusive_products(a, indices, upd, axes_, batch_, s), s);
      return {scatter(multiply(ta, factor, s), indices, from_upd, axes_, ScatterReduce::Add,
                      batch_, s)};
    }
    default: {
      array out = scatter(a, indices, upd, axes_, reduce_, batch_, s);
      Winners w = winners(a, indices, upd, out, axes_, batch_, s);
      array summed = scatter(multiply(ta, w.a_mask, s), indices, multiply(tu, w.upd_mask, s),
                             axes_, ScatterReduce::Add, batch_, s);
      return {divide(summed, w.count, s)};
    }
  }
}

// One scatter with the mapped axis as one more leading batch axis. The output differs per
// example whenever anything is batched, so an unbatched operand is broadcast (the kernel copies
// it into the output in any case); unbatched updates and indices get a size-1 axis that
// scatter() broadcasts.
std::pair<Arrays, Ints> Scatter::vmap(const Arrays& in, const Ints& axes) {
  const Stream s = stream();
  const array a = vmap_to_front(in[0], axes[0], vmap_batch_size(in, axes));
  Arrays rest;
  for (size_t j = 1; j < in.size(); ++j) {
    rest.push_back(axes[j] >= 0 ? moveaxis(in[j], axes[j], 0, s) : expand_dims(in[j], {0}, s));
  }
  Ints shifted = axes_;
  for (int& ax : shifted) ++ax;
  return {{scatter(a, tail(rest, 1), rest[0], shifted, reduce_, batch_ + 1, s)}, {0}};
}

bool Scatter::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Scatter*>(&other);
  return o && o->axes_ == axes_ && o->reduce_ == reduce_ && o->batch_ == batch_;
}

std::vector<Shape> Scatter::output_shapes(const Arrays& inputs) { return {inputs[0].shape()}; }

}  // namespace pullback
