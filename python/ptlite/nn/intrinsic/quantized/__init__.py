"""ptlite.nn.intrinsic.quantized: quantized fused modules (conv or linear with a fused
ReLU, batch norm with a fused ReLU), torch.ao.nn.intrinsic.quantized's names."""
from __future__ import annotations

from ... import quantized as _nnq
from .. import modules as _nni

__all__ = ["ConvReLU1d", "ConvReLU2d", "LinearReLU", "BNReLU2d"]


class ConvReLU1d(_nnq.Conv1d):
    r"""A ConvReLU1d module is a fused module of Conv1d and ReLU: the ReLU is the clamp of
    the quantized convolution's output, so it costs nothing."""

    _FUSED_FLOAT = _nni.ConvReLU1d
    _relu = True

    def _get_name(self) -> str:
        return "QuantizedConvReLU1d"


class ConvReLU2d(_nnq.Conv2d):
    r"""A ConvReLU2d module is a fused module of Conv2d and ReLU: the ReLU is the clamp of
    the quantized convolution's output, so it costs nothing."""

    _FUSED_FLOAT = _nni.ConvReLU2d
    _relu = True

    def _get_name(self) -> str:
        return "QuantizedConvReLU2d"


class LinearReLU(_nnq.Linear):
    r"""A LinearReLU module fused from Linear and ReLU modules."""

    _FUSED_FLOAT = _nni.LinearReLU
    _relu = True

    def _get_name(self) -> str:
        return "QuantizedLinearReLU"


class BNReLU2d(_nnq.BatchNorm2d):
    r"""A BNReLU2d module is a fused module of BatchNorm2d and ReLU."""

    _NAME = "QuantizedBNReLU2d"
    _FUSED_FLOAT = _nni.BNReLU2d
    _relu = True
