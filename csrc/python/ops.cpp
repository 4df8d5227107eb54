// The op functions of pullback.core.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cmath>

#include "python/bindings.h"
#include "python/convert.h"

namespace pullback::python {

using namespace nb::literals;

namespace {

std::vector<array> to_arrays(nb::handle seq) {
  std::vector<array> out;
  for (nb::handle h : nb::iter(seq)) out.push_back(to_array(h));
  return out;
}


// Python ints and integer scalars such as NumPy's (anything with __index__ but a bool).
bool is_int_like(nb::handle h) {
  if (PyBool_Check(h.ptr())) return false;
  if (PyLong_Check(h.ptr())) return true;
  if (!PyIndex_Check(h.ptr())) return false;
  // NumPy's bool scalar has __index__ too, but is a bool.
  return std::string(nb::type_name(h.type()).c_str()).find("bool") == std::string::npos;
}

// An integer argument of arange as int64, or a ValueError naming it.
int64_t arange_int(nb::handle h, const char* what) {
  nb::object index = nb::steal(PyNumber_Index(h.ptr()));
  if (!index.is_valid()) throw nb::python_error();
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (v == -1 && PyErr_Occurred()) throw nb::python_error();
  if (overflow) {
    throw std::invalid_argument(std::string("[arange] ") + what + " " +
                                nb::repr(h).c_str() + " is outside the int64 range.");
  }
  return static_cast<int64_t>(v);
}

}  // namespace

void init_ops(nb::module_& m) {
#define PB_UNARY(name)                                                                    \
  m.def(#name, [](nb::handle a, nb::handle s) { return name(to_array(a), to_stream(s)); }, \
        "a"_a, nb::kw_only(), "stream"_a = nb::none());
  PB_UNARY(abs) PB_UNARY(negative) PB_UNARY(sign) PB_UNARY(exp) PB_UNARY(expm1) PB_UNARY(log)
  PB_UNARY(log1p) PB_UNARY(log2) PB_UNARY(log10) PB_UNARY(sqrt) PB_UNARY(rsqrt) PB_UNARY(square)
  PB_UNARY(reciprocal) PB_UNARY(sin) PB_UNARY(cos) PB_UNARY(tan) PB_UNARY(arcsin) PB_UNARY(arccos)
  PB_UNARY(arctan) PB_UNARY(sinh) PB_UNARY(cosh) PB_UNARY(tanh) PB_UNARY(arcsinh)
  PB_UNARY(arccosh) PB_UNARY(arctanh) PB_UNARY(sigmoid) PB_UNARY(erf) PB_UNARY(erfinv)
  PB_UNARY(floor) PB_UNARY(ceil) PB_UNARY(isnan) PB_UNARY(isinf) PB_UNARY(isfinite)
  PB_UNARY(isposinf) PB_UNARY(isneginf) PB_UNARY(logical_not) PB_UNARY(stop_gradient)
  PB_UNARY(conjugate) PB_UNARY(real) PB_UNARY(imag)
#undef PB_UNARY
  m.attr("conj") = m.attr("conjugate");
  m.def("positive", [](nb::handle a, nb::handle) { return to_array(a); }, "a"_a, nb::kw_only(),
        "stream"_a = nb::none());
  m.def("round", [](nb::handle a, int decimals, nb::handle s) {
    return round(to_array(a), decimals, to_stream(s));
  }, "a"_a, "decimals"_a = 0, nb::kw_only(), "stream"_a = nb::none());

#define PB_BINARY(name)                                                      \
  m.def(#name, [](nb::handle a, nb::handle b, nb::handle s) {                \
    auto [x, y] = to_operands(a, b);                                         \
    return name(x, y, to_stream(s));                                         \
  }, "a"_a, "b"_a, nb::kw_only(), "stream"_a = nb::none());
  PB_BINARY(add) PB_BINARY(subtract) PB_BINARY(multiply) PB_BINARY(divide) PB_BINARY(floor_divide)
  PB_BINARY(remainder) PB_BINARY(power) PB_BINARY(maximum) PB_BINARY(minimum) PB_BINARY(arctan2)
  PB_BINARY(logaddexp) PB_BINARY(equal) PB_BINARY(not_equal) PB_BINARY(less) PB_BINARY(less_equal)
  PB_BINARY(greater) PB_BINARY(greater_equal) PB_BINARY(logical_and) PB_BINARY(logical_or)
  PB_BINARY(matmul)
#undef PB_BINARY

  m.def("where", [](nb::handle c, nb::handle x, nb::handle y, nb::handle s) {
    auto [a, b] = to_operands(x, y);
    return where(to_array(c), a, b, to_stream(s));
  }, "condition"_a, "x"_a, "y"_a, nb::kw_only(), "stream"_a = nb::none());
  m.def("astype", [](nb::handle a, Dtype t, nb::handle s) { return astype(to_array(a), t, to_stream(s)); },
        "a"_a, "dtype"_a, nb::kw_only(), "stream"_a = nb::none());

  // ---- creation ----
  m.def("arange", [](nb::handle a, nb::handle b, nb::handle c, nb::handle dtype, nb::handle s) {
    nb::handle start = a, stop = b, step = c;
    if (stop.is_none()) {
      stop = a;
      start = nb::int_(0);
    }
    if (stop.is_none()) throw std::invalid_argument("[arange] A stop value is required.");
    bool all_int = is_int_like(start) && is_int_like(stop) && (step.is_none() || is_int_like(step));
    if (all_int) {
      // Integers stay exact (float64 would round them beyond 2**53); the default dtype is
      // int32 unless a bound or the step needs int64, as in MLX.
      int64_t i0 = arange_int(start, "start"), i1 = arange_int(stop, "stop");
      int64_t di = step.is_none() ? 1 : arange_int(step, "step");
      auto fits32 = [](int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; };
      Dtype wide = fits32(i0) && fits32(i1) && fits32(di) ? Dtype::int32 : Dtype::int64;
      Dtype t = dtype.is_none() ? wide : *to_dtype(dtype);
      return integer_arange(i0, i1, di, t, to_stream(s));
    }
    Dtype t = dtype.is_none() ? Dtype::float32 : *to_dtype(dtype);
    double st = step.is_none() ? 1.0 : nb::cast<double>(step);
    return arange(nb::cast<double>(start), nb::cast<double>(stop), st, t, to_stream(s));
  }, "start"_a, "stop"_a = nb::none(), "step"_a = nb::none(), "dtype"_a = nb::none(), nb::kw_only(),
     "stream"_a = nb::none());
  m.def("linspace", [](double start, double stop, int64_t num, bool endpoint, nb::handle dtype,
                       nb::handle s) {
    return linspace(start, stop, num, endpoint, to_dtype(dtype).value_or(Dtype::float32), to_stream(s));
  }, "start"_a, "stop"_a, "num"_a = 50, "endpoint"_a = true, "dtype"_a = nb::none(), nb::kw_only(),
     "stream"_a = nb::none());
  m.def("full", [](nb::handle shape, nb::handle vals, nb::handle dtype, nb::handle s) {
    auto d = to_dtype(dtype);
    array v = to_array(vals, d);
    return full(to_shape(shape, "full"), v, v.dtype(), to_stream(s));
  }, "shape"_a, "vals"_a, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("zeros", [](nb::handle shape, nb::handle dtype, nb::handle s) {
    return zeros(to_shape(shape, "zeros"), to_dtype(dtype).value_or(Dtype::float32), to_stream(s));
  }, "shape"_a, "dtype"_a = Dtype::float32, nb::kw_only(), "stream"_a = nb::none());
  m.def("ones", [](nb::handle shape, nb::handle dtype, nb::handle s) {
    return ones(to_shape(shape, "ones"), to_dtype(dtype).value_or(Dtype::float32), to_stream(s));
  }, "shape"_a, "dtype"_a = Dtype::float32, nb::kw_only(), "stream"_a = nb::none());
  m.def("zeros_like", [](const array& a, nb::handle dtype, nb::handle s) {
    return zeros(a.shape(), to_dtype(dtype).value_or(a.dtype()), to_stream(s));
  }, "a"_a, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("ones_like", [](const array& a, nb::handle dtype, nb::handle s) {
    return ones(a.shape(), to_dtype(dtype).value_or(a.dtype()), to_stream(s));
  }, "a"_a, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("full_like", [](const array& a, nb::handle vals, nb::handle dtype, nb::handle s) {
    Dtype t = to_dtype(dtype).value_or(a.dtype());
    return full(a.shape(), to_array_weak(vals, t), t, to_stream(s));
  }, "a"_a, "vals"_a, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("eye", [](int64_t n, std::optional<int64_t> mm, int k, nb::handle dtype, nb::handle s) {
    return eye(n, mm.value_or(n), k, to_dtype(dtype).value_or(Dtype::float32), to_stream(s));
  }, "n"_a, "m"_a = nb::none(), "k"_a = 0, "dtype"_a = Dtype::float32, nb::kw_only(),
     "stream"_a = nb::none());
  m.def("identity", [](int64_t n, nb::handle dtype, nb::handle s) {
    return identity(n, to_dtype(dtype).value_or(Dtype::float32), to_stream(s));
  }, "n"_a, "dtype"_a = Dtype::float32, nb::kw_only(), "stream"_a = nb::none());

  // ---- reductions ----
#define PB_REDUCE(name)                                                                   \
  m.def(#name, [](nb::handle a, nb::handle axis, bool keepdims, nb::handle s) {           \
    return name(to_array(a), to_axes(axis), keepdims, to_stream(s));                      \
  }, "a"_a, "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  PB_REDUCE(sum) PB_REDUCE(mean) PB_REDUCE(prod) PB_REDUCE(max) PB_REDUCE(min) PB_REDUCE(all)
  PB_REDUCE(any) PB_REDUCE(logsumexp)
#undef PB_REDUCE
  m.def("var", [](nb::handle a, nb::handle axis, bool keepdims, int ddof, nb::handle s) {
    return var(to_array(a), to_axes(axis), keepdims, ddof, to_stream(s));
  }, "a"_a, "axis"_a = nb::none(), "keepdims"_a = false, "ddof"_a = 0, nb::kw_only(),
     "stream"_a = nb::none());
  m.def("std", [](nb::handle a, nb::handle axis, bool keepdims, int ddof, nb::handle s) {
    return pullback::std(to_array(a), to_axes(axis), keepdims, ddof, to_stream(s));
  }, "a"_a, "axis"_a = nb::none(), "keepdims"_a = false, "ddof"_a = 0, nb::kw_only(),
     "stream"_a = nb::none());
  m.def("argmax", [](nb::handle a, std::optional<int> axis, bool keepdims, nb::handle s) {
    return argmax(to_array(a), axis, keepdims, to_stream(s));
  }, "a"_a, "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  m.def("argmin", [](nb::handle a, std::optional<int> axis, bool keepdims, nb::handle s) {
    return argmin(to_array(a), axis, keepdims, to_stream(s));
  }, "a"_a, "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  m.def("softmax", [](nb::handle a, nb::handle axis, bool precise, nb::handle s) {
    return softmax(to_array(a), to_axes(axis), precise, to_stream(s));
  }, "a"_a, "axis"_a = nb::none(), nb::kw_only(), "precise"_a = false, "stream"_a = nb::none());

  // ---- shape ----
  m.def("reshape", [](nb::handle a, nb::handle shape, nb::handle s) {
    return reshape(to_array(a), to_shape(shape, "reshape"), to_stream(s));
  }, "a"_a, "shape"_a, nb::kw_only(), "stream"_a = nb::none());
  m.def("transpose", [](nb::handle a, nb::handle axes, nb::handle s) {
    array x = to_array(a);
    if (axes.is_none()) return transpose(x, to_stream(s));
    return transpose(x, *to_axes(axes), to_stream(s));
  }, "a"_a, "axes"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.attr("permute_dims") = m.attr("transpose");
  m.def("swapaxes", [](nb::handle a, int a1, int a2, nb::handle s) {
    return swapaxes(to_array(a), a1, a2, to_stream(s));
  }, "a"_a, "axis1"_a, "axis2"_a, nb::kw_only(), "stream"_a = nb::none());
  m.def("moveaxis", [](nb::handle a, int src, int dst, nb::handle s) {
    return moveaxis(to_array(a), src, dst, to_stream(s));
  }, "a"_a, "source"_a, "destination"_a, nb::kw_only(), "stream"_a = nb::none());
  m.def("squeeze", [](nb::handle a, nb::handle axis, nb::handle s) {
    return squeeze(to_array(a), to_axes(axis), to_stream(s));
  }, "a"_a, "axis"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("expand_dims", [](nb::handle a, nb::handle axis, nb::handle s) {
    return expand_dims(to_array(a), *to_axes(axis), to_stream(s));
  }, "a"_a, "axis"_a, nb::kw_only(), "stream"_a = nb::none());
  m.def("broadcast_to", [](nb::handle a, nb::handle shape, nb::handle s) {
    return broadcast_to(to_array(a), to_shape(shape, "broadcast_to"), to_stream(s));
  }, "a"_a, "shape"_a, nb::kw_only(), "stream"_a = nb::none());
  m.def("broadcast_arrays", [](nb::args arrays, nb::handle s) {
    return broadcast_arrays(to_arrays(arrays), to_stream(s));
  }, "arrays"_a, nb::kw_only(), "stream"_a = nb::none());
  m.def("broadcast_shapes", [](nb::args shapes) {
    Shape out;
    for (nb::handle sh : shapes) out = broadcast_shapes(out, to_shape(sh, "broadcast_shapes"));
    return nb::tuple(nb::cast(out));
  });
  m.def("flatten", [](nb::handle a, int start, int end, nb::handle s) {
    return flatten(to_array(a), start, end, to_stream(s));
  }, "a"_a, "start_axis"_a = 0, "end_axis"_a = -1, nb::kw_only(), "stream"_a = nb::none());
  auto concat = [](nb::handle arrays, std::optional<int> axis, nb::handle s) {
    return concatenate(to_arrays(arrays), axis, to_stream(s));
  };
  m.def("concatenate", concat, "arrays"_a, "axis"_a = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("concat", concat, "arrays"_a, "axis"_a = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("stack", [](nb::handle arrays, int axis, nb::handle s) {
    return stack(to_arrays(arrays), axis, to_stream(s));
  }, "arrays"_a, "axis"_a = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("split", [](nb::handle a, nb::handle sections, int axis, nb::handle s) {
    array x = to_array(a);
    if (PyLong_Check(sections.ptr())) return split(x, nb::cast<int64_t>(sections), axis, to_stream(s));
    return split(x, to_shape(sections, "split"), axis, to_stream(s));
  }, "a"_a, "indices_or_sections"_a, "axis"_a = 0, nb::kw_only(), "stream"_a = nb::none());

  m.def("array_equal", [](nb::handle a, nb::handle b, bool equal_nan, nb::handle s) {
    auto [x, y] = to_operands(a, b);
    if (x.shape() != y.shape()) return array(false);
    Stream st = to_stream(s);
    array eq = equal(x, y, st);
    if (equal_nan) eq = logical_or(eq, logical_and(isnan(x, st), isnan(y, st), st), st);
    return all(eq, std::nullopt, false, st);
  }, "a"_a, "b"_a, "equal_nan"_a = false, nb::kw_only(), "stream"_a = nb::none());
  m.def("isclose", [](nb::handle a, nb::handle b, double rtol, double atol, bool equal_nan,
                      nb::handle s) {
    auto [x, y] = to_operands(a, b);
    return isclose(x, y, rtol, atol, equal_nan, to_stream(s));
  }, "a"_a, "b"_a, "rtol"_a = 1e-5, "atol"_a = 1e-8, nb::kw_only(), "equal_nan"_a = false,
     "stream"_a = nb::none());
  m.def("allclose", [](nb::handle a, nb::handle b, double rtol, double atol, bool equal_nan,
                       nb::handle s) {
    auto [x, y] = to_operands(a, b);
    return allclose(x, y, rtol, atol, equal_nan, to_stream(s));
  }, "a"_a, "b"_a, "rtol"_a = 1e-5, "atol"_a = 1e-8, nb::kw_only(), "equal_nan"_a = false,
     "stream"_a = nb::none());

  m.attr("pi") = M_PI;
  m.attr("e") = M_E;
  m.attr("inf") = INFINITY;
  m.attr("nan") = NAN;
  m.attr("euler_gamma") = 0.5772156649015329;
  m.attr("newaxis") = nb::none();
}

}  // namespace pullback::python
