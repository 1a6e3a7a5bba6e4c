"""QConfigMapping: which QConfig each op of a model gets in graph-mode quantization
(torch.ao.quantization.QConfigMapping's names, precedence and dict form).

Precedence, lowest to highest (torch's): global < object type (module class, function or
method name) < module name regex < module name (a parent's name applies to its children)
< (module name, object type, call index). A ``None`` qconfig keeps the op in float.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from .. import _dtype as dt
from .._ops.quant import per_tensor_affine
from .._tensor import tensor
from .observer import HistogramObserver, MinMaxObserver, ObserverBase, _as_qscheme
from .qconfig import (QConfig, default_placeholder_observer, default_weight_observer,
                      get_default_qconfig)

__all__ = ["QConfigMapping", "get_default_qconfig_mapping", "FixedQParamsObserver",
           "ReuseInputObserver", "default_fixed_qparams_range_0to1_observer",
           "default_fixed_qparams_range_neg1to1_observer", "default_reuse_input_qconfig",
           "default_quint8_weight_qconfig"]

_GLOBAL_DICT_KEY = ""
_OBJECT_TYPE_DICT_KEY = "object_type"
_MODULE_NAME_REGEX_DICT_KEY = "module_name_regex"
_MODULE_NAME_DICT_KEY = "module_name"
_MODULE_NAME_OBJECT_TYPE_ORDER_DICT_KEY = "module_name_object_type_order"

_QCONFIG_STYLE_ORDER = ["global_qconfig", "object_type_qconfigs", "module_name_regex_qconfigs",
                        "module_name_qconfigs", "module_name_object_type_order_qconfigs"]


class FixedQParamsObserver(ObserverBase):
    """Observes nothing: ops with a known output range (sigmoid: [0, 1], tanh: [-1, 1])
    always get the same ``scale`` / ``zero_point``."""

    def __init__(self, scale, zero_point, dtype=dt.quint8, qscheme=per_tensor_affine,
                 quant_min=0, quant_max=255, is_dynamic=False, **kwargs) -> None:
        if is_dynamic:
            raise NotImplementedError("FixedQParamsObserver doesn't support dynamic "
                                      "quantization")
        super().__init__(dtype=dtype, is_dynamic=is_dynamic, **kwargs)
        self.quant_min = quant_min
        self.quant_max = quant_max
        self.register_buffer("scale", tensor([float(scale)], dtype=dt.float32))
        self.register_buffer("zero_point", tensor([int(zero_point)], dtype=dt.int32))
        self.qscheme = _as_qscheme(qscheme)

    def forward(self, x):
        return x

    def calculate_qparams(self):
        return self.scale, self.zero_point


class ReuseInputObserver(ObserverBase):
    """Marks an op (reshape) whose output reuses the observer of its input; an
    unobserved input leaves the output unobserved too."""

    def __init__(self) -> None:
        super().__init__(dt.quint8, is_dynamic=False)

    def forward(self, x):
        return x

    def calculate_qparams(self):
        raise Exception(  # noqa: TRY002 - torch's exception type
            "calculate_qparams should not be called for ReuseInputObserver")


class _NoopObserver(ObserverBase):
    def __init__(self, dtype=dt.float16, custom_op_name="") -> None:
        super().__init__(dtype=dtype, is_dynamic=False)
        self.custom_op = custom_op_name

    def forward(self, x):
        return x


default_fixed_qparams_range_neg1to1_observer = FixedQParamsObserver.with_args(
    scale=2.0 / 256.0, zero_point=128, dtype=dt.quint8, quant_min=0, quant_max=255)
default_fixed_qparams_range_0to1_observer = FixedQParamsObserver.with_args(
    scale=1.0 / 256.0, zero_point=0, dtype=dt.quint8, quant_min=0, quant_max=255)
default_reuse_input_qconfig = QConfig(activation=ReuseInputObserver, weight=_NoopObserver)
default_quint8_weight_qconfig = QConfig(activation=HistogramObserver, weight=MinMaxObserver)


class QConfigMapping:
    """Mapping from model ops to QConfigs (torch's ``QConfigMapping``)::

        qconfig_mapping = (QConfigMapping()
            .set_global(global_qconfig)
            .set_object_type(nn.Linear, qconfig1)
            .set_object_type(F.relu, qconfig1)
            .set_module_name_regex("foo.*bar.*conv[0-9]+", qconfig1)
            .set_module_name("module1", None)          # stays float
            .set_module_name_object_type_order("foo.bar", F.linear, 0, qconfig3))
    """

    def __init__(self) -> None:
        self.global_qconfig: Any = None
        self.object_type_qconfigs: "OrderedDict[Any, Any]" = OrderedDict()
        self.module_name_regex_qconfigs: "OrderedDict[str, Any]" = OrderedDict()
        self.module_name_qconfigs: "OrderedDict[str, Any]" = OrderedDict()
        self.module_name_object_type_order_qconfigs: "OrderedDict[Tuple[str, Any, int], Any]" \
            = OrderedDict()

    def set_global(self, global_qconfig: Any) -> "QConfigMapping":
        """Sets the global (default) QConfig."""
        self.global_qconfig = global_qconfig
        return self

    def set_object_type(self, object_type: Union[Callable, str], qconfig: Any
                        ) -> "QConfigMapping":
        """Sets the QConfig of a module type, a function or a method name."""
        self.object_type_qconfigs[object_type] = qconfig
        return self

    def set_module_name_regex(self, module_name_regex: str, qconfig: Any) -> "QConfigMapping":
        """Sets the QConfig of modules whose name matches (``re.match``, so anchored at
        the start) the regex; regexes are tried in the order they were first set."""
        self.module_name_regex_qconfigs[module_name_regex] = qconfig
        return self

    def set_module_name(self, module_name: str, qconfig: Any) -> "QConfigMapping":
        """Sets the QConfig of the module with this qualified name (and of what it
        contains, unless set more specifically); ``None`` keeps it float."""
        self.module_name_qconfigs[module_name] = qconfig
        return self

    def set_module_name_object_type_order(self, module_name: str, object_type: Callable,
                                          index: int, qconfig: Any) -> "QConfigMapping":
        """Sets the QConfig of the ``index``-th call of ``object_type`` inside module
        ``module_name``."""
        self.module_name_object_type_order_qconfigs[(module_name, object_type, index)] = qconfig
        return self

    def __repr__(self) -> str:
        output = self.__class__.__name__ + " ("
        for style_name in _QCONFIG_STYLE_ORDER:
            output += f"\n {style_name}"
            qconfigs = getattr(self, style_name)
            if isinstance(qconfigs, OrderedDict) and len(qconfigs) > 0:
                for key, qconfig in qconfigs.items():
                    output += f"\n  {key}: {qconfig}"
            else:
                output += f"\n  {qconfigs}"
        return output + "\n)"

    def to_dict(self) -> Dict[str, Any]:
        """The mapping as torch's qconfig_dict: keys "", "object_type",
        "module_name_regex", "module_name", "module_name_object_type_order"."""
        return {
            _GLOBAL_DICT_KEY: self.global_qconfig,
            _OBJECT_TYPE_DICT_KEY: list(self.object_type_qconfigs.items()),
            _MODULE_NAME_REGEX_DICT_KEY: list(self.module_name_regex_qconfigs.items()),
            _MODULE_NAME_DICT_KEY: list(self.module_name_qconfigs.items()),
            _MODULE_NAME_OBJECT_TYPE_ORDER_DICT_KEY: [
                (*k, v) for k, v in self.module_name_object_type_order_qconfigs.items()],
        }

    @classmethod
    def from_dict(cls, qconfig_dict: Dict[str, Any]) -> "QConfigMapping":
        """Builds a mapping from a qconfig_dict (every key optional)."""
        conf = cls()
        if _GLOBAL_DICT_KEY in qconfig_dict:
            conf.set_global(qconfig_dict[_GLOBAL_DICT_KEY])
        for object_type, qconfig in qconfig_dict.get(_OBJECT_TYPE_DICT_KEY, []):
            conf.set_object_type(object_type, qconfig)
        for regex, qconfig in qconfig_dict.get(_MODULE_NAME_REGEX_DICT_KEY, []):
            conf.set_module_name_regex(regex, qconfig)
        for module_name, qconfig in qconfig_dict.get(_MODULE_NAME_DICT_KEY, []):
            conf.set_module_name(module_name, qconfig)
        for module_name, object_type, index, qconfig in qconfig_dict.get(
                _MODULE_NAME_OBJECT_TYPE_ORDER_DICT_KEY, []):
            conf.set_module_name_object_type_order(module_name, object_type, index, qconfig)
        return conf

    # ---- resolution (torch's fx/qconfig_mapping_utils.py rules) ------------------------
    def _object_type(self, object_types: Sequence[Any], fallback: Any) -> Any:
        for t in object_types:
            if t is not None and _hashable(t) and t in self.object_type_qconfigs:
                return self.object_type_qconfigs[t]
        return fallback

    def _module_name_regex(self, module_name: str, fallback: Any) -> Any:
        for pattern, qconfig in self.module_name_regex_qconfigs.items():
            if re.match(pattern, module_name):
                return qconfig
        return fallback

    def _module_name(self, module_name: str, fallback: Any) -> Any:
        while module_name != "":
            if module_name in self.module_name_qconfigs:
                return self.module_name_qconfigs[module_name]
            module_name = module_name.rpartition(".")[0]
        return fallback

    def _for_module(self, object_types: Sequence[Any], module_name: str, fallback: Any) -> Any:
        q = self._object_type(object_types, fallback)
        q = self._module_name_regex(module_name, q)
        return self._module_name(module_name, q)

    def _order(self, module_name: str, object_types: Sequence[Any], index: int,
               fallback: Any) -> Any:
        for (name, otype, idx), q in self.module_name_object_type_order_qconfigs.items():
            if name == module_name and idx == index and any(otype is t or otype == t
                                                            for t in object_types):
                return q
        return fallback

    def _qconfig_for_module_call(self, module: Any, module_name: str, index: int) -> Any:
        """QConfig of a call of a leaf module (torch's call_module node); ``index`` is how
        many calls of this module type its parent made before."""
        q = self._for_module((type(module),), module_name, self.global_qconfig)
        return self._order(module_name.rpartition(".")[0], (type(module),), index, q)

    def _qconfig_for_function(self, functions: Sequence[Any], scope_name: str, scope_type: Any,
                              index: int) -> Any:
        """QConfig of a function call inside module ``scope_name`` (torch's call_function
        node): the function's object type, overridden by the enclosing module's settings."""
        q = self._object_type(functions, self.global_qconfig)
        q = self._for_module((scope_type,), scope_name, q)
        return self._order(scope_name, functions, index, q)


def _hashable(x: Any) -> bool:
    try:
        hash(x)
        return True
    except TypeError:
        return False


def get_default_qconfig_mapping(backend: str = "x86", version: int = 0) -> QConfigMapping:
    """torch's default post-training QConfigMapping for ``backend``: the backend's default
    qconfig globally, per-tensor weights for transposed convs on x86/fbgemm, fixed qparams
    for sigmoid / hardsigmoid / softmax ([0, 1]) and tanh ([-1, 1]), reshape reusing its
    input's observer."""
    from .. import nn
    from ..nn import functional as F
    import ptlite

    qconfig = get_default_qconfig(backend, version)
    if backend in ("fbgemm", "x86"):
        qconfig_transpose = QConfig(activation=qconfig.activation, weight=default_weight_observer)
    else:
        qconfig_transpose = qconfig
    qconfig_layernorm = QConfig(activation=qconfig.activation,
                                weight=default_placeholder_observer)
    m = QConfigMapping().set_global(qconfig).set_object_type("reshape",
                                                             default_reuse_input_qconfig)
    for t in (getattr(nn, "ConvTranspose1d", None), getattr(nn, "ConvTranspose2d", None),
              getattr(nn, "ConvTranspose3d", None), getattr(F, "conv_transpose1d", None),
              getattr(F, "conv_transpose2d", None), getattr(F, "conv_transpose3d", None)):
        if t is not None:
            m.set_object_type(t, qconfig_transpose)
    m.set_object_type(F.layer_norm, qconfig_layernorm)
    m.set_object_type(nn.LayerNorm, qconfig_layernorm)
    m.set_object_type(nn.PReLU, default_quint8_weight_qconfig)
    q01 = QConfig(activation=default_fixed_qparams_range_0to1_observer,
                  weight=default_weight_observer)
    q11 = QConfig(activation=default_fixed_qparams_range_neg1to1_observer,
                  weight=default_weight_observer)
    fixed = [(nn.Hardsigmoid, q01), (F.hardsigmoid, q01), ("hardsigmoid", q01),
             ("hardsigmoid_", q01), (nn.Sigmoid, q01), (ptlite.sigmoid, q01), ("sigmoid", q01),
             ("sigmoid_", q01), (nn.Softmax, q01), (nn.Tanh, q11), (ptlite.tanh, q11),
             ("tanh", q11), ("tanh_", q11)]
    for t, q in fixed:
        m.set_object_type(t, q)
    return m


def _activation_is(qconfig: Any, cls: type) -> bool:
    """Whether ``qconfig.activation`` builds a ``cls`` (without building it)."""
    target = getattr(qconfig, "activation", None)
    for _ in range(16):  # with_args wrappers: _PartialWrapper(p=functools.partial(cls))
        if hasattr(target, "p"):
            target = target.p
        elif hasattr(target, "func"):
            target = target.func
        else:
            break
    try:
        return isinstance(target, type) and issubclass(target, cls)
    except TypeError:
        return False


def _describe(qconfig: Optional[Any]) -> str:
    return "None" if qconfig is None else repr(qconfig)
