// Ops built only from existing primitives (broadcast, reshape, transpose, slice, slice_update,
// concatenate, gather, where, matmul, reductions), so their derivatives follow from those.
// Included at the end of ops.h.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pullback/array.h"

namespace pullback {

using Axes = std::vector<int>;

// ---- padding, repetition, rearrangement ----
// `pad_width` holds one (before, after) pair for every axis, or a single pair for all of them.
// `mode` is "constant" (constant_values, a one-element array cast to a's dtype), "edge",
// "reflect" or "symmetric" (NumPy's meanings, reflections repeating when a pad is longer
// than the axis).
array pad(const array& a, const std::vector<std::pair<int64_t, int64_t>>& pad_width,
          const std::string& mode, const array& constant_values, Stream s = current_stream());
// Each element `repeats` times along `axis` (nullopt: of the flattened array).
array repeat(const array& a, int64_t repeats, std::optional<int> axis = {},
             Stream s = current_stream());
array tile(const array& a, const std::vector<int64_t>& reps, Stream s = current_stream());
// `shift` has one entry, or one per entry of `axes`; a single axis with several shifts rolls by
// their sum. No axes: the flattened array rolls, by the sum of the shifts.
array roll(const array& a, const std::vector<int64_t>& shift, const std::optional<Axes>& axes,
           Stream s = current_stream());
array flip(const array& a, const std::optional<Axes>& axes = {}, Stream s = current_stream());
array unflatten(const array& a, int axis, const Shape& shape, Stream s = current_stream());
std::vector<array> unstack(const array& a, int axis = 0, Stream s = current_stream());
array atleast_nd(const array& a, int ndim, Stream s = current_stream());  // atleast_1d/2d/3d
array matrix_transpose(const array& a, Stream s = current_stream());
array diff(const array& a, int n = 1, int axis = -1, Stream s = current_stream());
std::vector<array> meshgrid(const std::vector<array>& arrays, bool sparse = false,
                            const std::string& indexing = "xy", Stream s = current_stream());

// ---- triangles and diagonals ----
array tri(int64_t n, int64_t m, int k, Dtype dtype, Stream s = current_stream());
array tril(const array& x, int k = 0, Stream s = current_stream());
array triu(const array& x, int k = 0, Stream s = current_stream());
array diagonal(const array& a, int offset = 0, int axis1 = 0, int axis2 = 1,
               Stream s = current_stream());
array diag(const array& a, int k = 0, Stream s = current_stream());
array trace(const array& a, int offset = 0, int axis1 = 0, int axis2 = 1,
            std::optional<Dtype> dtype = {}, Stream s = current_stream());

// ---- products ----
array outer(const array& a, const array& b, Stream s = current_stream());
array inner(const array& a, const array& b, Stream s = current_stream());
array vecdot(const array& a, const array& b, int axis = -1, Stream s = current_stream());
array tensordot(const array& a, const array& b, int axes = 2, Stream s = current_stream());
array tensordot(const array& a, const array& b, const Axes& axes_a, const Axes& axes_b,
                Stream s = current_stream());
array kron(const array& a, const array& b, Stream s = current_stream());
// beta * c + alpha * (a @ b).
array addmm(const array& c, const array& a, const array& b, double alpha = 1.0,
            double beta = 1.0, Stream s = current_stream());
array einsum(const std::string& subscripts, const std::vector<array>& operands,
             Stream s = current_stream());
// The contraction order einsum uses (pairs of positions in the shrinking operand list, the
// result of each contraction appended last) and NumPy-style text about its cost.
std::pair<std::vector<std::vector<int>>, std::string> einsum_path(
    const std::string& subscripts, const std::vector<Shape>& shapes);

// ---- elementwise compositions ----
// Either bound may be absent, not both.
array clip(const array& a, const std::optional<array>& a_min, const std::optional<array>& a_max,
           Stream s = current_stream());
array nan_to_num(const array& a, double nan = 0.0, std::optional<double> posinf = {},
                 std::optional<double> neginf = {}, Stream s = current_stream());
array trunc(const array& a, Stream s = current_stream());
array degrees(const array& a, Stream s = current_stream());
array radians(const array& a, Stream s = current_stream());
array logical_xor(const array& a, const array& b, Stream s = current_stream());
std::pair<array, array> divmod(const array& a, const array& b, Stream s = current_stream());
array count_nonzero(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
                    Stream s = current_stream());
std::pair<array, array> minmax(const array& a, const std::optional<Axes>& axes = {},
                               bool keepdims = false, Stream s = current_stream());
// A row-contiguous copy unless `a` already is one (or, with allow_col_major, column-contiguous).
array contiguous(const array& a, bool allow_col_major = false, Stream s = current_stream());

}  // namespace pullback
