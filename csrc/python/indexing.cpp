#include "indexing.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "pullback/ops.h"

namespace nb = nanobind;
using pullback::array;
using pullback::Shape;

namespace {

// Every basic index resolves to one slice per axis of `a` plus the shape of the result.
struct BasicIndex {
  Shape start, stop, step;  // per axis of `a`, normalized as ops.h's slice expects
  Shape region;             // the sliced shape, one entry per axis of `a`
  Shape result;             // the indexed shape: integer axes gone, None axes added
};

enum class Kind { integer, slice, new_axis, ellipsis };

struct Entry {
  Kind kind;
  int64_t value = 0;  // for integers
  nb::handle obj;     // the index as given (slices and integers)
};

[[noreturn]] void advanced_unsupported(const char* op, nb::handle item) {
  std::string type = nb::type_name(item.type()).c_str();
  throw std::out_of_range(std::string("[") + op + "] Advanced indexing (an index of type '" + type +
                          "') is not supported yet; use integers, slices, None and Ellipsis.");
}

bool looks_like_array(nb::handle item) {
  return nb::hasattr(item, "__array__") || nb::hasattr(item, "__array_interface__") ||
         (PySequence_Check(item.ptr()) && !PyUnicode_Check(item.ptr()) && !PyBytes_Check(item.ptr()));
}

Entry classify(const char* op, nb::handle item) {
  if (item.is_none()) return {Kind::new_axis};
  if (item.ptr() == Py_Ellipsis) return {Kind::ellipsis};
  if (PySlice_Check(item.ptr())) return {Kind::slice, 0, item};
  // bool is an int subclass, but NumPy reads a bool index as a mask.
  if (PyBool_Check(item.ptr())) advanced_unsupported(op, item);
  if (nb::isinstance<array>(item) || PyList_Check(item.ptr()) || PyTuple_Check(item.ptr())) {
    advanced_unsupported(op, item);
  }
  // Python ints, NumPy integer scalars and 0-d integer arrays: anything with __index__.
  if (PyIndex_Check(item.ptr())) {
    PyObject* index = PyNumber_Index(item.ptr());
    if (index) {
      // Beyond the Py_ssize_t range the value clamps, which is out of bounds all the same;
      // the error message shows the index as given.
      Py_ssize_t v = PyNumber_AsSsize_t(index, nullptr);
      Py_DECREF(index);
      if (v == -1 && PyErr_Occurred()) throw nb::python_error();
      return {Kind::integer, static_cast<int64_t>(v), item};
    }
    if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw nb::python_error();
    PyErr_Clear();  // e.g. a NumPy array of several elements: an advanced index
  }
  if (looks_like_array(item)) advanced_unsupported(op, item);
  std::string type = nb::type_name(item.type()).c_str();
  throw std::out_of_range(std::string("[") + op +
                          "] Only integers, slices (`:`), ellipsis (`...`) and None are valid "
                          "indices; got an index of type '" + type + "'.");
}

BasicIndex parse(const char* op, const array& a, nb::handle key) {
  std::vector<Entry> entries;
  if (PyTuple_Check(key.ptr())) {
    for (nb::handle item : nb::borrow<nb::tuple>(key)) entries.push_back(classify(op, item));
  } else {
    entries.push_back(classify(op, key));
  }
  int consumed = 0, ellipses = 0;
  for (auto& e : entries) {
    consumed += e.kind == Kind::integer || e.kind == Kind::slice;
    ellipses += e.kind == Kind::ellipsis;
  }
  if (ellipses > 1) {
    throw std::out_of_range(std::string("[") + op +
                            "] An index can only have a single ellipsis ('...').");
  }
  const int nd = a.ndim();
  if (consumed > nd) {
    throw std::out_of_range(std::string("[") + op + "] Too many indices for an array of shape " +
                            pullback::shape_str(a.shape()) + ": " + std::to_string(consumed) +
                            " were indexed.");
  }

  BasicIndex idx;
  auto take_full = [&](int ax) {
    idx.start.push_back(0);
    idx.stop.push_back(a.shape()[ax]);
    idx.step.push_back(1);
    idx.region.push_back(a.shape()[ax]);
    idx.result.push_back(a.shape()[ax]);
  };
  int ax = 0;
  for (auto& e : entries) {
    switch (e.kind) {
      case Kind::new_axis:
        idx.result.push_back(1);
        break;
      case Kind::ellipsis:
        for (int k = 0; k < nd - consumed; ++k) take_full(ax++);
        break;
      case Kind::integer: {
        const int64_t n = a.shape()[ax];
        if (e.value < -n || e.value >= n) {
          throw std::out_of_range(std::string("[") + op + "] Index " + nb::str(e.obj).c_str() +
                                  " is out of bounds for axis " + std::to_string(ax) +
                                  " with size " + std::to_string(n) + ".");
        }
        const int64_t i = e.value < 0 ? e.value + n : e.value;
        idx.start.push_back(i);
        idx.stop.push_back(i + 1);
        idx.step.push_back(1);
        idx.region.push_back(1);
        ++ax;
        break;
      }
      case Kind::slice: {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(e.obj.ptr(), &start, &stop, &step) < 0) {
          if (!PyErr_ExceptionMatches(PyExc_ValueError)) throw nb::python_error();
          PyErr_Clear();  // the only ValueError: a zero step
          throw std::invalid_argument(std::string("[") + op + "] Slice step cannot be zero (axis " +
                                      std::to_string(ax) + ").");
        }
        Py_ssize_t len = PySlice_AdjustIndices(static_cast<Py_ssize_t>(a.shape()[ax]), &start,
                                               &stop, step);
        idx.start.push_back(start);
        idx.stop.push_back(stop);
        idx.step.push_back(step);
        idx.region.push_back(len);
        idx.result.push_back(len);
        ++ax;
        break;
      }
    }
  }
  while (ax < nd) take_full(ax++);
  return idx;
}

}  // namespace

array index_array(const array& a, nb::handle key) {
  BasicIndex idx = parse("__getitem__", a, key);
  pullback::check_ndim(idx.result, "__getitem__");
  array sliced = pullback::slice(a, idx.start, idx.stop, idx.step);
  return pullback::reshape(sliced, idx.result);
}

array update_array(const array& a, nb::handle key, const array& value) {
  BasicIndex idx = parse("__setitem__", a, key);
  array v = value;
  // As in NumPy, a value may carry extra leading axes of size 1.
  size_t extra = v.ndim() > static_cast<int>(idx.result.size()) ? v.ndim() - idx.result.size() : 0;
  bool leading_ones = true;
  for (size_t d = 0; d < extra; ++d) leading_ones = leading_ones && v.shape()[d] == 1;
  if (extra && leading_ones) v = pullback::reshape(v, Shape(v.shape().begin() + extra, v.shape().end()));
  if (!pullback::is_broadcastable(v.shape(), idx.result)) {
    throw std::invalid_argument("[__setitem__] Cannot assign a value of shape " +
                                pullback::shape_str(value.shape()) + " to an indexed region of shape " +
                                pullback::shape_str(idx.result) + ".");
  }
  v = pullback::reshape(pullback::broadcast_to(v, idx.result), idx.region);
  return pullback::slice_update(a, v, idx.start, idx.stop, idx.step);
}
