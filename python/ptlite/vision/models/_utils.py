"""Helpers shared by the model zoo (torchvision.models._utils and torchvision.ops.misc)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, Optional

from ... import nn


class IntermediateLayerGetter(nn.ModuleDict):
    """Module wrapper that returns intermediate layers from a model.

    It has a strong assumption that the modules have been registered into the model in the same
    order as they are used. This means that one should **not** reuse the same nn.Module twice in
    the forward if you want this to work.

    Additionally, it is only able to query submodules that are directly assigned to the model.
    So if ``model`` is passed, ``model.feature1`` can be returned, but not
    ``model.feature1.layer2``.

    Args:
        model (nn.Module): model on which we will extract the features
        return_layers (Dict[name, new_name]): a dict containing the names of the modules for
            which the activations will be returned as the key of the dict, and the value of the
            dict is the name of the returned activation (which the user can specify).

    Examples::

        >>> m = ptlite.vision.models.resnet18()
        >>> # extract layer1 and layer3, giving as names `feat1` and feat2`
        >>> new_m = IntermediateLayerGetter(m, {'layer1': 'feat1', 'layer3': 'feat2'})
        >>> out = new_m(ptlite.rand(1, 3, 224, 224))
        >>> print([(k, v.shape) for k, v in out.items()])
        [('feat1', ptlite.Size([1, 64, 56, 56])), ('feat2', ptlite.Size([1, 256, 14, 14]))]
    """

    _version = 2

    def __init__(self, model: nn.Module, return_layers: Dict[str, str]) -> None:
        if not set(return_layers).issubset([name for name, _ in model.named_children()]):
            raise ValueError("return_layers are not present in model")
        orig_return_layers = return_layers
        return_layers = {str(k): str(v) for k, v in return_layers.items()}
        layers: "OrderedDict[str, nn.Module]" = OrderedDict()
        # Children after the last requested one (avgpool, fc for a ResNet) are dropped, so they
        # are absent from the state_dict exactly as in torchvision.
        for name, module in model.named_children():
            layers[name] = module
            if name in return_layers:
                del return_layers[name]
            if not return_layers:
                break

        super().__init__(layers)
        self.return_layers = orig_return_layers

    def forward(self, x):
        out = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out_name = self.return_layers[name]
                out[out_name] = x
        return out


def _make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    """Rounds a channel count to a multiple of ``divisor`` (from the original TF MobileNet).

    Makes sure that rounding down does not go down by more than 10%.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Conv2dNormActivation(nn.Sequential):
    """Configurable block used for Convolution2d-Normalization-Activation blocks.

    Mirrors ``torchvision.ops.misc.Conv2dNormActivation``: a Sequential of (0) conv, (1) norm
    layer, (2) activation, so the state_dict keys are ``<name>.0.weight``,
    ``<name>.1.running_mean``.

    Args:
        in_channels (int): Number of channels in the input image
        out_channels (int): Number of channels produced by the Convolution-Normalization-Activation
            block
        kernel_size (int, optional): Size of the convolving kernel. Default: 3
        stride (int, optional): Stride of the convolution. Default: 1
        padding (int, tuple or str, optional): Padding added to all four sides of the input.
            Default: None, in which case it will be calculated as
            ``padding = (kernel_size - 1) // 2 * dilation``
        groups (int, optional): Number of blocked connections from input channels to output
            channels. Default: 1
        norm_layer (Callable[..., nn.Module], optional): Norm layer that will be stacked on top of
            the convolution layer. If ``None`` this layer won't be used.
            Default: ``nn.BatchNorm2d``
        activation_layer (Callable[..., nn.Module], optional): Activation function which will be
            stacked on top of the normalization layer (if not None), otherwise on top of the conv
            layer. If ``None`` this layer won't be used. Default: ``nn.ReLU``
        dilation (int): Spacing between kernel elements. Default: 1
        inplace (bool): Parameter for the activation layer, which can optionally do the operation
            in-place. Default ``True``
        bias (bool, optional): Whether to use bias in the convolution layer. By default, biases
            are included if ``norm_layer is None``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any = 3,
        stride: Any = 1,
        padding: Any = None,
        groups: int = 1,
        norm_layer: Optional[Callable[..., nn.Module]] = nn.BatchNorm2d,
        activation_layer: Optional[Callable[..., nn.Module]] = nn.ReLU,
        dilation: Any = 1,
        inplace: Optional[bool] = True,
        bias: Optional[bool] = None,
        conv_layer: Callable[..., nn.Module] = nn.Conv2d,
    ) -> None:
        if padding is None:
            if isinstance(kernel_size, int) and isinstance(dilation, int):
                padding = (kernel_size - 1) // 2 * dilation
            else:
                n = len(kernel_size) if isinstance(kernel_size, (tuple, list)) else len(dilation)
                ks = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * n
                dl = dilation if isinstance(dilation, (tuple, list)) else (dilation,) * n
                padding = tuple((ks[i] - 1) // 2 * dl[i] for i in range(n))
        if bias is None:
            bias = norm_layer is None
        layers = [
            conv_layer(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=groups,
                bias=bias,
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            params = {} if inplace is None else {"inplace": inplace}
            layers.append(activation_layer(**params))
        super().__init__(*layers)
        self.out_channels = out_channels


def _ovewrite_named_param(kwargs: Dict[str, Any], param: str, new_value: Any) -> None:
    if param in kwargs:
        if kwargs[param] != new_value:
            raise ValueError(
                f"The parameter '{param}' expected value {new_value} but got {kwargs[param]} "
                "instead."
            )
    else:
        kwargs[param] = new_value


def _check_no_weights(builder: str, kwargs: Dict[str, Any], **weights: Any) -> None:
    """Rejects pretrained weights: ptlite has no downloader.

    ``weights`` maps the builder's weight arguments (``weights=``, ``weights_backbone=``) to their
    values; ``kwargs`` may hold torchvision's legacy ``pretrained=`` / ``pretrained_backbone=``
    booleans, which are popped (False is accepted, as torchvision accepts it).
    """
    for legacy, new in (("pretrained", "weights"), ("pretrained_backbone", "weights_backbone")):
        if legacy in kwargs:
            flag = kwargs.pop(legacy)
            if flag:
                weights[new] = f"{legacy}=True"
    for name, value in weights.items():
        if value is not None:
            raise ValueError(
                f"{builder}(): ptlite cannot download pretrained weights (got {name}={value!r}). "
                f"Build the model with {name}=None and load the weights yourself, e.g. "
                f"model.load_state_dict(state_dict) with a state_dict converted from a "
                f"torchvision checkpoint (the keys are identical)."
            )
