#include "pullback/primitives/fft.h"

#include <vector>

#include "pullback/ops.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

const char* FFT::name() const {
  switch (kind_) {
    case FFTKind::R2C: return "RFFT";
    case FFTKind::C2R: return "IRFFT";
    default: return inverse_ ? "IFFT" : "FFT";
  }
}

namespace {

int64_t input_length(FFTKind kind, int64_t n) { return kind == FFTKind::C2R ? n / 2 + 1 : n; }
int64_t output_length(FFTKind kind, int64_t n) { return kind == FFTKind::R2C ? n / 2 + 1 : n; }

// Weights along `axis` of a half spectrum of a length-n transform, shaped to broadcast against
// an array of `ndim` axes: `edge` at 0 and (even n) n/2, whose terms appear once in the full
// spectrum, `interior` at the others, which stand for themselves and their conjugates.
array half_spectrum_weights(int64_t n, int axis, int ndim, float edge, float interior) {
  const int64_t m = n / 2 + 1;
  std::vector<float> w(m, interior);
  w[0] = edge;
  if (n % 2 == 0) w[m - 1] = edge;
  Shape shape(ndim, 1);
  shape[axis] = m;
  return array(w.data(), shape, Dtype::float32);
}

}  // namespace

array fft_node(const array& x, int axis, FFTKind kind, bool inverse, int64_t n, double scale,
               Stream s) {
  auto prim = std::make_shared<FFT>(s, axis, kind, inverse, n, scale);
  Shape shape = prim->output_shapes({x})[0];  // validates the input the kernel will read
  Dtype dtype = kind == FFTKind::C2R ? Dtype::float32 : Dtype::complex64;
  return array(shape, dtype, std::move(prim), {x});
}

std::vector<Shape> FFT::output_shapes(const Arrays& in) {
  const array& x = in[0];
  Dtype want = kind_ == FFTKind::R2C ? Dtype::float32 : Dtype::complex64;
  if (axis_ >= x.ndim() || x.shape(axis_) != input_length(kind_, n_) || x.dtype() != want) {
    throw std::invalid_argument(std::string("[") + name() + "] Expected " + dtype_name(want) +
                                " input with " + std::to_string(input_length(kind_, n_)) +
                                " elements along axis " + std::to_string(axis_) + ", got " +
                                dtype_name(x.dtype()) + " of shape " + shape_str(x.shape()) + ".");
  }
  Shape shape = x.shape();
  shape[axis_] = output_length(kind_, n_);
  return {shape};
}

bool FFT::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const FFT*>(&other);
  return o && o->axis_ == axis_ && o->kind_ == kind_ && o->inverse_ == inverse_ && o->n_ == n_ &&
         o->scale_ == scale_;
}

// The transforms are linear over the reals, so the tangent goes through the same transform.
// Cotangents follow the house's complex convention (ct = dL/dRe + i dL/dIm), under which a
// linear map A pulls ct back to A^H ct, and a real input takes the real part of that.
Arrays FFT::vjp(const Arrays&, const Arrays& cts, const Ints&, const Arrays&) {
  Stream s = stream();
  const array& ct = cts[0];
  switch (kind_) {
    case FFTKind::C2C: return {fft_node(ct, axis_, FFTKind::C2C, !inverse_, n_, scale_, s)};
    case FFTKind::R2C: {
      // Re(A^H ct) for A = (first n/2 + 1 rows of) the DFT: the inverse real transform counts
      // every interior term twice (itself and its conjugate), so those are halved first.
      array w = half_spectrum_weights(n_, axis_, ct.ndim(), 1.0f, 0.5f);
      return {fft_node(multiply(ct, w, s), axis_, FFTKind::C2R, true, n_, scale_, s)};
    }
    default: {
      // d x_j / d Re X_k + i d x_j / d Im X_k = c_k e^{-2 pi i jk/n}, c_k = 2 for the interior
      // terms: the forward real transform of ct, weighted.
      array w = half_spectrum_weights(n_, axis_, ct.ndim(), 1.0f, 2.0f);
      return {multiply(fft_node(ct, axis_, FFTKind::R2C, false, n_, scale_, s), w, s)};
    }
  }
}

Arrays FFT::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  array t = tangents[0];
  if (t.dtype() != primals[0].dtype()) t = astype(t, primals[0].dtype(), stream());
  return {fft_node(t, axis_, kind_, inverse_, n_, scale_, stream())};
}

std::pair<Arrays, Ints> FFT::vmap(const Arrays& in, const Ints& axes) {
  const int b = axes[0];
  if (b < 0) return {{fft_node(in[0], axis_, kind_, inverse_, n_, scale_, stream())}, {-1}};
  const int axis = b <= axis_ ? axis_ + 1 : axis_;
  return {{fft_node(in[0], axis, kind_, inverse_, n_, scale_, stream())}, {b}};
}

}  // namespace pullback
