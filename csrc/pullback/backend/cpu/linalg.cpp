// CPU kernels of the linalg primitives through LAPACK (scipy-openblas32: scipy_ prefixed
// symbols, 32-bit integers, Fortran calling convention with hidden string lengths at the end).
//
// Layouts: LAPACK reads column-major matrices, our arrays are row-major. A row-major A is the
// column-major A^T, which several routines can use as it is: inv(A^T) = inv(A)^T, det(A^T) =
// det(A), the lower triangle of A is the upper one of A^T, and the SVD of A^T is that of A with
// U and Vt exchanged. QR, LU and eig need A itself and get a transposed copy.
//
// Batches: one problem per pool thread, with OpenBLAS held to one thread (for a single matrix
// too: see for_each_matrix).
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "pullback/backend/cpu/blas_threads.h"
#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/interrupt.h"
#include "pullback/ops.h"
#include "pullback/primitives/linalg.h"

// ---- LAPACK declarations (the few routines used here) ----
#define PB_LAPACK_DECLARE(T, p)                                                                  \
  void scipy_##p##getrf_(const int* m, const int* n, T* a, const int* lda, int* ipiv, int* info); \
  void scipy_##p##getri_(const int* n, T* a, const int* lda, const int* ipiv, T* work,          \
                         const int* lwork, int* info);                                          \
  void scipy_##p##potrf_(const char* uplo, const int* n, T* a, const int* lda, int* info, size_t); \
  void scipy_##p##trtri_(const char* uplo, const char* diag, const int* n, T* a, const int* lda, \
                         int* info, size_t, size_t);                                            \
  void scipy_##p##geqrf_(const int* m, const int* n, T* a, const int* lda, T* tau, T* work,     \
                         const int* lwork, int* info);                                          \
  void scipy_##p##orgqr_(const int* m, const int* n, const int* k, T* a, const int* lda,        \
                         const T* tau, T* work, const int* lwork, int* info);                   \
  void scipy_##p##gesdd_(const char* jobz, const int* m, const int* n, T* a, const int* lda,    \
                         T* s, T* u, const int* ldu, T* vt, const int* ldvt, T* work,           \
                         const int* lwork, int* iwork, int* info, size_t);                      \
  void scipy_##p##syevd_(const char* jobz, const char* uplo, const int* n, T* a, const int* lda, \
                         T* w, T* work, const int* lwork, int* iwork, const int* liwork,        \
                         int* info, size_t, size_t);                                            \
  void scipy_##p##geev_(const char* jobvl, const char* jobvr, const int* n, T* a, const int* lda, \
                        T* wr, T* wi, T* vl, const int* ldvl, T* vr, const int* ldvr, T* work,  \
                        const int* lwork, int* info, size_t, size_t);

extern "C" {
PB_LAPACK_DECLARE(float, s)
PB_LAPACK_DECLARE(double, d)
// The complex64 routines of svd, eigh and eig (the set MLX takes complex64 input for).
void scipy_cgesdd_(const char* jobz, const int* m, const int* n, pullback::complex64_t* a,
                   const int* lda, float* s, pullback::complex64_t* u, const int* ldu,
                   pullback::complex64_t* vt, const int* ldvt, pullback::complex64_t* work,
                   const int* lwork, float* rwork, int* iwork, int* info, size_t);
void scipy_cheevd_(const char* jobz, const char* uplo, const int* n, pullback::complex64_t* a,
                   const int* lda, float* w, pullback::complex64_t* work, const int* lwork,
                   float* rwork, const int* lrwork, int* iwork, const int* liwork, int* info,
                   size_t, size_t);
void scipy_cgeev_(const char* jobvl, const char* jobvr, const int* n, pullback::complex64_t* a,
                  const int* lda, pullback::complex64_t* w, pullback::complex64_t* vl,
                  const int* ldvl, pullback::complex64_t* vr, const int* ldvr,
                  pullback::complex64_t* work, const int* lwork, float* rwork, int* info, size_t,
                  size_t);
}
#undef PB_LAPACK_DECLARE

namespace pullback {
namespace {

// Overloads by element type, returning LAPACK's info.
#define PB_LAPACK_WRAP(T, p)                                                                     \
  int getrf(int m, int n, T* a, int lda, int* ipiv) {                                           \
    int info = 0;                                                                               \
    scipy_##p##getrf_(&m, &n, a, &lda, ipiv, &info);                                            \
    return info;                                                                                \
  }                                                                                             \
  int getri(int n, T* a, int lda, const int* ipiv, T* work, int lwork) {                        \
    int info = 0;                                                                               \
    scipy_##p##getri_(&n, a, &lda, ipiv, work, &lwork, &info);                                  \
    return info;                                                                                \
  }                                                                                             \
  int potrf(char uplo, int n, T* a, int lda) {                                                  \
    int info = 0;                                                                               \
    scipy_##p##potrf_(&uplo, &n, a, &lda, &info, 1);                                            \
    return info;                                                                                \
  }                                                                                             \
  int trtri(char uplo, int n, T* a, int lda) {                                                  \
    int info = 0;                                                                               \
    const char diag = 'N';                                                                      \
    scipy_##p##trtri_(&uplo, &diag, &n, a, &lda, &info, 1, 1);                                  \
    return info;                                                                                \
  }                                                                                             \
  int geqrf(int m, int n, T* a, int lda, T* tau, T* work, int lwork) {                          \
    int info = 0;                                                                               \
    scipy_##p##geqrf_(&m, &n, a, &lda, tau, work, &lwork, &info);                               \
    return info;                                                                                \
  }                                                                                             \
  int orgqr(int m, int n, int k, T* a, int lda, const T* tau, T* work, int lwork) {             \
    int info = 0;                                                                               \
    scipy_##p##orgqr_(&m, &n, &k, a, &lda, tau, work, &lwork, &info);                           \
    return info;                                                                                \
  }                                                                                             \
  int gesdd(char jobz, int m, int n, T* a, int lda, T* s, T* u, int ldu, T* vt, int ldvt,       \
            T* work, int lwork, int* iwork, std::vector<T>& /*rwork: complex only*/) {          \
    int info = 0;                                                                               \
    scipy_##p##gesdd_(&jobz, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork,      \
                      &info, 1);                                                                \
    return info;                                                                                \
  }                                                                                             \
  int syevd(char jobz, char uplo, int n, T* a, int lda, T* w, T* work, int lwork, int* iwork,   \
            int liwork, std::vector<T>& /*rwork: complex only*/) {                              \
    int info = 0;                                                                               \
    scipy_##p##syevd_(&jobz, &uplo, &n, a, &lda, w, work, &lwork, iwork, &liwork, &info, 1, 1); \
    return info;                                                                                \
  }                                                                                             \
  int geev(char jobvr, int n, T* a, int lda, T* wr, T* wi, T* vr, int ldvr, T* work,            \
           int lwork) {                                                                         \
    int info = 0;                                                                               \
    const char jobvl = 'N';                                                                     \
    const int one = 1;                                                                          \
    scipy_##p##geev_(&jobvl, &jobvr, &n, a, &lda, wr, wi, nullptr, &one, vr, &ldvr, work,      \
                     &lwork, &info, 1, 1);                                                      \
    return info;                                                                                \
  }

PB_LAPACK_WRAP(float, s)
PB_LAPACK_WRAP(double, d)
#undef PB_LAPACK_WRAP

// The complex64 overloads take a real workspace besides `work`, sized here: gesdd's from
// LAPACK's documented bound, heevd's (its name kept as syevd's overload) from the query.
int gesdd(char jobz, int m, int n, complex64_t* a, int lda, float* s, complex64_t* u, int ldu,
          complex64_t* vt, int ldvt, complex64_t* work, int lwork, int* iwork,
          std::vector<float>& rwork) {
  const int64_t lo = std::min(m, n), hi = std::max(m, n);
  const int64_t need = jobz == 'N' ? 7 * lo
                                   : std::max(5 * lo * lo + 5 * lo, 2 * hi * lo + 2 * lo * lo + lo);
  if (lwork != -1 && int64_t(rwork.size()) < std::max<int64_t>(need, 1)) {
    rwork.resize(std::max<int64_t>(need, 1));
  }
  int info = 0;
  float rquery = 0;
  scipy_cgesdd_(&jobz, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork,
                lwork == -1 ? &rquery : rwork.data(), iwork, &info, 1);
  return info;
}

int syevd(char jobz, char uplo, int n, complex64_t* a, int lda, float* w, complex64_t* work,
          int lwork, int* iwork, int liwork, std::vector<float>& rwork) {
  int info = 0;
  if (lwork == -1) {
    float rquery = 0;
    int lrwork = -1;
    scipy_cheevd_(&jobz, &uplo, &n, a, &lda, w, work, &lwork, &rquery, &lrwork, iwork, &liwork,
                  &info, 1, 1);
    rwork.resize(std::max(1, static_cast<int>(rquery)));
    return info;
  }
  const int lrwork = static_cast<int>(rwork.size());
  scipy_cheevd_(&jobz, &uplo, &n, a, &lda, w, work, &lwork, rwork.data(), &lrwork, iwork, &liwork,
                &info, 1, 1);
  return info;
}

int geev(char jobvr, int n, complex64_t* a, int lda, complex64_t* w, complex64_t* vr, int ldvr,
         complex64_t* work, int lwork, float* rwork) {
  int info = 0;
  const char jobvl = 'N';
  const int one = 1;
  scipy_cgeev_(&jobvl, &jobvr, &n, a, &lda, w, nullptr, &one, vr, &ldvr, work, &lwork, rwork,
               &info, 1, 1);
  return info;
}

// The real type of an element type: singular values and Hermitian eigenvalues have it.
template <typename T>
struct RealOf {
  using type = T;
};
template <>
struct RealOf<complex64_t> {
  using type = float;
};
template <typename T>
using real_of = typename RealOf<T>::type;

template <typename T>
T conj_of(T x) {
  if constexpr (std::is_same_v<T, complex64_t>) {
    return std::conj(x);
  } else {
    return x;
  }
}

// A problem per chunk of this many multiply-adds at least, so that small matrices are handed
// to the pool threads in groups.
constexpr double kGrainFlops = 1 << 17;

[[noreturn]] void fail_at(const char* op, int64_t count, int64_t i, const std::string& what) {
  std::string where = count > 1 ? " (matrix " + std::to_string(i) + " of the batch)" : "";
  throw std::invalid_argument(std::string("[linalg::") + op + "] " + what + where + ".");
}

// Runs f(begin, end) over the `count` matrices of a batch, each costing about `flops`.
template <typename F>
void for_each_matrix(int64_t count, double flops, F&& f) {
  cpu::configure_blas_threads();
  if (count <= 0) return;
  // LAPACK runs on one thread even for a single matrix: OpenBLAS's threaded getrf/potrf/gesdd
  // synchronize often, and on a loaded 2-core machine a descheduled thread made them 10-25x
  // slower (potrf of 512x512: 24 ms against 1 ms single-threaded).
  cpu::SingleThreadedBlas hold;
  if (count == 1 || cpu::num_threads() == 1) {
    for (int64_t i = 0; i < count; ++i) {
      if (i > 0 && interrupt_kernel_now()) throw Interrupted();
      f(size_t(i), size_t(i + 1));
    }
    return;
  }
  const auto grain = static_cast<size_t>(std::max(1.0, kGrainFlops / std::max(flops, 1.0)));
  cpu::parallel_for(size_t(count), grain, f, std::max<size_t>(grain, 1));
}

// `x` itself when its elements are row-contiguous, else a row-contiguous copy.
array row_contiguous(const array& x) {
  if (x.flags().row_contiguous) return x;
  array c = array::empty(x.shape(), x.dtype());
  cpu::copy_to_contiguous(x, c);
  return c;
}

// `out` gets a fresh buffer holding `in`'s elements row-contiguously.
void fill_from(const array& in, array& out) {
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.size() > 0) cpu::copy_to_contiguous(in, out);
}

void allocate(array& out) { out.set_data(std::make_shared<Data>(out.nbytes())); }

int64_t batch_count(const array& a) {
  int64_t n = 1;
  for (int d = 0; d + 2 < a.ndim(); ++d) n *= a.shape(d);
  return n;
}

// dst (cols x rows, leading dimension dst_ld) = the transpose of src (rows x cols, src_ld).
template <typename T>
void transpose_into(const T* src, int64_t rows, int64_t cols, int64_t src_ld, T* dst,
                    int64_t dst_ld) {
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) dst[j * dst_ld + i] = src[i * src_ld + j];
  }
}

// Zeros the strict upper (or lower) triangle of a row-major n x n matrix.
template <typename T>
void zero_triangle(T* a, int64_t n, bool upper) {
  for (int64_t i = 0; i < n; ++i) {
    if (upper) {
      std::fill(a + i * n + i + 1, a + (i + 1) * n, T(0));
    } else {
      std::fill(a + i * n, a + i * n + i, T(0));
    }
  }
}

bool is_finite(float x) { return std::isfinite(x); }
bool is_finite(double x) { return std::isfinite(x); }
bool is_finite(complex64_t x) { return std::isfinite(x.real()) && std::isfinite(x.imag()); }

template <typename T>
bool all_finite(const T* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!is_finite(a[i])) return false;
  }
  return true;
}

// LAPACK's optimal workspace size from a query's first work element.
template <typename T>
int work_size(T w) {
  return std::max(1, static_cast<int>(w));
}
int work_size(complex64_t w) { return work_size(w.real()); }

template <typename F>
void dispatch_real(Dtype t, const char* op, F&& f) {
  if (t == Dtype::float32) return f(float{});
  if (t == Dtype::float64) return f(double{});
  throw std::invalid_argument(std::string("[linalg::") + op +
                              "] Arrays must have type float32 or float64.");
}

// svd, eigh and eig also take complex64 (as MLX does).
template <typename F>
void dispatch_real_or_complex(Dtype t, const char* op, F&& f) {
  if (t == Dtype::complex64) return f(complex64_t{});
  dispatch_real(t, op, std::forward<F>(f));
}

// ---- kernels ----

template <typename T>
void inverse(array& out, InverseKind kind) {
  const int n = static_cast<int>(out.shape(-1));
  const int64_t count = batch_count(out), nn = int64_t(n) * n;
  if (n == 0) return;
  T* base = out.data<T>();
  const char* op = kind == InverseKind::General ? "inv" : "tri_inv";
  for_each_matrix(count, double(n) * n * n, [&](size_t b, size_t e) {
    std::vector<int> ipiv(n);
    std::vector<T> work;
    for (size_t i = b; i < e; ++i) {
      T* a = base + int64_t(i) * nn;
      if (kind != InverseKind::General) {
        // The lower triangle of the row-major A is the upper one of the column-major A^T.
        const bool upper = kind == InverseKind::Upper;
        int info = trtri(upper ? 'L' : 'U', n, a, n);
        if (info > 0) fail_at(op, count, i, "The matrix is singular: its diagonal holds a zero");
        zero_triangle(a, n, upper ? false : true);
        continue;
      }
      if (getrf(n, n, a, n, ipiv.data()) > 0) {
        fail_at(op, count, i, "The matrix is singular");
      }
      if (work.empty()) {
        T query;
        getri(n, a, n, ipiv.data(), &query, -1);
        work.resize(work_size(query));
      }
      getri(n, a, n, ipiv.data(), work.data(), static_cast<int>(work.size()));
    }
  });
}

template <typename T>
bool has_zero_diagonal(const T* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (a[i * n + i] == T(0)) return true;
  }
  return false;
}

template <typename T>
void trsm(bool upper, int n, int k, const T* a, T* b) {
  const auto uplo = upper ? CblasUpper : CblasLower;
  if constexpr (std::is_same_v<T, float>) {
    scipy_cblas_strsm(CblasRowMajor, CblasLeft, uplo, CblasNoTrans, CblasNonUnit, n, k, 1.0f, a,
                      n, b, k);
  } else {
    scipy_cblas_dtrsm(CblasRowMajor, CblasLeft, uplo, CblasNoTrans, CblasNonUnit, n, k, 1.0, a, n,
                      b, k);
  }
}

// Y <- Y op(M)^-1 for the column-major k x n Y (leading dimension k) and the upper (non-unit
// diagonal) or lower (unit diagonal) triangle of the column-major n x n M: getrf's factors.
template <typename T>
void trsm_right(bool upper, int k, int n, const T* m, T* y) {
  const auto uplo = upper ? CblasUpper : CblasLower;
  const auto diag = upper ? CblasNonUnit : CblasUnit;
  if (k == 1) {
    // One row: y M^-1 = (M^-T y^T)^T, a triangular solve with a vector (trsm is slow here).
    if constexpr (std::is_same_v<T, float>) {
      scipy_cblas_strsv(CblasColMajor, uplo, CblasTrans, diag, n, m, n, y, 1);
    } else {
      scipy_cblas_dtrsv(CblasColMajor, uplo, CblasTrans, diag, n, m, n, y, 1);
    }
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    scipy_cblas_strsm(CblasColMajor, CblasRight, uplo, CblasNoTrans, diag, k, n, 1.0f, m, n, y, k);
  } else {
    scipy_cblas_dtrsm(CblasColMajor, CblasRight, uplo, CblasNoTrans, diag, k, n, 1.0, m, n, y, k);
  }
}

template <typename T>
void solve(const array& a_in, const array& b_in, array& out, bool triangular, bool upper) {
  fill_from(b_in, out);
  if (out.size() == 0 || a_in.size() == 0) return;
  const int n = static_cast<int>(a_in.shape(-1));
  const int k = static_cast<int>(out.shape(-1));
  const int64_t count = batch_count(out), nn = int64_t(n) * n, nk = int64_t(n) * k;
  const char* op = triangular ? "solve_triangular" : "solve";
  if (triangular) {
    const array a = row_contiguous(a_in);
    const T* pa = a.data<T>();
    T* pb = out.data<T>();
    for_each_matrix(count, double(n) * n * k, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        if (has_zero_diagonal(pa + int64_t(i) * nn, n)) {
          fail_at(op, count, i, "The matrix is singular: its diagonal holds a zero");
        }
        trsm<T>(upper, n, k, pa + int64_t(i) * nn, pb + int64_t(i) * nk);
      }
    });
    return;
  }
  // The row-major A is the column-major M = A^T = P L U (getrf), and the row-major B and X are
  // the column-major B^T and X^T (k x n). X = A^-1 B is X^T = B^T M^-1 = B^T U^-1 L^-1 P^T: two
  // right-side triangular solves in place and row swaps of X, with no transposed copies.
  array lu = array::empty(a_in.shape(), a_in.dtype());
  cpu::copy_to_contiguous(a_in, lu);
  T* pa = lu.data<T>();
  T* pb = out.data<T>();
  for_each_matrix(count, double(n) * n * (n + k), [&](size_t b, size_t e) {
    std::vector<int> ipiv(n);
    for (size_t i = b; i < e; ++i) {
      T* a = pa + int64_t(i) * nn;
      if (getrf(n, n, a, n, ipiv.data()) > 0) fail_at(op, count, i, "The matrix is singular");
      T* x = pb + int64_t(i) * nk;
      trsm_right<T>(true, k, n, a, x);
      trsm_right<T>(false, k, n, a, x);
      for (int r = n - 1; r >= 0; --r) {
        if (ipiv[r] - 1 != r) std::swap_ranges(x + int64_t(r) * k, x + int64_t(r + 1) * k,
                                               x + int64_t(ipiv[r] - 1) * k);
      }
    }
  });
}

template <typename T>
void cholesky(array& out) {
  const int n = static_cast<int>(out.shape(-1));
  const int64_t count = batch_count(out), nn = int64_t(n) * n;
  if (n == 0) return;
  T* base = out.data<T>();
  for_each_matrix(count, double(n) * n * n / 3, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      T* a = base + int64_t(i) * nn;
      // potrf on the column-major A^T's upper triangle: A's lower one, giving L (row-major).
      int info = potrf('U', n, a, n);
      if (info > 0) {
        fail_at("cholesky", count, i,
                "The matrix is not positive definite (the leading minor of order " +
                    std::to_string(info) + " is not positive)");
      }
      zero_triangle(a, n, true);
    }
  });
}

template <typename T>
void qr(const array& a_in, array& q_out, array& r_out) {
  allocate(q_out);
  allocate(r_out);
  const int m = static_cast<int>(a_in.shape(-2)), n = static_cast<int>(a_in.shape(-1));
  const int k = std::min(m, n);
  const int64_t count = batch_count(a_in);
  if (q_out.size() == 0 && r_out.size() == 0) return;
  std::memset(r_out.data<T>(), 0, r_out.nbytes());
  if (k == 0) return;
  const array a = row_contiguous(a_in);
  const T* pa = a.data<T>();
  T* pq = q_out.data<T>();
  T* pr = r_out.data<T>();
  for_each_matrix(count, double(m) * n * k, [&](size_t b, size_t e) {
    std::vector<T> col(int64_t(m) * n), tau(k), work;
    for (size_t i = b; i < e; ++i) {
      transpose_into(pa + int64_t(i) * m * n, m, n, n, col.data(), m);
      if (work.empty()) {
        T q1, q2;
        geqrf(m, n, col.data(), m, tau.data(), &q1, -1);
        orgqr(m, k, k, col.data(), m, tau.data(), &q2, -1);
        work.resize(std::max(work_size(q1), work_size(q2)));
      }
      const int lwork = static_cast<int>(work.size());
      geqrf(m, n, col.data(), m, tau.data(), work.data(), lwork);
      T* r = pr + int64_t(i) * k * n;
      for (int row = 0; row < k; ++row) {
        for (int c = row; c < n; ++c) r[int64_t(row) * n + c] = col[int64_t(c) * m + row];
      }
      orgqr(m, k, k, col.data(), m, tau.data(), work.data(), lwork);
      transpose_into(col.data(), k, m, m, pq + int64_t(i) * m * k, k);
    }
  });
}

template <typename T>
void svd(const array& a_in, std::vector<array>& outputs, bool compute_uv) {
  for (auto& o : outputs) allocate(o);
  const int m = static_cast<int>(a_in.shape(-2)), n = static_cast<int>(a_in.shape(-1));
  const int k = std::min(m, n);
  const int64_t count = batch_count(a_in);
  if (count == 0) return;
  if (k == 0) {
    // No singular values; U and Vt are identities of their sizes.
    if (compute_uv) {
      for (int o : {0, 2}) {
        T* p = outputs[o].data<T>();
        const int64_t d = outputs[o].shape(-1);
        std::fill(p, p + outputs[o].size(), T(0));
        for (int64_t i = 0; i < count; ++i) {
          for (int64_t j = 0; j < d; ++j) p[i * d * d + j * d + j] = T(1);
        }
      }
    }
    return;
  }
  const array a = row_contiguous(a_in);
  const T* pa = a.data<T>();
  using R = real_of<T>;
  R* ps = outputs[compute_uv ? 1 : 0].data<R>();
  T* pu = compute_uv ? outputs[0].data<T>() : nullptr;
  T* pvt = compute_uv ? outputs[2].data<T>() : nullptr;
  const char jobz = compute_uv ? 'A' : 'N';
  for_each_matrix(count, 4.0 * m * n * k, [&](size_t b, size_t e) {
    std::vector<T> scratch(int64_t(m) * n), work;
    std::vector<R> rwork;
    std::vector<int> iwork(8 * k);
    T dummy = 0;
    for (size_t i = b; i < e; ++i) {
      const T* src = pa + int64_t(i) * m * n;
      if (!all_finite(src, int64_t(m) * n)) {
        fail_at("svd", count, i, "The matrix contains NaN or infinity");
      }
      std::copy(src, src + int64_t(m) * n, scratch.data());
      // The row-major A is the column-major A^T (n x m) = V S U^T (conj(V) S U^T for a complex
      // A = U S V^H): LAPACK's U is our Vt and its Vt our U, both already in row-major order.
      T* vt = compute_uv ? pvt + int64_t(i) * n * n : &dummy;
      T* u = compute_uv ? pu + int64_t(i) * m * m : &dummy;
      if (work.empty()) {
        T query;
        gesdd(jobz, n, m, scratch.data(), n, ps, vt, n, u, m, &query, -1, iwork.data(), rwork);
        work.resize(work_size(query));
      }
      int info = gesdd(jobz, n, m, scratch.data(), n, ps + int64_t(i) * k, vt, n, u, m,
                       work.data(), static_cast<int>(work.size()), iwork.data(), rwork);
      if (info > 0) fail_at("svd", count, i, "The SVD did not converge");
    }
  });
}

template <typename T>
void eigh(const array& a_in, std::vector<array>& outputs, bool upper, bool vectors) {
  for (auto& o : outputs) allocate(o);
  const int n = static_cast<int>(a_in.shape(-1));
  const int64_t count = batch_count(a_in), nn = int64_t(n) * n;
  if (count == 0 || n == 0) return;
  const array a = row_contiguous(a_in);
  const T* pa = a.data<T>();
  using R = real_of<T>;
  R* pw = outputs[0].data<R>();
  T* pv = vectors ? outputs[1].data<T>() : nullptr;
  const char jobz = vectors ? 'V' : 'N';
  // The triangle of the row-major A named by `upper` is the other one of the column-major A^T.
  // For a complex Hermitian A, LAPACK so sees A^T = conj(A): the same eigenvalues, conjugated
  // eigenvectors.
  const char uplo = upper ? 'L' : 'U';
  const char* op = vectors ? "eigh" : "eigvalsh";
  for_each_matrix(count, 4.0 * n * n * n, [&](size_t b, size_t e) {
    std::vector<T> scratch(vectors ? 0 : nn), work;
    std::vector<R> rwork;
    std::vector<int> iwork;
    for (size_t i = b; i < e; ++i) {
      const T* src = pa + int64_t(i) * nn;
      if (!all_finite(src, nn)) fail_at(op, count, i, "The matrix contains NaN or infinity");
      T* v = vectors ? pv + int64_t(i) * nn : scratch.data();
      std::copy(src, src + nn, v);
      if (work.empty()) {
        T query;
        int iquery = 0;
        syevd(jobz, uplo, n, v, n, pw, &query, -1, &iquery, -1, rwork);
        work.resize(work_size(query));
        iwork.resize(std::max(1, iquery));
      }
      int info = syevd(jobz, uplo, n, v, n, pw + int64_t(i) * n, work.data(),
                       static_cast<int>(work.size()), iwork.data(),
                       static_cast<int>(iwork.size()), rwork);
      if (info > 0) fail_at(op, count, i, "The eigenvalue algorithm did not converge");
      // LAPACK's eigenvectors are its (column-major) columns, our rows: transpose in place
      // (and conjugate, for a complex A).
      if (vectors) {
        for (int r = 0; r < n; ++r) {
          T* diag = v + int64_t(r) * n + r;
          *diag = conj_of(*diag);
          for (int c = r + 1; c < n; ++c) {
            T& x = v[int64_t(r) * n + c];
            T& y = v[int64_t(c) * n + r];
            const T t = conj_of(x);
            x = conj_of(y);
            y = t;
          }
        }
      }
    }
  });
}

template <typename T>
void eig(const array& a_in, std::vector<array>& outputs, bool vectors) {
  for (auto& o : outputs) allocate(o);
  const int n = static_cast<int>(a_in.shape(-1));
  const int64_t count = batch_count(a_in), nn = int64_t(n) * n;
  if (count == 0 || n == 0) return;
  const array a = row_contiguous(a_in);
  const T* pa = a.data<T>();
  auto* pw = outputs[0].data<complex64_t>();
  auto* pv = vectors ? outputs[1].data<complex64_t>() : nullptr;
  const char* op = vectors ? "eig" : "eigvals";
  for_each_matrix(count, 10.0 * n * n * n, [&](size_t b, size_t e) {
    std::vector<T> col(nn), wr(n), wi(n), vr(vectors ? nn : 1), work;
    for (size_t i = b; i < e; ++i) {
      const T* src = pa + int64_t(i) * nn;
      if (!all_finite(src, nn)) fail_at(op, count, i, "The matrix contains NaN or infinity");
      transpose_into(src, n, n, n, col.data(), n);
      const char jobvr = vectors ? 'V' : 'N';
      const int ldvr = vectors ? n : 1;
      if (work.empty()) {
        T query;
        geev(jobvr, n, col.data(), n, wr.data(), wi.data(), vr.data(), ldvr, &query, -1);
        work.resize(work_size(query));
      }
      int info = geev(jobvr, n, col.data(), n, wr.data(), wi.data(), vr.data(), ldvr,
                      work.data(), static_cast<int>(work.size()));
      if (info > 0) fail_at(op, count, i, "The eigenvalue algorithm did not converge");
      complex64_t* w = pw + int64_t(i) * n;
      for (int j = 0; j < n; ++j) w[j] = complex64_t(float(wr[j]), float(wi[j]));
      if (!vectors) continue;
      // Column j of VR (column-major) is eigenvector j; a complex pair j, j + 1 stores the real
      // part in column j and the imaginary part in column j + 1.
      complex64_t* v = pv + int64_t(i) * nn;
      for (int j = 0; j < n; ++j) {
        const T* cj = vr.data() + int64_t(j) * n;
        if (wi[j] != T(0) && j + 1 < n) {
          const T* cn = cj + n;
          for (int r = 0; r < n; ++r) {
            v[int64_t(r) * n + j] = complex64_t(float(cj[r]), float(cn[r]));
            v[int64_t(r) * n + j + 1] = complex64_t(float(cj[r]), float(-cn[r]));
          }
          ++j;
        } else {
          for (int r = 0; r < n; ++r) v[int64_t(r) * n + j] = complex64_t(float(cj[r]), 0.0f);
        }
      }
    }
  });
}

// A complex64 A: geev gives complex eigenvalues and eigenvectors directly.
void eig_complex(const array& a_in, std::vector<array>& outputs, bool vectors) {
  for (auto& o : outputs) allocate(o);
  const int n = static_cast<int>(a_in.shape(-1));
  const int64_t count = batch_count(a_in), nn = int64_t(n) * n;
  if (count == 0 || n == 0) return;
  const array a = row_contiguous(a_in);
  const complex64_t* pa = a.data<complex64_t>();
  auto* pw = outputs[0].data<complex64_t>();
  auto* pv = vectors ? outputs[1].data<complex64_t>() : nullptr;
  const char* op = vectors ? "eig" : "eigvals";
  for_each_matrix(count, 40.0 * n * n * n, [&](size_t b, size_t e) {
    std::vector<complex64_t> col(nn), vr(vectors ? nn : 1), work;
    std::vector<float> rwork(2 * int64_t(n));
    const char jobvr = vectors ? 'V' : 'N';
    const int ldvr = vectors ? n : 1;
    for (size_t i = b; i < e; ++i) {
      const complex64_t* src = pa + int64_t(i) * nn;
      if (!all_finite(src, nn)) fail_at(op, count, i, "The matrix contains NaN or infinity");
      transpose_into(src, n, n, n, col.data(), n);
      if (work.empty()) {
        complex64_t query;
        geev(jobvr, n, col.data(), n, pw, vr.data(), ldvr, &query, -1, rwork.data());
        work.resize(work_size(query));
      }
      int info = geev(jobvr, n, col.data(), n, pw + int64_t(i) * n, vr.data(), ldvr, work.data(),
                      static_cast<int>(work.size()), rwork.data());
      if (info > 0) fail_at(op, count, i, "The eigenvalue algorithm did not converge");
      if (vectors) transpose_into(vr.data(), n, n, n, pv + int64_t(i) * nn, n);
    }
  });
}

template <typename T>
void lu_factor(const array& a_in, std::vector<array>& outputs) {
  for (auto& o : outputs) allocate(o);
  const int m = static_cast<int>(a_in.shape(-2)), n = static_cast<int>(a_in.shape(-1));
  const int k = std::min(m, n);
  const int64_t count = batch_count(a_in);
  if (count == 0) return;
  const array a = row_contiguous(a_in);
  const T* pa = a.data<T>();
  T* plu = outputs[0].data<T>();
  auto* ppiv = outputs[1].data<uint32_t>();
  auto* pperm = outputs[2].data<uint32_t>();
  for_each_matrix(count, double(m) * n * std::max(k, 1), [&](size_t b, size_t e) {
    std::vector<T> col(std::max<int64_t>(int64_t(m) * n, 1));
    std::vector<int> ipiv(std::max(k, 1)), rows(m);
    for (size_t i = b; i < e; ++i) {
      const int64_t mn = int64_t(m) * n;
      if (k > 0) {
        transpose_into(pa + int64_t(i) * mn, m, n, n, col.data(), m);
        getrf(m, n, col.data(), m, ipiv.data());  // info > 0: singular, still factored
        transpose_into(col.data(), n, m, m, plu + int64_t(i) * mn, n);
      }
      for (int r = 0; r < m; ++r) rows[r] = r;
      for (int j = 0; j < k; ++j) {
        ppiv[int64_t(i) * k + j] = uint32_t(ipiv[j] - 1);
        std::swap(rows[j], rows[ipiv[j] - 1]);
      }
      // Row j of L U is row rows[j] of A; A = L[P] U puts row i of A at P[i].
      for (int r = 0; r < m; ++r) pperm[int64_t(i) * m + rows[r]] = uint32_t(r);
    }
  });
}

template <typename T>
void determinant(const array& a_in, std::vector<array>& outputs, bool log) {
  for (auto& o : outputs) allocate(o);
  const int n = static_cast<int>(a_in.shape(-1));
  const int64_t count = batch_count(a_in), nn = int64_t(n) * n;
  if (count == 0) return;
  // det(A^T) = det(A): the row-major buffer factors as it is.
  array lu = array::empty(a_in.shape(), a_in.dtype());
  if (lu.size() > 0) cpu::copy_to_contiguous(a_in, lu);
  T* pa = lu.data<T>();
  T* p0 = outputs[0].data<T>();
  T* p1 = log ? outputs[1].data<T>() : nullptr;
  for_each_matrix(count, double(n) * n * n / 1.5, [&](size_t b, size_t e) {
    std::vector<int> ipiv(std::max(n, 1));
    for (size_t i = b; i < e; ++i) {
      T* a = pa + int64_t(i) * nn;
      if (n > 0) getrf(n, n, a, n, ipiv.data());
      T sign = 1, logabs = 0, product = 1;
      for (int j = 0; j < n; ++j) {
        const T d = a[int64_t(j) * n + j];
        if (ipiv[j] != j + 1) sign = -sign;
        if (log) {
          if (d < 0) sign = -sign;
          logabs += std::log(std::abs(d));  // -inf for a zero pivot; NaN stays NaN
          if (d == T(0)) sign = 0;
        } else {
          product *= d;
        }
      }
      if (log) {
        p0[i] = sign;
        p1[i] = logabs;
      } else {
        p0[i] = sign * product;
      }
    }
  });
}

}  // namespace

void Inverse::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  fill_from(inputs[0], outputs[0]);
  dispatch_real(outputs[0].dtype(), "inv", [&](auto tag) {
    inverse<decltype(tag)>(outputs[0], kind_);
  });
}

void Solve::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  dispatch_real(outputs[0].dtype(), "solve", [&](auto tag) {
    solve<decltype(tag)>(inputs[0], inputs[1], outputs[0], triangular_, upper_);
  });
}

void Cholesky::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  fill_from(inputs[0], outputs[0]);
  dispatch_real(outputs[0].dtype(), "cholesky", [&](auto tag) {
    cholesky<decltype(tag)>(outputs[0]);
  });
}

void QR::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  dispatch_real(inputs[0].dtype(), "qr", [&](auto tag) {
    qr<decltype(tag)>(inputs[0], outputs[0], outputs[1]);
  });
}

void SVD::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  dispatch_real_or_complex(inputs[0].dtype(), "svd", [&](auto tag) {
    svd<decltype(tag)>(inputs[0], outputs, compute_uv_);
  });
}

void Eigh::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  dispatch_real_or_complex(inputs[0].dtype(), "eigh", [&](auto tag) {
    eigh<decltype(tag)>(inputs[0], outputs, upper_, vectors_);
  });
}

void Eig::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  if (inputs[0].dtype() == Dtype::complex64) return eig_complex(inputs[0], outputs, vectors_);
  dispatch_real(inputs[0].dtype(), "eig", [&](auto tag) {
    eig<decltype(tag)>(inputs[0], outputs, vectors_);
  });
}

void LUFactor::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  dispatch_real(inputs[0].dtype(), "lu", [&](auto tag) {
    lu_factor<decltype(tag)>(inputs[0], outputs);
  });
}

void Determinant::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  dispatch_real(inputs[0].dtype(), "det", [&](auto tag) {
    determinant<decltype(tag)>(inputs[0], outputs, log_);
  });
}

}  // namespace pullback
