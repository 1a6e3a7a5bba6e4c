"""The quantized module classes of ptlite.nn.quantized."""
from .activation import Hardswish, LeakyReLU, ReLU6, Sigmoid  # noqa: F401
from .batchnorm import BatchNorm2d  # noqa: F401
from .conv import Conv1d, Conv2d, ConvTranspose2d  # noqa: F401
from .embedding_ops import Embedding, EmbeddingBag  # noqa: F401
from .functional_modules import FloatFunctional, QFunctional  # noqa: F401
from .linear import Linear  # noqa: F401
from .stubs import DeQuantize, Dropout, Quantize  # noqa: F401

__all__ = ["Quantize", "DeQuantize", "Dropout", "Conv1d", "Conv2d", "ConvTranspose2d", "Linear",
           "ReLU6", "Hardswish", "LeakyReLU", "Sigmoid", "BatchNorm2d", "Embedding", "EmbeddingBag", "FloatFunctional",
           "QFunctional"]
