// The mx.linalg submodule (python/pullback/core/linalg.py re-exports it).
#include <nanobind/nanobind.h>

#include "pullback/ops.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace pullback::python {

namespace {

array arg(nb::handle h, const char* op) { return to_array(h, std::nullopt, op); }

bool flag(nb::handle h, const char* op, const char* name) {
  if (!PyBool_Check(h.ptr())) {
    throw nb::type_error((std::string("[linalg::") + op + "] " + name + " must be a bool.").c_str());
  }
  return h.ptr() == Py_True;
}

std::string uplo_of(nb::handle h) {
  if (!nb::isinstance<nb::str>(h)) throw nb::type_error("[linalg::eigh] UPLO must be a string.");
  return nb::cast<std::string>(h);
}

std::optional<linalg::NormOrder> ord_of(nb::handle h) {
  if (h.is_none()) return std::nullopt;
  if (nb::isinstance<nb::str>(h)) return linalg::NormOrder(nb::cast<std::string>(h));
  if (PyBool_Check(h.ptr()) || PyComplex_Check(h.ptr())) {
    throw nb::type_error("[linalg::norm] ord must be None, a number or a string.");
  }
  return linalg::NormOrder(to_float(h, "linalg::norm", "ord"));
}

}  // namespace

void init_linalg(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("linalg", "Linear algebra (MLX's mx.linalg).");
  using namespace pullback::linalg;

  m.def("norm", [](nb::handle a, nb::handle ord, nb::handle axis, bool keepdims, nb::handle s) {
    return norm(arg(a, "linalg::norm"), ord_of(ord), to_axes(axis, "linalg::norm"), keepdims,
                to_stream(s, "linalg::norm"));
  }, nb::arg("a").none(), "ord"_a.none() = nb::none(), "axis"_a.none() = nb::none(),
     "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none(),
     "The matrix or vector norm of the given order along the given axes.");

#define PB_LINALG_UNARY(name, call, doc)                                                     \
  m.def(#name, [](nb::handle a, nb::handle s) {                                             \
    array x = arg(a, "linalg::" #name);                                                     \
    Stream st = to_stream(s, "linalg::" #name);                                             \
    return call;                                                                            \
  }, nb::arg("a").none(), nb::kw_only(), "stream"_a = nb::none(), doc);
  PB_LINALG_UNARY(inv, nb::cast(inv(x, st)), "The inverse of a square matrix.")
  PB_LINALG_UNARY(pinv, nb::cast(pinv(x, st)), "The Moore-Penrose pseudo-inverse of a matrix.")
  PB_LINALG_UNARY(det, nb::cast(det(x, st)), "The determinant of a square matrix.")
  PB_LINALG_UNARY(eigvals, nb::cast(eigvals(x, st)),
                  "The eigenvalues of a square matrix (complex64).")
  PB_LINALG_UNARY(qr, ([&] { auto r = qr(x, st); return nb::make_tuple(r.first, r.second); }()),
                  "The QR factorization (Q, R) of a matrix.")
  PB_LINALG_UNARY(eig, ([&] { auto r = eig(x, st); return nb::make_tuple(r.first, r.second); }()),
                  "The eigenvalues and right eigenvectors (complex64) of a square matrix.")
  PB_LINALG_UNARY(slogdet,
                  ([&] { auto r = slogdet(x, st); return nb::make_tuple(r.first, r.second); }()),
                  "The sign and the log of the absolute value of a square matrix's determinant.")
  PB_LINALG_UNARY(lu, ([&] {
                    auto [p, l, u] = lu(x, st);
                    return nb::make_tuple(p, l, u);
                  }()),
                  "The LU factorization (P, L, U) with A = L[P] @ U.")
  PB_LINALG_UNARY(lu_factor,
                  ([&] { auto r = lu_factor(x, st); return nb::make_tuple(r.first, r.second); }()),
                  "The packed LU factorization and the pivot indices of a matrix.")
#undef PB_LINALG_UNARY

#define PB_LINALG_UPPER(name, doc)                                                           \
  m.def(#name, [](nb::handle a, nb::handle upper, nb::handle s) {                           \
    return name(arg(a, "linalg::" #name), flag(upper, #name, "upper"),                      \
                to_stream(s, "linalg::" #name));                                            \
  }, nb::arg("a").none(), "upper"_a = false, nb::kw_only(), "stream"_a = nb::none(), doc);
  PB_LINALG_UPPER(cholesky, "The Cholesky factor of a symmetric positive definite matrix.")
  PB_LINALG_UPPER(cholesky_inv, "The inverse of a matrix from its Cholesky factor.")
  PB_LINALG_UPPER(tri_inv, "The inverse of a triangular matrix.")
#undef PB_LINALG_UPPER

  m.def("solve", [](nb::handle a, nb::handle b, nb::handle s) {
    return solve(arg(a, "linalg::solve"), arg(b, "linalg::solve"), to_stream(s, "linalg::solve"));
  }, nb::arg("a").none(), nb::arg("b").none(), nb::kw_only(), "stream"_a = nb::none(),
     "The solution x of a @ x = b for a square a.");
  m.def("solve_triangular", [](nb::handle a, nb::handle b, nb::handle upper, nb::handle s) {
    return solve_triangular(arg(a, "linalg::solve_triangular"),
                            arg(b, "linalg::solve_triangular"),
                            flag(upper, "solve_triangular", "upper"),
                            to_stream(s, "linalg::solve_triangular"));
  }, nb::arg("a").none(), nb::arg("b").none(), nb::kw_only(), "upper"_a = false,
     "stream"_a = nb::none(), "The solution x of a @ x = b for a triangular a.");
  m.def("svd", [](nb::handle a, nb::handle compute_uv, nb::handle s) {
    auto r = svd(arg(a, "linalg::svd"), flag(compute_uv, "svd", "compute_uv"),
                 to_stream(s, "linalg::svd"));
    if (r.size() == 1) return nb::cast(r[0]);
    return nb::object(nb::make_tuple(r[0], r[1], r[2]));
  }, nb::arg("a").none(), "compute_uv"_a = true, nb::kw_only(), "stream"_a = nb::none(),
     "The singular value decomposition (U, S, Vt), or S alone without compute_uv.");
  m.def("eigh", [](nb::handle a, nb::handle uplo, nb::handle s) {
    auto r = eigh(arg(a, "linalg::eigh"), uplo_of(uplo), to_stream(s, "linalg::eigh"));
    return nb::make_tuple(r.first, r.second);
  }, nb::arg("a").none(), "UPLO"_a = "L", nb::kw_only(), "stream"_a = nb::none(),
     "The eigenvalues and eigenvectors of a symmetric matrix.");
  m.def("eigvalsh", [](nb::handle a, nb::handle uplo, nb::handle s) {
    return eigvalsh(arg(a, "linalg::eigvalsh"), uplo_of(uplo), to_stream(s, "linalg::eigvalsh"));
  }, nb::arg("a").none(), "UPLO"_a = "L", nb::kw_only(), "stream"_a = nb::none(),
     "The eigenvalues of a symmetric matrix.");
  m.def("cross", [](nb::handle a, nb::handle b, nb::handle axis, nb::handle s) {
    return cross(arg(a, "linalg::cross"), arg(b, "linalg::cross"),
                 to_axis(axis, "linalg::cross"), to_stream(s, "linalg::cross"));
  }, nb::arg("a").none(), nb::arg("b").none(), "axis"_a = -1, nb::kw_only(),
     "stream"_a = nb::none(), "The cross product of two (batches of) 3- or 2-vectors.");
}

}  // namespace pullback::python
