"""quantize_dynamic: torch.ao.quantization.quantize_dynamic's semantics.

Swaps the float Linear / LSTM / GRU / cells of a model (named in qconfig_spec)
for their dynamically quantized counterparts in ptlite.nn.quantized.dynamic.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

from .. import _dtype as dt
from ..nn import modules as _nn
from ..nn.modules.module import Module
from ..nn.quantized import dynamic as _nnqd
from .qconfig import (default_dynamic_qconfig, float16_dynamic_qconfig,
                      float_qparams_weight_only_qconfig)

__all__ = ["quantize_dynamic", "get_default_dynamic_quant_module_mappings",
           "propagate_qconfig_", "convert"]

_DEFAULT_TYPES = ("Linear", "LSTM", "GRU", "LSTMCell", "RNNCell", "GRUCell")


def get_default_dynamic_quant_module_mappings() -> Dict[Any, Any]:
    """float module class -> dynamic quantized class (torch's default mapping)."""
    return {
        _nn.Linear: _nnqd.Linear,
        _nn.LSTM: _nnqd.LSTM,
        _nn.GRU: _nnqd.GRU,
        _nn.LSTMCell: _nnqd.LSTMCell,
        _nn.GRUCell: _nnqd.GRUCell,
        _nn.RNNCell: _nnqd.RNNCell,
    }


def _default_spec(dtype) -> Dict[Any, Any]:
    if dtype == dt.qint8:
        qconfig = default_dynamic_qconfig
    elif dtype == dt.float16:
        qconfig = float16_dynamic_qconfig
    elif dtype == dt.quint8:
        return {}  # torch maps only EmbeddingBag / Embedding here: none in ptlite yet
    else:
        raise ValueError(f"Don't know how to quantize with default settings for {dtype}. "
                         "Provide full qconfig please")
    return {getattr(_nn, name): qconfig for name in _DEFAULT_TYPES}


def _spec_from_set(spec, dtype) -> Dict[Any, Any]:
    if dtype == dt.qint8:
        qconfig = default_dynamic_qconfig
    elif dtype == dt.float16:
        qconfig = float16_dynamic_qconfig
    elif dtype == dt.quint8:
        qconfig = float_qparams_weight_only_qconfig
    else:
        raise RuntimeError(f"Unknown dtype specified for quantize_dynamic: {dtype}")
    return dict.fromkeys(spec, qconfig)


def propagate_qconfig_(module: Module, qconfig_dict: Dict[Any, Any],
                       prepare_custom_config_dict: Optional[dict] = None) -> None:
    """Attaches ``qconfig`` to every submodule: by its name (qualified, most specific
    prefix wins), else by its type, else its parent's, as torch does."""

    def walk(mod: Module, parent_qconfig, prefix: str) -> None:
        qconfig = qconfig_dict.get(type(mod), parent_qconfig)
        qconfig = qconfig_dict.get(prefix, qconfig)
        qconfig = getattr(mod, "qconfig", qconfig)
        mod.qconfig = qconfig
        for name, child in mod.named_children():
            walk(child, qconfig, prefix + "." + name if prefix else name)

    walk(module, qconfig_dict.get("", None), "")


def _swap(mod: Module, mapping: Dict[Any, Any]) -> Module:
    qconfig = getattr(mod, "qconfig", None)
    if qconfig is not None and type(mod) in mapping:
        return mapping[type(mod)].from_float(mod)
    return mod


def convert(module: Module, mapping: Optional[Dict[Any, Any]] = None,
            inplace: bool = False) -> Module:
    """Swaps every submodule that has a qconfig and a mapped type, children first."""
    if mapping is None:
        mapping = get_default_dynamic_quant_module_mappings()
    if not inplace:
        module = copy.deepcopy(module)
    _convert(module, mapping)
    return module


def _convert(module: Module, mapping: Dict[Any, Any]) -> None:
    for name, child in list(module.named_children()):
        if type(child) not in mapping:
            _convert(child, mapping)
        new = _swap(child, mapping)
        if new is not child:
            setattr(module, name, new)


def quantize_dynamic(model: Module, qconfig_spec: Any = None, dtype: Any = dt.qint8,
                     mapping: Optional[Dict[Any, Any]] = None,
                     inplace: bool = False) -> Module:
    r"""Converts a float model to a dynamic (weight-only quantized, activations quantized
    on the fly) model.

    qconfig_spec: None (Linear, LSTM, GRU and the cells, with dtype's default qconfig),
    a set of module types and/or qualified submodule names (each with dtype's default
    qconfig), or a dict mapping types / names to a QConfig (None to skip). Returns a
    deep copy unless ``inplace``.
    """
    if qconfig_spec is None:
        qconfig_spec = _default_spec(dtype)
    elif isinstance(qconfig_spec, (set, frozenset, list, tuple)):
        qconfig_spec = _spec_from_set(qconfig_spec, dtype)
    if mapping is None:
        mapping = get_default_dynamic_quant_module_mappings()
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    propagate_qconfig_(model, qconfig_spec)
    _convert(model, mapping)
    return model
