"""Which float module becomes which quantized module (torch.ao.quantization's default
mappings), and which modules get observers."""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional, Set

from .. import nn
from ..nn import intrinsic as nni
from ..nn import quantized as nnq
from ..nn.quantized import dynamic as nnqd
from ..nn.intrinsic import quantized as nniq
from .stubs import DeQuantStub, QuantStub

__all__ = ["DEFAULT_STATIC_QUANT_MODULE_MAPPINGS", "DEFAULT_DYNAMIC_QUANT_MODULE_MAPPINGS",
           "get_default_static_quant_module_mappings",
           "get_default_dynamic_quant_module_mappings", "get_default_qconfig_propagation_list",
           "get_quantized_operator", "no_observer_set"]

DEFAULT_STATIC_QUANT_MODULE_MAPPINGS: Dict[Any, Any] = {
    QuantStub: nnq.Quantize,
    DeQuantStub: nnq.DeQuantize,
    nn.BatchNorm2d: nnq.BatchNorm2d,
    nn.Conv1d: nnq.Conv1d,
    nn.Conv2d: nnq.Conv2d,
    nn.ConvTranspose2d: nnq.ConvTranspose2d,
    nn.Dropout: nnq.Dropout,
    nn.Embedding: nnq.Embedding,
    nn.EmbeddingBag: nnq.EmbeddingBag,
    nn.Hardswish: nnq.Hardswish,
    nn.LeakyReLU: nnq.LeakyReLU,
    nn.Linear: nnq.Linear,
    nn.ReLU6: nnq.ReLU6,
    nnq.FloatFunctional: nnq.QFunctional,
    nni.BNReLU2d: nniq.BNReLU2d,
    nni.ConvReLU1d: nniq.ConvReLU1d,
    nni.ConvReLU2d: nniq.ConvReLU2d,
    nni.LinearReLU: nniq.LinearReLU,
}

DEFAULT_DYNAMIC_QUANT_MODULE_MAPPINGS: Dict[Any, Any] = {
    nn.Linear: nnqd.Linear, nn.LSTM: nnqd.LSTM, nn.GRU: nnqd.GRU, nn.LSTMCell: nnqd.LSTMCell,
    nn.GRUCell: nnqd.GRUCell, nn.RNNCell: nnqd.RNNCell,
    nn.Embedding: nnq.Embedding, nn.EmbeddingBag: nnq.EmbeddingBag,
}

_INCLUDE_QCONFIG_PROPAGATE_LIST: Set[Any] = {nn.Sequential}


def get_default_static_quant_module_mappings() -> Dict[Any, Any]:
    """Get module mapping for post training static quantization."""
    return copy.deepcopy(DEFAULT_STATIC_QUANT_MODULE_MAPPINGS)


def get_default_dynamic_quant_module_mappings() -> Dict[Any, Any]:
    """Get module mapping for post training dynamic quantization."""
    return dict(DEFAULT_DYNAMIC_QUANT_MODULE_MAPPINGS)


def get_default_qconfig_propagation_list() -> Set[Any]:
    """Get the default list of module types that we'll attach qconfig attribute to in
    prepare."""
    return (set(DEFAULT_STATIC_QUANT_MODULE_MAPPINGS) | set(DEFAULT_DYNAMIC_QUANT_MODULE_MAPPINGS)
            | _INCLUDE_QCONFIG_PROPAGATE_LIST)


def no_observer_set() -> Set[Any]:
    """The module types that must not get an output observer."""
    return set()


def get_quantized_operator(float_op: Any) -> Optional[Any]:
    """The quantized module class of a float module class, or raises."""
    q = DEFAULT_STATIC_QUANT_MODULE_MAPPINGS.get(float_op)
    if q is None:
        raise AssertionError(f"Operator {float_op} does not have corresponding quantized op")
    return q
