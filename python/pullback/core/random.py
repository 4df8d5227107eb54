"""pullback.core.random (``mx.random``): keys, the global key and the distributions.

Keys are uint32 arrays of shape (2,). A key gives the same numbers on every run, thread and
machine, and the numbers MLX's generator gives for it (bits, split, uniform, normal, randint,
bernoulli, permutation bit for bit). Functions called without ``key`` split the global key,
which ``seed`` resets; the global key lives in the C++ core (one place for every caller).
``state`` holds it as its one item, so that it can be named in :func:`compile`'s ``inputs`` and
``outputs`` like a model's or an optimizer's state.
"""

from typing import Any, Iterator

from pullback._core.random import (_global_key, _set_global_key, bernoulli, bits,  # noqa: F401
                                   categorical, gumbel, key, laplace, multivariate_normal, normal,
                                   permutation, randint, seed, split, truncated_normal, uniform)

__all__ = ["bernoulli", "bits", "categorical", "gumbel", "key", "laplace", "multivariate_normal",
           "normal", "permutation", "randint", "seed", "split", "state", "truncated_normal",
           "uniform"]


def _check_index(i: Any) -> None:
    if not isinstance(i, int) or isinstance(i, bool):
        raise TypeError(f"[random.state] Indices must be integers; got {type(i).__name__}.")
    if i not in (0, -1):
        raise IndexError(f"[random.state] Index {i} is out of range: the state holds one key.")


class _RandomState(list):
    """MLX's ``mx.random.state``: a list of one item, the global key (a uint32 array of shape
    (2,)). ``state[0]`` reads it; ``state[0] = k`` replaces it, and keyless draws then split
    ``k``. It is a ``list`` so that pytree code (compile's ``inputs``/``outputs``, tree
    utilities) walks it; every access goes to the C++ global key, the list's own storage stays
    empty and unused."""

    __slots__ = ()

    def __getitem__(self, i: Any) -> Any:
        _check_index(i)
        return _global_key()

    def __setitem__(self, i: Any, value: Any) -> None:
        _check_index(i)
        _set_global_key(value)

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Any]:
        yield _global_key()

    __reversed__ = __iter__

    def __repr__(self) -> str:
        return f"random.state([{_global_key()!r}])"

    # Compared and hashed as the one object it is (as MLX's), not by the list's storage.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__  # type: ignore[assignment]

    def _fixed_size(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("[random.state] The random state holds exactly one key; assign "
                        "state[0] to replace it.")

    append = extend = insert = pop = remove = clear = sort = reverse = _fixed_size  # type: ignore
    __delitem__ = __iadd__ = __imul__ = _fixed_size  # type: ignore


state = _RandomState()
