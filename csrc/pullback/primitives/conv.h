// Convolution over 1 to 3 spatial axes, channels last (MLX's layout and parameters).
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

// The parameters of one convolution, one entry per spatial axis. Input (N, S..., C), weight
// (O, K..., C / groups), output (N, P..., O). Along an axis the input is first dilated
// (input_dilation - 1 zeros between neighbours), then padded by padding_lo / padding_hi (a
// negative padding crops), and the kernel, dilated by kernel_dilation and reversed when `flip`,
// slides over it in steps of `strides`:
//   out[n, p, o] = sum_{k, c} xpad[n, p * stride + k * kernel_dilation, g * Cg + c] * w[o, k', c]
// with k' = K - 1 - k when flipped, g = o / (O / groups).
struct ConvParams {
  std::vector<int64_t> strides, padding_lo, padding_hi, kernel_dilation, input_dilation;
  int64_t groups = 1;
  bool flip = false;
  bool operator==(const ConvParams& o) const;
};

// The output's spatial sizes for an input and weight of these shapes (no validation).
std::vector<int64_t> conv_output_spatial(const Shape& in, const Shape& w, const ConvParams& p);

// Both derivatives are convolutions again (of the cotangent with the weight, and of the input
// with the cotangent), built with conv_general's parameters, so derivatives of any order exist.
class Convolution : public UnaryPrimitive {
 public:
  Convolution(Stream s, ConvParams p) : UnaryPrimitive(s), p_(std::move(p)) {}
  const char* name() const override { return "Convolution"; }
  const ConvParams& params() const { return p_; }
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
  ConvParams p_;
};

// The derivative of Convolution(x, w) with respect to w, paired with the cotangent of its
// output: dw[o, k, c] = sum_{n, p} ct[n, p, o] * xpad[n, p * stride + k * dilation, c] (k
// reversed when flipped). Inputs x and ct; the output has `weight_shape`. A primitive of its own
// (rather than a convolution of transposed operands) so that its kernel reads x and ct in place
// and gathers the same windows as the forward kernel. Bilinear in (x, ct), so its derivatives
// are a ConvolutionWeightGrad and a Convolution (and the input derivative of one).
class ConvolutionWeightGrad : public UnaryPrimitive {
 public:
  ConvolutionWeightGrad(Stream s, ConvParams p, Shape weight_shape)
      : UnaryPrimitive(s), p_(std::move(p)), weight_shape_(std::move(weight_shape)) {}
  const char* name() const override { return "ConvolutionWeightGrad"; }
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
  ConvParams p_;
  Shape weight_shape_;
};

// A Convolution node (inputs already validated, same floating dtype).
array convolution_node(const array& in, const array& w, ConvParams p, Stream s);

}  // namespace pullback
