"""Helpers shared by the quantized modules: weight quantization from an observer and the
output qparams of a prepared module, with errors that name the module."""
from __future__ import annotations

from typing import Any, Tuple

from ...._ops import quant as _q
from .... import _dtype as dt
from ...._tensor import Tensor, tensor

__all__ = ["_quantize_weight", "_activation_qparams", "_weight_observer", "_WeightBiasState"]


def _quantize_weight(float_wt: Tensor, observer: Any) -> Tensor:
    """Quantizes a float weight with the qparams of ``observer`` (which has seen it)."""
    wt_scale, wt_zp = observer.calculate_qparams()
    scheme = observer.qscheme
    if scheme in (_q.per_tensor_affine, _q.per_tensor_symmetric):
        return _q.quantize_per_tensor(float_wt.float(), float(wt_scale), int(wt_zp), observer.dtype)
    if scheme in (_q.per_channel_affine, _q.per_channel_symmetric):
        return _q.quantize_per_channel(float_wt.float(), wt_scale.float(), wt_zp.long(),
                                       int(observer.ch_axis), observer.dtype)
    raise RuntimeError(f"Unsupported qscheme {scheme!r} for weight quantization")


def _weight_observer(mod: Any, name: str) -> Any:
    """A fresh weight observer from ``mod.qconfig``, having observed ``mod.weight``."""
    qconfig = getattr(mod, "qconfig", None)
    if qconfig is None:
        raise RuntimeError(
            f"{name}.from_float: the float module {type(mod).__name__} has no qconfig. "
            "Set model.qconfig (e.g. ptlite.quantization.get_default_qconfig('qnnpack')) and "
            "call prepare() before convert().")
    obs = qconfig.weight()
    obs(mod.weight)
    return obs


def _activation_qparams(mod: Any, name: str) -> Tuple[float, int]:
    """(scale, zero_point) of the output observer a prepared module carries."""
    obs = getattr(mod, "activation_post_process", None)
    if obs is None:
        raise RuntimeError(
            f"{name}.from_float: the float module {type(mod).__name__} has no output observer "
            "(activation_post_process). Call ptlite.quantization.prepare(model) and run "
            "calibration data through it before convert().")
    if getattr(obs, "_h", None) is not None:
        from .... import _C
        if not _C.observer_qparams(obs._h)[2]:
            raise RuntimeError(
                f"{name}.from_float: the output observer of {type(mod).__name__} has seen no "
                "data. Run calibration data through the prepared model before convert().")
    scale, zp = obs.calculate_qparams()
    return float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0])


class _WeightBiasState:
    """state_dict keys of a weighted quantized module, as torch's: weight (quantized),
    bias (float), scale and zero_point (of the output). Mixed into Module subclasses that
    define set_weight_bias and keep ``_weight``/``_bias``."""

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "weight"] = self._weight
        destination[prefix + "bias"] = self._bias
        destination[prefix + "scale"] = tensor(self.scale, dtype=dt.float32)
        destination[prefix + "zero_point"] = tensor(self.zero_point, dtype=dt.int64)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: Any,
                              strict: bool, missing_keys: Any, unexpected_keys: Any,
                              error_msgs: Any) -> None:
        for key in ("weight", "bias", "scale", "zero_point"):
            if prefix + key not in state_dict:
                if strict:
                    missing_keys.append(prefix + key)
                return
        self.set_weight_bias(state_dict[prefix + "weight"], state_dict[prefix + "bias"])
        self.scale = float(state_dict[prefix + "scale"])
        self.zero_point = int(state_dict[prefix + "zero_point"])
        super()._load_from_state_dict({}, prefix, local_metadata, False, missing_keys,
                                      unexpected_keys, error_msgs)

