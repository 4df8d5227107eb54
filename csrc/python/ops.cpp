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

// A sequence of array-likes (concatenate's arrays, ...), each converted for `op`.
std::vector<array> to_arrays(nb::handle seq, const char* op, const char* arg) {
  PyObject* p = seq.ptr();
  if (nb::isinstance<array>(seq) || PyUnicode_Check(p) || !PySequence_Check(p)) {
    throw nb::type_error((std::string("[") + op + "] " + arg + " must be a list or tuple of arrays; got " +
                          nb::type_name(seq.type()).c_str() + ".").c_str());
  }
  nb::object items = nb::steal(PySequence_Tuple(p));
  if (!items.is_valid()) throw nb::python_error();
  std::vector<array> out;
  for (nb::handle h : nb::borrow<nb::tuple>(items)) out.push_back(to_array(h, std::nullopt, op));
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

}  // namespace

std::vector<array> split_binding(const array& x, nb::handle sections, nb::handle axis, nb::handle s) {
  int ax = to_axis(axis, "split");
  Stream st = to_stream(s, "split");
  PyObject* p = sections.ptr();
  if (PyLong_Check(p) || (PyIndex_Check(p) && !PySequence_Check(p))) {
    return split(x, to_int(sections, "split", "indices_or_sections"), ax, st);
  }
  return split(x, to_int_list(sections, "split", "indices_or_sections"), ax, st);
}

void init_ops(nb::module_& m) {
#define PB_UNARY(name)                                                                      \
  m.def(#name, [](nb::handle a, nb::handle s) {                                              \
    return name(to_array(a, std::nullopt, #name), to_stream(s, #name));                      \
  }, nb::arg("a").none(), nb::kw_only(), "stream"_a = nb::none());
  PB_UNARY(abs) PB_UNARY(negative) PB_UNARY(sign) PB_UNARY(exp) PB_UNARY(expm1) PB_UNARY(log)
  PB_UNARY(log1p) PB_UNARY(log2) PB_UNARY(log10) PB_UNARY(sqrt) PB_UNARY(rsqrt) PB_UNARY(square)
  PB_UNARY(reciprocal) PB_UNARY(sin) PB_UNARY(cos) PB_UNARY(tan) PB_UNARY(arcsin) PB_UNARY(arccos)
  PB_UNARY(arctan) PB_UNARY(sinh) PB_UNARY(cosh) PB_UNARY(tanh) PB_UNARY(arcsinh)
  PB_UNARY(arccosh) PB_UNARY(arctanh) PB_UNARY(sigmoid) PB_UNARY(erf) PB_UNARY(erfinv)
  PB_UNARY(floor) PB_UNARY(ceil) PB_UNARY(isnan) PB_UNARY(isinf) PB_UNARY(isfinite)
  PB_UNARY(isposinf) PB_UNARY(isneginf) PB_UNARY(logical_not) PB_UNARY(stop_gradient)
  PB_UNARY(conjugate) PB_UNARY(real) PB_UNARY(imag) PB_UNARY(bitwise_invert)
#undef PB_UNARY
  m.attr("conj") = m.attr("conjugate");
  m.def("positive", [](nb::handle a, nb::handle s) {
    to_stream(s, "positive");
    return to_array(a, std::nullopt, "positive");
  }, nb::arg("a").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("round", [](nb::handle a, nb::handle decimals, nb::handle s) {
    return round(to_array(a, std::nullopt, "round"), to_axis(decimals, "round", "decimals"),
                 to_stream(s, "round"));
  }, nb::arg("a").none(), nb::arg("decimals").none() = 0, nb::kw_only(), "stream"_a = nb::none());

#define PB_BINARY(name)                                                      \
  m.def(#name, [](nb::handle a, nb::handle b, nb::handle s) {                \
    auto [x, y] = to_operands(a, b, #name);                                  \
    return name(x, y, to_stream(s, #name));                                  \
  }, nb::arg("a").none(), nb::arg("b").none(), nb::kw_only(), "stream"_a = nb::none());
  PB_BINARY(add) PB_BINARY(subtract) PB_BINARY(multiply) PB_BINARY(divide) PB_BINARY(floor_divide)
  PB_BINARY(remainder) PB_BINARY(power) PB_BINARY(maximum) PB_BINARY(minimum) PB_BINARY(arctan2)
  PB_BINARY(logaddexp) PB_BINARY(equal) PB_BINARY(not_equal) PB_BINARY(less) PB_BINARY(less_equal)
  PB_BINARY(greater) PB_BINARY(greater_equal)
  PB_BINARY(matmul) PB_BINARY(bitwise_and) PB_BINARY(bitwise_or) PB_BINARY(bitwise_xor)
  PB_BINARY(left_shift) PB_BINARY(right_shift)
#undef PB_BINARY
#define PB_LOGICAL(name)                                                        \
  m.def(#name, [](nb::handle a, nb::handle b, nb::handle s) {                  \
    auto [x, y] = to_logical_operands(a, b, #name);                             \
    return name(x, y, to_stream(s, #name));                                     \
  }, nb::arg("a").none(), nb::arg("b").none(), nb::kw_only(), "stream"_a = nb::none());
  PB_LOGICAL(logical_and) PB_LOGICAL(logical_or)
#undef PB_LOGICAL

  m.def("where", [](nb::handle c, nb::handle x, nb::handle y, nb::handle s) {
    auto [a, b] = to_operands(x, y, "where");
    return where(to_array(c, std::nullopt, "where"), a, b, to_stream(s, "where"));
  }, nb::arg("condition").none(), nb::arg("x").none(), nb::arg("y").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("astype", [](nb::handle a, Dtype t, nb::handle s) {
    return astype(to_array(a, std::nullopt, "astype"), t, to_stream(s, "astype"));
  }, nb::arg("a").none(), "dtype"_a, nb::kw_only(), "stream"_a = nb::none());

  // ---- creation ----
  m.def("arange", [](nb::handle a, nb::handle b, nb::handle c, nb::handle dtype, nb::handle s) {
    // MLX's two forms: arange(start, stop, step) and arange(stop, step), so stop= alone works.
    nb::handle start = a, stop = b, step = c;
    nb::object zero = nb::int_(0);
    if (stop.is_none()) {
      stop = a;
      start = zero;
    } else if (start.is_none()) {
      start = zero;
    }
    if (stop.is_none()) throw std::invalid_argument("[arange] A stop value is required.");
    bool all_int = is_int_like(start) && is_int_like(stop) && (step.is_none() || is_int_like(step));
    if (all_int) {
      // Integers stay exact (float64 would round them beyond 2**53); the default dtype is
      // int32 unless a bound or the step needs int64, as in MLX.
      int64_t i0 = to_int(start, "arange", "start"), i1 = to_int(stop, "arange", "stop");
      int64_t di = step.is_none() ? 1 : to_int(step, "arange", "step");
      auto fits32 = [](int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; };
      Dtype wide = fits32(i0) && fits32(i1) && fits32(di) ? Dtype::int32 : Dtype::int64;
      Dtype t = dtype.is_none() ? wide : *to_dtype(dtype, "arange");
      return integer_arange(i0, i1, di, t, to_stream(s, "arange"));
    }
    Dtype t = dtype.is_none() ? Dtype::float32 : *to_dtype(dtype, "arange");
    double st = step.is_none() ? 1.0 : to_float(step, "arange", "step");
    return arange(to_float(start, "arange", "start"), to_float(stop, "arange", "stop"), st, t,
                  to_stream(s, "arange"));
  }, nb::arg("start").none() = nb::none(), nb::arg("stop").none() = nb::none(), nb::arg("step").none() = nb::none(), "dtype"_a = nb::none(), nb::kw_only(),
     "stream"_a = nb::none());
  m.def("linspace", [](nb::handle start, nb::handle stop, nb::handle num, bool endpoint,
                       nb::handle dtype, nb::handle s) {
    return linspace(to_float(start, "linspace", "start"), to_float(stop, "linspace", "stop"),
                    to_int(num, "linspace", "num"), endpoint,
                    to_dtype(dtype, "linspace").value_or(Dtype::float32), to_stream(s, "linspace"));
  }, nb::arg("start").none(), nb::arg("stop").none(), nb::arg("num").none() = 50, "endpoint"_a = true, "dtype"_a = nb::none(), nb::kw_only(),
     "stream"_a = nb::none());
  m.def("full", [](nb::handle shape, nb::handle vals, nb::handle dtype, nb::handle s) {
    auto d = to_dtype(dtype, "full");
    Shape sh = to_shape(shape, "full");
    array v = to_array(vals, d, "full");
    return full(sh, v, v.dtype(), to_stream(s, "full"));
  }, nb::arg("shape").none(), nb::arg("vals").none(), "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("zeros", [](nb::handle shape, nb::handle dtype, nb::handle s) {
    return zeros(to_shape(shape, "zeros"), to_dtype(dtype, "zeros").value_or(Dtype::float32),
               to_stream(s, "zeros"));
  }, nb::arg("shape").none(), "dtype"_a = Dtype::float32, nb::kw_only(), "stream"_a = nb::none());
  m.def("ones", [](nb::handle shape, nb::handle dtype, nb::handle s) {
    return ones(to_shape(shape, "ones"), to_dtype(dtype, "ones").value_or(Dtype::float32),
               to_stream(s, "ones"));
  }, nb::arg("shape").none(), "dtype"_a = Dtype::float32, nb::kw_only(), "stream"_a = nb::none());
  m.def("zeros_like", [](nb::handle x, nb::handle dtype, nb::handle s) {
    array a = to_array(x, std::nullopt, "zeros_like");
    return zeros(a.shape(), to_dtype(dtype, "zeros_like").value_or(a.dtype()), to_stream(s, "zeros_like"));
  }, nb::arg("a").none(), "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("ones_like", [](nb::handle x, nb::handle dtype, nb::handle s) {
    array a = to_array(x, std::nullopt, "ones_like");
    return ones(a.shape(), to_dtype(dtype, "ones_like").value_or(a.dtype()), to_stream(s, "ones_like"));
  }, nb::arg("a").none(), "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("full_like", [](nb::handle x, nb::handle vals, nb::handle dtype, nb::handle s) {
    array a = to_array(x, std::nullopt, "full_like");
    Dtype t = to_dtype(dtype, "full_like").value_or(a.dtype());
    return full(a.shape(), to_array_weak(vals, t, "full_like"), t, to_stream(s, "full_like"));
  }, nb::arg("a").none(), nb::arg("vals").none(), "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("eye", [](nb::handle n, nb::handle m_, nb::handle k, nb::handle dtype, nb::handle s) {
    int64_t rows = to_int(n, "eye", "n");
    int64_t cols = m_.is_none() ? rows : to_int(m_, "eye", "m");
    return eye(rows, cols, to_axis(k, "eye", "k"), to_dtype(dtype, "eye").value_or(Dtype::float32),
               to_stream(s, "eye"));
  }, nb::arg("n").none(), nb::arg("m").none() = nb::none(), nb::arg("k").none() = 0, "dtype"_a = Dtype::float32, nb::kw_only(),
     "stream"_a = nb::none());
  m.def("identity", [](nb::handle n, nb::handle dtype, nb::handle s) {
    return identity(to_int(n, "identity", "n"), to_dtype(dtype, "identity").value_or(Dtype::float32),
                    to_stream(s, "identity"));
  }, nb::arg("n").none(), "dtype"_a = Dtype::float32, nb::kw_only(), "stream"_a = nb::none());

  // ---- reductions ----
#define PB_REDUCE(name)                                                                   \
  m.def(#name, [](nb::handle a, nb::handle axis, bool keepdims, nb::handle s) {           \
    return name(to_array(a, std::nullopt, #name), to_axes(axis, #name), keepdims,         \
                to_stream(s, #name));                                                     \
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  PB_REDUCE(sum) PB_REDUCE(mean) PB_REDUCE(prod) PB_REDUCE(max) PB_REDUCE(min) PB_REDUCE(all)
  PB_REDUCE(any) PB_REDUCE(logsumexp)
#undef PB_REDUCE
  m.def("var", [](nb::handle a, nb::handle axis, bool keepdims, nb::handle ddof, nb::handle s) {
    return var(to_array(a, std::nullopt, "var"), to_axes(axis, "var"), keepdims,
               to_axis(ddof, "var", "ddof"), to_stream(s, "var"));
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::arg("ddof").none() = 0, nb::kw_only(),
     "stream"_a = nb::none());
  m.def("std", [](nb::handle a, nb::handle axis, bool keepdims, nb::handle ddof, nb::handle s) {
    return pullback::std(to_array(a, std::nullopt, "std"), to_axes(axis, "std"), keepdims,
                         to_axis(ddof, "std", "ddof"), to_stream(s, "std"));
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::arg("ddof").none() = 0, nb::kw_only(),
     "stream"_a = nb::none());
  m.def("argmax", [](nb::handle a, nb::handle axis, bool keepdims, nb::handle s) {
    return argmax(to_array(a, std::nullopt, "argmax"), to_optional_axis(axis, "argmax"), keepdims,
                  to_stream(s, "argmax"));
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  m.def("argmin", [](nb::handle a, nb::handle axis, bool keepdims, nb::handle s) {
    return argmin(to_array(a, std::nullopt, "argmin"), to_optional_axis(axis, "argmin"), keepdims,
                  to_stream(s, "argmin"));
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none());
  m.def("softmax", [](nb::handle a, nb::handle axis, bool precise, nb::handle s) {
    return softmax(to_array(a, std::nullopt, "softmax"), to_axes(axis, "softmax"), precise,
                   to_stream(s, "softmax"));
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), nb::kw_only(), "precise"_a = false, "stream"_a = nb::none());

  // ---- shape ----
  m.def("reshape", [](nb::handle a, nb::handle shape, nb::handle s) {
    return reshape(to_array(a, std::nullopt, "reshape"), to_shape(shape, "reshape", "shape", true),
                   to_stream(s, "reshape"));
  }, nb::arg("a").none(), nb::arg("shape").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("transpose", [](nb::handle a, nb::handle axes, nb::handle s) {
    array x = to_array(a, std::nullopt, "transpose");
    Stream st = to_stream(s, "transpose");
    if (axes.is_none()) return transpose(x, st);
    return transpose(x, *to_axes(axes, "transpose", "axes"), st);
  }, nb::arg("a").none(), nb::arg("axes").none() = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.attr("permute_dims") = m.attr("transpose");
  m.def("swapaxes", [](nb::handle a, nb::handle a1, nb::handle a2, nb::handle s) {
    return swapaxes(to_array(a, std::nullopt, "swapaxes"), to_axis(a1, "swapaxes", "axis1"),
                    to_axis(a2, "swapaxes", "axis2"), to_stream(s, "swapaxes"));
  }, nb::arg("a").none(), nb::arg("axis1").none(), nb::arg("axis2").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("moveaxis", [](nb::handle a, nb::handle src, nb::handle dst, nb::handle s) {
    return moveaxis(to_array(a, std::nullopt, "moveaxis"), to_axis(src, "moveaxis", "source"),
                    to_axis(dst, "moveaxis", "destination"), to_stream(s, "moveaxis"));
  }, nb::arg("a").none(), nb::arg("source").none(), nb::arg("destination").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("squeeze", [](nb::handle a, nb::handle axis, nb::handle s) {
    return squeeze(to_array(a, std::nullopt, "squeeze"), to_axes(axis, "squeeze"),
                   to_stream(s, "squeeze"));
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("expand_dims", [](nb::handle a, nb::handle axis, nb::handle s) {
    array x = to_array(a, std::nullopt, "expand_dims");
    if (axis.is_none()) throw nb::type_error("[expand_dims] axis must be an int or a sequence of ints; got None.");
    Axes axes = *to_axes(axis, "expand_dims");
    Shape out(static_cast<size_t>(x.ndim()) + axes.size(), 1);
    check_ndim(out, "expand_dims");
    return expand_dims(x, axes, to_stream(s, "expand_dims"));
  }, nb::arg("a").none(), nb::arg("axis").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("broadcast_to", [](nb::handle a, nb::handle shape, nb::handle s) {
    return broadcast_to(to_array(a, std::nullopt, "broadcast_to"), to_shape(shape, "broadcast_to"),
                        to_stream(s, "broadcast_to"));
  }, nb::arg("a").none(), nb::arg("shape").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("broadcast_arrays", [](nb::args arrays, nb::handle s) {
    return broadcast_arrays(to_arrays(arrays, "broadcast_arrays", "arrays"),
                            to_stream(s, "broadcast_arrays"));
  }, "arrays"_a, nb::kw_only(), "stream"_a = nb::none());
  m.def("broadcast_shapes", [](nb::args shapes) {
    if (shapes.size() == 0) throw std::invalid_argument("[broadcast_shapes] Must provide at least one shape.");
    Shape out;
    for (nb::handle sh : shapes) out = broadcast_shapes(out, to_shape(sh, "broadcast_shapes", "shapes"));
    return nb::tuple(nb::cast(out));
  });
  m.def("flatten", [](nb::handle a, nb::handle start, nb::handle end, nb::handle s) {
    return flatten(to_array(a, std::nullopt, "flatten"), to_axis(start, "flatten", "start_axis"),
                   to_axis(end, "flatten", "end_axis"), to_stream(s, "flatten"));
  }, nb::arg("a").none(), nb::arg("start_axis").none() = 0, nb::arg("end_axis").none() = -1, nb::kw_only(), "stream"_a = nb::none());
  m.def("concatenate", [](nb::handle arrays, nb::handle axis, nb::handle s) {
    return concatenate(to_arrays(arrays, "concatenate", "arrays"),
                       to_optional_axis(axis, "concatenate"), to_stream(s, "concatenate"));
  }, nb::arg("arrays").none(), nb::arg("axis").none() = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("concat", [](nb::handle arrays, nb::handle axis, nb::handle s) {
    return concatenate(to_arrays(arrays, "concat", "arrays"), to_optional_axis(axis, "concat"),
                       to_stream(s, "concat"));
  }, nb::arg("arrays").none(), nb::arg("axis").none() = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("stack", [](nb::handle arrays, nb::handle axis, nb::handle s) {
    return stack(to_arrays(arrays, "stack", "arrays"), to_axis(axis, "stack"), to_stream(s, "stack"));
  }, nb::arg("arrays").none(), nb::arg("axis").none() = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("split", [](nb::handle a, nb::handle sections, nb::handle axis, nb::handle s) {
    return split_binding(to_array(a, std::nullopt, "split"), sections, axis, s);
  }, nb::arg("a").none(), nb::arg("indices_or_sections").none(), nb::arg("axis").none() = 0, nb::kw_only(), "stream"_a = nb::none());

  m.def("array_equal", [](nb::handle a, nb::handle b, bool equal_nan, nb::handle s) {
    auto [x, y] = to_operands(a, b, "array_equal");
    Stream st = to_stream(s, "array_equal");
    if (x.shape() != y.shape()) return array(false);
    array eq = equal(x, y, st);
    if (equal_nan) eq = logical_or(eq, logical_and(isnan(x, st), isnan(y, st), st), st);
    return all(eq, std::nullopt, false, st);
  }, nb::arg("a").none(), nb::arg("b").none(), "equal_nan"_a = false, nb::kw_only(), "stream"_a = nb::none());
  m.def("isclose", [](nb::handle a, nb::handle b, nb::handle rtol, nb::handle atol, bool equal_nan,
                      nb::handle s) {
    auto [x, y] = to_operands(a, b, "isclose");
    return isclose(x, y, to_float(rtol, "isclose", "rtol"), to_float(atol, "isclose", "atol"), equal_nan,
                to_stream(s, "isclose"));
  }, nb::arg("a").none(), nb::arg("b").none(), nb::arg("rtol").none() = 1e-5, nb::arg("atol").none() = 1e-8, nb::kw_only(), "equal_nan"_a = false,
     "stream"_a = nb::none());
  m.def("allclose", [](nb::handle a, nb::handle b, nb::handle rtol, nb::handle atol, bool equal_nan,
                      nb::handle s) {
    auto [x, y] = to_operands(a, b, "allclose");
    return allclose(x, y, to_float(rtol, "allclose", "rtol"), to_float(atol, "allclose", "atol"), equal_nan,
                to_stream(s, "allclose"));
  }, nb::arg("a").none(), nb::arg("b").none(), nb::arg("rtol").none() = 1e-5, nb::arg("atol").none() = 1e-8, nb::kw_only(), "equal_nan"_a = false,
     "stream"_a = nb::none());

  m.attr("pi") = M_PI;
  m.attr("e") = M_E;
  m.attr("inf") = INFINITY;
  m.attr("nan") = NAN;
  m.attr("euler_gamma") = 0.5772156649015329;
  m.attr("newaxis") = nb::none();
}

}  // namespace pullback::python
