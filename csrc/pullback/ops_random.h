// ---- random numbers (ops_random.cpp) ----
// MLX's mx.random. Keys are uint32 arrays of shape (2,) and functional values: a key always
// gives the same numbers (MLX's numbers for bits, split, uniform, normal, randint, bernoulli
// and permutation). Ops without a key draw one from the global key, which `seed` resets:
// each draw splits the global key into (next global key, key used).
#pragma once

#include <optional>

#include "pullback/array.h"

namespace pullback::random {

using OptKey = std::optional<array>;

array key(uint64_t seed);
void seed(uint64_t seed);
// The global key's next subkey (advancing it). Split on the host, or with graph ops (on `s`)
// while the global key is an unevaluated array.
array next_key(Stream s = current_stream());
// The global key (mx.random.state[0]) as an array: evaluated words, or the unevaluated array
// last assigned (as advanced by draws since).
array global_key_value();
// Replaces the global key: an evaluated key's words go to the host; an unevaluated one (a
// compiled function's stand-in, a lazy result) is kept, and draws split it with graph ops.
void set_global_key(const array& key);
// `num` keys of shape (num, 2).
array split(const array& key, int64_t num = 2, Stream s = current_stream());
// Raw bits: uint8/uint16/uint32 for width 1/2/4.
array bits(const Shape& shape, int width = 4, const OptKey& key = {}, Stream s = current_stream());
// low + (high - low) * u, u uniform on [0, 1) (float32 samples rounded to `dtype`; float64
// draws 53 bits). low and high broadcast to `shape`.
array uniform(const array& low, const array& high, const Shape& shape,
              Dtype dtype = Dtype::float32, const OptKey& key = {}, Stream s = current_stream());
// loc and scale broadcast with the samples.
array normal(const Shape& shape, Dtype dtype = Dtype::float32,
             const std::optional<array>& loc = {}, const std::optional<array>& scale = {},
             const OptKey& key = {}, Stream s = current_stream());
array randint(const array& low, const array& high, const Shape& shape,
              Dtype dtype = Dtype::int32, const OptKey& key = {}, Stream s = current_stream());
array bernoulli(const array& p, const std::optional<Shape>& shape = {}, const OptKey& key = {},
                Stream s = current_stream());
array truncated_normal(const array& lower, const array& upper,
                       const std::optional<Shape>& shape = {}, Dtype dtype = Dtype::float32,
                       const OptKey& key = {}, Stream s = current_stream());
array gumbel(const Shape& shape, Dtype dtype = Dtype::float32, const OptKey& key = {},
             Stream s = current_stream());
// Indices (uint32) drawn with probabilities softmax(logits) along `axis`. `shape` (the output
// shape, broadcast-compatible with logits without the axis) and `num_samples` (samples per
// distribution, appended as the last axis) are exclusive.
array categorical(const array& logits, int axis = -1, const std::optional<Shape>& shape = {},
                  const std::optional<int64_t>& num_samples = {}, const OptKey& key = {},
                  Stream s = current_stream());
array laplace(const Shape& shape, Dtype dtype = Dtype::float32, double loc = 0.0,
              double scale = 1.0, const OptKey& key = {}, Stream s = current_stream());
// A permutation of 0 .. n-1 (uint32), or of `x` along `axis`.
array permutation(int64_t n, const OptKey& key = {}, Stream s = current_stream());
array permutation(const array& x, int axis = 0, const OptKey& key = {},
                  Stream s = current_stream());
// mean + z @ sqrt(cov) with z standard normal of shape `shape` + (n,) (or, for an empty shape,
// mean and cov's batch shapes broadcast), sqrt(cov) = U diag(sqrt(s)) V^T from the SVD.
array multivariate_normal(const array& mean, const array& cov, const Shape& shape = {},
                          Dtype dtype = Dtype::float32, const OptKey& key = {},
                          Stream s = current_stream());

}  // namespace pullback::random
