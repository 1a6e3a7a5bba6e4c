"""quantization ops (csrc/runtime/kernels/quant.c). STUB: to be implemented."""
from __future__ import annotations

TORCH_FUNCTIONS: tuple = ()
FUNCTIONAL: tuple = ()
TENSOR_METHODS: dict = {}
