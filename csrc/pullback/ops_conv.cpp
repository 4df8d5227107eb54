// Convolutions: every op validates its arguments and builds one Convolution node;
// the transposed ones are convolutions of the input dilated by the stride with the weight flipped.
#include <climits>

#include "pullback/ops.h"
#include "pullback/primitives/conv.h"

namespace pullback {

namespace {

std::string ints_str(const ConvInts& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + ")";
}

// One value per spatial axis: `v` itself, its one value repeated, or `fallback` when empty.
ConvInts per_axis(const char* name, const char* what, const ConvInts& v, int d, int64_t fallback) {
  if (v.empty()) return ConvInts(d, fallback);
  if (v.size() == 1) return ConvInts(d, v[0]);
  if (static_cast<int>(v.size()) != d) {
    fail(name, std::string("Invalid ") + what + " " + ints_str(v) + " for " + std::to_string(d) +
                   "D convolution.");
  }
  return v;
}

// Values far beyond any array's extent would only overflow the size arithmetic.
void check_range(const char* name, const char* what, const ConvInts& v) {
  for (int64_t x : v) {
    if (x < INT_MIN || x > INT_MAX) {
      fail(name, std::string(what) + " " + std::to_string(x) + " is out of range.");
    }
  }
}

void check_positive(const char* name, const char* what, const ConvInts& v) {
  for (int64_t x : v) {
    if (x <= 0) fail(name, std::string(what) + " sizes must be positive. Got " + ints_str(v) + ".");
  }
}

// The spatial rank (input ndim - 2), after checking both arrays' ranks.
int spatial_rank(const char* name, const array& in, const array& w) {
  const int d = in.ndim() - 2;
  if (d < 1 || d > 3) {
    fail(name, "Only works for inputs with 1-3 spatial dimensions. The inputs must be in the "
               "format [N, ..., C_in]; got an input of shape " + shape_str(in.shape()) + ".");
  }
  if (w.ndim() != in.ndim()) {
    fail(name, "Invalid weight array with " + std::to_string(w.ndim()) + " dimensions for " +
                   std::to_string(d) + "D convolution. Expected an array with " +
                   std::to_string(d + 2) + " dimensions following the format [C_out, ..., C_in].");
  }
  return d;
}

Dtype conv_dtype(const char* name, const array& in, const array& w) {
  const Dtype t = promote_types(in.dtype(), w.dtype());
  if (t != Dtype::float32 && t != Dtype::float64 && t != Dtype::float16 &&
      t != Dtype::bfloat16) {
    const Dtype bad = is_inexact(in.dtype()) && in.dtype() != Dtype::complex64 ? w.dtype()
                                                                                : in.dtype();
    fail(name, std::string("Invalid input array with type ") + dtype_name(bad) +
                   ". Convolution currently only supports floating point types.");
  }
  return t;
}

array cast(const array& a, Dtype t, Stream s) { return a.dtype() == t ? a : astype(a, t, s); }

array conv_impl(const char* name, const array& in, const array& w, const ConvInts& stride,
                const ConvInts& lo, const ConvInts& hi, const ConvInts& kdil,
                const ConvInts& idil, int64_t groups, bool flip, Stream s) {
  const int d = spatial_rank(name, in, w);
  const Dtype t = conv_dtype(name, in, w);
  ConvParams p;
  p.strides = per_axis(name, "strides", stride, d, 1);
  p.padding_lo = per_axis(name, "padding", lo, d, 0);
  p.padding_hi = per_axis(name, "padding", hi, d, 0);
  p.kernel_dilation = per_axis(name, "kernel dilation", kdil, d, 1);
  p.input_dilation = per_axis(name, "input dilation", idil, d, 1);
  for (auto* v : {&p.strides, &p.padding_lo, &p.padding_hi, &p.kernel_dilation,
                  &p.input_dilation}) {
    check_range(name, "A convolution parameter", *v);
  }
  check_positive(name, "Stride", p.strides);
  check_positive(name, "Kernel dilation", p.kernel_dilation);
  check_positive(name, "Input dilation", p.input_dilation);
  if (groups <= 0 || groups > INT_MAX) {
    fail(name, "groups must be a positive integer; got " + std::to_string(groups) + ".");
  }
  p.groups = groups;
  p.flip = flip;
  const int64_t C = in.shape(-1), O = w.shape(0);
  if (C % groups != 0) {
    fail(name, "The input channels must be divisible by the number of groups. Got input with "
               "shape " + shape_str(in.shape()) + " and " + std::to_string(groups) + " groups.");
  }
  if (groups > 1 && O % groups != 0) {
    fail(name, "If groups > 1, the output channels must be divisible by the number of groups. "
               "Got " + std::to_string(O) + " output channels and " + std::to_string(groups) +
                   " groups.");
  }
  if (C / groups != w.shape(-1)) {
    fail(name, "Expect the input channels in the input and weight array to match but got "
               "shapes - input: " + shape_str(in.shape()) + " and weight: " +
                   shape_str(w.shape()) + (groups > 1 ? " with " + std::to_string(groups) +
                                                            " groups" : std::string()) + ".");
  }
  for (int i = 0; i < d; ++i) {
    const int64_t S = in.shape(i + 1), K = w.shape(i + 1);
    const int64_t span = (S == 0 ? 0 : (S - 1) * p.input_dilation[i] + 1) + p.padding_lo[i] +
                         p.padding_hi[i];
    const int64_t extent = K == 0 ? 0 : (K - 1) * p.kernel_dilation[i] + 1;
    if (span < extent) {
      fail(name, "Spatial dimensions of input after padding cannot be smaller than weight "
                 "spatial dimensions. Got error at axis " + std::to_string(i) +
                     " for input with shape " + shape_str(in.shape()) + ", padding low " +
                     ints_str(p.padding_lo) + ", padding high " + ints_str(p.padding_hi) +
                     ", and weight of shape " + shape_str(w.shape()) + ".");
    }
  }
  return convolution_node(cast(in, t, s), cast(w, t, s), std::move(p), s);
}

array conv_transpose_impl(const char* name, const array& in, const array& w,
                          const ConvInts& stride, const ConvInts& padding,
                          const ConvInts& dilation, const ConvInts& output_padding,
                          int64_t groups, Stream s) {
  const int d = spatial_rank(name, in, w);
  ConvInts st = per_axis(name, "strides", stride, d, 1);
  ConvInts pad = per_axis(name, "padding", padding, d, 0);
  ConvInts dil = per_axis(name, "dilation", dilation, d, 1);
  ConvInts out_pad = per_axis(name, "output padding", output_padding, d, 0);
  for (auto* v : {&st, &pad, &dil, &out_pad}) check_range(name, "A convolution parameter", *v);
  ConvInts lo(d), hi(d);
  for (int i = 0; i < d; ++i) {
    const int64_t K = w.shape(i + 1);
    lo[i] = dil[i] * (K - 1) - pad[i];
    hi[i] = lo[i] + out_pad[i];
  }
  return conv_impl(name, in, w, {1}, lo, hi, dil, st, groups, true, s);
}

}  // namespace

array conv_general(const array& in, const array& w, const ConvInts& stride, const ConvInts& lo,
                   const ConvInts& hi, const ConvInts& kdil, const ConvInts& idil, int64_t groups,
                   bool flip, Stream s) {
  return conv_impl("conv_general", in, w, stride, lo, hi, kdil, idil, groups, flip, s);
}

array conv1d(const array& in, const array& w, int64_t stride, int64_t padding, int64_t dilation,
             int64_t groups, Stream s) {
  return conv_impl("conv1d", in, w, {stride}, {padding}, {padding}, {dilation}, {1}, groups,
                   false, s);
}

array conv2d(const array& in, const array& w, const ConvInts& stride, const ConvInts& padding,
             const ConvInts& dilation, int64_t groups, Stream s) {
  return conv_impl("conv2d", in, w, stride, padding, padding, dilation, {1}, groups, false, s);
}

array conv3d(const array& in, const array& w, const ConvInts& stride, const ConvInts& padding,
             const ConvInts& dilation, int64_t groups, Stream s) {
  return conv_impl("conv3d", in, w, stride, padding, padding, dilation, {1}, groups, false, s);
}

array conv_transpose1d(const array& in, const array& w, int64_t stride, int64_t padding,
                       int64_t dilation, int64_t output_padding, int64_t groups, Stream s) {
  return conv_transpose_impl("conv_transpose1d", in, w, {stride}, {padding}, {dilation},
                             {output_padding}, groups, s);
}

array conv_transpose2d(const array& in, const array& w, const ConvInts& stride,
                       const ConvInts& padding, const ConvInts& dilation,
                       const ConvInts& output_padding, int64_t groups, Stream s) {
  return conv_transpose_impl("conv_transpose2d", in, w, stride, padding, dilation,
                             output_padding, groups, s);
}

array conv_transpose3d(const array& in, const array& w, const ConvInts& stride,
                       const ConvInts& padding, const ConvInts& dilation,
                       const ConvInts& output_padding, int64_t groups, Stream s) {
  return conv_transpose_impl("conv_transpose3d", in, w, stride, padding, dilation,
                             output_padding, groups, s);
}

}  // namespace pullback
