"""Optimizers. Each keeps its state (step, learning rate, per-parameter moments) as a tree of
arrays in ``state``, so that ``tree_flatten(opt.state)`` can be saved and assigning the
unflattened tree back to ``opt.state`` continues exactly where it left off."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import pullback.core as mx
from pullback.utils import tree_flatten, tree_map, tree_merge, tree_reduce, tree_unflatten

Schedule = Union[float, Callable[[mx.array], mx.array]]


def _empty_like(tree: Any) -> Any:
    """``tree``'s structure with an empty state dict at each leaf."""
    return tree_map(lambda _: {}, tree)


def _mirror(parameters: Any, state: Any) -> Any:
    """Grows ``state`` so that it has a dict for every leaf of ``parameters``; existing
    entries (restored state, say) are kept."""
    if isinstance(parameters, dict):
        for key, value in parameters.items():
            state[key] = _mirror(value, state[key]) if key in state else _empty_like(value)
        return state
    if isinstance(parameters, (list, tuple)):
        grown = [_mirror(p, s) for p, s in zip(parameters, state)]
        grown += [_empty_like(p) for p in parameters[len(grown):]]
        return type(parameters)(grown)
    return state


def _compiled_step(update: Callable) -> Callable:
    """``update`` (a function of arrays only) compiled once for every shape: the elementwise
    arithmetic of a parameter's step then runs as a few fused passes over memory instead of
    one pass per operation, each writing a new array (an Adam step of a 784x512 matrix reads
    and writes it about 28 times unfused). Hyper-parameters come in as 0-d arrays of the
    parameter's dtype, the values Python scalars would take in the same arithmetic, so the
    results are those of the unfused step (and ``mx.disable_compile()`` gives them too)."""
    return mx.compile(update, shapeless=True)


@_compiled_step
def _adam_step(p, g, m, v, rate, keep, b1, c1, b2, c2, eps):
    m = b1 * m + c1 * g
    v = b2 * v + c2 * mx.square(g)
    return p * keep - rate * m / (mx.sqrt(v) + eps), m, v


@_compiled_step
def _adam_step_corrected(p, g, m, v, v_scale, rate, keep, b1, c1, b2, c2, eps):
    m = b1 * m + c1 * g
    v = b2 * v + c2 * mx.square(g)
    return p * keep - rate * m / (mx.sqrt(v) * v_scale + eps), m, v


@_compiled_step
def _adamax_step(p, g, m, v, rate, b1, c1, b2, eps):
    m = b1 * m + c1 * g
    v = mx.maximum(b2 * v, mx.abs(g))
    return p - rate * m / (v + eps), m, v


@_compiled_step
def _momentum_step(p, g, v, rate, momentum, damped):
    v = momentum * v + damped * g
    return p - rate * v, v


@_compiled_step
def _nesterov_step(p, g, v, rate, momentum):
    v = momentum * v + g
    return p - rate * (g + momentum * v), v


@_compiled_step
def _rms_step(p, g, v, rate, alpha, c, eps):
    v = alpha * v + c * mx.square(g)
    return p - rate * g / (mx.sqrt(v) + eps), v


@_compiled_step
def _adagrad_step(p, g, v, rate, eps):
    v = v + mx.square(g)
    return p - rate * g / (mx.sqrt(v) + eps), v


@_compiled_step
def _lion_step(p, g, m, rate, keep, b1, c1, b2, c2):
    direction = mx.sign(b1 * m + c1 * g)
    return keep * p - rate * direction, b2 * m + c2 * g


class Optimizer:
    """Base class of the optimizers.

    Subclasses implement ``init_single(parameter, state)`` (fill a parameter's state dict) and
    ``apply_single(gradient, parameter, state)`` (return the updated parameter, update state).
    Hyper-parameters given as schedules are evaluated at each step and kept in the state."""

    def __init__(self, schedulers: Optional[dict] = None) -> None:
        self._initialized = False
        self._state = {"step": mx.array(0, mx.uint64)}
        self._schedulers = dict(schedulers or {})

    def update(self, model: Any, gradients: dict) -> None:
        """Applies ``gradients`` (a tree like ``model.trainable_parameters()``) to ``model``."""
        model.update(self.apply_gradients(gradients, model))

    def init(self, parameters: dict) -> None:
        """Creates the state of each parameter in ``parameters`` that has none yet. Called by
        the first update; call it yourself to look at the state before that."""
        _mirror(parameters, self._state)
        tree_map(lambda p, s: s or self.init_single(p, s), parameters, self._state)
        self._initialized = True

    def init_single(self, parameter: mx.array, state: dict) -> None:
        """Fills ``state`` for ``parameter``."""
        raise NotImplementedError()

    def apply_gradients(self, gradients: dict, parameters: dict) -> dict:
        """Returns the parameters after one step of the optimizer (only those in
        ``gradients``); ``parameters`` may hold more."""
        if not self._initialized:
            self.init(gradients)
        for name, schedule in self._schedulers.items():
            self.state[name] = schedule(self.step)
        self.state["step"] = self.step + 1
        return tree_map(self.apply_single, gradients, parameters, self.state)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        """Returns ``parameter`` after one step with ``gradient``, updating ``state``."""
        raise NotImplementedError()

    @property
    def state(self) -> dict:
        """The optimizer's state: ``step``, scheduled hyper-parameters and per-parameter
        entries."""
        return self._state

    @state.setter
    def state(self, state: dict) -> None:
        self._initialized = False
        self._state = state

    @property
    def step(self) -> mx.array:
        return self.state["step"]

    @property
    def learning_rate(self) -> mx.array:
        return self.state["learning_rate"]

    @learning_rate.setter
    def learning_rate(self, learning_rate: Union[float, mx.array]) -> None:
        self.state["learning_rate"] = self._as_array("learning_rate", learning_rate)

    def _as_array(self, name: str, value: Any) -> mx.array:
        try:
            return mx.array(value)
        except (TypeError, ValueError) as e:  # the class mx.array raised, as in MLX
            raise type(e)(f"[{type(self).__name__}] {name} must be a number, an array or a "
                          f"schedule (a callable of the step), not a "
                          f"{type(value).__name__}.") from None

    def _maybe_schedule(self, name: str, value: Schedule) -> None:
        if callable(value):
            self._schedulers[name] = value
            self.state[name] = value(self.step)
        else:
            self.state[name] = self._as_array(name, value)

    def _rate(self, like: mx.array) -> mx.array:
        return self.learning_rate.astype(like.dtype)

    def _run_step(self, step: Callable, arrays: Sequence[mx.array], *values: Any) -> Any:
        """``step(*arrays, *values)``, a function made by ``_compiled_step``, compiled when the
        arrays share one dtype: Python scalars among ``values`` then enter as 0-d arrays of that
        dtype (made once), the values they would take in the arithmetic; arrays among them (a
        learning rate) enter as they are. Mixed dtypes (restored float32 moments of a bfloat16
        parameter, say) run the step unfused, where each scalar adapts to the operand it
        meets."""
        dtype = arrays[0].dtype
        if any(a.dtype is not dtype for a in arrays):
            return step.__wrapped__(*arrays, *values)
        cache = self.__dict__.setdefault("_scalar_cache", {})
        floats = tuple(v for v in values if not isinstance(v, mx.array))
        made = cache.get((dtype, floats))
        if made is None:
            made = cache[dtype, floats] = [mx.array(v, dtype) for v in floats]
        scalars, i = [], 0
        for v in values:
            if not isinstance(v, mx.array):
                v, i = made[i], i + 1
            scalars.append(v)
        return step(*arrays, *scalars)


class MultiOptimizer(Optimizer):
    """Applies a different optimizer to each part of the parameters. ``filters[i](path,
    gradient)`` (the path dotted, as ``tree_flatten`` gives it) picks the parameters of
    ``optimizers[i]``; the last optimizer takes the rest."""

    def __init__(self, optimizers: Sequence[Optimizer], filters: list = []) -> None:
        super().__init__()
        self._state = {}
        if len(filters) != len(optimizers) - 1:
            raise ValueError(f"[MultiOptimizer] Given {len(filters)} filters but "
                             f"{len(optimizers) - 1} needed.")
        self.optimizers = list(optimizers)
        self.filters = list(filters) + [lambda *args, **kwargs: True]

    def _split(self, tree: dict) -> List[dict]:
        if len(self.optimizers) == 1:
            return [tree]
        parts: List[list] = [[] for _ in self.optimizers]
        for path, leaf in tree_flatten(tree):
            for part, keep in zip(parts, self.filters):
                if keep(path, leaf):
                    part.append((path, leaf))
                    break
        return [tree_unflatten(part) if part else {} for part in parts]

    def init(self, parameters: dict) -> None:
        for optimizer, part in zip(self.optimizers, self._split(parameters)):
            optimizer.init(part)

    def apply_gradients(self, gradients: dict, parameters: dict) -> dict:
        merged: Any = {}
        for optimizer, part in zip(self.optimizers, self._split(gradients)):
            merged = tree_merge(merged, optimizer.apply_gradients(part, parameters))
        return merged

    @property
    def state(self) -> dict:
        return {"states": [optimizer.state for optimizer in self.optimizers]}

    @state.setter
    def state(self, state: dict) -> None:
        if "states" not in state or len(state["states"]) != len(self.optimizers):
            raise ValueError(f"[MultiOptimizer] Invalid state: expected {{'states': [...]}} "
                             f"with {len(self.optimizers)} entries.")
        for optimizer, own in zip(self.optimizers, state["states"]):
            optimizer.state = own

    @property
    def learning_rate(self) -> mx.array:
        return self.optimizers[0].learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Union[float, mx.array]) -> None:
        for optimizer in self.optimizers:
            optimizer.learning_rate = learning_rate


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (``v = momentum * v + (1 -
    dampening) * g``), Nesterov momentum and L2 ``weight_decay`` added to the gradient."""

    def __init__(self, learning_rate: Schedule, momentum: float = 0.0,
                 weight_decay: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("[SGD] Nesterov momentum requires a momentum and zero dampening.")
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dampening = dampening
        self.nesterov = nesterov

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        if self.momentum <= 0:
            return parameter - self._rate(gradient) * gradient
        arrays, rate = (parameter, gradient, state["v"]), self._rate(gradient)
        if self.nesterov:  # dampening is 0 here
            parameter, state["v"] = self._run_step(_nesterov_step, arrays, rate, self.momentum)
        else:
            parameter, state["v"] = self._run_step(_momentum_step, arrays, rate, self.momentum,
                                                   1 - self.dampening)
        return parameter


class RMSprop(Optimizer):
    """``v = alpha * v + (1 - alpha) * g**2``; ``p -= lr * g / (sqrt(v) + eps)``."""

    def __init__(self, learning_rate: Schedule, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        if alpha < 0.0:
            raise ValueError(f"[RMSprop] alpha should be >= 0, {alpha} was provided instead.")
        if eps <= 0.0:
            raise ValueError(f"[RMSprop] epsilon should be > 0, {eps} was provided instead.")
        self.alpha = alpha
        self.eps = eps

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        parameter, state["v"] = self._run_step(_rms_step, (parameter, gradient, state["v"]),
                                               self._rate(gradient), self.alpha,
                                               1 - self.alpha, self.eps)
        return parameter


class Adagrad(Optimizer):
    """``v += g**2``; ``p -= lr * g / (sqrt(v) + eps)``."""

    def __init__(self, learning_rate: Schedule, eps: float = 1e-8) -> None:
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        if eps <= 0.0:
            raise ValueError(f"[Adagrad] epsilon should be > 0, {eps} was provided instead.")
        self.eps = eps

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        parameter, state["v"] = self._run_step(_adagrad_step, (parameter, gradient, state["v"]),
                                               self._rate(gradient), self.eps)
        return parameter


class AdaDelta(Optimizer):
    """Zeiler's AdaDelta: the step ``d = sqrt(u + eps) / sqrt(v + eps) * g`` with ``v`` and
    ``u`` running averages (rate ``rho``) of ``g**2`` and ``d**2``; ``p -= lr * d``."""

    def __init__(self, learning_rate: Schedule, rho: float = 0.9, eps: float = 1e-6) -> None:
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        if rho < 0.0:
            raise ValueError(f"[AdaDelta] rho should be >= 0, {rho} was provided instead.")
        if eps <= 0.0:
            raise ValueError(f"[AdaDelta] epsilon should be > 0, {eps} was provided instead.")
        self.rho = rho
        self.eps = eps

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["v"] = mx.zeros_like(parameter)
        state["u"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        rho, eps = self.rho, self.eps
        v = rho * state["v"] + (1 - rho) * mx.square(gradient)
        step = mx.sqrt(state["u"] + eps) / mx.sqrt(v + eps) * gradient
        state["v"] = v
        state["u"] = rho * state["u"] + (1 - rho) * mx.square(step)
        return parameter - self._rate(gradient) * step


def _check_betas(what: str, betas: Sequence[float]) -> None:
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"[{what}] beta{i + 1} should be in [0, 1), {beta} was provided "
                             "instead.")


class Adam(Optimizer):
    """Adam: running averages ``m`` of ``g`` and ``v`` of ``g**2`` (rates ``betas``);
    ``p -= lr * m / (sqrt(v) + eps)``, with ``m`` and ``v`` divided by ``1 - beta**step``
    when ``bias_correction`` (off by default, as in MLX)."""

    def __init__(self, learning_rate: Schedule, betas: List[float] = [0.9, 0.999],
                 eps: float = 1e-8, bias_correction: bool = False) -> None:
        super().__init__()
        _check_betas(type(self).__name__, betas)
        if not 0.0 <= eps:
            raise ValueError(f"[{type(self).__name__}] epsilon should be >= 0, {eps} was "
                             "provided instead.")
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.bias_correction = bias_correction

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        return self._adam(gradient, parameter, state, 1.0)

    def _adam(self, gradient: mx.array, parameter: mx.array, state: dict, keep: Any) -> mx.array:
        """The step, with the parameter first multiplied by ``keep`` (AdamW's decay; 1.0,
        exact, for Adam)."""
        rate = self._rate(gradient)
        b1, b2 = self.betas
        arrays = [parameter, gradient, state["m"], state["v"]]
        step = _adam_step
        if self.bias_correction:
            count = self.step
            arrays.append(mx.rsqrt(1 - b2 ** count).astype(gradient.dtype))
            rate = (rate / (1 - b1 ** count)).astype(gradient.dtype)
            step = _adam_step_corrected
        parameter, state["m"], state["v"] = self._run_step(step, arrays, rate, keep, b1, 1 - b1,
                                                           b2, 1 - b2, self.eps)
        return parameter


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam
    step."""

    def __init__(self, learning_rate: Schedule, betas: List[float] = [0.9, 0.999],
                 eps: float = 1e-8, weight_decay: float = 0.01,
                 bias_correction: bool = False) -> None:
        super().__init__(learning_rate=learning_rate, betas=betas, eps=eps,
                         bias_correction=bias_correction)
        self.weight_decay = weight_decay

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        return self._adam(gradient, parameter, state,
                          1 - self._rate(gradient) * self.weight_decay)


class Adamax(Adam):
    """Adam with the infinity norm: ``v = max(beta2 * v, |g|)``;
    ``p -= lr * m / (v + eps)``."""

    def __init__(self, learning_rate: Schedule, betas: List[float] = [0.9, 0.999],
                 eps: float = 1e-8) -> None:
        super().__init__(learning_rate, betas, eps)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        b1, b2 = self.betas
        parameter, state["m"], state["v"] = self._run_step(
            _adamax_step, (parameter, gradient, state["m"], state["v"]), self._rate(gradient),
            b1, 1 - b1, b2, self.eps)
        return parameter


class Lion(Optimizer):
    """Lion: ``p -= lr * sign(beta1 * m + (1 - beta1) * g)`` then
    ``m = beta2 * m + (1 - beta2) * g``, with decoupled ``weight_decay``."""

    def __init__(self, learning_rate: Schedule, betas: List[float] = [0.9, 0.99],
                 weight_decay: float = 0.0) -> None:
        super().__init__()
        _check_betas("Lion", betas)
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.weight_decay = weight_decay

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["m"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        rate = self._rate(gradient)
        b1, b2 = self.betas
        keep = 1 - rate * self.weight_decay if self.weight_decay > 0 else 1.0
        parameter, state["m"] = self._run_step(_lion_step, (parameter, gradient, state["m"]),
                                               rate, keep, b1, 1 - b1, b2, 1 - b2)
        return parameter


def _rms(x: mx.array) -> mx.array:
    return mx.sqrt(mx.mean(mx.square(x)))


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern): second moments factored into row and column averages for
    parameters of two or more dimensions, updates clipped to RMS ``clip_threshold``, a
    relative step size ``min(1e-2, 1/sqrt(step))`` unless ``relative_step`` is false, scaled
    by the parameter's RMS when ``scale_parameter``."""

    def __init__(self, learning_rate: Optional[Schedule] = None,
                 eps: Tuple[float, float] = (1e-30, 1e-3), clip_threshold: float = 1.0,
                 decay_rate: float = -0.8, beta_1: Optional[float] = None,
                 weight_decay: float = 0.0, scale_parameter: bool = True,
                 relative_step: bool = True, warmup_init: bool = False) -> None:
        super().__init__()
        if learning_rate is not None:
            self._maybe_schedule("learning_rate", learning_rate)
        elif not relative_step:
            raise ValueError("[Adafactor] A learning_rate is needed when relative_step is "
                             "False.")
        self.eps = eps
        self.clip_threshold = clip_threshold
        self.decay_rate = decay_rate
        self.beta_1 = beta_1
        self.weight_decay = weight_decay
        self.scale_parameter = scale_parameter
        self.relative_step = relative_step
        self.warmup_init = warmup_init

    def init_single(self, parameter: mx.array, state: dict) -> None:
        if parameter.ndim >= 2:
            shape = tuple(parameter.shape)
            state["exp_avg_sq_row"] = mx.zeros(shape[:-1], dtype=parameter.dtype)
            state["exp_avg_sq_col"] = mx.zeros(shape[:-2] + shape[-1:], dtype=parameter.dtype)
        else:
            state["exp_avg_sq"] = mx.zeros_like(parameter)
        if self.beta_1 is not None:
            state["exp_avg"] = mx.zeros_like(parameter)

    def _step_size(self, step: mx.array, parameter_rms: mx.array) -> mx.array:
        if self.relative_step:
            ceiling = 1e-6 * step if self.warmup_init else 1e-2
            size = mx.minimum(ceiling, mx.rsqrt(step))
        else:
            size = self.learning_rate
        size = size.astype(parameter_rms.dtype)
        if self.scale_parameter:
            return mx.maximum(self.eps[1], parameter_rms) * size
        return size

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        step = self.step
        parameter_rms = _rms(parameter)
        step_size = self._step_size(step, parameter_rms)
        beta_2 = 1.0 - (step ** self.decay_rate).astype(parameter_rms.dtype)
        squared = mx.square(gradient) + self.eps[0]
        if gradient.ndim >= 2:
            row = beta_2 * state["exp_avg_sq_row"] + (1 - beta_2) * mx.mean(squared, axis=-1)
            col = beta_2 * state["exp_avg_sq_col"] + (1 - beta_2) * mx.mean(squared, axis=-2)
            state["exp_avg_sq_row"] = row
            state["exp_avg_sq_col"] = col
            # The rank-one estimate of 1/sqrt(v): rows normalized by their mean, times columns.
            row_factor = mx.rsqrt(row / mx.mean(row, axis=-1, keepdims=True))
            update = (mx.expand_dims(row_factor, -1) * mx.expand_dims(mx.rsqrt(col), -2)
                      * gradient)
        else:
            v = beta_2 * state["exp_avg_sq"] + (1 - beta_2) * squared
            state["exp_avg_sq"] = v
            update = mx.rsqrt(v) * gradient
        update = update / mx.maximum(1.0, _rms(update) / self.clip_threshold)
        update = step_size * update
        if self.beta_1 is not None:
            update = self.beta_1 * state["exp_avg"] + (1 - self.beta_1) * update
            state["exp_avg"] = update
        if self.weight_decay != 0:
            parameter = parameter + parameter * (-self.weight_decay * step_size)
        return parameter - update


# The quintic Newton-Schulz coefficients of Keller Jordan's Muon.
_NS_A, _NS_B, _NS_C = 3.4445, -4.7750, 2.0315


def _orthogonalize(x: mx.array, steps: int) -> mx.array:
    """An approximation of ``U V^T`` for ``x = U S V^T`` (2-D) by Newton-Schulz iterations."""
    wide = x.shape[-2] <= x.shape[-1]
    if not wide:
        x = x.T
    x = x / (mx.sqrt(mx.sum(mx.square(x))) + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        poly = mx.addmm(_NS_B * gram, gram, gram, beta=1.0, alpha=_NS_C)
        x = mx.addmm(_NS_A * x, poly, x, beta=1.0, alpha=1.0)
    return x if wide else x.T


class Muon(Optimizer):
    """Muon: SGD momentum whose update, for parameters of two or more dimensions (flattened to
    2-D), is orthogonalized by ``ns_steps`` Newton-Schulz iterations and its rate scaled by
    ``sqrt(max(1, rows / cols))``. ``weight_decay`` is added to the gradient."""

    def __init__(self, learning_rate: Schedule, momentum: float = 0.95,
                 weight_decay: float = 0.01, nesterov: bool = True, ns_steps: int = 5) -> None:
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        self.ns_steps = ns_steps

    def init_single(self, parameter: mx.array, state: dict) -> None:
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        mu = self.momentum
        v = mu * state["v"] + (1 - mu) * gradient
        state["v"] = v
        update = gradient * (1 - mu) + v * mu if self.nesterov else v
        rate = self._rate(gradient)
        if update.ndim >= 2:
            shape = tuple(update.shape)
            update = _orthogonalize(update.reshape(shape[0], -1), self.ns_steps).reshape(shape)
            rate = rate * max(1, shape[-2] / shape[-1]) ** 0.5
        return parameter - rate * update


def clip_grad_norm(grads: Any, max_norm: float) -> Tuple[Any, mx.array]:
    """Scales the gradients so that their global L2 norm is at most ``max_norm``; returns
    ``(clipped_gradients, norm_before_clipping)``."""
    if max_norm < 0:
        raise ValueError(f"[clip_grad_norm] max_norm should be >= 0, {max_norm} was provided "
                         "instead.")

    def squared_norm(g: mx.array) -> mx.array:
        if g.dtype == mx.float16:
            g = g.astype(mx.float32)
        return mx.sum(mx.square(g))

    total = mx.sqrt(tree_reduce(lambda acc, g: acc + squared_norm(g), grads, 0.0))
    factor = mx.minimum(max_norm / (total + 1e-6), 1.0)

    def scale(g: mx.array) -> mx.array:
        scaled = g * factor
        return scaled.astype(g.dtype) if mx.issubdtype(g.dtype, mx.floating) else scaled

    return tree_map(scale, grads), total
