"""nn.Module: the base of every layer.

A Module is a dict. Its array members are its parameters, its dict/list members hold more
parameters or sub-modules, and everything else (ints, flags, callables) is an ordinary Python
attribute. ``parameters()`` is therefore a plain nested dict of arrays that the transforms and
the optimizers can work on, and ``update()`` puts such a dict back.
"""

from __future__ import annotations

import textwrap
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import pullback.core as mx
from pullback.utils import tree_flatten, tree_unflatten

Filter = Callable[["Module", str, Any], bool]


def _identity(x: Any) -> Any:
    return x


def _is_plain_leaf(module: "Module", key: str, value: Any) -> bool:
    return not isinstance(value, (Module, dict, list))


def _is_array_leaf(module: "Module", key: str, value: Any) -> bool:
    return isinstance(value, mx.array)


def _is_module_leaf(module: "Module", key: str, value: Any) -> bool:
    return isinstance(value, Module)


def _collect(owner: "Module", key: str, value: Any, keep: Filter, map_fn: Callable,
             is_leaf: Filter) -> Any:
    """The part of ``value`` (the member ``key`` of ``owner``) that ``keep`` lets through, with
    ``map_fn`` applied to the leaves. Inside a sub-module keys restart from that module; inside
    a plain dict or list they grow into dotted paths relative to ``owner``, so that filters
    (``_no_grad`` in particular) can name nested members as ``"weights.0"``."""
    if is_leaf(owner, key, value):
        return map_fn(value)
    if isinstance(value, Module):
        return {k: _collect(value, k, v, keep, map_fn, is_leaf)
                for k, v in value.items() if keep(value, k, v)}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            path = f"{key}.{k}"
            out[k] = _collect(owner, path, v, keep, map_fn, is_leaf) if keep(owner, path, v) else {}
        return out
    if isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            path = f"{key}.{i}"
            out.append(_collect(owner, path, v, keep, map_fn, is_leaf)
                       if keep(owner, path, v) else {})
        return out
    raise RuntimeError(f"[Module] Unexpected leaf of type {type(value).__name__} at '{key}' "
                       "while traversing the module.")


def _entries(container: Union[dict, list], new: Union[dict, list], strict: bool, what: str):
    """The ``(key, current, new_value)`` triples of ``new`` that ``container`` has, raising
    (when strict) on the keys it lacks. ``what`` names the kind of member for the messages."""
    if _is_empty_tree(new):
        # Nothing to update, whatever the container: tree_unflatten([]) is an empty list.
        return
    if isinstance(new, dict):
        if not isinstance(container, dict):
            if strict:
                raise ValueError(f"[Module.update] Received a dict where the module holds a "
                                 f"{type(container).__name__}.")
            return
        for key, value in new.items():
            if key in container:
                yield key, container[key], value
            elif strict:
                raise ValueError(f'[Module.update] Module does not have {what} named "{key}".')
    elif isinstance(new, list):
        if not isinstance(container, list):
            if strict:
                raise ValueError(f"[Module.update] Received a list where the module holds a "
                                 f"{type(container).__name__}.")
            return
        for i, value in enumerate(new):
            if i >= len(container):
                if strict:
                    raise ValueError(f"[Module.update] List index {i} is out of bounds for a "
                                     f"destination of length {len(container)}.")
                return
            yield i, container[i], value
    elif strict:
        raise ValueError(f"[Module.update] Received invalid type: {type(new).__name__}.")


def _is_empty_tree(value: Any) -> bool:
    return isinstance(value, (dict, list)) and not value


def _update_parameters(container: Union[dict, list], new: Any, strict: bool, path: str) -> None:
    for key, current, value in _entries(container, new, strict, "parameter"):
        name = f"{path}{key}"
        if isinstance(current, mx.array):
            # Like MLX, shapes are not checked here (load_weights checks them): a layer may
            # legitimately change a parameter's shape, e.g. when quantized.
            if strict and not isinstance(value, mx.array):
                raise ValueError(f"[Module.update] Received invalid type "
                                 f"{type(value).__name__} for parameter {name}.")
            container[key] = value
        elif isinstance(current, (dict, list)):
            _update_parameters(current, value, strict, f"{name}.")
        elif _is_empty_tree(value):
            # parameters() gives {} for a non-parameter member inside a list or dict (a plain
            # function in a Sequential), so such trees must update without complaint.
            continue
        elif strict:
            raise ValueError(f"[Module.update] {name} is not a parameter "
                             f"(it is a {type(current).__name__}).")


def _update_modules(container: Union[dict, list], new: Any, strict: bool) -> None:
    for key, current, value in _entries(container, new, strict, "sub-module"):
        if isinstance(current, Module) and isinstance(value, Module):
            container[key] = value
        elif isinstance(current, (dict, list)):
            _update_modules(current, value, strict)
        elif strict and not _is_empty_tree(value):
            raise ValueError(f"[Module.update_modules] Received invalid type "
                             f"{type(value).__name__} for {key}.")


class Module(dict):
    """Base class for layers and models.

    Assigning an array, dict, list or tuple to an attribute stores it as an item of the dict;
    anything else is a normal attribute. Members whose names start with ``_`` are not
    parameters."""

    __call__: Callable
    # Names of members that unfreeze() leaves frozen.
    _always_frozen: Tuple[str, ...] = ()

    def __init__(self) -> None:
        self._no_grad = set()
        self._training = True

    @property
    def training(self) -> bool:
        """Whether the module is in training mode."""
        return self._training

    @property
    def state(self) -> "Module":
        """The module's state dict: the module itself (parameters, buffers and sub-modules)."""
        return self

    # ---- attribute access maps onto the dict ----

    def __getattr__(self, key: str) -> Any:
        if key in self:
            return self[key]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    def __setattr__(self, key: str, value: Any) -> None:
        if isinstance(value, (mx.array, dict, list, tuple)):
            if key in self.__dict__:
                del self.__dict__[key]
            self[key] = value
        else:
            super().__setattr__(key, value)
            self.pop(key, None)

    def __delattr__(self, key: str) -> None:
        if key in self:
            del self[key]
        else:
            super().__delattr__(key)

    def _extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = tree_flatten(self.children(), is_leaf=self.is_module)
        lines = [f"{type(self).__name__}({self._extra_repr()}"]
        for key, child in children:
            lines.append(textwrap.indent(f"({key}): {child!r}", "  "))
        return "\n".join(lines) + ("\n)" if children else ")")

    # ---- the filters that define parameters and children ----

    @staticmethod
    def is_module(value: Any) -> bool:
        return isinstance(value, Module)

    @staticmethod
    def valid_child_filter(module: "Module", key: str, value: Any) -> bool:
        return isinstance(value, (dict, list))

    @staticmethod
    def valid_parameter_filter(module: "Module", key: str, value: Any) -> bool:
        return isinstance(value, (dict, list, mx.array)) and not key.startswith("_")

    @staticmethod
    def trainable_parameter_filter(module: "Module", key: str, value: Any) -> bool:
        return Module.valid_parameter_filter(module, key, value) and key not in module._no_grad

    def filter_and_map(self, filter_fn: Filter, map_fn: Optional[Callable] = None,
                       is_leaf_fn: Optional[Filter] = None) -> dict:
        """The members that ``filter_fn(module, key, value)`` keeps, recursively, as a nested
        dict/list tree, with ``map_fn`` applied to each leaf (where ``is_leaf_fn`` says true)."""
        map_fn = map_fn or _identity
        is_leaf_fn = is_leaf_fn or _is_plain_leaf
        return {k: _collect(self, k, v, filter_fn, map_fn, is_leaf_fn)
                for k, v in self.items() if filter_fn(self, k, v)}

    def parameters(self) -> dict:
        """All parameters (array members, recursively) as a nested dict/list tree."""
        return self.filter_and_map(self.valid_parameter_filter, is_leaf_fn=_is_array_leaf)

    def trainable_parameters(self) -> dict:
        """The parameters that are not frozen."""
        return self.filter_and_map(self.trainable_parameter_filter, is_leaf_fn=_is_array_leaf)

    def children(self) -> dict:
        """The direct sub-modules."""
        return self.filter_and_map(self.valid_child_filter, is_leaf_fn=_is_module_leaf)

    def leaf_modules(self) -> dict:
        """The sub-modules that have no sub-modules of their own."""
        def is_leaf_module(module, key, value):
            return isinstance(value, Module) and not tree_flatten(value.children())
        return self.filter_and_map(self.valid_child_filter, is_leaf_fn=is_leaf_module)

    # ---- replacing members ----

    def update(self, parameters: dict, strict: bool = True) -> "Module":
        """Replaces the parameters with those in ``parameters`` (a nested dict/list tree, e.g.
        from :meth:`parameters` or an optimizer). With ``strict`` every key must name an
        existing parameter, every value must be an array of the parameter's shape."""
        _update_parameters(self, parameters, strict, "")
        return self

    def apply(self, map_fn: Callable[[mx.array], mx.array],
              filter_fn: Optional[Filter] = None) -> "Module":
        """Replaces each parameter (each member ``filter_fn`` keeps) ``p`` by ``map_fn(p)``."""
        filter_fn = filter_fn or Module.valid_parameter_filter
        _update_parameters(self, self.filter_and_map(filter_fn, map_fn), False, "")
        return self

    def update_modules(self, modules: dict, strict: bool = True) -> "Module":
        """Replaces sub-modules with those in ``modules`` (a tree like :meth:`children`)."""
        _update_modules(self, modules, strict)
        return self

    def apply_to_modules(self, apply_fn: Callable[[str, "Module"], Any]) -> "Module":
        """Calls ``apply_fn(dotted_name, module)`` on this module ("") and every sub-module."""
        pending: List[Tuple[str, Module]] = [("", self)]
        while pending:
            name, module = pending.pop()
            apply_fn(name, module)
            pending.extend(tree_flatten(module.children(), prefix=f".{name}" if name else "",
                                        is_leaf=self.is_module))
        return self

    def modules(self) -> List["Module"]:
        """This module and all its sub-modules."""
        found: List[Module] = []
        self.apply_to_modules(lambda _, m: found.append(m))
        return found

    def named_modules(self) -> List[Tuple[str, "Module"]]:
        """``(dotted_name, module)`` for this module ("") and all its sub-modules."""
        found: List[Tuple[str, Module]] = []
        self.apply_to_modules(lambda name, m: found.append((name, m)))
        return found

    # ---- freezing ----

    def _keys_here(self, keys: Union[str, List[str]], strict: bool, what: str) -> List[str]:
        keys = keys if isinstance(keys, list) else [keys]
        if strict:
            for key in keys:
                if key not in self:
                    raise KeyError(f"[Module.{what}] Module doesn't contain member {key}.")
        return keys

    def _check_keys_anywhere(self, keys: Union[str, List[str]], what: str) -> None:
        modules = self.modules()
        for key in keys if isinstance(keys, list) else [keys]:
            if not any(key in m for m in modules):
                raise KeyError(f"[Module.{what}] Module doesn't contain member {key}.")

    def _each_module(self, recurse: bool, strict: bool, keys: Any, what: str,
                     fn: Callable[["Module", bool], None]) -> "Module":
        if recurse:
            if strict and keys is not None:
                self._check_keys_anywhere(keys, what)
            # Once checked against the whole tree, each module takes only the keys it has.
            self.apply_to_modules(lambda _, m: fn(m, False))
        else:
            fn(self, strict)
        return self

    def freeze(self, *, recurse: bool = True, keys: Optional[Union[str, List[str]]] = None,
               strict: bool = False) -> "Module":
        """Excludes parameters from :meth:`trainable_parameters` (and so from gradients): the
        ``keys`` given, or all of them; in every sub-module too unless ``recurse`` is false."""
        def freeze_one(module: Module, strict_here: bool) -> None:
            names = keys
            if names is None:
                own = module.filter_and_map(lambda m, k, v: not isinstance(v, Module)
                                            and m.valid_parameter_filter(m, k, v))
                names = [k for k, _ in tree_flatten(own)]
            module._no_grad.update(module._keys_here(names, strict_here, "freeze"))
        return self._each_module(recurse, strict, keys, "freeze", freeze_one)

    def unfreeze(self, *, recurse: bool = True, keys: Optional[Union[str, List[str]]] = None,
                 strict: bool = False) -> "Module":
        """Undoes :meth:`freeze` for ``keys`` (or all parameters)."""
        def unfreeze_one(module: Module, strict_here: bool) -> None:
            if keys is None:
                module._no_grad.clear()
            else:
                module._no_grad.difference_update(module._keys_here(keys, strict_here,
                                                                    "unfreeze"))
            # Members that are never trained (BatchNorm's running statistics) stay frozen even
            # when a parent module is unfrozen (MLX unfreezes them there).
            module._no_grad.update(k for k in module._always_frozen if k in module)
        return self._each_module(recurse, strict, keys, "unfreeze", unfreeze_one)

    # ---- modes and dtypes ----

    def _set_training_mode(self, mode: bool) -> None:
        self._training = mode

    def train(self, mode: bool = True) -> "Module":
        """Sets training mode (``mode``) on this module and all sub-modules."""
        self.apply_to_modules(lambda _, m: m._set_training_mode(mode))
        return self

    def eval(self) -> "Module":
        """Sets evaluation mode: ``train(False)``."""
        return self.train(False)

    def set_dtype(self, dtype: mx.Dtype,
                  predicate: Optional[Callable[[mx.Dtype], bool]] =
                  lambda t: mx.issubdtype(t, mx.floating)) -> None:
        """Casts the parameters whose dtype ``predicate`` accepts (floating ones by default;
        all when ``predicate`` is None) to ``dtype``."""
        accept = predicate or (lambda _: True)
        self.apply(lambda p: p.astype(dtype) if accept(p.dtype) else p)

    # ---- files ----

    def save_weights(self, file: str) -> None:
        """Saves the parameters to ``file``: ``.npz`` or ``.safetensors``, named by their
        dotted paths."""
        flat = tree_flatten(self.parameters(), destination={})
        if file.endswith(".npz"):
            if hasattr(mx, "savez"):
                mx.savez(file, **flat)
            else:  # until the core's file I/O lands: NumPy writes the same format
                import numpy as np
                np.savez(file, **{k: np.asarray(v) for k, v in flat.items()})
        elif file.endswith(".safetensors"):
            if not hasattr(mx, "save_safetensors"):
                raise ValueError("[Module.save_weights] .safetensors files need "
                                 "pullback.core.save_safetensors, which this build lacks.")
            mx.save_safetensors(file, flat)
        else:
            raise ValueError(f"[Module.save_weights] Unsupported file extension for {file}: "
                             "use '.npz' or '.safetensors'.")

    def load_weights(self, file_or_weights: Union[str, List[Tuple[str, mx.array]]],
                     strict: bool = True) -> "Module":
        """Loads parameters from a ``.npz``/``.safetensors`` file or a list of
        ``(dotted_path, array)`` pairs. With ``strict`` the names must be exactly the model's
        parameters and each shape must match."""
        weights = file_or_weights
        if isinstance(weights, str):
            weights = list(_load_file(weights).items())
        weights = list(weights)
        if strict:
            given = dict(weights)
            current = tree_flatten(self.parameters(), destination={})
            extra = sorted(given.keys() - current.keys())
            if extra:
                raise ValueError(f"[Module.load_weights] Received {len(extra)} parameters not "
                                 "in the model: \n" + ",\n".join(extra) + ".")
            missing = sorted(current.keys() - given.keys())
            if missing:
                raise ValueError(f"[Module.load_weights] Missing {len(missing)} parameters: \n"
                                 + ",\n".join(missing) + ".")
            for name, value in current.items():
                new = given[name]
                if not isinstance(new, mx.array):
                    raise ValueError(f"[Module.load_weights] Expected an array but received "
                                     f"{type(new).__name__} for parameter {name}.")
                if tuple(new.shape) != tuple(value.shape):
                    raise ValueError(f"[Module.load_weights] Expected shape {tuple(value.shape)}"
                                     f" but received shape {tuple(new.shape)} for parameter "
                                     f"{name}.")
        if weights:
            self.update(tree_unflatten(weights), strict=False)
        return self


def _load_file(file: str) -> Dict[str, mx.array]:
    if hasattr(mx, "load"):
        return mx.load(file)
    if file.endswith(".npz"):
        import numpy as np
        with np.load(file) as data:
            return {k: mx.array(data[k]) for k in data.files}
    raise ValueError(f"[Module.load_weights] Cannot read {file}: this build has no "
                     "pullback.core.load and only .npz files can be read without it.")
