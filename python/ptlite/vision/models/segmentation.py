"""DeepLabV3 (ResNet backbones), identical to torchvision.models.segmentation.deeplabv3.

Also holds the pieces torchvision keeps in segmentation/_utils.py and segmentation/fcn.py
(``_SimpleSegmentationModel``, ``FCNHead``).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Optional, Sequence

import ptlite

from ... import nn
from ..._tensor import Tensor
from ...nn import functional as F
from ._utils import IntermediateLayerGetter, _check_no_weights
from .resnet import ResNet, resnet50, resnet101

__all__ = [
    "DeepLabV3",
    "DeepLabHead",
    "ASPP",
    "ASPPConv",
    "ASPPPooling",
    "FCNHead",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
]


class _SimpleSegmentationModel(nn.Module):
    __constants__ = ["aux_classifier"]

    def __init__(self, backbone: nn.Module, classifier: nn.Module,
                 aux_classifier: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux_classifier

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        input_shape = x.shape[-2:]
        # contract: features is a dict of tensors
        features = self.backbone(x)

        result = OrderedDict()
        x = features["out"]
        x = self.classifier(x)
        x = F.interpolate(x, size=input_shape, mode="bilinear", align_corners=False)
        result["out"] = x

        if self.aux_classifier is not None:
            x = features["aux"]
            x = self.aux_classifier(x)
            x = F.interpolate(x, size=input_shape, mode="bilinear", align_corners=False)
            result["aux"] = x

        return result


class DeepLabV3(_SimpleSegmentationModel):
    """Implements DeepLabV3 model from `"Rethinking Atrous Convolution for Semantic Image
    Segmentation" <https://arxiv.org/abs/1706.05587>`_.

    Args:
        backbone (nn.Module): the network used to compute the features for the model.
            The backbone should return an OrderedDict[Tensor], with the key being
            "out" for the last feature map used, and "aux" if an auxiliary classifier
            is used.
        classifier (nn.Module): module that takes the "out" element returned from
            the backbone and returns a dense prediction.
        aux_classifier (nn.Module, optional): auxiliary classifier used during training
    """

    pass


class FCNHead(nn.Sequential):
    """3x3 conv (in_channels -> in_channels // 4), BN, ReLU, Dropout(0.1), 1x1 conv."""

    def __init__(self, in_channels: int, channels: int) -> None:
        inter_channels = in_channels // 4
        layers = [
            nn.Conv2d(in_channels, inter_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inter_channels, channels, 1),
        ]
        super().__init__(*layers)


class DeepLabHead(nn.Sequential):
    """ASPP followed by a 3x3 conv, BN, ReLU and the 1x1 classifier conv."""

    def __init__(self, in_channels: int, num_classes: int,
                 atrous_rates: Sequence[int] = (12, 24, 36)) -> None:
        super().__init__(
            ASPP(in_channels, atrous_rates),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, num_classes, 1),
        )


class ASPPConv(nn.Sequential):
    """Atrous 3x3 conv (padding = dilation), BN, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        modules = [
            nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation,
                      bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        ]
        super().__init__(*modules)


class ASPPPooling(nn.Sequential):
    """Image-level features: global average pool, 1x1 conv, BN, ReLU, upsampled back."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        for mod in self:
            x = mod(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling: a 1x1 branch, one ASPPConv per rate and ASPPPooling,
    concatenated on channels and projected back to ``out_channels``."""

    def __init__(self, in_channels: int, atrous_rates: Sequence[int],
                 out_channels: int = 256) -> None:
        super().__init__()
        modules = []
        modules.append(
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            )
        )

        rates = tuple(atrous_rates)
        for rate in rates:
            modules.append(ASPPConv(in_channels, out_channels, rate))

        modules.append(ASPPPooling(in_channels, out_channels))

        self.convs = nn.ModuleList(modules)

        self.project = nn.Sequential(
            nn.Conv2d(len(self.convs) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x: Tensor) -> Tensor:
        _res = []
        for conv in self.convs:
            _res.append(conv(x))
        res = ptlite.cat(_res, dim=1)
        return self.project(res)


def _deeplabv3_resnet(backbone: ResNet, num_classes: int, aux: Optional[bool]) -> DeepLabV3:
    return_layers = {"layer4": "out"}
    if aux:
        return_layers["layer3"] = "aux"
    backbone = IntermediateLayerGetter(backbone, return_layers=return_layers)

    aux_classifier = FCNHead(1024, num_classes) if aux else None
    classifier = DeepLabHead(2048, num_classes)
    return DeepLabV3(backbone, classifier, aux_classifier)


def deeplabv3_resnet50(
    *,
    weights: Optional[Any] = None,
    progress: bool = True,
    num_classes: Optional[int] = None,
    aux_loss: Optional[bool] = None,
    weights_backbone: Optional[Any] = None,
    **kwargs: Any,
) -> DeepLabV3:
    """Constructs a DeepLabV3 model with a ResNet-50 backbone (output stride 8: layer3 and layer4
    dilated instead of strided).

    Args:
        weights: must be ``None``: ptlite cannot download pretrained weights. Build the model
            and ``load_state_dict`` a converted torchvision checkpoint instead (keys identical).
        progress (bool): unused (kept for torchvision compatibility).
        num_classes (int, optional): number of output classes of the model (including the
            background). Default: 21.
        aux_loss (bool, optional): If True, it uses an auxiliary loss (adds ``aux_classifier``,
            an FCNHead on layer3, and an ``"aux"`` output).
        weights_backbone: must be ``None`` (torchvision's default is ImageNet weights; ptlite
            cannot download them).
    """
    _check_no_weights("deeplabv3_resnet50", kwargs, weights=weights,
                      weights_backbone=weights_backbone)
    if num_classes is None:
        num_classes = 21
    backbone = resnet50(weights=None, replace_stride_with_dilation=[False, True, True])
    return _deeplabv3_resnet(backbone, num_classes, aux_loss)


def deeplabv3_resnet101(
    *,
    weights: Optional[Any] = None,
    progress: bool = True,
    num_classes: Optional[int] = None,
    aux_loss: Optional[bool] = None,
    weights_backbone: Optional[Any] = None,
    **kwargs: Any,
) -> DeepLabV3:
    """Constructs a DeepLabV3 model with a ResNet-101 backbone. Arguments as
    :func:`deeplabv3_resnet50`."""
    _check_no_weights("deeplabv3_resnet101", kwargs, weights=weights,
                      weights_backbone=weights_backbone)
    if num_classes is None:
        num_classes = 21
    backbone = resnet101(weights=None, replace_stride_with_dilation=[False, True, True])
    return _deeplabv3_resnet(backbone, num_classes, aux_loss)
