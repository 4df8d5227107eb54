// Bindings of the fused attention pieces of mx.fast that live beside their primitives
// (ops_attention.h): scaled_dot_product_attention's fused form is bound in fast.cpp; here
// cross_entropy and the unfused attention the tests compare against (_sdpa_unfused).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "pullback/ops.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace pullback::python {

void init_fast_attention(nb::module_& parent) {
  nb::module_ m = nb::borrow<nb::module_>(parent.attr("_fast"));
  m.def(
      "cross_entropy",
      [](nb::handle logits, nb::handle targets, nb::handle s) {
        const char* op = "cross_entropy";
        return fast::cross_entropy(to_array(logits, std::nullopt, op),
                                   to_array(targets, std::nullopt, op), to_stream(s, op));
      },
      nb::arg("logits").none(), nb::arg("targets").none(), nb::kw_only(),
      "stream"_a = nb::none(),
      "Cross entropy loss with class indices as targets: logsumexp(logits, -1) - "
      "logits[..., target], per row, in float32.");
  m.def(
      "_sdpa_unfused",
      [](nb::handle q, nb::handle k, nb::handle v, nb::handle scale, nb::handle mask,
         nb::handle sinks) {
        const char* op = "scaled_dot_product_attention";
        std::string mode;
        std::optional<array> mask_array, sinks_array;
        if (nb::isinstance<nb::str>(mask)) mode = nb::cast<std::string>(mask);
        else if (!mask.is_none()) mask_array = to_array(mask, std::nullopt, op);
        if (!sinks.is_none()) sinks_array = to_array(sinks, std::nullopt, op);
        return fast::scaled_dot_product_attention_unfused(
            to_array(q, std::nullopt, op), to_array(k, std::nullopt, op),
            to_array(v, std::nullopt, op), float(to_float(scale, op, "scale")), mode, mask_array,
            sinks_array);
      },
      nb::arg("q").none(), nb::arg("k").none(), nb::arg("v").none(), nb::kw_only(),
      "scale"_a.none(), "mask"_a.none() = nb::none(), "sinks"_a.none() = nb::none(),
      "The unfused composition of scaled_dot_product_attention (a reference for tests).");
}

}  // namespace pullback::python
