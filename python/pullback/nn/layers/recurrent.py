"""Recurrent layers (Elman RNN, GRU, LSTM) over (..., L, D) inputs, unrolled with
core ops. Weights start as U(-1/sqrt(hidden), 1/sqrt(hidden)), like MLX; the input
projection of all steps is one matmul before the loop."""

from __future__ import annotations

import math
from typing import Callable, Optional

import pullback.core as mx
from pullback.nn.layers.base import Module


def _uniform(scale: float, *shape: int) -> mx.array:
    return mx.random.uniform(-scale, scale, shape)


def _check_input(layer: str, x: mx.array, dims: int) -> None:
    # Any number of leading batch axes is fine (as in MLX): the steps run along axis -2.
    if x.ndim < 2 or x.shape[-1] != dims:
        raise ValueError(f"[{layer}] Expected an input of shape (..., L, {dims}) but got "
                         f"{tuple(x.shape)}.")


class _Recurrent(Module):
    _input_weight, _bias = "Wx", "bias"

    def _extra_repr(self) -> str:
        return (f"input_dims={self[self._input_weight].shape[1]}, "
                f"hidden_size={self.hidden_size}, bias={self._bias in self}")


class RNN(_Recurrent):
    """``h_t = nonlinearity(x_t @ Wxh.T + h_{t-1} @ Whh.T + bias)`` (tanh by default);
    returns every ``h_t`` stacked along the sequence axis."""

    _input_weight = "Wxh"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: Optional[Callable] = None):
        super().__init__()
        if nonlinearity is not None and not callable(nonlinearity):
            raise ValueError(f"[RNN] nonlinearity must be callable but got {nonlinearity!r}.")
        self.nonlinearity = nonlinearity or mx.tanh
        s = 1.0 / math.sqrt(hidden_size)
        self.hidden_size = hidden_size
        self.Wxh = _uniform(s, hidden_size, input_size)
        self.Whh = _uniform(s, hidden_size, hidden_size)
        if bias:
            self.bias = _uniform(s, hidden_size)

    def __call__(self, x: mx.array, hidden: Optional[mx.array] = None) -> mx.array:
        _check_input("RNN", x, self["Wxh"].shape[1])
        x = x @ self["Wxh"].T
        if "bias" in self:
            x = x + self["bias"]
        states = []
        for t in range(x.shape[-2]):
            h = x[..., t, :]
            if hidden is not None:
                h = h + hidden @ self["Whh"].T
            hidden = self.nonlinearity(h)
            states.append(hidden)
        return mx.stack(states, axis=-2)


class GRU(_Recurrent):
    """Gated recurrent unit with reset/update gates ``r, z`` and candidate
    ``n = tanh(x_n + r * (h @ Wh_n.T + bhn))``; ``h_t = (1 - z) * n + z * h_{t-1}``."""

    _bias = "b"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        s = 1.0 / math.sqrt(hidden_size)
        self.hidden_size = hidden_size
        self.Wx = _uniform(s, 3 * hidden_size, input_size)
        self.Wh = _uniform(s, 3 * hidden_size, hidden_size)
        if bias:
            self.b = _uniform(s, 3 * hidden_size)
            self.bhn = _uniform(s, hidden_size)

    def __call__(self, x: mx.array, hidden: Optional[mx.array] = None) -> mx.array:
        _check_input("GRU", x, self["Wx"].shape[1])
        H = self.hidden_size
        x = x @ self["Wx"].T
        if "b" in self:
            x = x + self["b"]
        x_rz, x_n = x[..., :2 * H], x[..., 2 * H:]
        states = []
        for t in range(x.shape[-2]):
            rz, n = x_rz[..., t, :], x_n[..., t, :]
            if hidden is not None:
                h_proj = hidden @ self["Wh"].T
                h_n = h_proj[..., 2 * H:]
                if "bhn" in self:
                    h_n = h_n + self["bhn"]
                rz = rz + h_proj[..., :2 * H]
            rz = mx.sigmoid(rz)
            r, z = rz[..., :H], rz[..., H:]
            if hidden is not None:
                n = n + r * h_n
            elif "bhn" in self:
                n = n + r * self["bhn"]  # a zero initial state still contributes bhn
            n = mx.tanh(n)
            hidden = (1 - z) * n + (z * hidden if hidden is not None else 0)
            states.append(hidden)
        return mx.stack(states, axis=-2)


class LSTM(_Recurrent):
    """Long short-term memory with input, forget, cell and output gates (in that order in
    ``Wx``, ``Wh`` and ``bias``); returns the stacked hidden states and cell states."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        s = 1.0 / math.sqrt(hidden_size)
        self.hidden_size = hidden_size
        self.Wx = _uniform(s, 4 * hidden_size, input_size)
        self.Wh = _uniform(s, 4 * hidden_size, hidden_size)
        if bias:
            self.bias = _uniform(s, 4 * hidden_size)

    def __call__(self, x: mx.array, hidden: Optional[mx.array] = None,
                 cell: Optional[mx.array] = None):
        _check_input("LSTM", x, self["Wx"].shape[1])
        H = self.hidden_size
        x = x @ self["Wx"].T
        if "bias" in self:
            x = x + self["bias"]
        hiddens, cells = [], []
        for t in range(x.shape[-2]):
            gates = x[..., t, :]
            if hidden is not None:
                gates = gates + hidden @ self["Wh"].T
            i = mx.sigmoid(gates[..., :H])
            f = mx.sigmoid(gates[..., H:2 * H])
            g = mx.tanh(gates[..., 2 * H:3 * H])
            o = mx.sigmoid(gates[..., 3 * H:])
            cell = f * cell + i * g if cell is not None else i * g
            hidden = o * mx.tanh(cell)
            hiddens.append(hidden)
            cells.append(cell)
        return mx.stack(hiddens, axis=-2), mx.stack(cells, axis=-2)
