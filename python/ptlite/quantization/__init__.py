"""ptlite.quantization: observers (and, later, the quantization flow), torch.ao.quantization's
names. Also importable as ``ptlite.ao.quantization``."""
from . import observer
from .observer import (EntropyObserver, HistogramObserver, MinMaxObserver,  # noqa: F401
                       MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver,
                       NoopObserver, ObserverBase, PercentileObserver, PerChannelMinMaxObserver,
                       PlaceholderObserver, UniformQuantizationObserverBase,
                       per_channel_affine, per_channel_symmetric, per_tensor_affine,
                       per_tensor_symmetric, qscheme)

__all__ = list(observer.__all__) + ["observer"]
