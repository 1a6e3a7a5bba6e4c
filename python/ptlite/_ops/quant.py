"""Quantized tensors (csrc/runtime/kernels/quant.c): quantize_per_tensor,
quantize_per_channel, dequantize, int_repr and the q_* accessors.

The C tensor carries its quantization parameters (``Tensor._qparams``:
(scheme, axis, scales, zero_points)). Scales are stored as float32: torch keeps
them as float64 but its quantize arithmetic casts them to float32 anyway, so the
integers agree; ``q_scale()`` returns the float32 value as a Python float and
``q_per_channel_scales()`` a float32 tensor (torch: float64).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _dtype as dt
from .table import call, op_id

_QUANTIZE_PER_TENSOR = op_id("quantize_per_tensor")
_QUANTIZE_PER_CHANNEL = op_id("quantize_per_channel")
_DEQUANTIZE = op_id("dequantize")
_INT_REPR = op_id("int_repr")


class qscheme:
    """A quantization scheme, as ``torch.qscheme`` (``ptlite.per_tensor_affine``)."""

    __slots__ = ("name", "code")

    def __init__(self, name: str, code: int) -> None:
        self.name = name
        self.code = code

    def __repr__(self) -> str:
        return "ptlite." + self.name

    def __reduce__(self):
        return (_scheme_by_name, (self.name,))


# codes match enum ptl_qscheme (csrc/runtime/internal.h); float_qparams has no C scheme yet
per_tensor_affine = qscheme("per_tensor_affine", 1)
per_channel_affine = qscheme("per_channel_affine", 2)
per_tensor_symmetric = qscheme("per_tensor_symmetric", 3)
per_channel_symmetric = qscheme("per_channel_symmetric", 4)
per_channel_affine_float_qparams = qscheme("per_channel_affine_float_qparams", 5)
_SCHEMES = {s.code: s for s in (per_tensor_affine, per_channel_affine, per_tensor_symmetric,
                                per_channel_symmetric, per_channel_affine_float_qparams)}
_PER_TENSOR = (1, 3)


def _scheme_by_name(name: str) -> qscheme:
    return {s.name: s for s in _SCHEMES.values()}[name]


def _not_quantized(name: str, t) -> NotImplementedError:
    # torch: "Could not run 'aten::q_scale' with arguments from the 'CPU' backend..."
    return NotImplementedError(
        f"Could not run 'aten::{name}' with arguments from the 'CPU' backend. "
        f"{name}() needs a quantized tensor, got dtype {t.dtype!r}")


def _qparams(t, name: str):
    q = t._qparams
    if q is None:
        raise _not_quantized(name, t)
    return q


def _qdtype(dtype) -> int:
    return dt.to_dtype(dtype).code


def quantize_per_tensor(input, scale, zero_point, dtype):
    """Quantizes a float32 tensor (or a list of them) with one scale and zero point."""
    if isinstance(input, (list, tuple)):
        # torch's list overload: scales and zero_points are tensors, one entry per input
        scales = [float(s) for s in scale.tolist()] if hasattr(scale, "tolist") else list(scale)
        zps = ([int(z) for z in zero_point.tolist()] if hasattr(zero_point, "tolist")
               else list(zero_point))
        return [quantize_per_tensor(x, s, z, dtype) for x, s, z in zip(input, scales, zps)]
    if input.dtype.is_quantized:
        raise NotImplementedError(
            "Could not run 'aten::quantize_per_tensor' with arguments from the 'QuantizedCPU' "
            "backend: the input is already quantized")
    s = float(scale) if isinstance(scale, numbers.Real) else float(scale.item())
    z = int(zero_point) if isinstance(zero_point, numbers.Integral) else int(zero_point.item())
    return call(_QUANTIZE_PER_TENSOR, (input,), (z, _qdtype(dtype)), (s,))


def quantize_per_channel(input, scales, zero_points, axis: int, dtype):
    """Quantizes along ``axis`` with one (scale, zero point) per channel."""
    from .._tensor import Tensor, tensor
    if input.dtype.is_quantized:
        raise NotImplementedError(
            "Could not run 'aten::quantize_per_channel' with arguments from the 'QuantizedCPU' "
            "backend: the input is already quantized")
    if not isinstance(scales, Tensor):
        scales = tensor(scales, dtype=dt.float32)
    elif scales.dtype is dt.float16:
        scales = scales.to(dt.float32)
    if not isinstance(zero_points, Tensor):
        zero_points = tensor(zero_points, dtype=dt.int64)
    return call(_QUANTIZE_PER_CHANNEL, (input, scales, zero_points), (int(axis), _qdtype(dtype)))


def dequantize(tensor):
    """Float32 values of a quantized tensor (a float tensor is returned unchanged, as
    torch does); a list of tensors gives a list."""
    if isinstance(tensor, (list, tuple)):
        return [dequantize(t) for t in tensor]
    if not tensor.dtype.is_quantized:
        return tensor
    return call(_DEQUANTIZE, (tensor,))


def int_repr(self):
    """The stored integers: uint8 for quint8, int8 for qint8, int32 for qint32."""
    if not self.dtype.is_quantized:
        raise _not_quantized("int_repr", self)
    return call(_INT_REPR, (self,))


def _check_per_tensor(q) -> None:
    if q[0] not in _PER_TENSOR:
        raise RuntimeError(
            "Expected quantizer->qscheme() == kPerTensorAffine to be true, but got false.  "
            "(Could this error message be improved?  If so, please report an enhancement "
            "request to PyTorch.)")


def _check_per_channel(q) -> None:
    if q[0] in _PER_TENSOR:
        raise RuntimeError(
            "Expected quantizer->qscheme() == kPerChannelAffine || quantizer->qscheme() == "
            "kPerChannelAffineFloatQParams to be true, but got false.  (Could this error "
            "message be improved?  If so, please report an enhancement request to PyTorch.)")


def q_scale(self) -> float:
    q = _qparams(self, "q_scale")
    _check_per_tensor(q)
    # the shortest decimal that rounds to the stored float32: the double the caller
    # passed (as torch returns it) whenever that was a short decimal like 0.1
    return float(str(np.float32(q[2][0])))


def q_zero_point(self) -> int:
    q = _qparams(self, "q_zero_point")
    _check_per_tensor(q)
    return q[3][0]


def q_per_channel_scales(self):
    """float32 tensor of the scales (torch returns float64)."""
    from .._tensor import tensor
    q = _qparams(self, "q_per_channel_scales")
    _check_per_channel(q)
    return tensor(list(q[2]), dtype=dt.float32)


def q_per_channel_zero_points(self):
    from .._tensor import tensor
    q = _qparams(self, "q_per_channel_zero_points")
    _check_per_channel(q)
    return tensor(list(q[3]), dtype=dt.int64)


def q_per_channel_axis(self) -> int:
    q = _qparams(self, "q_per_channel_axis")
    _check_per_channel(q)
    return q[1]


def _qscheme(self) -> qscheme:
    return _SCHEMES[_qparams(self, "qscheme")[0]]


def qparams_repr(t) -> str:
    """The quantization part of torch's repr of a quantized tensor, e.g.
    "quantization_scheme=ptlite.per_tensor_affine, scale=0.1, zero_point=10"; for
    Tensor.__repr__ (_tensor.py)."""
    q = _qparams(t, "qscheme")
    head = f"quantization_scheme={_SCHEMES[q[0]]!r}"
    if q[0] in _PER_TENSOR:
        return f"{head}, scale={q_scale(t)!r}, zero_point={q[3][0]}"
    return (f"{head},\n       scale={q_per_channel_scales(t)!r},\n"
            f"       zero_point={q_per_channel_zero_points(t)!r}, axis={q[1]}")


TORCH_FUNCTIONS = ("quantize_per_tensor", "quantize_per_channel", "dequantize", "qscheme",
                   "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
                   "per_channel_symmetric", "per_channel_affine_float_qparams", "int_repr",
                   "q_scale", "q_zero_point", "q_per_channel_scales",
                   "q_per_channel_zero_points", "q_per_channel_axis")
FUNCTIONAL: tuple = ()
TENSOR_METHODS = {
    "dequantize": dequantize,
    "int_repr": int_repr,
    "q_scale": q_scale,
    "q_zero_point": q_zero_point,
    "q_per_channel_scales": q_per_channel_scales,
    "q_per_channel_zero_points": q_per_channel_zero_points,
    "q_per_channel_axis": q_per_channel_axis,
    "qscheme": _qscheme,
}
