// Bindings of the sorting ops: sort, argsort, partition, argpartition, topk, median,
// searchsorted, unique.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "python/bindings.h"
#include "python/convert.h"

namespace pullback::python {

using namespace nb::literals;

void init_sort(nb::module_& m) {
  m.def("sort", [](nb::handle a, nb::handle axis, nb::handle s) {
    return sort(to_array(a, std::nullopt, "sort"), to_optional_axis(axis, "sort"),
                to_stream(s, "sort"));
  }, nb::arg("a").none(), nb::arg("axis").none() = -1, nb::kw_only(), "stream"_a = nb::none(),
  "Returns a sorted copy of the array (the flattened array when axis is None).");
  m.def("argsort", [](nb::handle a, nb::handle axis, nb::handle s) {
    return argsort(to_array(a, std::nullopt, "argsort"), to_optional_axis(axis, "argsort"),
                   to_stream(s, "argsort"));
  }, nb::arg("a").none(), nb::arg("axis").none() = -1, nb::kw_only(), "stream"_a = nb::none(),
  "Returns the indices (uint32) that sort the array; equal elements keep their order.");
  m.def("partition", [](nb::handle a, nb::handle kth, nb::handle axis, nb::handle s) {
    return partition(to_array(a, std::nullopt, "partition"), to_int(kth, "partition", "kth"),
                     to_optional_axis(axis, "partition"), to_stream(s, "partition"));
  }, nb::arg("a").none(), nb::arg("kth").none(), nb::arg("axis").none() = -1, nb::kw_only(),
  "stream"_a = nb::none(),
  "Returns a partitioned copy of the array: the kth element is in its sorted position, smaller "
  "ones before it and larger ones after, in no particular order.");
  m.def("argpartition", [](nb::handle a, nb::handle kth, nb::handle axis, nb::handle s) {
    return argpartition(to_array(a, std::nullopt, "argpartition"),
                        to_int(kth, "argpartition", "kth"),
                        to_optional_axis(axis, "argpartition"), to_stream(s, "argpartition"));
  }, nb::arg("a").none(), nb::arg("kth").none(), nb::arg("axis").none() = -1, nb::kw_only(),
  "stream"_a = nb::none(), "Returns the indices (uint32) that partition the array.");
  m.def("topk", [](nb::handle a, nb::handle k, nb::handle axis, nb::handle s) {
    return topk(to_array(a, std::nullopt, "topk"), to_int(k, "topk", "k"),
                to_optional_axis(axis, "topk"), to_stream(s, "topk"));
  }, nb::arg("a").none(), nb::arg("k").none(), nb::arg("axis").none() = -1, nb::kw_only(),
  "stream"_a = nb::none(), "Returns the k largest elements along the axis, in no particular order.");
  m.def("median", [](nb::handle a, nb::handle axis, bool keepdims, nb::handle s) {
    return median(to_array(a, std::nullopt, "median"), to_axes(axis, "median"), keepdims,
                  to_stream(s, "median"));
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), "keepdims"_a = false,
  nb::kw_only(), "stream"_a = nb::none(), "The median over the given axes (all by default).");
  m.def("searchsorted", [](nb::handle seq, nb::handle values, nb::handle side, nb::handle s) {
    if (!nb::isinstance<nb::str>(side)) {
      throw nb::type_error("[searchsorted] side must be a str ('left' or 'right').");
    }
    array sq = to_array(seq, std::nullopt, "searchsorted");
    array v = as_array(values, "searchsorted") ? to_array(values, std::nullopt, "searchsorted")
                                                : to_array_weak(values, sq.dtype(), "searchsorted");
    return searchsorted(sq, v, nb::cast<std::string>(side), to_stream(s, "searchsorted"));
  }, nb::arg("sorted_sequence").none(), nb::arg("values").none(), nb::arg("side").none() = "left",
  nb::kw_only(), "stream"_a = nb::none(),
  "Indices (uint32) where values would be inserted to keep sorted_sequence sorted.");
  m.def("unique", [](nb::handle a, nb::handle size, bool return_index, bool return_inverse,
                     bool return_counts, nb::handle fill_value, nb::handle s) -> nb::object {
    array x = to_array(a, std::nullopt, "unique");
    std::optional<array> fill;
    if (!fill_value.is_none()) fill = to_array_weak(fill_value, x.dtype(), "unique");
    auto out = unique(x, to_int(size, "unique", "size"), return_index, return_inverse,
                      return_counts, fill, to_stream(s, "unique"));
    if (out.size() == 1) return nb::cast(out[0]);
    return nb::tuple(nb::cast(out));
  }, nb::arg("a").none(), nb::arg("size").none(), "return_index"_a = false,
  "return_inverse"_a = false, "return_counts"_a = false, nb::arg("fill_value").none() = nb::none(),
  nb::kw_only(), "stream"_a = nb::none(),
  "The sorted unique elements of the flattened array, padded or truncated to size.");
}

}  // namespace pullback::python
