// Conversions between Python objects and arrays.
#pragma once

#include <nanobind/nanobind.h>

#include <optional>

#include "pullback/ops.h"

namespace pullback::python {

namespace nb = nanobind;

// mx.array(obj, dtype): arrays, Python scalars, nested sequences, and anything NumPy or the
// buffer protocol understands (float64 NumPy data becomes float32 unless dtype says otherwise).
array to_array(nb::handle obj, std::optional<Dtype> dtype = std::nullopt);
// An operand of a binary op next to an array of dtype `partner`: Python scalars are weak and
// take the partner's dtype where it can hold them.
array to_array_weak(nb::handle obj, Dtype partner);
// Both operands of a binary op, with scalars weakly typed against the other operand.
std::pair<array, array> to_operands(nb::handle a, nb::handle b);
bool is_python_scalar(nb::handle obj);

// dtype arguments: None or a Dtype (anything else is a TypeError).
std::optional<Dtype> to_dtype(nb::handle d);
// Stream arguments: None, a Stream, a Device or a DeviceType.
Stream to_stream(nb::handle s);
// Shape arguments: an int or a sequence of ints.
Shape to_shape(nb::handle obj, const char* op);
// Axis arguments: None (all axes), an int, or a sequence of ints.
std::optional<Axes> to_axes(nb::handle obj);

nb::object to_scalar(array& a);  // a Python bool/int/float/complex
nb::object to_list(array& a);
// A read-only NumPy view of the (evaluated) array that keeps it alive.
nb::object to_numpy(array& a, nb::handle dtype = nb::none());

// MLX-style text: array([[1, 2.5],\n       [3, 4]], dtype=float32); long axes are elided.
std::string to_repr(array& a);
// The buffer protocol (memoryview, NumPy) for the array type.
int array_getbuffer(PyObject* obj, Py_buffer* view, int flags);
void array_releasebuffer(PyObject* obj, Py_buffer* view);

// Every array in a pytree of lists, tuples and dicts (other leaves are skipped).
void collect_arrays(nb::handle tree, std::vector<array>& out);

}  // namespace pullback::python
