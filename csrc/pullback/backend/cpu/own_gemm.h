// Our own float32 gemm (AVX-512 or AVX2 kernels, runtime dispatch), used by matmul.cpp and the
// convolutions in place of OpenBLAS's sgemm where it is faster.
#pragma once

#include <cstdint>

namespace pullback::simd {
enum class Isa;  // simd_math.h
}

namespace pullback::cpu {

// A float32 matrix operand: element (i, j) at data[i * rs + j * cs], with rs or cs equal to 1.
struct SgemmOperand {
  const float* data;
  int64_t rs;
  int64_t cs;
};

// Whether own_sgemm runs on this CPU (AVX-512 or AVX2 with FMA, unless PULLBACK_ISA caps the
// kernels lower).
bool own_sgemm_available();

// Whether own_sgemm should take an m x k by k x n product: it is available, and the product is
// neither a single row or column (gemv's) nor among the smallest, where OpenBLAS's
// small-matrix kernels skip packing.
bool own_sgemm_suits(int64_t m, int64_t n, int64_t k);

// c = a @ b (c += a @ b with `accumulate`), a m x k, b k x n, c(i, j) at c[i * ldc + j].
// Requires k >= 1. With `threaded`, the blocks of c are shared over the thread pool
// (parallel.h); each element of c is computed by one thread in the same order whatever the
// thread count, so results do not depend on it.
void own_sgemm(int64_t m, int64_t n, int64_t k, SgemmOperand a, SgemmOperand b, float* c,
               int64_t ldc, bool threaded, bool accumulate = false);

// own_sgemm on the kernels of `isa` (Avx2 or Avx512) whatever PULLBACK_ISA says, so that tests
// check each set the CPU runs; false (and c untouched) where it runs none for `isa`.
bool own_sgemm_on(simd::Isa isa, int64_t m, int64_t n, int64_t k, SgemmOperand a,
                  SgemmOperand b, float* c, int64_t ldc, bool threaded, bool accumulate = false);

}  // namespace pullback::cpu
