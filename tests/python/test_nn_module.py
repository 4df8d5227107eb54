"""nn.Module (parameters, children, update, freeze, modes, dtypes, files, repr),
nn.value_and_grad, and a small MLP trained with an optimizer."""

import os

import numpy as np
import pytest

import pullback.core as mx
import pullback.nn as nn
import pullback.optimizers as optim
from helpers import to_numpy
from pullback.utils import tree_flatten, tree_map


class Block(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.w = mx.ones((n, n))
        self.extra = {"s": mx.zeros((n,)), "lst": [mx.ones((1,)), mx.zeros((2,))]}
        self._hidden = mx.ones((3,))
        self.n = n
        self.kernel = (3, 3)
        self.norm = nn.LayerNorm(n)

    def __call__(self, x):
        return self.norm(x @ self.w + self.extra["s"])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [Block(2), Block(2)]
        self.head = nn.Sequential(nn.ReLU(), nn.PReLU(2))
        self.bn = nn.BatchNorm(2)
        self.table = {"a": Block(2), "b": nn.Identity()}

    def __call__(self, x):
        for block in self.blocks:
            x = block(x)
        return self.bn(self.head(x))


BLOCK_KEYS = ["w", "extra.s", "extra.lst.0", "extra.lst.1", "norm.weight", "norm.bias"]


def names(tree):
    return [k for k, _ in tree_flatten(tree)]


def test_members_split_between_dict_and_attributes():
    block = Block(2)
    assert set(block.keys()) == {"w", "extra", "_hidden", "kernel", "norm"}
    assert block.n == 2 and "n" not in block
    assert block.w is block["w"]
    block.n = mx.ones((1,))  # an array replaces the plain attribute
    assert "n" in block and "n" not in block.__dict__
    block.n = 5
    assert "n" not in block and block.n == 5
    del block.w
    assert "w" not in block
    with pytest.raises(AttributeError):
        block.w
    del block.n
    with pytest.raises(AttributeError):
        block.n
    assert block.state is block and block.training


def test_parameters_children_and_modules():
    net = Net()
    assert names(net.parameters()) == (
        [f"blocks.{i}.{k}" for i in range(2) for k in BLOCK_KEYS] + ["head.layers.1.weight"]
        + ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]
        + [f"table.a.{k}" for k in BLOCK_KEYS])
    assert "bn.running_mean" not in names(net.trainable_parameters())
    children = tree_flatten(net.children(), is_leaf=nn.Module.is_module)
    assert [(k, type(v).__name__) for k, v in children] == [
        ("blocks.0", "Block"), ("blocks.1", "Block"), ("head", "Sequential"),
        ("bn", "BatchNorm"), ("table.a", "Block"), ("table.b", "Identity")]
    leaves = tree_flatten(net.leaf_modules(), is_leaf=nn.Module.is_module)
    assert [k for k, _ in leaves] == ["blocks.0.norm", "blocks.1.norm", "head.layers.0",
                                      "head.layers.1", "bn", "table.a.norm", "table.b"]
    named = net.named_modules()
    assert named[0] == ("", net)
    assert sorted(k for k, _ in named) == sorted(
        ["", "blocks.0", "blocks.0.norm", "blocks.1", "blocks.1.norm", "head", "head.layers.0",
         "head.layers.1", "bn", "table.a", "table.a.norm", "table.b"])
    assert len(net.modules()) == len(named)
    assert all(isinstance(m, nn.Module) for m in net.modules())


def test_repr_lists_children():
    assert repr(nn.Sequential(nn.ReLU(), nn.Sequential(nn.Tanh()), nn.LayerNorm(3))) == (
        "Sequential(\n  (layers.0): ReLU()\n  (layers.1): Sequential(\n"
        "    (layers.0): Tanh()\n  )\n  (layers.2): LayerNorm(3, eps=1e-05, affine=True)\n)")
    assert repr(nn.ReLU()) == "ReLU()"


def test_update_replaces_parameters_and_checks_names():
    net = Net()
    new = tree_map(lambda p: p + 1, net.parameters())
    net.update(new)
    assert net.blocks[1].extra["lst"][1].tolist() == [1.0, 1.0]
    net.update({"blocks": [{}, {"w": mx.zeros((2, 2))}]})
    assert net.blocks[1].w.tolist() == [[0, 0], [0, 0]] and net.blocks[0].w.tolist()[0][0] == 2
    with pytest.raises(ValueError, match='parameter named "nope"'):
        net.update({"nope": mx.ones((1,))})
    with pytest.raises(ValueError, match="invalid type int for parameter blocks.0.w"):
        net.update({"blocks": [{"w": 3}]})
    with pytest.raises(ValueError, match="List index 2 is out of bounds"):
        net.update({"blocks": [{}, {}, {}]})
    with pytest.raises(ValueError, match="invalid type"):
        net.update({"head": 5})
    net.update({"nope": 1, "blocks": [{}, {}, {}], "head": 5}, strict=False)
    net.update({"blocks": [{"w": "x"}]}, strict=False)
    assert net.blocks[0].w == "x"


def test_models_with_plain_functions_update_from_their_own_parameters():
    # parameters() holds {} for a function inside a list or dict; those trees (and the
    # gradients and optimizer updates shaped like them) must go back in under strict update.
    model = nn.Sequential(nn.Linear(3, 4), nn.relu, lambda x: x * 2, nn.Linear(4, 1))
    model.funcs = {"act": nn.relu, "scale": mx.ones((1,))}
    assert model.parameters()["layers"][1] == {} and model.parameters()["funcs"]["act"] == {}
    model.update(model.parameters())
    x = mx.ones((2, 3))
    loss, grads = nn.value_and_grad(model, lambda m: (m(x) * m.funcs["scale"]).sum())(model)
    assert grads["layers"][1] == {} and grads["funcs"]["scale"].shape == (1,)
    before = to_numpy(model.layers[0].weight)
    optim.SGD(0.1).update(model, grads)
    assert not np.allclose(to_numpy(model.layers[0].weight), before)
    with pytest.raises(ValueError, match="layers.1 is not a parameter"):
        model.update({"layers": [{}, mx.ones((1,))]})


def test_update_with_an_empty_tree_changes_nothing():
    # tree_unflatten([]) is [] (as in MLX); an empty list or dict updates nothing, strict or
    # not, while a non-empty list where the module holds a dict is still an error.
    net = Net()
    before = tree_flatten(net.parameters())
    for empty in ([], {}):
        net.update(empty)
        net.update_modules(empty)
    assert tree_flatten(net.parameters()) == before
    with pytest.raises(ValueError, match="list"):
        net.update([mx.ones((1,))])


def test_apply_update_modules_and_set_dtype():
    net = Net()
    net.apply(lambda p: p * 3)
    assert net.blocks[0].w.tolist() == [[3, 3], [3, 3]]
    assert net.blocks[0]._hidden.tolist() == [1, 1, 1]  # private members are not parameters
    net.apply(lambda p: p * 0, filter_fn=lambda m, k, v: k == "w" or isinstance(v, (dict, list)))
    assert net.blocks[0].w.tolist() == [[0, 0], [0, 0]] and net.bn.weight.tolist() == [3, 3]
    replacement = nn.Tanh()
    net.update_modules({"head": {"layers": [replacement]}, "table": {"b": nn.ReLU()}})
    assert net.head.layers[0] is replacement and isinstance(net.table["b"], nn.ReLU)
    with pytest.raises(ValueError, match='sub-module named "nope"'):
        net.update_modules({"nope": nn.ReLU()})
    net.set_dtype(mx.float16)
    assert {v.dtype for _, v in tree_flatten(net.parameters())} == {mx.float16}
    block = Block(2)
    block.ints = mx.array([1, 2])
    block.set_dtype(mx.float64)
    assert block.ints.dtype == mx.int32 and block.w.dtype == mx.float64
    block.set_dtype(mx.float32, predicate=None)
    assert block.ints.dtype == mx.float32


def test_freeze_and_unfreeze():
    net = Net()
    net.freeze()
    assert names(net.trainable_parameters()) == []
    net.unfreeze()
    assert "bn.running_var" not in names(net.trainable_parameters())
    assert len(names(net.trainable_parameters())) == len(names(net.parameters())) - 2
    net.freeze(keys="w")
    assert not any(k.endswith(".w") for k in names(net.trainable_parameters()))
    net.unfreeze(keys=["w"])
    assert "blocks.0.w" in names(net.trainable_parameters())
    block = Block(2)
    block.freeze(keys=["w", "extra.s"], recurse=False)
    assert names(block.trainable_parameters()) == ["extra.lst.0", "extra.lst.1", "norm.weight",
                                                   "norm.bias"]
    block.freeze(recurse=False)
    assert names(block.trainable_parameters()) == ["norm.weight", "norm.bias"]
    block.unfreeze(recurse=False)
    assert names(block.trainable_parameters()) == BLOCK_KEYS
    with pytest.raises(KeyError, match="nope"):
        net.freeze(keys="nope", strict=True)
    with pytest.raises(KeyError, match="w"):
        net.freeze(keys="w", strict=True, recurse=False)
    net.freeze(keys="w", strict=True)  # some sub-module has it: fine
    net.unfreeze(keys="nope")  # not strict: ignored


def test_train_and_eval_modes():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.bn.training


def test_value_and_grad_gives_trainable_gradients_only(rng):
    net = Net()
    net.update(tree_map(lambda p: mx.array(rng.standard_normal(p.shape)), net.parameters()))
    net.blocks[0].freeze(keys="w", recurse=False)
    x = mx.array(rng.standard_normal((5, 2)))

    def loss_fn(inputs):
        return mx.sum(mx.square(net(inputs)))

    loss, grads = nn.value_and_grad(net, loss_fn)(x)
    assert names(grads) == names(net.trainable_parameters())
    assert "blocks.0.w" not in names(grads) and "blocks.1.w" in names(grads)
    assert np.isclose(loss.item(), loss_fn(x).item(), rtol=1e-5)
    assert tree_flatten(grads)[0][1].dtype == mx.float32


class Affine(nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.params = {"w": mx.array(w), "b": [mx.array(b)]}

    def __call__(self, x):
        return x @ self.params["w"] + self.params["b"][0]


def test_value_and_grad_against_finite_differences(rng):
    model = nn.Sequential(Affine(rng.standard_normal((3, 4)), rng.standard_normal(4)),
                          nn.LayerNorm(4), nn.PReLU(4), nn.RMSNorm(4))
    model.update(tree_map(lambda p: mx.array(rng.standard_normal(p.shape)), model.parameters()))
    model.set_dtype(mx.float64)
    model.layers[1].freeze(keys="bias")
    x = mx.array(rng.standard_normal((5, 3)), dtype=mx.float64)

    def loss_fn(inputs):
        return mx.sum(mx.square(model(inputs)) * mx.arange(4))

    loss, grads = nn.value_and_grad(model, loss_fn)(x)
    assert names(grads) == ["layers.0.params.w", "layers.0.params.b.0", "layers.1.weight",
                            "layers.2.weight", "layers.3.weight"]
    eps = 1e-6
    for name, g in tree_flatten(grads):
        base = dict(tree_flatten(model.parameters()))[name]
        flat = to_numpy(base).ravel()
        numeric = np.zeros_like(flat)
        for i in range(flat.size):
            values = []
            for delta in (eps, -eps):
                moved = flat.copy()
                moved[i] += delta
                model.load_weights([(name, mx.array(moved.reshape(base.shape), dtype=mx.float64))],
                                   strict=False)
                values.append(loss_fn(x).item())
            model.load_weights([(name, base)], strict=False)
            numeric[i] = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(to_numpy(g).ravel(), numeric, rtol=1e-6, atol=1e-8,
                                   err_msg=name)
    # The model's parameters are the caller's values after the call.
    assert np.isclose(loss.item(), loss_fn(x).item(), rtol=1e-12)


def test_value_and_grad_with_aux_and_kwargs():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = mx.array(2.0)
            self.b = mx.array(5.0)

    model = Scale()
    model.freeze(keys="b")

    def fn(x, *, shift):
        out = model.a * x * model.b + shift
        return out, {"out": out}

    (value, aux), grads = nn.value_and_grad(model, fn)(mx.array(3.0), shift=1.0)
    assert value.item() == 31.0 and aux["out"].item() == 31.0
    assert grads == {"a": grads["a"]} and grads["a"].item() == 15.0


def test_mlp_training_loss_decreases(rng):
    x_np = rng.standard_normal((64, 3))
    y_np = np.sin(x_np @ np.array([1.0, -2.0, 0.5]))[:, None]

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [
                {"w": mx.array(rng.standard_normal((3, 16)) * 0.5, dtype=mx.float32),
                 "b": mx.zeros((16,))},
                {"w": mx.array(rng.standard_normal((16, 1)) * 0.5, dtype=mx.float32),
                 "b": mx.zeros((1,))},
            ]

        def __call__(self, x):
            h = nn.gelu(x @ self.layers[0]["w"] + self.layers[0]["b"])
            return h @ self.layers[1]["w"] + self.layers[1]["b"]

    model = MLP()
    x, y = mx.array(x_np, dtype=mx.float32), mx.array(y_np, dtype=mx.float32)

    def loss_fn(inputs, targets):
        return nn.losses.mse_loss(model(inputs), targets)

    step = nn.value_and_grad(model, loss_fn)
    optimizer = optim.Adam(learning_rate=0.02)
    losses = []
    for _ in range(60):
        loss, grads = step(x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    assert all(np.isfinite(losses))
    assert optimizer.step.item() == 60


def test_save_and_load_npz(tmp_path):
    net = Net()
    net.apply(lambda p: p + mx.arange(p.size).reshape(p.shape).astype(p.dtype))
    path = os.path.join(tmp_path, "weights.npz")
    net.save_weights(path)
    fresh = Net()
    fresh.load_weights(path)
    for (k1, v1), (k2, v2) in zip(tree_flatten(net.parameters()),
                                  tree_flatten(fresh.parameters())):
        assert k1 == k2 and v1.tolist() == v2.tolist()


def test_load_weights_strict_checks():
    net = Net()
    weights = tree_flatten(net.parameters())
    net.load_weights(weights)
    with pytest.raises(ValueError, match=r"1 parameters not in the model: \nextra.w"):
        net.load_weights(weights + [("extra.w", mx.ones((1,)))])
    with pytest.raises(ValueError, match=r"Missing 1 parameters: \nbn.bias"):
        net.load_weights([kv for kv in weights if kv[0] != "bn.bias"])
    with pytest.raises(ValueError, match=r"Expected shape \(2, 2\) but received shape \(3,\) "
                                         "for parameter blocks.0.w"):
        net.load_weights([(k, mx.ones((3,)) if k == "blocks.0.w" else v) for k, v in weights])
    with pytest.raises(ValueError, match="for parameter bn.bias"):
        net.load_weights([(k, 1.0 if k == "bn.bias" else v) for k, v in weights])
    net.load_weights([("bn.bias", mx.array([7.0, 8.0])), ("unknown", mx.ones((1,)))],
                     strict=False)
    assert net.bn.bias.tolist() == [7.0, 8.0]
    with pytest.raises(ValueError, match="Unsupported file extension"):
        net.save_weights("weights.pt")


@pytest.mark.skipif(not hasattr(mx, "save_safetensors") or not hasattr(mx, "load"),
                    reason="pullback.core.save_safetensors/load are built in another branch")
def test_save_and_load_safetensors(tmp_path):
    net = Net()
    net.apply(lambda p: p * 2 + 1)
    path = os.path.join(tmp_path, "weights.safetensors")
    net.save_weights(path)
    fresh = Net().load_weights(path)
    for (k1, v1), (k2, v2) in zip(tree_flatten(net.parameters()),
                                  tree_flatten(fresh.parameters())):
        assert k1 == k2 and v1.tolist() == v2.tolist()
