// Bindings of mx.fast, in the submodule _core._fast (python/pullback/core/fast.py re-exports
// them and adds what is composed in Python).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "pullback/ops.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace pullback::python {

namespace {

std::optional<array> optional_array(nb::handle h, const char* op) {
  if (h.is_none()) return std::nullopt;
  return to_array(h, std::nullopt, op);
}

float to_eps(nb::handle h, const char* op) { return float(to_float(h, op, "eps")); }

// rope's offset: a Python int or an integer scalar array (read now, so not inside a transform).
int64_t to_offset(nb::handle h) {
  if (const array* a = as_array(h, "rope")) {
    if (a->size() != 1 || !issubdtype(a->dtype(), DtypeCategory::integer))
      throw nb::type_error("[rope] offset must be an int or an integer scalar array.");
    array c = *a;
    return nb::cast<int64_t>(to_scalar(c));
  }
  return to_int(h, "rope", "offset");
}

}  // namespace

void init_fast(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("_fast", "Fused operations (mx.fast).");
  m.def(
      "rms_norm",
      [](nb::handle x, nb::handle weight, nb::handle eps, nb::handle s) {
        const char* op = "rms_norm";
        return fast::rms_norm(to_array(x, std::nullopt, op), optional_array(weight, op),
                              to_eps(eps, op), to_stream(s, op));
      },
      nb::arg("x").none(), nb::arg("weight").none(), nb::arg("eps").none(), nb::kw_only(),
      "stream"_a = nb::none(),
      "Root Mean Square normalization (RMS norm) over the last axis, scaled by weight.");
  m.def(
      "layer_norm",
      [](nb::handle x, nb::handle weight, nb::handle bias, nb::handle eps, nb::handle s) {
        const char* op = "layer_norm";
        return fast::layer_norm(to_array(x, std::nullopt, op), optional_array(weight, op),
                                optional_array(bias, op), to_eps(eps, op), to_stream(s, op));
      },
      nb::arg("x").none(), nb::arg("weight").none(), nb::arg("bias").none(),
      nb::arg("eps").none(), nb::kw_only(), "stream"_a = nb::none(),
      "Layer normalization over the last axis, with an optional affine weight and bias.");
  m.def(
      "rope",
      [](nb::handle a, nb::handle dims, bool traditional, nb::handle base, nb::handle scale,
         nb::handle offset, nb::handle freqs, nb::handle s) {
        const char* op = "rope";
        std::optional<float> b;
        if (!base.is_none()) b = float(to_float(base, op, "base"));
        return fast::rope(to_array(a, std::nullopt, op), int(to_int(dims, op, "dims")),
                          traditional, b, float(to_float(scale, op, "scale")),
                          to_offset(offset), optional_array(freqs, op), to_stream(s, op));
      },
      nb::arg("a").none(), nb::arg("dims").none(), nb::kw_only(), "traditional"_a,
      "base"_a.none(), "scale"_a.none(), "offset"_a.none(), "freqs"_a.none() = nb::none(),
      "stream"_a = nb::none(), "Rotary positional encoding of the first dims features.");
  m.def(
      "scaled_dot_product_attention",
      [](nb::handle q, nb::handle k, nb::handle v, nb::handle scale, nb::handle mask,
         nb::handle sinks, bool, nb::handle s) {
        const char* op = "scaled_dot_product_attention";
        std::string mode;
        std::optional<array> mask_array;
        if (nb::isinstance<nb::str>(mask)) mode = nb::cast<std::string>(mask);
        else mask_array = optional_array(mask, op);
        return fast::scaled_dot_product_attention(
            to_array(q, std::nullopt, op), to_array(k, std::nullopt, op),
            to_array(v, std::nullopt, op), float(to_float(scale, op, "scale")), mode, mask_array,
            optional_array(sinks, op), to_stream(s, op));
      },
      nb::arg("q").none(), nb::arg("k").none(), nb::arg("v").none(), nb::kw_only(),
      "scale"_a.none(), "mask"_a.none() = nb::none(), "sinks"_a.none() = nb::none(),
      "force_fused"_a = false, "stream"_a = nb::none(),
      "Multi-head attention softmax(q k^T * scale + mask) v; k and v may have fewer heads.");
}

}  // namespace pullback::python
