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
from pullback.nn.layers.convolution import (Conv1d, Conv2d, Conv3d, ConvTranspose1d,
                                            ConvTranspose2d, ConvTranspose3d)
from pullback.nn.layers.dropout import Dropout, Dropout2d, Dropout3d
from pullback.nn.layers.linear import Bilinear, Embedding, Linear
from pullback.nn.layers.pooling import (AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d,
                                        MaxPool3d)
from pullback.nn.layers.upsample import Upsample
from pullback.nn.layers.attention import MultiHeadAttention
from pullback.nn.layers.positional import ALiBi, RoPE, SinusoidalPositionalEncoding
from pullback.nn.layers.recurrent import GRU, LSTM, RNN
from pullback.nn.layers.transformer import (Transformer, TransformerDecoder,
                                            TransformerDecoderLayer, TransformerEncoder,
                                            TransformerEncoderLayer)
