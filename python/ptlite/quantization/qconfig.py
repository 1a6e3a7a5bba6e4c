"""QConfig: which observers quantize a module's activations and weights (torch names)."""
from __future__ import annotations

from collections import namedtuple
from typing import Any

from .. import _dtype as dt
from .._ops.quant import (per_channel_affine_float_qparams, per_channel_symmetric,
                          per_tensor_symmetric)
from ..nn.modules.module import Module
from .observer import (HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver,
                       PlaceholderObserver)

__all__ = ["QConfig", "default_observer", "default_weight_observer",
           "default_per_channel_weight_observer", "default_histogram_observer",
           "default_placeholder_observer", "default_dynamic_quant_observer",
           "default_qconfig", "default_per_channel_qconfig", "default_dynamic_qconfig",
           "per_channel_dynamic_qconfig", "float16_dynamic_qconfig",
           "float_qparams_weight_only_qconfig", "default_float_qparams_observer",
           "get_default_qconfig"]


class QConfig(namedtuple("QConfig", ["activation", "weight"])):
    """Observer constructors (classes or ``with_args`` partials) for a module's
    activations and weights: ``QConfig(activation=..., weight=...)``."""

    def __new__(cls, activation: Any, weight: Any) -> "QConfig":
        for name, obs in (("activation", activation), ("weight", weight)):
            if isinstance(obs, Module):
                raise ValueError(f"QConfig received observer instance for {name}, please pass "
                                 "observer class instead. Use MyObserver.with_args(x=1) to "
                                 "override arguments to constructor if needed")
        return super().__new__(cls, activation, weight)


# ---- torch's default observers and qconfigs --------------------------------------
default_observer = MinMaxObserver.with_args(quant_min=0, quant_max=127)
default_placeholder_observer = PlaceholderObserver
default_weight_observer = MinMaxObserver.with_args(dtype=dt.qint8, qscheme=per_tensor_symmetric)
default_per_channel_weight_observer = PerChannelMinMaxObserver.with_args(
    dtype=dt.qint8, qscheme=per_channel_symmetric)
default_histogram_observer = HistogramObserver.with_args(quant_min=0, quant_max=127)
default_dynamic_quant_observer = PlaceholderObserver.with_args(
    dtype=dt.quint8, quant_min=0, quant_max=255, is_dynamic=True)
default_float_qparams_observer = PerChannelMinMaxObserver.with_args(
    dtype=dt.quint8, qscheme=per_channel_affine_float_qparams, ch_axis=0)

default_qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
default_per_channel_qconfig = QConfig(activation=default_observer,
                                      weight=default_per_channel_weight_observer)
default_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                  weight=default_weight_observer)
per_channel_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                      weight=default_per_channel_weight_observer)
float16_dynamic_qconfig = QConfig(
    activation=PlaceholderObserver.with_args(dtype=dt.float16, is_dynamic=True),
    weight=PlaceholderObserver.with_args(dtype=dt.float16))
float_qparams_weight_only_qconfig = QConfig(activation=default_placeholder_observer,
                                            weight=default_float_qparams_observer)

_BACKENDS = ("x86", "fbgemm", "qnnpack", "onednn")


def get_default_qconfig(backend: str = "x86", version: int = 0) -> QConfig:
    """torch's default post-training static qconfig for ``backend``: histogram
    activations (reduce_range where the backend's int8 arithmetic needs it) and
    per-tensor (qnnpack) or per-channel weights."""
    if version != 0:
        raise AssertionError(f"Version number: {version} in get_default_qconfig is not "
                             "supported. Version number must be 0")
    if backend == "qnnpack":
        return QConfig(activation=HistogramObserver.with_args(reduce_range=False),
                       weight=default_weight_observer)
    if backend == "onednn":
        return QConfig(activation=HistogramObserver.with_args(reduce_range=False),
                       weight=default_per_channel_weight_observer)
    if backend in ("x86", "fbgemm"):
        return QConfig(activation=HistogramObserver.with_args(reduce_range=True),
                       weight=default_per_channel_weight_observer)
    raise ValueError(f"backend {backend!r} is not supported; choose one of "
                     f"{', '.join(repr(b) for b in _BACKENDS)}")
