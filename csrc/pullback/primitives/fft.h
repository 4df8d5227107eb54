// Discrete Fourier transforms along one axis (the ops chain one node per transformed axis).
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

// Complex to complex (either direction), real to half spectrum (forward), half spectrum to
// real (inverse).
enum class FFTKind : uint8_t { C2C, R2C, C2R };

// scale * sum_j x_j e^{-+2 pi i jk/n} along `axis` (non-negative), the sign + when `inverse`.
// `n` is the transform length: C2C and R2C read n elements along the axis, C2C writes n and
// R2C n/2 + 1 (complex64 from float32); C2R reads n/2 + 1 terms of a Hermitian spectrum
// (complex64) and writes n real values (float32), ignoring the imaginary parts of the terms
// at 0 and n/2. R2C is always forward, C2R always inverse. The ops cast and pad beforehand.
class FFT : public UnaryPrimitive {
 public:
  FFT(Stream s, int axis, FFTKind kind, bool inverse, int64_t n, double scale)
      : UnaryPrimitive(s), axis_(axis), kind_(kind), inverse_(inverse), n_(n), scale_(scale) {}
  const char* name() const override;
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
  int axis_;
  FFTKind kind_;
  bool inverse_;
  int64_t n_;
  double scale_;
};

// One FFT node: `x` must already have the dtype and length along `axis` the kind reads.
array fft_node(const array& x, int axis, FFTKind kind, bool inverse, int64_t n, double scale,
               Stream s);

}  // namespace pullback
