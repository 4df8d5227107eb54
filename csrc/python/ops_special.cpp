// Bindings of the special ops (as_strided, view, depends, convolve, windows,
// hadamard_transform, block_masked_mm, gather_mm, segmented_mm), the stream utilities MLX
// adds on top of new_stream (thread-local streams, clear_streams), the array iterator type and
// get_array_buffer_size.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <unordered_set>

#include "python/bindings.h"
#include "python/convert.h"
#include "python/indexing.h"

namespace pullback::python {

using namespace nb::literals;

namespace {

std::optional<array> optional_array(nb::handle h, const char* op) {
  if (h.is_none()) return std::nullopt;
  return to_array(h, std::nullopt, op);
}

// An array or a sequence of arrays (depends' arguments); `single` says which it was.
std::vector<array> array_or_list(nb::handle h, const char* op, const char* arg, bool& single) {
  single = as_array(h, op) != nullptr;
  if (single) return {*as_array(h, op)};
  if (!nb::isinstance<nb::sequence>(h) || nb::isinstance<nb::str>(h)) {
    throw nb::type_error((std::string("[") + op + "] " + arg +
                          " must be an array or a sequence of arrays.").c_str());
  }
  std::vector<array> out;
  for (nb::handle item : nb::borrow<nb::sequence>(h)) {
    const array* x = as_array(item, op);
    if (!x) {
      throw nb::type_error((std::string("[") + op + "] " + arg +
                            " must be an array or a sequence of arrays.").c_str());
    }
    out.push_back(*x);
  }
  return out;
}

// Iterates over the first axis of an array, one view at a time.
struct ArrayIterator {
  array a;
  int64_t next = 0;
};

}  // namespace

void init_special(nb::module_& m) {
  m.def("as_strided", [](nb::handle a, nb::handle shape, nb::handle strides, nb::handle offset,
                         nb::handle s) {
    const char* op = "as_strided";
    std::optional<Shape> sh;
    if (!shape.is_none()) sh = to_shape(shape, op, "shape");
    std::optional<Strides> st;
    if (!strides.is_none()) st = to_int_list(strides, op, "strides");
    return as_strided(to_array(a, std::nullopt, op), sh, st, to_int(offset, op, "offset"),
                      to_stream(s, op));
  }, nb::arg("a").none(), nb::arg("shape").none() = nb::none(),
  nb::arg("strides").none() = nb::none(), nb::arg("offset").none() = 0, nb::kw_only(),
  "stream"_a = nb::none(),
  "A view of the array's elements (numbered in row-major order) with the given shape, strides "
  "and offset, in elements. Every element the view reaches must lie inside the array.");

  auto view_fn = [](nb::handle a, nb::handle dtype, nb::handle s) {
    std::optional<Dtype> t = to_dtype(dtype, "view");
    if (!t) throw nb::type_error("[view] dtype must be a Dtype; got None.");
    return view(to_array(a, std::nullopt, "view"), *t, to_stream(s, "view"));
  };
  m.def("view", view_fn, nb::arg("a").none(), nb::arg("dtype").none(), "stream"_a = nb::none(),
        "The array's bytes read as another dtype; when the element sizes differ, the last axis "
        "is rescaled.");
  nb::type<array>().attr("view") = nb::cpp_function(
      [view_fn](const array& a, nb::handle dtype, nb::handle s) {
        return view_fn(nb::cast(a), dtype, s);
      },
      nb::is_method(), nb::arg("dtype").none(), nb::kw_only(), "stream"_a = nb::none(),
      "See :func:`view`.");

  m.def("depends", [](nb::handle inputs, nb::handle deps) -> nb::object {
    bool single = false, unused = false;
    std::vector<array> xs = array_or_list(inputs, "depends", "inputs", single);
    std::vector<array> ds = array_or_list(deps, "depends", "dependencies", unused);
    std::vector<array> out = depends(xs, ds);
    if (single) return nb::cast(out[0]);
    return nb::cast(out);
  }, nb::arg("inputs").none(), nb::arg("dependencies").none(),
  "The inputs, unchanged, but evaluated only after the dependencies.");

  m.def("convolve", [](nb::handle a, nb::handle v, nb::handle mode, nb::handle s) {
    if (!nb::isinstance<nb::str>(mode)) {
      throw nb::type_error("[convolve] mode must be a str ('full', 'same' or 'valid').");
    }
    auto [x, y] = to_operands(a, v, "convolve");
    return convolve(x, y, nb::cast<std::string>(mode), to_stream(s, "convolve"));
  }, nb::arg("a").none(), nb::arg("v").none(), nb::arg("mode").none() = "full", nb::kw_only(),
  "stream"_a = nb::none(), "The discrete convolution of 1D arrays (v and a swap when v is longer).");

#define PB_WINDOW(name, doc)                                                                \
  m.def(#name, [](nb::handle M, nb::handle s) {                                             \
    return name(to_int(M, #name, "M"), to_stream(s, #name));                                \
  }, nb::arg("M").none(), nb::kw_only(), "stream"_a = nb::none(), doc);
  PB_WINDOW(bartlett, "The Bartlett (triangular) window of M points.")
  PB_WINDOW(blackman, "The Blackman window of M points.")
  PB_WINDOW(hamming, "The Hamming window of M points.")
  PB_WINDOW(hanning, "The Hann window of M points.")
#undef PB_WINDOW

  m.def("hadamard_transform", [](nb::handle a, nb::handle scale, nb::handle s) {
    std::optional<double> sc;
    if (!scale.is_none()) sc = to_float(scale, "hadamard_transform", "scale");
    return hadamard_transform(to_array(a, std::nullopt, "hadamard_transform"), sc,
                              to_stream(s, "hadamard_transform"));
  }, nb::arg("a").none(), nb::arg("scale").none() = nb::none(), "stream"_a = nb::none(),
  "The Walsh-Hadamard transform along the last axis, scaled (by default by 1/sqrt(n)).");

  m.def("block_masked_mm", [](nb::handle a, nb::handle b, nb::handle block_size,
                              nb::handle mask_out, nb::handle mask_lhs, nb::handle mask_rhs,
                              nb::handle s) {
    const char* op = "block_masked_mm";
    auto [x, y] = to_operands(a, b, op);
    int64_t bs = to_int(block_size, op, "block_size");
    if (bs <= 0 || bs > (int64_t(1) << 30)) {
      throw std::invalid_argument("[block_masked_mm] block_size must be positive (and below "
                                  "2**30); got " + std::to_string(bs) + ".");
    }
    return block_masked_mm(x, y, static_cast<int>(bs), optional_array(mask_out, op),
                           optional_array(mask_lhs, op), optional_array(mask_rhs, op),
                           to_stream(s, op));
  }, nb::arg("a").none(), nb::arg("b").none(), nb::arg("block_size").none() = 64,
  nb::arg("mask_out").none() = nb::none(), nb::arg("mask_lhs").none() = nb::none(),
  nb::arg("mask_rhs").none() = nb::none(), nb::kw_only(), "stream"_a = nb::none(),
  "Matrix multiplication with blocks of a, b and the output masked (bool) or scaled (numeric).");

  m.def("gather_mm", [](nb::handle a, nb::handle b, nb::handle lhs, nb::handle rhs,
                        bool sorted_indices, nb::handle s) {
    const char* op = "gather_mm";
    auto [x, y] = to_operands(a, b, op);
    return gather_mm(x, y, optional_array(lhs, op), optional_array(rhs, op), sorted_indices,
                     to_stream(s, op));
  }, nb::arg("a").none(), nb::arg("b").none(), nb::arg("lhs_indices").none() = nb::none(),
  nb::arg("rhs_indices").none() = nb::none(), nb::kw_only(), "sorted_indices"_a = false,
  "stream"_a = nb::none(),
  "Matrix multiplication of the matrices of a and b picked by flat indices into their batch "
  "axes.");

  m.def("segmented_mm", [](nb::handle a, nb::handle b, nb::handle segments, nb::handle s) {
    const char* op = "segmented_mm";
    auto [x, y] = to_operands(a, b, op);
    return segmented_mm(x, y, to_array(segments, std::nullopt, op), to_stream(s, op));
  }, nb::arg("a").none(), nb::arg("b").none(), nb::arg("segments").none(), nb::kw_only(),
  "stream"_a = nb::none(),
  "a @ b restricted to each segment [lo, hi) of the inner dimension, one result per segment.");

  // ---- streams ----
  nb::class_<ThreadLocalStream>(m, "ThreadLocalStream",
                                "A stream that is a different one in each thread using it.")
      .def_ro("device", &ThreadLocalStream::device)
      .def("__repr__", [](const ThreadLocalStream& t) {
        return std::string("ThreadLocalStream(Device(") +
               (t.device.type == Device::Type::cpu ? "cpu" : "gpu") + ", " +
               std::to_string(t.device.index) + "))";
      });
  m.def("new_thread_local_stream", [](nb::handle d) {
    return new_thread_local_stream(to_device(d, "new_thread_local_stream"));
  }, "device"_a, "Make a new stream that will be unique per thread.");
  m.def("new_thread_unsafe_stream", [](nb::handle d) {
    return new_thread_unsafe_stream(to_device(d, "new_thread_unsafe_stream"));
  }, "device"_a, "Make a new stream that can be used in any thread.");
  m.def("clear_streams", &clear_streams,
        "Forget the streams this thread made for thread-local streams.");
  m.def("_as_stream", [](nb::handle s) { return to_stream(s, "stream"); }, nb::arg("s").none());

  // ---- iteration ----
  nb::class_<ArrayIterator>(m, "ArrayIterator", "Iterates over the first axis of an array.")
      .def("__iter__", [](nb::handle self) { return nb::borrow(self); })
      .def("__next__", [](ArrayIterator& it) {
        if (it.next >= it.a.shape(0)) throw nb::stop_iteration();
        return index_array(it.a, nb::int_(it.next++));
      });
  nb::type<array>().attr("__iter__") = nb::cpp_function(
      [](const array& a) {
        if (a.ndim() == 0) throw nb::type_error("iteration over a 0-d array");
        return ArrayIterator{a, 0};
      },
      nb::is_method());

  // ---- memory ----
  m.def("get_array_buffer_size", [](nb::args args) {
    std::vector<array> arrays;
    collect_arrays(args, arrays, "get_array_buffer_size");
    std::unordered_set<const Data*> seen;
    size_t total = 0;
    for (const array& x : arrays) {
      if (!x.is_evaluated()) {
        throw std::invalid_argument("[get_array_buffer_size] Arrays must be evaluated first; got an "
                                    "unevaluated array of shape " + shape_str(x.shape()) + ".");
      }
      const Data* d = x.data_shared_ptr().get();
      if (d && seen.insert(d).second) total += d->nbytes;
    }
    return total;
  }, "Size in bytes of the unique buffers backing the arrays (trees of arrays allowed).");
}

}  // namespace pullback::python
