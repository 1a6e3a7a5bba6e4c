"""The fused containers of ptlite.nn.intrinsic. Each is a Sequential of the float modules it
fuses, checked on construction as torch checks them."""
from __future__ import annotations

from ..modules.activation import ReLU
from ..modules.container import Sequential
from ..modules.conv import Conv1d, Conv2d
from ..modules.linear import Linear
from ..modules.normalization import BatchNorm1d, BatchNorm2d

__all__ = ["ConvReLU1d", "ConvReLU2d", "ConvBn1d", "ConvBn2d", "ConvBnReLU1d", "ConvBnReLU2d",
           "LinearReLU", "LinearBn1d", "BNReLU2d"]


class _FusedModule(Sequential):
    """Base of every fused module: ``convert`` swaps it whole instead of recursing."""

    _parts: tuple = ()

    def __init__(self, *mods) -> None:
        if len(mods) != len(self._parts) or not all(
                type(m) is t for m, t in zip(mods, self._parts)):
            got = ", ".join(type(m).__name__ for m in mods)
            want = ", ".join(t.__name__ for t in self._parts)
            raise AssertionError(f"Incorrect types for input modules of {type(self).__name__}: "
                                 f"expected ({want}), got ({got})")
        super().__init__(*mods)


class ConvReLU1d(_FusedModule):
    r"""Conv1d followed by ReLU, swapped as one module by quantization."""
    _parts = (Conv1d, ReLU)


class ConvReLU2d(_FusedModule):
    r"""Conv2d followed by ReLU, swapped as one module by quantization."""
    _parts = (Conv2d, ReLU)


class LinearReLU(_FusedModule):
    r"""Linear followed by ReLU, swapped as one module by quantization."""
    _parts = (Linear, ReLU)


class BNReLU2d(_FusedModule):
    r"""BatchNorm2d followed by ReLU, swapped as one module by quantization."""
    _parts = (BatchNorm2d, ReLU)


class ConvBn1d(_FusedModule):
    r"""Conv1d followed by BatchNorm1d (training-mode fusion, for quantization-aware training)."""
    _parts = (Conv1d, BatchNorm1d)


class ConvBn2d(_FusedModule):
    r"""Conv2d followed by BatchNorm2d (training-mode fusion, for quantization-aware training)."""
    _parts = (Conv2d, BatchNorm2d)


class ConvBnReLU1d(_FusedModule):
    r"""Conv1d, BatchNorm1d and ReLU (training-mode fusion)."""
    _parts = (Conv1d, BatchNorm1d, ReLU)


class ConvBnReLU2d(_FusedModule):
    r"""Conv2d, BatchNorm2d and ReLU (training-mode fusion)."""
    _parts = (Conv2d, BatchNorm2d, ReLU)


class LinearBn1d(_FusedModule):
    r"""Linear followed by BatchNorm1d (training-mode fusion)."""
    _parts = (Linear, BatchNorm1d)
