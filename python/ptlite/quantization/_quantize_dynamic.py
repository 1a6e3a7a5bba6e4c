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
from .quantization_mappings import get_default_dynamic_quant_module_mappings
from .quantize import _convert, propagate_qconfig_
from .qconfig import (default_dynamic_qconfig, float16_dynamic_qconfig,
                      float_qparams_weight_only_qconfig)

__all__ = ["quantize_dynamic"]

_DEFAULT_TYPES = ("Linear", "LSTM", "GRU", "LSTMCell", "RNNCell", "GRUCell")


def _default_spec(dtype) -> Dict[Any, Any]:
    if dtype == dt.qint8:
        qconfig = default_dynamic_qconfig
    elif dtype == dt.float16:
        qconfig = float16_dynamic_qconfig
    elif dtype == dt.quint8:
        return {_nn.Embedding: float_qparams_weight_only_qconfig,
                _nn.EmbeddingBag: float_qparams_weight_only_qconfig}
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
