"""Quantized BatchNorm2d (torch.ao.nn.quantized.BatchNorm2d): float statistics, quint8 in/out."""
from __future__ import annotations

from typing import Any

from ...._ops import qeltwise as _qe
from ...._tensor import Tensor
from ...modules import normalization as _fnorm
from ...modules.module import Module
from .utils import _activation_qparams

__all__ = ["BatchNorm2d"]


class BatchNorm2d(_fnorm.BatchNorm2d):
    r"""This is the quantized version of :class:`~ptlite.nn.BatchNorm2d`."""

    _NAME = "QuantizedBatchNorm2d"
    _FUSED_FLOAT: Any = None
    _relu = False

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, True, True)
        self.scale = 1.0
        self.zero_point = 0

    def _get_name(self) -> str:
        return self._NAME

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 4:
            raise ValueError("Input shape must be `(N, C, H, W)`!")
        fn = _qe._batch_norm_relu if self._relu else _qe.batch_norm
        return fn(input, self.weight, self.bias, self.running_mean, self.running_var, self.eps,
                  self.scale, self.zero_point)

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "BatchNorm2d":
        """Creates a quantized module from a prepared (observed, calibrated) float module."""
        bn = mod
        if cls._FUSED_FLOAT is not None:
            if type(mod) is not cls._FUSED_FLOAT:
                raise TypeError(f"{cls._NAME}.from_float only works for "
                                f"{cls._FUSED_FLOAT.__name__}, got {type(mod).__name__}")
            bn = mod[0]
        scale, zero_point = _activation_qparams(mod, cls._NAME)
        q = cls(bn.num_features, bn.eps)
        q.weight = bn.weight
        q.bias = bn.bias
        q.running_mean = bn.running_mean
        q.running_var = bn.running_var
        q.scale, q.zero_point = scale, zero_point
        return q
