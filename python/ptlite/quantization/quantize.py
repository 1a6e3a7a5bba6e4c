"""Eager-mode post-training static quantization: propagate_qconfig_, prepare, convert,
quantize (torch.ao.quantization's functions and semantics).

prepare() attaches an output observer (``activation_post_process``) to every leaf module
that will be quantized; running calibration data records activation ranges; convert()
swaps each observed module for its quantized counterpart with those ranges. Beyond torch,
convert() refuses a model that was never prepared or calibrated, and any error raised
inside a prepared or converted module names that module."""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable, Dict, Optional, Set

from ..nn import intrinsic as nni
from ..nn import quantized as nnq
from ..nn.modules.container import Sequential
from ..nn.modules.module import Module
from .quantization_mappings import (get_default_qconfig_propagation_list,
                                    get_default_static_quant_module_mappings, no_observer_set)
from .stubs import DeQuantStub, QuantWrapper

__all__ = ["propagate_qconfig_", "prepare", "convert", "quantize", "swap_module",
           "add_quant_dequant", "default_eval_fn"]


def _propagate(module: Module, qconfig_dict: Dict[Any, Any], parent: Any, prefix: str) -> None:
    qconfig = qconfig_dict.get(type(module), parent)
    qconfig = qconfig_dict.get(prefix, qconfig)
    qconfig = getattr(module, "qconfig", qconfig)
    module.qconfig = qconfig
    for name, child in module.named_children():
        _propagate(child, qconfig_dict, qconfig, prefix + "." + name if prefix else name)


def propagate_qconfig_(module: Module, qconfig_dict: Optional[Dict[Any, Any]] = None,
                       prepare_custom_config_dict: Optional[Dict] = None) -> None:
    r"""Propagate qconfig through the module hierarchy and assign `qconfig`
    attribute on each leaf module

    Args:
        module: input module
        qconfig_dict: dictionary that maps from name or type of submodule to
            quantization configuration, qconfig applies to all submodules of a
            given module unless qconfig for the submodules are specified (when
            the submodule already has qconfig attribute)
    """
    _propagate(module, qconfig_dict or {}, None, "")


def _observer_forward_hook(self: Module, input: Any, output: Any) -> Any:
    return self.activation_post_process(output)


def _needs_observer(m: Module, allow_list: Set[Any]) -> bool:
    if getattr(m, "qconfig", None) is None or isinstance(m, DeQuantStub):
        return False
    if type(m) in no_observer_set():
        return False
    if isinstance(m, nni._FusedModule):
        return type(m) in allow_list
    return len(m._modules) == 0 and not isinstance(m, Sequential) and type(m) in allow_list


_DTYPE_RANGE = {"quint8": (0, 255), "qint8": (-128, 127), "uint8": (0, 255), "int8": (-128, 127)}


def _make_observer(m: Module, name: str) -> Module:
    where = f"{name or '<model>'} ({type(m).__name__})"
    try:
        obs = m.qconfig.activation()
    except Exception as e:
        raise type(e)(f"prepare: cannot build the output observer of {where} from its "
                      f"qconfig: {e}") from e
    # torch accepts e.g. quant_max=300 for quint8 and then produces out-of-range zero
    # points; an impossible range is refused here instead
    rng = _DTYPE_RANGE.get(str(getattr(obs, "dtype", "")).rsplit(".", 1)[-1])
    qmin, qmax = getattr(obs, "quant_min", None), getattr(obs, "quant_max", None)
    if rng is not None and qmin is not None and not (rng[0] <= qmin and qmax <= rng[1]):
        raise ValueError(f"prepare: the qconfig of {where} asks for the quantized range "
                         f"[{qmin}, {qmax}], which {obs.dtype} cannot hold ([{rng[0]}, "
                         f"{rng[1]}])")
    return obs


def _add_observers(module: Module, allow_list: Set[Any], prefix: str) -> None:
    for name, child in module.named_children():
        full = prefix + "." + name if prefix else name
        child._quant_name = full
        if type(child) in (nnq.FloatFunctional, nnq.QFunctional):
            if getattr(child, "qconfig", None) is not None:
                child.activation_post_process = _make_observer(child, full)
            continue
        if _needs_observer(child, allow_list):
            child.add_module("activation_post_process", _make_observer(child, full))
            child.register_forward_hook(_observer_forward_hook, prepend=True)
        elif not isinstance(child, nni._FusedModule):
            _add_observers(child, allow_list, full)


def prepare(model: Module, inplace: bool = False, allow_list: Optional[Set[Any]] = None,
            observer_non_leaf_module_list: Optional[Set[Any]] = None,
            prepare_custom_config_dict: Optional[Dict] = None) -> Module:
    r"""Prepares a copy of the model for quantization calibration or quantization-aware
    training.

    Quantization configuration should be assigned preemptively
    to individual submodules in `.qconfig` attribute.

    The model will be attached with observer or fake quant modules, and qconfig
    will be propagated.

    Args:
        `model`: input model to be modified in-place
        `inplace`: carry out model transformations in-place, the original module is mutated
        `allow_list`: list of quantizable modules
        `observer_non_leaf_module_list`: list of non-leaf modules we want to add observer
        `prepare_custom_config_dict`: customization configuration dictionary for prepare
            function
    """
    if not inplace:
        model = copy.deepcopy(model)
    allow_list = allow_list if allow_list is not None else get_default_qconfig_propagation_list()
    allow_list = set(allow_list) | set(observer_non_leaf_module_list or ())
    propagate_qconfig_(model, qconfig_dict=None)
    if not any(getattr(m, "qconfig", None) for m in model.modules()):
        warnings.warn("None of the submodule got qconfig applied. Make sure you "
                      "passed correct configuration through `qconfig_dict` or "
                      "by assigning the `.qconfig` attribute directly on submodules",
                      stacklevel=2)
    model._quant_name = ""
    _add_observers(model, allow_list, "")
    if _needs_observer(model, allow_list):  # a single quantizable module
        model.add_module("activation_post_process", _make_observer(model, ""))
        model.register_forward_hook(_observer_forward_hook, prepend=True)
    return model


def swap_module(mod: Module, mapping: Dict[Any, Any],
                custom_module_class_mapping: Optional[Dict[Any, Any]] = None) -> Module:
    r"""Swaps the module if it has a quantized counterpart and it has an
    `observer` attached.

    Args:
        mod: input module
        mapping: a dictionary that maps from nn module to nnq module

    Return:
        The corresponding quantized module of `mod`
    """
    if getattr(mod, "qconfig", None) is None or type(mod) not in mapping:
        return mod
    new_mod = mapping[type(mod)].from_float(mod)
    for hook in mod._forward_pre_hooks.values():
        new_mod.register_forward_pre_hook(hook)
    for hook in mod._forward_hooks.values():
        if hook is not _observer_forward_hook:
            new_mod.register_forward_hook(hook)
    name = mod.__dict__.get("_quant_name")
    if name is not None:
        new_mod._quant_name = name
    return new_mod


def _convert(module: Module, mapping: Dict[Any, Any]) -> None:
    reassign = {}
    for name, child in module.named_children():
        if not isinstance(child, nni._FusedModule) and type(child) not in mapping:
            _convert(child, mapping)
        reassign[name] = swap_module(child, mapping)
    for name, new in reassign.items():
        module._modules[name] = new


def _remove_qconfig(module: Module) -> None:
    for child in module.children():
        _remove_qconfig(child)
    if "qconfig" in module.__dict__:
        del module.qconfig
    if isinstance(module.__dict__.get("activation_post_process"), Module) or \
            "activation_post_process" in module._modules:
        if not isinstance(module, (nnq.FloatFunctional, nnq.QFunctional)):
            module._modules.pop("activation_post_process", None)


def _has_observers(model: Module) -> bool:
    return any("activation_post_process" in m._modules and
               not type(m._modules["activation_post_process"]).__name__ == "Identity"
               for m in model.modules())


def convert(module: Module, mapping: Optional[Dict[Any, Any]] = None, inplace: bool = False,
            remove_qconfig: bool = True, is_reference: bool = False,
            convert_custom_config_dict: Optional[Dict] = None) -> Module:
    r"""Converts submodules in input module to a different module according to `mapping`
    by calling `from_float` method on the target module class. And remove qconfig at the
    end if remove_qconfig is set to True.

    Args:
        `module`: prepared and calibrated module
        `mapping`: a dictionary that maps from source module type to target
                   module type, can be overwritten to allow swapping user defined
                   Modules
        `inplace`: carry out model transformations in-place, the original module
                   is mutated

    Raises RuntimeError when the model has no observers (it was not prepared) or when an
    observer has seen no data (it was not calibrated), naming the module.
    """
    if is_reference:
        raise NotImplementedError("convert(is_reference=True) is not supported")
    if not _has_observers(module):
        raise RuntimeError(
            f"convert: {type(module).__name__} has no observers. Set model.qconfig, call "
            "ptlite.quantization.prepare(model) and run calibration data through the "
            "prepared model before convert() (or use quantize_dynamic for dynamic "
            "quantization).")
    if not inplace:
        module = copy.deepcopy(module)
    mapping = mapping if mapping is not None else get_default_static_quant_module_mappings()
    _convert(module, mapping)
    if remove_qconfig:
        _remove_qconfig(module)
    return module


def quantize(model: Module, run_fn: Callable, run_args: Any,
             mapping: Optional[Dict[Any, Any]] = None, inplace: bool = False) -> Module:
    r"""Quantize the input float model with post training static quantization.

    First it will prepare the model for calibration, then it calls
    `run_fn` which will run the calibration step, after that we will
    convert the model to a quantized model.

    Args:
        model: input float model
        run_fn: a calibration function for calibrating the prepared model
        run_args: positional arguments for `run_fn`
        inplace: carry out model transformations in-place, the original module is mutated
        mapping: correspondence between original module types and quantized counterparts

    Return:
        Quantized model.
    """
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    prepare(model, inplace=True)
    run_fn(model, *run_args) if isinstance(run_args, (list, tuple)) else run_fn(model, run_args)
    convert(model, mapping, inplace=True)
    return model


def add_quant_dequant(module: Module) -> Module:
    r"""Wrap the leaf child module in QuantWrapper if it has a valid qconfig
    Note that this function will modify the children of module inplace and it
    can return a new module which wraps the input module as well.

    Args:
        module: input module with qconfig attributes for all the leaf modules
        that we want to quantize

    Return:
        Either the inplace modified module with submodules wrapped in
        `QuantWrapper` based on qconfig or a new `QuantWrapper` module which
        wraps the input module, the latter case only happens when the input
        module is a leaf module and we want to quantize it.
    """
    if len(module._modules) == 0 and getattr(module, "qconfig", None):
        return QuantWrapper(module)
    for name, child in module.named_children():
        module._modules[name] = add_quant_dequant(child)
    return module


def default_eval_fn(model: Module, calib_data: Any) -> None:
    r"""Define the default evaluation function.

    Default evaluation function takes a torch.utils.data.Dataset or a list of
    input Tensors and run the model on the dataset
    """
    for data, target in calib_data:
        model(data)
