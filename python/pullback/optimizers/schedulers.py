"""Learning-rate schedules: functions from the optimizer's step (a uint64 array) to a rate."""

from __future__ import annotations

import math
from typing import Callable, List

import pullback.core as mx


def exponential_decay(init: float, decay_rate: float) -> Callable:
    """``init * decay_rate ** step``."""
    def schedule(step):
        return init * decay_rate ** step
    return schedule


def step_decay(init: float, decay_rate: float, step_size: int) -> Callable:
    """``init * decay_rate ** (step // step_size)``: decays once every ``step_size`` steps."""
    if step_size < 1:
        raise ValueError(f"[step_decay] step_size must be greater than 0, but got {step_size}.")

    def schedule(step):
        return init * decay_rate ** (step // step_size)
    return schedule


def cosine_decay(init: float, decay_steps: int, end: float = 0.0) -> Callable:
    """Half a cosine from ``init`` down to ``end`` over ``decay_steps`` steps, ``end`` after."""
    if decay_steps < 1:
        raise ValueError(f"[cosine_decay] decay_steps must be greater than 0, but got "
                         f"{decay_steps}.")

    def schedule(step):
        progress = mx.minimum(step, decay_steps)
        return end + (init - end) * 0.5 * (1.0 + mx.cos((math.pi / decay_steps) * progress))
    return schedule


def linear_schedule(init: float, end: float, steps: int) -> Callable:
    """A straight line from ``init`` to ``end`` over ``steps`` steps, ``end`` after."""
    if steps < 1:
        raise ValueError(f"[linear_schedule] steps must be greater than 0, but got {steps}.")
    slope = (end - init) / steps

    def schedule(step):
        return mx.minimum(step, steps) * slope + init
    return schedule


def join_schedules(schedules: List[Callable], boundaries: List[int]) -> Callable:
    """Uses ``schedules[0]`` before ``boundaries[0]``, then ``schedules[1]`` (counting its
    steps from that boundary), and so on."""
    if len(schedules) == 0:
        raise ValueError("[join_schedules] Must provide at least 1 schedule to join.")
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(f"[join_schedules] Received {len(boundaries)} boundaries but expected "
                         f"{len(schedules) - 1}.")

    def schedule(step):
        rate = schedules[0](step)
        for boundary, later in zip(boundaries, schedules[1:]):
            rate = mx.where(step < boundary, rate, later(step - boundary))
        return rate
    return schedule
