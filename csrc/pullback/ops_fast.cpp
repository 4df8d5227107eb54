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

// scaled_dot_product_attention is in ops_attention.cpp, beside its primitive.

}  // namespace pullback::fast
