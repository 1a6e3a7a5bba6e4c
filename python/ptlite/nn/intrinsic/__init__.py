"""ptlite.nn.intrinsic: fused float modules that quantization swaps as one unit
(torch.ao.nn.intrinsic's names). ``fuse_modules`` builds them; ``convert`` turns them
into the modules of ``ptlite.nn.intrinsic.quantized``."""
from .modules import (BNReLU2d, ConvBn1d, ConvBn2d, ConvBnReLU1d, ConvBnReLU2d,  # noqa: F401
                      ConvReLU1d, ConvReLU2d, LinearBn1d, LinearReLU, _FusedModule)

__all__ = ["ConvReLU1d", "ConvReLU2d", "ConvBn1d", "ConvBn2d", "ConvBnReLU1d", "ConvBnReLU2d",
           "LinearReLU", "LinearBn1d", "BNReLU2d"]
from . import quantized  # noqa: F401,E402
