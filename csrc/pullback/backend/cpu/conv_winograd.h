// Winograd convolution for the common case of 3x3 kernels at stride 1 (float32, channels last):
// the forward convolution and its input derivative (itself such a convolution, with the weight
// flipped), and its weight derivative. Used by conv.cpp where the geometry fits.
#pragma once

#include <cstdint>

namespace pullback::cpu {

// A 2-D 3x3 stride-1 undilated ungrouped convolution: x (N, H, W, C), w (O, 3, 3, C),
// y (N, P0, P1, O), with
//   y[n, p, q, o] = sum_{a, b, c} x[n, p + a - lo0, q + b - lo1, c] * w[o, a', b', c]
// (x zero outside its bounds; a' = 2 - a and b' = 2 - b when flipped, else a and b).
struct WinogradConv {
  int64_t N, H, W, C, O, P0, P1, lo0, lo1;
  bool flip;
};

// Whether the Winograd path is worth taking for this convolution (enough channels for its
// products to run well).
bool winograd_suits(const WinogradConv& g);

// Whether winograd_weight_grad is worth taking (its partial sums grow with C * O).
bool winograd_weight_grad_suits(const WinogradConv& g);

// The Winograd transforms mix every value of a tile's input patch into every output of the
// tile, so an inf or NaN reaches outputs a direct convolution keeps finite. Both functions
// therefore return false where some output is not finite; the caller then computes the
// convolution again directly (whose outputs are non-finite exactly where its sums are).

// y = the convolution of x with w (all row-contiguous).
bool winograd_conv(const WinogradConv& g, const float* x, const float* w, float* y);

// dw (O, 3, 3, C) = the derivative of sum(y * ct) with respect to w, ct (N, P0, P1, O).
bool winograd_weight_grad(const WinogradConv& g, const float* x, const float* ct, float* dw);

}  // namespace pullback::cpu
