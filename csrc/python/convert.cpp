#include "python/convert.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <climits>
#include <complex>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "pullback/backend/cpu/strided.h"

namespace pullback::python {

bool is_python_scalar(nb::handle obj) {
  PyObject* p = obj.ptr();
  return PyBool_Check(p) || PyLong_Check(p) || PyFloat_Check(p) || PyComplex_Check(p);
}

namespace {

std::string type_name_of(nb::handle h) { return nb::type_name(h.type()).c_str(); }

// A short repr for error messages (a failing or very long __repr__ gives the type instead).
std::string short_repr(nb::handle h) {
  PyObject* r = PyObject_Repr(h.ptr());
  if (!r) {
    PyErr_Clear();
    return "<" + type_name_of(h) + ">";
  }
  nb::object keep = nb::steal(r);
  const char* text = PyUnicode_AsUTF8(r);
  if (!text) {
    PyErr_Clear();
    return "<" + type_name_of(h) + ">";
  }
  std::string out = text;
  return out.size() > 60 ? out.substr(0, 57) + "..." : out;
}

[[noreturn]] void type_error(const std::string& msg) { throw nb::type_error(msg.c_str()); }

// bool and NumPy's bool scalar (which has __index__ too) are not integers for our arguments,
// as in NumPy (MLX happens to accept them as 0/1).
bool is_bool_like(nb::handle h) {
  return PyBool_Check(h.ptr()) || type_name_of(h).find("bool") != std::string::npos;
}

// A Python int as a double; beyond the double range it is a ValueError naming `op`.
double long_as_double(PyObject* p, const char* op) {
  double v = PyLong_AsDouble(p);
  if (v == -1.0 && PyErr_Occurred()) {
    if (!PyErr_ExceptionMatches(PyExc_OverflowError)) throw nb::python_error();
    PyErr_Clear();
    throw std::invalid_argument(std::string("[") + op + "] Python int " + short_repr(p) +
                                " is too large to convert to a floating-point value.");
  }
  return v;
}

// A Python int (PyLong_Check) as an element of the integer type T of dtype `t`. Out of range
// is a ValueError naming `op`, the value and the dtype (MLX raises too; wrapping would silently
// change comparisons such as `uint8_array < 300`).
template <typename T>
T int_as(PyObject* p, Dtype t, const char* op) {
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(p, &overflow);
  if (v == -1 && PyErr_Occurred()) throw nb::python_error();
  using L = std::numeric_limits<T>;
  if (!overflow) {
    bool fits = std::is_signed_v<T>
                    ? v >= static_cast<long long>(L::min()) && v <= static_cast<long long>(L::max())
                    : v >= 0 && static_cast<unsigned long long>(v) <= static_cast<unsigned long long>(L::max());
    if (fits) return static_cast<T>(v);
  } else if (overflow > 0 && std::is_same_v<T, uint64_t>) {
    unsigned long long u = PyLong_AsUnsignedLongLong(p);
    if (!PyErr_Occurred()) return static_cast<T>(u);
    PyErr_Clear();
  }
  std::string lo = std::is_signed_v<T> ? std::to_string(static_cast<long long>(L::min())) : "0";
  std::string hi = std::to_string(static_cast<unsigned long long>(L::max()));
  throw std::invalid_argument(std::string("[") + op + "] Python int " + short_repr(p) +
                              " is out of range for " + dtype_name(t) + " (" + lo + " to " + hi +
                              ").");
}

Dtype default_int_dtype(nb::handle obj) {
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
  if (overflow) return Dtype::int64;
  return (v > INT32_MAX || v < INT32_MIN) ? Dtype::int64 : Dtype::int32;
}

// A Python int as a 0-d array of `dtype`: exact for integer dtypes (or a ValueError), rounded
// for floating dtypes (2**80 next to a float32 array is 1.2089e24, as in NumPy).
array int_scalar(nb::handle obj, Dtype dtype, const char* op) {
  PyObject* p = obj.ptr();
  if (is_complex(dtype)) {
    return astype(array(complex64_t(static_cast<float>(long_as_double(p, op)), 0.f)), dtype);
  }
  if (is_inexact(dtype)) return array(long_as_double(p, op), dtype);
  if (dtype == Dtype::bool_) return array(PyObject_IsTrue(p) == 1);
  return dispatch_dtype(dtype, [&](auto tag) -> array {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      T v = int_as<T>(p, dtype, op);
      if constexpr (std::is_same_v<T, uint64_t>) return array(static_cast<const void*>(&v), Shape{}, dtype);
      else return array(static_cast<int64_t>(v), dtype);
    } else {
      throw std::logic_error("int_scalar: not an integer dtype");
    }
  });
}

// A Python scalar as an array of `dtype`. A Python int out of range of an integer dtype is an
// error even for mx.array(300, dtype=mx.uint8): stricter than MLX (which wraps) on purpose,
// the same rule as for scalars in binary ops and as NumPy 2.
array scalar_as(nb::handle obj, Dtype dtype, const char* op) {
  PyObject* p = obj.ptr();
  if (PyBool_Check(p)) {
    return dtype == Dtype::bool_ ? array(p == Py_True) : astype(array(p == Py_True), dtype);
  }
  if (PyLong_Check(p)) return int_scalar(obj, dtype, op);
  if (PyFloat_Check(p)) {
    double v = PyFloat_AS_DOUBLE(p);
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

// ---- nested lists and tuples ----
// Walked with the concrete list/tuple API on their real storage (never a Python-level __len__
// or __getitem__ of a subclass), depth-bounded by kMaxNdim, in two passes: the first finds
// the shape (from the first element at each depth) and the kinds of the leaves, the second
// re-validates every length against that shape while it fills a buffer of exactly that size.

bool is_nested_seq(PyObject* p) { return PyList_Check(p) || PyTuple_Check(p); }
Py_ssize_t seq_size(PyObject* p) { return PyList_Check(p) ? PyList_GET_SIZE(p) : PyTuple_GET_SIZE(p); }
PyObject* seq_item(PyObject* p, Py_ssize_t i) {
  return PyList_Check(p) ? PyList_GET_ITEM(p, i) : PyTuple_GET_ITEM(p, i);
}

struct Nested {
  const char* op;
  Shape shape;
  bool ndim_known = false;  // set at the first leaf or empty sequence
  bool has_float = false, has_int = false, has_complex = false, has_array = false,
       has_wide_int = false;
};

[[noreturn]] void ragged(const Nested& s, const std::string& what) {
  throw std::invalid_argument(std::string("[") + s.op +
                              "] Cannot make an array from an inhomogeneous (ragged) nested "
                              "sequence: " + what + ".");
}

[[noreturn]] void changed_while_reading(const Nested& s) {
  throw std::invalid_argument(std::string("[") + s.op +
                              "] The nested sequence changed while it was being converted.");
}

void scan_nested(PyObject* p, size_t depth, Nested& s) {
  if (is_nested_seq(p)) {
    if (depth >= static_cast<size_t>(kMaxNdim)) {
      throw std::invalid_argument(std::string("[") + s.op + "] The nested sequence is more than " +
                                  std::to_string(kMaxNdim) + " levels deep; an array can have at most " +
                                  std::to_string(kMaxNdim) + " dimensions.");
    }
    const Py_ssize_t n = seq_size(p);
    if (depth < s.shape.size()) {
      if (s.shape[depth] != n && !s.has_array) {
        ragged(s, "a sequence at depth " + std::to_string(depth) + " has length " + std::to_string(n) +
                      " where length " + std::to_string(s.shape[depth]) + " was expected");
      }
    } else if (!s.ndim_known) {
      s.shape.push_back(n);
      if (n == 0) s.ndim_known = true;
    } else if (!s.has_array) {
      ragged(s, "a sequence of length " + std::to_string(n) + " at depth " + std::to_string(depth) +
                    " where a scalar was expected");
    }
    for (Py_ssize_t i = 0; i < seq_size(p); ++i) {
      nb::object item = nb::borrow(seq_item(p, i));
      scan_nested(item.ptr(), depth + 1, s);
    }
    return;
  }
  // Arrays among the leaves: the parts are stacked, and stack checks their shapes.
  if (nb::isinstance<array>(p)) {
    s.has_array = true;
    s.ndim_known = true;
    return;
  }
  if (!s.ndim_known) {
    s.ndim_known = true;
  } else if (depth != s.shape.size() && !s.has_array) {
    ragged(s, "a scalar at depth " + std::to_string(depth) + " where a sequence of length " +
                  std::to_string(s.shape[depth]) + " was expected");
  }
  if (PyBool_Check(p)) return;
  if (PyLong_Check(p)) {
    s.has_int = true;
    s.has_wide_int = s.has_wide_int || default_int_dtype(p) == Dtype::int64;
  } else if (PyFloat_Check(p)) {
    s.has_float = true;
  } else if (PyComplex_Check(p)) {
    s.has_complex = true;
  } else {
    throw std::invalid_argument(std::string("[") + s.op + "] Invalid type " + type_name_of(p) +
                                " in a nested sequence; only numbers, arrays and lists/tuples "
                                "of them can be converted.");
  }
}

template <typename T, typename Read>
void fill_nested(PyObject* p, size_t depth, const Nested& s, std::vector<T>& buf, size_t& pos,
                 const Read& read) {
  if (is_nested_seq(p)) {
    if (depth >= s.shape.size() || seq_size(p) != s.shape[depth]) changed_while_reading(s);
    for (Py_ssize_t i = 0; i < s.shape[depth]; ++i) {
      if (i >= seq_size(p)) changed_while_reading(s);
      nb::object item = nb::borrow(seq_item(p, i));
      fill_nested(item.ptr(), depth + 1, s, buf, pos, read);
    }
    return;
  }
  if (depth != s.shape.size() || pos >= buf.size()) changed_while_reading(s);
  buf[pos++] = read(p);
}

template <typename T, typename Read>
array fill_array(PyObject* obj, const Nested& s, Dtype held, const Read& read) {
  std::vector<T> buf(shape_size(s.shape));
  size_t pos = 0;
  fill_nested(obj, 0, s, buf, pos, read);
  if (pos != buf.size()) changed_while_reading(s);
  return array(static_cast<const void*>(buf.data()), s.shape, held);
}

// Leaf readers use the numbers' own storage (no Python-level __float__ runs), and re-check the
// kind: a leaf that is not what the scan saw is an error, never a wrong read.
double read_double(PyObject* p, const Nested& s) {
  if (PyFloat_Check(p)) return PyFloat_AS_DOUBLE(p);
  if (PyLong_Check(p)) return long_as_double(p, s.op);
  changed_while_reading(s);
}

complex64_t read_complex(PyObject* p, const Nested& s) {
  if (PyComplex_Check(p)) {
    Py_complex c = reinterpret_cast<PyComplexObject*>(p)->cval;
    return complex64_t(static_cast<float>(c.real), static_cast<float>(c.imag));
  }
  return complex64_t(static_cast<float>(read_double(p, s)), 0.f);
}

array from_nested(nb::handle obj, std::optional<Dtype> dtype, const char* op) {
  Nested s;
  s.op = op;
  scan_nested(obj.ptr(), 0, s);
  if (s.has_array) {
    std::vector<array> parts;
    for (Py_ssize_t i = 0; i < seq_size(obj.ptr()); ++i) {
      nb::object item = nb::borrow(seq_item(obj.ptr(), i));
      parts.push_back(to_array(item, dtype, op));
    }
    array r = stack(parts, 0);
    return dtype ? astype(r, *dtype) : r;
  }
  // An empty list holds no bools: like MLX, it is float32.
  Dtype kind = s.has_complex ? Dtype::complex64
               : s.has_float ? Dtype::float32
               : s.has_int   ? (s.has_wide_int ? Dtype::int64 : Dtype::int32)
               : shape_size(s.shape) == 0 ? Dtype::float32
                                          : Dtype::bool_;
  Dtype target = dtype.value_or(kind);
  PyObject* p = obj.ptr();
  if (s.has_complex || is_complex(target)) {
    return astype(fill_array<complex64_t>(p, s, Dtype::complex64,
                                          [&](PyObject* x) { return read_complex(x, s); }),
                  target);
  }
  if (s.has_float || (s.has_int && is_inexact(target))) {
    return astype(fill_array<double>(p, s, Dtype::float64, [&](PyObject* x) { return read_double(x, s); }),
                  target);
  }
  if (s.has_int && is_integral(target)) {
    // Straight into the target type, each value range-checked (2**64-1 fits uint64).
    return dispatch_dtype(target, [&](auto tag) -> array {
      using T = decltype(tag);
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        return fill_array<T>(p, s, target, [&](PyObject* x) {
          if (!PyLong_Check(x)) changed_while_reading(s);
          return int_as<T>(x, target, op);
        });
      } else {
        throw std::logic_error("from_nested: not an integer dtype");
      }
    });
  }
  // Bools (or ints read as bools): nonzero is True.
  return astype(fill_array<uint8_t>(p, s, Dtype::bool_, [&](PyObject* x) -> uint8_t {
                  if (!PyLong_Check(x)) changed_while_reading(s);
                  int t = PyObject_IsTrue(x);
                  if (t < 0) throw nb::python_error();
                  return static_cast<uint8_t>(t);
                }),
                target);
}

}  // namespace

namespace {
// The array type, looked up once: the isinstance test runs for every operand of every op.
bool is_array_instance(nb::handle h) {
  static PyTypeObject* type = reinterpret_cast<PyTypeObject*>(nb::type<array>().ptr());
  return PyObject_TypeCheck(h.ptr(), type);
}
}  // namespace

const array* as_array(nb::handle h, const char* op) {
  if (!is_array_instance(h)) return nullptr;
  if (!nb::inst_ready(h)) {
    throw std::invalid_argument(std::string("[") + op +
                                "] The array is uninitialised (made by array.__new__ without "
                                "__init__).");
  }
  return nb::inst_ptr<array>(h);
}

namespace {
// ml_dtypes' NumPy bfloat16 dtype, or None when the package is not installed.
nb::object numpy_bfloat16() {
  static nb::object dtype = []() -> nb::object {
    nb::object mod = nb::steal(PyImport_ImportModule("ml_dtypes"));
    if (!mod.is_valid()) {
      PyErr_Clear();
      return nb::none();
    }
    return mod.attr("bfloat16");
  }();
  return dtype;
}

// numpy_bfloat16() once ml_dtypes has been imported, else None without importing it: an array
// of its dtype cannot exist before, and the import takes most of a second.
nb::object imported_numpy_bfloat16() {
  if (PyDict_GetItemString(PyImport_GetModuleDict(), "ml_dtypes") == nullptr) return nb::none();
  return numpy_bfloat16();
}
}  // namespace

array to_array(nb::handle obj, std::optional<Dtype> dtype, const char* op) {
  if (const array* a = as_array(obj, op)) return dtype ? astype(*a, *dtype) : *a;
  if (is_python_scalar(obj)) return scalar_as(obj, dtype.value_or(scalar_default_dtype(obj)), op);
  if (is_nested_seq(obj.ptr())) return from_nested(obj, dtype, op);
  // ArrayLike: an object that converts itself through __mlx_array__ (MLX's protocol).
  if (nb::hasattr(obj, "__mlx_array__")) {
    nb::object converted = obj.attr("__mlx_array__")();
    if (const array* a = as_array(converted, op)) return dtype ? astype(*a, *dtype) : *a;
    throw nb::type_error((std::string("[") + op + "] " + type_name_of(obj) +
                          ".__mlx_array__() returned " + type_name_of(converted) +
                          ", not an array.").c_str());
  }
  // ml_dtypes' bfloat16 NumPy arrays: their bits, read as uint16, are the bfloat16 values.
  nb::object bf16 = imported_numpy_bfloat16();
  if (!bf16.is_none() && nb::hasattr(obj, "dtype") && obj.attr("dtype").equal(bf16)) {
    nb::object bits_view = obj.attr("view")(nb::module_::import_("numpy").attr("uint16"));
    array bits = to_array(bits_view, Dtype::uint16, op);
    bits.eval();
    array out(bits.raw_data(), bits.shape(), Dtype::bfloat16);
    return dtype ? astype(out, *dtype) : out;
  }
  nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu> nd;
  if (nb::try_cast(obj, nd)) {
    auto src = from_dlpack_dtype(nd.dtype());
    Shape shape(nd.ndim());
    for (size_t i = 0; i < nd.ndim(); ++i) shape[i] = static_cast<int64_t>(nd.shape(i));
    if (!src && nd.dtype() == nb::dtype<std::complex<double>>()) {
      // complex128 (NumPy's default complex) narrows to complex64, as MLX does: there is no
      // complex128 dtype.
      check_ndim(shape, op);
      const double* in = static_cast<const double*>(nd.data());
      std::vector<float> narrowed(2 * nd.size());
      for (size_t i = 0; i < narrowed.size(); ++i) narrowed[i] = static_cast<float>(in[i]);
      array a(narrowed.data(), std::move(shape), Dtype::complex64);
      return dtype ? astype(a, *dtype) : a;
    }
    if (!src) throw std::invalid_argument(std::string("[") + op + "] Unsupported element type in the buffer.");
    check_ndim(shape, op);
    array a(nd.data(), std::move(shape), *src);
    Dtype target = dtype.value_or(*src == Dtype::float64 ? Dtype::float32 : *src);
    return astype(a, target);
  }
  throw std::invalid_argument(std::string("[") + op + "] Cannot convert an object of type " +
                              type_name_of(obj) + " to an array.");
}

array to_array_weak(nb::handle obj, Dtype partner, const char* op) {
  if (const array* a = as_array(obj, op)) return *a;
  PyObject* p = obj.ptr();
  if (PyBool_Check(p)) return array(p == Py_True);
  if (PyLong_Check(p)) {
    // Next to a bool array an int is an int (int64 when it needs it, as NumPy); otherwise it
    // takes the partner's dtype, range-checked.
    return int_scalar(obj, partner == Dtype::bool_ ? default_int_dtype(obj) : partner, op);
  }
  if (PyFloat_Check(p)) return scalar_as(obj, is_inexact(partner) ? partner : Dtype::float32, op);
  if (PyComplex_Check(p)) return scalar_as(obj, Dtype::complex64, op);
  return to_array(obj, std::nullopt, op);
}

std::pair<array, array> to_operands(nb::handle a, nb::handle b, const char* op) {
  bool sa = is_python_scalar(a);
  bool sb = is_python_scalar(b);
  if (sa && !sb) {
    array y = to_array(b, std::nullopt, op);
    return {to_array_weak(a, y.dtype(), op), y};
  }
  array x = to_array(a, std::nullopt, op);
  return {x, sb ? to_array_weak(b, x.dtype(), op) : to_array(b, std::nullopt, op)};
}

std::pair<array, array> to_logical_operands(nb::handle a, nb::handle b, const char* op) {
  auto truth = [](nb::handle h) -> nb::object {
    bool number = nb::isinstance<nb::int_>(h) || nb::isinstance<nb::float_>(h);
    if (!number || nb::isinstance<nb::bool_>(h)) return nb::borrow(h);
    return nb::bool_(PyObject_IsTrue(h.ptr()) == 1);
  };
  return to_operands(truth(a), truth(b), op);
}

// ---- argument converters ----

std::optional<Dtype> to_dtype(nb::handle d, const char* op) {
  if (d.is_none()) return std::nullopt;
  if (!nb::isinstance<Dtype>(d)) {
    type_error(std::string("[") + op + "] dtype must be a pullback Dtype such as "
               "pullback.core.float32; got " + short_repr(d) + ".");
  }
  return nb::cast<Dtype>(d);
}

Device to_device(nb::handle d, const char* op, const char* arg) {
  if (nb::isinstance<Device>(d) && nb::inst_ready(d)) return *nb::inst_ptr<Device>(d);
  if (nb::isinstance<Device::Type>(d)) return Device(nb::cast<Device::Type>(d));
  type_error(std::string("[") + op + "] " + arg + " must be a Device or a DeviceType such as "
             "pullback.core.cpu; got " + short_repr(d) + ".");
}

Stream to_stream(nb::handle s, const char* op) {
  if (s.is_none()) return current_stream();
  if (nb::isinstance<Stream>(s) && nb::inst_ready(s)) return *nb::inst_ptr<Stream>(s);
  if (nb::isinstance<ThreadLocalStream>(s) && nb::inst_ready(s)) {
    return resolve_stream(*nb::inst_ptr<ThreadLocalStream>(s));
  }
  if (nb::isinstance<Device>(s) || nb::isinstance<Device::Type>(s)) {
    return default_stream(to_device(s, op, "stream"));
  }
  type_error(std::string("[") + op + "] stream must be None, a Stream, a ThreadLocalStream, a Device or a DeviceType; got " +
             short_repr(s) + ".");
}

int64_t to_int(nb::handle h, const char* op, const char* arg) {
  PyObject* p = h.ptr();
  nb::object index;
  if (PyLong_Check(p) && !PyBool_Check(p)) {
    index = nb::borrow(h);
  } else {
    auto not_an_int = [&] {
      type_error(std::string("[") + op + "] " + arg + " must be an integer; got " + type_name_of(h) +
                 " " + short_repr(h) + ".");
    };
    if (is_bool_like(h) || !PyIndex_Check(p)) not_an_int();
    index = nb::steal(PyNumber_Index(p));
    if (!index.is_valid()) {
      if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw nb::python_error();
      PyErr_Clear();
      not_an_int();
    }
  }
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (v == -1 && PyErr_Occurred()) throw nb::python_error();
  if (overflow) {
    throw std::invalid_argument(std::string("[") + op + "] " + arg + " " + short_repr(index) +
                                " is out of the int64 range.");
  }
  return static_cast<int64_t>(v);
}

int to_axis(nb::handle h, const char* op, const char* arg) {
  int64_t v = to_int(h, op, arg);
  if (v < INT_MIN || v > INT_MAX) {
    throw std::invalid_argument(std::string("[") + op + "] " + arg + " " + std::to_string(v) +
                                " is out of range.");
  }
  return static_cast<int>(v);
}

std::optional<int> to_optional_axis(nb::handle h, const char* op, const char* arg) {
  if (h.is_none()) return std::nullopt;
  return to_axis(h, op, arg);
}

double to_float(nb::handle h, const char* op, const char* arg) {
  PyObject* p = h.ptr();
  if (PyFloat_Check(p)) return PyFloat_AS_DOUBLE(p);
  if (PyLong_Check(p)) return long_as_double(p, op);
  // NumPy's scalars and the like; str/bytes also convert with float() but are no numbers.
  PyNumberMethods* nm = Py_TYPE(p)->tp_as_number;
  if (!PyUnicode_Check(p) && !PyBytes_Check(p) && nm && (nm->nb_float || nm->nb_index)) {
    double v = PyFloat_AsDouble(p);
    if (!(v == -1.0 && PyErr_Occurred())) return v;
    if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw nb::python_error();
    PyErr_Clear();
  }
  type_error(std::string("[") + op + "] " + arg + " must be a real number; got " + type_name_of(h) +
             " " + short_repr(h) + ".");
}

namespace {

// The items of a list or tuple, or of another sequence (not str/bytes/dict) as a tuple made
// once, so that converting the items cannot change what is iterated; null if obj is none.
nb::object sequence_items(nb::handle obj) {
  PyObject* p = obj.ptr();
  if (PyTuple_Check(p)) return nb::borrow(obj);
  if (PyUnicode_Check(p) || PyBytes_Check(p) || PyDict_Check(p) || !PySequence_Check(p)) {
    return nb::object();
  }
  PyObject* t = PySequence_Tuple(p);
  if (!t) throw nb::python_error();
  return nb::steal(t);
}

// One entry of an int-list argument: the fast path for exact ints, to_int (with the entry's
// position in the message) for everything else.
int64_t int_entry(nb::handle h, const char* op, const char* arg, Py_ssize_t i) {
  if (PyLong_CheckExact(h.ptr())) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
    if (!overflow) return static_cast<int64_t>(v);
  }
  std::string name = std::string(arg) + "[" + std::to_string(i) + "]";
  return to_int(h, op, name.c_str());
}

// An int or a sequence of ints; at most `max_len` entries when max_len >= 0.
std::vector<int64_t> int_list(nb::handle obj, const char* op, const char* arg, Py_ssize_t max_len) {
  PyObject* p = obj.ptr();
  bool single = PyLong_Check(p) || (PyIndex_Check(p) && !PySequence_Check(p));
  if (single) return {to_int(obj, op, arg)};
  nb::object items = sequence_items(obj);
  if (!items.is_valid()) {
    type_error(std::string("[") + op + "] " + arg + " must be an int or a sequence of ints; got " +
               type_name_of(obj) + " " + short_repr(obj) + ".");
  }
  const Py_ssize_t n = PyTuple_GET_SIZE(items.ptr());
  if (max_len >= 0 && n > max_len) {
    throw std::invalid_argument(std::string("[") + op + "] " + arg + " has " + std::to_string(n) +
                                " entries; an array can have at most " + std::to_string(kMaxNdim) +
                                " dimensions.");
  }
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) out[i] = int_entry(PyTuple_GET_ITEM(items.ptr(), i), op, arg, i);
  return out;
}

}  // namespace

Shape to_shape(nb::handle obj, const char* op, const char* arg, bool allow_infer) {
  Shape shape = int_list(obj, op, arg, kMaxNdim);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0 && !(allow_infer && shape[i] == -1)) {
      throw std::invalid_argument(std::string("[") + op + "] " + arg + " " + shape_str(shape) +
                                  " has a negative dimension " + std::to_string(shape[i]) + ".");
    }
  }
  return shape;
}

std::vector<int64_t> to_int_list(nb::handle obj, const char* op, const char* arg) {
  return int_list(obj, op, arg, -1);
}

std::optional<Axes> to_axes(nb::handle obj, const char* op, const char* arg) {
  if (obj.is_none()) return std::nullopt;
  Axes axes;
  for (int64_t v : int_list(obj, op, arg, -1)) {
    if (v < INT_MIN || v > INT_MAX) {
      throw std::invalid_argument(std::string("[") + op + "] " + arg + " " + std::to_string(v) +
                                  " is out of range.");
    }
    axes.push_back(static_cast<int>(v));
  }
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
  // bfloat16 goes out as ml_dtypes.bfloat16 (its bits viewed as uint16) where that package is
  // installed, and as float32 otherwise.
  nb::object bf16 = a.dtype() == Dtype::bfloat16 ? numpy_bfloat16() : nb::none();
  array v = a;
  if (a.dtype() == Dtype::bfloat16 && bf16.is_none()) v = astype(a, Dtype::float32);
  v.eval();
  std::vector<size_t> shape(v.shape().begin(), v.shape().end());
  auto* keep = new array(v);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<array*>(p); });
  const Dtype exported = v.dtype() == Dtype::bfloat16 ? Dtype::uint16 : v.dtype();
  nb::ndarray<nb::numpy, nb::ro> nd(v.raw_data(), shape.size(), shape.data(), owner,
                                    v.strides().data(), to_dlpack_dtype(exported));
  nb::object out = nd.cast();
  if (v.dtype() == Dtype::bfloat16) out = out.attr("view")(bf16);
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

namespace {
// set_printoptions(precision=...): -1 prints the shortest of fixed and scientific notation with
// 6 significant digits (every float dtype, as MLX); p >= 0 prints p decimals in fixed notation.
int g_print_precision = -1;
}  // namespace

void set_print_precision(int precision) { g_print_precision = precision < 0 ? -1 : precision; }
int get_print_precision() { return g_print_precision; }

std::string to_repr(array& a) {
  a.eval();
  std::ostringstream os;
  if (g_print_precision < 0) {
    os.precision(6);
  } else {
    os << std::fixed;
    os.precision(g_print_precision);
  }
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

// What a buffer export holds: the exported array (the original, or a row-contiguous copy when
// the consumer needs C order and the array is strided or broadcast) and its shape and strides.
struct BufferInfo {
  array a;
  std::vector<Py_ssize_t> shape, strides;
};

bool wants(int flags, int request) { return (flags & request) == request; }
}  // namespace

int array_getbuffer(PyObject* obj, Py_buffer* view, int flags) {
  view->obj = nullptr;
  try {
    const array* held = as_array(obj, "buffer");
    if (!held) {
      PyErr_SetString(PyExc_BufferError, "[buffer] The object is not an array.");
      return -1;
    }
    array a = *held;
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
    // Without strides the consumer reads the memory as C-ordered and dense: a transposed,
    // sliced or broadcast array is exported as a row-contiguous copy that the view keeps alive.
    const bool with_strides = wants(flags, PyBUF_STRIDES);
    const bool dense_c = a.flags().row_contiguous;
    const bool dense_f = a.flags().col_contiguous;
    if (wants(flags, PyBUF_F_CONTIGUOUS) && !dense_f) {
      PyErr_SetString(PyExc_BufferError,
                      "[buffer] A Fortran-contiguous buffer was requested but the array is not "
                      "column-major; convert it with numpy.asfortranarray(numpy.array(x)).");
      return -1;
    }
    const bool any_ok = wants(flags, PyBUF_ANY_CONTIGUOUS) && (dense_c || dense_f);
    const bool need_c = !with_strides || wants(flags, PyBUF_C_CONTIGUOUS) ||
                        (wants(flags, PyBUF_ANY_CONTIGUOUS) && !any_ok);
    if (need_c && !dense_c) {
      a = copy(a);
      a.eval();
      if (!a.flags().row_contiguous) {
        PyErr_SetString(PyExc_BufferError, "[buffer] Could not make a C-contiguous copy of the array.");
        return -1;
      }
    }
    auto info = std::make_unique<BufferInfo>(BufferInfo{a, {}, {}});
    for (int d = 0; d < a.ndim(); ++d) {
      info->shape.push_back(static_cast<Py_ssize_t>(a.shape()[d]));
      info->strides.push_back(static_cast<Py_ssize_t>(a.strides()[d] * a.itemsize()));
    }
    view->buf = a.raw_data();
    view->len = static_cast<Py_ssize_t>(a.nbytes());
    view->readonly = 1;
    view->itemsize = static_cast<Py_ssize_t>(a.itemsize());
    view->format = (flags & PyBUF_FORMAT) ? const_cast<char*>(fmt) : nullptr;
    // A scalar has no shape or strides (ndim 0); a request without PyBUF_ND gets plain bytes.
    view->ndim = wants(flags, PyBUF_ND) ? a.ndim() : 1;
    view->shape = wants(flags, PyBUF_ND) && a.ndim() > 0 ? info->shape.data() : nullptr;
    view->strides = with_strides && a.ndim() > 0 ? info->strides.data() : nullptr;
    view->suboffsets = nullptr;
    view->internal = info.release();
    view->obj = obj;
    Py_INCREF(obj);
    return 0;
  } catch (nb::python_error& e) {
    e.restore();
    return -1;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_BufferError, e.what());
    return -1;
  }
}

void array_releasebuffer(PyObject*, Py_buffer* view) {
  delete static_cast<BufferInfo*>(view->internal);
  view->internal = nullptr;
}

void collect_arrays(nb::handle tree, std::vector<array>& out, const char* op) {
  // An explicit stack of the containers being walked, each with its items (a dict's values
  // taken once) and the next position; the stack is the path from the root, so a container
  // already on it is a cycle.
  struct Frame {
    PyObject* container;
    nb::object items;  // a list or tuple
    Py_ssize_t next;
  };
  std::vector<Frame> stack;
  const size_t limit = static_cast<size_t>(std::max(Py_GetRecursionLimit(), 1));
  auto visit = [&](nb::handle h) {
    if (const array* a = as_array(h, op)) {
      out.push_back(*a);
      return;
    }
    PyObject* p = h.ptr();
    if (!PyTuple_Check(p) && !PyList_Check(p) && !PyDict_Check(p)) return;
    for (const Frame& f : stack) {
      if (f.container == p) {
        throw std::invalid_argument(std::string("[") + op +
                                    "] The tree of arrays contains a reference cycle.");
      }
    }
    if (stack.size() >= limit) {
      std::string msg = std::string("[") + op + "] The tree of arrays is nested more than " +
                        std::to_string(limit) + " levels deep (the recursion limit).";
      PyErr_SetString(PyExc_RecursionError, msg.c_str());
      throw nb::python_error();
    }
    nb::object items = nb::borrow(h);
    if (PyDict_Check(p)) {
      items = nb::steal(PyDict_Values(p));
      if (!items.is_valid()) throw nb::python_error();
    }
    stack.push_back(Frame{p, std::move(items), 0});
  };
  visit(tree);
  while (!stack.empty()) {
    Frame& f = stack.back();
    PyObject* items = f.items.ptr();
    if (f.next >= seq_size(items)) {
      stack.pop_back();
      continue;
    }
    nb::object item = nb::borrow(seq_item(items, f.next++));
    visit(item);  // may push, which invalidates f
  }
}

}  // namespace pullback::python
