"""LeNet-5 for 1x28x28 inputs (MNIST), the usual PyTorch-tutorial form (ReLU, max pooling)."""
from __future__ import annotations

from typing import Any, Optional

import ptlite

from ... import nn
from ..._tensor import Tensor
from ...nn import functional as F
from ._utils import _check_no_weights

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5: conv(1->6, 5x5, pad 2), relu, maxpool 2, conv(6->16, 5x5), relu, maxpool 2,
    flatten (16*5*5 = 400), fc 400->120, relu, fc 120->84, relu, fc 84->num_classes.

    Args:
        num_classes (int): number of output classes. Default: 10.

    Layers use PyTorch's default initialisation (``nn.Conv2d`` / ``nn.Linear`` defaults).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = ptlite.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def lenet5(*, weights: Optional[Any] = None, progress: bool = True, num_classes: int = 10,
           **kwargs: Any) -> LeNet5:
    """LeNet-5 (`Gradient-based learning applied to document recognition`, LeCun et al. 1998)
    in its common modern form for 1x28x28 inputs.

    Args:
        weights: must be ``None`` (ptlite ships no pretrained weights).
        progress (bool): unused.
        num_classes (int): number of output classes. Default: 10.
    """
    _check_no_weights("lenet5", kwargs, weights=weights)
    return LeNet5(num_classes=num_classes, **kwargs)
