"""pullback.core: arrays, ops and composable function transforms (``import pullback.core as mx``)."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, List, Sequence, Tuple, Union

from pullback._core import *  # noqa: F401,F403
from pullback._core import _jvp_flat, _vjp_flat, array, default_device, default_stream
from pullback._core import set_default_device, set_default_stream
from pullback.utils import _flatten_leaves, _unflatten_leaves
from pullback._core import _as_stream as _core_as_stream
from pullback._core import Dtype as _Dtype

# Dtypes are singletons compared by identity; Enum's own __hash__ hashes the member's name in
# Python code, which signature keys (compile's cache, the optimizers' scalars) pay per array.
_Dtype.__hash__ = object.__hash__

# ---- pytrees of arrays (private: the transforms' view of their arguments) ----
# One pytree implementation for the whole package (DESIGN.md decision 10): pullback.utils.

def _flatten(tree: Any, what: str) -> Tuple[List[array], Any]:
    """Leaves of ``tree`` (which must all be arrays) and a structure to rebuild it."""
    return _flatten_leaves(tree, array, what)


_unflatten = _unflatten_leaves


def _as_list(x: Union[array, Sequence[array]], what: str, arg: str) -> List[array]:
    if isinstance(x, array):
        return [x]
    if not isinstance(x, (list, tuple)):
        raise TypeError(f"[{what}] {arg} must be an array or a list/tuple of arrays; "
                        f"got {type(x).__name__}.")
    return list(x)


# ---- transforms ----

def _flat_outputs(fun: Callable, what: str) -> Callable:
    """``fun`` taking positional arrays and returning an array or a sequence of them, as a
    function of a list of arrays returning a list."""
    def flat(xs):
        out = fun(*xs)
        if isinstance(out, array):
            return [out]
        if not isinstance(out, (list, tuple)):
            raise TypeError(f"[{what}] The function must return an array or a list/tuple of arrays; "
                            f"it returned {type(out).__name__}.")
        return list(out)
    return flat


def vjp(fun: Callable, primals: List[array], cotangents: List[array]) -> Tuple[List[array], List[array]]:
    """Returns ``(fun(*primals), vjps)``: the outputs, and the cotangents pulled back to the primals."""
    outs, vjps = _vjp_flat(_flat_outputs(fun, "vjp"), _as_list(primals, "vjp", "primals"),
                           _as_list(cotangents, "vjp", "cotangents"), "vjp")
    return list(outs), list(vjps)


def jvp(fun: Callable, primals: List[array], tangents: List[array]) -> Tuple[List[array], List[array]]:
    """Returns ``(fun(*primals), jvps)``: the outputs, and the tangents pushed forward to them."""
    outs, jvps = _jvp_flat(_flat_outputs(fun, "jvp"), _as_list(primals, "jvp", "primals"),
                           _as_list(tangents, "jvp", "tangents"), "jvp")
    return list(outs), list(jvps)


def _restore(traced: Any, original: Any, originals: Dict[int, Any]) -> Any:
    """What the caller sees for ``traced`` (a value inside an argument after ``fun`` ran): the
    caller's own leaf where ``fun`` left the stand-in we gave it, the caller's own container
    (updated in place) where it kept one, else the new value."""
    if isinstance(traced, array):
        return originals.get(id(traced), traced)
    if isinstance(traced, (list, dict)) and type(traced) is type(original):
        _write_back(original, traced, originals)
        return original
    if isinstance(traced, tuple) and isinstance(original, tuple) and len(traced) == len(original):
        for t, o in zip(traced, original):
            if isinstance(t, (list, dict)) and type(t) is type(o):
                _write_back(o, t, originals)
        return original
    return traced


def _all_same(xs: Sequence[Any], ys: Sequence[Any]) -> bool:
    """Whether xs and ys hold the same objects (``any``/``all`` here are the array ops)."""
    for x, y in zip(xs, ys):
        if x is not y:
            return False
    return True


def _write_back(original: Any, traced: Any, originals: Dict[int, Any]) -> None:
    """Applies the changes ``fun`` made to the copy ``traced`` of the caller's list or dict
    ``original`` (``model[1] = x``) to ``original``, as MLX makes them visible; untouched
    entries keep their identity."""
    if isinstance(original, list):
        items = [_restore(t, original[i] if i < len(original) else None, originals)
                 for i, t in enumerate(traced)]
        if len(items) != len(original) or not _all_same(items, original):
            original[:] = items
    elif isinstance(original, dict):
        for key in [k for k in original if k not in traced]:
            del original[key]
        for key, t in traced.items():
            value = _restore(t, original.get(key), originals)
            if key not in original or original[key] is not value:
                original[key] = value


def _value_and_grad(fun: Callable, argnums: Union[int, Sequence[int], None],
                    argnames: Union[str, Sequence[str]], what: str, allow_aux: bool) -> Callable:
    names = [argnames] if isinstance(argnames, str) else list(argnames)
    if argnums is None:
        argnums = 0 if not names else ()
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    # One argument number, as an int or a one-element sequence, gives the bare gradient (MLX).
    single = len(nums) == 1
    if len(set(nums)) != len(nums):
        raise ValueError(f"[grad] Repeated argument numbers in argnums {tuple(nums)}.")

    def wrapper(*args, **kwargs):
        for i in nums:
            if i < -len(args) or i >= len(args):
                raise ValueError(f"[grad] Can't compute the gradient of argument index {i} because "
                                 f"the function is called with only {len(args)} positional arguments.")
        for n in names:
            if n not in kwargs:
                raise ValueError(f"[grad] Can't compute the gradient of keyword argument '{n}' because "
                                 f"the function is called with no such keyword argument.")
        positions = [i % len(args) for i in nums]
        trees = [args[i] for i in positions] + [kwargs[n] for n in names]
        leaves, structure = _flatten(trees, "grad")
        result = {}

        def flat(xs):
            new = _unflatten(structure, xs)
            result["traced"] = (new, {id(x): leaf for x, leaf in zip(xs, leaves)})
            a, kw = list(args), dict(kwargs)
            for k, i in enumerate(positions):
                a[i] = new[k]
            for k, n in enumerate(names):
                kw[n] = new[len(positions) + k]
            out = fun(*a, **kw)
            if not allow_aux and not isinstance(out, array):
                raise ValueError(f"[{what}] The function must return a scalar array; got "
                                 f"{type(out).__name__} (value_and_grad takes (loss, aux)).")
            loss = out[0] if isinstance(out, (tuple, list)) and len(out) > 0 else out
            if not isinstance(loss, array):
                raise ValueError("[grad] The function must return an array (or a tuple whose first "
                                 f"element is an array); got {type(loss).__name__}.")
            if loss.ndim != 0:
                raise ValueError("[grad] The function must return a scalar array; got an array of "
                                 f"shape {loss.shape}.")
            result["value"] = out
            return [loss]

        _, grads = _vjp_flat(flat, leaves, [array(1.0)], what)
        new, originals = result["traced"]
        for original, traced in zip(trees, new):
            if isinstance(original, (list, dict, tuple)):
                _restore(traced, original, originals)
        grads = _unflatten(structure, grads)
        if single:
            positional = grads[0]
        elif positions or not names:
            positional = tuple(grads[:len(positions)])
        else:
            positional = None
        if names:
            positional = (positional, {n: g for n, g in zip(names, grads[len(positions):])})
        return result["value"], positional

    return wrapper


def value_and_grad(fun: Callable, argnums: Union[int, Sequence[int], None] = None,
                   argnames: Union[str, Sequence[str]] = []) -> Callable:
    """Returns a function computing ``fun``'s value and its gradient with respect to the chosen
    arguments. ``fun`` returns a scalar array, or a tuple/list whose first element is one."""
    return _value_and_grad(fun, argnums, argnames, "value_and_grad", allow_aux=True)


def grad(fun: Callable, argnums: Union[int, Sequence[int], None] = None,
         argnames: Union[str, Sequence[str]] = []) -> Callable:
    """Returns a function computing the gradient of ``fun`` with respect to the chosen arguments.
    ``fun`` returns a scalar array."""
    vg = _value_and_grad(fun, argnums, argnames, "grad", allow_aux=False)

    def wrapper(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    return wrapper


def result_type(*arrays_and_dtypes: Union[array, Dtype]) -> Dtype:  # noqa: F405
    """The dtype that the given arrays and dtypes promote to."""
    if not arrays_and_dtypes:
        raise ValueError("[result_type] At least one array or dtype is required.")
    dtypes = [x.dtype if isinstance(x, array) else x for x in arrays_and_dtypes]
    out = dtypes[0]
    for d in dtypes[1:]:
        out = promote_types(out, d)  # noqa: F405
    return out


class ArrayLike:
    """Any Python object with an ``__mlx_array__`` method that returns an :obj:`array`: ops
    and ``mx.array`` accept such objects wherever they accept an array (MLX's protocol)."""


class StreamContext:
    """A context manager that runs the ops in its ``with`` block on a stream (or a device's
    default stream), restoring the previous default stream on exit. See :func:`stream`."""

    def __init__(self, s):
        self._stream = _core_as_stream(s)
        self._previous = []

    def __enter__(self):
        self._previous.append(default_stream(default_device()))
        set_default_stream(self._stream)
        return self._stream

    def __exit__(self, *exc):
        set_default_stream(self._previous.pop())
        return False


def stream(s) -> StreamContext:
    """Runs the ops in the ``with`` block on stream (or device) ``s``."""
    return StreamContext(s)


from pullback.core._info import (PrintOptions, __version__, cuda, device_info,  # noqa: E402
                                 finfo, get_printoptions, iinfo, metal, printoptions,
                                 set_printoptions, set_wired_limit)

from pullback.core._vmap import hessian, jacfwd, jacrev, vmap  # noqa: E402
from pullback.core._custom import checkpoint, custom_function  # noqa: E402
from pullback.core._compile import compile, disable_compile, enable_compile  # noqa: E402,A004
from pullback.core._interop import from_dlpack  # noqa: E402
from pullback.core._io import (load, save, save_gguf, save_safetensors, savez,  # noqa: E402
                               savez_compressed)

from pullback.core import fft  # noqa: E402  (the mx.fft submodule)
from pullback.core import fast  # noqa: E402  (the mx.fast submodule)
import importlib as _importlib  # noqa: E402

# The Python module pullback.core.linalg (`from pullback.core import linalg` would find the
# _core.linalg attribute that the star import above left and not import the module).
linalg = _importlib.import_module("pullback.core.linalg")
random = _importlib.import_module("pullback.core.random")  # (mx.random.state is Python's)

import pullback._core as _core_module  # noqa: E402

__all__ = sorted(
    {name for name in dir(_core_module) if not name.startswith("_")}
    | {"vjp", "jvp", "grad", "value_and_grad", "result_type", "stream", "StreamContext", "finfo", "iinfo",
       "metal", "cuda", "device_info", "set_printoptions", "get_printoptions", "printoptions",
       "PrintOptions", "set_wired_limit", "from_dlpack", "load", "save", "save_gguf",
       "save_safetensors", "savez", "savez_compressed", "fft", "fast", "random", "vmap",
       "jacrev", "jacfwd", "hessian", "checkpoint", "custom_function", "compile",
       "disable_compile", "enable_compile"}
)
