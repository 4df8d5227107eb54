"""Utilities for pytrees: nested lists, tuples and dicts whose leaves are arrays (or anything)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union


def _is_node(tree: Any) -> bool:
    return isinstance(tree, (list, tuple, dict))


def tree_map(fn: Callable, tree: Any, *rest: Any, is_leaf: Optional[Callable] = None) -> Any:
    """Applies ``fn`` to the leaves of ``tree`` (and the matching leaves of ``rest``)."""
    if is_leaf is not None and is_leaf(tree):
        return fn(tree, *rest)
    if isinstance(tree, (list, tuple)):
        children = [tree_map(fn, child, *(r[i] for r in rest), is_leaf=is_leaf)
                    for i, child in enumerate(tree)]
        return type(tree)(children) if not hasattr(tree, "_fields") else type(tree)(*children)
    if isinstance(tree, dict):
        return {k: tree_map(fn, v, *(r[k] for r in rest), is_leaf=is_leaf) for k, v in tree.items()}
    return fn(tree, *rest)


def tree_map_with_path(fn: Callable, tree: Any, *rest: Any, is_leaf: Optional[Callable] = None,
                       path: Optional[Any] = None) -> Any:
    """Like :func:`tree_map`, but ``fn`` also receives the leaf's dotted path first."""
    if is_leaf is not None and is_leaf(tree):
        return fn(path, tree, *rest)

    def join(key):
        return str(key) if path is None else f"{path}.{key}"

    if isinstance(tree, (list, tuple)):
        children = [tree_map_with_path(fn, child, *(r[i] for r in rest), is_leaf=is_leaf, path=join(i))
                    for i, child in enumerate(tree)]
        return type(tree)(children) if not hasattr(tree, "_fields") else type(tree)(*children)
    if isinstance(tree, dict):
        return {k: tree_map_with_path(fn, v, *(r[k] for r in rest), is_leaf=is_leaf, path=join(k))
                for k, v in tree.items()}
    return fn(path, tree, *rest)


def tree_flatten(tree: Any, prefix: str = "", is_leaf: Optional[Callable] = None,
                 destination: Union[List[Tuple[str, Any]], Dict[str, Any], None] = None
                 ) -> Union[List[Tuple[str, Any]], Dict[str, Any]]:
    """Flattens ``tree`` into ``(dotted.path, leaf)`` pairs (or a dict when ``destination`` is one)."""
    if destination is None:
        destination = []
    add = destination.append if isinstance(destination, list) else (
        lambda kv: destination.__setitem__(*kv))

    def walk(node, path):
        if (is_leaf is None or not is_leaf(node)) and _is_node(node):
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for k, v in items:
                walk(v, f"{path}.{k}" if path else str(k))
        else:
            add((path, node))

    walk(tree, prefix[1:] if prefix.startswith(".") else prefix)
    return destination


def tree_unflatten(tree: Union[List[Tuple[str, Any]], Dict[str, Any]]) -> Any:
    """Rebuilds a tree from ``(dotted.path, leaf)`` pairs; integer keys make lists."""
    items = list(tree.items()) if isinstance(tree, dict) else list(tree)
    if len(items) == 1 and items[0][0] == "":
        return items[0][1]
    children: Dict[str, list] = {}
    for key, value in items:
        head, _, rest = key.partition(".")
        children.setdefault(head, []).append((rest, value))
    if all(k.isdigit() for k in children):
        out = [None] * (max(int(k) for k in children) + 1)
        for k, v in children.items():
            out[int(k)] = tree_unflatten(v)
        return out
    return {k: tree_unflatten(v) for k, v in children.items()}


def tree_reduce(fn: Callable, tree: Any, initializer: Any = None, is_leaf: Optional[Callable] = None) -> Any:
    """Folds ``fn(accumulator, leaf)`` over the leaves of ``tree``."""
    leaves = [v for _, v in tree_flatten(tree, is_leaf=is_leaf)]
    if initializer is None:
        if not leaves:
            return None
        acc, leaves = leaves[0], leaves[1:]
    else:
        acc = initializer
    for leaf in leaves:
        acc = fn(acc, leaf)
    return acc


def tree_merge(tree_a: Any, tree_b: Any, merge_fn: Optional[Callable] = None) -> Any:
    """Merges two trees of the same structure where one of each pair of leaves is None or empty."""
    if tree_a is None or (_is_node(tree_a) and len(tree_a) == 0):
        return tree_b
    if tree_b is None or (_is_node(tree_b) and len(tree_b) == 0):
        return tree_a
    if isinstance(tree_a, dict) and isinstance(tree_b, dict):
        keys = list(tree_a) + [k for k in tree_b if k not in tree_a]
        return {k: tree_merge(tree_a.get(k), tree_b.get(k), merge_fn) for k in keys}
    if isinstance(tree_a, (list, tuple)) and isinstance(tree_b, (list, tuple)):
        if len(tree_a) != len(tree_b):
            raise ValueError("[tree_merge] The trees have lists of different lengths.")
        return type(tree_a)(tree_merge(a, b, merge_fn) for a, b in zip(tree_a, tree_b))
    if merge_fn is None:
        raise ValueError("[tree_merge] Both trees hold a leaf at the same place; pass merge_fn.")
    return merge_fn(tree_a, tree_b)
