"""Elementwise ops (csrc/runtime/kernels/eltwise.c): arithmetic, comparisons,
logic, where, unary math and clamp, with torch's names, broadcasting and type
promotion. Python numbers go to C as 0-d "wrapped number" tensors, which
promote by category only (int tensor + 2.5 -> float32, int32 tensor + 5 -> int32).

In-place variants pass ``out=self``; the C side checks the result can be cast
to self's dtype and that the broadcast shape equals self's shape.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import _dtype as dt
from .._tensor import Tensor
from .table import call, op_id

_ADD = op_id("add")
_SUB = op_id("sub")
_MUL = op_id("mul")
_DIV = op_id("div")
_POW = op_id("pow")
_MAXIMUM = op_id("maximum")
_MINIMUM = op_id("minimum")
_REMAINDER = op_id("remainder")
_EQ = op_id("eq")
_NE = op_id("ne")
_LT = op_id("lt")
_LE = op_id("le")
_GT = op_id("gt")
_GE = op_id("ge")
_AND = op_id("logical_and")
_OR = op_id("logical_or")
_WHERE = op_id("where")
_NEG = op_id("neg")
_ABS = op_id("abs")
_EXP = op_id("exp")
_LOG = op_id("log")
_SQRT = op_id("sqrt")
_RSQRT = op_id("rsqrt")
_SIN = op_id("sin")
_COS = op_id("cos")
_FLOOR = op_id("floor")
_CEIL = op_id("ceil")
_ROUND = op_id("round")
_NOT = op_id("logical_not")
_CLAMP = op_id("clamp")

_TRUNC = (1,)
_FLOOR_MODE = (2,)
_ROUNDING = {None: None, "trunc": _TRUNC, "floor": _FLOOR_MODE}


def _alpha(alpha):
    return None if alpha == 1 else (builtins.float(alpha),)


def _rounding(mode):
    try:
        return _ROUNDING[mode]
    except (KeyError, TypeError):
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                           f"but found '{mode}'") from None


def _int_div(op, inputs, ints, out):
    # The C engine reports integer division by zero as a ValueError; torch raises
    # RuntimeError("ZeroDivisionError"). try costs nothing when nothing is raised.
    try:
        return call(op, inputs, ints, None, out)
    except ValueError as e:
        if "ZeroDivisionError" in str(e):
            raise RuntimeError(str(e)) from None
        raise


# ---- arithmetic -----------------------------------------------------------------
def add(input, other, *, alpha=1, out=None):
    """input + alpha * other, broadcasting and promoting as torch."""
    return call(_ADD, (input, other), None, _alpha(alpha), out)


def sub(input, other, *, alpha=1, out=None):
    """input - alpha * other."""
    return call(_SUB, (input, other), None, _alpha(alpha), out)


subtract = sub


def mul(input, other, *, out=None):
    return call(_MUL, (input, other), None, None, out)


multiply = mul


def div(input, other, *, rounding_mode=None, out=None):
    """True division (integers give float32), or 'trunc' / 'floor' rounding."""
    ints = _rounding(rounding_mode)
    if ints is None:
        return call(_DIV, (input, other), None, None, out)
    return _int_div(_DIV, (input, other), ints, out)


divide = div


def true_divide(input, other, *, out=None):
    return call(_DIV, (input, other), None, None, out)


def floor_divide(input, other, *, out=None):
    return _int_div(_DIV, (input, other), _FLOOR_MODE, out)


def remainder(input, other, *, out=None):
    """Python-style modulus: the result has the sign of ``other``."""
    return _int_div(_REMAINDER, (input, other), None, out)


def pow(input, exponent, *, out=None):  # noqa: A001 (torch's name)
    return call(_POW, (input, exponent), None, None, out)


def maximum(input, other, *, out=None):
    return call(_MAXIMUM, (input, other), None, None, out)


def minimum(input, other, *, out=None):
    return call(_MINIMUM, (input, other), None, None, out)


def square(input, *, out=None):
    """input ** 2 (bool squares to int64, as torch)."""
    return call(_POW, (input, 2), None, None, out)


# ---- comparisons and logic ------------------------------------------------------
def eq(input, other, *, out=None):
    return call(_EQ, (input, other), None, None, out)


def ne(input, other, *, out=None):
    return call(_NE, (input, other), None, None, out)


def lt(input, other, *, out=None):
    return call(_LT, (input, other), None, None, out)


def le(input, other, *, out=None):
    return call(_LE, (input, other), None, None, out)


def gt(input, other, *, out=None):
    return call(_GT, (input, other), None, None, out)


def ge(input, other, *, out=None):
    return call(_GE, (input, other), None, None, out)


not_equal = ne
less = lt
less_equal = le
greater = gt
greater_equal = ge


def logical_and(input, other, *, out=None):
    return call(_AND, (input, other), None, None, out)


def logical_or(input, other, *, out=None):
    return call(_OR, (input, other), None, None, out)


def logical_not(input, *, out=None):
    return call(_NOT, (input,), None, None, out)


def logical_xor(input, other, *, out=None):
    return call(_NE, (call(_NE, (input, 0)), call(_NE, (other, 0))), None, None, out)


def where(condition, input=None, other=None, *, out=None):
    """Elements of ``input`` where ``condition`` holds, else of ``other``."""
    if input is None or other is None:
        raise TypeError("where(condition) (nonzero) is not supported by ptlite; pass input "
                        "and other")
    return call(_WHERE, (condition, input, other), None, None, out)


def isnan(input):
    return call(_NE, (input, input))


def isfinite(input):
    if not input.dtype.is_floating_point:
        return call(_EQ, (input, input))
    # inf - inf and nan - nan are nan; finite x - x is 0
    return call(_EQ, (call(_SUB, (input, input)), 0))


def isinf(input):
    if not input.dtype.is_floating_point:
        return call(_NE, (input, input))
    return call(_AND, (call(_EQ, (input, input)), call(_NE, (call(_SUB, (input, input)), 0))))


def sign(input, *, out=None):
    """-1, 0 or 1 by the sign of each element (nan gives 0, as torch), in input's dtype."""
    if input.dtype is dt.bool:
        r = input.clone()
    else:
        r = call(_WHERE, (call(_GT, (input, 0)), 1,
                          call(_WHERE, (call(_LT, (input, 0)), -1, 0)))).to(input.dtype)
    return r if out is None else out.copy_(r)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> builtins.bool:
    """|input - other| <= atol + rtol * |other| everywhere (infinities must match)."""
    return builtins.bool(np.all(isclose(input, other, rtol, atol, equal_nan).numpy()))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    if input.dtype is not getattr(other, "dtype", input.dtype):
        raise RuntimeError(f"{input.dtype} did not match {other.dtype}")
    same = call(_EQ, (input, other))
    diff = call(_ABS, (call(_SUB, (input, other)),)) if input.dtype is not dt.bool else same
    if input.dtype is dt.bool:
        close = same
    else:
        tol = call(_ADD, (call(_MUL, (call(_ABS, (other,)), builtins.float(rtol))),
                          builtins.float(atol)))
        close = call(_OR, (same, call(_LE, (diff, tol))))
    if equal_nan and input.dtype.is_floating_point:
        close = call(_OR, (close, call(_AND, (isnan(input), isnan(other)))))
    return close


def equal(input, other) -> builtins.bool:
    """True if both have the same shape and elements."""
    if tuple(input.shape) != tuple(other.shape):
        return False
    return builtins.bool(np.all(call(_EQ, (input, other)).numpy()))


# ---- unary -------------------------------------------------------------------------
def neg(input, *, out=None):
    return call(_NEG, (input,), None, None, out)


negative = neg


def abs(input, *, out=None):  # noqa: A001
    return call(_ABS, (input,), None, None, out)


absolute = abs


def exp(input, *, out=None):
    return call(_EXP, (input,), None, None, out)


def log(input, *, out=None):
    return call(_LOG, (input,), None, None, out)


def sqrt(input, *, out=None):
    return call(_SQRT, (input,), None, None, out)


def rsqrt(input, *, out=None):
    return call(_RSQRT, (input,), None, None, out)


def sin(input, *, out=None):
    return call(_SIN, (input,), None, None, out)


def cos(input, *, out=None):
    return call(_COS, (input,), None, None, out)


def floor(input, *, out=None):
    return call(_FLOOR, (input,), None, None, out)


def ceil(input, *, out=None):
    return call(_CEIL, (input,), None, None, out)


def round(input, *, decimals=0, out=None):  # noqa: A001
    """Round half to even; ``decimals`` scales by 10**decimals first, as torch."""
    if decimals == 0:
        return call(_ROUND, (input,), None, None, out)
    scale = 10.0 ** decimals
    r = call(_DIV, (call(_ROUND, (call(_MUL, (input, scale)),)), scale))
    return r if out is None else out.copy_(r)


def clamp(input, min=None, max=None, *, out=None):  # noqa: A002
    """Limits values to [min, max]; tensor bounds broadcast (maximum / minimum)."""
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        r = input
        if min is not None:
            r = call(_MAXIMUM, (r, min))
        if max is not None:
            r = call(_MINIMUM, (r, max))
        if out is not None:
            return out.copy_(r)
        return r if r is not input else input.clone()
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if input._qparams is None and not input.dtype.is_floating_point and (
            isinstance(min, builtins.float) or isinstance(max, builtins.float)):
        # an int tensor with a float bound promotes to float32, as torch
        if out is not None and not out.dtype.is_floating_point:
            raise RuntimeError(f"result type Float can't be cast to the desired output type "
                               f"{out.dtype}")
        input = input.float()
    lo = 0.0 if min is None else builtins.float(min)
    hi = 0.0 if max is None else builtins.float(max)
    return call(_CLAMP, (input,), (min is not None, max is not None), (lo, hi), out)


clip = clamp


def clamp_min(input, min):  # noqa: A002
    return clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    return clamp(input, max=max)


# ---- methods: in place (out=self) -------------------------------------------------
def _inplace(fn):
    def method(self, *args, **kwargs):
        fn(self, *args, out=self, **kwargs)
        return self
    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In-place version of :func:`{fn.__name__}`."
    return method


def add_(self, other, *, alpha=1):
    call(_ADD, (self, other), None, _alpha(alpha), self)
    return self


def sub_(self, other, *, alpha=1):
    call(_SUB, (self, other), None, _alpha(alpha), self)
    return self


def mul_(self, other):
    call(_MUL, (self, other), None, None, self)
    return self


def div_(self, other, *, rounding_mode=None):
    div(self, other, rounding_mode=rounding_mode, out=self)
    return self


def clamp_(self, min=None, max=None):  # noqa: A002
    clamp(self, min, max, out=self)
    return self


# ---- operators ------------------------------------------------------------------------
def _binary_op(op):
    def method(self, other):
        if other is None:  # None would mean "absent input" to the C engine
            return NotImplemented
        try:
            return call(op, (self, other))
        except TypeError:
            return NotImplemented
    return method


def _rbinary_op(op):
    def method(self, other):
        if other is None:
            return NotImplemented
        try:
            return call(op, (other, self))
        except TypeError:
            return NotImplemented
    return method


def _ibinary_op(op):
    def method(self, other):
        call(op, (self, other), None, None, self)
        return self
    return method


def __truediv__(self, other):
    try:
        return call(_DIV, (self, other))
    except TypeError:
        return NotImplemented


def __floordiv__(self, other):
    return floor_divide(self, other)


def __rfloordiv__(self, other):
    return floor_divide(other, self)


def __mod__(self, other):
    return remainder(self, other)


def __rmod__(self, other):
    return remainder(other, self)


def __pos__(self):
    return self


def _bool_only(name):
    def check(self, other=None):
        if self.dtype is not dt.bool or (isinstance(other, Tensor) and
                                         other.dtype is not dt.bool):
            raise RuntimeError(f"{name} is only supported for bool tensors in ptlite "
                               f"(got {self.dtype})")
    return check


_check_and = _bool_only("bitwise and (&)")
_check_or = _bool_only("bitwise or (|)")
_check_xor = _bool_only("bitwise xor (^)")
_check_not = _bool_only("bitwise not (~)")


def __and__(self, other):
    _check_and(self, other)
    return call(_AND, (self, other))


def __or__(self, other):
    _check_or(self, other)
    return call(_OR, (self, other))


def __xor__(self, other):
    _check_xor(self, other)
    return call(_NE, (self, other))


def __invert__(self):
    _check_not(self)
    return call(_NOT, (self,))


def __iand__(self, other):
    _check_and(self, other)
    call(_AND, (self, other), None, None, self)
    return self


def __ior__(self, other):
    _check_or(self, other)
    call(_OR, (self, other), None, None, self)
    return self


TORCH_FUNCTIONS = (
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
    "floor_divide", "remainder", "pow", "maximum", "minimum", "square",
    "eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater",
    "greater_equal", "logical_and", "logical_or", "logical_not", "logical_xor", "where",
    "isnan", "isfinite", "isinf", "sign", "allclose", "isclose", "equal",
    "neg", "negative", "abs", "absolute", "exp", "log", "sqrt", "rsqrt", "sin", "cos",
    "floor", "ceil", "round", "clamp", "clip", "clamp_min", "clamp_max",
)
FUNCTIONAL: tuple = ()

_METHOD_FUNCTIONS = (
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
    "floor_divide", "remainder", "pow", "maximum", "minimum", "square",
    "eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater",
    "greater_equal", "logical_and", "logical_or", "logical_not", "logical_xor", "where",
    "isnan", "isfinite", "isinf", "sign", "allclose", "isclose", "equal",
    "neg", "negative", "abs", "absolute", "exp", "log", "sqrt", "rsqrt", "sin", "cos",
    "floor", "ceil", "round", "clamp", "clip", "clamp_min", "clamp_max",
)

TENSOR_METHODS: dict = {name: globals()[name] for name in _METHOD_FUNCTIONS}
# x.where(condition, y) is torch.where(condition, x, y)
TENSOR_METHODS["where"] = lambda self, condition, other: where(condition, self, other)
TENSOR_METHODS.update(
    add_=add_, sub_=sub_, subtract_=sub_, mul_=mul_, multiply_=mul_, div_=div_,
    divide_=div_, true_divide_=_inplace(true_divide), floor_divide_=_inplace(floor_divide),
    remainder_=_inplace(remainder), pow_=_inplace(pow), square_=_inplace(square),
    clamp_=clamp_, clip_=clamp_, neg_=_inplace(neg), negative_=_inplace(neg),
    abs_=_inplace(abs), absolute_=_inplace(abs), exp_=_inplace(exp), log_=_inplace(log),
    sqrt_=_inplace(sqrt), rsqrt_=_inplace(rsqrt), sin_=_inplace(sin), cos_=_inplace(cos),
    floor_=_inplace(floor), ceil_=_inplace(ceil), round_=_inplace(round),
    logical_not_=_inplace(logical_not), logical_and_=_inplace(logical_and),
    logical_or_=_inplace(logical_or), sign_=_inplace(sign),
    __add__=_binary_op(_ADD), __radd__=_rbinary_op(_ADD), __iadd__=_ibinary_op(_ADD),
    __sub__=_binary_op(_SUB), __rsub__=_rbinary_op(_SUB), __isub__=_ibinary_op(_SUB),
    __mul__=_binary_op(_MUL), __rmul__=_rbinary_op(_MUL), __imul__=_ibinary_op(_MUL),
    __truediv__=__truediv__, __rtruediv__=_rbinary_op(_DIV), __itruediv__=_ibinary_op(_DIV),
    __floordiv__=__floordiv__, __rfloordiv__=__rfloordiv__,
    __ifloordiv__=_inplace(floor_divide), __mod__=__mod__, __rmod__=__rmod__,
    __pow__=_binary_op(_POW), __rpow__=_rbinary_op(_POW), __ipow__=_ibinary_op(_POW),
    __neg__=neg, __pos__=__pos__, __abs__=abs,
    __eq__=_binary_op(_EQ), __ne__=_binary_op(_NE), __lt__=_binary_op(_LT),
    __le__=_binary_op(_LE), __gt__=_binary_op(_GT), __ge__=_binary_op(_GE),
    __and__=__and__, __rand__=__and__, __or__=__or__, __ror__=__or__, __xor__=__xor__,
    __rxor__=__xor__, __invert__=__invert__, __iand__=__iand__, __ior__=__ior__,
    # __eq__ must not make tensors unhashable: keep identity hashing
    __hash__=Tensor.__hash__,
)
