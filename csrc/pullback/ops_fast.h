// ---- mx.fast (ops_fast.cpp) ----
// rms_norm, layer_norm and rope are fused primitives (primitives/fast.h); the weight and bias
// are optional (shape (D,) for an input whose last axis has D features). The result has the
// promoted type of the inputs, which must be floating. scaled_dot_product_attention is
// softmax(q k^T * scale + mask) v, one fused primitive (ops_attention.cpp; float32 softmax for
// half types); k and v may have fewer heads than q when q's heads are a multiple of theirs
// (grouped-query attention). The mask is an additive array, a boolean array (false: masked
// out) or "causal".
#pragma once

#include <optional>
#include <string>

#include "pullback/array.h"

namespace pullback::fast {

array rms_norm(const array& x, const std::optional<array>& weight, float eps,
               Stream s = current_stream());
array layer_norm(const array& x, const std::optional<array>& weight,
                 const std::optional<array>& bias, float eps, Stream s = current_stream());
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale,
           int64_t offset, const std::optional<array>& freqs = {}, Stream s = current_stream());
// `mask_mode` is "" or "causal"; `mask` an optional array (not both).
array scaled_dot_product_attention(const array& q, const array& k, const array& v, float scale,
                                   const std::string& mask_mode = "",
                                   const std::optional<array>& mask = {},
                                   const std::optional<array>& sinks = {},
                                   Stream s = current_stream());

}  // namespace pullback::fast
