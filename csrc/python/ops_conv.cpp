// Bindings of the convolutions. Per-axis parameters arrive as an int or a sequence of ints;
// conv_general's padding may also be a pair of sequences (low, high).
#include <nanobind/nanobind.h>

#include "pullback/ops.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace pullback::python {

namespace {

// conv_general's padding: (low, high) when given as two sequences, else the same both sides.
std::pair<ConvInts, ConvInts> padding_pair(nb::handle obj, const char* op) {
  PyObject* p = obj.ptr();
  if (PyTuple_Check(p) || PyList_Check(p)) {
    nb::sequence seq = nb::borrow<nb::sequence>(obj);
    const size_t n = nb::len(seq);
    if (n == 2) {
      nb::object first = seq[0];
      PyObject* f = first.ptr();
      if (!PyLong_Check(f) && PySequence_Check(f)) {
        return {to_int_list(first, op, "padding"), to_int_list(seq[1], op, "padding")};
      }
    }
  }
  ConvInts v = to_int_list(obj, op, "padding");
  return {v, v};
}

}  // namespace

void init_conv(nb::module_& m) {
  m.def(
      "conv1d",
      [](nb::handle input, nb::handle weight, nb::handle stride, nb::handle padding,
         nb::handle dilation, nb::handle groups, nb::handle s) {
        const char* op = "conv1d";
        return conv1d(to_array(input, std::nullopt, op), to_array(weight, std::nullopt, op),
                      to_int(stride, op, "stride"), to_int(padding, op, "padding"),
                      to_int(dilation, op, "dilation"), to_int(groups, op, "groups"),
                      to_stream(s, op));
      },
      "input"_a.none(), "weight"_a.none(), "stride"_a = 1, "padding"_a = 0,
      "dilation"_a = 1, "groups"_a = 1, nb::kw_only(), "stream"_a = nb::none(),
      "1D convolution over an input of shape (N, L, C_in) with a weight of shape "
      "(C_out, K, C_in / groups).");
#define PB_CONV(name, dims)                                                                    \
  m.def(                                                                                       \
      #name,                                                                                   \
      [](nb::handle input, nb::handle weight, nb::handle stride, nb::handle padding,           \
         nb::handle dilation, nb::handle groups, nb::handle s) {                               \
        const char* op = #name;                                                                \
        return name(to_array(input, std::nullopt, op), to_array(weight, std::nullopt, op),     \
                    to_int_list(stride, op, "stride"), to_int_list(padding, op, "padding"),    \
                    to_int_list(dilation, op, "dilation"), to_int(groups, op, "groups"),       \
                    to_stream(s, op));                                                         \
      },                                                                                       \
      "input"_a.none(), "weight"_a.none(), "stride"_a = 1, "padding"_a = 0,    \
      "dilation"_a = 1, "groups"_a = 1, nb::kw_only(), "stream"_a = nb::none(),                \
      dims " convolution over a channels-last input with a weight of shape "                  \
           "(C_out, K..., C_in / groups).");
  PB_CONV(conv2d, "2D")
  PB_CONV(conv3d, "3D")
#undef PB_CONV

  m.def(
      "conv_general",
      [](nb::handle input, nb::handle weight, nb::handle stride, nb::handle padding,
         nb::handle kernel_dilation, nb::handle input_dilation, nb::handle groups, bool flip,
         nb::handle s) {
        const char* op = "conv_general";
        auto [lo, hi] = padding_pair(padding, op);
        return conv_general(to_array(input, std::nullopt, op), to_array(weight, std::nullopt, op),
                            to_int_list(stride, op, "stride"), lo, hi,
                            to_int_list(kernel_dilation, op, "kernel_dilation"),
                            to_int_list(input_dilation, op, "input_dilation"),
                            to_int(groups, op, "groups"), flip, to_stream(s, op));
      },
      "input"_a.none(), "weight"_a.none(), "stride"_a = 1, "padding"_a = 0,
      "kernel_dilation"_a = 1, "input_dilation"_a = 1, "groups"_a = 1, "flip"_a = false,
      nb::kw_only(), "stream"_a = nb::none(),
      "General convolution over 1 to 3 spatial axes, channels last, with strides, padding "
      "(low, high), kernel and input dilation, groups and an optional flip of the kernel.");

  m.def(
      "conv_transpose1d",
      [](nb::handle input, nb::handle weight, nb::handle stride, nb::handle padding,
         nb::handle dilation, nb::handle output_padding, nb::handle groups, nb::handle s) {
        const char* op = "conv_transpose1d";
        return conv_transpose1d(to_array(input, std::nullopt, op),
                                to_array(weight, std::nullopt, op), to_int(stride, op, "stride"),
                                to_int(padding, op, "padding"), to_int(dilation, op, "dilation"),
                                to_int(output_padding, op, "output_padding"),
                                to_int(groups, op, "groups"), to_stream(s, op));
      },
      "input"_a.none(), "weight"_a.none(), "stride"_a = 1, "padding"_a = 0,
      "dilation"_a = 1, "output_padding"_a = 0, "groups"_a = 1, nb::kw_only(),
      "stream"_a = nb::none(),
      "1D transposed convolution over an input of shape (N, L, C_in) with a weight of shape "
      "(C_out, K, C_in / groups).");
#define PB_CONV_T(name, dims)                                                                  \
  m.def(                                                                                       \
      #name,                                                                                   \
      [](nb::handle input, nb::handle weight, nb::handle stride, nb::handle padding,           \
         nb::handle dilation, nb::handle output_padding, nb::handle groups, nb::handle s) {    \
        const char* op = #name;                                                                \
        return name(to_array(input, std::nullopt, op), to_array(weight, std::nullopt, op),     \
                    to_int_list(stride, op, "stride"), to_int_list(padding, op, "padding"),    \
                    to_int_list(dilation, op, "dilation"),                                     \
                    to_int_list(output_padding, op, "output_padding"),                         \
                    to_int(groups, op, "groups"), to_stream(s, op));                           \
      },                                                                                       \
      "input"_a.none(), "weight"_a.none(), "stride"_a = 1, "padding"_a = 0,    \
      "dilation"_a = 1, "output_padding"_a = 0, "groups"_a = 1, nb::kw_only(),                 \
      "stream"_a = nb::none(),                                                                 \
      dims " transposed convolution over a channels-last input with a weight of shape "       \
           "(C_out, K..., C_in / groups).");
  PB_CONV_T(conv_transpose2d, "2D")
  PB_CONV_T(conv_transpose3d, "3D")
#undef PB_CONV_T
}

}  // namespace pullback::python
