"""fuse_modules: folds conv/linear + batch norm and groups conv/linear/bn + relu into the
fused modules of ``ptlite.nn.intrinsic`` (torch.ao.quantization.fuse_modules's rules)."""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .. import nn
from .._tensor import zeros_like, ones_like
from ..nn import intrinsic as nni
from ..nn.modules.module import Module
from ..nn.parameter import Parameter

__all__ = ["fuse_modules", "fuse_modules_qat", "fuse_known_modules", "fuse_conv_bn",
           "fuse_conv_bn_relu", "fuse_linear_bn", "fuse_conv_bn_eval", "fuse_linear_bn_eval",
           "fuse_conv_bn_weights", "fuse_linear_bn_weights", "get_fuser_method"]


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b,
                         transpose: bool = False) -> Tuple[Parameter, Parameter]:
    r"""Fuses convolutional module parameters and BatchNorm module parameters into new
    convolutional module parameters: ``w * gamma / sqrt(var + eps)`` and
    ``(b - mean) * gamma / sqrt(var + eps) + beta``, in torch's order of operations."""
    if conv_b is None:
        conv_b = zeros_like(bn_rm)
    if bn_w is None:
        bn_w = ones_like(bn_rm)
    if bn_b is None:
        bn_b = zeros_like(bn_rm)
    bn_var_rsqrt = (bn_rv + bn_eps).rsqrt()
    rest = [1] * (conv_w.ndim - 2)
    shape = [1, -1] + rest if transpose else [-1, 1] + rest
    fused_w = conv_w * (bn_w * bn_var_rsqrt).reshape(shape)
    fused_b = (conv_b - bn_rm) * bn_var_rsqrt * bn_w + bn_b
    return (Parameter(fused_w.detach(), conv_w.requires_grad),
            Parameter(fused_b.detach(), conv_b.requires_grad))


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w,
                           bn_b) -> Tuple[Parameter, Parameter]:
    r"""Fuses linear module parameters and BatchNorm module parameters into new linear
    module parameters."""
    if linear_b is None:
        linear_b = zeros_like(bn_rm)
    bn_scale = bn_w * (bn_rv + bn_eps).rsqrt()
    fused_w = linear_w * bn_scale.unsqueeze(-1)
    fused_b = (linear_b - bn_rm) * bn_scale + bn_b
    return (Parameter(fused_w.detach(), linear_w.requires_grad),
            Parameter(fused_b.detach(), linear_b.requires_grad))


def fuse_conv_bn_eval(conv: Module, bn: Module, transpose: bool = False) -> Module:
    r"""Returns a new convolution with the eval-mode batch norm folded into its weights."""
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused = copy.deepcopy(conv)
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("fuse_conv_bn_eval: the BatchNorm has no running statistics "
                             "(track_running_stats=False)")
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose)
    return fused


def fuse_linear_bn_eval(linear: Module, bn: Module) -> Module:
    r"""Returns a new Linear with the eval-mode BatchNorm1d folded into its weights."""
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if not (linear.out_features == bn.num_features or bn.num_features == 1):
        raise AssertionError("To fuse, linear.out_features == bn.num_features or "
                             "bn.num_features == 1")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused


def _same_mode(a: Module, b: Module, what: str) -> None:
    if a.training != b.training:
        raise AssertionError(f"{what} both must be in the same mode (train or eval).")


def fuse_conv_bn(is_qat: bool, conv: Module, bn: Module) -> Module:
    r"""Returns the fused conv and bn: folded for inference, ConvBn{1,2}d for QAT."""
    _same_mode(conv, bn, "Conv and BN")
    if is_qat:
        if bn.num_features != conv.out_channels:
            raise AssertionError("Output channel of Conv2d must match num_features of "
                                 "BatchNorm2d")
        cls = nni.ConvBn1d if isinstance(conv, nn.Conv1d) else nni.ConvBn2d
        return cls(conv, bn)
    return fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))


def fuse_conv_bn_relu(is_qat: bool, conv: Module, bn: Module, relu: Module) -> Module:
    r"""Returns the fused conv, bn and relu: ConvReLU of the folded conv for inference."""
    _same_mode(conv, bn, "Conv and BN")
    one_d = isinstance(conv, nn.Conv1d)
    if is_qat:
        return (nni.ConvBnReLU1d if one_d else nni.ConvBnReLU2d)(conv, bn, relu)
    return (nni.ConvReLU1d if one_d else nni.ConvReLU2d)(fuse_conv_bn_eval(conv, bn), relu)


def fuse_linear_bn(is_qat: bool, linear: Module, bn: Module) -> Module:
    r"""Returns the fused linear and bn: folded for inference, LinearBn1d for QAT."""
    _same_mode(linear, bn, "Linear and BN")
    if is_qat:
        return nni.LinearBn1d(linear, bn)
    return fuse_linear_bn_eval(linear, bn)


def _wrap(cls: type) -> Callable:
    def fuser(is_qat: bool, *mods: Module) -> Module:
        return cls(*mods)
    return fuser


_FUSER_METHODS: Dict[Tuple[type, ...], Callable] = {
    (nn.Conv1d, nn.BatchNorm1d): fuse_conv_bn,
    (nn.Conv1d, nn.BatchNorm1d, nn.ReLU): fuse_conv_bn_relu,
    (nn.Conv2d, nn.BatchNorm2d): fuse_conv_bn,
    (nn.Conv2d, nn.BatchNorm2d, nn.ReLU): fuse_conv_bn_relu,
    (nn.Conv1d, nn.ReLU): _wrap(nni.ConvReLU1d),
    (nn.Conv2d, nn.ReLU): _wrap(nni.ConvReLU2d),
    (nn.Linear, nn.BatchNorm1d): fuse_linear_bn,
    (nn.Linear, nn.ReLU): _wrap(nni.LinearReLU),
    (nn.BatchNorm2d, nn.ReLU): _wrap(nni.BNReLU2d),
    (nn.ConvTranspose2d, nn.BatchNorm2d): fuse_conv_bn,
}


def get_fuser_method(op_list: Tuple[type, ...],
                     additional_fuser_method_mapping: Optional[Dict] = None) -> Callable:
    r"""The fuser method for a tuple of module types, or raises."""
    table = dict(_FUSER_METHODS)
    table.update(additional_fuser_method_mapping or {})
    method = table.get(tuple(op_list))
    if method is None:
        raise AssertionError(f"did not find fuser method for: {tuple(op_list)} ")
    return method


def fuse_known_modules(mod_list: List[Module], is_qat: bool = False,
                       additional_fuser_method_mapping: Optional[Dict] = None) -> List[Module]:
    r"""Returns a list of modules that fuses the operations specified in the input module
    list: the fused module first, ``nn.Identity`` in the other places."""
    types = tuple(type(m) for m in mod_list)
    fuser = get_fuser_method(types, additional_fuser_method_mapping)
    new_mod: List[Any] = [None] * len(mod_list)
    fused = fuser(is_qat, *mod_list)
    for hook in list(mod_list[0]._forward_pre_hooks.values()):
        fused.register_forward_pre_hook(hook)
    for hook in list(mod_list[-1]._forward_hooks.values()):
        fused.register_forward_hook(hook)
    new_mod[0] = fused
    for i in range(1, len(mod_list)):
        identity = nn.Identity()
        identity.training = mod_list[0].training
        new_mod[i] = identity
    return new_mod


def _get_module(model: Module, name: str) -> Module:
    try:
        return model.get_submodule(name)
    except AttributeError as e:
        raise AttributeError(f"fuse_modules: {type(model).__name__} has no submodule "
                             f"{name!r} ({e})") from None


def _set_module(model: Module, name: str, new: Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, leaf, new)


def _fuse(model: Module, modules_to_fuse: Sequence, is_qat: bool, inplace: bool,
          fuser_func: Callable, fuse_custom_config_dict: Optional[Dict]) -> Module:
    if not inplace:
        model = copy.deepcopy(model)
    extra = (fuse_custom_config_dict or {}).get("additional_fuser_method_mapping", {})
    groups = modules_to_fuse if all(isinstance(g, (list, tuple)) for g in modules_to_fuse) \
        else [modules_to_fuse]
    for group in groups:
        mods = [_get_module(model, n) for n in group]
        new_mods = fuser_func(mods, is_qat, extra)
        for n, m in zip(group, new_mods):
            _set_module(model, n, m)
    return model


def fuse_modules(model: Module, modules_to_fuse: Sequence, inplace: bool = False,
                 fuser_func: Callable = fuse_known_modules,
                 fuse_custom_config_dict: Optional[Dict] = None) -> Module:
    r"""Fuse a list of modules into a single module.

    Fuses only the following sequence of modules:
    conv, bn; conv, bn, relu; conv, relu; linear, relu; linear, bn; bn, relu.
    All other sequences are left unchanged. The model must be in eval mode: batch norm is
    folded into the preceding convolution or linear.

    Args:
        model: Model containing the modules to be fused
        modules_to_fuse: list of list of module names to fuse. Can also be a list
                         of strings if there is only a single list of modules to fuse.
        inplace: bool specifying if fusion happens in place on the model, by default
                 a new model is returned
        fuser_func: Function that takes in a list of modules and outputs a list of fused
                    modules of the same length.

    Returns:
        model with fused modules. A new copy is created if inplace=False.

    Examples::

        >>> m = M().eval()
        >>> modules_to_fuse = [ ['conv1', 'bn1', 'relu1'], ['submodule.conv', 'submodule.relu']]
        >>> fused_m = torch.ao.quantization.fuse_modules(m, modules_to_fuse)
        >>> output = fused_m(input)
    """
    return _fuse(model, modules_to_fuse, False, inplace, fuser_func, fuse_custom_config_dict)


def fuse_modules_qat(model: Module, modules_to_fuse: Sequence, inplace: bool = False,
                     fuser_func: Callable = fuse_known_modules,
                     fuse_custom_config_dict: Optional[Dict] = None) -> Module:
    r"""QAT version of :func:`fuse_modules`: conv+bn stay separate inside ConvBn2d /
    ConvBnReLU2d / LinearBn1d containers (the model should be in training mode)."""
    return _fuse(model, modules_to_fuse, True, inplace, fuser_func, fuse_custom_config_dict)
