// Fused primitives of mx.fast: rms_norm, layer_norm, rope. Each makes one pass over the rows of
// its input where the composition of ordinary ops makes several (a reduction, then broadcasts).
// RMSNorm's and LayerNorm's vjps are one fused primitive (NormVJP) too; every other derivative
// (their jvps, and the derivatives of NormVJP itself) is written with ordinary ops, so higher
// derivatives work; they match the derivatives of the unfused composition.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

// y = x * rsqrt(mean(x^2, -1) + eps) * weight over the last axis. Inputs: x, and the weight
// (shape (D,)) when `has_weight`. float16/bfloat16 accumulate in float32.
class RMSNorm : public UnaryPrimitive {
 public:
  RMSNorm(Stream s, float eps, bool has_weight)
      : UnaryPrimitive(s), eps_(eps), has_weight_(has_weight) {}
  const char* name() const override { return "RMSNorm"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  float eps_;
  bool has_weight_;
};

// y = (x - mean) * rsqrt(var + eps) * weight + bias over the last axis. Inputs: x, then the
// weight when `has_weight`, then the bias when `has_bias` (each of shape (D,)).
class LayerNorm : public UnaryPrimitive {
 public:
  LayerNorm(Stream s, float eps, bool has_weight, bool has_bias)
      : UnaryPrimitive(s), eps_(eps), has_weight_(has_weight), has_bias_(has_bias) {}
  const char* name() const override { return "LayerNorm"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  float eps_;
  bool has_weight_;
  bool has_bias_;
};

// What a norm's fused backward computes: which norm, and which cotangents.
struct NormBackward {
  bool rms;         // RMSNorm, else LayerNorm
  float eps;
  bool has_weight;  // the weight is an input (it scales g before the statistics)
  bool dx, dw, db;  // the cotangents asked for (db: LayerNorm's bias; the bias is no input)
  // dw and db are summed over all rows (shape (D,)) when < 0, else over each of `groups` equal
  // blocks of consecutive rows (shape (groups, D)): what vmap makes of per-example sums.
  int64_t groups;
  bool operator==(const NormBackward& o) const {
    return rms == o.rms && eps == o.eps && has_weight == o.has_weight && dx == o.dx &&
           dw == o.dw && db == o.db && groups == o.groups;
  }
};

// The vjp of RMSNorm or LayerNorm in one primitive: per row the statistics are recomputed from x
// while g is read (cheaper than saving them), dx is written in one pass, and dw/db are summed per
// fixed block of rows, then the blocks in a fixed order (the result does not depend on the
// thread count). Inputs: x, the weight when `has_weight`, then the cotangent g of the forward's
// output, all of x's type. Outputs, in x's type: dx, dw, db, those asked for, in that order.
class NormVJP : public Primitive {
 public:
  NormVJP(Stream s, const NormBackward& spec) : Primitive(s), spec_(spec) {}
  const char* name() const override { return spec_.rms ? "RMSNormVJP" : "LayerNormVJP"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  const NormBackward& spec() const { return spec_; }

 private:
  NormBackward spec_;
};

// Rotary position embedding of the first `dims` features of the last axis; the second-to-last
// axis holds the positions (offset, offset + 1, ...). Pair i (features i and i + dims/2, or
// 2i and 2i + 1 when `traditional`) turns by (offset + l) * scale * f_i, where f_i is
// base^(-2i/dims), or 1 / freqs[i] when a freqs input (shape (dims/2,)) is given.
// `inverse` turns the other way: the rotation is orthogonal, so that is its vjp.
class RoPE : public UnaryPrimitive {
 public:
  RoPE(Stream s, int dims, bool traditional, float base, float scale, int64_t offset,
       bool has_freqs, bool inverse)
      : UnaryPrimitive(s), dims_(dims), traditional_(traditional), base_(base), scale_(scale),
        offset_(offset), has_freqs_(has_freqs), inverse_(inverse) {}
  const char* name() const override { return "RoPE"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  array turned(const array& x, const std::vector<array>& primals, bool inverse) const;
  int dims_;
  bool traditional_;
  float base_;
  float scale_;
  int64_t offset_;
  bool has_freqs_;
  bool inverse_;
};

}  // namespace pullback
