// OpenBLAS's thread count, shared by the kernels that call BLAS or LAPACK (matmul, linalg).
#pragma once

namespace pullback::cpu {

// Sizes OpenBLAS's pool once (from PULLBACK_NUM_THREADS unless OpenBLAS's own variables are set).
void configure_blas_threads();

// OpenBLAS held to one thread for the scope (batches then run one problem per pool thread),
// restored afterwards. The setting is process-wide; a concurrent BLAS call on another thread
// only runs single-threaded meanwhile, with the same results.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_;
};

}  // namespace pullback::cpu
