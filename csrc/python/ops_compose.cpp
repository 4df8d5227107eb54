// Bindings of the composed ops (csrc/pullback/ops_compose.h) and of the dtype helpers isdtype,
// can_cast and asarray.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "python/bindings.h"
#include "python/convert.h"

namespace pullback::python {

using namespace nb::literals;

namespace {

std::string py_type_name(nb::handle h) { return nb::type_name(h.type()).c_str(); }

bool is_sequence(nb::handle h) {
  return PySequence_Check(h.ptr()) && !PyUnicode_Check(h.ptr()) && !nb::isinstance<array>(h);
}

// pad_width: an int, (n,), (before, after), or a sequence of such pairs (one per axis, or one
// for all axes).
std::vector<std::pair<int64_t, int64_t>> to_pad_width(nb::handle h) {
  const char* op = "pad";
  auto pair_of = [&](nb::handle p) -> std::pair<int64_t, int64_t> {
    if (!is_sequence(p)) {
      int64_t v = to_int(p, op, "pad_width");
      return {v, v};
    }
    std::vector<int64_t> v = to_int_list(p, op, "pad_width");
    if (v.size() == 1) return {v[0], v[0]};
    if (v.size() == 2) return {v[0], v[1]};
    throw std::invalid_argument("[pad] Each entry of pad_width must be an int or a (before, after) pair; got " +
                                std::to_string(v.size()) + " values.");
  };
  if (!is_sequence(h)) return {pair_of(h)};
  nb::object items = nb::steal(PySequence_Tuple(h.ptr()));
  if (!items.is_valid()) throw nb::python_error();
  nb::tuple t = nb::borrow<nb::tuple>(items);
  if (t.size() == 0) return {};
  bool nested = false;
  for (nb::handle x : t) nested = nested || is_sequence(x);
  if (!nested) return {pair_of(h)};
  std::vector<std::pair<int64_t, int64_t>> out;
  for (nb::handle x : t) out.push_back(pair_of(x));
  return out;
}

std::vector<array> arrays_of(const nb::args& args, const char* op) {
  std::vector<array> out;
  for (nb::handle h : args) out.push_back(to_array(h, std::nullopt, op));
  return out;
}

nb::object one_or_list(std::vector<array> v) {
  if (v.size() == 1) return nb::cast(v[0]);
  return nb::cast(v);
}

// The kinds of the array API's isdtype.
bool dtype_is_kind(Dtype t, const std::string& kind) {
  if (kind == "bool") return t == Dtype::bool_;
  if (kind == "signed integer") return is_signed_int(t);
  if (kind == "unsigned integer") return is_unsigned(t);
  if (kind == "integral") return is_integral(t);
  if (kind == "real floating") return is_floating(t);
  if (kind == "complex floating") return is_complex(t);
  if (kind == "numeric") return t != Dtype::bool_;
  throw std::invalid_argument("[isdtype] Unknown data type kind: '" + kind + "'.");
}

bool kind_matches(Dtype t, nb::handle kind) {
  if (nb::isinstance<Dtype>(kind)) return t == nb::cast<Dtype>(kind);
  if (PyUnicode_Check(kind.ptr())) return dtype_is_kind(t, nb::cast<std::string>(kind));
  throw std::invalid_argument("[isdtype] kind must be a Dtype, a string, or a tuple of them; got " +
                              py_type_name(kind) + ".");
}

}  // namespace

void init_compose(nb::module_& m) {
  m.def("pad", [](nb::handle a, nb::handle width, nb::handle mode, nb::handle cv, nb::handle s) {
    array x = to_array(a, std::nullopt, "pad");
    if (!PyUnicode_Check(mode.ptr())) {
      throw nb::type_error(("[pad] mode must be a string; got " + py_type_name(mode) + ".").c_str());
    }
    return pad(x, to_pad_width(width), nb::cast<std::string>(mode), to_array_weak(cv, x.dtype(), "pad"),
               to_stream(s, "pad"));
  }, nb::arg("a").none(), nb::arg("pad_width").none(), nb::arg("mode").none() = "constant",
     nb::arg("constant_values").none() = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("repeat", [](nb::handle a, nb::handle repeats, nb::handle axis, nb::handle s) {
    return repeat(to_array(a, std::nullopt, "repeat"), to_int(repeats, "repeat", "repeats"),
                  to_optional_axis(axis, "repeat"), to_stream(s, "repeat"));
  }, nb::arg("array").none(), nb::arg("repeats").none(), nb::arg("axis").none() = nb::none(), nb::kw_only(),
     "stream"_a = nb::none());
  m.def("tile", [](nb::handle a, nb::handle reps, nb::handle s) {
    return tile(to_array(a, std::nullopt, "tile"), to_int_list(reps, "tile", "reps"), to_stream(s, "tile"));
  }, nb::arg("a").none(), nb::arg("reps").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("roll", [](nb::handle a, nb::handle shift, nb::handle axis, nb::handle s) {
    auto shifts = to_int_list(shift, "roll", "shift");
    auto axes = to_axes(axis, "roll");
    // An int shift applies to every axis; a sequence needs one per axis (MLX).
    if (axes && !nb::isinstance<nb::int_>(shift) && shifts.size() < axes->size()) {
      throw std::invalid_argument("[roll] At least one shift value per axis is required, " +
                                  std::to_string(shifts.size()) + " provided for " +
                                  std::to_string(axes->size()) + " axes.");
    }
    return roll(to_array(a, std::nullopt, "roll"), shifts, axes, to_stream(s, "roll"));
  }, nb::arg("a").none(), nb::arg("shift").none(), nb::arg("axis").none() = nb::none(), nb::kw_only(),
     "stream"_a = nb::none());
  m.def("flip", [](nb::handle a, nb::handle axis, nb::handle s) {
    return flip(to_array(a, std::nullopt, "flip"), to_axes(axis, "flip"), to_stream(s, "flip"));
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("unflatten", [](nb::handle a, nb::handle axis, nb::handle shape, nb::handle s) {
    return unflatten(to_array(a, std::nullopt, "unflatten"), to_axis(axis, "unflatten"),
                     to_shape(shape, "unflatten", "shape", true), to_stream(s, "unflatten"));
  }, nb::arg("a").none(), nb::arg("axis").none(), nb::arg("shape").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("unstack", [](nb::handle a, nb::handle axis, nb::handle s) {
    return nb::tuple(nb::cast(unstack(to_array(a, std::nullopt, "unstack"), to_axis(axis, "unstack"),
                                      to_stream(s, "unstack"))));
  }, nb::arg("x").none(), nb::kw_only(), nb::arg("axis").none() = 0, "stream"_a = nb::none());
#define PB_ATLEAST(n)                                                                    \
  m.def("atleast_" #n "d", [](nb::args arys, nb::handle s) {                             \
    Stream st = to_stream(s, "atleast_" #n "d");                                         \
    std::vector<array> out;                                                              \
    for (auto& x : arrays_of(arys, "atleast_" #n "d")) out.push_back(atleast_nd(x, n, st)); \
    return one_or_list(out);                                                             \
  }, "arys"_a, nb::kw_only(), "stream"_a = nb::none());
  PB_ATLEAST(1) PB_ATLEAST(2) PB_ATLEAST(3)
#undef PB_ATLEAST
  m.def("matrix_transpose", [](nb::handle a, nb::handle s) {
    return matrix_transpose(to_array(a, std::nullopt, "matrix_transpose"), to_stream(s, "matrix_transpose"));
  }, nb::arg("a").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("diff", [](nb::handle a, nb::handle n, nb::handle axis, nb::handle s) {
    return diff(to_array(a, std::nullopt, "diff"), to_axis(n, "diff", "n"), to_axis(axis, "diff"),
                to_stream(s, "diff"));
  }, nb::arg("a").none(), nb::arg("n").none() = 1, nb::arg("axis").none() = -1, nb::kw_only(), "stream"_a = nb::none());
  m.def("meshgrid", [](nb::args arrays, nb::handle sparse, nb::handle indexing, nb::handle s) {
    bool sp = !sparse.is_none() && nb::cast<bool>(sparse);
    std::string ix = indexing.is_none() ? "xy" : nb::cast<std::string>(indexing);
    return nb::tuple(nb::cast(meshgrid(arrays_of(arrays, "meshgrid"), sp, ix, to_stream(s, "meshgrid"))));
  }, "arrays"_a, "sparse"_a.none() = false, "indexing"_a.none() = "xy", "stream"_a = nb::none());

  m.def("tri", [](nb::handle n, nb::handle m_, nb::handle k, nb::handle dtype, nb::handle s) {
    int64_t rows = to_int(n, "tri", "n");
    int64_t cols = m_.is_none() ? rows : to_int(m_, "tri", "m");
    return tri(rows, cols, to_axis(k, "tri", "k"), to_dtype(dtype, "tri").value_or(Dtype::float32),
               to_stream(s, "tri"));
  }, nb::arg("n").none(), nb::arg("m").none() = nb::none(), nb::arg("k").none() = 0, "dtype"_a = nb::none(),
     nb::kw_only(), "stream"_a = nb::none());
  m.def("tril", [](nb::handle x, nb::handle k, nb::handle s) {
    return tril(to_array(x, std::nullopt, "tril"), to_axis(k, "tril", "k"), to_stream(s, "tril"));
  }, nb::arg("x").none(), nb::arg("k").none() = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("triu", [](nb::handle x, nb::handle k, nb::handle s) {
    return triu(to_array(x, std::nullopt, "triu"), to_axis(k, "triu", "k"), to_stream(s, "triu"));
  }, nb::arg("x").none(), nb::arg("k").none() = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("diag", [](nb::handle a, nb::handle k, nb::handle s) {
    return diag(to_array(a, std::nullopt, "diag"), to_axis(k, "diag", "k"), to_stream(s, "diag"));
  }, nb::arg("a").none(), nb::arg("k").none() = 0, nb::kw_only(), "stream"_a = nb::none());
  m.def("diagonal", [](nb::handle a, nb::handle off, nb::handle a1, nb::handle a2, nb::handle s) {
    return diagonal(to_array(a, std::nullopt, "diagonal"), to_axis(off, "diagonal", "offset"),
                    to_axis(a1, "diagonal", "axis1"), to_axis(a2, "diagonal", "axis2"), to_stream(s, "diagonal"));
  }, nb::arg("a").none(), nb::arg("offset").none() = 0, nb::arg("axis1").none() = 0, nb::arg("axis2").none() = 1,
     "stream"_a = nb::none());
  m.def("trace", [](nb::handle a, nb::handle off, nb::handle a1, nb::handle a2, nb::handle dtype, nb::handle s) {
    return trace(to_array(a, std::nullopt, "trace"), to_axis(off, "trace", "offset"),
                 to_axis(a1, "trace", "axis1"), to_axis(a2, "trace", "axis2"), to_dtype(dtype, "trace"),
                 to_stream(s, "trace"));
  }, nb::arg("a").none(), nb::arg("offset").none() = 0, nb::arg("axis1").none() = 0, nb::arg("axis2").none() = 1,
     "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none());

#define PB_PAIR(name)                                                                          \
  m.def(#name, [](nb::handle a, nb::handle b, nb::handle s) {                                  \
    return name(to_array(a, std::nullopt, #name), to_array(b, std::nullopt, #name), to_stream(s, #name)); \
  }, nb::arg("a").none(), nb::arg("b").none(), nb::kw_only(), "stream"_a = nb::none());
  PB_PAIR(outer) PB_PAIR(inner) PB_PAIR(kron)
#undef PB_PAIR
  m.def("vecdot", [](nb::handle a, nb::handle b, nb::handle axis, nb::handle s) {
    return vecdot(to_array(a, std::nullopt, "vecdot"), to_array(b, std::nullopt, "vecdot"),
                  to_axis(axis, "vecdot"), to_stream(s, "vecdot"));
  }, nb::arg("a").none(), nb::arg("b").none(), nb::kw_only(), nb::arg("axis").none() = -1, "stream"_a = nb::none());
  m.def("tensordot", [](nb::handle a, nb::handle b, nb::handle axes, nb::handle s) {
    array x = to_array(a, std::nullopt, "tensordot"), y = to_array(b, std::nullopt, "tensordot");
    Stream st = to_stream(s, "tensordot");
    if (!is_sequence(axes)) return tensordot(x, y, to_axis(axes, "tensordot", "axes"), st);
    nb::object items = nb::steal(PySequence_Tuple(axes.ptr()));
    if (!items.is_valid()) throw nb::python_error();
    nb::tuple t = nb::borrow<nb::tuple>(items);
    if (t.size() != 2 || !is_sequence(t[0]) || !is_sequence(t[1])) {
      throw nb::type_error("[tensordot] axes must be an int or a pair of sequences of axes.");
    }
    std::vector<int64_t> xa = to_int_list(t[0], "tensordot", "axes"), ya = to_int_list(t[1], "tensordot", "axes");
    Axes ax(xa.begin(), xa.end()), ay(ya.begin(), ya.end());
    return tensordot(x, y, ax, ay, st);
  }, nb::arg("a").none(), nb::arg("b").none(), nb::arg("axes").none() = 2, nb::kw_only(), "stream"_a = nb::none());
  m.def("addmm", [](nb::handle c, nb::handle a, nb::handle b, nb::handle alpha, nb::handle beta, nb::handle s) {
    return addmm(to_array(c, std::nullopt, "addmm"), to_array(a, std::nullopt, "addmm"),
                 to_array(b, std::nullopt, "addmm"), to_float(alpha, "addmm", "alpha"),
                 to_float(beta, "addmm", "beta"), to_stream(s, "addmm"));
  }, nb::arg("c").none(), nb::arg("a").none(), nb::arg("b").none(), nb::arg("alpha").none() = 1.0,
     nb::arg("beta").none() = 1.0, nb::kw_only(), "stream"_a = nb::none());
  m.def("einsum", [](nb::handle subscripts, nb::args operands, nb::handle s) {
    if (!PyUnicode_Check(subscripts.ptr())) {
      throw nb::type_error(("[einsum] subscripts must be a string; got " + py_type_name(subscripts) + ".").c_str());
    }
    return einsum(nb::cast<std::string>(subscripts), arrays_of(operands, "einsum"), to_stream(s, "einsum"));
  }, nb::arg("subscripts").none(), "operands"_a, nb::kw_only(), "stream"_a = nb::none());
  m.def("einsum_path", [](nb::handle subscripts, nb::args operands) {
    if (!PyUnicode_Check(subscripts.ptr())) {
      throw nb::type_error(("[einsum_path] subscripts must be a string; got " + py_type_name(subscripts) + ".").c_str());
    }
    std::vector<Shape> shapes;
    for (auto& a : arrays_of(operands, "einsum_path")) shapes.push_back(a.shape());
    auto [path, text] = einsum_path(nb::cast<std::string>(subscripts), shapes);
    nb::list steps;
    for (auto& p : path) steps.append(nb::tuple(nb::cast(p)));
    return nb::make_tuple(steps, text);
  }, nb::arg("subscripts").none(), "operands"_a);

  m.def("clip", [](nb::handle a, nb::handle lo, nb::handle hi, nb::handle s) {
    array x = to_array(a, std::nullopt, "clip");
    std::optional<array> l, h;
    if (!lo.is_none()) l = to_array_weak(lo, x.dtype(), "clip");
    if (!hi.is_none()) h = to_array_weak(hi, x.dtype(), "clip");
    return clip(x, l, h, to_stream(s, "clip"));
  }, nb::arg("a").none(), nb::arg("a_min").none(), nb::arg("a_max").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("nan_to_num", [](nb::handle a, nb::handle nan, nb::handle posinf, nb::handle neginf, nb::handle s) {
    std::optional<double> p, n;
    if (!posinf.is_none()) p = to_float(posinf, "nan_to_num", "posinf");
    if (!neginf.is_none()) n = to_float(neginf, "nan_to_num", "neginf");
    return nan_to_num(to_array(a, std::nullopt, "nan_to_num"), to_float(nan, "nan_to_num", "nan"), p, n,
                      to_stream(s, "nan_to_num"));
  }, nb::arg("a").none(), nb::arg("nan").none() = 0.0, nb::arg("posinf").none() = nb::none(),
     nb::arg("neginf").none() = nb::none(), nb::kw_only(), "stream"_a = nb::none());
#define PB_UNARY(name)                                                                         \
  m.def(#name, [](nb::handle a, nb::handle s) {                                                \
    return name(to_array(a, std::nullopt, #name), to_stream(s, #name));                        \
  }, nb::arg("a").none(), nb::kw_only(), "stream"_a = nb::none());
  PB_UNARY(trunc) PB_UNARY(degrees) PB_UNARY(radians)
#undef PB_UNARY
  m.def("logical_xor", [](nb::handle a, nb::handle b, nb::handle s) {
    auto [x, y] = to_logical_operands(a, b, "logical_xor");
    return logical_xor(x, y, to_stream(s, "logical_xor"));
  }, nb::arg("a").none(), nb::arg("b").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("divmod", [](nb::handle a, nb::handle b, nb::handle s) {
    auto [x, y] = to_operands(a, b, "divmod");
    auto [q, r] = divmod(x, y, to_stream(s, "divmod"));
    nb::list out;  // a list, as MLX returns
    out.append(nb::cast(q));
    out.append(nb::cast(r));
    return out;
  }, nb::arg("a").none(), nb::arg("b").none(), nb::kw_only(), "stream"_a = nb::none());
  m.def("count_nonzero", [](nb::handle a, nb::handle axis, bool keepdims, nb::handle s) {
    return count_nonzero(to_array(a, std::nullopt, "count_nonzero"), to_axes(axis, "count_nonzero"), keepdims,
                         to_stream(s, "count_nonzero"));
  }, nb::arg("a").none(), nb::kw_only(), nb::arg("axis").none() = nb::none(), "keepdims"_a = false,
     "stream"_a = nb::none());
  m.def("minmax", [](nb::handle a, nb::handle axis, bool keepdims, nb::handle s) {
    auto [lo, hi] = minmax(to_array(a, std::nullopt, "minmax"), to_axes(axis, "minmax"), keepdims,
                           to_stream(s, "minmax"));
    return nb::make_tuple(lo, hi);
  }, nb::arg("a").none(), nb::arg("axis").none() = nb::none(), "keepdims"_a = false, nb::kw_only(),
     "stream"_a = nb::none());
  m.def("contiguous", [](nb::handle a, bool allow_col_major, nb::handle s) {
    return contiguous(to_array(a, std::nullopt, "contiguous"), allow_col_major, to_stream(s, "contiguous"));
  }, nb::arg("a").none(), "allow_col_major"_a = false, nb::kw_only(), "stream"_a = nb::none());

  m.def("isdtype", [](nb::handle dtype, nb::handle kind) {
    if (!nb::isinstance<Dtype>(dtype)) {
      throw nb::type_error(("[isdtype] dtype must be a Dtype; got " + py_type_name(dtype) + ".").c_str());
    }
    Dtype t = nb::cast<Dtype>(dtype);
    if (PyTuple_Check(kind.ptr())) {
      bool any = false;
      for (nb::handle k : nb::borrow<nb::tuple>(kind)) any = kind_matches(t, k) || any;
      return any;
    }
    return kind_matches(t, kind);
  }, "dtype"_a, "kind"_a);
  m.def("can_cast", [](nb::handle from, nb::handle to) {
    Dtype f;
    if (const array* a = as_array(from, "can_cast")) {
      f = a->dtype();
    } else if (nb::isinstance<Dtype>(from)) {
      f = nb::cast<Dtype>(from);
    } else {
      throw nb::type_error(("[can_cast] from_ must be an array or a Dtype; got " + py_type_name(from) + ".").c_str());
    }
    if (!nb::isinstance<Dtype>(to)) {
      throw nb::type_error(("[can_cast] to must be a Dtype; got " + py_type_name(to) + ".").c_str());
    }
    // MLX's rule: a cast is safe when promoting the two types gives the target.
    Dtype t = nb::cast<Dtype>(to);
    return promote_types(f, t) == t;
  }, "from_"_a, "to"_a);
  m.def("asarray", [](nb::handle a, nb::handle dtype, nb::handle copy_arg) {
    std::optional<Dtype> d = to_dtype(dtype, "asarray");
    std::optional<bool> want_copy;
    if (!copy_arg.is_none()) want_copy = nb::cast<bool>(copy_arg);
    if (const array* x = as_array(a, "asarray")) {
      if (d && *d != x->dtype()) {
        if (want_copy == false) {
          throw std::invalid_argument("[asarray] Cannot convert to another dtype without a copy (copy=False).");
        }
        return astype(*x, *d);
      }
      return want_copy == true ? copy(*x) : *x;
    }
    // Anything else is converted into a new buffer.
    if (want_copy == false) {
      throw std::invalid_argument("[asarray] Creating an array from " + py_type_name(a) +
                                  " needs a copy, but copy=False.");
    }
    return to_array(a, d, "asarray");
  }, nb::arg("a").none(), "dtype"_a = nb::none(), nb::kw_only(), "copy"_a = nb::none());
}

}  // namespace pullback::python
