"""Quantize, DeQuantize and Dropout: what QuantStub, DeQuantStub and Dropout become."""
from __future__ import annotations

from typing import Any

from .... import _dtype as dt
from ...._ops import quant as _q
from ...._tensor import Tensor, tensor
from ...modules.module import Module
from .utils import _activation_qparams

__all__ = ["Quantize", "DeQuantize", "Dropout"]


class Quantize(Module):
    r"""Quantizes an incoming tensor.

    Args:
     `scale`: scale of the output Quantized Tensor
     `zero_point`: zero_point of output Quantized Tensor
     `dtype`: data type of output Quantized Tensor
    """

    def __init__(self, scale: float, zero_point: int, dtype: Any,
                 factory_kwargs: Any = None) -> None:
        super().__init__()
        self.register_buffer("scale", tensor([float(scale)]))
        self.register_buffer("zero_point", tensor([int(zero_point)], dtype=dt.int64))
        self.dtype = dtype
        self._sync()

    def _sync(self) -> None:
        self._scale_f = float(self.scale)
        self._zp_i = int(self.zero_point)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._sync()

    def forward(self, X: Tensor) -> Tensor:
        return _q.quantize_per_tensor(X, self._scale_f, self._zp_i, self.dtype)

    @staticmethod
    def from_float(mod: Module, use_precomputed_fake_quant: bool = False) -> "Quantize":
        scale, zero_point = _activation_qparams(mod, "Quantize")
        return Quantize(scale, zero_point, mod.activation_post_process.dtype)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, zero_point={self.zero_point}, dtype={self.dtype}"


class DeQuantize(Module):
    r"""Dequantizes an incoming tensor."""

    def forward(self, Xq: Tensor) -> Tensor:
        return Xq.dequantize()

    @staticmethod
    def from_float(mod: Module, use_precomputed_fake_quant: bool = False) -> "DeQuantize":
        return DeQuantize()


class Dropout(Module):
    r"""The quantized equivalent of :class:`~ptlite.nn.Dropout`: the identity at inference."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return input

    def _get_name(self) -> str:
        return "QuantizedDropout"

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "Dropout":
        return cls(mod.p, mod.inplace)
