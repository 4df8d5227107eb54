"""Utilities for pytrees: nested lists, tuples (NamedTuples and other tuple subclasses included)
and dicts whose leaves are arrays or anything else (None is a leaf).

A tree's leaves are named by dotted paths: ``{"a": [x, y]}`` has the leaves ``a.0`` and ``a.1``.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

__all__ = ["tree_map", "tree_map_with_path", "tree_flatten", "tree_unflatten", "tree_reduce",
           "tree_merge"]


def _rebuild_sequence(like: Union[list, tuple], children) -> Union[list, tuple]:
    """A list/tuple of ``like``'s own type holding ``children``. NamedTuples take their fields
    as positional arguments, every other sequence type takes one iterable."""
    kind = type(like)
    return kind(*children) if hasattr(like, "_fields") else kind(children)


def tree_map(fn: Callable, tree: Any, *rest: Any, is_leaf: Optional[Callable] = None) -> Any:
    """Applies ``fn`` to the leaves of ``tree`` and returns a tree of the results.

    ``rest`` are trees with at least ``tree``'s structure; ``fn`` receives the matching leaf of
    each of them after ``tree``'s leaf. ``is_leaf(node)`` returning true stops the descent at
    ``node``. Dicts come back as plain dicts, lists and tuples keep their type."""
    if is_leaf is not None and is_leaf(tree):
        return fn(tree, *rest)
    if isinstance(tree, (list, tuple)):
        return _rebuild_sequence(tree, [
            tree_map(fn, child, *(other[i] for other in rest), is_leaf=is_leaf)
            for i, child in enumerate(tree)])
    if isinstance(tree, dict):
        return {key: tree_map(fn, child, *(other[key] for other in rest), is_leaf=is_leaf)
                for key, child in tree.items()}
    return fn(tree, *rest)


def tree_map_with_path(fn: Callable, tree: Any, *rest: Any, is_leaf: Optional[Callable] = None,
                       path: Optional[Any] = None) -> Any:
    """Like :func:`tree_map`, but ``fn(path, leaf, *rest_leaves)`` also receives the leaf's
    dotted path (prefixed by ``path`` when given)."""
    if is_leaf is not None and is_leaf(tree):
        return fn(path, tree, *rest)
    if not isinstance(tree, (list, tuple, dict)):
        return fn(path, tree, *rest)
    head = f"{path}." if path else ""
    if isinstance(tree, dict):
        return {key: tree_map_with_path(fn, child, *(other[key] for other in rest),
                                        is_leaf=is_leaf, path=f"{head}{key}")
                for key, child in tree.items()}
    return _rebuild_sequence(tree, [
        tree_map_with_path(fn, child, *(other[i] for other in rest), is_leaf=is_leaf,
                           path=f"{head}{i}")
        for i, child in enumerate(tree)])


def tree_flatten(tree: Any, prefix: str = "", is_leaf: Optional[Callable] = None,
                 destination: Union[List[Tuple[str, Any]], Dict[str, Any], None] = None
                 ) -> Union[List[Tuple[str, Any]], Dict[str, Any]]:
    """Flattens ``tree`` into ``(path, leaf)`` pairs in depth-first order.

    Each path is ``prefix`` followed by ``.key`` per level, with its first character dropped,
    so ``prefix=".model"`` gives ``model.a.0`` (MLX's convention). A leaf at the root has the
    path ``""``. When ``destination`` is a dict the pairs are stored in it, when a list they are
    appended to it; it is returned."""
    if destination is None:
        destination = []
    if isinstance(destination, list):
        add = destination.append
    elif isinstance(destination, dict):
        def add(pair):
            destination[pair[0]] = pair[1]
    else:
        raise ValueError("[tree_flatten] destination should be a list, a dict or None; got "
                         f"{type(destination).__name__}.")

    # An explicit stack, so that deep trees do not hit Python's recursion limit.
    stack = [(prefix, tree)]
    while stack:
        path, node = stack.pop()
        if is_leaf is not None and is_leaf(node):
            add((path[1:], node))
        elif isinstance(node, dict):
            stack.extend((f"{path}.{key}", child) for key, child in reversed(node.items()))
        elif isinstance(node, (list, tuple)):
            stack.extend((f"{path}.{i}", node[i]) for i in range(len(node) - 1, -1, -1))
        else:
            add((path[1:], node))
    return destination


def _as_index(key: str) -> Optional[int]:
    try:
        return int(key)
    except ValueError:
        return None


def tree_unflatten(tree: Union[List[Tuple[str, Any]], Dict[str, Any]]) -> Any:
    """Rebuilds a tree from ``(path, leaf)`` pairs (a list of them or a dict path -> leaf), the
    inverse of :func:`tree_flatten`. A level whose keys are all integers becomes a list (holes
    are filled with empty dicts), any other level a dict; no pairs at all give an empty list
    (as in MLX)."""
    pairs = list(tree.items()) if isinstance(tree, dict) else list(tree)
    if len(pairs) == 1 and pairs[0][0] == "":
        return pairs[0][1]
    grouped: Dict[str, List[Tuple[str, Any]]] = {}
    for path, value in pairs:
        head, _, tail = path.partition(".")
        grouped.setdefault(head, []).append((tail, value))
    indices = {key: _as_index(key) for key in grouped}
    if all(i is not None for i in indices.values()):
        out: List[Any] = []
        for key in sorted(grouped, key=indices.__getitem__):
            while len(out) < indices[key]:
                out.append({})
            out.append(tree_unflatten(grouped[key]))
        return out
    return {key: tree_unflatten(sub) for key, sub in grouped.items()}


def tree_reduce(fn: Callable, tree: Any, initializer: Any = None,
                is_leaf: Optional[Callable] = None) -> Any:
    """Folds ``fn(accumulator, leaf)`` over the leaves of ``tree`` in flattening order. Without
    an ``initializer`` the first leaf starts the accumulation (a lone leaf is returned as is)."""
    accumulator = initializer
    for _, leaf in tree_flatten(tree, is_leaf=is_leaf):
        accumulator = leaf if accumulator is None else fn(accumulator, leaf)
    return accumulator


def tree_merge(tree_a: Any, tree_b: Any, merge_fn: Optional[Callable] = None) -> Any:
    """Merges two trees into one holding the leaves of both, like a deep ``dict.update``.

    Where only one tree has something (the other has nothing, None or an empty container) that
    is taken; where both have a leaf, ``merge_fn(a, b)`` decides (a ValueError without one)."""
    empty_a = isinstance(tree_a, (dict, list, tuple)) and len(tree_a) == 0
    empty_b = isinstance(tree_b, (dict, list, tuple)) and len(tree_b) == 0
    if empty_a and empty_b:
        if type(tree_a) is not type(tree_b):
            raise ValueError(f"[tree_merge] Cannot merge an empty {type(tree_a).__name__} with "
                             f"an empty {type(tree_b).__name__}.")
        return type(tree_a)()
    if empty_a:
        tree_a = None
    if empty_b:
        tree_b = None
    if tree_a is None and tree_b is not None:
        return tree_b
    if tree_b is None and tree_a is not None:
        return tree_a
    if isinstance(tree_a, (list, tuple)) and isinstance(tree_b, (list, tuple)):
        return _rebuild_sequence(tree_a, [tree_merge(a, b, merge_fn)
                                          for a, b in zip_longest(tree_a, tree_b)])
    if isinstance(tree_a, dict) and isinstance(tree_b, dict):
        keys = list(tree_a) + [k for k in tree_b if k not in tree_a]
        return {k: tree_merge(tree_a.get(k), tree_b.get(k), merge_fn) for k in keys}
    if merge_fn is None:
        raise ValueError("[tree_merge] Both trees hold a leaf at the same place and no merge_fn "
                         f"was given to combine them ({type(tree_a).__name__} and "
                         f"{type(tree_b).__name__}).")
    return merge_fn(tree_a, tree_b)


# ---- the transforms' view of a tree (private) ----
#
# grad, vjp and friends need the leaves as one list plus something that rebuilds the tree from
# new leaves, many times per call and with no dotted paths, so they use these two instead of
# tree_flatten/tree_unflatten. The node rules are the same as above: dicts, lists and tuples
# (NamedTuples and other tuple subclasses keep their type) are nodes, anything else a leaf.

def _flatten_leaves(tree: Any, leaf_type: type, what: str) -> Tuple[list, Any]:
    """The leaves of ``tree``, which must all be ``leaf_type``, and the structure that
    :func:`_unflatten_leaves` rebuilds the tree from."""
    if isinstance(tree, leaf_type):
        return [tree], None
    if isinstance(tree, (list, tuple)):
        leaves, specs = [], []
        for child in tree:
            child_leaves, spec = _flatten_leaves(child, leaf_type, what)
            leaves += child_leaves
            specs.append((len(child_leaves), spec))
        return leaves, (tree, specs)
    if isinstance(tree, dict):
        leaves, specs = [], []
        for key, child in tree.items():
            child_leaves, spec = _flatten_leaves(child, leaf_type, what)
            leaves += child_leaves
            specs.append((key, len(child_leaves), spec))
        return leaves, (dict, specs)
    raise ValueError(f"[{what}] The argument should contain only arrays; got "
                     f"{type(tree).__name__}.")


def _unflatten_leaves(structure: Any, leaves: Sequence[Any]) -> Any:
    """The tree that :func:`_flatten_leaves` took apart, with ``leaves`` as its leaves."""
    if structure is None:
        return leaves[0]
    like, specs = structure
    start = 0
    if like is dict:
        out = {}
        for key, count, spec in specs:
            out[key] = _unflatten_leaves(spec, leaves[start:start + count])
            start += count
        return out
    children = []
    for count, spec in specs:
        children.append(_unflatten_leaves(spec, leaves[start:start + count]))
        start += count
    return _rebuild_sequence(like, children)
