// Counter-based random numbers: threefry2x32 (20 rounds) keyed by uint32 pairs, laid out as
// MLX lays out its generator's words, so that a key gives MLX's bits.
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

// Random bits from keys. Input 0 holds the keys, uint32 of shape (..., 2); the output has shape
// keys.shape[:-1] + shape (one block per key, as if each key were used alone, which is what
// vmap over keys needs) and dtype uint8/uint16/uint32 for width 1/2/4.
//
// The words of one key: with n = ceil(bytes / 4), h = n / 2 and o = n % 2, the pair
// threefry(key, (i, i + h + o)) gives words i and i + h + o for i < h; an odd n takes word h
// from threefry(key, (h, 0)). Narrower widths read the words' little-endian bytes in order.
class RandomBits : public UnaryPrimitive {
 public:
  RandomBits(Stream s, Shape shape, int width)
      : UnaryPrimitive(s), shape_(std::move(shape)), width_(width) {}
  const char* name() const override { return "RandomBits"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  Shape shape_;
  int width_;
};

// Standard normal samples from keys in one pass: MLX's normal without loc and scale, i.e.
// sqrt(2) * erfinv(x) with x the uniform sample on [nextafter(-1, 0), 1) made from the words of
// RandomBits(width 4), erfinv being the single-precision approximation MLX evaluates (N. Juffa's
// minimax polynomials in log(1 - x^2), fused multiply-adds, glibc's logf). `scaled` false leaves
// out the factor sqrt(2) (normal with a scale multiplies by sqrt(2) * scale instead, as MLX
// does). float16/bfloat16 round at the steps where MLX's ops round. Fused rather than composed
// from ops because the pieces run five passes over memory and the elementwise erfinv is a
// different (more accurate) function. Output float32, float64, float16 or bfloat16, always from
// the float32 samples (as MLX does).
class RandomNormal : public UnaryPrimitive {
 public:
  RandomNormal(Stream s, Shape shape, Dtype dtype, bool scaled)
      : UnaryPrimitive(s), shape_(std::move(shape)), dtype_(dtype), scaled_(scaled) {}
  const char* name() const override { return "RandomNormal"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  Shape shape_;
  Dtype dtype_;
  bool scaled_;
};

// One threefry2x32 block (20 rounds): the two output words for counter (c0, c1).
void threefry2x32(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t& x0, uint32_t& x1);

}  // namespace pullback
