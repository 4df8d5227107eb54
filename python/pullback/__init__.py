"""pullback: arrays with composable automatic differentiation, in MLX's programming model."""

import os

# OpenBLAS's worker threads spin for a long while after each threaded gemm, taking the cores
# from the elementwise kernels that follow (x*2+1 on 8M floats ran ~45% slower right after a
# matmul). A short timeout puts them to sleep sooner; the user's own setting wins. It must be
# set before pullback._core loads the library.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"
