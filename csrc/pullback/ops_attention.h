// ---- mx.fast attention and cross entropy (ops_attention.cpp) ----
// scaled_dot_product_attention (declared in ops_fast.h) builds the fused
// ScaledDotProductAttention primitive (primitives/attention.h); the unfused form below is the
// same function composed of ordinary ops, kept as the reference the tests compare against.
#pragma once

#include <optional>
#include <string>

#include "pullback/array.h"

namespace pullback::fast {

array scaled_dot_product_attention_unfused(const array& q, const array& k, const array& v,
                                           float scale, const std::string& mask_mode = "",
                                           const std::optional<array>& mask = {},
                                           const std::optional<array>& sinks = {},
                                           Stream s = current_stream());

// logsumexp(logits, -1) - logits[..., targets] per row, in float32 (float64 for float64
// logits); targets are integer class indices of logits' shape without its last axis.
array cross_entropy(const array& logits, const array& targets, Stream s = current_stream());

}  // namespace pullback::fast
