"""Quantized convolution and linear (csrc/runtime/kernels/qconv.c), with
torch.ao.nn.quantized.functional's signatures: conv1d, conv2d, conv_transpose2d,
linear. quint8 activations (per tensor), qint8 weights (per tensor or per output
channel), float32 bias, quint8 output with the given scale / zero point; the
arithmetic is torch's 'qnnpack' engine.

The ``_conv2d`` / ``_conv_transpose2d`` / ``_linear`` entry points take already
normalised int tuples and the fused-relu flag: the quantized modules call them
without re-validating arguments per call.
"""
from __future__ import annotations

from .. import _dtype as dt
from .table import call, op_id

_QCONV2D = op_id("quantized_conv2d")
_QCONV_T2D = op_id("quantized_conv_transpose2d")
_QLINEAR = op_id("quantized_linear")
_RESHAPE = op_id("reshape")
_QDTYPES = (dt.quint8, dt.qint8, dt.qint32)

TORCH_FUNCTIONS = ()
FUNCTIONAL = ()
TENSOR_METHODS = {}


def _n_tuple(value, n: int, name: str) -> tuple:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    t = tuple(int(v) for v in value)
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} "
                           f"values to match the convolution dimensions, but got {name}={list(t)}")
    return t


def _check_dtypes(input, weight, dtype) -> None:
    # torch.ao.nn.quantized.functional checks these in Python with NotImplementedError
    if dtype is not None and dt.to_dtype(dtype) != dt.quint8:
        raise NotImplementedError("Only torch.quint8 is supported for activation tensor!")
    if input.dtype != dt.quint8:
        raise NotImplementedError("Only torch.quint8 is supported for activation tensor!")
    if weight.dtype != dt.qint8:
        raise NotImplementedError("Only torch.qint8 is supported for weight tensor!")


def _conv2d(x, w, b, stride: tuple, padding: tuple, dilation: tuple, groups: int, relu: bool,
            scale: float, zero_point: int):
    """quantized::conv2d(_relu) on int tuples (no argument normalisation)."""
    return call(_QCONV2D, (x, w, b),
                (stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
                 groups, 1 if relu else 0, zero_point), (scale,))


def _conv_transpose2d(x, w, b, stride: tuple, padding: tuple, output_padding: tuple,
                      dilation: tuple, groups: int, scale: float, zero_point: int):
    """quantized::conv_transpose2d on int tuples (no argument normalisation)."""
    return call(_QCONV_T2D, (x, w, b),
                (stride[0], stride[1], padding[0], padding[1], output_padding[0],
                 output_padding[1], dilation[0], dilation[1], groups, zero_point), (scale,))


def _linear(x, w, b, relu: bool, scale: float, zero_point: int):
    """quantized::linear(_relu) (no argument normalisation)."""
    return call(_QLINEAR, (x, w, b), (1 if relu else 0, zero_point), (scale,))


def conv2d(input, weight, bias, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", scale=1.0, zero_point=0, dtype=dt.quint8):
    """torch.ao.nn.quantized.functional.conv2d."""
    if padding_mode != "zeros":
        raise NotImplementedError("Only zero-padding is supported!")
    _check_dtypes(input, weight, dtype)
    if input.ndim != 4:
        raise ValueError("Input shape must be `(N, C, H, W)`!")
    return _conv2d(input, weight, bias, _n_tuple(stride, 2, "stride"),
                   _n_tuple(padding, 2, "padding"), _n_tuple(dilation, 2, "dilation"),
                   int(groups), False, float(scale), int(zero_point))


def conv1d(input, weight, bias, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", scale=1.0, zero_point=0, dtype=dt.quint8):
    """torch.ao.nn.quantized.functional.conv1d: a conv2d over [N, C, 1, L]."""
    if padding_mode != "zeros":
        raise NotImplementedError("Only zero-padding is supported!")
    _check_dtypes(input, weight, dtype)
    if input.ndim != 3:
        raise ValueError("Input shape must be `(N, C, L)`!")
    s = _n_tuple(stride, 1, "stride")[0]
    p = _n_tuple(padding, 1, "padding")[0]
    d = _n_tuple(dilation, 1, "dilation")[0]
    n, c, length = input.shape
    x4 = call(_RESHAPE, (input,), (n, c, 1, length))
    o, i, k = weight.shape
    w4 = call(_RESHAPE, (weight,), (o, i, 1, k))
    out = _conv2d(x4, w4, bias, (1, s), (0, p), (1, d), int(groups), False, float(scale),
                  int(zero_point))
    return call(_RESHAPE, (out,), (out.shape[0], out.shape[1], out.shape[3]))


def conv_transpose2d(input, weight, bias, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, scale=1.0, zero_point=0, dtype=dt.quint8):
    """Quantized transposed 2-d convolution (torch.ops.quantized.conv_transpose2d with
    conv_transpose2d_prepack), in F.conv_transpose2d's argument order."""
    _check_dtypes(input, weight, dtype)
    if input.ndim != 4:
        raise ValueError("Input shape must be `(N, C, H, W)`!")
    return _conv_transpose2d(input, weight, bias, _n_tuple(stride, 2, "stride"),
                             _n_tuple(padding, 2, "padding"),
                             _n_tuple(output_padding, 2, "output_padding"),
                             _n_tuple(dilation, 2, "dilation"), int(groups), float(scale),
                             int(zero_point))


def linear(input, weight, bias=None, scale=None, zero_point=None):
    """torch.ao.nn.quantized.functional.linear: output scale / zero point default to
    the input's."""
    # torch dispatches on the tensors' quantized-ness first (NotImplementedError for
    # float tensors); a wrong quantized dtype is a RuntimeError from the kernel
    if input.dtype not in _QDTYPES:
        raise NotImplementedError(
            f"Could not run 'quantized::linear' with arguments from the 'CPU' backend: "
            f"expected a quint8 input, got {input.dtype}")
    if weight.dtype not in _QDTYPES:
        raise NotImplementedError(
            f"Could not run 'quantized::linear_prepack' with arguments from the 'CPU' "
            f"backend: expected a qint8 weight, got {weight.dtype}")
    if scale is None:
        scale = input.q_scale()
    if zero_point is None:
        zero_point = input.q_zero_point()
    return _linear(input, weight, bias, False, float(scale), int(zero_point))
