// Bindings of the cumulative scans, as functions and as array methods.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>

#include "pullback/ops.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace pullback::python {

void init_scan(nb::module_& m) {
#define PB_SCAN_DTYPE(name, doc)                                                              \
  m.def(#name, [](nb::handle a, nb::handle axis, bool reverse, bool inclusive, nb::handle dtype, \
                  nb::handle s) {                                                              \
    return name(to_array(a, std::nullopt, #name), to_optional_axis(axis, #name), reverse,     \
                inclusive, to_dtype(dtype, #name), to_stream(s, #name));                      \
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), nb::kw_only(),                 \
     "reverse"_a = false, "inclusive"_a = true, "dtype"_a = nb::none(), "stream"_a = nb::none(), doc);
#define PB_SCAN(name, doc)                                                                     \
  m.def(#name, [](nb::handle a, nb::handle axis, bool reverse, bool inclusive, nb::handle s) { \
    return name(to_array(a, std::nullopt, #name), to_optional_axis(axis, #name), reverse,     \
                inclusive, to_stream(s, #name));                                              \
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), nb::kw_only(),                 \
     "reverse"_a = false, "inclusive"_a = true, "stream"_a = nb::none(), doc);
  PB_SCAN_DTYPE(cumsum, "The cumulative sum of the elements along the given axis (of the "
                        "flattened array when axis is None).")
  PB_SCAN_DTYPE(cumprod, "The cumulative product of the elements along the given axis (of the "
                         "flattened array when axis is None).")
  PB_SCAN(cummax, "The cumulative maximum of the elements along the given axis (of the "
                  "flattened array when axis is None).")
  PB_SCAN(cummin, "The cumulative minimum of the elements along the given axis (of the "
                  "flattened array when axis is None).")
  PB_SCAN(logcumsumexp, "The cumulative logsumexp of the elements along the given axis (of the "
                        "flattened array when axis is None).")
#undef PB_SCAN
#undef PB_SCAN_DTYPE

  // Array methods (MLX's have no dtype argument), attached here so that array.cpp stays as is.
  nb::handle cls = nb::type<array>();
#define PB_SCAN_METHOD(name)                                                                   \
  cls.attr(#name) = nb::cpp_function(                                                          \
      [](const array& a, nb::handle axis, bool reverse, bool inclusive, nb::handle s) {        \
        return name(a, to_optional_axis(axis, #name), reverse, inclusive, to_stream(s, #name)); \
      },                                                                                       \
      nb::is_method(), nb::arg("axis").none() = nb::none(), nb::kw_only(), "reverse"_a = false, \
      "inclusive"_a = true, "stream"_a = nb::none(), "See :func:`" #name "`.");
  PB_SCAN_METHOD(cummax) PB_SCAN_METHOD(cummin) PB_SCAN_METHOD(logcumsumexp)
#undef PB_SCAN_METHOD
#define PB_SCAN_METHOD(name)                                                                   \
  cls.attr(#name) = nb::cpp_function(                                                          \
      [](const array& a, nb::handle axis, bool reverse, bool inclusive, nb::handle s) {        \
        return name(a, to_optional_axis(axis, #name), reverse, inclusive, std::nullopt,        \
                    to_stream(s, #name));                                                      \
      },                                                                                       \
      nb::is_method(), nb::arg("axis").none() = nb::none(), nb::kw_only(), "reverse"_a = false, \
      "inclusive"_a = true, "stream"_a = nb::none(), "See :func:`" #name "`.");
  PB_SCAN_METHOD(cumsum) PB_SCAN_METHOD(cumprod)
#undef PB_SCAN_METHOD
}

}  // namespace pullback::python
