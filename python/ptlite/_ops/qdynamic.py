"""Dynamically quantized linear (csrc/runtime/kernels/qdynamic.c).

``linear_dynamic``: float32 input quantized per call to quint8 from its own
min/max, int8 weight (a qint8 tensor, per tensor or per channel along axis 0),
float32 bias and output. reduce_range=False is torch's 'qnnpack' dynamic linear
arithmetic, True its fbgemm ('x86' / 'fbgemm' engine) one, bit for bit.
``linear_fp16``: float16 weight, float32 arithmetic (torch's fp16 dynamic linear).
"""
from __future__ import annotations

from .table import call, op_id

_DYNAMIC_LINEAR = op_id("dynamic_linear")
_LINEAR_FP16 = op_id("linear_fp16")
_FLAGS = {(False, False): (0, 0), (True, False): (1, 0), (False, True): (0, 1),
          (True, True): (1, 1)}
_RELU = ((0,), (1,))


def linear_dynamic(x, w, b=None, reduce_range: bool = False, relu: bool = False):
    """y = x @ dequant(w).T + b with x quantized to quint8 per call (int32 accumulation).

    reduce_range=True follows torch's x86/fbgemm engine: x's qparams on [0, 127] and
    fbgemm's fma epilogue; False follows qnnpack (which ignores reduce_range). ptlite's
    modules pass what the engine was when their weights were set, as torch."""
    return call(_DYNAMIC_LINEAR, (x, w, b), _FLAGS[bool(reduce_range), bool(relu)], None)


def linear_fp16(x, w16, b=None, relu: bool = False):
    """y = x @ w16.T + b with a float16 weight and float32 arithmetic."""
    return call(_LINEAR_FP16, (x, w16, b), _RELU[bool(relu)], None)


TORCH_FUNCTIONS: tuple = ()
FUNCTIONAL: tuple = ()
TENSOR_METHODS: dict = {}
