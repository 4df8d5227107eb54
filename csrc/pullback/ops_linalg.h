// ---- linear algebra (ops_linalg.cpp): MLX's mx.linalg ----
// Every op works on the last two axes (matrices) or the last axis (vectors) and batches over the
// leading ones. Factorizations take float32 or float64 (MLX's rule); det, slogdet and norm also
// take integers (as float32) and half floats (computed in float32). Errors name the op as
// "[linalg::inv]". Singular, non-positive-definite or non-converging inputs raise ValueError
// when the result is evaluated.
#pragma once

#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "pullback/array.h"

namespace pullback::linalg {

using Axes = std::vector<int>;

array inv(const array& a, Stream s = current_stream());
// The inverse of the triangle of `a` named by `upper` (the other one is not read).
array tri_inv(const array& a, bool upper = false, Stream s = current_stream());
// inv(A) from its Cholesky factor: `a` is L (A = L L^T) or, with `upper`, U (A = U^T U).
array cholesky_inv(const array& a, bool upper = false, Stream s = current_stream());
array cholesky(const array& a, bool upper = false, Stream s = current_stream());
// b may be a vector (..., n) when its ndim is 1, else a matrix (..., n, k); batch axes broadcast.
array solve(const array& a, const array& b, Stream s = current_stream());
array solve_triangular(const array& a, const array& b, bool upper = false,
                       Stream s = current_stream());
std::pair<array, array> qr(const array& a, Stream s = current_stream());
// (U, S, Vt) with full U and Vt, or only S (one element) without compute_uv.
std::vector<array> svd(const array& a, bool compute_uv = true, Stream s = current_stream());
// `uplo` is "L" or "U".
std::pair<array, array> eigh(const array& a, const std::string& uplo = "L",
                             Stream s = current_stream());
array eigvalsh(const array& a, const std::string& uplo = "L", Stream s = current_stream());
std::pair<array, array> eig(const array& a, Stream s = current_stream());
array eigvals(const array& a, Stream s = current_stream());
// (P, L, U) with A = L[P] @ U.
std::tuple<array, array, array> lu(const array& a, Stream s = current_stream());
// (packed LU, pivots).
std::pair<array, array> lu_factor(const array& a, Stream s = current_stream());
array det(const array& a, Stream s = current_stream());
std::pair<array, array> slogdet(const array& a, Stream s = current_stream());
array pinv(const array& a, Stream s = current_stream());
array cross(const array& a, const array& b, int axis = -1, Stream s = current_stream());

// A norm's order: a number (inf and -inf included) or "fro" / "nuc".
using NormOrder = std::variant<double, std::string>;
// No order: the 2-norm of the flattened array (axis absent) or of the vectors / Frobenius norm
// of the matrices along `axis` (one or two axes).
array norm(const array& a, const std::optional<NormOrder>& ord = {},
           const std::optional<Axes>& axis = {}, bool keepdims = false,
           Stream s = current_stream());

}  // namespace pullback::linalg
