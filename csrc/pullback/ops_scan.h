// ---- cumulative scans (ops_scan.cpp) ----
// MLX's cumsum, cumprod, cummax, cummin and logcumsumexp. `axis` std::nullopt scans the
// flattened array. `reverse` scans from the end; `inclusive` false leaves element i out of
// output i (the first output is the operation's identity: 0, 1, the dtype's lowest or highest
// value, -inf). cumsum of bool gives int32; logcumsumexp of integers or bool gives float32;
// otherwise the input's dtype (integers wrap). `dtype` casts the input first.
#pragma once

#include <optional>

#include "pullback/array.h"

namespace pullback {

array cumsum(const array& a, std::optional<int> axis = {}, bool reverse = false,
             bool inclusive = true, std::optional<Dtype> dtype = {}, Stream s = current_stream());
array cumprod(const array& a, std::optional<int> axis = {}, bool reverse = false,
              bool inclusive = true, std::optional<Dtype> dtype = {}, Stream s = current_stream());
array cummax(const array& a, std::optional<int> axis = {}, bool reverse = false,
             bool inclusive = true, Stream s = current_stream());
array cummin(const array& a, std::optional<int> axis = {}, bool reverse = false,
             bool inclusive = true, Stream s = current_stream());
array logcumsumexp(const array& a, std::optional<int> axis = {}, bool reverse = false,
                   bool inclusive = true, Stream s = current_stream());

}  // namespace pullback
