"""Quantized elementwise ops (csrc/runtime/kernels/qeltwise.c), with the signatures of
torch.ops.quantized.* and torch.ao.nn.quantized.functional: add, add_relu, mul,
mul_relu, cat, hardswish, sigmoid, leaky_relu, batch_norm and _batch_norm_relu.

Inputs are quint8 per-tensor tensors; each result is quint8 with the given output
scale and zero point. Not exported into the ptlite namespace (the quantized nn
modules and functional wrappers call these)."""
from __future__ import annotations

from .table import call, op_id

_QADD = op_id("quantized_add")
_QMUL = op_id("quantized_mul")
_QCAT = op_id("quantized_cat")
_QHARDSWISH = op_id("quantized_hardswish")
_QSIGMOID = op_id("quantized_sigmoid")
_QLEAKY_RELU = op_id("quantized_leaky_relu")
_QBATCH_NORM = op_id("quantized_batch_norm")
_LEAKY_RELU = op_id("leaky_relu")
_MAX_INPUTS = 64


def add(qa, qb, scale, zero_point):
    """torch.ops.quantized.add: (qa + qb) requantized to (scale, zero_point)."""
    return call(_QADD, (qa, qb), (0, int(zero_point)), (float(scale),))


def add_relu(qa, qb, scale, zero_point):
    """torch.ops.quantized.add_relu: relu(qa + qb)."""
    return call(_QADD, (qa, qb), (1, int(zero_point)), (float(scale),))


def mul(qa, qb, scale, zero_point):
    """torch.ops.quantized.mul."""
    return call(_QMUL, (qa, qb), (0, int(zero_point)), (float(scale),))


def mul_relu(qa, qb, scale, zero_point):
    """torch.ops.quantized.mul_relu."""
    return call(_QMUL, (qa, qb), (1, int(zero_point)), (float(scale),))


def cat(tensors, scale=None, zero_point=None, dim: int = 0):
    """torch.ops.quantized.cat(tensors, dim, scale, zero_point) with ptlite's argument
    order: inputs with other qparams are requantized to (scale, zero_point); None takes
    the first input's (torch.cat of quantized tensors)."""
    tensors = tuple(tensors)
    if not tensors:
        raise RuntimeError("quantized_cat: expected a non-empty list of tensors")
    if scale is None or zero_point is None:
        q = tensors[0]._qparams
        if q is None:
            raise RuntimeError(f"quantized_cat: expected quint8 (quantized) tensors, got "
                               f"{tensors[0].dtype}")
        scale = q[2][0] if scale is None else scale
        zero_point = q[3][0] if zero_point is None else zero_point
    if len(tensors) > _MAX_INPUTS:
        # same qparams throughout, so a two-level cat gives the same integers
        parts = [cat(tensors[i:i + _MAX_INPUTS], scale, zero_point, dim)
                 for i in range(0, len(tensors), _MAX_INPUTS)]
        return cat(parts, scale, zero_point, dim)
    return call(_QCAT, tensors, (int(dim), int(zero_point)), (float(scale),))


def hardswish(input, scale, zero_point):
    """torch.ao.nn.quantized.functional.hardswish(input, scale, zero_point)."""
    return call(_QHARDSWISH, (input,), (int(zero_point),), (float(scale),))


def sigmoid(input, scale, zero_point):
    """torch.ops.quantized.sigmoid(input, output_scale, output_zero_point)."""
    return call(_QSIGMOID, (input,), (int(zero_point),), (float(scale),))


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False, scale=None,
               zero_point=None):
    """torch.ao.nn.quantized.functional.leaky_relu: without scale/zero_point the result
    keeps the input's qparams; inplace writes into input (same qparams only)."""
    q = input._qparams
    if q is None:
        raise RuntimeError(f"quantized_leaky_relu: expected a quint8 (quantized) tensor, got "
                           f"{input.dtype}")
    if scale is None or zero_point is None:
        # torch then runs the float op's quantized kernel (F.leaky_relu)
        return call(_LEAKY_RELU, (input,), None, (float(negative_slope),),
                    input if inplace else None)
    out = input if inplace else None
    return call(_QLEAKY_RELU, (input,), (int(zero_point),),
                (float(scale), float(negative_slope)), out)


def batch_norm(input, weight, bias, mean, var, eps, output_scale, output_zero_point):
    """torch.ops.quantized.batch_norm (and batch_norm2d/3d): float parameters,
    quint8 input and output."""
    return call(_QBATCH_NORM, (input, mean, var, weight, bias), (int(output_zero_point), 0),
                (float(eps), float(output_scale)))


def _batch_norm_relu(input, weight, bias, mean, var, eps, output_scale, output_zero_point):
    """torch.ops.quantized.batch_norm_relu."""
    return call(_QBATCH_NORM, (input, mean, var, weight, bias), (int(output_zero_point), 1),
                (float(eps), float(output_scale)))


batch_norm2d = batch_norm
batch_norm2d_relu = _batch_norm_relu
