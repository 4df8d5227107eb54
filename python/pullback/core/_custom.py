"""custom_function and checkpoint over pytrees.

Both become one ``CustomTransforms`` node in C++ (``_custom_function_flat``): the function is
traced once, its derivative and batching rules are the user's where given, and otherwise come
from re-running (replaying) the traced forward: with no rules at all that is checkpointing.

Arrays a function reads without receiving them (closure captures) are found in its trace and,
where they may depend on an enclosing transform (they are lazy or a transform's stand-in), they
become inputs of the node too: gradients reach them (MLX treats them as constants and silently
gives zeros). Their derivatives always come from the replayed forward, also where a custom vjp
or jvp is given for the arguments (the user's rules see only the arguments).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional

from pullback._core import _custom_function_flat, array, zeros, zeros_like
from pullback.core._vmap import _axes_of_leaves, _fill, _slot_arrays, _Slot
from pullback.utils import _flatten_leaves, _unflatten_leaves


def _is_module(x: Any) -> bool:
    """An ``nn.Module`` (duck-typed: pullback.core does not import pullback.nn)."""
    return isinstance(x, dict) and callable(getattr(x, "trainable_parameters", None)) and \
        callable(getattr(x, "update", None))


def _describe(x: Any) -> str:
    if isinstance(x, array):
        return f"an array of shape {tuple(x.shape)}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)} entries"
    return f"a {type(x).__name__}"


def _match(result: Any, template: Any, out: List[Any], what: str, rule: str, kind: str) -> None:
    """Puts the arrays of ``result`` (a user rule's answer) where ``template`` has a _Slot;
    None stands for zeros (of a whole subtree). Non-array leaves of the template take any value."""
    if isinstance(template, _Slot):
        if result is not None and not isinstance(result, array):
            raise ValueError(f"[{what}] The {rule} returned {_describe(result)} where an array "
                             f"(the {kind} of an array) or None was expected.")
        out[template.index] = result
    elif isinstance(template, (list, tuple)):
        if result is None:
            for child in template:
                _match(None, child, out, what, rule, kind)
            return
        if not isinstance(result, (list, tuple)) or len(result) != len(template):
            raise ValueError(f"[{what}] The {rule} returned {_describe(result)} where "
                             f"{len(template)} {kind}s (one per entry of {_describe(template)}) "
                             "were expected.")
        for r, child in zip(result, template):
            _match(r, child, out, what, rule, kind)
    elif isinstance(template, dict):
        if result is None:
            for child in template.values():
                _match(None, child, out, what, rule, kind)
            return
        if not isinstance(result, dict) or set(result) != set(template):
            raise ValueError(f"[{what}] The {rule} returned {_describe(result)} where a dict with "
                             f"the keys {sorted(map(str, template))} was expected.")
        for key, child in template.items():
            _match(result[key], child, out, what, rule, kind)


def _flat_answer(result: Any, template: Any, single: bool, like: List[Any], what: str, rule: str,
                 kind: str) -> List[array]:
    """The flat list of arrays of a rule's answer shaped like ``template`` (bare where
    ``single``, where a 1-tuple is accepted too, as MLX does); None entries become zeros like
    the corresponding entry of ``like`` (an array or a (shape, dtype) pair)."""
    if single:
        if isinstance(result, (list, tuple)) and len(result) == 1 and isinstance(template, _Slot):
            result = result[0]
    out: List[Any] = [None] * len(like)
    _match(result, template, out, what, rule, kind)
    for i, x in enumerate(out):
        if x is None:
            out[i] = zeros_like(like[i]) if isinstance(like[i], array) else zeros(*like[i])
    return out


def _axes_tree(template: Any, axes: List[Optional[int]]) -> Any:
    """The arguments' tree with each array's axis in its place and None elsewhere."""
    if isinstance(template, _Slot):
        return axes[template.index]
    if isinstance(template, (list, tuple)):
        kind = type(template)
        children = [_axes_tree(c, axes) for c in template]
        return kind(*children) if hasattr(template, "_fields") else kind(children)
    if isinstance(template, dict):
        return {k: _axes_tree(v, axes) for k, v in template.items()}
    return None


class _Call:
    """One call of a custom function: the arguments taken apart into arrays and a template,
    and what the traced function returned (its structure, and the outputs' shapes and dtypes;
    not the outputs themselves, which the rules must not keep alive)."""

    def __init__(self, args: tuple, what: str, is_leaf=None):
        self.arrays: List[array] = []
        self.template = _slot_arrays(args, self.arrays, is_leaf)
        self.single = len(args) == 1
        self.what = what
        self.structure = None
        self.like: List[Any] = []

    def arguments(self, values: List[Any], is_leaf=None) -> tuple:
        return _fill(self.template, values, is_leaf)

    def primals(self, values: List[Any]) -> Any:
        """The arguments as a rule receives them: the bare argument where there is one."""
        filled = _fill(self.template, values)
        return filled[0] if self.single else filled

    def record_outputs(self, out: Any) -> List[array]:
        leaves, self.structure = _flatten_leaves(out, array, self.what)
        self.like = [(tuple(o.shape), o.dtype) for o in leaves]
        return leaves

    def outputs(self, leaves: List[array]) -> Any:
        return _unflatten_leaves(self.structure, list(leaves))

    def output_template(self) -> Any:
        return _unflatten_leaves(self.structure, [_Slot(i) for i in range(len(self.like))])

    def argument_template(self) -> Any:
        return self.template[0] if self.single else self.template


class _ModuleCall(_Call):
    """A call whose positional and keyword arguments may hold ``nn.Module`` instances: a
    module's parameters become arrays of the call (after the other arrays), put into the module
    while the function runs and taken out again afterwards."""

    def __init__(self, args: tuple, kwargs: dict, what: str):
        modules: Dict[int, Any] = {}

        def keep_module(x):
            if _is_module(x):
                modules.setdefault(id(x), x)
                return True
            return False

        super().__init__((args, kwargs), what, keep_module)
        self.swaps = []  # (module, its parameters, their structure, first index, count)
        for module in modules.values():
            params = module.parameters()
            leaves, structure = _flatten_leaves(params, array, what)
            self.swaps.append((module, params, structure, len(self.arrays), len(leaves)))
            self.arrays.extend(leaves)

    def run(self, fun: Callable, xs: List[Any]) -> Any:
        """``fun`` called on the arguments with the call's arrays replaced by ``xs``."""
        for module, _, structure, start, count in self.swaps:
            module.update(_unflatten_leaves(structure, xs[start:start + count]))
        try:
            a, kw = self.arguments(xs, _is_module)
            return fun(*a, **kw)
        finally:
            for module, params, _, _, _ in self.swaps:
                module.update(params)


class custom_function:
    """Set up a function for custom gradient and vmap definitions.

    Instances are callables that behave like the wrapped function. Under a transform, the
    functions given with :meth:`vjp`, :meth:`jvp` and :meth:`vmap` are used instead of the
    default transformation; each is optional, and one that is not given falls back to
    transforming the traced function (re-running it). Arguments may be pytrees of arrays; a
    rule receives the positional arguments (the bare argument when there is one), the
    function's outputs and (co)tangents in the structure of its result, and the keyword
    arguments as keywords.

    Unlike MLX, arrays captured by the function's closure that depend on an enclosing transform
    get derivatives, from the re-run function (the custom rules see only the arguments)."""

    def __init__(self, fun: Callable):
        if not callable(fun):
            raise TypeError(f"[custom_function] fun must be callable; got {type(fun).__name__}.")
        self._fun = fun
        self._vjp: Optional[Callable] = None
        self._jvp: Optional[Callable] = None
        self._vmap: Optional[Callable] = None
        functools.update_wrapper(self, fun)

    def _set(self, rule: str, fn: Callable) -> "custom_function":
        if not callable(fn):
            raise TypeError(f"[custom_function] The {rule} must be callable; got "
                            f"{type(fn).__name__}.")
        setattr(self, "_" + rule, fn)
        return self

    def vjp(self, fn: Callable) -> "custom_function":
        """Define ``fn(primals, cotangents, outputs)`` returning the cotangents of the primals."""
        return self._set("vjp", fn)

    def jvp(self, fn: Callable) -> "custom_function":
        """Define ``fn(primals, tangents)`` returning the tangents of the outputs (a tangent is
        None for an argument that is not differentiated)."""
        return self._set("jvp", fn)

    def vmap(self, fn: Callable) -> "custom_function":
        """Define ``fn(inputs, axes)`` returning ``(outputs, out_axes)`` (an axis is None for an
        input or output without a batch axis)."""
        return self._set("vmap", fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        what = "custom_function"
        call = _Call(args, what)

        def flat(xs):
            return call.record_outputs(self._fun(*call.arguments(xs), **kwargs))

        vjp = jvp = vmap = None
        if self._vjp is not None:
            user_vjp = self._vjp

            def vjp(primals, cotangents, outputs):
                answer = user_vjp(call.primals(primals), call.outputs(cotangents),
                                  call.outputs(outputs), **kwargs)
                return _flat_answer(answer, call.argument_template(), call.single, primals,
                                    what, "vjp", "cotangent")

        if self._jvp is not None:
            user_jvp = self._jvp

            def jvp(primals, tangents):
                answer = user_jvp(call.primals(primals), call.primals(tangents), **kwargs)
                return _flat_answer(answer, call.output_template(), False, call.like, what,
                                    "jvp", "tangent")

        if self._vmap is not None:
            user_vmap = self._vmap

            def vmap(inputs, axes):
                answer = user_vmap(call.primals(inputs),
                                   _axes_tree(call.argument_template(), axes), **kwargs)
                if not isinstance(answer, (list, tuple)) or len(answer) != 2:
                    raise ValueError(f"[{what}] The vmap rule must return a pair (outputs, "
                                     f"axes); got {_describe(answer)}.")
                outs, out_axes = answer
                leaves, _ = _flatten_leaves(outs, array, what)
                flat_axes: List[Optional[int]] = []
                _axes_of_leaves(out_axes, outs, "out_axes", lambda _, ax: flat_axes.append(ax))
                flat_axes = [ax + leaf.ndim if ax is not None and ax < 0 else ax
                             for leaf, ax in zip(leaves, flat_axes)]
                return leaves, flat_axes

        outs = _custom_function_flat(flat, call.arrays, vjp, jvp, vmap, what)
        call.arrays = []  # the rules hold `call`; the node holds the inputs
        return call.outputs(outs)


def checkpoint(fun: Callable, *, interval: Optional[int] = None) -> Callable:
    """Transform ``fun`` into a function that recomputes its intermediates during the gradient
    computation instead of keeping them: less memory for more compute.

    Arguments may be arrays, pytrees of arrays and ``nn.Module`` instances (whose parameters
    become inputs: inside ``fun`` the module holds the traced parameters, and afterwards its
    own again). Arrays that ``fun`` captures from its closure and that an enclosing transform
    differentiates (a layer's parameters under ``nn.value_and_grad``) get their gradients.

    ``interval`` (a positive int; not in MLX) checkpoints inside ``fun``. Its traced forward
    graph is cut into stages: a stage ends where a single array carries everything computed so
    far forward (the arguments and constants aside) and the next matrix product, convolution,
    attention or nested checkpoint begins, so a stage is about one layer (a ``Linear`` and its
    activation, a residual block). The forward pass keeps the output of every ``interval``-th
    stage; the backward pass recomputes the segments between two kept outputs one at a time,
    last first, each from its kept start, and releases each segment's values before it
    recomputes the previous one. The peak then holds the kept outputs, one segment's values and
    the gradients. ``interval=1`` keeps every layer's output; an interval at least the number of
    stages, or a graph with no place to cut (no matrix product, or no single array between
    layers), is the same as ``interval=None``: ``fun`` recomputed whole. Forward-mode
    derivatives recompute ``fun`` whole. Under ``vmap``, and where the gradient is itself
    transformed (a gradient inside ``grad``, ``jvp`` or ``vmap``), the kept outputs are
    recomputed from the arguments instead of taken from the forward pass."""
    if not callable(fun):
        raise TypeError(f"[checkpoint] fun must be callable; got {type(fun).__name__}.")
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, int):
            raise TypeError(f"[checkpoint] interval must be a positive int or None; got "
                            f"{type(interval).__name__}.")
        if interval < 1:
            raise ValueError(f"[checkpoint] interval must be a positive int; got {interval}.")
    cut = 0 if interval is None else min(interval, 2**31 - 1)

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _ModuleCall(args, kwargs, "checkpoint")

        def flat(xs):
            return call.record_outputs(call.run(fun, xs))

        outs = _custom_function_flat(flat, call.arrays, None, None, None, "checkpoint", cut)
        return call.outputs(outs)

    return wrapper
