"""Modules that hold other modules: Identity and Sequential."""

from __future__ import annotations

from typing import Any, Callable

import pullback.core as mx
from pullback.nn.layers.base import Module


class Identity(Module):
    """Returns its input unchanged; accepts and ignores any constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def __call__(self, x: mx.array) -> mx.array:
        return x


class Sequential(Module):
    """Calls the given modules (or any callables) one after the other, each on the previous
    one's output. They are stored in the list member ``layers``."""

    def __init__(self, *modules: Callable) -> None:
        super().__init__()
        self.layers = list(modules)

    def __call__(self, x: mx.array) -> mx.array:
        for layer in self.layers:
            x = layer(x)
        return x
