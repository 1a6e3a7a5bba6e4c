"""Activations, softmax and dropout (csrc/runtime/kernels/activation.c) with
torch.nn.functional's names and defaults. ``inplace=True`` passes the input as
the output tensor (its data_ptr is unchanged)."""
from __future__ import annotations

import builtins
import warnings

from .. import _dtype as dt
from .._tensor import ones
from .table import call, op_id

_RELU = op_id("relu")
_HARDTANH = op_id("hardtanh")
_SIGMOID = op_id("sigmoid")
_TANH = op_id("tanh")
_GELU = op_id("gelu")
_SILU = op_id("silu")
_LEAKY_RELU = op_id("leaky_relu")
_ELU = op_id("elu")
_HARDSWISH = op_id("hardswish")
_HARDSIGMOID = op_id("hardsigmoid")
_PRELU = op_id("prelu")
_SOFTMAX = op_id("softmax")
_LOG_SOFTMAX = op_id("log_softmax")
_DROPOUT = op_id("dropout")
_MUL = op_id("mul")
_LE = op_id("le")
_WHERE = op_id("where")

_GELU_APPROX = {"none": None, "tanh": (1,)}
_RELU6 = (0.0, 6.0)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def relu(input, inplace: bool = False):
    """max(input, 0); integer tensors stay integer."""
    return call(_RELU, (input,), None, None, input if inplace else None)


def relu_(input):
    return call(_RELU, (input,), None, None, input)


def relu6(input, inplace: bool = False):
    return call(_HARDTANH, (input,), None, _RELU6, input if inplace else None)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return call(_HARDTANH, (input,), None, (builtins.float(min_val), builtins.float(max_val)),
                input if inplace else None)


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0):
    return hardtanh(input, min_val, max_val, True)


def sigmoid(input, *, out=None):
    return call(_SIGMOID, (input,), None, None, out)


def tanh(input, *, out=None):
    return call(_TANH, (input,), None, None, out)


def gelu(input, approximate: str = "none"):
    """x * Phi(x) (erf), or the tanh approximation with approximate='tanh'."""
    try:
        ints = _GELU_APPROX[approximate]
    except (KeyError, TypeError):
        raise RuntimeError(f"approximate argument must be either none or tanh, got "
                           f"{approximate!r}") from None
    return call(_GELU, (input,), ints)


def silu(input, inplace: bool = False):
    return call(_SILU, (input,), None, None, input if inplace else None)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    return call(_LEAKY_RELU, (input,), None, (builtins.float(negative_slope),),
                input if inplace else None)


def leaky_relu_(input, negative_slope: float = 0.01):
    return leaky_relu(input, negative_slope, True)


def elu(input, alpha: float = 1.0, inplace: bool = False):
    return call(_ELU, (input,), None, (builtins.float(alpha), 1.0, 1.0),
                input if inplace else None)


def elu_(input, alpha: float = 1.0):
    return elu(input, alpha, True)


def selu(input, inplace: bool = False):
    return call(_ELU, (input,), None, (_SELU_ALPHA, _SELU_SCALE, 1.0),
                input if inplace else None)


def celu(input, alpha: float = 1.0, inplace: bool = False):
    alpha = builtins.float(alpha)
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return call(_ELU, (input,), None, (alpha, 1.0, 1.0 / alpha), input if inplace else None)


def hardswish(input, inplace: bool = False):
    return call(_HARDSWISH, (input,), None, None, input if inplace else None)


def hardsigmoid(input, inplace: bool = False):
    return call(_HARDSIGMOID, (input,), None, None, input if inplace else None)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x); weight has 1 or C (= input.size(1)) elements."""
    return call(_PRELU, (input, weight))


def threshold(input, threshold: float, value: float, inplace: bool = False):
    """value where input <= threshold, else input (nan stays nan)."""
    r = call(_WHERE, (call(_LE, (input, threshold)), value, input))
    return input.copy_(r) if inplace else r


def _softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the "
                  f"call to include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (numerically stable)."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dt.to_dtype(dtype))
    return call(_SOFTMAX, (input,), (dim,))


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dt.to_dtype(dtype))
    return call(_LOG_SOFTMAX, (input,), (dim,))


def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dt.to_dtype(dtype))
    return call(_SOFTMAX, (call(_MUL, (input, -1)),), (dim,))


def _torch_softmax(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dt.to_dtype(dtype))
    return call(_SOFTMAX, (input,), (dim,))


def _torch_log_softmax(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dt.to_dtype(dtype))
    return call(_LOG_SOFTMAX, (input,), (dim,))


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zeroes elements with probability p and scales the rest by 1/(1-p) when
    training; otherwise (or p == 0) returns ``input`` itself, as torch."""
    _check_p(p)
    if not training or p == 0 or input.numel() == 0:
        return input
    return call(_DROPOUT, (input,), None, (builtins.float(p),), input if inplace else None)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zeroes whole channels (dim 1 of a 3-d or 4-d input)."""
    _check_p(p)
    if not training or p == 0 or input.numel() == 0:
        return input
    if input.ndim not in (3, 4):
        raise RuntimeError(f"dropout2d: expected a 3-d or 4-d input, got {input.ndim}-d")
    shape = tuple(input.shape[:input.ndim - 2]) + (1, 1)
    mask = call(_DROPOUT, (ones(*shape, dtype=input.dtype),), None, (builtins.float(p),))
    return call(_MUL, (input, mask), None, None, input if inplace else None)


def _method_softmax(self, dim, dtype=None):
    return _torch_softmax(self, dim, dtype)


def _method_log_softmax(self, dim, dtype=None):
    return _torch_log_softmax(self, dim, dtype)


def _sigmoid_(self):
    return call(_SIGMOID, (self,), None, None, self)


def _tanh_(self):
    return call(_TANH, (self,), None, None, self)


# torch.<name> functions; torch.softmax(x, dim) and torch.dropout(x, p, train) take the
# same positional arguments as the functional versions exported here
TORCH_FUNCTIONS = ("relu", "relu_", "sigmoid", "tanh", "prelu", "selu", "celu",
                   "threshold", "softmax", "log_softmax", "dropout")
FUNCTIONAL = ("relu", "relu_", "relu6", "hardtanh", "hardtanh_", "sigmoid", "tanh", "gelu",
              "silu", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu",
              "hardswish", "hardsigmoid", "prelu", "threshold", "softmax", "log_softmax",
              "softmin", "dropout", "dropout2d")
TENSOR_METHODS: dict = {
    "relu": relu, "relu_": relu_, "sigmoid": sigmoid, "sigmoid_": _sigmoid_, "tanh": tanh,
    "tanh_": _tanh_, "softmax": _method_softmax, "log_softmax": _method_log_softmax,
    "prelu": prelu,
}

