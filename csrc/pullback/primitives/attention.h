// Fused attention and cross-entropy primitives of mx.fast (ops_attention.cpp builds them).
//
// ScaledDotProductAttention computes softmax(scale q k^T + mask) v block by block without ever
// holding the whole (Lq, Lk) score matrix, and emits each row's logsumexp as a second output so
// that its backward (ScaledDotProductAttentionVJP) recomputes the probabilities block by block
// instead of saving them. The derivatives of the backward itself (second order) and the jvps
// are those of the unfused composition (fast::sdpa_unfused), taken with the ordinary transforms.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

// How the scores are masked. Bool and causal masks drop a position (MLX gives it the lowest
// finite score, so a row with every key dropped averages all of v); an additive mask is added.
enum class AttentionMask { None, Causal, Bool, Additive };

// Inputs: q (B, H, Lq, D), k (B, Hkv, Lk, D), v (B, Hkv, Lk, Dv) of one floating type, H a
// multiple of Hkv; then the mask (4-D, each axis 1 or full; bool, or the work type when
// additive) unless None/Causal; then the sinks (Bs, H) in the work type, Bs 1 or B, when
// `has_sinks`. The work type is float64 for float64 inputs and float32 otherwise.
// Outputs: (B, H, Lq, Dv) in q's type and the rows' logsumexp (B, H, Lq) in the work type.
class ScaledDotProductAttention : public Primitive {
 public:
  ScaledDotProductAttention(Stream s, float scale, AttentionMask mask, bool has_sinks)
      : Primitive(s), scale_(scale), mask_(mask), has_sinks_(has_sinks) {}
  const char* name() const override { return "ScaledDotProductAttention"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

  float scale() const { return scale_; }
  AttentionMask mask() const { return mask_; }
  bool has_sinks() const { return has_sinks_; }

 private:
  float scale_;
  AttentionMask mask_;
  bool has_sinks_;
};

// The fused backward. Inputs: the forward's inputs, then its two outputs (o, logsumexp), then
// the cotangent of o. Outputs: the cotangents of q, k, v, and of the sinks when `has_sinks`.
class ScaledDotProductAttentionVJP : public Primitive {
 public:
  ScaledDotProductAttentionVJP(Stream s, float scale, AttentionMask mask, bool has_sinks)
      : Primitive(s), scale_(scale), mask_(mask), has_sinks_(has_sinks) {}
  const char* name() const override { return "ScaledDotProductAttentionVJP"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  float scale_;
  AttentionMask mask_;
  bool has_sinks_;
};

// What scaled_dot_product_attention returns: the attention's first output passed through (a
// view), with its logsumexp output as a second input. The backward reads the logsumexp, and
// a sibling output nobody holds is gone by the time the vjp runs; this node holds it.
// Cotangents go to the first input only.
class AttentionOutput : public UnaryPrimitive {
 public:
  explicit AttentionOutput(Stream s) : UnaryPrimitive(s) {}
  const char* name() const override { return "AttentionOutput"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

// logsumexp(logits, -1) - logits[..., target] in one pass over each row. Inputs: logits
// (..., C) floating, targets (...) integer. Output: float32 (float64 for float64 logits);
// a target outside [0, C) gives NaN.
class CrossEntropy : public UnaryPrimitive {
 public:
  explicit CrossEntropy(Stream s) : UnaryPrimitive(s) {}
  const char* name() const override { return "CrossEntropy"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

namespace fast {
// The composition of ordinary ops that ScaledDotProductAttention fuses, on the primitive's
// inputs: returns its two outputs (o, logsumexp). The derivative rules take theirs.
std::vector<array> sdpa_unfused(const std::vector<array>& inputs, float scale, AttentionMask mask,
                                bool has_sinks, Stream s);
}  // namespace fast

// Its vjp: cotangent[..., None] * (softmax(logits) - onehot(targets)) in one pass over each
// row, in the logits' type. Inputs: logits, targets, the loss's cotangent. Its own derivatives
// are those of the composition.
class CrossEntropyVJP : public UnaryPrimitive {
 public:
  explicit CrossEntropyVJP(Stream s) : UnaryPrimitive(s) {}
  const char* name() const override { return "CrossEntropyVJP"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

}  // namespace pullback
