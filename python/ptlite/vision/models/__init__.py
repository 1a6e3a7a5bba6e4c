"""ptlite.vision.models: torchvision.models' architectures over ptlite.nn.

Every model has the same module tree, parameter and buffer names, shapes and random
initialisation scheme as torchvision's, so ``model.load_state_dict(sd, strict=True)`` accepts a
torchvision ``state_dict`` (converted to ptlite tensors). ``weights=`` must be ``None``: ptlite
never downloads weights.

    >>> from ptlite.vision import models
    >>> m = models.resnet18().eval()
    >>> seg = models.segmentation.deeplabv3_resnet50(num_classes=21)
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List

from . import segmentation  # noqa: F401  (models.segmentation.deeplabv3_resnet50, as torchvision)
from ._utils import IntermediateLayerGetter  # noqa: F401
from .lenet import LeNet5, lenet5
from .mobilenetv2 import InvertedResidual, MobileNetV2, mobilenet_v2
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet101
from .segmentation import DeepLabV3, deeplabv3_resnet50, deeplabv3_resnet101

_BUILDERS: Dict[str, Callable[..., Any]] = {
    "lenet5": lenet5,
    "mobilenet_v2": mobilenet_v2,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "deeplabv3_resnet50": deeplabv3_resnet50,
    "deeplabv3_resnet101": deeplabv3_resnet101,
}


def list_models() -> List[str]:
    """Names accepted by :func:`get_model`, sorted."""
    return sorted(_BUILDERS)


def get_model(name: str, **config: Any) -> Any:
    """Builds a model by name (as ``torchvision.models.get_model``); ``config`` goes to the
    builder, e.g. ``get_model("resnet50", num_classes=10)``."""
    name = name.lower()
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name}") from None
    return builder(**config)


__all__ = [
    "BasicBlock",
    "Bottleneck",
    "DeepLabV3",
    "InvertedResidual",
    "LeNet5",
    "MobileNetV2",
    "ResNet",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "get_model",
    "lenet5",
    "list_models",
    "mobilenet_v2",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "segmentation",
]
