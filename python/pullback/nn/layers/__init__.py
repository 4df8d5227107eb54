"""The layers of pullback.nn."""

from pullback.nn.layers.activations import (CELU, ELU, GELU, GLU, SELU, HardShrink, Hardswish,
                                            HardTanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish,
                                            PReLU, ReLU, ReLU2, ReLU6, Sigmoid, SiLU, Softmax,
                                            Softmin, Softplus, Softshrink, Softsign, Step, Tanh,
                                            celu, elu, gelu, gelu_approx, gelu_fast_approx, glu,
                                            hard_shrink, hard_tanh, hardswish, leaky_relu,
                                            log_sigmoid, log_softmax, mish, prelu, relu, relu2,
                                            relu6, selu, sigmoid, silu, softmax, softmin,
                                            softplus, softshrink, softsign, step, tanh)
from pullback.nn.layers.base import Module
from pullback.nn.layers.containers import Identity, Sequential
from pullback.nn.layers.normalization import (BatchNorm, GroupNorm, InstanceNorm, LayerNorm,
                                              RMSNorm)
