// Bindings of the mx.fft functions, in the submodule _core._fft (python/pullback/core/fft.py
// re-exports them and adds stft / istft).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "pullback/ops.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace pullback::python {

namespace {

std::optional<int64_t> optional_length(nb::handle n, const char* op) {
  if (n.is_none()) return std::nullopt;
  return to_int(n, op, "n");
}

std::optional<Shape> optional_sizes(nb::handle s, const char* op) {
  if (s.is_none()) return std::nullopt;
  return to_int_list(s, op, "s");
}

}  // namespace

void init_fft(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("_fft", "Discrete Fourier transforms (mx.fft).");
#define PB_FFT_1D(name, doc)                                                                  \
  m.def(#name, [](nb::handle a, nb::handle n, nb::handle axis, const std::string& norm,      \
                  nb::handle s) {                                                            \
    return name(to_array(a, std::nullopt, #name), optional_length(n, #name),                 \
                to_axis(axis, #name), norm, to_stream(s, #name));                            \
  }, nb::arg("a").none(), "n"_a.none() = nb::none(), "axis"_a.none() = -1,                   \
     "norm"_a = "backward", "stream"_a = nb::none(), doc);
  PB_FFT_1D(fft, "One dimensional discrete Fourier Transform.")
  PB_FFT_1D(ifft, "One dimensional inverse discrete Fourier Transform.")
  PB_FFT_1D(rfft, "One dimensional discrete Fourier Transform on a real input.")
  PB_FFT_1D(irfft, "The inverse of rfft.")
#undef PB_FFT_1D
  // fftn-style functions; the 2-d ones differ only in their default axes.
#define PB_FFT_ND(name, impl, default_axes, doc)                                              \
  m.def(#name, [](nb::handle a, nb::handle sizes, nb::handle axes, const std::string& norm,  \
                  nb::handle s) {                                                            \
    return impl(to_array(a, std::nullopt, #name), optional_sizes(sizes, #name),              \
                to_axes(axes, #name, "axes"), norm, to_stream(s, #name));                    \
  }, nb::arg("a").none(), "s"_a.none() = nb::none(), "axes"_a.none() = default_axes,         \
     "norm"_a = "backward", "stream"_a = nb::none(), doc);
  nb::object last_two = nb::make_tuple(-2, -1);
  PB_FFT_ND(fft2, fftn, last_two, "Two dimensional discrete Fourier Transform.")
  PB_FFT_ND(ifft2, ifftn, last_two, "Two dimensional inverse discrete Fourier Transform.")
  PB_FFT_ND(rfft2, rfftn, last_two, "Two dimensional real discrete Fourier Transform.")
  PB_FFT_ND(irfft2, irfftn, last_two, "The inverse of rfft2.")
  PB_FFT_ND(fftn, fftn, nb::none(), "n-dimensional discrete Fourier Transform.")
  PB_FFT_ND(ifftn, ifftn, nb::none(), "n-dimensional inverse discrete Fourier Transform.")
  PB_FFT_ND(rfftn, rfftn, nb::none(), "n-dimensional real discrete Fourier Transform.")
  PB_FFT_ND(irfftn, irfftn, nb::none(), "The inverse of rfftn.")
#undef PB_FFT_ND
#define PB_FFT_SHIFT(name, doc)                                                               \
  m.def(#name, [](nb::handle a, nb::handle axes, nb::handle s) {                             \
    return name(to_array(a, std::nullopt, #name), to_axes(axes, #name, "axes"),              \
                to_stream(s, #name));                                                        \
  }, nb::arg("a").none(), "axes"_a.none() = nb::none(), "stream"_a = nb::none(), doc);
  PB_FFT_SHIFT(fftshift, "Shift the zero-frequency component to the center of the spectrum.")
  PB_FFT_SHIFT(ifftshift, "The inverse of fftshift.")
#undef PB_FFT_SHIFT
#define PB_FFT_FREQ(name, doc)                                                                \
  m.def(#name, [](nb::handle n, nb::handle d, nb::handle s) {                                \
    return name(to_int(n, #name, "n"), to_float(d, #name, "d"), to_stream(s, #name));        \
  }, nb::arg("n").none(), "d"_a.none() = 1.0, "stream"_a = nb::none(), doc);
  PB_FFT_FREQ(fftfreq, "Return the discrete Fourier Transform sample frequencies.")
  PB_FFT_FREQ(rfftfreq, "Return the discrete Fourier Transform sample frequencies for rfft.")
#undef PB_FFT_FREQ
}

}  // namespace pullback::python
