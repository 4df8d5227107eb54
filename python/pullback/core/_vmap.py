"""vmap over pytrees, and the Jacobian transforms built from it (jacrev, jacfwd, hessian).

The batching itself happens in C++ (``_vmap_flat``: trace one example, replay the tape with each
primitive's batching rule); this module matches ``in_axes``/``out_axes`` against the argument
and result pytrees.
"""

from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from pullback._core import _jvp_flat, _vjp_flat, _vmap_flat, array
from pullback.utils import _flatten_leaves, _unflatten_leaves

Axis = Optional[int]


def _check_axis_spec(spec: Any, what: str) -> None:
    if spec is not None and (isinstance(spec, bool) or not isinstance(spec, int)):
        raise ValueError(f"[vmap] {what} must be an int, None or a tree of them matching the "
                         f"{'arguments' if what == 'in_axes' else 'outputs'}; got "
                         f"{type(spec).__name__}.")


def _axes_of_leaves(spec: Any, tree: Any, what: str, on_leaf: Callable[[Any, Axis], None]) -> None:
    """Calls ``on_leaf(leaf, axis)`` for each leaf of ``tree`` in flattening order, where
    ``spec`` is an axis or a prefix tree of axes (an axis applies to the whole subtree)."""
    if spec is None or isinstance(spec, int):
        _check_axis_spec(spec, what)
        if isinstance(tree, (list, tuple)):
            for child in tree:
                _axes_of_leaves(spec, child, what, on_leaf)
        elif isinstance(tree, dict):
            for child in tree.values():
                _axes_of_leaves(spec, child, what, on_leaf)
        else:
            on_leaf(tree, spec)
        return
    if isinstance(spec, (list, tuple)) and isinstance(tree, (list, tuple)):
        if len(spec) != len(tree):
            raise ValueError(f"[vmap] {what} has {len(spec)} entries where the tree it describes "
                             f"has {len(tree)}.")
        for s, child in zip(spec, tree):
            _axes_of_leaves(s, child, what, on_leaf)
        return
    if isinstance(spec, dict) and isinstance(tree, dict):
        if set(spec) != set(tree):
            raise ValueError(f"[vmap] {what} has the keys {sorted(map(str, spec))} where the dict "
                             f"it describes has {sorted(map(str, tree))}.")
        for key, child in tree.items():
            _axes_of_leaves(spec[key], child, what, on_leaf)
        return
    if not isinstance(spec, (list, tuple, dict)):
        _check_axis_spec(spec, what)  # a wrong type of axis (a string, a float) says so
    raise ValueError(f"[vmap] {what} is not a prefix of the tree it describes: got "
                     f"{type(spec).__name__} for a {type(tree).__name__}.")


class _Slot:
    """Where a mapped array sat in the arguments (replaced by its stand-in when traced)."""
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def _fill(tree: Any, values: Sequence[Any], is_leaf: Optional[Callable[[Any], bool]] = None) -> Any:
    """``tree`` with each _Slot replaced by its entry of ``values`` (``is_leaf(node)``: keep
    ``node`` whole, as :func:`_slot_arrays` did)."""
    if isinstance(tree, _Slot):
        return values[tree.index]
    if is_leaf is not None and is_leaf(tree):
        return tree
    if isinstance(tree, (list, tuple)):
        kind = type(tree)
        children = [_fill(c, values, is_leaf) for c in tree]
        return kind(*children) if hasattr(tree, "_fields") else kind(children)
    if isinstance(tree, dict):
        return {k: _fill(v, values, is_leaf) for k, v in tree.items()}
    return tree


def _slot_arrays(tree: Any, arrays: List[array],
                 is_leaf: Optional[Callable[[Any], bool]] = None) -> Any:
    """``tree`` with each array replaced by a _Slot numbering it in ``arrays``; a node for which
    ``is_leaf(node)`` is true is kept whole."""
    if isinstance(tree, array):
        arrays.append(tree)
        return _Slot(len(arrays) - 1)
    if is_leaf is not None and is_leaf(tree):
        return tree
    if isinstance(tree, (list, tuple)):
        kind = type(tree)
        children = [_slot_arrays(c, arrays, is_leaf) for c in tree]
        return kind(*children) if hasattr(tree, "_fields") else kind(children)
    if isinstance(tree, dict):
        return {k: _slot_arrays(v, arrays, is_leaf) for k, v in tree.items()}
    return tree


def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
    """Returns a vectorized version of ``fun``: ``fun`` is applied to every slice along the
    mapped axes of its arguments, as one batched computation.

    ``in_axes`` is an int, None (not mapped) or a tree matching a prefix of the positional
    arguments (a tuple/list with one entry per argument); ``out_axes`` likewise for the
    results (None: the result must not depend on a mapped input). Negative axes count from
    the end. Evaluating a mapped value inside ``fun`` (Python control flow on it) raises a
    ValueError: select with ``mx.where`` instead."""
    if not callable(fun):
        raise TypeError(f"[vmap] fun must be callable; got {type(fun).__name__}.")

    def wrapper(*args, **kwargs):
        spec = in_axes
        if isinstance(spec, list):
            spec = tuple(spec)
        arrays: List[array] = []
        axes: List[Axis] = []

        def on_leaf(leaf, axis):
            if isinstance(leaf, array):
                arrays.append(leaf)
                axes.append(axis)
            elif axis is not None:
                raise ValueError(f"[vmap] in_axes gives axis {axis} for an argument that is not "
                                 f"an array ({type(leaf).__name__}); give it None.")

        _axes_of_leaves(spec, tuple(args), "in_axes", on_leaf)
        slots = _slot_arrays(tuple(args), [])
        result = {}

        def flat(xs):
            out = fun(*_fill(slots, xs), **kwargs)
            leaves, structure = _flatten_leaves(out, array, "vmap")
            result["structure"] = structure
            result["out"] = out
            return leaves

        def flat_out_axes(n):
            flat_axes: List[Axis] = []
            _axes_of_leaves(out_axes, result["out"], "out_axes",
                            lambda leaf, axis: flat_axes.append(axis))
            return flat_axes

        outs = _vmap_flat(flat, arrays, axes, flat_out_axes)
        return _unflatten_leaves(result["structure"], list(outs))

    return wrapper


# ---- Jacobians (beyond MLX; JAX's conventions: out.shape + in.shape) ----

def _argnums_tuple(argnums: Union[int, Sequence[int]], nargs: int, what: str) -> Tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if i < -nargs or i >= nargs:
            raise ValueError(f"[{what}] argnums {i} is out of range for a call with {nargs} "
                             "positional arguments.")
    return tuple(i % nargs for i in nums)


def _flat_function(fun: Callable, args: tuple, nums: Tuple[int, ...], has_aux: bool, what: str):
    """The leaves of ``args[nums]``, their structure, and ``fun`` as a function of those leaves
    returning its output leaves (recording the output structure and aux in ``record``)."""
    trees = [args[i] for i in nums]
    leaves, structure = _flatten_leaves(trees, array, what)
    record = {}

    def flat(xs):
        new = _unflatten_leaves(structure, xs)
        a = list(args)
        for k, i in enumerate(nums):
            a[i] = new[k]
        out = fun(*a)
        if has_aux:
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise ValueError(f"[{what}] With has_aux=True the function must return a pair "
                                 "(output, aux).")
            out, record["aux"] = out
        out_leaves, out_structure = _flatten_leaves(out, array, what)
        record["structure"] = out_structure
        return out_leaves

    return leaves, structure, flat, record


def _basis_dtype(dtype):
    from pullback._core import float32, issubdtype, inexact
    return dtype if issubdtype(dtype, inexact) else float32


def _eye_rows(shapes, dtypes) -> List[array]:
    """One basis of the flattened space of arrays with these shapes: a list with, per array,
    the [n, *shape] rows of the identity (n the total size) that fall on it."""
    from pullback._core import eye
    total = sum(math.prod(s) for s in shapes)
    rows, start = [], 0
    for shape, dtype in zip(shapes, dtypes):
        size = math.prod(shape)
        block = eye(total, dtype=_basis_dtype(dtype))[:, start:start + size]
        rows.append(block.reshape((total,) + tuple(shape)))
        start += size
    return rows


def _jacobian_tree(blocks: List[List[array]], out_structure, in_structure, nums_single: bool):
    """``blocks[i][j]``: the Jacobian of output leaf i with respect to input leaf j, as the
    tree out_structure of (tree in_structure of arrays); a single argnum drops the tuple."""
    per_output = []
    for row in blocks:
        tree = _unflatten_leaves(in_structure, row)
        per_output.append(tree[0] if nums_single else tuple(tree))
    return _unflatten_leaves(out_structure, per_output)


def jacrev(fun: Callable, argnums: Union[int, Sequence[int]] = 0, has_aux: bool = False) -> Callable:
    """The Jacobian of ``fun`` by reverse mode: one vjp per output element, batched with vmap.
    Each block is shaped ``out.shape + in.shape``; the result has the output's tree structure
    with, at each leaf, the arguments' structure (a tuple when ``argnums`` is a sequence)."""
    def wrapper(*args):
        nums = _argnums_tuple(argnums, len(args), "jacrev")
        leaves, in_structure, flat, record = _flat_function(fun, args, nums, has_aux, "jacrev")
        outs = flat(leaves)
        basis = _eye_rows([o.shape for o in outs], [o.dtype for o in outs])

        def pull(*cotangents):
            return _vjp_flat(flat, leaves, list(cotangents), "jacrev")[1]

        grads = vmap(pull)(*basis) if basis and basis[0].shape[0] > 0 else None
        blocks, start = [], 0
        for o in outs:
            size = math.prod(o.shape)
            row = []
            for j, x in enumerate(leaves):
                g = grads[j][start:start + size] if grads is not None else None
                row.append(g.reshape(tuple(o.shape) + tuple(x.shape)) if g is not None else
                           _zeros(tuple(o.shape) + tuple(x.shape), x.dtype))
            blocks.append(row)
            start += size
        jac = _jacobian_tree(blocks, record["structure"], in_structure, isinstance(argnums, int))
        return (jac, record["aux"]) if has_aux else jac

    return wrapper


def _zeros(shape, dtype):
    from pullback._core import zeros
    return zeros(shape, dtype=_basis_dtype(dtype))


def jacfwd(fun: Callable, argnums: Union[int, Sequence[int]] = 0, has_aux: bool = False) -> Callable:
    """The Jacobian of ``fun`` by forward mode: one jvp per input element, batched with vmap.
    Same shapes and structure as :func:`jacrev`."""
    def wrapper(*args):
        nums = _argnums_tuple(argnums, len(args), "jacfwd")
        leaves, in_structure, flat, record = _flat_function(fun, args, nums, has_aux, "jacfwd")
        basis = _eye_rows([x.shape for x in leaves], [x.dtype for x in leaves])

        def push(*tangents):
            return _jvp_flat(flat, leaves, list(tangents), "jacfwd")[1]

        if basis and basis[0].shape[0] > 0:
            tangents_out = vmap(push)(*basis)
        else:
            tangents_out = None
            flat(leaves)
        outs_shapes = ([t.shape[1:] for t in tangents_out] if tangents_out is not None
                       else [o.shape for o in flat(leaves)])
        blocks = []
        for k, oshape in enumerate(outs_shapes):
            row, start = [], 0
            for x in leaves:
                size = math.prod(x.shape)
                if tangents_out is None:
                    row.append(_zeros(tuple(oshape) + tuple(x.shape), x.dtype))
                    continue
                t = tangents_out[k][start:start + size]            # [size, *out]
                t = t.reshape((size, -1)).T if len(oshape) else t.reshape((size,))
                row.append(t.reshape(tuple(oshape) + tuple(x.shape)))
                start += size
            blocks.append(row)
        jac = _jacobian_tree(blocks, record["structure"], in_structure, isinstance(argnums, int))
        return (jac, record["aux"]) if has_aux else jac

    return wrapper


def hessian(fun: Callable, argnums: Union[int, Sequence[int]] = 0, has_aux: bool = False) -> Callable:
    """The Hessian of a scalar function: ``jacfwd(jacrev(fun))``, shaped ``in.shape + in.shape``
    for each pair of arguments."""
    return jacfwd(jacrev(fun, argnums, has_aux), argnums, has_aux)
