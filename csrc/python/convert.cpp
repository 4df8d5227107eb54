#include "python/convert.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <climits>
#include <complex>
#include <sstream>
#include <stdexcept>

#include "pullback/backend/cpu/strided.h"

namespace pullback::python {

bool is_python_scalar(nb::handle obj) {
  PyObject* p = obj.ptr();
  return PyBool_Check(p) || PyLong_Check(p) || PyFloat_Check(p) || PyComplex_Check(p);
}

namespace {

array from_python_int(nb::handle obj, Dtype dtype) {
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
  if (overflow) {
    if (overflow > 0 && dtype == Dtype::uint64) {
      unsigned long long u = PyLong_AsUnsignedLongLong(obj.ptr());
      if (!PyErr_Occurred()) return array(&u, {}, Dtype::uint64);
      PyErr_Clear();
    }
    throw std::invalid_argument("[array] Python int " + nb::cast<std::string>(nb::str(obj)) +
                                " is too large for any supported integer type.");
  }
  if (dtype == Dtype::float64) return array(static_cast<double>(v), dtype);
  return array(static_cast<int64_t>(v), dtype);
}

Dtype default_int_dtype(nb::handle obj) {
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
  if (overflow) return Dtype::int64;
  return (v > INT32_MAX || v < INT32_MIN) ? Dtype::int64 : Dtype::int32;
}

// A Python scalar as an array of `dtype`.
array scalar_as(nb::handle obj, Dtype dtype) {
  PyObject* p = obj.ptr();
  if (PyBool_Check(p)) {
    return dtype == Dtype::bool_ ? array(p == Py_True) : astype(array(p == Py_True), dtype);
  }
  if (PyLong_Check(p)) {
    if (is_complex(dtype)) return array(complex64_t(static_cast<float>(PyLong_AsDouble(p)), 0.f));
    return from_python_int(obj, dtype);
  }
  if (PyFloat_Check(p)) {
    double v = PyFloat_AsDouble(p);
    if (is_complex(dtype)) return array(complex64_t(static_cast<float>(v), 0.f));
    return array(v, dtype);
  }
  Py_complex c = PyComplex_AsCComplex(p);
  return astype(array(complex64_t(static_cast<float>(c.real), static_cast<float>(c.imag))), dtype);
}

Dtype scalar_default_dtype(nb::handle obj) {
  PyObject* p = obj.ptr();
  if (PyBool_Check(p)) return Dtype::bool_;
  if (PyLong_Check(p)) return default_int_dtype(obj);
  if (PyFloat_Check(p)) return Dtype::float32;
  return Dtype::complex64;
}

std::optional<Dtype> from_dlpack_dtype(nb::dlpack::dtype t) {
  using C = nb::dlpack::dtype_code;
  switch (static_cast<C>(t.code)) {
    case C::Bool: return Dtype::bool_;
    case C::Int:
      switch (t.bits) {
        case 8: return Dtype::int8;
        case 16: return Dtype::int16;
        case 32: return Dtype::int32;
        case 64: return Dtype::int64;
      }
      break;
    case C::UInt:
      switch (t.bits) {
        case 8: return Dtype::uint8;
        case 16: return Dtype::uint16;
        case 32: return Dtype::uint32;
        case 64: return Dtype::uint64;
      }
      break;
    case C::Float:
      switch (t.bits) {
        case 16: return Dtype::float16;
        case 32: return Dtype::float32;
        case 64: return Dtype::float64;
      }
      break;
    case C::Bfloat:
      if (t.bits == 16) return Dtype::bfloat16;
      break;
    case C::Complex:
      if (t.bits == 64) return Dtype::complex64;
      break;
    default: break;
  }
  return std::nullopt;
}

nb::dlpack::dtype to_dlpack_dtype(Dtype t) {
  using C = nb::dlpack::dtype_code;
  auto make = [](C c, int bits) {
    nb::dlpack::dtype d;
    d.code = static_cast<uint8_t>(c);
    d.bits = static_cast<uint8_t>(bits);
    d.lanes = 1;
    return d;
  };
  int bits = static_cast<int>(size_of(t) * 8);
  if (t == Dtype::bool_) return make(C::Bool, 8);
  if (is_unsigned(t)) return make(C::UInt, bits);
  if (is_signed_int(t)) return make(C::Int, bits);
  if (is_complex(t)) return make(C::Complex, bits);
  return make(C::Float, bits);
}

// Nested sequences: shape from the first element at each depth, kind from all leaves.
struct NestedInfo {
  Shape shape;
  bool has_float = false, has_int = false, has_complex = false, has_array = false, has_big_int = false;
};

void scan_nested(nb::handle obj, size_t depth, NestedInfo& info) {
  PyObject* p = obj.ptr();
  if (PyList_Check(p) || PyTuple_Check(p)) {
    size_t n = static_cast<size_t>(PySequence_Size(p));
    if (depth == info.shape.size()) {
      info.shape.push_back(static_cast<int64_t>(n));
    } else if (depth > info.shape.size() || info.shape[depth] != static_cast<int64_t>(n)) {
      throw std::invalid_argument("[array] Initialization encountered non-uniform length.");
    }
    for (size_t i = 0; i < n; ++i) {
      nb::object item = nb::steal(PySequence_GetItem(p, static_cast<Py_ssize_t>(i)));
      scan_nested(item, depth + 1, info);
    }
    return;
  }
  if (depth != info.shape.size()) {
    throw std::invalid_argument("[array] Initialization encountered non-uniform length.");
  }
  if (PyBool_Check(p)) return;
  if (PyLong_Check(p)) {
    info.has_int = true;
    info.has_big_int = info.has_big_int || default_int_dtype(obj) == Dtype::int64;
  } else if (PyFloat_Check(p)) {
    info.has_float = true;
  } else if (PyComplex_Check(p)) {
    info.has_complex = true;
  } else if (nb::isinstance<array>(obj)) {
    info.has_array = true;
  } else {
    throw std::invalid_argument("[array] Invalid type " +
                                nb::cast<std::string>(nb::str(nb::handle(Py_TYPE(p)))) +
                                " in a nested sequence.");
  }
}

template <typename T>
void fill_nested(nb::handle obj, T*& dst) {
  PyObject* p = obj.ptr();
  if (PyList_Check(p) || PyTuple_Check(p)) {
    Py_ssize_t n = PySequence_Size(p);
    for (Py_ssize_t i = 0; i < n; ++i) {
      nb::object item = nb::steal(PySequence_GetItem(p, i));
      fill_nested(item, dst);
    }
    return;
  }
  if constexpr (std::is_same_v<T, complex64_t>) {
    Py_complex c = PyComplex_AsCComplex(p);
    *dst++ = complex64_t(static_cast<float>(c.real), static_cast<float>(c.imag));
  } else if constexpr (std::is_same_v<T, double>) {
    *dst++ = PyFloat_AsDouble(p);
  } else if constexpr (std::is_same_v<T, bool>) {
    *dst++ = p == Py_True;
  } else {
    *dst++ = static_cast<T>(PyLong_AsLongLong(p));
  }
}

array from_nested(nb::handle obj, std::optional<Dtype> dtype) {
  NestedInfo info;
  scan_nested(obj, 0, info);
  if (info.has_array) {
    std::vector<array> parts;
    Py_ssize_t n = PySequence_Size(obj.ptr());
    for (Py_ssize_t i = 0; i < n; ++i) {
      nb::object item = nb::steal(PySequence_GetItem(obj.ptr(), i));
      parts.push_back(to_array(item, dtype));
    }
    array r = stack(parts, 0);
    return dtype ? astype(r, *dtype) : r;
  }
  size_t n = shape_size(info.shape);
  // An empty list holds no bools: like MLX, it is float32.
  Dtype kind = info.has_complex ? Dtype::complex64
               : info.has_float ? Dtype::float32
               : info.has_int   ? (info.has_big_int ? Dtype::int64 : Dtype::int32)
               : n == 0         ? Dtype::float32
                                : Dtype::bool_;
  Dtype target = dtype.value_or(kind);
  auto build = [&](auto tag, Dtype held) {
    using T = decltype(tag);
    std::vector<T> buf(n);
    T* dst = buf.data();
    fill_nested<T>(obj, dst);
    if (PyErr_Occurred()) throw nb::python_error();
    array a(static_cast<const void*>(buf.data()), info.shape, held);
    return astype(a, target);
  };
  if (info.has_complex) return build(complex64_t{}, Dtype::complex64);
  if (info.has_float) return build(double{}, Dtype::float64);
  if (info.has_int) return build(int64_t{}, Dtype::int64);
  std::vector<uint8_t> buf(n);
  uint8_t* dst = buf.data();
  fill_nested<uint8_t>(obj, dst);
  return astype(array(static_cast<const void*>(buf.data()), info.shape, Dtype::bool_), target);
}

}  // namespace

array to_array(nb::handle obj, std::optional<Dtype> dtype) {
  if (nb::isinstance<array>(obj)) {
    const array& a = nb::cast<const array&>(obj);
    return dtype ? astype(a, *dtype) : a;
  }
  if (is_python_scalar(obj)) return scalar_as(obj, dtype.value_or(scalar_default_dtype(obj)));
  if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr())) return from_nested(obj, dtype);
  nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu> nd;
  if (nb::try_cast(obj, nd)) {
    auto src = from_dlpack_dtype(nd.dtype());
    if (!src) throw std::invalid_argument("[array] Unsupported element type in the buffer.");
    Shape shape(nd.ndim());
    for (size_t i = 0; i < nd.ndim(); ++i) shape[i] = static_cast<int64_t>(nd.shape(i));
    array a(nd.data(), std::move(shape), *src);
    Dtype target = dtype.value_or(*src == Dtype::float64 ? Dtype::float32 : *src);
    return astype(a, target);
  }
  throw std::invalid_argument("[array] Cannot convert an object of type " +
                              nb::cast<std::string>(nb::str(nb::handle(Py_TYPE(obj.ptr())))) +
                              " to an array.");
}

array to_array_weak(nb::handle obj, Dtype partner) {
  if (nb::isinstance<array>(obj)) return nb::cast<const array&>(obj);
  PyObject* p = obj.ptr();
  if (PyBool_Check(p)) return array(p == Py_True);
  if (PyLong_Check(p)) {
    Dtype t = partner == Dtype::bool_ ? Dtype::int32 : partner;
    return scalar_as(obj, t);
  }
  if (PyFloat_Check(p)) return scalar_as(obj, is_inexact(partner) ? partner : Dtype::float32);
  if (PyComplex_Check(p)) return scalar_as(obj, Dtype::complex64);
  return to_array(obj);
}

std::pair<array, array> to_operands(nb::handle a, nb::handle b) {
  bool sa = !nb::isinstance<array>(a) && is_python_scalar(a);
  bool sb = !nb::isinstance<array>(b) && is_python_scalar(b);
  if (sa && !sb) {
    array y = to_array(b);
    return {to_array_weak(a, y.dtype()), y};
  }
  array x = to_array(a);
  return {x, sb ? to_array_weak(b, x.dtype()) : to_array(b)};
}

std::optional<Dtype> to_dtype(nb::handle d) {
  if (d.is_none()) return std::nullopt;
  Dtype t;
  if (!nb::isinstance<Dtype>(d) || !nb::try_cast(d, t)) {
    throw nb::type_error(("dtype must be a pullback Dtype such as pullback.core.float32; got " +
                          nb::cast<std::string>(nb::repr(d)) + ".").c_str());
  }
  return t;
}

Stream to_stream(nb::handle s) {
  if (s.is_none()) return current_stream();
  if (nb::isinstance<Stream>(s)) return nb::cast<Stream>(s);
  if (nb::isinstance<Device>(s)) return default_stream(nb::cast<Device>(s));
  if (nb::isinstance<Device::Type>(s)) return default_stream(Device(nb::cast<Device::Type>(s)));
  throw nb::type_error("stream must be None, a Stream, a Device or a DeviceType.");
}

Shape to_shape(nb::handle obj, const char* op) {
  if (PyLong_Check(obj.ptr())) return {nb::cast<int64_t>(obj)};
  if (!PySequence_Check(obj.ptr())) {
    throw nb::type_error((std::string("[") + op + "] A shape must be an int or a sequence of ints.").c_str());
  }
  Shape shape;
  for (nb::handle d : nb::iter(obj)) {
    if (!PyLong_Check(d.ptr())) {
      throw nb::type_error((std::string("[") + op + "] A shape must contain only ints.").c_str());
    }
    shape.push_back(nb::cast<int64_t>(d));
  }
  return shape;
}

std::optional<Axes> to_axes(nb::handle obj) {
  if (obj.is_none()) return std::nullopt;
  if (PyLong_Check(obj.ptr())) return Axes{nb::cast<int>(obj)};
  Axes axes;
  for (nb::handle d : nb::iter(obj)) axes.push_back(nb::cast<int>(d));
  return axes;
}

namespace {
template <typename T>
nb::object py_value(const T& v) {
  if constexpr (std::is_same_v<T, bool>) return nb::bool_(v);
  else if constexpr (std::is_same_v<T, complex64_t>) {
    return nb::steal(PyComplex_FromDoubles(v.real(), v.imag()));
  } else if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_unsigned_v<T>) return nb::steal(PyLong_FromUnsignedLongLong(v));
    else return nb::steal(PyLong_FromLongLong(v));
  } else {
    return nb::float_(static_cast<double>(v));
  }
}

template <typename T>
nb::object list_rec(const T* base, const array& a, int dim) {
  if (dim == a.ndim()) return py_value(*base);
  nb::list out;
  for (int64_t i = 0; i < a.shape()[dim]; ++i) out.append(list_rec(base + i * a.strides()[dim], a, dim + 1));
  return out;
}
}  // namespace

nb::object to_scalar(array& a) {
  if (a.size() != 1) {
    throw std::invalid_argument("[item] Only arrays with one element can be converted to a Python scalar; "
                                "got shape " + shape_str(a.shape()) + ".");
  }
  a.eval();
  return dispatch_dtype(a.dtype(), [&](auto tag) { return py_value(*a.data<decltype(tag)>()); });
}

nb::object to_list(array& a) {
  a.eval();
  return dispatch_dtype(a.dtype(), [&](auto tag) { return list_rec(a.data<decltype(tag)>(), a, 0); });
}

nb::object to_numpy(array& a, nb::handle dtype) {
  array v = a.dtype() == Dtype::bfloat16 ? astype(a, Dtype::float32) : a;
  v.eval();
  std::vector<size_t> shape(v.shape().begin(), v.shape().end());
  auto* keep = new array(v);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<array*>(p); });
  nb::ndarray<nb::numpy, nb::ro> nd(v.raw_data(), shape.size(), shape.data(), owner,
                                    v.strides().data(), to_dlpack_dtype(v.dtype()));
  nb::object out = nd.cast();
  if (!dtype.is_none()) out = out.attr("astype")(dtype);
  return out;
}

namespace {

template <typename T>
void format_value(std::ostringstream& os, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    os << (v ? "True" : "False");
  } else if constexpr (std::is_same_v<T, complex64_t>) {
    os << v.real() << (v.imag() < 0 ? "-" : "+") << std::abs(v.imag()) << "j";
  } else if constexpr (std::is_integral_v<T>) {
    if constexpr (sizeof(T) == 1) os << static_cast<int>(v);
    else os << v;
  } else {
    double d = static_cast<double>(v);
    if (std::isnan(d)) os << "nan";
    else if (std::isinf(d)) os << (d > 0 ? "inf" : "-inf");
    else os << d;
  }
}

constexpr size_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

template <typename T>
void format_rec(std::ostringstream& os, const T* base, const array& a, int dim, bool summarize,
                int indent) {
  if (dim == a.ndim()) {
    format_value(os, *base);
    return;
  }
  const int64_t n = a.shape()[dim];
  const bool elide = summarize && n > 2 * kEdgeItems;
  std::string sep = ",";
  if (dim == a.ndim() - 1) {
    sep += " ";
  } else {
    sep += std::string(a.ndim() - dim - 1, '\n') + std::string(indent + dim + 1, ' ');
  }
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (elide && i == kEdgeItems) {
      os << "..." << sep;
      i = n - kEdgeItems;
    }
    format_rec(os, base + i * a.strides()[dim], a, dim + 1, summarize, indent);
    if (i + 1 < n) os << sep;
  }
  os << "]";
}

}  // namespace

std::string to_repr(array& a) {
  a.eval();
  std::ostringstream os;
  os.precision(a.dtype() == Dtype::float64 ? 16 : 6);
  os << "array(";
  dispatch_dtype(a.dtype(), [&](auto tag) {
    format_rec(os, a.data<decltype(tag)>(), a, 0, a.size() > kSummarizeAbove, 6);
  });
  os << ", dtype=" << dtype_name(a.dtype()) << ")";
  return os.str();
}

namespace {
const char* buffer_format(Dtype t) {
  switch (t) {
    case Dtype::bool_: return "?";
    case Dtype::uint8: return "B";
    case Dtype::uint16: return "H";
    case Dtype::uint32: return "I";
    case Dtype::uint64: return "Q";
    case Dtype::int8: return "b";
    case Dtype::int16: return "h";
    case Dtype::int32: return "i";
    case Dtype::int64: return "q";
    case Dtype::float16: return "e";
    case Dtype::float32: return "f";
    case Dtype::float64: return "d";
    case Dtype::complex64: return "Zf";
    default: return nullptr;
  }
}

struct BufferInfo {
  array a;
  std::vector<Py_ssize_t> shape, strides;
};
}  // namespace

int array_getbuffer(PyObject* obj, Py_buffer* view, int flags) {
  try {
    array a = nb::cast<array>(nb::handle(obj));
    const char* fmt = buffer_format(a.dtype());
    if (!fmt) {
      PyErr_SetString(PyExc_BufferError, "[buffer] bfloat16 has no buffer format; use astype first.");
      return -1;
    }
    if (flags & PyBUF_WRITABLE) {
      PyErr_SetString(PyExc_BufferError, "[buffer] Arrays are immutable: the buffer is read-only.");
      return -1;
    }
    a.eval();
    auto* info = new BufferInfo{a, {}, {}};
    for (int d = 0; d < a.ndim(); ++d) {
      info->shape.push_back(static_cast<Py_ssize_t>(a.shape()[d]));
      info->strides.push_back(static_cast<Py_ssize_t>(a.strides()[d] * a.itemsize()));
    }
    view->obj = obj;
    Py_INCREF(obj);
    view->buf = a.raw_data();
    view->len = static_cast<Py_ssize_t>(a.nbytes());
    view->readonly = 1;
    view->itemsize = static_cast<Py_ssize_t>(a.itemsize());
    view->format = (flags & PyBUF_FORMAT) ? const_cast<char*>(fmt) : nullptr;
    view->ndim = a.ndim();
    view->shape = info->shape.data();
    view->strides = info->strides.data();
    view->suboffsets = nullptr;
    view->internal = info;
    return 0;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_BufferError, e.what());
    return -1;
  }
}

void array_releasebuffer(PyObject*, Py_buffer* view) {
  delete static_cast<BufferInfo*>(view->internal);
}

void collect_arrays(nb::handle tree, std::vector<array>& out) {
  if (nb::isinstance<array>(tree)) {
    out.push_back(nb::cast<const array&>(tree));
  } else if (PyTuple_Check(tree.ptr())) {
    for (Py_ssize_t i = 0, n = PyTuple_GET_SIZE(tree.ptr()); i < n; ++i) {
      collect_arrays(PyTuple_GET_ITEM(tree.ptr(), i), out);
    }
  } else if (PyList_Check(tree.ptr())) {
    for (nb::handle item : nb::iter(tree)) collect_arrays(item, out);
  } else if (PyDict_Check(tree.ptr())) {
    for (auto [k, v] : nb::borrow<nb::dict>(tree)) collect_arrays(v, out);
  }
}

}  // namespace pullback::python
