"""Reductions (csrc/runtime/kernels/reduce.c): sum, mean, amax/amin, max/min,
argmax/argmin, var/std, all/any, count_nonzero.

Attribute layout (ops.def): SUM/MEAN/AMAX/AMIN/VAR take i[0] keepdim, i[1]
number of dims (0: all), i[2..] dims, SUM/MEAN i[31] output dtype; VAR f[0]
correction. ARGMAX/ARGMIN take i[0] keepdim, i[1] has_dim, i[2] dim.
"""
from __future__ import annotations

import builtins
import collections

import numpy as np

from .. import _dtype as dt
from .._tensor import Tensor, from_numpy
from .table import call, op_id

_SQRT = op_id("sqrt")

_SUM = op_id("sum")
_MEAN = op_id("mean")
_AMAX = op_id("amax")
_AMIN = op_id("amin")
_VAR = op_id("var")
_ARGMAX = op_id("argmax")
_ARGMIN = op_id("argmin")
_COPY = op_id("copy")

_DTYPE_SLOT = 31  # i[31] of SUM/MEAN
_BOOL = dt.bool.code
_INT = builtins.int

# torch.return_types.max / min: a tuple with .values and .indices
max_return = collections.namedtuple("max", ["values", "indices"])
min_return = collections.namedtuple("min", ["values", "indices"])


def _dims(keepdim, dim) -> tuple:
    """i[0..]: keepdim, count, dims (count 0 reduces every dim)."""
    if dim is None:
        return (keepdim, 0)
    if isinstance(dim, _INT):
        return (keepdim, 1, dim)
    dim = tuple(dim)
    return (keepdim, len(dim)) + dim


def _with_dtype(ints: tuple, dtype) -> tuple:
    if dtype is None:
        return ints
    return ints + (0,) * (_DTYPE_SLOT - len(ints)) + (dt.to_dtype(dtype).code,)


def sum(input, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A001
    """Sum over ``dim`` (an int or a tuple; None: every dim). Integers and bool sum to int64."""
    return call(_SUM, (input,), _with_dtype(_dims(keepdim, dim), dtype), None, out)


def mean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Mean over ``dim``. Integer inputs need ``dtype=`` a floating type, as in torch."""
    return call(_MEAN, (input,), _with_dtype(_dims(keepdim, dim), dtype), None, out)


def amax(input, dim=(), keepdim=False, *, out=None):
    """Maximum over ``dim`` (default: every dim); NaN propagates."""
    return call(_AMAX, (input,), _dims(keepdim, dim), None, out)


def amin(input, dim=(), keepdim=False, *, out=None):
    """Minimum over ``dim`` (default: every dim); NaN propagates."""
    return call(_AMIN, (input,), _dims(keepdim, dim), None, out)


def _extreme(name, vop, iop, result, input, dim, keepdim, other):
    if isinstance(dim, Tensor) and other is None:
        other, dim = dim, None
    if other is not None:
        import ptlite
        return getattr(ptlite, "maximum" if name == "max" else "minimum")(input, other)
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for "
                               "input.numel() == 0. Specify the reduction dim with the "
                               "'dim' argument.")
        if keepdim:
            raise TypeError(f"{name}() received an invalid combination of arguments: "
                            "keepdim needs dim")
        return call(vop, (input,), (0, 0))
    if not isinstance(dim, _INT):
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
    values = call(vop, (input,), (keepdim, 1, dim))
    return result(values, call(iop, (input,), (keepdim, 1, dim)))


def max(input, dim=None, keepdim=False, *, other=None):  # noqa: A001
    """max(x): the largest element; max(x, dim): (values, indices); max(x, y): maximum."""
    return _extreme("max", _AMAX, _ARGMAX, max_return, input, dim, keepdim, other)


def min(input, dim=None, keepdim=False, *, other=None):  # noqa: A001
    """min(x): the smallest element; min(x, dim): (values, indices); min(x, y): minimum."""
    return _extreme("min", _AMIN, _ARGMIN, min_return, input, dim, keepdim, other)


def argmax(input, dim=None, keepdim=False):
    """Index of the maximum (first one on ties; NaN counts as the maximum)."""
    if dim is None:
        return call(_ARGMAX, (input,), (keepdim, 0, 0))
    return call(_ARGMAX, (input,), (keepdim, 1, dim))


def argmin(input, dim=None, keepdim=False):
    """Index of the minimum (first one on ties; NaN counts as the minimum)."""
    if dim is None:
        return call(_ARGMIN, (input,), (keepdim, 0, 0))
    return call(_ARGMIN, (input,), (keepdim, 1, dim))


def _var_args(dim, unbiased, keepdim, correction):
    if isinstance(dim, builtins.bool):  # legacy var(x, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None:
        if correction is not None:
            raise TypeError("var(): pass either unbiased or correction, not both")
        correction = 1.0 if unbiased else 0.0
    elif correction is None:
        correction = 1.0
    return _dims(keepdim, dim), (builtins.float(correction),)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """Variance over ``dim`` with ``correction`` (1: Bessel's, the default)."""
    ints, floats = _var_args(dim, unbiased, keepdim, correction)
    return call(_VAR, (input,), ints, floats, out)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: the square root of :func:`var`."""
    ints, floats = _var_args(dim, unbiased, keepdim, correction)
    v = call(_VAR, (input,), ints, floats)
    return call(_SQRT, (v,), None, None, v)  # v is fresh: take the root in place


def _as_bool(input):
    return input if input._dtype == _BOOL else call(_COPY, (input,), (_BOOL, 1))


def any(input, dim=None, keepdim=False):  # noqa: A001
    """True where any element over ``dim`` is nonzero."""
    r = call(_COPY, (call(_SUM, (_as_bool(input),), _dims(keepdim, dim)),), (_BOOL, 0))
    return r if input._dtype != dt.uint8.code else call(_COPY, (r,), (dt.uint8.code, 0))


def all(input, dim=None, keepdim=False):  # noqa: A001
    """True where every element over ``dim`` is nonzero (True over no elements)."""
    b = _as_bool(input)
    if input.numel() != 0:
        r = call(_AMIN, (b,), _dims(keepdim, dim))
    else:  # count the Trues and compare with the number of elements reduced
        counts = call(_SUM, (b,), _dims(keepdim, dim))
        n = counts.numel()
        reduced = input.numel() // n if n else 0
        r = from_numpy(np.asarray(np.asarray(counts) == reduced))
    return r if input._dtype != dt.uint8.code else call(_COPY, (r,), (dt.uint8.code, 0))


def count_nonzero(input, dim=None):
    """Number of nonzero elements over ``dim`` (int64)."""
    return call(_SUM, (_as_bool(input),), _dims(False, dim))


TORCH_FUNCTIONS = ("sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "var",
                   "std", "any", "all", "count_nonzero")
FUNCTIONAL: tuple = ()
TENSOR_METHODS = {name: globals()[name] for name in TORCH_FUNCTIONS}
