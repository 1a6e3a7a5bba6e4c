"""Quantized convolutions: Conv1d, Conv2d, ConvTranspose2d (torch.ao.nn.quantized's).

The weight is a qint8 tensor (per tensor or per channel); the bias stays float32 and the
kernel quantizes it with input_scale * weight_scale, as torch's qnnpack engine does. The C
kernel caches its packed copy on the weight tensor, so nothing is repacked per call."""
from __future__ import annotations

from typing import Any, Optional, Tuple

from .... import _dtype as dt
from ...._ops import qconv as _qc
from ...._ops import quant as _q
from ...._tensor import Tensor, zeros
from ...modules import conv as _fconv
from ...modules.module import Module
from ...modules.utils import _pair, _single
from .utils import _WeightBiasState, _activation_qparams, _quantize_weight, _weight_observer

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]


class _ConvNd(_WeightBiasState, Module):
    _FLOAT_MODULE: Any = None
    _FUSED_FLOAT: Any = None  # the nn.intrinsic container a fused subclass converts from
    _relu = False

    def _init(self, in_channels: int, out_channels: int, kernel_size: Tuple[int, ...],
              stride: Tuple[int, ...], padding: Tuple[int, ...], dilation: Tuple[int, ...],
              transposed: bool, output_padding: Tuple[int, ...], groups: int, bias: bool,
              padding_mode: str = "zeros", dtype: Any = None) -> None:
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            raise NotImplementedError(f"quantized {type(self).__name__}: string padding "
                                      f"{padding!r} is not supported; give integers")
        if padding_mode != "zeros":
            raise NotImplementedError(f"quantized {type(self).__name__}: padding_mode "
                                      f"{padding_mode!r} is not supported (only 'zeros')")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        if transposed:
            wshape = [in_channels, out_channels // groups]
        else:
            wshape = [out_channels, in_channels // groups]
        qweight = _q.quantize_per_tensor(zeros(wshape + list(kernel_size)), 1.0, 0, dt.qint8)
        self.set_weight_bias(qweight, zeros(out_channels) if bias else None)
        self.scale = 1.0
        self.zero_point = 0

    def set_weight_bias(self, w: Tensor, b: Optional[Tensor]) -> None:
        self._weight = w
        self._bias = b.float().contiguous() if b is not None else None
        self._prepare_weight()

    def _prepare_weight(self) -> None:
        self._w4 = self._weight

    def weight(self) -> Tensor:
        return self._weight

    def bias(self) -> Optional[Tensor]:
        return self._bias

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}, scale={self.scale}, zero_point={self.zero_point}")
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self._bias is None:
            s += ", bias=False"
        return s

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "_ConvNd":
        """Creates a quantized module from a prepared (observed, calibrated) float module."""
        name = "Quantized" + cls.__name__
        conv = mod
        fused = cls._FUSED_FLOAT
        if fused is not None:
            if type(mod) is not fused:
                raise TypeError(f"{name}.from_float only works for {fused.__name__}, got "
                                f"{type(mod).__name__}")
            conv = mod[0]
        elif type(mod) is not cls._FLOAT_MODULE:
            raise TypeError(f"{name}.from_float only works for "
                            f"{cls._FLOAT_MODULE.__name__}, got {type(mod).__name__}")
        scale, zero_point = _activation_qparams(mod, name)
        conv.qconfig = getattr(mod, "qconfig", None)
        wobs = _weight_observer(conv, name)
        if wobs.dtype != dt.qint8:
            raise RuntimeError(f"{name}.from_float: weight observer dtype must be qint8, got "
                               f"{wobs.dtype}")
        qweight = _quantize_weight(conv.weight.float(), wobs)
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                conv.padding, *cls._extra_args(conv), groups=conv.groups,
                bias=conv.bias is not None, padding_mode=conv.padding_mode)
        q.set_weight_bias(qweight, conv.bias.detach() if conv.bias is not None else None)
        q.scale, q.zero_point = scale, zero_point
        return q


class Conv1d(_ConvNd):
    r"""Applies a 1D convolution over a quantized input signal composed of several
    quantized input planes. Same arguments as :class:`~ptlite.nn.Conv1d`."""

    _FLOAT_MODULE = _fconv.Conv1d

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self._init(in_channels, out_channels, _single(kernel_size), _single(stride),
                   padding if isinstance(padding, str) else _single(padding),
                   _single(dilation), False, _single(0), groups, bias, padding_mode)

    @staticmethod
    def _extra_args(conv: Module) -> tuple:
        return (conv.dilation,)

    def _prepare_weight(self) -> None:
        self._w4 = self._weight.unsqueeze(2)  # [O, I/g, 1, k]: run as a 2-d conv

    def _get_name(self) -> str:
        return "QuantizedConv1d"

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 3:
            raise ValueError("Input shape must be `(N, C, L)`!")
        y = _qc._conv2d(input.unsqueeze(2), self._w4, self._bias, (1, self.stride[0]),
                        (0, self.padding[0]), (1, self.dilation[0]), self.groups, self._relu,
                        self.scale, self.zero_point)
        return y.squeeze(2)


class Conv2d(_ConvNd):
    r"""Applies a 2D convolution over a quantized input signal composed of several
    quantized input planes. Same arguments as :class:`~ptlite.nn.Conv2d`; the module has
    ``weight()`` (qint8), ``bias()`` (float), ``scale`` and ``zero_point`` of the output.

    Examples::

        >>> m = nn.quantized.Conv2d(16, 33, 3, stride=2)
        >>> input = torch.randn(20, 16, 50, 100)
        >>> q_input = torch.quantize_per_tensor(input, scale=1.0, zero_point=0,
        ...                                     dtype=torch.quint8)
        >>> output = m(q_input)
    """

    _FLOAT_MODULE = _fconv.Conv2d

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self._init(in_channels, out_channels, _pair(kernel_size), _pair(stride),
                   padding if isinstance(padding, str) else _pair(padding), _pair(dilation),
                   False, _pair(0), groups, bias, padding_mode)

    @staticmethod
    def _extra_args(conv: Module) -> tuple:
        return (conv.dilation,)

    def _get_name(self) -> str:
        return "QuantizedConv2d"

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 4:
            raise ValueError("Input shape must be `(N, C, H, W)`!")
        return _qc._conv2d(input, self._weight, self._bias, self.stride, self.padding,
                           self.dilation, self.groups, self._relu, self.scale, self.zero_point)


class ConvTranspose2d(_ConvNd):
    r"""Applies a 2D transposed convolution over a quantized input. Same arguments as
    :class:`~ptlite.nn.ConvTranspose2d`."""

    _FLOAT_MODULE = _fconv.ConvTranspose2d

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self._init(in_channels, out_channels, _pair(kernel_size), _pair(stride),
                   _pair(padding), _pair(dilation), True, _pair(output_padding), groups, bias,
                   padding_mode)

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "_ConvNd":
        """Creates a quantized module from a prepared float ConvTranspose2d."""
        name = "QuantizedConvTranspose2d"
        if type(mod) is not cls._FLOAT_MODULE:
            raise TypeError(f"{name}.from_float only works for ConvTranspose2d, got "
                            f"{type(mod).__name__}")
        scale, zero_point = _activation_qparams(mod, name)
        wobs = _weight_observer(mod, name)
        if wobs.qscheme not in (_q.per_tensor_affine, _q.per_tensor_symmetric):
            raise RuntimeError(f"{name}.from_float: per-channel weights are not supported for "
                               "transposed convolution; use a per-tensor weight observer")
        qweight = _quantize_weight(mod.weight.float(), wobs)
        q = cls(mod.in_channels, mod.out_channels, mod.kernel_size, mod.stride, mod.padding,
                mod.output_padding, mod.groups, mod.bias is not None, mod.dilation)
        q.set_weight_bias(qweight, mod.bias.detach() if mod.bias is not None else None)
        q.scale, q.zero_point = scale, zero_point
        return q

    def _get_name(self) -> str:
        return "QuantizedConvTranspose2d"

    def forward(self, input: Tensor, output_size: Optional[Any] = None) -> Tensor:
        if input.ndim != 4:
            raise ValueError("Input shape must be `(N, C, H, W)`!")
        return _qc._conv_transpose2d(input, self._weight, self._bias, self.stride, self.padding,
                                     self.output_padding, self.dilation, self.groups,
                                     self.scale, self.zero_point)
