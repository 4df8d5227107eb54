// ---- convolutions (ops_conv.cpp) ----
// MLX's conv1d/2d/3d, conv_general and conv_transpose1d/2d/3d, channels last: input
// (N, S..., C_in), weight (C_out, K..., C_in / groups), output (N, P..., C_out), in the inputs'
// promoted floating dtype. The number of spatial axes (1 to 3) is the input's ndim - 2. Each
// per-axis parameter list holds one entry per spatial axis, or one entry for all, or none (the
// default). Negative padding crops.
#pragma once

#include <vector>

#include "pullback/array.h"

namespace pullback {

using ConvInts = std::vector<int64_t>;

array conv_general(const array& input, const array& weight, const ConvInts& stride = {},
                   const ConvInts& padding_lo = {}, const ConvInts& padding_hi = {},
                   const ConvInts& kernel_dilation = {}, const ConvInts& input_dilation = {},
                   int64_t groups = 1, bool flip = false, Stream s = current_stream());
array conv1d(const array& input, const array& weight, int64_t stride = 1, int64_t padding = 0,
             int64_t dilation = 1, int64_t groups = 1, Stream s = current_stream());
array conv2d(const array& input, const array& weight, const ConvInts& stride = {1},
             const ConvInts& padding = {0}, const ConvInts& dilation = {1}, int64_t groups = 1,
             Stream s = current_stream());
array conv3d(const array& input, const array& weight, const ConvInts& stride = {1},
             const ConvInts& padding = {0}, const ConvInts& dilation = {1}, int64_t groups = 1,
             Stream s = current_stream());
// The gradient of a convolution with respect to its input (a fractionally strided
// convolution): output size (S - 1) * stride - 2 * padding + dilation * (K - 1) +
// output_padding + 1 per axis.
array conv_transpose1d(const array& input, const array& weight, int64_t stride = 1,
                       int64_t padding = 0, int64_t dilation = 1, int64_t output_padding = 0,
                       int64_t groups = 1, Stream s = current_stream());
array conv_transpose2d(const array& input, const array& weight, const ConvInts& stride = {1},
                       const ConvInts& padding = {0}, const ConvInts& dilation = {1},
                       const ConvInts& output_padding = {0}, int64_t groups = 1,
                       Stream s = current_stream());
array conv_transpose3d(const array& input, const array& weight, const ConvInts& stride = {1},
                       const ConvInts& padding = {0}, const ConvInts& dilation = {1},
                       const ConvInts& output_padding = {0}, int64_t groups = 1,
                       Stream s = current_stream());

}  // namespace pullback
