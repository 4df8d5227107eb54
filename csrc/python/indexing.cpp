// Python keys to the core's IndexKey: the bindings only translate objects; every rule of
// NumPy indexing lives in the core (ops_indexing.cpp).
#include "indexing.h"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "python/bindings.h"
#include "python/convert.h"

namespace nb = nanobind;
using pullback::array;
using pullback::IndexItem;
using pullback::IndexKey;
using pullback::Shape;

namespace {

[[noreturn]] void bad_index(const char* op, nb::handle item) {
  std::string type = nb::type_name(item.type()).c_str();
  throw std::invalid_argument(std::string("[") + op +  // ValueError, as in MLX
                              "] Only integers, slices (`:`), ellipsis (`...`), None, and integer or "
                          "boolean arrays (or lists) are valid indices; got an index of type '" +
                          type + "'.");
}

IndexItem translate(const char* op, nb::handle item) {
  if (item.is_none()) return IndexItem::new_axis();
  if (item.ptr() == Py_Ellipsis) return IndexItem::ellipsis();
  if (PySlice_Check(item.ptr())) {
    // PySlice_Unpack fills omitted bounds with values beyond every axis (and clamps huge ones
    // into Py_ssize_t), which the core clamps into the axis as Python does.
    Py_ssize_t start, stop, step;
    if (PySlice_Unpack(item.ptr(), &start, &stop, &step) < 0) {
      if (!PyErr_ExceptionMatches(PyExc_ValueError)) throw nb::python_error();
      PyErr_Clear();  // the only ValueError: a zero step
      throw std::invalid_argument(std::string("[") + op + "] Slice step cannot be zero.");
    }
    return IndexItem::slice(start, stop, step);
  }
  // bool is an int subclass, but NumPy reads a bool index as a mask.
  if (PyBool_Check(item.ptr())) return IndexItem::of(array(item.ptr() == Py_True));
  if (const array* x = pullback::python::as_array(item, op)) return IndexItem::of(*x);
  if (PyList_Check(item.ptr()) || PyTuple_Check(item.ptr())) {
    return IndexItem::of(pullback::python::to_array(item, std::nullopt, op));
  }
  // Python ints, NumPy integer scalars and 0-d integer arrays: anything with __index__.
  if (PyIndex_Check(item.ptr())) {
    PyObject* index = PyNumber_Index(item.ptr());
    if (index) {
      int overflow = 0;
      long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
      nb::object shown = nb::steal(index);
      if (v == -1 && PyErr_Occurred()) throw nb::python_error();
      if (overflow) {
        throw std::out_of_range(std::string("[") + op + "] Index " + nb::str(shown).c_str() +
                                " is out of bounds: it is beyond the int64 range of every axis.");
      }
      return IndexItem::integer(static_cast<int64_t>(v));
    }
    if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw nb::python_error();
    PyErr_Clear();  // e.g. a NumPy array of several elements: an array index
  }
  if (nb::hasattr(item, "__array__") || nb::hasattr(item, "__array_interface__")) {
    return IndexItem::of(pullback::python::to_array(item, std::nullopt, op));
  }
  bad_index(op, item);
}

IndexKey translate_key(const char* op, nb::handle key) {
  IndexKey out;
  if (PyTuple_Check(key.ptr())) {
    for (nb::handle item : nb::borrow<nb::tuple>(key)) out.push_back(translate(op, item));
  } else {
    out.push_back(translate(op, key));
  }
  return out;
}

}  // namespace

array index_array(const array& a, nb::handle key) {
  return pullback::get_item(a, translate_key("__getitem__", key));
}

array update_array(const array& a, nb::handle key, const array& value, pullback::ScatterReduce r) {
  const char* op = r == pullback::ScatterReduce::None ? "__setitem__" : "at";
  return pullback::set_item(a, translate_key(op, key), value, r);
}

namespace pullback::python {

namespace {

// What `a.at[key]` returns: the array and the key, waiting for the update to apply. Each
// method returns a new array (arrays are values); repeated indices accumulate, as NumPy's
// ufunc.at does.
struct ArrayAt {
  array a;
  nb::object key;
};

// The axes of slice / slice_update: a sequence of ints (None is no list of axes).
Axes index_axes(nb::handle axes, const char* op) {
  if (axes.is_none()) throw nb::type_error((std::string("[") + op + "] axes must be a sequence of ints; got None.").c_str());
  return *to_axes(axes, op, "axes");
}

array at_update(const ArrayAt& at, nb::handle value, ScatterReduce r) {
  return update_array(at.a, at.key, to_array_weak(value, at.a.dtype(), "at"), r);
}

}  // namespace

void init_indexing(nb::module_& m) {
  nb::class_<ArrayAt>(m, "ArrayAt",
                      "a.at[key]: updates of the indexed elements that accumulate over repeated "
                      "indices, each returning a new array.")
      .def("__getitem__", [](const ArrayAt& at, nb::handle key) {
        return ArrayAt{at.a, nb::borrow(key)};
      }, nb::arg("key").none())
      .def("add", [](const ArrayAt& at, nb::handle v) { return at_update(at, v, ScatterReduce::Add); },
           nb::arg("value"))
      .def("subtract", [](const ArrayAt& at, nb::handle v) {
        return update_array(at.a, at.key, negative(to_array_weak(v, at.a.dtype(), "at")), ScatterReduce::Add);
      }, nb::arg("value"))
      .def("multiply", [](const ArrayAt& at, nb::handle v) {
        return at_update(at, v, ScatterReduce::Prod);
      }, nb::arg("value"))
      .def("divide", [](const ArrayAt& at, nb::handle v) {
        return update_array(at.a, at.key, reciprocal(to_array_weak(v, at.a.dtype(), "at")), ScatterReduce::Prod);
      }, nb::arg("value"))
      .def("maximum", [](const ArrayAt& at, nb::handle v) { return at_update(at, v, ScatterReduce::Max); },
           nb::arg("value"))
      .def("minimum", [](const ArrayAt& at, nb::handle v) { return at_update(at, v, ScatterReduce::Min); },
           nb::arg("value"));
  m.def("take", [](nb::handle a, nb::handle indices, nb::handle axis, nb::handle stream) {
    return take(to_array(a, std::nullopt, "take"), to_array(indices, std::nullopt, "take"),
                to_optional_axis(axis, "take"), to_stream(stream, "take"));
  }, nb::arg("a"), nb::arg("indices"), nb::arg("axis").none() = nb::none(), nb::kw_only(),
     nb::arg("stream").none() = nb::none(),
     "Elements of `a` at `indices` along `axis` (of the flattened array when axis is None).");
  m.def("take_along_axis", [](nb::handle a, nb::handle indices, nb::handle axis,
                              nb::handle stream) {
    const char* op = "take_along_axis";
    return take_along_axis(to_array(a, std::nullopt, op), to_array(indices, std::nullopt, op),
                           to_optional_axis(axis, op), to_stream(stream, op));
  }, nb::arg("a"), nb::arg("indices"), nb::arg("axis").none() = -1, nb::kw_only(),
     nb::arg("stream").none() = nb::none(),
     "Elements of `a` at `indices` along `axis`, the indices broadcasting against the other axes.");
  m.def("slice", [](nb::handle a, nb::handle start, nb::handle axes, nb::handle size,
                    nb::handle stream) {
    const char* op = "slice";
    return dynamic_slice(to_array(a, std::nullopt, op), to_array(start, std::nullopt, op),
                         index_axes(axes, op), to_shape(size, op, "slice_size"),
                         to_stream(stream, op));
  }, nb::arg("a"), nb::arg("start_indices"), nb::arg("axes"), nb::arg("slice_size"), nb::kw_only(),
     nb::arg("stream").none() = nb::none(),
     "The slice of `a` of shape `slice_size` starting at `start_indices` (an array) on `axes`.");
  m.def("slice_update", [](nb::handle a, nb::handle update, nb::handle start, nb::handle axes,
                           nb::handle stream) {
    const char* op = "slice_update";
    array x = to_array(a, std::nullopt, op);
    return dynamic_slice_update(x, to_array_weak(update, x.dtype(), op),
                                to_array(start, std::nullopt, op), index_axes(axes, op),
                                to_stream(stream, op));
  }, nb::arg("a"), nb::arg("update"), nb::arg("start_indices"), nb::arg("axes"), nb::kw_only(),
     nb::arg("stream").none() = nb::none(),
     "A copy of `a` with `update` written at `start_indices` (an array) on `axes`.");
  m.def("put_along_axis", [](nb::handle a, nb::handle indices, nb::handle values,
                             nb::handle axis, nb::handle stream) {
    const char* op = "put_along_axis";
    array x = to_array(a, std::nullopt, op);
    return put_along_axis(x, to_array(indices, std::nullopt, op),
                          to_array_weak(values, x.dtype(), op), to_optional_axis(axis, op),
                          ScatterReduce::None, to_stream(stream, op));
  }, nb::arg("a"), nb::arg("indices"), nb::arg("values"), nb::arg("axis").none() = nb::none(),
     nb::kw_only(), nb::arg("stream").none() = nb::none(),
     "A copy of `a` with `values` written at `indices` along `axis`.");
  nb::object at_getter = nb::cpp_function([](const array& a) { return ArrayAt{a, nb::none()}; });
  nb::object property = nb::module_::import_("builtins").attr("property");
  nb::type<array>().attr("at") = property(at_getter, nb::none(), nb::none(),
                                          "Indexed updates: a.at[idx].add(v) and friends.");
}

}  // namespace pullback::python
