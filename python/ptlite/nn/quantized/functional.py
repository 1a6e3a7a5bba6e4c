"""ptlite.nn.quantized.functional: functional interface of the quantized ops
(torch.ao.nn.quantized.functional's names). Pooling, clamping, relu6 and interpolation on a
quint8 tensor are the float functions themselves: they keep the input's qparams."""
from __future__ import annotations

from typing import Any, Optional

from ..._ops.qconv import conv1d, conv2d, conv_transpose2d, linear  # noqa: F401
from ..._ops.qeltwise import hardswish, leaky_relu  # noqa: F401
from ..._tensor import Tensor
from .. import functional as _F

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "linear", "hardswish", "leaky_relu",
           "hardtanh", "clamp", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
           "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "threshold"]


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    r"""This is the quantized version of :func:`~ptlite.nn.functional.hardtanh`."""
    if not input.is_quantized:
        raise ValueError("Input to 'quantized.hardtanh' must be quantized!")
    return _F.hardtanh(input, min_val, max_val, inplace)


def clamp(input: Tensor, min_: float, max_: float) -> Tensor:
    r"""float(input, min\_, max\_) -> Tensor

    Applies the clamp function element-wise in the quantized domain."""
    if not input.is_quantized:
        raise ValueError("Input to 'quantized.clamp' must be quantized!")
    return input.clamp(min_, max_)


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    r"""Applies the quantized version of the threshold function element-wise."""
    if not input.is_quantized:
        raise ValueError("Input to 'quantized.threshold' must be quantized!")
    raise NotImplementedError("quantized.threshold is not supported yet")


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    r"""Applies a 2D max pooling over a quantized input signal composed of several quantized
    input planes. The output keeps the input's qparams."""
    if return_indices:
        raise NotImplementedError("return_indices is not yet implemented!")
    if stride is None:
        stride = []
    return _F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    r"""Applies 2D average-pooling in the quantized domain; the output keeps the input's
    qparams."""
    if not input.is_quantized:
        raise ValueError("Input to 'quantized.avg_pool2d' must be quantized!")
    return _F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    r"""Applies a 2D adaptive average pooling over a quantized input; the output keeps the
    input's qparams."""
    if not input.is_quantized:
        raise ValueError("Input to 'quantized.functional.adaptive_avg_pool2d' must be "
                         "quantized!")
    return _F.adaptive_avg_pool2d(input, output_size)


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: Optional[bool] = None) -> Tensor:
    r"""Down/up samples a quantized input ('nearest' or 'bilinear'); the output keeps the
    input's qparams."""
    if not input.is_quantized:
        raise ValueError("Input to 'quantized.interpolate' must be quantized!")
    return _F.interpolate(input, size, scale_factor, mode, align_corners)


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: Optional[bool] = None) -> Tensor:
    r"""Upsamples a quantized input (deprecated in torch in favour of ``interpolate``)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    r"""Upsamples a quantized input with bilinear interpolation and align_corners=True."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    r"""Upsamples a quantized input with nearest-neighbour interpolation."""
    return interpolate(input, size, scale_factor, mode="nearest")
