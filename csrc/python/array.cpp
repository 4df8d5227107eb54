// The Python array type.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "python/bindings.h"
#include "python/convert.h"
#include "python/indexing.h"

namespace pullback::python {

using namespace nb::literals;

namespace {

// reshape(2, 3) and reshape((2, 3)) both work, as in MLX.
nb::handle varargs_or_sequence(const nb::args& args) {
  if (args.size() == 1 && PySequence_Check(args[0].ptr())) return args[0];
  return args;
}

PyType_Slot array_slots[] = {
    {Py_bf_getbuffer, reinterpret_cast<void*>(array_getbuffer)},
    {Py_bf_releasebuffer, reinterpret_cast<void*>(array_releasebuffer)},
    {0, nullptr}};

array binary_op(array (*op)(const array&, const array&, Stream), const char* name, const array& a,
                nb::handle b, bool reflected) {
  array other = to_array_weak(b, a.dtype(), name);
  return reflected ? op(other, a, current_stream()) : op(a, other, current_stream());
}

// The array a pickle's state (data bytes, shape, dtype) describes, validated first: a state
// whose bytes do not match its shape and dtype must not read past its data.
array from_state(nb::handle state) {
  PyObject* p = state.ptr();
  if (!PyTuple_Check(p) || PyTuple_GET_SIZE(p) != 3) {
    throw nb::type_error("[__setstate__] The state must be a tuple (data: bytes, shape: tuple of ints, "
                         "dtype: Dtype).");
  }
  nb::handle data = PyTuple_GET_ITEM(p, 0);
  if (!PyBytes_Check(data.ptr())) {
    throw nb::type_error(("[__setstate__] The state's data must be bytes; got " +
                          std::string(nb::type_name(data.type()).c_str()) + ".").c_str());
  }
  Shape shape = to_shape(PyTuple_GET_ITEM(p, 1), "__setstate__", "shape");
  nb::handle dt = PyTuple_GET_ITEM(p, 2);
  if (dt.is_none()) throw nb::type_error("[__setstate__] The state's dtype must be a Dtype; got None.");
  Dtype dtype = *to_dtype(dt, "__setstate__");
  uint64_t expected = size_of(dtype);
  bool overflow = false;
  for (int64_t d : shape) overflow = overflow || __builtin_mul_overflow(expected, uint64_t(d), &expected);
  const uint64_t held = static_cast<uint64_t>(PyBytes_GET_SIZE(data.ptr()));
  if (overflow || held != expected) {
    throw std::invalid_argument("[__setstate__] The state's data holds " + std::to_string(held) +
                                " bytes, but shape " + shape_str(shape) + " of " + dtype_name(dtype) +
                                " needs " + (overflow ? std::string("more than 2**64") : std::to_string(expected)) +
                                ".");
  }
  return array(static_cast<const void*>(PyBytes_AS_STRING(data.ptr())), shape, dtype);
}

}  // namespace

void init_array(nb::module_& m) {
  auto cls = nb::class_<array>(m, "array", "An N-dimensional array, evaluated lazily.",
                               nb::type_slots(array_slots));
  cls.def("__init__", [](array* self, nb::handle val, nb::handle dtype) {
       new (self) array(to_array(val, to_dtype(dtype, "array"), "array"));
     }, "val"_a, "dtype"_a = nb::none())
      .def_prop_ro("shape", [](const array& a) { return nb::tuple(nb::cast(a.shape())); })
      .def_prop_ro("ndim", &array::ndim)
      .def_prop_ro("size", &array::size)
      .def_prop_ro("dtype", &array::dtype)
      .def_prop_ro("itemsize", &array::itemsize)
      .def_prop_ro("real", [](const array& a) { return real(a); })
      .def_prop_ro("imag", [](const array& a) { return imag(a); })
      .def("conj", [](const array& a, nb::handle s) { return conjugate(a, to_stream(s, "conj")); },
           nb::kw_only(), "stream"_a = nb::none())
      .def_prop_ro("nbytes", &array::nbytes)
      .def_prop_ro("T", [](const array& a) { return transpose(a); })
      .def_prop_ro("mT", [](const array& a) {
        if (a.ndim() < 2) throw std::invalid_argument("[mT] The array must have at least 2 dimensions.");
        return swapaxes(a, -1, -2);
      })
      .def("item", [](array& a) { return to_scalar(a); })
      .def("tolist", [](array& a) { return to_list(a); })
      .def("__array__", [](array& a, nb::handle dtype, nb::handle copy) {
        nb::object out = to_numpy(a, dtype);
        // NumPy asks for a copy it may write to; without one it gets a read-only view.
        int want_copy = copy.is_none() ? 0 : PyObject_IsTrue(copy.ptr());
        if (want_copy < 0) throw nb::python_error();
        return want_copy ? out.attr("copy")() : out;
      },
           "dtype"_a = nb::none(), "copy"_a = nb::none())
      .def("__repr__", [](array& a) { return to_repr(a); })
      .def("__len__", [](const array& a) {
        if (a.ndim() == 0) throw nb::type_error("len() of unsized object");
        return a.shape()[0];
      })
      .def("__iter__", [](const array& a) {
        if (a.ndim() == 0) throw nb::type_error("iteration over a 0-d array");
        nb::list items;
        nb::object self = nb::cast(a);
        for (int64_t i = 0; i < a.shape()[0]; ++i) items.append(index_array(a, nb::int_(i)));
        return nb::iter(items);
      })
      .def("__bool__", [](array& a) { return nb::cast<bool>(nb::bool_(to_scalar(a))); })
      .def("__int__", [](array& a) { return nb::int_(to_scalar(a)); })
      .def("__float__", [](array& a) { return nb::float_(to_scalar(a)); })
      .def("__index__", [](array& a) {
        // TypeError (as NumPy) for anything but a one-element integer array: bytes(x) and other
        // callers that try __index__ first fall back to the buffer protocol on TypeError only.
        if (!is_integral(a.dtype()) || a.size() != 1) {
          throw nb::type_error(("[__index__] Only integer arrays with one element can be used as an "
                                "index; got " + std::string(dtype_name(a.dtype())) + " of shape " +
                                shape_str(a.shape()) + ".").c_str());
        }
        return nb::int_(to_scalar(a));
      })
      .def("__format__", [](array& a, nb::handle spec) {
        if (a.ndim() == 0) {
          return nb::cast<std::string>(nb::module_::import_("builtins").attr("format")(to_scalar(a), spec));
        }
        return to_repr(a);
      })
      .def("__hash__", [](const array& a) { return static_cast<Py_ssize_t>(a.id()); })
      .def("__copy__", [](const array& a) { return a; })
      .def("__deepcopy__", [](const array& a, nb::handle) { return copy(a); }, "memo"_a)
      .def("__getstate__", [](array& a) {
        array c = copy(a);
        c.eval();
        nb::bytes data(static_cast<const char*>(c.raw_data()), c.nbytes());
        return nb::make_tuple(data, nb::tuple(nb::cast(a.shape())), a.dtype());
      })
      // nanobind runs __setstate__ only on an uninitialised instance (as for __init__): on a
      // live array it raises TypeError before this body, so nothing leaks or is overwritten.
      .def("__setstate__", [](array& self, nb::handle state) { new (&self) array(from_state(state)); })
      .def("__getitem__", [](const array& a, nb::handle key) { return index_array(a, key); },
           nb::arg("key").none())
      .def("__setitem__", [](array& a, nb::handle key, nb::handle value) {
        a = update_array(a, key, to_array_weak(value, a.dtype(), "__setitem__"));
      }, nb::arg("key").none(), nb::arg("value"))
      .def("__neg__", [](const array& a) { return negative(a); })
      .def("__abs__", [](const array& a) { return abs(a); })
      .def("__invert__", [](const array& a) { return bitwise_invert(a); });

#define PB_OPERATOR(py, fn)                                                                  \
  cls.def("__" py "__", [](const array& a, nb::handle b) { return binary_op(fn, #fn, a, b, false); }, \
          nb::is_operator());                                                                \
  cls.def("__r" py "__", [](const array& a, nb::handle b) { return binary_op(fn, #fn, a, b, true); }, \
          nb::is_operator());                                                                \
  cls.def("__i" py "__", [](nb::handle self, nb::handle b) {                                 \
    array& a = nb::cast<array&>(self);                                                       \
    a = binary_op(fn, #fn, a, b, false);                                                     \
    return nb::borrow(self);                                                                 \
  }, nb::is_operator());
  PB_OPERATOR("add", add)
  PB_OPERATOR("sub", subtract)
  PB_OPERATOR("mul", multiply)
  PB_OPERATOR("truediv", divide)
  PB_OPERATOR("floordiv", floor_divide)
  PB_OPERATOR("mod", remainder)
  PB_OPERATOR("pow", power)
  PB_OPERATOR("and", bitwise_and)
  PB_OPERATOR("or", bitwise_or)
  PB_OPERATOR("xor", bitwise_xor)
  PB_OPERATOR("lshift", left_shift)
  PB_OPERATOR("rshift", right_shift)
  PB_OPERATOR("matmul", matmul)
#undef PB_OPERATOR
#define PB_COMPARE(py, fn) \
  cls.def("__" py "__", [](const array& a, nb::handle b) { return binary_op(fn, #fn, a, b, false); }, \
          nb::is_operator());
  // Against a Python list or tuple, == and != compare the objects (False / True), as in MLX;
  // mx.equal compares elementwise.
  cls.def("__eq__", [](const array& a, nb::handle b) -> nb::object {
    if (PyList_Check(b.ptr()) || PyTuple_Check(b.ptr())) return nb::bool_(false);
    return nb::cast(binary_op(equal, "equal", a, b, false));
  }, nb::is_operator());
  cls.def("__ne__", [](const array& a, nb::handle b) -> nb::object {
    if (PyList_Check(b.ptr()) || PyTuple_Check(b.ptr())) return nb::bool_(true);
    return nb::cast(binary_op(not_equal, "not_equal", a, b, false));
  }, nb::is_operator());
  PB_COMPARE("lt", less)
  PB_COMPARE("le", less_equal)
  PB_COMPARE("gt", greater)
  PB_COMPARE("ge", greater_equal)
#undef PB_COMPARE
  // Methods that mirror the op functions.
  cls.def("astype", [](const array& a, Dtype t, nb::handle s) { return astype(a, t, to_stream(s, "astype")); },
          "dtype"_a, "stream"_a = nb::none());
#define PB_UNARY_METHOD(name) \
  cls.def(#name, [](const array& a, nb::handle s) { return name(a, to_stream(s, #name)); }, nb::kw_only(), \
          "stream"_a = nb::none());
  PB_UNARY_METHOD(abs) PB_UNARY_METHOD(exp) PB_UNARY_METHOD(log) PB_UNARY_METHOD(log1p)
  PB_UNARY_METHOD(log2) PB_UNARY_METHOD(log10) PB_UNARY_METHOD(sqrt) PB_UNARY_METHOD(rsqrt)
  PB_UNARY_METHOD(square) PB_UNARY_METHOD(reciprocal) PB_UNARY_METHOD(sin) PB_UNARY_METHOD(cos)
#undef PB_UNARY_METHOD
  cls.def("round", [](const array& a, nb::handle d, nb::handle s) {
    return round(a, to_axis(d, "round", "decimals"), to_stream(s, "round"));
  },
          nb::arg("decimals").none() = 0, nb::kw_only(), "stream"_a = nb::none());
#define PB_REDUCE_METHOD(name)                                                        \
  cls.def(#name, [](const array& a, nb::handle axis, bool keepdims, nb::handle s) {   \
    return name(a, to_axes(axis, #name), keepdims, to_stream(s, #name));              \
  }, nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  PB_REDUCE_METHOD(sum) PB_REDUCE_METHOD(mean) PB_REDUCE_METHOD(prod) PB_REDUCE_METHOD(max)
  PB_REDUCE_METHOD(min) PB_REDUCE_METHOD(all) PB_REDUCE_METHOD(any) PB_REDUCE_METHOD(logsumexp)
#undef PB_REDUCE_METHOD
  cls.def("var", [](const array& a, nb::handle axis, bool keepdims, nb::handle ddof, nb::handle s) {
    return var(a, to_axes(axis, "var"), keepdims, to_axis(ddof, "var", "ddof"), to_stream(s, "var"));
  }, nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::arg("ddof").none() = 0, nb::kw_only(), "stream"_a = nb::none());
  cls.def("std", [](const array& a, nb::handle axis, bool keepdims, nb::handle ddof, nb::handle s) {
    return pullback::std(a, to_axes(axis, "std"), keepdims, to_axis(ddof, "std", "ddof"),
                         to_stream(s, "std"));
  }, nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::arg("ddof").none() = 0, nb::kw_only(), "stream"_a = nb::none());
  cls.def("argmax", [](const array& a, nb::handle axis, bool keepdims, nb::handle s) {
    return argmax(a, to_optional_axis(axis, "argmax"), keepdims, to_stream(s, "argmax"));
  }, nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  cls.def("argmin", [](const array& a, nb::handle axis, bool keepdims, nb::handle s) {
    return argmin(a, to_optional_axis(axis, "argmin"), keepdims, to_stream(s, "argmin"));
  }, nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  cls.def("reshape", [](const array& a, nb::args shape, nb::handle s) {
    return reshape(a, to_shape(varargs_or_sequence(shape), "reshape", "shape", true),
                   to_stream(s, "reshape"));
  }, "shape"_a, "stream"_a = nb::none());
  // x.transpose(), x.transpose(None) (as NumPy) and mx.transpose(x) reverse the axes.
  cls.def("transpose", [](const array& a, nb::args axes, nb::handle s) {
    Stream st = to_stream(s, "transpose");
    if (axes.size() == 0 || (axes.size() == 1 && axes[0].is_none())) return transpose(a, st);
    return transpose(a, *to_axes(varargs_or_sequence(axes), "transpose", "axes"), st);
  }, "axes"_a, "stream"_a = nb::none());
  cls.def("swapaxes", [](const array& a, nb::handle a1, nb::handle a2, nb::handle s) {
    return swapaxes(a, to_axis(a1, "swapaxes", "axis1"), to_axis(a2, "swapaxes", "axis2"),
                    to_stream(s, "swapaxes"));
  }, nb::arg("axis1").none(), nb::arg("axis2").none(), nb::kw_only(), "stream"_a = nb::none());
  cls.def("moveaxis", [](const array& a, nb::handle src, nb::handle dst, nb::handle s) {
    return moveaxis(a, to_axis(src, "moveaxis", "source"), to_axis(dst, "moveaxis", "destination"),
                    to_stream(s, "moveaxis"));
  }, nb::arg("source").none(), nb::arg("destination").none(), nb::kw_only(), "stream"_a = nb::none());
  cls.def("squeeze", [](const array& a, nb::handle axis, nb::handle s) {
    return squeeze(a, to_axes(axis, "squeeze"), to_stream(s, "squeeze"));
  }, nb::arg("axis").none() = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  cls.def("flatten", [](const array& a, nb::handle start, nb::handle end, nb::handle s) {
    return flatten(a, to_axis(start, "flatten", "start_axis"), to_axis(end, "flatten", "end_axis"),
                   to_stream(s, "flatten"));
  }, nb::arg("start_axis").none() = 0, nb::arg("end_axis").none() = -1, nb::kw_only(), "stream"_a = nb::none());
  cls.def("split", [](const array& a, nb::handle sections, nb::handle axis, nb::handle s) {
    return split_binding(a, sections, axis, s);
  }, nb::arg("indices_or_sections").none(), nb::arg("axis").none() = 0, nb::kw_only(), "stream"_a = nb::none());
}

}  // namespace pullback::python
