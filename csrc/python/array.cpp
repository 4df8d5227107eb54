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
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) return args[0];
  return args;
}

PyType_Slot array_slots[] = {
    {Py_bf_getbuffer, reinterpret_cast<void*>(array_getbuffer)},
    {Py_bf_releasebuffer, reinterpret_cast<void*>(array_releasebuffer)},
    {0, nullptr}};

array binary_op(array (*op)(const array&, const array&, Stream), const array& a, nb::handle b,
                bool reflected) {
  array other = to_array_weak(b, a.dtype());
  return reflected ? op(other, a, current_stream()) : op(a, other, current_stream());
}

}  // namespace

void init_array(nb::module_& m) {
  auto cls = nb::class_<array>(m, "array", "An N-dimensional array, evaluated lazily.",
                               nb::type_slots(array_slots));
  cls.def("__init__", [](array* self, nb::handle val, nb::handle dtype) {
       new (self) array(to_array(val, to_dtype(dtype)));
     }, "val"_a, "dtype"_a = nb::none())
      .def_prop_ro("shape", [](const array& a) { return nb::tuple(nb::cast(a.shape())); })
      .def_prop_ro("ndim", &array::ndim)
      .def_prop_ro("size", &array::size)
      .def_prop_ro("dtype", &array::dtype)
      .def_prop_ro("itemsize", &array::itemsize)
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
        return copy.is_none() || !nb::cast<bool>(copy) ? out : out.attr("copy")();
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
        if (!is_integral(a.dtype())) throw nb::type_error("Only integer arrays can be used as an index.");
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
      .def("__setstate__", [](array& self, nb::tuple state) {
        nb::bytes data = nb::cast<nb::bytes>(state[0]);
        Shape shape = nb::cast<Shape>(state[1]);
        new (&self) array(data.c_str(), shape, nb::cast<Dtype>(state[2]));
      })
      .def("__getitem__", [](const array& a, nb::handle key) { return index_array(a, key); },
           nb::arg("key").none())
      .def("__setitem__", [](array& a, nb::handle key, nb::handle value) {
        a = update_array(a, key, to_array_weak(value, a.dtype()));
      }, nb::arg("key").none(), nb::arg("value"))
      .def("__neg__", [](const array& a) { return negative(a); })
      .def("__abs__", [](const array& a) { return abs(a); })
      .def("__invert__", [](const array& a) {
        if (a.dtype() != Dtype::bool_) {
          throw std::invalid_argument("[invert] Only boolean arrays can be inverted for now; got " +
                                      std::string(dtype_name(a.dtype())) + ".");
        }
        return logical_not(a);
      });

#define PB_OPERATOR(py, fn)                                                                  \
  cls.def("__" py "__", [](const array& a, nb::handle b) { return binary_op(fn, a, b, false); }, \
          nb::is_operator());                                                                \
  cls.def("__r" py "__", [](const array& a, nb::handle b) { return binary_op(fn, a, b, true); }, \
          nb::is_operator());                                                                \
  cls.def("__i" py "__", [](nb::handle self, nb::handle b) {                                 \
    array& a = nb::cast<array&>(self);                                                       \
    a = binary_op(fn, a, b, false);                                                          \
    return nb::borrow(self);                                                                 \
  }, nb::is_operator());
  PB_OPERATOR("add", add)
  PB_OPERATOR("sub", subtract)
  PB_OPERATOR("mul", multiply)
  PB_OPERATOR("truediv", divide)
  PB_OPERATOR("floordiv", floor_divide)
  PB_OPERATOR("mod", remainder)
  PB_OPERATOR("pow", power)
  PB_OPERATOR("matmul", matmul)
#undef PB_OPERATOR
#define PB_COMPARE(py, fn) \
  cls.def("__" py "__", [](const array& a, nb::handle b) { return binary_op(fn, a, b, false); }, \
          nb::is_operator());
  PB_COMPARE("eq", equal)
  PB_COMPARE("ne", not_equal)
  PB_COMPARE("lt", less)
  PB_COMPARE("le", less_equal)
  PB_COMPARE("gt", greater)
  PB_COMPARE("ge", greater_equal)
#undef PB_COMPARE
  auto logical = [](array (*fn)(const array&, const array&, Stream), const array& a, nb::handle b) {
    array other = to_array_weak(b, a.dtype());
    if (a.dtype() != Dtype::bool_ || other.dtype() != Dtype::bool_) {
      throw std::invalid_argument("[bitwise] Bitwise operators on integer arrays are not supported "
                                  "yet; use boolean arrays.");
    }
    return fn(a, other, current_stream());
  };
  cls.def("__and__", [logical](const array& a, nb::handle b) { return logical(logical_and, a, b); },
          nb::is_operator());
  cls.def("__rand__", [logical](const array& a, nb::handle b) { return logical(logical_and, a, b); },
          nb::is_operator());
  cls.def("__or__", [logical](const array& a, nb::handle b) { return logical(logical_or, a, b); },
          nb::is_operator());
  cls.def("__ror__", [logical](const array& a, nb::handle b) { return logical(logical_or, a, b); },
          nb::is_operator());

  // Methods that mirror the op functions.
  cls.def("astype", [](const array& a, Dtype t, nb::handle s) { return astype(a, t, to_stream(s)); },
          "dtype"_a, "stream"_a = nb::none());
#define PB_UNARY_METHOD(name) \
  cls.def(#name, [](const array& a, nb::handle s) { return name(a, to_stream(s)); }, nb::kw_only(), \
          "stream"_a = nb::none());
  PB_UNARY_METHOD(abs) PB_UNARY_METHOD(exp) PB_UNARY_METHOD(log) PB_UNARY_METHOD(log1p)
  PB_UNARY_METHOD(log2) PB_UNARY_METHOD(log10) PB_UNARY_METHOD(sqrt) PB_UNARY_METHOD(rsqrt)
  PB_UNARY_METHOD(square) PB_UNARY_METHOD(reciprocal) PB_UNARY_METHOD(sin) PB_UNARY_METHOD(cos)
#undef PB_UNARY_METHOD
  cls.def("round", [](const array& a, int d, nb::handle s) { return round(a, d, to_stream(s)); },
          "decimals"_a = 0, nb::kw_only(), "stream"_a = nb::none());
#define PB_REDUCE_METHOD(name)                                                        \
  cls.def(#name, [](const array& a, nb::handle axis, bool keepdims, nb::handle s) {   \
    return name(a, to_axes(axis), keepdims, to_stream(s));                            \
  }, "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  PB_REDUCE_METHOD(sum) PB_REDUCE_METHOD(mean) PB_REDUCE_METHOD(prod) PB_REDUCE_METHOD(max)
  PB_REDUCE_METHOD(min) PB_REDUCE_METHOD(all) PB_REDUCE_METHOD(any) PB_REDUCE_METHOD(logsumexp)
#undef PB_REDUCE_METHOD
  cls.def("var", [](const array& a, nb::handle axis, bool keepdims, int ddof, nb::handle s) {
    return var(a, to_axes(axis), keepdims, ddof, to_stream(s));
  }, "axis"_a = nb::none(), "keepdims"_a = false, "ddof"_a = 0, nb::kw_only(), "stream"_a = nb::none());
  cls.def("std", [](const array& a, nb::handle axis, bool keepdims, int ddof, nb::handle s) {
    return pullback::std(a, to_axes(axis), keepdims, ddof, to_stream(s));
  }, "axis"_a = nb::none(), "keepdims"_a = false, "ddof"_a = 0, nb::kw_only(), "stream"_a = nb::none());
  cls.def("argmax", [](const array& a, std::optional<int> axis, bool keepdims, nb::handle s) {
    return argmax(a, axis, keepdims, to_stream(s));
  }, "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  cls.def("argmin", [](const array& a, std::optional<int> axis, bool keepdims, nb::handle s) {
    return argmin(a, axis, keepdims, to_stream(s));
  }, "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  cls.def("reshape", [](const array& a, nb::args shape, nb::handle s) {
    return reshape(a, to_shape(varargs_or_sequence(shape), "reshape"), to_stream(s));
  }, "shape"_a, "stream"_a = nb::none());
  cls.def("transpose", [](const array& a, nb::args axes, nb::handle s) {
    if (axes.size() == 0) return transpose(a, to_stream(s));
    return transpose(a, *to_axes(varargs_or_sequence(axes)), to_stream(s));
  }, "axes"_a, "stream"_a = nb::none());
  cls.def("swapaxes", [](const array& a, int a1, int a2, nb::handle s) {
    return swapaxes(a, a1, a2, to_stream(s));
  }, "axis1"_a, "axis2"_a, nb::kw_only(), "stream"_a = nb::none());
  cls.def("moveaxis", [](const array& a, int src, int dst, nb::handle s) {
    return moveaxis(a, src, dst, to_stream(s));
  }, "source"_a, "destination"_a, nb::kw_only(), "stream"_a = nb::none());
  cls.def("squeeze", [](const array& a, nb::handle axis, nb::handle s) {
    return squeeze(a, to_axes(axis), to_stream(s));
  }, "axis"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  cls.def("flatten", [](const array& a, int start, int end, nb::handle s) {
    return flatten(a, start, end, to_stream(s));
  }, "start_axis"_a = 0, "end_axis"_a = -1, nb::kw_only(), "stream"_a = nb::none());
  cls.def("split", [](const array& a, nb::handle sections, int axis, nb::handle s) {
    if (PyLong_Check(sections.ptr())) return split(a, nb::cast<int64_t>(sections), axis, to_stream(s));
    return split(a, to_shape(sections, "split"), axis, to_stream(s));
  }, "indices_or_sections"_a, "axis"_a = 0, nb::kw_only(), "stream"_a = nb::none());
}

}  // namespace pullback::python
