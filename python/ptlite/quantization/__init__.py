"""ptlite.quantization: observers (and, later, the quantization flow), torch.ao.quantization's
names. Also importable as ``ptlite.ao.quantization``."""
from . import observer
from .observer import (EntropyObserver, HistogramObserver, MinMaxObserver,  # noqa: F401
                       MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver,
                       NoopObserver, ObserverBase, PercentileObserver, PerChannelMinMaxObserver,
                       PlaceholderObserver, UniformQuantizationObserverBase,
                       per_channel_affine, per_channel_symmetric, per_tensor_affine,
                       per_tensor_symmetric, qscheme)

from . import qconfig
from .qconfig import (QConfig, default_dynamic_qconfig, default_dynamic_quant_observer,  # noqa
                      default_float_qparams_observer, default_histogram_observer,
                      default_observer, default_per_channel_qconfig,
                      default_per_channel_weight_observer, default_placeholder_observer,
                      default_qconfig, default_weight_observer, float16_dynamic_qconfig,
                      float_qparams_weight_only_qconfig, get_default_qconfig,
                      per_channel_dynamic_qconfig)

__all__ = list(observer.__all__) + ["observer", "qconfig"] + list(qconfig.__all__)
