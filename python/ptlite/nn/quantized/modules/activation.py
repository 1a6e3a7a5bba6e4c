"""Quantized activations: ReLU6, Hardswish, LeakyReLU, Sigmoid (torch.ao.nn.quantized's)."""
from __future__ import annotations

from typing import Any

from ...._ops import qeltwise as _qe
from ...._tensor import Tensor
from ... import functional as _F
from ...modules import activation as _fact
from ...modules.module import Module
from .utils import _activation_qparams

__all__ = ["ReLU6", "Hardswish", "LeakyReLU", "Sigmoid"]


class ReLU6(_fact.ReLU6):
    r"""Applies ``min(max(x0, x), q(6))`` elementwise in the quantized domain, where x0 is
    the zero point and q(6) is 6 quantized; the output keeps the input's qparams."""

    def _get_name(self) -> str:
        return "QuantizedReLU6"

    def forward(self, input: Tensor) -> Tensor:
        return _F.hardtanh(input, 0.0, 6.0, self.inplace)

    @staticmethod
    def from_float(mod: Module, use_precomputed_fake_quant: bool = False) -> "ReLU6":
        return ReLU6(mod.inplace)


class Hardswish(_fact.Hardswish):
    r"""This is the quantized version of :class:`~ptlite.nn.Hardswish`.

    Args:
        scale: quantization scale of the output tensor
        zero_point: quantization zero point of the output tensor
    """

    def __init__(self, scale: float, zero_point: int, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.scale = float(scale)
        self.zero_point = int(zero_point)

    def _get_name(self) -> str:
        return "QuantizedHardswish"

    def forward(self, input: Tensor) -> Tensor:
        return _qe.hardswish(input, self.scale, self.zero_point)

    @staticmethod
    def from_float(mod: Module, use_precomputed_fake_quant: bool = False) -> "Hardswish":
        return Hardswish(*_activation_qparams(mod, "QuantizedHardswish"))


class LeakyReLU(_fact.LeakyReLU):
    r"""This is the quantized equivalent of :class:`~ptlite.nn.LeakyReLU`.

    Args:
        scale: quantization scale of the output tensor
        zero_point: quantization zero point of the output tensor
        negative_slope: Controls the angle of the negative slope. Default: 1e-2
    """

    def __init__(self, scale: float, zero_point: int, negative_slope: float = 1e-2,
                 inplace: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__(negative_slope, inplace)
        self.scale = float(scale)
        self.zero_point = int(zero_point)

    def _get_name(self) -> str:
        return "QuantizedLeakyReLU"

    def forward(self, input: Tensor) -> Tensor:
        return _qe.leaky_relu(input, self.negative_slope, self.inplace, self.scale,
                              self.zero_point)

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "LeakyReLU":
        scale, zero_point = _activation_qparams(mod, "QuantizedLeakyReLU")
        return cls(scale, zero_point, mod.negative_slope, mod.inplace)


class Sigmoid(_fact.Sigmoid):
    r"""This is the quantized equivalent of :class:`~ptlite.nn.Sigmoid`.

    Args:
        output_scale: quantization scale of the output tensor
        output_zero_point: quantization zero point of the output tensor
    """

    def __init__(self, output_scale: float, output_zero_point: int) -> None:
        super().__init__()
        self.output_scale = float(output_scale)
        self.output_zero_point = int(output_zero_point)

    def _get_name(self) -> str:
        return "QuantizedSigmoid"

    def forward(self, input: Tensor) -> Tensor:
        return _qe.sigmoid(input, self.output_scale, self.output_zero_point)

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "Sigmoid":
        return cls(*_activation_qparams(mod, "QuantizedSigmoid"))
