// Linear algebra on stacks of matrices (the last two axes; every leading axis is a batch axis),
// computed by LAPACK on the CPU. The ops in ops_linalg.cpp validate, cast and broadcast, so each
// primitive receives float32 or float64 inputs of matching batch shapes (SVD, Eigh and Eig also
// complex64, as MLX; their singular values and Hermitian eigenvalues are then float32, and they
// have no derivatives there).
#pragma once

#include "pullback/primitives/primitive.h"

namespace pullback {

// inv(A) of a square A; `Lower` / `Upper` invert the triangle of A that they name (the other
// triangle is not read). A zero pivot raises ValueError naming the op and the batch entry.
enum class InverseKind : uint8_t { General, Lower, Upper };
class Inverse : public Primitive {
 public:
  Inverse(Stream s, InverseKind kind) : Primitive(s), kind_(kind) {}
  const char* name() const override { return "Inverse"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  InverseKind kind_;
};

// X with A X = B for a square A (..., n, n) and B (..., n, k) of the same batch shape. With
// `triangular`, only the triangle of A named by `upper` is read (cblas trsm); otherwise an LU
// factorization with partial pivoting. A singular A raises ValueError.
class Solve : public Primitive {
 public:
  Solve(Stream s, bool triangular, bool upper)
      : Primitive(s), triangular_(triangular), upper_(upper) {}
  const char* name() const override { return triangular_ ? "SolveTriangular" : "Solve"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  bool triangular_;
  bool upper_;
};

// The lower Cholesky factor L (A = L L^T) of the symmetric matrix whose lower triangle A holds
// (the strict upper triangle is not read). A matrix that is not positive definite raises
// ValueError.
class Cholesky : public Primitive {
 public:
  using Primitive::Primitive;
  const char* name() const override { return "Cholesky"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

// The reduced QR factorization: Q (..., m, k) with orthonormal columns and upper triangular
// R (..., k, n), k = min(m, n), A = Q R (Householder, as LAPACK's geqrf/orgqr).
class QR : public Primitive {
 public:
  using Primitive::Primitive;
  const char* name() const override { return "QR"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

// The singular value decomposition A = U diag(S) Vt with full U (..., m, m) and Vt (..., n, n)
// (MLX's outputs), singular values S (..., k) in descending order; only S without
// `compute_uv`. Derivatives use the first k columns of U and rows of Vt: the remaining ones
// complete an orthonormal basis arbitrarily, so their cotangents are ignored and their tangents
// are zero.
class SVD : public Primitive {
 public:
  SVD(Stream s, bool compute_uv) : Primitive(s), compute_uv_(compute_uv) {}
  const char* name() const override { return "SVD"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  bool compute_uv_;
};

// Eigenvalues (ascending, (..., n)) and, with `vectors`, orthonormal eigenvectors (the columns
// of (..., n, n)) of the symmetric matrix whose `upper` or lower triangle A holds.
class Eigh : public Primitive {
 public:
  Eigh(Stream s, bool upper, bool vectors) : Primitive(s), upper_(upper), vectors_(vectors) {}
  const char* name() const override { return "Eigh"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  bool upper_;
  bool vectors_;
};

// Eigenvalues and, with `vectors`, unit-norm right eigenvectors (columns) of a general real
// square matrix, as complex64 (MLX's dtype, also for float64 input). No derivatives.
class Eig : public Primitive {
 public:
  Eig(Stream s, bool vectors) : Primitive(s), vectors_(vectors) {}
  const char* name() const override { return "Eig"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  bool vectors_;
};

// LU factorization with partial pivoting of an (..., m, n) matrix, three outputs: the packed
// factors (L below the diagonal with a unit diagonal implied, U on and above it), the pivots
// (uint32 (..., k), 0-based: row i was swapped with row pivots[i], LAPACK's ipiv) and the row
// permutation P (uint32 (..., m)) with A = L[P] @ U, MLX's convention. Singular matrices
// factor without error (U has a zero on its diagonal). No derivatives.
class LUFactor : public Primitive {
 public:
  using Primitive::Primitive;
  const char* name() const override { return "LUFactor"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
};

// det(A) of a square A from its LU factorization (one output), or with `log` two outputs: the
// sign (-1, 0 or 1) and log|det A| (-inf for a singular A).
class Determinant : public Primitive {
 public:
  Determinant(Stream s, bool log) : Primitive(s), log_(log) {}
  const char* name() const override { return log_ ? "SlogDet" : "Det"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  bool is_equivalent(const Primitive& other) const override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

 private:
  bool log_;
};

}  // namespace pullback
