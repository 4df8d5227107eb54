"""pullback.core.linalg: linear algebra on stacks of matrices, MLX's ``mx.linalg``.

The functions are the C++ ones of the ``linalg`` submodule of ``pullback._core``; this module
makes ``import pullback.core.linalg`` work as ``mx.linalg`` does.
"""

from pullback._core import linalg as _native

__all__ = ["cholesky", "cholesky_inv", "cross", "det", "eig", "eigh", "eigvals", "eigvalsh",
           "inv", "lu", "lu_factor", "norm", "pinv", "qr", "slogdet", "solve",
           "solve_triangular", "svd", "tri_inv"]

globals().update({name: getattr(_native, name) for name in __all__})
