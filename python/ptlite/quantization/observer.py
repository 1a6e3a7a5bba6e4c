"""Quantization observers with torch.ao.quantization's names and arguments.

The statistics live in the C engine (csrc/compiler/observer.c); each module mirrors them
into torch's buffers (``min_val``, ``max_val``, ``histogram``) after every ``forward`` so
``state_dict()`` and attribute access look like torch's.
"""
from __future__ import annotations

import warnings

import numpy as np
from functools import partial
from typing import Any, Tuple

from .. import _C
from .. import _dtype as dt
from .._tensor import Tensor, tensor
from ..nn.modules.module import Module

__all__ = [
    "qscheme", "per_tensor_affine", "per_channel_affine", "per_tensor_symmetric",
    "per_channel_symmetric", "ObserverBase", "UniformQuantizationObserverBase",
    "MinMaxObserver", "MovingAverageMinMaxObserver", "PerChannelMinMaxObserver",
    "MovingAveragePerChannelMinMaxObserver", "HistogramObserver", "PlaceholderObserver",
    "NoopObserver", "PercentileObserver", "EntropyObserver",
]


# one set of qscheme objects for ptlite (ptlite.per_tensor_affine is this object)
from .._ops.quant import (per_channel_affine, per_channel_affine_float_qparams,  # noqa: E402
                          per_channel_symmetric, per_tensor_affine, per_tensor_symmetric,
                          qscheme)

_QSCHEMES = {q.name: q for q in (per_tensor_affine, per_channel_affine, per_tensor_symmetric,
                                 per_channel_symmetric, per_channel_affine_float_qparams)}


def _as_qscheme(q: Any):
    """Our qscheme objects, their names, or anything whose str ends in one (torch's)."""
    if isinstance(q, qscheme):
        return q
    name = str(q).rsplit(".", 1)[-1]
    return _QSCHEMES.get(name, q)


_ALLOWED_DTYPES = (dt.qint8, dt.quint8, dt.qint32, dt.int8, dt.uint8, dt.int32)
_FLOAT32_EPS = 1.1920928955078125e-07  # torch.finfo(torch.float32).eps

# kinds of csrc/compiler/observer.h
_MINMAX, _MOVING_AVG, _HISTOGRAM, _PERCENTILE, _ENTROPY = range(5)


class _PartialWrapper:
    """What ``Observer.with_args(...)`` returns: a factory of observers (torch's)."""

    def __init__(self, p) -> None:
        self.p = p
        self.callable_args = {}

    def __call__(self, *args, **keywords):
        for arg_name in self.callable_args:
            if arg_name not in keywords:
                keywords = {**keywords, arg_name: self.callable_args[arg_name]()}
        return self.p(*args, **keywords)

    def __repr__(self) -> str:
        return self.p.__repr__() + self.callable_args.__repr__()

    def with_args(self, **kwargs):
        return _with_args(self, **kwargs)

    def with_callable_args(self, **kwargs):
        result = _PartialWrapper(p=self.p)
        result.callable_args = {**self.callable_args, **kwargs}
        return result


def _with_args(cls_or_self, **kwargs):
    return _PartialWrapper(partial(cls_or_self, **kwargs))


def _with_callable_args(cls_or_self, **kwargs):
    return _PartialWrapper(partial(cls_or_self)).with_callable_args(**kwargs)


class ObserverBase(Module):
    """Base observer: ``forward`` records statistics, ``calculate_qparams`` gives
    (scale, zero_point)."""

    def __init__(self, dtype, is_dynamic: bool = False) -> None:
        super().__init__()
        self.dtype = dtype
        self.is_dynamic = is_dynamic

    def forward(self, x):
        raise NotImplementedError

    def calculate_qparams(self, **kwargs):
        raise NotImplementedError

    with_args = classmethod(_with_args)
    with_callable_args = classmethod(_with_callable_args)


class UniformQuantizationObserverBase(ObserverBase):
    """Common base of the observers whose qparams come from a (min, max) range."""

    _version = 3
    _kind = _MINMAX

    def __init__(self, dtype=dt.quint8, qscheme=per_tensor_affine, reduce_range=False,
                 quant_min=None, quant_max=None, factory_kwargs=None,
                 eps=_FLOAT32_EPS, is_dynamic=False, *, _extra=None, **kwargs) -> None:
        super().__init__(dtype=dtype, is_dynamic=is_dynamic, **kwargs)
        qscheme = _as_qscheme(qscheme)
        self.qscheme = qscheme
        if reduce_range:
            warnings.warn(
                "Please use quant_min and quant_max to specify the range for observers. "
                "reduce_range will be deprecated in a future release of PyTorch.",
                stacklevel=2)
        self.reduce_range = reduce_range
        self.register_buffer("eps", tensor([float(eps)], dtype=dt.float32))
        if not isinstance(qscheme, type(per_tensor_affine)):
            raise AssertionError(
                "Default Observer only works for per_tensor_affine, per_tensor_symmetric, "
                "per_channel_affine, per_channel_symmetric and per_channel_float_qparams "
                "quantization scheme")
        if dtype not in _ALLOWED_DTYPES:
            raise AssertionError(f"Default Observer only works for {_ALLOWED_DTYPES} data type")
        self.has_customized_qrange = (quant_min is not None) and (quant_max is not None)
        ex = _extra or {}
        self._new_args = (
            self._kind, dtype.code, qscheme.code, bool(reduce_range),
            quant_min if self.has_customized_qrange else None,
            quant_max if self.has_customized_qrange else None,
            float(eps), float(ex.get("averaging_constant", 0.01)), int(ex.get("ch_axis", 0)),
            int(ex.get("bins", 2048)), int(ex.get("upsample_rate", 16)),
            float(ex.get("percentile", 99.99)))
        # quant range validation (torch's messages, AssertionError) happens in C
        self._h = _C.observer_new(*self._new_args)
        self.quant_min, self.quant_max = _C.observer_quant_range(self._h)

    # -- state mirroring ----------------------------------------------------------------
    def _per_channel(self) -> bool:
        return self.qscheme in (per_channel_affine, per_channel_symmetric,
                                per_channel_affine_float_qparams)

    def _pull(self) -> None:
        """Copies the C state into the buffers."""
        mn, mx = _C.observer_minmax(self._h)
        if not self._per_channel():
            mn, mx = mn.reshape(()), mx.reshape(())
        self._buffers["min_val"] = mn
        self._buffers["max_val"] = mx
        if "histogram" in self._buffers:
            self._buffers["histogram"] = _C.observer_histogram(self._h)

    def _push(self) -> None:
        """Copies the buffers (e.g. after load_state_dict) into the C state."""
        mn = self._buffers["min_val"].float().contiguous().reshape(-1)
        mx = self._buffers["max_val"].float().contiguous().reshape(-1)
        _C.observer_set_minmax(self._h, mn, mx)
        if "histogram" in self._buffers:
            _C.observer_set_histogram(self._h, self._buffers["histogram"].float().contiguous())

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # per-channel min/max may change length (torch resizes them too)
        for name in ("min_val", "max_val"):
            v = state_dict.get(prefix + name)
            if v is not None and tuple(v.shape) != tuple(self._buffers[name].shape):
                self._buffers[name] = tensor(v.numpy() if hasattr(v, "numpy") else v,
                                             dtype=dt.float32)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        self._push()

    def _observe(self, x_orig):
        if not isinstance(x_orig, Tensor):
            raise TypeError(f"{type(self).__name__}: expected a Tensor input, got "
                            f"{type(x_orig).__name__}")
        if not x_orig.dtype.is_floating_point:
            raise TypeError(f"{type(self).__name__}: expected a floating point input, got "
                            f"{x_orig.dtype}")
        if x_orig.numel() == 0:
            return x_orig
        _C.observer_update(self._h, x_orig)
        self._pull()
        return x_orig

    def forward(self, x_orig):
        return self._observe(x_orig)

    def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
        scale, zp, valid = _C.observer_qparams(self._h)
        if not valid:
            warnings.warn("must run observer before calling calculate_qparams. "
                          "Returning default values.", stacklevel=2)
            return scale, zp
        if self.qscheme in (per_tensor_affine, per_channel_affine):
            zp = zp.to(dt.int32)  # torch's affine zero points come out of .to(torch.int)
        return scale, zp

    def merge(self, other: "UniformQuantizationObserverBase") -> "UniformQuantizationObserverBase":
        """Folds the statistics of ``other`` (same class and configuration) into this
        observer, as if this one had also seen ``other``'s batches."""
        if type(other) is not type(self):
            raise TypeError(f"merge: expected a {type(self).__name__}, got "
                            f"{type(other).__name__}")
        _C.observer_merge(self._h, other._h)
        self._pull()
        return self

    def reset_min_max_vals(self) -> None:
        _C.observer_reset(self._h)
        self._pull()

    def extra_repr(self) -> str:
        return f"min_val={_fmt(self.min_val)}, max_val={_fmt(self.max_val)}"

    # the engine handle is not picklable: the buffers carry the whole state
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_h", None)
        return state

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self.__dict__["_h"] = _C.observer_new(*self._new_args)
        self._push()


def _fmt(t: Tensor) -> str:
    # torch's Tensor.__format__: a 0-d tensor formats as its Python number
    return str(t.item()) if t.ndim == 0 else str(t)


def _no_per_channel(name: str, qs) -> None:
    if qs not in (per_tensor_affine, per_tensor_symmetric) and isinstance(qs, qscheme):
        raise NotImplementedError(f"{name}'s qscheme only support torch.per_tensor_symmetric "
                                  "and torch.per_tensor_affine.")


def _no_symmetric_reduce(qs, reduce_range, dtype) -> None:
    if qs in (per_tensor_symmetric, per_channel_symmetric) and reduce_range and \
            dtype == dt.quint8:
        raise NotImplementedError("Cannot reduce range for symmetric quantization for quint8")


class MinMaxObserver(UniformQuantizationObserverBase):
    """Running min/max of the tensors seen -> per-tensor qparams."""

    def __init__(self, dtype=dt.quint8, qscheme=per_tensor_affine, reduce_range=False,
                 quant_min=None, quant_max=None, factory_kwargs=None, eps=_FLOAT32_EPS,
                 is_dynamic=False, **kwargs) -> None:
        qscheme = _as_qscheme(qscheme)
        _no_per_channel("MinMaxObserver", qscheme)
        extra = kwargs.pop("_extra", None)
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max, factory_kwargs=factory_kwargs,
                         eps=eps, is_dynamic=is_dynamic, _extra=extra, **kwargs)
        self.register_buffer("min_val", tensor(float("inf")))
        self.register_buffer("max_val", tensor(float("-inf")))
        _no_symmetric_reduce(self.qscheme, self.reduce_range, self.dtype)


class MovingAverageMinMaxObserver(MinMaxObserver):
    """min/max as exponential moving averages: min += c * (batch_min - min)."""

    _kind = _MOVING_AVG

    def __init__(self, averaging_constant=0.01, dtype=dt.quint8, qscheme=per_tensor_affine,
                 reduce_range=False, quant_min=None, quant_max=None, eps=_FLOAT32_EPS,
                 is_dynamic=False, **kwargs) -> None:
        qscheme = _as_qscheme(qscheme)
        if qscheme not in (per_tensor_affine, per_tensor_symmetric):
            raise NotImplementedError(
                "MovingAverageMinMaxObserver's qscheme only support torch.per_tensor_symmetric "
                f"and torch.per_tensor_affine. but got: {qscheme}")
        if is_dynamic and averaging_constant != 1:
            raise NotImplementedError(
                "MovingAverageMinMaxObserver doesn't support dynamic quantization for "
                f"averaging constant of {averaging_constant}")
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max, eps=eps,
                         is_dynamic=is_dynamic,
                         _extra={"averaging_constant": averaging_constant}, **kwargs)
        self.averaging_constant = averaging_constant


class PerChannelMinMaxObserver(UniformQuantizationObserverBase):
    """Running min/max per channel along ``ch_axis`` -> per-channel qparams."""

    def __init__(self, ch_axis=0, dtype=dt.quint8, qscheme=per_channel_affine,
                 reduce_range=False, quant_min=None, quant_max=None, factory_kwargs=None,
                 eps=_FLOAT32_EPS, is_dynamic=False, **kwargs) -> None:
        qscheme = _as_qscheme(qscheme)
        name = type(self).__name__ if type(self) in (
            PerChannelMinMaxObserver, MovingAveragePerChannelMinMaxObserver) \
            else "PerChannelMinMaxObserver"
        float_qparams = qscheme is per_channel_affine_float_qparams
        if qscheme not in (per_channel_affine, per_channel_symmetric) and not float_qparams:
            raise NotImplementedError(
                f"{name}'s qscheme only support torch.per_channel_symmetric, "
                "torch.per_channel_affine and torch.per_channel_affine_float_qparams.")
        if is_dynamic:
            raise NotImplementedError(f"{name} doesn't support dynamic quantization")
        extra = dict(kwargs.pop("_extra", None) or {})
        extra["ch_axis"] = ch_axis
        # float qparams keep the same running min/max as affine; only the qparams differ
        super().__init__(dtype=dtype, qscheme=per_channel_affine if float_qparams else qscheme,
                         reduce_range=reduce_range, quant_min=quant_min, quant_max=quant_max,
                         factory_kwargs=factory_kwargs, eps=eps, is_dynamic=is_dynamic,
                         _extra=extra, **kwargs)
        if float_qparams:
            self.qscheme = per_channel_affine_float_qparams
        self.ch_axis = ch_axis
        self.register_buffer("min_val", tensor([], dtype=dt.float32))
        self.register_buffer("max_val", tensor([], dtype=dt.float32))
        _no_symmetric_reduce(self.qscheme, self.reduce_range, self.dtype)

    def reset_min_max_vals(self) -> None:
        _C.observer_reset(self._h)
        self._pull()

    def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
        if self.qscheme is not per_channel_affine_float_qparams:
            return super().calculate_qparams()
        # torch's float qparams (embedding tables): scale = (max - min) / (qmax - qmin),
        # zero_point = -min / scale as a float, so q = round((x - min) / scale)
        mn, mx, valid = _C.observer_minmax(self._h) + (_C.observer_qparams(self._h)[2],)
        if not valid:
            warnings.warn("must run observer before calling calculate_qparams. "
                          "Returning default values.", stacklevel=2)
            return tensor([1.0]), tensor([0.0])
        mn = np.asarray(mn.numpy(), dtype=np.float32)
        mx = np.asarray(mx.numpy(), dtype=np.float32)
        scale = (mx - mn) / np.float32(self.quant_max - self.quant_min)
        eps = np.float32(self.eps.numpy().reshape(-1)[0])
        scale = np.where(scale > eps, scale, np.float32(1.0)).astype(np.float32)
        zero_point = (np.float32(-1.0) * mn / scale).astype(np.float32)
        return tensor(scale), tensor(zero_point)


class MovingAveragePerChannelMinMaxObserver(PerChannelMinMaxObserver):
    """Per-channel moving-average min/max."""

    _kind = _MOVING_AVG

    def __init__(self, averaging_constant=0.01, ch_axis=0, dtype=dt.quint8,
                 qscheme=per_channel_affine, reduce_range=False, quant_min=None, quant_max=None,
                 eps=_FLOAT32_EPS, is_dynamic=False, **kwargs) -> None:
        super().__init__(ch_axis=ch_axis, dtype=dtype, qscheme=qscheme,
                         reduce_range=reduce_range, quant_min=quant_min, quant_max=quant_max,
                         eps=eps, is_dynamic=is_dynamic,
                         _extra={"averaging_constant": averaging_constant}, **kwargs)
        self.averaging_constant = averaging_constant


class HistogramObserver(UniformQuantizationObserverBase):
    """torch's histogram observer: a running ``bins``-bin histogram; qparams from the
    L2-error-minimising range (computed in C)."""

    _kind = _HISTOGRAM

    def __init__(self, bins: int = 2048, dtype=dt.quint8, qscheme=per_tensor_affine,
                 reduce_range=False, quant_min=None, quant_max=None, factory_kwargs=None,
                 eps=_FLOAT32_EPS, is_dynamic=False, *, upsample_rate: int = 16,
                 **kwargs) -> None:
        qscheme = _as_qscheme(qscheme)
        name = type(self).__name__
        if qscheme not in (per_tensor_affine, per_tensor_symmetric):
            raise NotImplementedError(f"{name}'s qscheme only support "
                                      "torch.per_tensor_symmetric and torch.per_tensor_affine.")
        if is_dynamic:
            raise NotImplementedError(f"{name} doesn't support dynamic quantization")
        extra = dict(kwargs.pop("_extra", None) or {})
        extra.update(bins=bins, upsample_rate=upsample_rate)
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max, factory_kwargs=factory_kwargs,
                         eps=eps, is_dynamic=is_dynamic, _extra=extra, **kwargs)
        self.bins = bins
        self.register_buffer("histogram", _C.observer_histogram(self._h))
        self.register_buffer("min_val", tensor(float("inf")))
        self.register_buffer("max_val", tensor(float("-inf")))
        self.dst_nbins = 2 ** (32 if dtype in (dt.qint32, dt.int32) else 8)
        self.upsample_rate = upsample_rate


class PercentileObserver(HistogramObserver):
    """Ours: clips the range at a percentile of the observed values (a histogram, as
    HistogramObserver's). Affine schemes keep the central ``percentile`` % of x
    ((100 - p) / 2 % cut from each tail); symmetric ones use the p-th percentile of |x|."""

    _kind = _PERCENTILE

    def __init__(self, percentile: float = 99.99, bins: int = 2048, dtype=dt.quint8,
                 qscheme=per_tensor_affine, reduce_range=False, quant_min=None,
                 quant_max=None, factory_kwargs=None, eps=_FLOAT32_EPS, *,
                 upsample_rate: int = 16, **kwargs) -> None:
        if not 0 < percentile <= 100:
            raise ValueError(f"PercentileObserver: percentile must be in (0, 100], got "
                             f"{percentile}")
        super().__init__(bins=bins, dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max,
                         factory_kwargs=factory_kwargs, eps=eps, upsample_rate=upsample_rate,
                         _extra={"percentile": percentile}, **kwargs)
        self.percentile = percentile


class EntropyObserver(HistogramObserver):
    """Ours: TensorRT-style entropy calibration: the clip threshold t minimising
    KL(P || Q) between the |x| histogram and its quantized version; range [-t, t]
    (intersected with [min, max] for affine schemes)."""

    _kind = _ENTROPY


class PlaceholderObserver(ObserverBase):
    """Does nothing; passes its configuration on (e.g. float16 quantization)."""

    def __init__(self, dtype=dt.float32, custom_op_name="", compute_dtype=None,
                 quant_min=None, quant_max=None, qscheme=None, eps=None,
                 is_dynamic=False) -> None:
        super().__init__(dtype=dtype, is_dynamic=is_dynamic)
        if qscheme is None:
            qscheme = per_tensor_affine
        if eps is None:
            eps = _FLOAT32_EPS
        self.dtype = dtype
        self.qscheme = _as_qscheme(qscheme)
        self.quant_min = quant_min
        self.quant_max = quant_max
        self.eps = eps
        self.custom_op = custom_op_name
        if compute_dtype:
            self.is_dynamic = True
            warnings.warn("Please use `is_dynamic` instead of `compute_dtype`. `compute_dtype` "
                          "will be deprecated in a future release of PyTorch.", stacklevel=2)

    def forward(self, x):
        return x

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}, is_dynamic={self.is_dynamic}"

    def calculate_qparams(self):
        raise Exception("calculate_qparams should not be called for PlaceholderObserver")  # noqa: TRY002


class NoopObserver(ObserverBase):
    """Does nothing; passes its configuration on (float16 quantization)."""

    def __init__(self, dtype=dt.float16, custom_op_name="") -> None:
        super().__init__(dtype=dtype, is_dynamic=False)
        self.dtype = dtype
        self.custom_op = custom_op_name

    def forward(self, x):
        return x

    def calculate_qparams(self):
        raise Exception("calculate_qparams should not be called for NoopObserver")  # noqa: TRY002
