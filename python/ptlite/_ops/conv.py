"""Convolutions (csrc/runtime/kernels/conv.c): conv1d/conv2d and their transposes.

conv2d maps straight onto the C op. The 1-d versions run the 2-d op on a view with
a height of 1. Attribute tuples are built once per distinct argument combination
and cached, so a call in a model's forward costs one dict lookup and one C call.
"""
from __future__ import annotations


from .table import call, op_id

_CONV2D = op_id("conv2d")
_CONV_T2D = op_id("conv_transpose2d")
_RESHAPE = op_id("reshape")

TORCH_FUNCTIONS = ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d")
FUNCTIONAL = TORCH_FUNCTIONS
TENSOR_METHODS: dict = {}

_MAX_CACHE = 512
_conv2d_attrs: dict = {}
_convt2d_attrs: dict = {}


def _tuple(value, name: str, n: int, op: str = "conv2d") -> tuple:
    """An int or a sequence of 1 or n ints as an n-tuple (torch's expand_param)."""
    if value.__class__ is int:
        return (value,) * n
    try:
        vals = tuple(int(v) for v in value)
    except TypeError:
        vals = (int(value),)
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise RuntimeError(f"{op}: expected {name} to be a single integer value or a list of {n} "
                           f"values to match the convolution dimensions, but got "
                           f"{name}={list(vals)}")
    return vals


def _remember(cache: dict, key, ints: tuple) -> tuple:
    try:
        if len(cache) < _MAX_CACHE:
            cache[key] = ints
    except TypeError:  # lists are not hashable: fine, just not cached
        pass
    return ints


def _same_padding(weight, dilation: tuple, n: int, op: str) -> tuple:
    """torch's padding='same': total d*(k-1), the odd one out goes right/bottom.
    Returns (left pads..., extra right pads...)."""
    shape = weight._shape
    kernel = shape[2:] if len(shape) == n + 2 else (1,) * n
    left, extra = [], []
    for d, k in zip(dilation, kernel):
        total = d * (k - 1)
        left.append(total // 2)
        extra.append(total - 2 * (total // 2))
    return tuple(left), tuple(extra)


def _padding_mode(padding, op: str):
    if padding == "valid":
        return "valid"
    if padding == "same":
        return "same"
    raise RuntimeError(f"{op}: Invalid padding string: '{padding}'")


def _attrs2d(weight, stride, padding, dilation, groups) -> tuple:
    """CONV2D ints: stride(2) padding(2) dilation(2) groups clamp [extra bottom/right]."""
    key = (stride, padding, dilation, groups)
    if padding.__class__ is not str:
        try:
            return _conv2d_attrs[key]
        except (KeyError, TypeError):
            pass
        ints = (_tuple(stride, "stride", 2) + _tuple(padding, "padding", 2) +
                _tuple(dilation, "dilation", 2) + (int(groups), 0))
        return _remember(_conv2d_attrs, key, ints)
    op = "conv2d"
    mode = _padding_mode(padding, op)
    s = _tuple(stride, "stride", 2)
    d = _tuple(dilation, "dilation", 2)
    if mode == "valid":
        return s + (0, 0) + d + (int(groups), 0)
    if s != (1, 1):
        raise RuntimeError(f"{op}: padding='same' is not supported for strided "
                           "convolutions")
    left, extra = _same_padding(weight, d, 2, "conv2d")
    return s + left + d + (int(groups), 0) + extra


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution over an NCHW (or unbatched CHW) input, as torch.nn.functional.conv2d.

    On the fast path the result is channels-last in memory (logical NCHW), so the
    next conv reads it without a transpose."""
    if stride == 1 and padding == 0 and dilation == 1 and groups == 1:
        ints = _DEFAULT2D
    else:
        ints = _attrs2d(weight, stride, padding, dilation, groups)
    return call(_CONV2D, (input, weight, bias), ints)


_DEFAULT2D = (1, 1, 0, 0, 1, 1, 1, 0)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """2-d transposed convolution ("deconvolution"), as torch.nn.functional.conv_transpose2d."""
    key = (stride, padding, output_padding, groups, dilation)
    try:
        ints = _convt2d_attrs[key]
    except (KeyError, TypeError):
        if isinstance(padding, str):
            raise TypeError("conv_transpose2d(): argument 'padding' must be tuple of ints, "
                            "not str") from None
        op = "conv_transpose2d"
        ints = (_tuple(stride, "stride", 2, op) + _tuple(padding, "padding", 2, op) +
                _tuple(output_padding, "output_padding", 2, op) +
                _tuple(dilation, "dilation", 2, op) + (int(groups),))
        _remember(_convt2d_attrs, key, ints)
    return call(_CONV_T2D, (input, weight, bias), ints)


# ---- 1-d convolutions as 2-d ones with height 1 ---------------------------------------


def _view(t, shape: tuple):
    """A view of ``t`` with ``shape`` (only size-1 dims inserted or removed)."""
    return call(_RESHAPE, (t,), shape)


def _weight_view(weight, op: str):
    """[O, I/g, K] weight as [O, I/g, 1, K], kept on the weight so the packed
    operator cached on the 4-d view survives across calls."""
    s = weight._shape
    if len(s) != 3:
        raise RuntimeError(f"{op}: expected weight to be 3-dimensional, but got weight of "
                           f"size {list(s)}")
    sig = (weight._data_ptr, s, weight._strides)
    cached = weight.__dict__.get("_ptl_w4")
    if cached is not None and cached[0] == sig:
        return cached[1]
    w4 = _view(weight, (s[0], s[1], 1, s[2]))
    weight.__dict__["_ptl_w4"] = (sig, w4)
    return w4


def _input_view(input, op: str):
    s = input._shape
    if len(s) == 3:
        return _view(input, (s[0], s[1], 1, s[2])), True
    if len(s) == 2:
        return _view(input, (s[0], 1, s[1])), False
    raise RuntimeError(f"{op}: Expected 2D (unbatched) or 3D (batched) input to {op}, but got "
                       f"input of size: {list(s)}")


def _squeeze_h(out, batched: bool):
    s = out._shape
    return _view(out, (s[0], s[1], s[3]) if batched else (s[0], s[2]))


def _check1d(input, weight, ints: tuple, groups: int, op: str) -> None:
    """torch's 1-d wording for the two errors a user meets most (the 2-d op would
    report them with a height of 1)."""
    xs, ws = input._shape, weight._shape
    if len(ws) != 3:
        return
    c = xs[-2]
    x4 = list(xs) if len(xs) == 3 else [1] + list(xs)
    if op == "conv1d":
        if groups > 0 and c != ws[1] * groups:
            raise RuntimeError(f"{op}: Given groups={groups}, weight of size {list(ws)}, expected "
                               f"input{x4} to have {ws[1] * groups} channels, but got {c} "
                               f"channels instead")
        padded = xs[-1] + 2 * ints[3] + (ints[9] if len(ints) > 9 else 0)
        ksize = ints[5] * (ws[2] - 1) + 1
        if ints[5] > 0 and ints[3] >= 0 and padded < ksize:
            raise RuntimeError(f"{op}: Calculated padded input size per channel: ({padded}). "
                               f"Kernel size: ({ksize}). Kernel size can't be greater than "
                               f"actual input size")
    elif c != ws[0]:
        raise RuntimeError(f"{op}: Given transposed=1, weight of size {list(ws)}, expected "
                           f"input{x4} to have {ws[0]} channels, but got {c} channels instead")


def _attrs1d(weight, stride, padding, dilation, groups) -> tuple:
    op = "conv1d"
    (s,) = _tuple(stride, "stride", 1, op)
    (d,) = _tuple(dilation, "dilation", 1, op)
    g = int(groups)
    if padding.__class__ is str:
        if _padding_mode(padding, op) == "valid":
            return (1, s, 0, 0, 1, d, g, 0)
        if s != 1:
            raise RuntimeError(f"{op}: padding='same' is not supported for strided "
                           "convolutions")
        k = weight._shape[-1] if len(weight._shape) == 3 else 1
        total = d * (k - 1)
        return (1, 1, 0, total // 2, 1, d, g, 0, 0, total - 2 * (total // 2))
    (p,) = _tuple(padding, "padding", 1, op)
    return (1, s, 0, p, 1, d, g, 0)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution over an NCL (or unbatched CL) input, as torch.nn.functional.conv1d."""
    op = "conv1d"
    ints = _attrs1d(weight, stride, padding, dilation, groups)
    x4, batched = _input_view(input, op)
    _check1d(input, weight, ints, ints[6], op)
    out = call(_CONV2D, (x4, _weight_view(weight, op), bias), ints)
    return _squeeze_h(out, batched)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """1-d transposed convolution, as torch.nn.functional.conv_transpose1d."""
    if isinstance(padding, str):
        raise TypeError("conv_transpose1d(): argument 'padding' must be tuple of ints, not str")
    op = "conv_transpose1d"
    (s,) = _tuple(stride, "stride", 1, op)
    (p,) = _tuple(padding, "padding", 1, op)
    (opad,) = _tuple(output_padding, "output_padding", 1, op)
    (d,) = _tuple(dilation, "dilation", 1, op)
    ints = (1, s, 0, p, 0, opad, 1, d, int(groups))
    x4, batched = _input_view(input, op)
    _check1d(input, weight, ints, int(groups), op)
    out = call(_CONV_T2D, (x4, _weight_view(weight, op), bias), ints)
    return _squeeze_h(out, batched)
