"""ptlite.nn.modules: the layer classes, one file per family as torch.nn.modules."""
from .module import Module
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .linear import Identity, Linear
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .activation import (ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSoftmax,
                         PReLU, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Tanh)
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .dropout import Dropout, Dropout2d
from .sparse import Embedding, EmbeddingBag
from .flatten import Flatten, Unflatten
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .padding import ConstantPad2d, ReflectionPad2d, ReplicationPad2d, ZeroPad2d
from .rnn import GRU, GRUCell, LSTM, LSTMCell, RNN, RNNBase, RNNCell, RNNCellBase

__all__ = [
    "Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
    "Identity", "Linear", "Conv1d", "Conv2d", "ConvTranspose2d",
    "ReLU", "ReLU6", "Hardtanh", "Hardswish", "Hardsigmoid", "Sigmoid", "Tanh", "GELU",
    "SiLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "LogSoftmax",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Dropout2d", "Embedding",
    "EmbeddingBag",
    "Flatten", "Unflatten", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "ConstantPad2d", "ZeroPad2d", "ReflectionPad2d", "ReplicationPad2d",
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
]
