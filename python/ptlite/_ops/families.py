"""Wires the op family modules into the ptlite namespace and Tensor methods."""
from __future__ import annotations

import importlib

from .._tensor import install_methods

# One module per kernel family (csrc/runtime/kernels/<family>.c).
FAMILIES = ("eltwise", "activation", "reduce", "shape", "linalg", "conv", "pool", "norm",
            "quant")


def modules() -> list:
    return [importlib.import_module(f"ptlite._ops.{name}") for name in FAMILIES]


def install(namespace: dict) -> None:
    """Exports each family's torch-level functions into ``namespace``."""
    for mod in modules():
        install_methods(getattr(mod, "TENSOR_METHODS", {}))
        for name in getattr(mod, "TORCH_FUNCTIONS", ()):
            namespace[name] = getattr(mod, name)


def functional_names() -> dict:
    """{name: function} for ptlite.nn.functional."""
    out = {}
    for mod in modules():
        for name in getattr(mod, "FUNCTIONAL", ()):
            out[name] = getattr(mod, name)
    return out
