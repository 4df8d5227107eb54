#include "pullback/ops_attention.h"

#include <cfloat>
#include <memory>

#include "pullback/ops.h"
#include "pullback/primitives/attention.h"

namespace pullback::fast {

namespace {

constexpr const char* kSdpa = "scaled_dot_product_attention";

Dtype work_type(Dtype t) { return t == Dtype::float64 ? t : Dtype::float32; }

// The arguments of scaled_dot_product_attention checked and brought to the primitive's form
// (attention.h): q, k, v in their promoted floating type, the mask as 4-D, the sinks as (1, H).
struct AttentionCall {
  std::vector<array> inputs;
  AttentionMask mask = AttentionMask::None;
  bool has_sinks = false;
};

AttentionCall prepare_attention(const array& q, const array& k, const array& v,
                                const std::string& mask_mode, const std::optional<array>& mask,
                                const std::optional<array>& sinks, Stream s) {
  const char* op = kSdpa;
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4)
    fail(op, "q, k and v must have 4 dimensions (batch, heads, sequence, features) but have "
             "shapes " + shape_str(q.shape()) + ", " + shape_str(k.shape()) + " and " +
             shape_str(v.shape()) + ".");
  const int64_t batch = q.shape(0), heads = q.shape(1), tq = q.shape(2), d = q.shape(3);
  const int64_t kv_heads = k.shape(1), tk = k.shape(2);
  if (k.shape(0) != batch || v.shape(0) != batch || v.shape(1) != kv_heads ||
      v.shape(2) != tk || k.shape(3) != d)
    fail(op, "Incompatible shapes of q " + shape_str(q.shape()) + ", k " +
                 shape_str(k.shape()) + " and v " + shape_str(v.shape()) + ".");
  if (kv_heads == 0 || heads % kv_heads != 0)
    fail(op, "The number of query heads (" + std::to_string(heads) +
                 ") must be a multiple of the number of key/value heads (" +
                 std::to_string(kv_heads) + ").");
  if (!mask_mode.empty() && mask_mode != "causal")
    fail(op, "Unsupported mask \"" + mask_mode + "\"; the only string mask is \"causal\".");
  Dtype t = promote_types(promote_types(q.dtype(), k.dtype()), v.dtype());
  if (!is_floating(t))
    fail(op, std::string("Received unsupported type ") + dtype_name(t) +
                 "; a floating type is required.");
  const Dtype wt = work_type(t);
  AttentionCall call;
  call.inputs = {astype(q, t, s), astype(k, t, s), astype(v, t, s)};
  if (mask_mode == "causal") {
    call.mask = AttentionMask::Causal;
  } else if (mask) {
    if (mask->ndim() > 4)
      fail(op, "The mask may have at most 4 dimensions but has shape " +
                   shape_str(mask->shape()) + ".");
    const Shape full{batch, heads, tq, tk};
    Shape ms = mask->shape();
    for (int i = 0; i < int(ms.size()); ++i) {
      int64_t m = ms[ms.size() - 1 - i], f = full[3 - i];
      if (m != 1 && m != f)
        fail(op, "The mask of shape " + shape_str(ms) +
                     " does not broadcast to the scores' shape " + shape_str(full) + ".");
    }
    while (ms.size() < 4) ms.insert(ms.begin(), 1);
    if (mask->dtype() == Dtype::bool_) {
      call.mask = AttentionMask::Bool;
      call.inputs.push_back(reshape(*mask, ms, s));
    } else {
      if (promote_types(mask->dtype(), t) != t)
        fail(op, std::string("The additive mask's type ") + dtype_name(mask->dtype()) +
                     " does not promote to the inputs' type " + dtype_name(t) + ".");
      call.mask = AttentionMask::Additive;
      call.inputs.push_back(reshape(astype(*mask, wt, s), ms, s));
    }
  }
  if (sinks) {
    if (sinks->ndim() != 1 || sinks->shape(0) != heads)
      fail(op, "sinks must have shape (" + std::to_string(heads) + ",) but has shape " +
                   shape_str(sinks->shape()) + ".");
    if (!is_floating(sinks->dtype()) && !issubdtype(sinks->dtype(), DtypeCategory::integer))
      fail(op, std::string("sinks must be numeric but have type ") + dtype_name(sinks->dtype()) + ".");
    call.has_sinks = true;
    call.inputs.push_back(reshape(astype(*sinks, wt, s), {1, heads}, s));
  }
  return call;
}

}  // namespace

array scaled_dot_product_attention(const array& q, const array& k, const array& v, float scale,
                                   const std::string& mask_mode, const std::optional<array>& mask,
                                   const std::optional<array>& sinks, Stream s) {
  AttentionCall c = prepare_attention(q, k, v, mask_mode, mask, sinks, s);
  auto prim = std::make_shared<ScaledDotProductAttention>(s, scale, c.mask, c.has_sinks);
  const Dtype t = c.inputs[0].dtype();
  std::vector<array> outs =
      array::make_arrays(prim->output_shapes(c.inputs), {t, work_type(t)}, prim, c.inputs);
  return array(outs[0].shape(), t, std::make_shared<AttentionOutput>(s), outs);
}

array scaled_dot_product_attention_unfused(const array& q, const array& k, const array& v,
                                           float scale, const std::string& mask_mode,
                                           const std::optional<array>& mask,
                                           const std::optional<array>& sinks, Stream s) {
  AttentionCall c = prepare_attention(q, k, v, mask_mode, mask, sinks, s);
  return sdpa_unfused(c.inputs, scale, c.mask, c.has_sinks, s)[0];
}

std::vector<array> sdpa_unfused(const std::vector<array>& in, float scale, AttentionMask mask,
                                bool has_sinks, Stream s) {
  const array& q = in[0];
  const Dtype t = q.dtype(), wt = work_type(t);
  const int64_t batch = q.shape(0), heads = q.shape(1), tq = q.shape(2), d = q.shape(3);
  const int64_t kv_heads = in[1].shape(1), tk = in[1].shape(2), dv = in[2].shape(3);
  const int64_t rep = heads / kv_heads;
  // Grouped heads: query head h uses key/value head h / rep, broadcast rather than tiled.
  array qg = reshape(astype(q, wt, s), {batch, kv_heads, rep, tq, d}, s);
  array kg = expand_dims(astype(in[1], wt, s), {2}, s);
  array vg = expand_dims(astype(in[2], wt, s), {2}, s);
  array scores = multiply(matmul(qg, swapaxes(kg, -1, -2, s), s), array(double(scale), wt), s);
  scores = reshape(scores, {batch, heads, tq, tk}, s);
  // Dropped positions get the lowest finite score, as in MLX: a row that drops every key
  // then averages all of v instead of giving NaN.
  const array lowest(wt == Dtype::float64 ? -DBL_MAX : double(-FLT_MAX), wt);
  if (mask == AttentionMask::Causal) {
    // Lower-right alignment: query i sees keys up to i + (tk - tq).
    array rows = reshape(integer_arange(0, tq, 1, Dtype::int64, s), {tq, 1}, s);
    array cols = reshape(integer_arange(0, tk, 1, Dtype::int64, s), {1, tk}, s);
    array allowed = less_equal(cols, add(rows, array(tk - tq, Dtype::int64), s), s);
    scores = where(allowed, scores, lowest, s);
  } else if (mask == AttentionMask::Bool) {
    scores = where(in[3], scores, lowest, s);
  } else if (mask == AttentionMask::Additive) {
    scores = add(scores, in[3], s);
  }
  // Normalized after subtracting the row maximum (held constant: it cancels), so that a row of
  // lowest-score entries gives uniform weights rather than the rounding of lowest - lse.
  array rowmax = max(scores, Axes{-1}, true, s);
  array sink;
  if (has_sinks) {
    // One extra logit per head that takes part in the normalization only.
    sink = broadcast_to(expand_dims(in.back(), {2, 3}, s), {batch, heads, tq, 1}, s);
    rowmax = maximum(rowmax, sink, s);
  }
  rowmax = stop_gradient(rowmax, s);
  array weights = exp(subtract(scores, rowmax, s), s);
  array total = sum(weights, Axes{-1}, true, s);
  if (has_sinks) total = add(total, exp(subtract(sink, rowmax, s), s), s);
  array lse = squeeze(add(rowmax, log(total, s), s), Axes{-1}, s);
  array probs = divide(weights, total, s);
  probs = reshape(probs, {batch, kv_heads, rep, tq, tk}, s);
  array o = reshape(matmul(probs, vg, s), {batch, heads, tq, dv}, s);
  return {astype(o, t, s), lse};
}

array cross_entropy(const array& logits, const array& targets, Stream s) {
  const char* op = "cross_entropy";
  if (logits.ndim() == 0)
    fail(op, "logits must have at least 1 dimension but got input with 0 dimensions.");
  if (!is_floating(logits.dtype()))
    fail(op, std::string("logits must be floating but got ") + dtype_name(logits.dtype()) + ".");
  if (!issubdtype(targets.dtype(), DtypeCategory::integer))
    fail(op, std::string("targets must be integer class indices but got ") +
                 dtype_name(targets.dtype()) + ".");
  const Shape rows(logits.shape().begin(), logits.shape().end() - 1);
  if (targets.shape() != rows)
    fail(op, "targets shape " + shape_str(targets.shape()) + " does not match logits shape " +
                 shape_str(logits.shape()) + " with the last axis removed.");
  const Dtype t = logits.dtype() == Dtype::float64 ? Dtype::float64 : Dtype::float32;
  return array(rows, t, std::make_shared<CrossEntropy>(s), {logits, targets});
}

}  // namespace pullback::fast
