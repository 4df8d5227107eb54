"""Transforms over a Module's parameters."""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, Optional, Tuple

import pullback.core as mx
from pullback.nn.layers.base import Module


def value_and_grad(model: Module, fn: Callable) -> Callable:
    """Returns a function computing ``fn(*args, **kwargs)`` and its gradient with respect to
    ``model``'s trainable parameters, as a tree like ``model.trainable_parameters()`` (frozen
    parameters are absent from it). ``fn`` may return ``(loss, aux...)`` as for
    :func:`pullback.core.value_and_grad`."""
    def with_parameters(parameters, *args, **kwargs):
        # The transform hands us stand-ins for the parameters; fn reads them from the model.
        model.update(parameters)
        return fn(*args, **kwargs)

    value_and_grad_fn = mx.value_and_grad(with_parameters)

    @wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Tuple[Any, Any]:
        return value_and_grad_fn(model.trainable_parameters(), *args, **kwargs)

    return wrapped


def checkpoint(module: Module, fn: Optional[Callable] = None) -> Callable:
    """Returns a function computing ``fn(*args, **kwargs)`` (by default ``module(...)``) whose
    intermediates are recomputed during the gradient computation instead of kept. The module's
    parameters are inputs of the checkpoint, so gradients reach them (through
    :func:`value_and_grad`)."""
    call = module.__call__ if fn is None else fn
    checkpointed = mx.checkpoint(lambda _module, *args, **kwargs: call(*args, **kwargs))

    @wraps(call)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return checkpointed(module, *args, **kwargs)

    return wrapped
