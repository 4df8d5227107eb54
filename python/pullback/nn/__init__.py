"""pullback.nn: modules, layers, losses and the parameter-aware transforms
(``import pullback.nn as nn``)."""

from pullback.nn import init, losses
from pullback.nn.layers import *  # noqa: F401,F403
from pullback.nn.utils import value_and_grad
