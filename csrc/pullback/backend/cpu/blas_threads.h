// How our thread pool and OpenBLAS's share the cores (used by matmul.cpp and conv.cpp).
#pragma once

#include <cblas.h>

#include <cstdlib>
#include <mutex>

#include "pullback/backend/cpu/parallel.h"

namespace pullback::cpu {

// OpenBLAS sizes its pool from the core count; follow PULLBACK_NUM_THREADS too, unless the
// user set OpenBLAS's own variables. Our pool's workers sleep on a condition variable while
// a gemm runs, so the two pools take turns rather than compete.
inline void configure_blas_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("OPENBLAS_NUM_THREADS") || std::getenv("OMP_NUM_THREADS")) return;
    int want = num_threads();
    if (want >= 1 && scipy_openblas_get_num_threads() != want) scipy_openblas_set_num_threads(want);
  });
}

// OpenBLAS held to one thread for the scope (products then run on our pool's threads, one each),
// restored afterwards. The setting is process-wide; a concurrent matmul on another thread only
// runs single-threaded meanwhile, with the same results.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : previous_(scipy_openblas_get_num_threads()) {
    if (previous_ != 1) scipy_openblas_set_num_threads(1);
  }
  ~SingleThreadedBlas() {
    if (previous_ != 1) scipy_openblas_set_num_threads(previous_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_;
};

}  // namespace pullback::cpu
