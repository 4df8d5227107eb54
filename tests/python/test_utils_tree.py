"""pullback.utils: the pytree functions, with MLX's conventions (dotted paths, prefixes,
NamedTuples and tuple subclasses, None leaves, holes in lists, merge rules)."""

from collections import namedtuple

import numpy as np
import pytest

import pullback.core as mx
from pullback.utils import (tree_flatten, tree_map, tree_map_with_path, tree_merge, tree_reduce,
                            tree_unflatten)

Point = namedtuple("Point", "x y")


class Pair(tuple):
    pass


def sample_tree():
    return {"a": [1, (2, None)], "b": Point(3, {"c": 4}), "e": {}, "f": [], "g": Pair((5, 6))}


def test_tree_flatten_paths_and_order():
    flat = tree_flatten(sample_tree())
    assert flat == [("a.0", 1), ("a.1.0", 2), ("a.1.1", None), ("b.0", 3), ("b.1.c", 4),
                    ("g.0", 5), ("g.1", 6)]
    assert tree_flatten(5) == [("", 5)]
    assert tree_flatten([]) == []
    assert tree_flatten([[], {}]) == []


def test_tree_flatten_prefix_drops_its_first_character():
    # MLX's convention: the prefix is expected to start with a dot.
    assert tree_flatten({"a": [1]}, prefix=".model") == [("model.a.0", 1)]
    assert tree_flatten({"a": [1]}, prefix="m") == [(".a.0", 1)]
    assert tree_flatten(7, prefix=".m") == [("m", 7)]


def test_tree_flatten_is_leaf_and_destination():
    tree = {"a": (1, 2), "b": [(3,), 4]}
    assert tree_flatten(tree, is_leaf=lambda v: isinstance(v, tuple)) == [
        ("a", (1, 2)), ("b.0", (3,)), ("b.1", 4)]
    dest = {"old": 0}
    assert tree_flatten(tree, destination=dest) is dest
    assert dest == {"old": 0, "a.0": 1, "a.1": 2, "b.0.0": 3, "b.1": 4}
    out = [("x", 9)]
    assert tree_flatten([1], destination=out) == [("x", 9), ("0", 1)]
    with pytest.raises(ValueError, match="tree_flatten"):
        tree_flatten([1], destination="nope")


def test_tree_flatten_of_a_deep_tree_does_not_recurse():
    tree = 1
    for _ in range(5000):
        tree = [tree]
    (path, leaf), = tree_flatten(tree)
    assert leaf == 1 and path == ".".join(["0"] * 5000)


def test_tree_unflatten_rebuilds_lists_and_dicts():
    assert tree_unflatten([("a.0", 1), ("a.1.0", 2), ("b.c", 3)]) == {"a": [1, [2]],
                                                                    "b": {"c": 3}}
    assert tree_unflatten({"a.b": 1, "a.c.0": 2}) == {"a": {"b": 1, "c": [2]}}
    assert tree_unflatten([("", 4)]) == 4
    # No pairs: an empty list (as in MLX), which Module.update accepts as "nothing".
    assert tree_unflatten([]) == [] and tree_unflatten({}) == []
    # Integer keys make a list in index order; holes become empty dicts.
    assert tree_unflatten([("2", "c"), ("0", "a")]) == ["a", {}, "c"]
    assert tree_unflatten([("x", 1), ("1", 2)]) == {"x": 1, "1": 2}
    flat = tree_flatten({"w": [np.float64(1.5), {"k": "v"}], "z": None})
    assert tree_unflatten(flat) == {"w": [1.5, {"k": "v"}], "z": None}


def test_tree_map_keeps_sequence_types_and_uses_rest():
    out = tree_map(lambda v: v * 10 if v is not None else "none", sample_tree())
    assert out == {"a": [10, (20, "none")], "b": Point(30, {"c": 40}), "e": {}, "f": [],
                   "g": Pair((50, 60))}
    assert type(out["b"]) is Point and type(out["g"]) is Pair and type(out["a"][1]) is tuple
    summed = tree_map(lambda a, b, c: a + b + c, {"x": [1, 2]}, {"x": [10, 20], "extra": 0},
                      {"x": (100, 200)})
    assert summed == {"x": [111, 222]}
    assert tree_map(len, {"a": [1, 2], "b": (3,)}, is_leaf=lambda v: isinstance(v, (list, tuple))) \
        == {"a": 2, "b": 1}
    with pytest.raises(KeyError):
        tree_map(lambda a, b: a, {"x": 1}, {"y": 1})


def test_tree_map_with_path():
    paths = tree_map_with_path(lambda p, v: p, sample_tree())
    assert paths["a"] == ["a.0", ("a.1.0", "a.1.1")] and paths["b"] == Point("b.0", {"c": "b.1.c"})
    assert tree_map_with_path(lambda p, v: p, {"a": [0]}, path="root") == {"a": ["root.a.0"]}
    assert tree_map_with_path(lambda p, v, w: (p, v + w), [1, 2], [10, 20]) == [("0", 11),
                                                                                 ("1", 22)]
    assert tree_map_with_path(lambda p, v: p, 3) is None


def test_tree_reduce():
    assert tree_reduce(lambda acc, v: acc + v, {"a": [1, 2], "b": (3,)}) == 6
    assert tree_reduce(lambda acc, v: acc + v, {"a": [1, 2], "b": (3,)}, 10) == 16
    assert tree_reduce(lambda acc, v: acc + [v], [1, [2, 3]], []) == [1, 2, 3]
    assert tree_reduce(lambda acc, v: acc + v, 5) == 5
    assert tree_reduce(lambda acc, v: acc + v, {}) is None
    total = tree_reduce(lambda acc, v: acc + mx.sum(v), {"w": mx.ones((2, 3)),
                                                         "b": [mx.ones((4,))]}, 0.0)
    assert total.item() == 10.0


def test_tree_merge():
    assert tree_merge({"a": [1, None, 3]}, {"a": [None, 2], "b": 4}) == {"a": [1, 2, 3], "b": 4}
    assert tree_merge({"a": {}}, {"a": {"b": 1}}) == {"a": {"b": 1}}
    assert tree_merge([], []) == [] and tree_merge({}, {}) == {}
    merged = tree_merge(Point(1, None), Point(None, 2))
    assert merged == Point(1, 2) and type(merged) is Point
    assert tree_merge({"a": 1}, {"a": 2}, lambda x, y: x + y) == {"a": 3}
    with pytest.raises(ValueError, match="merge_fn"):
        tree_merge({"a": 1}, {"a": 2})
    with pytest.raises(ValueError, match="dict.*list"):
        tree_merge({"a": {}}, {"a": []})


def test_trees_of_arrays_round_trip():
    params = {"layers": [{"w": mx.ones((2, 2)), "b": mx.zeros((2,))}, {"w": mx.ones((1,))}]}
    flat = tree_flatten(params)
    assert [k for k, _ in flat] == ["layers.0.w", "layers.0.b", "layers.1.w"]
    back = tree_unflatten(flat)
    assert back["layers"][0]["w"] is params["layers"][0]["w"]
    doubled = tree_map(lambda p: p * 2, params)
    assert doubled["layers"][1]["w"].tolist() == [2.0]


def test_transforms_accept_namedtuples_and_tuple_subclasses():
    def loss(p):
        return mx.sum(p.x * p.y[0]) + mx.sum(p.y[1])
    arg = Point(mx.array([1.0, 2.0]), Pair((mx.array([3.0, 4.0]), mx.array([5.0]))))
    grads = mx.grad(loss)(arg)
    assert type(grads) is Point and type(grads.y) is Pair
    assert grads.x.tolist() == [3.0, 4.0] and grads.y[0].tolist() == [1.0, 2.0]
    assert grads.y[1].tolist() == [1.0]
    with pytest.raises(ValueError, match=r"\[grad\].*only arrays.*str"):
        mx.grad(lambda p: mx.sum(p["a"]))({"a": mx.ones((1,)), "b": "text"})
