"""pullback.core.random (``mx.random``): keys, the global key and the distributions.

Keys are uint32 arrays of shape (2,). A key gives the same numbers on every run, thread and
machine, and the numbers MLX's generator gives for it (bits, split, uniform, normal, randint,
bernoulli, permutation bit for bit). Functions called without ``key`` split the global key,
which ``seed`` resets; the global key lives in the C++ core (one place for every caller).
"""

from pullback._core.random import (bernoulli, bits, categorical, gumbel, key, laplace,  # noqa: F401
                                   multivariate_normal, normal, permutation, randint, seed,
                                   split, truncated_normal, uniform)

__all__ = ["bernoulli", "bits", "categorical", "gumbel", "key", "laplace", "multivariate_normal",
           "normal", "permutation", "randint", "seed", "split", "truncated_normal", "uniform"]
