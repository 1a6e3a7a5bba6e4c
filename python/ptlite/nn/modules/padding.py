"""Padding modules: ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d."""
from __future__ import annotations

from typing import Sequence, Tuple, Union

from ..._tensor import Tensor
from .. import functional as F
from .module import Module
from .utils import _quadruple

__all__ = ["ConstantPad2d", "ZeroPad2d", "ReflectionPad2d", "ReplicationPad2d"]


class _ConstantPadNd(Module):
    __constants__ = ["padding", "value"]
    value: float
    padding: Sequence[int]

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad2d(_ConstantPadNd):
    r"""Pads the input tensor boundaries with a constant value.

    Args:
        padding (int, tuple): the size of the padding. If is `int`, uses the same
            padding in all boundaries. If a 4-`tuple`, uses (`padding_left`,
            `padding_right`, `padding_top`, `padding_bottom`)
        value: the fill value
    """

    __constants__ = ["padding", "value"]
    padding: Tuple[int, int, int, int]

    def __init__(self, padding: Union[int, Tuple[int, int, int, int]], value: float) -> None:
        super().__init__(value)
        self.padding = _quadruple(padding)


class ZeroPad2d(ConstantPad2d):
    r"""Pads the input tensor boundaries with zero.

    Args:
        padding (int, tuple): the size of the padding (left, right, top, bottom).
    """

    padding: Tuple[int, int, int, int]

    def __init__(self, padding: Union[int, Tuple[int, int, int, int]]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad2d(Module):
    r"""Pads the input tensor using the reflection of the input boundary.

    Args:
        padding (int, tuple): the size of the padding (left, right, top, bottom).
    """

    __constants__ = ["padding"]
    padding: Tuple[int, int, int, int]

    def __init__(self, padding: Union[int, Tuple[int, int, int, int]]) -> None:
        super().__init__()
        self.padding = _quadruple(padding)

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "reflect")

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReplicationPad2d(Module):
    r"""Pads the input tensor using replication of the input boundary.

    Args:
        padding (int, tuple): the size of the padding (left, right, top, bottom).
    """

    __constants__ = ["padding"]
    padding: Tuple[int, int, int, int]

    def __init__(self, padding: Union[int, Tuple[int, int, int, int]]) -> None:
        super().__init__()
        self.padding = _quadruple(padding)

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "replicate")

    def extra_repr(self) -> str:
        return f"{self.padding}"
