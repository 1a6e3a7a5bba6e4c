"""Dynamically quantized Linear (torch.ao.nn.quantized.dynamic.Linear).

int8 weights (qint8, per tensor or per channel along the output dim) with the
input quantized at every call from its own min/max, or float16 weights with
float32 arithmetic. Numerics follow torch's engine exactly (see
csrc/runtime/kernels/qdynamic.c). torch's dynamic modules always pass
reduce_range=True to quantized::linear_dynamic; what it does is decided by the
packed weight, i.e. by ``backends.quantized.engine`` when the weight was packed
(set_weight_bias, from_float, load_state_dict): 'qnnpack' ignores it (activations
on [0, 255]), fbgemm ('x86', 'fbgemm'; 'onednn' prepacks are close but not bit
identical) honours it ([0, 127], fma epilogue). ptlite binds it the same way: a
module quantized under 'x86' keeps x86 numerics when the engine changes later.
"""
from __future__ import annotations

from typing import Any, Optional

from .... import _dtype as dt
from .... import backends as _backends
from ...._ops import quant as _q
from ...._ops.qdynamic import linear_dynamic, linear_fp16
from ...._tensor import Tensor, zeros
from ...modules.module import Module

__all__ = ["Linear", "quantize_weight", "weight_observer_for", "to_fp16_saturated",
           "engine_reduce_range"]

# engines whose dynamic linear quantizes activations with reduce_range (torch's fbgemm
# PackedLinearWeight; onednn's prepack also honours it)
_REDUCE_RANGE_ENGINES = frozenset(("x86", "fbgemm", "onednn"))


def engine_reduce_range() -> bool:
    """Whether a weight packed now gets reduce_range numerics: true under the x86,
    fbgemm and onednn engines, false under qnnpack (which ignores the flag)."""
    return _backends.quantized.engine in _REDUCE_RANGE_ENGINES

# (torch also takes intrinsic LinearReLU, into its own fused class: not in ptlite yet)
_FLOAT_TYPES = ("Linear", "NonDynamicallyQuantizableLinear")


def quantize_weight(w: Tensor, observer) -> Tensor:
    """The float weight quantized with the qparams of ``observer`` (already run on it),
    as torch's ``_quantize_weight``: per tensor or per channel, qint8."""
    scale, zp = observer.calculate_qparams()
    if observer.qscheme in (_q.per_tensor_symmetric, _q.per_tensor_affine):
        return _q.quantize_per_tensor(w.float(), float(scale), int(zp), dt.qint8)
    if observer.qscheme in (_q.per_channel_symmetric, _q.per_channel_affine):
        return _q.quantize_per_channel(w.float(), scale.float(), zp.to(dt.int64),
                                       observer.ch_axis, dt.qint8)
    raise ValueError(f"Unsupported qscheme: {observer.qscheme}")


def to_fp16_saturated(w: Tensor) -> Tensor:
    """float16 copy of a weight, saturated to float16's finite range as torch's
    fp16 prepack does (it warns; values beyond +-65504 become +-65504, not inf)."""
    if w.dtype == dt.float16:
        return w
    return w.detach().float().clamp(-65504.0, 65504.0).to(dt.float16)


def weight_observer_for(mod: Module):
    """The constructor of ``mod``'s weight observer: its qconfig's, else torch's
    default_dynamic_qconfig's."""
    qconfig = getattr(mod, "qconfig", None)
    if qconfig is not None:
        return qconfig.weight
    from ....quantization.qconfig import default_dynamic_qconfig
    return default_dynamic_qconfig.weight


def _check_dtype(dtype) -> Any:
    if dtype not in (dt.qint8, dt.float16):
        raise RuntimeError(f"Unsupported dtype specified for dynamic quantized Linear: {dtype}")
    return dtype


class Linear(Module):
    r"""A dynamically quantized linear module: float in, float out; weight qint8
    (or float16), activations quantized per call. ``weight()`` / ``bias()`` return them.

    Examples::

        >>> m = ptlite.ao.nn.quantized.dynamic.Linear(20, 30)
        >>> output = m(ptlite.randn(128, 20))
    """

    _version = 4

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype: Any = dt.qint8) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self._dtype = _check_dtype(dtype)
        if dtype == dt.qint8:
            w = _q.quantize_per_tensor(zeros(out_features, in_features), 1.0, 0, dt.qint8)
        else:
            w = zeros(out_features, in_features, dtype=dt.float16)
        self.set_weight_bias(w, zeros(out_features) if bias_ else None)
        # torch's quantized Linear carries an (unused for dynamic) output scale / zero point
        self.scale = 1.0
        self.zero_point = 0

    # ---- weights --------------------------------------------------------------------------
    def set_weight_bias(self, w: Tensor, b: Optional[Tensor]) -> None:
        if self._dtype == dt.qint8:
            if w.dtype != dt.qint8:
                raise RuntimeError("quantized::linear_prepack (qnnpack): expected a qint8 "
                                   f"weight, got {w.dtype}")
        else:
            w = to_fp16_saturated(w)
        if w.dim() != 2:
            raise RuntimeError(f"The weight tensor for linear_prepack must be 2-d, got "
                               f"{list(w.shape)}")
        if b is not None:
            b = b.detach().float().contiguous() if hasattr(b, "detach") else b.float()
            if b.dim() != 1 or b.size(0) != w.size(0):
                raise RuntimeError(f"bias should be a vector (1D Tensor) of size "
                                   f"{w.size(0)}, got {list(b.shape)}")
        self.__dict__["_w"] = w
        self.__dict__["_b"] = b
        # torch's linear_prepack binds the engine here, not at forward
        self.__dict__["_rr"] = engine_reduce_range()

    def _weight_bias(self):
        return self._w, self._b

    def weight(self) -> Tensor:
        if self._dtype == dt.float16:
            return self._w.float()
        return self._w

    def bias(self) -> Optional[Tensor]:
        return self._b

    # ---- forward --------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise RuntimeError("The dimension of input tensor should be larger than or equal "
                               "to 2")
        if self._dtype == dt.qint8:
            return linear_dynamic(x, self._w, self._b, self._rr)
        return linear_fp16(x, self._w, self._b)

    # ---- names, repr, state ---------------------------------------------------------------
    def _get_name(self) -> str:
        return "DynamicQuantizedLinear"

    def extra_repr(self) -> str:
        s = (f"in_features={self.in_features}, out_features={self.out_features}, "
             f"dtype={self._dtype!r}")
        if self._dtype == dt.qint8:
            s += f", qscheme={self._w.qscheme()!r}"
        return s

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        # torch's keys: scale, zero_point, _packed_params.dtype, _packed_params._packed_params
        destination[prefix + "scale"] = self.scale
        destination[prefix + "zero_point"] = self.zero_point
        destination[prefix + "_packed_params.dtype"] = self._dtype
        destination[prefix + "_packed_params._packed_params"] = self._weight_bias()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        for key in ("scale", "zero_point", "_packed_params.dtype",
                    "_packed_params._packed_params"):
            if prefix + key not in state_dict and strict:
                missing_keys.append(prefix + key)
        if prefix + "_packed_params.dtype" in state_dict:
            self._dtype = _check_dtype(state_dict[prefix + "_packed_params.dtype"])
        if prefix + "_packed_params._packed_params" in state_dict:
            w, b = state_dict[prefix + "_packed_params._packed_params"]
            self.set_weight_bias(w, b)
        if prefix + "scale" in state_dict:
            self.scale = float(state_dict[prefix + "scale"])
        if prefix + "zero_point" in state_dict:
            self.zero_point = int(state_dict[prefix + "zero_point"])

    # ---- conversion -----------------------------------------------------------------------
    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "Linear":
        """Creates a dynamic quantized Linear from a float Linear: its qconfig's weight
        observer (else default_dynamic_qconfig's) gives the dtype and qparams."""
        if type(mod).__name__ not in _FLOAT_TYPES:
            raise AssertionError("nn.quantized.dynamic.Linear.from_float only works for "
                                 "nn.Linear, got " + type(mod).__name__)
        weight_observer = weight_observer_for(mod)()
        dtype = weight_observer.dtype
        if dtype not in (dt.qint8, dt.float16):
            raise AssertionError("The only supported dtypes for dynamic quantized linear are "
                                 f"qint8 and float16 got: {dtype}")
        weight_observer(mod.weight)
        if dtype == dt.qint8:
            qweight = quantize_weight(mod.weight.detach().float(), weight_observer)
        else:
            qweight = mod.weight.detach().float()
        qlinear = cls(mod.in_features, mod.out_features, dtype=dtype)
        qlinear.set_weight_bias(qweight, mod.bias)
        return qlinear

    @classmethod
    def from_reference(cls, ref_qlinear) -> "Linear":
        qlinear = cls(ref_qlinear.in_features, ref_qlinear.out_features,
                      dtype=ref_qlinear.weight_dtype)
        qlinear.set_weight_bias(ref_qlinear.get_quantized_weight(), ref_qlinear.bias)
        return qlinear
