"""ptlite.quantization: observers, qconfigs and the quantization flows, torch.ao.quantization's
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

from . import stubs
from .stubs import DeQuantStub, QuantStub, QuantWrapper  # noqa: F401
from . import fuse_modules as _fuse_modules_mod
from .fuse_modules import (fuse_conv_bn, fuse_conv_bn_relu, fuse_known_modules,  # noqa: F401
                           fuse_linear_bn, fuse_modules, fuse_modules_qat, get_fuser_method)
from . import quantization_mappings
from .quantization_mappings import (get_default_dynamic_quant_module_mappings,  # noqa: F401
                                    get_default_qconfig_propagation_list,
                                    get_default_static_quant_module_mappings,
                                    get_quantized_operator, no_observer_set)
from . import quantize as _quantize_mod
from .quantize import (add_quant_dequant, convert, default_eval_fn, prepare,  # noqa: F401
                       propagate_qconfig_, quantize, swap_module)
from ._quantize_dynamic import quantize_dynamic  # noqa: F401
from . import qconfig_mapping
from .qconfig_mapping import (FixedQParamsObserver, QConfigMapping,  # noqa: F401
                              ReuseInputObserver, default_fixed_qparams_range_0to1_observer,
                              default_fixed_qparams_range_neg1to1_observer,
                              default_quint8_weight_qconfig, default_reuse_input_qconfig,
                              get_default_qconfig_mapping)
from . import quantize_fx  # noqa: F401
from . import ns  # noqa: F401
from .calibrate import calibrate  # noqa: F401
from .ns import quantization_report  # noqa: F401

__all__ = (list(observer.__all__) + ["observer", "qconfig"] + list(qconfig.__all__)
           + list(stubs.__all__) + list(_fuse_modules_mod.__all__)
           + list(quantization_mappings.__all__) + list(_quantize_mod.__all__)
           + ["ns", "calibrate", "quantization_report", "quantize_dynamic", "quantize_fx",
              "qconfig_mapping"] + list(qconfig_mapping.__all__))
