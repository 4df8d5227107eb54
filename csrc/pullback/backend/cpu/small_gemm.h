// Our own float32 gemm for products small enough to run on one thread (matmul.cpp's batches).
#pragma once

#include <cstdint>

namespace pullback::cpu {

// Whether small_sgemm should take an m x k by k x n product that runs on one thread: it runs on
// this CPU (AVX-512, unless PULLBACK_ISA caps the kernels lower) and the product is in the range
// where it beats OpenBLAS's single-threaded sgemm.
bool small_sgemm_suits(int64_t m, int64_t n, int64_t k);

// c = a @ b on the calling thread, c an m x n row-contiguous matrix, a(i, p) at
// a[i * a_rs + p * a_cs] with a_rs or a_cs equal to 1, b row-major: b(p, j) at b[p * ldb + j].
// Requires k >= 1.
void small_sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                 const float* b, int64_t ldb, float* c);

}  // namespace pullback::cpu
