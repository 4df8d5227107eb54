// Conversions between Python objects and arrays, and the checked converters every binding uses
// for its arguments. Each converter names the op and the argument in its errors: TypeError for
// a wrong kind of object, ValueError for a value out of range.
#pragma once

#include <nanobind/nanobind.h>

#include <optional>

#include "pullback/ops.h"

namespace pullback::python {

namespace nb = nanobind;

// mx.array(obj, dtype): arrays, Python scalars, nested lists/tuples, and anything NumPy or the
// buffer protocol understands (float64 NumPy data becomes float32 unless dtype says otherwise).
// `op` names the caller in errors (an op taking array-likes converts them here).
array to_array(nb::handle obj, std::optional<Dtype> dtype = std::nullopt, const char* op = "array");
// An operand of a binary op next to an array of dtype `partner`: Python scalars are weak and
// take the partner's dtype where it can hold them (a Python int out of the range of an integer
// partner is a ValueError, as in MLX).
array to_array_weak(nb::handle obj, Dtype partner, const char* op);
// Both operands of a binary op, with scalars weakly typed against the other operand.
std::pair<array, array> to_operands(nb::handle a, nb::handle b, const char* op);
// The same for logical ops, which read a Python number only for its truth: no range check
// against the other operand's dtype (logical_and(uint8_array, -1) works, as in MLX).
std::pair<array, array> to_logical_operands(nb::handle a, nb::handle b, const char* op);
bool is_python_scalar(nb::handle obj);
// The array held by `h`, or nullptr when `h` is no array; an array instance that was never
// initialised (array.__new__(array)) is a ValueError naming `op`.
const array* as_array(nb::handle h, const char* op);

// dtype arguments: None or a Dtype (anything else is a TypeError).
std::optional<Dtype> to_dtype(nb::handle d, const char* op = "dtype");
// Device arguments: a Device or a DeviceType.
Device to_device(nb::handle d, const char* op, const char* arg = "device");
// Stream arguments: None, a Stream, a Device or a DeviceType.
Stream to_stream(nb::handle s, const char* op);
// Integers: a Python int or anything with __index__ (NumPy integer scalars); bool and float are
// TypeErrors. The value must fit in int64.
int64_t to_int(nb::handle h, const char* op, const char* arg);
// An axis (or another int-sized argument): to_int within the C int range.
int to_axis(nb::handle h, const char* op, const char* arg = "axis");
std::optional<int> to_optional_axis(nb::handle h, const char* op, const char* arg = "axis");
// A real number: a Python int or float, or anything with __float__ / __index__.
double to_float(nb::handle h, const char* op, const char* arg);
// Shape arguments: an int or a sequence of ints, at most kMaxNdim of them, none negative
// (-1 is allowed where `allow_infer`, for reshape).
Shape to_shape(nb::handle obj, const char* op, const char* arg = "shape", bool allow_infer = false);
// An int or a sequence of ints, any values (split's indices).
std::vector<int64_t> to_int_list(nb::handle obj, const char* op, const char* arg);
// Axis arguments: None (all axes), an int, or a sequence of ints.
std::optional<Axes> to_axes(nb::handle obj, const char* op, const char* arg = "axis");

// split(x, indices_or_sections, axis, stream) for the function and the method.
std::vector<array> split_binding(const array& x, nb::handle sections, nb::handle axis, nb::handle s);

nb::object to_scalar(array& a);  // a Python bool/int/float/complex
nb::object to_list(array& a);
// A read-only NumPy view of the (evaluated) array that keeps it alive.
nb::object to_numpy(array& a, nb::handle dtype = nb::none());

// MLX-style text: array([[1, 2.5],\n       [3, 4]], dtype=float32); long axes are elided.
std::string to_repr(array& a);
// The precision to_repr prints floats with (-1: MLX's default).
void set_print_precision(int precision);
int get_print_precision();
// The buffer protocol (memoryview, NumPy) for the array type.
int array_getbuffer(PyObject* obj, Py_buffer* view, int flags);
void array_releasebuffer(PyObject* obj, Py_buffer* view);

// Every array in a pytree of lists, tuples and dicts (other leaves are skipped). The walk is
// iterative; a tree nested deeper than Python's recursion limit is a RecursionError and a
// reference cycle a ValueError, both naming `op`.
void collect_arrays(nb::handle tree, std::vector<array>& out, const char* op);

}  // namespace pullback::python
