// The mx.fft ops: resolve axes, sizes and norm, cast and resize the input, then chain one FFT
// node per transformed axis.
#include <algorithm>
#include <cmath>
#include <vector>

#include "pullback/ops.h"
#include "pullback/primitives/fft.h"

namespace pullback {

namespace {

enum class Norm { Backward, Ortho, Forward };

Norm parse_norm(const std::string& norm, const char* name) {
  if (norm == "backward") return Norm::Backward;
  if (norm == "ortho") return Norm::Ortho;
  if (norm == "forward") return Norm::Forward;
  fail(name, "Invalid norm '" + norm + "'. Expected one of {'backward', 'ortho', 'forward'}.");
}

// `a` cut or zero-extended to `len` elements along `axis`.
array resized(const array& a, int axis, int64_t len, Stream s) {
  const int64_t have = a.shape(axis);
  if (have == len) return a;
  if (have > len) {
    Shape start(a.ndim(), 0), stop = a.shape(), step(a.ndim(), 1);
    stop[axis] = len;
    return slice(a, start, stop, step, s);
  }
  Shape extra = a.shape();
  extra[axis] = len - have;
  return concatenate({a, zeros(extra, a.dtype(), s)}, axis, s);
}

// The n-dimensional transforms; the 1-d ones are the case of one axis.
array transform(const array& a, const std::optional<Shape>& sizes, const std::optional<Axes>& axes_in,
                const std::string& norm_name, bool real, bool inverse, const char* name,
                Stream s) {
  const Norm norm = parse_norm(norm_name, name);
  if (sizes && !axes_in) fail(name, "`axes` should not be `None` if `s` is not `None`.");
  Axes axes;
  if (axes_in) {
    for (int ax : *axes_in) axes.push_back(normalize_axis(ax, a.ndim(), name));
  } else {
    for (int d = 0; d < a.ndim(); ++d) axes.push_back(d);
  }
  Axes sorted = axes;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    fail(name, "Duplicated axis received " + axes_str(*axes_in) + ".");
  }
  if (sizes && sizes->size() != axes.size()) {
    fail(name, "Shape " + shape_str(*sizes) + " and axes " + axes_str(axes) +
                   " have different sizes.");
  }
  if (axes.empty()) return a;
  // n: the transform length along each axis (for irfft the output length of the last one).
  Shape n(axes.size());
  for (size_t i = 0; i < axes.size(); ++i) {
    n[i] = sizes ? (*sizes)[i] : a.shape(axes[i]);
    if (!sizes && real && inverse && i + 1 == axes.size()) n[i] = 2 * (a.shape(axes[i]) - 1);
    if (n[i] <= 0) {
      fail(name, "Invalid FFT output size requested (" + std::to_string(n[i]) + ") along axis " +
                     std::to_string(axes[i]) + " of an array of shape " + shape_str(a.shape()) +
                     ".");
    }
  }
  array x = a;
  if (real && !inverse) {
    if (is_complex(x.dtype())) x = pullback::real(x, s);
    if (x.dtype() != Dtype::float32) x = astype(x, Dtype::float32, s);
  } else if (x.dtype() != Dtype::complex64) {
    x = astype(x, Dtype::complex64, s);
  }
  const size_t last = axes.size() - 1;
  for (size_t i = 0; i < axes.size(); ++i) {
    const bool half = real && inverse && i == last;
    x = resized(x, axes[i], half ? n[i] / 2 + 1 : n[i], s);
  }
  double total = 1.0;
  for (int64_t len : n) total *= static_cast<double>(len);
  double scale = 1.0;
  if (norm == Norm::Ortho) scale = 1.0 / std::sqrt(total);
  if ((norm == Norm::Backward && inverse) || (norm == Norm::Forward && !inverse)) {
    scale = 1.0 / total;
  }
  // The real axis is the last one: transformed first going forward, last coming back. The
  // scale rides on the final node.
  std::vector<size_t> order;
  if (real && !inverse) order.push_back(last);
  for (size_t i = last; i-- > 0;) order.push_back(i);
  if (!real || inverse) order.push_back(last);
  for (size_t step = 0; step < order.size(); ++step) {
    const size_t i = order[step];
    FFTKind kind = FFTKind::C2C;
    if (real && i == last) kind = inverse ? FFTKind::C2R : FFTKind::R2C;
    const double node_scale = step + 1 == order.size() ? scale : 1.0;
    x = fft_node(x, axes[i], kind, inverse, n[i], node_scale, s);
  }
  return x;
}

array transform_1d(const array& a, std::optional<int64_t> n, int axis, const std::string& norm,
                   bool real, bool inverse, const char* name, Stream s) {
  std::optional<Shape> sizes;
  if (n) sizes = Shape{*n};
  return transform(a, sizes, Axes{axis}, norm, real, inverse, name, s);
}

array shifted(const array& a, const std::optional<Axes>& axes_in, bool inverse, const char* name,
              Stream s) {
  Axes axes;
  if (axes_in) {
    for (int ax : *axes_in) axes.push_back(normalize_axis(ax, a.ndim(), name));
  } else {
    for (int d = 0; d < a.ndim(); ++d) axes.push_back(d);
  }
  if (axes.empty()) return a;
  std::vector<int64_t> shift;
  for (int ax : axes) {
    const int64_t len = a.shape(ax);
    shift.push_back(inverse ? -(len / 2) : len / 2);
  }
  return roll(a, shift, axes, s);
}

void check_frequency_args(int64_t n, double d, const char* name) {
  if (n <= 0) fail(name, "`n` must be greater than 0, got " + std::to_string(n) + ".");
  if (d == 0.0) fail(name, "`d` must be non-zero.");
}

}  // namespace

array fft(const array& a, std::optional<int64_t> n, int axis, const std::string& norm, Stream s) {
  return transform_1d(a, n, axis, norm, false, false, "fft", s);
}
array ifft(const array& a, std::optional<int64_t> n, int axis, const std::string& norm,
           Stream s) {
  return transform_1d(a, n, axis, norm, false, true, "ifft", s);
}
array rfft(const array& a, std::optional<int64_t> n, int axis, const std::string& norm,
           Stream s) {
  return transform_1d(a, n, axis, norm, true, false, "rfft", s);
}
array irfft(const array& a, std::optional<int64_t> n, int axis, const std::string& norm,
            Stream s) {
  return transform_1d(a, n, axis, norm, true, true, "irfft", s);
}

array fftn(const array& a, const std::optional<Shape>& sizes, const std::optional<Axes>& axes,
           const std::string& norm, Stream s) {
  return transform(a, sizes, axes, norm, false, false, "fftn", s);
}
array ifftn(const array& a, const std::optional<Shape>& sizes, const std::optional<Axes>& axes,
            const std::string& norm, Stream s) {
  return transform(a, sizes, axes, norm, false, true, "ifftn", s);
}
array rfftn(const array& a, const std::optional<Shape>& sizes, const std::optional<Axes>& axes,
            const std::string& norm, Stream s) {
  return transform(a, sizes, axes, norm, true, false, "rfftn", s);
}
array irfftn(const array& a, const std::optional<Shape>& sizes, const std::optional<Axes>& axes,
             const std::string& norm, Stream s) {
  return transform(a, sizes, axes, norm, true, true, "irfftn", s);
}

array fftshift(const array& a, const std::optional<Axes>& axes, Stream s) {
  return shifted(a, axes, false, "fftshift", s);
}
array ifftshift(const array& a, const std::optional<Axes>& axes, Stream s) {
  return shifted(a, axes, true, "ifftshift", s);
}

array fftfreq(int64_t n, double d, Stream) {
  check_frequency_args(n, d, "fftfreq");
  std::vector<float> f(static_cast<size_t>(n));
  const double step = 1.0 / (d * static_cast<double>(n));
  for (int64_t i = 0; i < n; ++i) {
    f[i] = static_cast<float>(static_cast<double>(i <= (n - 1) / 2 ? i : i - n) * step);
  }
  return array(f.data(), Shape{n}, Dtype::float32);
}

array rfftfreq(int64_t n, double d, Stream) {
  check_frequency_args(n, d, "rfftfreq");
  std::vector<float> f(static_cast<size_t>(n / 2 + 1));
  const double step = 1.0 / (d * static_cast<double>(n));
  for (int64_t i = 0; i <= n / 2; ++i) f[i] = static_cast<float>(static_cast<double>(i) * step);
  return array(f.data(), Shape{n / 2 + 1}, Dtype::float32);
}

}  // namespace pullback
