"""compile over pytrees, with a cache per input signature and captured state.

The function is traced once per signature (the arguments' pytree structure, non-array values,
and each array's dtype and shape, or only its rank with ``shapeless=True``) in C++
(``_compile_flat``): on data-less stand-ins, so that the graph cannot depend on values. The
trace is simplified (common subexpressions merged, float32 elementwise chains fused into one
pass) and every later call with the same signature replays it (``_compiled_call``) without
calling the Python function.

State that the function reads or writes without receiving it (a model's parameters, an
optimizer's moments) is named with ``inputs`` and ``outputs``: pytrees (lists, tuples, dicts,
modules) whose arrays are read at every call and passed in as inputs, and whose arrays are
replaced after every call with the values the function left there.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from pullback._core import _compile_flat, _compiled_call, array
from pullback.core._custom import _ModuleCall, _is_module
from pullback.core._vmap import _Slot
from pullback.utils import _flatten_leaves, _unflatten_leaves

_enabled = os.environ.get("PULLBACK_DISABLE_COMPILE", "") in ("", "0")


def disable_compile() -> None:
    """Make :func:`compile` a no-op: compiled functions run as plain Python functions."""
    global _enabled
    _enabled = False


def enable_compile() -> None:
    """Undo :func:`disable_compile` (the environment variable PULLBACK_DISABLE_COMPILE=1 sets
    the initial state)."""
    global _enabled
    _enabled = True


# ---- state: where each array of an inputs/outputs tree sits, so it can be replaced ----

def _state_slots(tree: Any, out: List[Tuple[Any, Any]], what: str, writable: bool) -> None:
    """Appends (container, key) for every array of ``tree`` (lists, tuples, dicts, modules)."""
    if isinstance(tree, dict):
        items = list(tree.items())
    elif isinstance(tree, (list, tuple)):
        items = list(enumerate(tree))
    else:
        return
    for key, value in items:
        if isinstance(value, array):
            if isinstance(tree, tuple) and writable:
                raise ValueError(f"[{what}] outputs must hold arrays in lists or dicts (which can "
                                 "be updated in place); found one in a tuple.")
            out.append((tree, key))
        else:
            _state_slots(value, out, what, writable)


def _slots_of(state: Any, what: str, writable: bool) -> List[Tuple[Any, Any]]:
    if state is None:
        return []
    if isinstance(state, array):
        raise ValueError(f"[{what}] inputs and outputs must be trees (lists, tuples, dicts or "
                         "modules) holding arrays, not a bare array: the compiled function "
                         "updates them in place.")
    slots: List[Tuple[Any, Any]] = []
    _state_slots(state, slots, what, writable)
    return slots


# ---- the signature of a call ----

def _structure_key(tree: Any) -> Any:
    """A hashable description of the arguments' template (arrays already replaced by slots)."""
    if isinstance(tree, _Slot):
        return ("array", tree.index)
    if isinstance(tree, (list, tuple)):
        return (type(tree), tuple(_structure_key(c) for c in tree))
    if isinstance(tree, dict) and not _is_module(tree):
        return (type(tree), tuple((k, _structure_key(v)) for k, v in tree.items()))
    if _is_module(tree):
        return ("module", id(tree))
    try:
        hash(tree)
    except TypeError:
        return ("object", id(tree))
    return (type(tree), tree)


class _Compiled:
    """A compiled function: the cache of traces, one per signature."""

    def __init__(self, fun: Callable, inputs: Any, outputs: Any, shapeless: bool):
        self._fun = fun
        self._inputs = inputs
        self._outputs = outputs
        self._shapeless = shapeless
        self._cache: Dict[Any, Tuple[Any, Dict[str, Any]]] = {}
        # The common call (positional arrays only, no state) is looked up by its arrays'
        # signature alone, without taking the arguments apart: a compiled call then costs
        # little more than an eager op.
        self._stateless = inputs is None and outputs is None
        self._plain: Dict[Any, Tuple[Any, Dict[str, Any]]] = {}

    def _plain_key(self, args: tuple) -> Any:
        for x in args:
            if type(x) is not array:
                return None
        if self._shapeless:
            return tuple((x.ndim, x.dtype) for x in args)
        return tuple((x.shape, x.dtype) for x in args)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not _enabled:
            return self._fun(*args, **kwargs)
        plain = self._plain_key(args) if self._stateless and not kwargs else None
        if plain is not None:
            entry = self._plain.get(plain)
            if entry is not None:
                graph, info = entry
                return _unflatten_leaves(info["structure"], list(_compiled_call(graph, args)))
        what = "compile"
        call = _ModuleCall(args, kwargs, what)
        in_slots = _slots_of(self._inputs, what, False)
        state_in = [c[k] for c, k in in_slots]
        flat_in = call.arrays + state_in
        per_array = tuple((x.ndim if self._shapeless else tuple(x.shape), x.dtype)
                          for x in flat_in)
        key = (_structure_key(call.template), per_array, tuple(k for _, k in in_slots),
               tuple(s[4] for s in call.swaps))
        entry = self._cache.get(key)
        if entry is None:
            entry = self._trace(call, in_slots, state_in, flat_in)
            self._cache[key] = entry
        graph, info = entry
        results = _compiled_call(graph, flat_in)
        out_slots = _slots_of(self._outputs, what, True)
        if len(out_slots) != info["num_state"]:
            raise ValueError(f"[{what}] The outputs tree holds {len(out_slots)} arrays after the "
                             f"call, but {info['num_state']} when the function was traced.")
        count = info["num_outputs"]
        for (container, k), value in zip(out_slots, results[count:]):
            container[k] = value
        if plain is not None:
            self._plain[plain] = entry
        return _unflatten_leaves(info["structure"], list(results[:count]))

    def _trace(self, call: _ModuleCall, in_slots, state_in, flat_in):
        what = "compile"
        info: Dict[str, Any] = {}
        n = len(call.arrays)
        fun, outputs = self._fun, self._outputs

        def flat(xs):
            for (container, k), x in zip(in_slots, xs[n:]):
                container[k] = x
            out = call.run(fun, xs[:n])
            leaves, info["structure"] = _flatten_leaves(out, array, what)
            out_slots = _slots_of(outputs, what, True)
            info["num_outputs"] = len(leaves)
            info["num_state"] = len(out_slots)
            return leaves + [c[k] for c, k in out_slots]

        try:
            graph = _compile_flat(flat, flat_in)
        finally:
            # The state trees held stand-ins while the function was traced.
            for (container, k), x in zip(in_slots, state_in):
                container[k] = x
        return graph, info

    def _graphs(self) -> List[Any]:
        """The compiled graphs so far (one per signature; for tests)."""
        return [g for g, _ in self._cache.values()]


def compile(fun: Callable, inputs: Optional[Any] = None, outputs: Optional[Any] = None,
            shapeless: bool = False) -> Callable:
    """Returns a compiled version of ``fun``: traced once per input signature, its graph
    simplified (common subexpressions merged) and its float32 elementwise chains fused into one
    pass over memory, then replayed on every call with that signature.

    Args:
        fun: a function of arrays, pytrees of arrays, modules and other (hashable) values,
            returning an array or a pytree of arrays. Arrays it reads from its closure are
            constants of the compiled graph (captured when it is traced).
        inputs: a tree (list, tuple, dict, module) of implicit inputs, such as
            ``[model.state, optimizer.state]``, read at every call.
        outputs: a tree of implicit outputs: after every call its arrays are replaced by the
            values the function left in it.
        shapeless: reuse a trace for inputs of other shapes (of the same dtypes and ranks);
            valid when the function's graph follows from its inputs' shapes.

    Evaluating an array that depends on an input inside ``fun`` (``if x.sum() > 0:``,
    ``.item()``) raises a ValueError: select with :func:`where`, or pass the value as a
    non-array argument."""
    if not callable(fun):
        raise TypeError(f"[compile] fun must be callable; got {type(fun).__name__}.")
    if not isinstance(shapeless, bool):
        raise TypeError(f"[compile] shapeless must be a bool; got {type(shapeless).__name__}.")
    compiled = _Compiled(fun, inputs, outputs, shapeless)

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return compiled(*args, **kwargs)

    wrapper._compiled = compiled  # type: ignore[attr-defined]
    return wrapper
