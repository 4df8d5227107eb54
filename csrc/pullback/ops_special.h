// ---- special ops (ops_special.cpp, ops_special_mm.cpp) ----
// MLX's as_strided, view, depends, convolve, window functions, hadamard_transform and the
// masked / gathered / segmented matrix products.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pullback/array.h"

namespace pullback {

// A view of a's elements, numbered in row-major order, with the given shape, strides and
// offset (in elements; nullopt shape: a's, nullopt strides: row-major for the shape). Every
// element the view reaches must lie inside a (std::invalid_argument otherwise).
array as_strided(const array& a, std::optional<Shape> shape = {},
                 std::optional<Strides> strides = {}, int64_t offset = 0,
                 Stream s = current_stream());
// a's bytes read as `dtype`; when the element sizes differ the last axis is rescaled (its size
// in bytes must be a multiple of the new element size; a 0-d array needs equal sizes).
array view(const array& a, Dtype dtype, Stream s = current_stream());
// The `inputs`, unchanged, evaluated only after every one of `dependencies`.
std::vector<array> depends(const std::vector<array>& inputs,
                           const std::vector<array>& dependencies);
// The discrete linear convolution of two 1-D arrays, numpy.convolve's modes "full", "same"
// and "valid" (v and a swap when v is the longer). Real floating dtypes only, as MLX.
array convolve(const array& a, const array& v, const std::string& mode = "full",
               Stream s = current_stream());
// NumPy's window functions of M points (float32; empty for M < 1, [1] for M == 1).
array bartlett(int64_t M, Stream s = current_stream());
array blackman(int64_t M, Stream s = current_stream());
array hamming(int64_t M, Stream s = current_stream());
array hanning(int64_t M, Stream s = current_stream());
// scale * (H_n a) along the last axis, n a power of two (scale default 1/sqrt(n)); integers
// and bool become float32.
array hadamard_transform(const array& a, std::optional<double> scale = {},
                         Stream s = current_stream());

// matmul(a, b) with the blocks (block_size square) of a, b and the output scaled by the
// matching mask entries (bool masks keep or zero a block exactly; numeric ones multiply).
// Masks have a's/b's/the output's batch axes (broadcastable to the output's) and one entry
// per block, the last block possibly partial. Derivatives flow to a and b, not to the masks.
array block_masked_mm(const array& a, const array& b, int block_size,
                      const std::optional<array>& mask_out = {},
                      const std::optional<array>& mask_lhs = {},
                      const std::optional<array>& mask_rhs = {}, Stream s = current_stream());
// out[i] = a_flat[lhs[i]] @ b_flat[rhs[i]], where a_flat and b_flat hold a's and b's matrices
// (their batch axes flattened) and the indices (default: every matrix, shaped as the batch)
// broadcast together. Indices outside the batch raise std::out_of_range at evaluation.
array gather_mm(const array& a, const array& b, const std::optional<array>& lhs_indices = {},
                const std::optional<array>& rhs_indices = {}, bool sorted_indices = false,
                Stream s = current_stream());
// a (M, K) @ b (K, N) for each segment [lo, hi) of the inner axis: segments (..., 2) gives
// (..., M, N). Bounds outside [0, K] are clamped; an empty segment gives zeros.
array segmented_mm(const array& a, const array& b, const array& segments,
                   Stream s = current_stream());

}  // namespace pullback
