#include "pullback/ops_fast.h"

#include <cmath>
#include <memory>

#include "pullback/ops.h"
#include "pullback/primitives/fast.h"

namespace pullback::fast {

namespace {

// The common floating type of `arrays`; integers and bool are refused as MLX does.
Dtype floating_type(const std::vector<array>& arrays, const char* op) {
  Dtype t = arrays[0].dtype();
  for (size_t i = 1; i < arrays.size(); ++i) t = promote_types(t, arrays[i].dtype());
  if (!is_floating(t))
    fail(op, std::string("Received unsupported type ") + dtype_name(t) + "; a floating type is required.");
  return t;
}

// A per-feature parameter: shape (D,) for an input of D features.
void check_feature_vector(const array& p, int64_t d, const char* op, const char* what) {
  if (p.ndim() != 1 || p.shape(0) != d)
    fail(op, std::string(what) + " must have shape (" + std::to_string(d) +
                 ",) for an input whose last axis has " + std::to_string(d) +
                 " features, but has shape " + shape_str(p.shape()) + ".");
}

}  // namespace

array rms_norm(const array& x, const std::optional<array>& weight, float eps, Stream s) {
  const char* op = "rms_norm";
  if (x.ndim() == 0) fail(op, "Input must have at least 1 dimension but got a scalar.");
  std::vector<array> in{x};
  if (weight) {
    check_feature_vector(*weight, x.shape(-1), op, "weight");
    in.push_back(*weight);
  }
  Dtype t = floating_type(in, op);
  for (auto& a : in) a = astype(a, t, s);
  return array(x.shape(), t, std::make_shared<RMSNorm>(s, eps, bool(weight)), in);
}

array layer_norm(const array& x, const std::optional<array>& weight,
                 const std::optional<array>& bias, float eps, Stream s) {
  const char* op = "layer_norm";
  if (x.ndim() == 0) fail(op, "Input must have at least 1 dimension but got a scalar.");
  std::vector<array> in{x};
  if (weight) {
    check_feature_vector(*weight, x.shape(-1), op, "weight");
    in.push_back(*weight);
  }
  if (bias) {
    check_feature_vector(*bias, x.shape(-1), op, "bias");
    in.push_back(*bias);
  }
  Dtype t = floating_type(in, op);
  for (auto& a : in) a = astype(a, t, s);
  return array(x.shape(), t, std::make_shared<LayerNorm>(s, eps, bool(weight), bool(bias)), in);
}

array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale,
           int64_t offset, const std::optional<array>& freqs, Stream s) {
  const char* op = "rope";
  if (x.ndim() < 3)
    fail(op, "Input must have at least 3 dimensions but got input with " +
                 std::to_string(x.ndim()) + " dimensions.");
  if (dims <= 0 || dims % 2 != 0)
    fail(op, "dims must be a positive even number but got " + std::to_string(dims) + ".");
  if (dims > x.shape(-1))
    fail(op, "dims (" + std::to_string(dims) + ") exceeds the last axis of the input " +
                 shape_str(x.shape()) + ".");
  if (base.has_value() == freqs.has_value())
    fail(op, "Exactly one of base or freqs must be given.");
  if (offset < 0) fail(op, "offset must be non-negative but got " + std::to_string(offset) + ".");
  std::vector<array> in{x};
  Dtype t = floating_type(in, op);
  in[0] = astype(x, t, s);
  if (freqs) {
    if (freqs->ndim() != 1 || freqs->shape(0) != dims / 2)
      fail(op, "freqs must have shape (" + std::to_string(dims / 2) + ",) for dims " +
                   std::to_string(dims) + " but has shape " + shape_str(freqs->shape()) + ".");
    in.push_back(astype(*freqs, floating_type({*freqs}, op), s));
  }
  return array(x.shape(), t,
               std::make_shared<RoPE>(s, dims, traditional, base.value_or(0.0f), scale, offset,
                                      bool(freqs), false),
               in);
}

array scaled_dot_product_attention(const array& q, const array& k, const array& v, float scale,
                                   const std::string& mask_mode, const std::optional<array>& mask,
                                   const std::optional<array>& sinks, Stream s) {
  const char* op = "scaled_dot_product_attention";
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4)
    fail(op, "q, k and v must have 4 dimensions (batch, heads, sequence, features) but have "
             "shapes " + shape_str(q.shape()) + ", " + shape_str(k.shape()) + " and " +
             shape_str(v.shape()) + ".");
  const int64_t batch = q.shape(0), heads = q.shape(1), tq = q.shape(2), d = q.shape(3);
  const int64_t kv_heads = k.shape(1), tk = k.shape(2), dv = v.shape(3);
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
  Dtype t = floating_type({q, k, v}, op);
  const int64_t rep = heads / kv_heads;
  // Grouped heads: query head h uses key/value head h / rep, broadcast rather than tiled.
  array qg = reshape(multiply(astype(q, t, s), array(double(scale), t), s),
                     {batch, kv_heads, rep, tq, d}, s);
  array kg = expand_dims(astype(k, t, s), {2}, s);
  array vg = expand_dims(astype(v, t, s), {2}, s);
  array scores = matmul(qg, swapaxes(kg, -1, -2, s), s);
  // The softmax runs in float32 for float16/bfloat16 inputs (MLX's rule).
  const Dtype st = t == Dtype::float64 ? t : Dtype::float32;
  scores = astype(reshape(scores, {batch, heads, tq, tk}, s), st, s);
  if (mask_mode == "causal") {
    // Lower-right alignment: query i sees keys up to i + (tk - tq).
    array rows = reshape(integer_arange(0, tq, 1, Dtype::int64, s), {tq, 1}, s);
    array cols = reshape(integer_arange(0, tk, 1, Dtype::int64, s), {1, tk}, s);
    array allowed = less_equal(cols, add(rows, array(tk - tq, Dtype::int64), s), s);
    scores = where(allowed, scores, array(-INFINITY, st), s);
  } else if (mask) {
    if (mask->ndim() > 4)
      fail(op, "The mask may have at most 4 dimensions but has shape " +
                   shape_str(mask->shape()) + ".");
    Shape full{batch, heads, tq, tk};
    Shape ms = mask->shape();
    for (int i = 0; i < int(ms.size()); ++i) {
      int64_t m = ms[ms.size() - 1 - i], f = full[3 - i];
      if (m != 1 && m != f)
        fail(op, "The mask of shape " + shape_str(ms) +
                     " does not broadcast to the scores' shape " + shape_str(full) + ".");
    }
    if (mask->dtype() == Dtype::bool_) {
      scores = where(*mask, scores, array(-INFINITY, st), s);
    } else {
      if (promote_types(mask->dtype(), t) != t)
        fail(op, std::string("The additive mask's type ") + dtype_name(mask->dtype()) +
                     " does not promote to the inputs' type " + dtype_name(t) + ".");
      scores = add(scores, astype(*mask, st, s), s);
    }
  }
  array probs;
  if (sinks) {
    if (sinks->ndim() != 1 || sinks->shape(0) != heads)
      fail(op, "sinks must have shape (" + std::to_string(heads) + ",) but has shape " +
                   shape_str(sinks->shape()) + ".");
    // One extra logit per head that takes part in the normalization and is then dropped.
    array sink = broadcast_to(reshape(astype(*sinks, st, s), {1, heads, 1, 1}, s),
                              {batch, heads, tq, 1}, s);
    array p = softmax(concatenate({sink, scores}, -1, s), Axes{-1}, true, s);
    probs = slice(p, {0, 0, 0, 1}, {batch, heads, tq, tk + 1}, {1, 1, 1, 1}, s);
  } else {
    probs = softmax(scores, Axes{-1}, true, s);
  }
  probs = reshape(astype(probs, t, s), {batch, kv_heads, rep, tq, tk}, s);
  return reshape(matmul(probs, vg, s), {batch, heads, tq, dv}, s);
}

}  // namespace pullback::fast
