// Sorting ops: sort, argsort, partition, argpartition, topk, median, searchsorted, unique.
// Included at the end of ops.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pullback/ops.h"

namespace pullback {

// axis nullopt sorts the flattened array. Order: ascending, NaNs last; argsort is stable and
// returns uint32.
array sort(const array& a, std::optional<int> axis = -1, Stream s = current_stream());
array argsort(const array& a, std::optional<int> axis = -1, Stream s = current_stream());
// The element that would be at `kth` in sorted order is there, smaller ones before it and
// larger ones after (in no particular order). kth may be negative (from the end).
array partition(const array& a, int64_t kth, std::optional<int> axis = -1,
                Stream s = current_stream());
array argpartition(const array& a, int64_t kth, std::optional<int> axis = -1,
                   Stream s = current_stream());
// The k largest elements along the axis, in no particular order (MLX's topk).
array topk(const array& a, int64_t k, std::optional<int> axis = -1, Stream s = current_stream());
// The median over `axes` (all when nullopt); the mean of the two middle elements for an even
// count, NaN where a NaN is among them. Integer and bool input give float32.
array median(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
             Stream s = current_stream());
// Indices (uint32, values' shape) that insert `values` into the 1-d `sorted_sequence` keeping
// it sorted; side "left" or "right".
array searchsorted(const array& sorted_sequence, const array& values,
                   const std::string& side = "left", Stream s = current_stream());
// MLX's unique with a fixed output `size`: the sorted unique elements of the flattened array,
// padded with `fill_value` (default: the smallest element) or truncated to the smallest
// `size`, followed, as asked, by the index of each one's first occurrence (uint32), the
// inverse indices (uint32, a's shape) and the counts (int32).
std::vector<array> unique(const array& a, int64_t size, bool return_index = false,
                          bool return_inverse = false, bool return_counts = false,
                          const std::optional<array>& fill_value = {},
                          Stream s = current_stream());

}  // namespace pullback
