"""Pooling and resampling (csrc/runtime/kernels/pool.c): max/avg/adaptive pools
and interpolate, with torch.nn.functional's names, defaults and errors."""
from __future__ import annotations

import math
import warnings

from .. import _C
from .._tensor import Tensor
from .table import call, op_id

_RESHAPE = op_id("reshape")

_MAX_POOL2D = op_id("max_pool2d")
_AVG_POOL2D = op_id("avg_pool2d")
_ADAPTIVE_AVG = op_id("adaptive_avg_pool2d")
_ADAPTIVE_MAX = op_id("adaptive_max_pool2d")
_NEAREST = op_id("upsample_nearest2d")
_BILINEAR = op_id("upsample_bilinear2d")

_Unsupported = _C.UnsupportedError


def _pair(v, op: str, what: str, allow_none: bool = False):
    """(h, w) from an int or a 1- or 2-sequence, with torch's message."""
    if isinstance(v, int):
        return v, v
    if allow_none and (v is None or (isinstance(v, (tuple, list)) and len(v) == 0)):
        return None
    try:
        t = tuple(int(e) for e in v)
    except TypeError:
        t = ()
    if len(t) == 1:
        return t[0], t[0]
    if len(t) == 2:
        return t
    if what == "stride":
        raise RuntimeError(f"{op}: stride must either be omitted, a single int, or a tuple "
                           "of two ints")
    if what == "dilation":
        raise RuntimeError(f"{op}: dilation must be either a single int, or a tuple of two "
                           "ints")
    raise RuntimeError(f"{op}: {what} must either be a single int, or a tuple of two ints")


def _check_tensor(input, op: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-d max pooling over an (N, C, H, W) or (C, H, W) input."""
    if return_indices:
        raise _Unsupported("max_pool2d: return_indices=True is not supported by ptlite")
    _check_tensor(input, "max_pool2d")
    k = _pair(kernel_size, "max_pool2d", "kernel_size")
    s = _pair(stride, "max_pool2d", "stride", allow_none=True) or k
    p = _pair(padding, "max_pool2d", "padding")
    d = _pair(dilation, "max_pool2d", "dilation")
    return call(_MAX_POOL2D, (input,), (k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1],
                                        1 if ceil_mode else 0))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-d average pooling over an (N, C, H, W) or (C, H, W) input."""
    _check_tensor(input, "avg_pool2d")
    k = _pair(kernel_size, "avg_pool2d", "kernel_size")
    s = _pair(stride, "avg_pool2d", "stride", allow_none=True) or k
    p = _pair(padding, "avg_pool2d", "padding")
    div = 0
    if divisor_override is not None:
        div = int(divisor_override)
        if div == 0:
            raise RuntimeError("avg_pool2d: divisor must be not zero")
    return call(_AVG_POOL2D, (input,), (k[0], k[1], s[0], s[1], p[0], p[1],
                                        1 if ceil_mode else 0, 1 if count_include_pad else 0,
                                        div))


def _adaptive_size(input, output_size, op: str):
    if isinstance(output_size, int):
        return output_size, output_size
    t = tuple(output_size)
    if len(t) == 1:
        t = (t[0], t[0])
    if len(t) != 2:
        raise ValueError(f"{op}: output_size must be 2 ints, got {output_size}")
    shape = input.shape
    # None keeps the input's size (torch's _list_with_default)
    return tuple(shape[len(shape) - 2 + i] if v is None else int(v) for i, v in enumerate(t))


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (windows floor(i*in/out)..ceil((i+1)*in/out))."""
    _check_tensor(input, "adaptive_avg_pool2d")
    return call(_ADAPTIVE_AVG, (input,), _adaptive_size(input, output_size,
                                                        "adaptive_avg_pool2d"))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size."""
    if return_indices:
        raise _Unsupported("adaptive_max_pool2d: return_indices=True is not supported by "
                           "ptlite")
    _check_tensor(input, "adaptive_max_pool2d")
    return call(_ADAPTIVE_MAX, (input,), _adaptive_size(input, output_size,
                                                        "adaptive_max_pool2d"))


# ---- 1-d pools as 2-d pools over an H == 1 view (the RESHAPE op: traceable) -------
def _as_2d(input, op: str):
    _check_tensor(input, op)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: Expected 2D or 3D (batch mode) tensor for input, but got "
                           f"input of size {list(input.shape)}")
    shape = input._shape
    return call(_RESHAPE, (input,), shape[:-1] + (1, shape[-1]))


def _from_2d(out):
    shape = out._shape
    return call(_RESHAPE, (out,), shape[:-2] + (shape[-1],))


def _single(v, op: str, what: str):
    if isinstance(v, int):
        return v
    t = tuple(v)
    if len(t) != 1:
        raise RuntimeError(f"{op}: {what} must be a single int, or a tuple of one int")
    return int(t[0])


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-d max pooling over an (N, C, L) or (C, L) input."""
    if return_indices:
        raise _Unsupported("max_pool1d: return_indices=True is not supported by ptlite")
    x = _as_2d(input, "max_pool1d")
    k = _single(kernel_size, "max_pool1d", "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        _single(stride, "max_pool1d", "stride")
    out = max_pool2d(x, (1, k), (1, s), (0, _single(padding, "max_pool1d", "padding")),
                     (1, _single(dilation, "max_pool1d", "dilation")), ceil_mode)
    return _from_2d(out)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-d average pooling over an (N, C, L) or (C, L) input."""
    x = _as_2d(input, "avg_pool1d")
    k = _single(kernel_size, "avg_pool1d", "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        _single(stride, "avg_pool1d", "stride")
    out = avg_pool2d(x, (1, k), (1, s), (0, _single(padding, "avg_pool1d", "padding")),
                     ceil_mode, count_include_pad)
    return _from_2d(out)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of an (N, C, L) or (C, L) input to a fixed length."""
    x = _as_2d(input, "adaptive_avg_pool1d")
    return _from_2d(adaptive_avg_pool2d(x, (1, _single(output_size, "adaptive_avg_pool1d",
                                                        "output_size"))))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling of an (N, C, L) or (C, L) input to a fixed length."""
    if return_indices:
        raise _Unsupported("adaptive_max_pool1d: return_indices=True is not supported by "
                           "ptlite")
    x = _as_2d(input, "adaptive_max_pool1d")
    return _from_2d(adaptive_max_pool2d(x, (1, _single(output_size, "adaptive_max_pool1d",
                                                        "output_size"))))


# ---- interpolate ------------------------------------------------------------------
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resizes (N, C, H, W) inputs ('nearest', 'bilinear', 'area') and (N, C, L) inputs
    ('nearest', 'linear', 'area') with torch's size, scale and index rules."""
    _check_tensor(input, "interpolate")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        scale_factors = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but "
                    f"got input with spatial dimensions of {list(input.shape[2:])} and output "
                    f"size of {size}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
                    "format and output size in (o1, o2, ...,oK) format.")
            output_size = [int(s) for s in size]
        else:
            output_size = [int(size)] * dim
    elif scale_factor is not None:
        output_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, "
                    f"but got input with spatial dimensions of {list(input.shape[2:])} and "
                    f"scale_factor of shape {scale_factor}. Please provide input tensor in "
                    "(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) "
                    "format.")
            scale_factors = [float(s) for s in scale_factor]
        else:
            scale_factors = [float(scale_factor)] * dim
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and output_size is None:
        recompute_scale_factor = True
    if recompute_scale_factor:
        output_size = [math.floor(float(input.shape[i + 2]) * scale_factors[i])
                       for i in range(dim)]
        scale_factors = None
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear and bicubic modes and "
                         "requires a 4-D tensor as input")
    known = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area",
             "nearest-exact")
    if mode not in known:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
            f"nearest-exact (got {mode})")
    if mode in ("bilinear", "bicubic") and input.ndim == 3:
        raise NotImplementedError(f"Got 3D input, but {mode} mode needs 4D input")
    if mode == "linear" and input.ndim != 3:
        raise NotImplementedError(f"Got {input.ndim}D input, but linear mode needs 3D input")
    if mode == "trilinear" and input.ndim != 5:
        raise NotImplementedError(f"Got {input.ndim}D input, but trilinear mode needs 5D "
                                  "input")
    if antialias:
        raise _Unsupported("interpolate: antialias=True is not supported by ptlite")
    supported = ((input.ndim == 4 and mode in ("nearest", "bilinear", "area")) or
                 (input.ndim == 3 and mode in ("nearest", "linear", "area")))
    if not supported:
        raise _Unsupported(f"interpolate: mode={mode!r} on a {input.ndim}-d input is not "
                           "supported by ptlite (supported: 'nearest' and 'area' on 3-d and "
                           "4-d inputs, 'linear' on 3-d, 'bilinear' on 4-d)")
    if output_size is None:
        # torch's compute_output_size: static_cast<int64_t>(in * scale)
        output_size = [int(input.shape[i + 2] * scale_factors[i]) for i in range(dim)]
    if mode == "area":
        if dim == 1:
            return adaptive_avg_pool1d(input, output_size[0])
        return adaptive_avg_pool2d(input, output_size)
    scales = (0.0,) * dim if scale_factors is None else tuple(scale_factors)
    x = input
    if dim == 1:
        # (N, C, L) as (N, C, 1, L): the unit height is copied through unchanged
        x = _as_2d(input, "interpolate")
        output_size = [1, output_size[0]]
        scales = (0.0, scales[0])
    if mode == "nearest":
        out = call(_NEAREST, (x,), (output_size[0], output_size[1]), scales)
    else:
        out = call(_BILINEAR, (x,), (output_size[0], output_size[1],
                                     1 if align_corners else 0), scales)
    return _from_2d(out) if dim == 1 else out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate`."""
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='nearest')``."""
    warnings.warn("nn.functional.upsample_nearest is deprecated. Use "
                  "nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)``."""
    warnings.warn("nn.functional.upsample_bilinear is deprecated. Use "
                  "nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


TORCH_FUNCTIONS: tuple = ("max_pool2d", "avg_pool2d", "adaptive_avg_pool1d", "max_pool1d",
                          "avg_pool1d", "adaptive_max_pool1d")
FUNCTIONAL: tuple = ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
                     "max_pool1d", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d",
                     "interpolate", "upsample", "upsample_nearest", "upsample_bilinear")
TENSOR_METHODS: dict = {}
