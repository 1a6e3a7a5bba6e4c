"""Quantized Linear (torch.ao.nn.quantized.Linear): qint8 weight, float bias, quint8 in/out."""
from __future__ import annotations

from typing import Any, Optional

from .... import _dtype as dt
from ...._ops import qconv as _qc
from ...._ops import quant as _q
from ...._tensor import Tensor, zeros
from ...modules import linear as _flinear
from ...modules.module import Module
from .utils import _WeightBiasState, _activation_qparams, _quantize_weight, _weight_observer

__all__ = ["Linear"]


class Linear(_WeightBiasState, Module):
    r"""A quantized linear module with quantized tensor as inputs and outputs.
    We adopt the same interface as `torch.nn.Linear`.

    Attributes:
        weight (Tensor): the non-learnable quantized weights of the module of
                         shape :math:`(\text{out\_features}, \text{in\_features})`.
        bias (Tensor): the non-learnable bias of the module of shape :math:`(\text{out\_features})`.
        scale: `scale` parameter of output Quantized Tensor, type: double
        zero_point: `zero_point` parameter for output Quantized Tensor, type: long
    """

    _version = 3
    _FLOAT_MODULE: Any = _flinear.Linear
    _FUSED_FLOAT: Any = None
    _relu = False

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype: Any = dt.qint8) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        if dtype != dt.qint8:
            raise RuntimeError("Unsupported dtype specified for quantized Linear!")
        qweight = _q.quantize_per_tensor(zeros(out_features, in_features), 1.0, 0, dt.qint8)
        self.set_weight_bias(qweight, zeros(out_features) if bias_ else None)
        self.scale = 1.0
        self.zero_point = 0

    def _get_name(self) -> str:
        return "QuantizedLinear"

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"scale={self.scale}, zero_point={self.zero_point}, "
                f"qscheme={self._weight.qscheme()}")

    def set_weight_bias(self, w: Tensor, b: Optional[Tensor]) -> None:
        self._weight = w
        self._bias = b.float().contiguous() if b is not None else None

    def weight(self) -> Tensor:
        return self._weight

    def bias(self) -> Optional[Tensor]:
        return self._bias

    def forward(self, x: Tensor) -> Tensor:
        return _qc._linear(x, self._weight, self._bias, self._relu, self.scale, self.zero_point)

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "Linear":
        """Creates a quantized module from a prepared (observed, calibrated) float module."""
        name = "Quantized" + cls.__name__
        lin = mod
        if cls._FUSED_FLOAT is not None:
            if type(mod) is not cls._FUSED_FLOAT:
                raise TypeError(f"{name}.from_float only works for "
                                f"{cls._FUSED_FLOAT.__name__}, got {type(mod).__name__}")
            lin = mod[0]
        elif not isinstance(mod, cls._FLOAT_MODULE):
            raise TypeError(f"{name}.from_float only works for Linear, got "
                            f"{type(mod).__name__}")
        scale, zero_point = _activation_qparams(mod, name)
        lin.qconfig = getattr(mod, "qconfig", None)
        wobs = _weight_observer(lin, name)
        if wobs.dtype != dt.qint8:
            raise RuntimeError(f"{name}.from_float: weight observer dtype must be qint8, got "
                               f"{wobs.dtype}")
        qweight = _quantize_weight(lin.weight.float(), wobs)
        q = cls(lin.in_features, lin.out_features, lin.bias is not None)
        q.set_weight_bias(qweight, lin.bias.detach() if lin.bias is not None else None)
        q.scale, q.zero_point = scale, zero_point
        return q
