"""ptlite.Tensor: a torch-like tensor backed by a C ptl_tensor.

The C object holds dtype, shape, strides and storage; NumPy sees the same memory
through the buffer protocol. Op methods are installed by the op family modules
(ptlite/_ops/*.py), each a thin wrapper around one C op.
"""
from __future__ import annotations

import builtins
import functools
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _C
from . import _dtype as dt
from ._ops.table import call, op_id

_COPY = op_id("copy")
_FILL = op_id("fill")
_ARANGE = op_id("arange")
_RAND = op_id("rand")
_RANDN = op_id("randn")
_RANDINT = op_id("randint")


class Size(tuple):
    """The shape of a tensor: a tuple of ints, as ``torch.Size``."""

    def __repr__(self) -> str:
        return "ptlite.Size([" + ", ".join(str(d) for d in self) + "])"

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n


class device:
    """Only the CPU exists for ptlite; kept so torch code that names it runs."""

    def __init__(self, type: str = "cpu", index: Optional[int] = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type = type.type
        if str(type).split(":")[0] != "cpu":
            raise RuntimeError(f"ptlite runs on the CPU only; got device {type!r}")
        self.type = "cpu"
        self.index = index

    def __repr__(self) -> str:
        return "device(type='cpu')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, device) or other == "cpu"

    def __hash__(self) -> int:
        return hash("cpu")


_CPU = device("cpu")

# ---- grad mode (a flag until autograd lands) ---------------------------------
_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class _GradMode:
    _value = True

    def __enter__(self) -> None:
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self._value

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator that disables gradient recording."""
    _value = False


class enable_grad(_GradMode):
    """Context manager and decorator that enables gradient recording."""
    _value = True


class inference_mode(no_grad):
    """Same as :class:`no_grad` in ptlite."""

    def __init__(self, mode: bool = True) -> None:
        self._value = not mode


# ---- tracing state (ptlite.jit.trace sets it) ------------------------------------
class TracerWarning(Warning):
    """Python code read a tensor's value while tracing: the graph keeps the value seen
    for the example input as a constant, so the trace may not generalize."""


class _TraceState:
    depth = 0


def _value_read(what: str) -> None:
    if _TraceState.depth > 0:
        import warnings
        warnings.warn(
            f"Converting a tensor to {what} might cause the trace to be incorrect. We can't "
            "record the data flow of Python values, so this value will be treated as a "
            "constant in the future. This means that the trace might not generalize to "
            "other inputs!", TracerWarning, stacklevel=3)


# ---- the tensor ---------------------------------------------------------------
class Tensor(_C.TensorBase):
    """A multi-dimensional array of one dtype, with torch's API.

    Create tensors with :func:`ptlite.tensor`, :func:`ptlite.zeros`, ... or
    :func:`ptlite.from_numpy`. ``Tensor.numpy()`` shares memory with the tensor.
    """

    requires_grad = False
    grad: Optional["Tensor"] = None
    _base_array = None  # keeps a NumPy source alive for zero-copy tensors

    # -- metadata --
    @property
    def shape(self) -> Size:
        return Size(self._shape)

    def size(self, dim: Optional[int] = None):
        """The shape, or the size of dimension ``dim``."""
        if dim is None:
            return Size(self._shape)
        shape = self._shape
        n = len(shape)
        if not -builtins.max(n, 1) <= dim < builtins.max(n, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-n}, {n - 1}], but got {dim})")
        return shape[dim]

    @property
    def dtype(self) -> dt.dtype:
        return dt.BY_CODE[self._dtype]

    @property
    def ndim(self) -> int:
        return self._ndim

    def dim(self) -> int:
        return self._ndim

    def ndimension(self) -> int:
        return self._ndim

    def numel(self) -> int:
        return self._numel

    nelement = numel

    def stride(self, dim: Optional[int] = None):
        return self._strides if dim is None else self._strides[dim]

    def storage_offset(self) -> int:
        return self._offset

    def element_size(self) -> int:
        return self.dtype.itemsize

    def data_ptr(self) -> int:
        return self._data_ptr

    def is_contiguous(self, memory_format=None) -> bool:
        if memory_format is channels_last:
            return builtins.bool(self._is_channels_last)
        return builtins.bool(self._is_contiguous)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    @property
    def is_quantized(self) -> bool:
        return self.dtype.is_quantized

    @property
    def device(self) -> device:
        return _CPU

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def layout(self) -> str:
        return "strided"

    @property
    def data(self) -> "Tensor":
        return _C.alias(Tensor, self)

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError("data must be a Tensor")
        _C.set_(self, value)

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self._ndim)))

    # -- grad placeholders (autograd lands with quantization-aware training) --
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    def detach(self) -> "Tensor":
        return _C.alias(Tensor, self)

    def detach_(self) -> "Tensor":
        return self

    # -- NumPy and Python values --
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """A NumPy array sharing this tensor's memory."""
        d = self.dtype
        if d.is_quantized:
            raise TypeError("numpy() of a quantized tensor: use int_repr() or dequantize()")
        _value_read("a NumPy array")
        return np.asarray(self)

    def __array__(self, dtype=None, copy=None):
        a = np.asarray(memoryview(self))
        return a if dtype is None else a.astype(dtype)

    def tolist(self):
        _value_read("a Python list")
        return self.numpy().tolist()

    def item(self):
        if self._numel != 1:
            raise RuntimeError(f"a Tensor with {self._numel} elements cannot be converted "
                               "to Scalar")
        _value_read("a Python number")
        return self.numpy().reshape(()).item()

    def __bool__(self) -> bool:
        if self._numel != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is "
                               "ambiguous")
        _value_read("a Python boolean")
        return builtins.bool(self.numpy().reshape(()).item())

    def __float__(self) -> float:
        return builtins.float(self.item())

    def __int__(self) -> int:
        return builtins.int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self._numel != 1:
            raise TypeError("only integer tensors of a single element can be converted "
                            "to an index")
        return builtins.int(self.item())

    def __len__(self) -> int:
        if self._ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __iter__(self):
        if self._ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self._shape[0]):
            yield self[i]

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return _format(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (np.array(self.numpy()) if not self.dtype.is_quantized else None,
                           self.dtype.name, type(self)))

    def __deepcopy__(self, memo):
        out = self.clone()
        if type(self) is not Tensor:
            out = _C.alias(type(self), out)
            out.requires_grad = self.requires_grad
        memo[id(self)] = out
        return out

    # -- conversion --
    def to(self, *args, **kwargs) -> "Tensor":
        """``to(dtype)``, ``to(device)``, ``to(other)``; ``copy=True`` forces a copy."""
        target = kwargs.get("dtype")
        for a in args:
            if isinstance(a, dt.dtype):
                target = a
            elif isinstance(a, Tensor):
                target = a.dtype
            elif isinstance(a, (str, device)):
                device(a)
        if "device" in kwargs and kwargs["device"] is not None:
            device(kwargs["device"])
        if target is None or target is self.dtype:
            return self.clone() if kwargs.get("copy") else self
        return _convert(self, target)

    def type(self, dtype=None):
        if dtype is None:
            return "ptlite." + {"float32": "FloatTensor", "float16": "HalfTensor",
                                "int64": "LongTensor", "int32": "IntTensor",
                                "int8": "CharTensor", "uint8": "ByteTensor",
                                "bool": "BoolTensor"}.get(self.dtype.name, "Tensor")
        return self.to(dt.to_dtype(dtype))

    def float(self) -> "Tensor":
        return self.to(dt.float32)

    def half(self) -> "Tensor":
        return self.to(dt.float16)

    def int(self) -> "Tensor":
        return self.to(dt.int32)

    def long(self) -> "Tensor":
        return self.to(dt.int64)

    def bool(self) -> "Tensor":
        return self.to(dt.bool)

    def byte(self) -> "Tensor":
        return self.to(dt.uint8)

    def char(self) -> "Tensor":
        return self.to(dt.int8)

    def double(self) -> "Tensor":
        raise TypeError("ptlite has no float64 dtype; use float() (float32)")

    def cpu(self) -> "Tensor":
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> "Tensor":
        raise RuntimeError("ptlite runs on the CPU only")

    def clone(self, memory_format=None) -> "Tensor":
        fmt = 2 if memory_format is channels_last else 1
        return call(_COPY, (self,), (-1, fmt))

    def contiguous(self, memory_format=None) -> "Tensor":
        if memory_format is channels_last:
            if self._is_channels_last:
                return self
            return call(_COPY, (self,), (-1, 2))
        if self._is_contiguous:
            return self
        return call(_COPY, (self,), (-1, 0))

    def copy_(self, src: "Tensor", non_blocking: bool = False) -> "Tensor":
        """Copies ``src`` into this tensor (broadcasting, converting dtype)."""
        src = as_tensor(src)
        if src.shape != self.shape:
            src = src.expand(*self._shape)
        call(_COPY, (src,), (self._dtype, 1), None, self)
        return self

    def fill_(self, value) -> "Tensor":
        call(_FILL, (), (self._dtype, self._ndim) + self._shape, (builtins.float(value),), self)
        return self

    def zero_(self) -> "Tensor":
        return self.fill_(0.0)

    def new_zeros(self, *size, dtype=None, **kw) -> "Tensor":
        return zeros(*size, dtype=dtype or self.dtype)

    def new_ones(self, *size, dtype=None, **kw) -> "Tensor":
        return ones(*size, dtype=dtype or self.dtype)

    def new_full(self, size, fill_value, dtype=None, **kw) -> "Tensor":
        return full(size, fill_value, dtype=dtype or self.dtype)

    def new_empty(self, *size, dtype=None, **kw) -> "Tensor":
        return empty(*size, dtype=dtype or self.dtype)

    def new_tensor(self, data, dtype=None, **kw) -> "Tensor":
        return tensor(data, dtype=dtype or self.dtype)

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> "Tensor":
        r = rand(*self._shape)
        return self.copy_(r * (b - a) + a)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> "Tensor":
        r = randn(*self._shape)
        return self.copy_(r * std + mean)


class _MemoryFormat:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return "ptlite." + self.name


channels_last = _MemoryFormat("channels_last")
contiguous_format = _MemoryFormat("contiguous_format")
preserve_format = _MemoryFormat("preserve_format")


def _rebuild(array, dtype_name, cls):
    t = tensor(array, dtype=dt._by_name(dtype_name))
    return t if cls is Tensor else _C.alias(cls, t)


def _convert(t: Tensor, target: dt.dtype) -> Tensor:
    return call(_COPY, (t,), (target.code, 1))


Tensor.__module__ = "ptlite"  # as torch.Tensor reports "torch"
_C.set_tensor_class(Tensor)


# ---- formatting ------------------------------------------------------------
def _format(t: Tensor) -> str:
    d = t.dtype
    if d.is_quantized:
        from ._ops.quant import qparams_repr
        body = _format(t.dequantize())[len("tensor("):-1]
        if t.numel() == 0:  # the float path already named the size
            body = body.split(", size=")[0]
        return (f"tensor({body}, size={tuple(t.shape)}, dtype={d!r},\n       "
                f"{qparams_repr(t)})")
    a = t.numpy()
    if a.size == 0:
        body = "[]"
    elif d.is_floating_point:
        a32 = a.astype(np.float32)
        finite = a32[np.isfinite(a32)]
        all_int = finite.size == 0 or builtins.bool(np.all(finite == np.round(finite)))
        big = finite.size and (np.abs(finite).max() >= 1e8 or
                               (np.abs(finite[finite != 0]).min(initial=1.0) < 1e-4))
        if all_int and not big:
            fmt = {"float_kind": lambda x: (f"{x:.0f}." if np.isfinite(x) else str(x))}
        elif big:
            fmt = {"float_kind": lambda x: f"{x:.4e}"}
        else:
            fmt = {"float_kind": lambda x: f"{x:.4f}"}
        body = np.array2string(a32, separator=", ", formatter=fmt, prefix="tensor(",
                               threshold=1000, edgeitems=3)
    elif d is dt.bool:
        body = np.array2string(a, separator=", ", prefix="tensor(",
                               formatter={"bool": lambda x: "True" if x else "False"})
    else:
        body = np.array2string(a, separator=", ", prefix="tensor(", threshold=1000)
    suffix = "" if d in (dt.float32, dt.int64, dt.bool) else f", dtype={d!r}"
    if a.size == 0 and t.ndim != 1:
        suffix = f", size={tuple(t.shape)}" + suffix
    return f"tensor({body}{suffix})"


# ---- creation ------------------------------------------------------------------
def _size_args(size: Sequence) -> Tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = size[0]
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (builtins.int, np.integer)) or isinstance(s, builtins.bool):
            raise TypeError(f"size must be a tuple of ints, but got an element of type "
                            f"{type(s).__name__}")
        out.append(builtins.int(s))
    return tuple(out)


def _default(dtype, fallback: dt.dtype = dt.float32) -> dt.dtype:
    return fallback if dtype is None else dt.to_dtype(dtype)


def _check_device(device_arg) -> None:
    if device_arg is not None:
        device(device_arg)


def _filled(shape: Tuple[int, ...], value, dtype: dt.dtype) -> Tensor:
    return call(_FILL, (), (dtype.code, len(shape)) + shape, (builtins.float(value),))


def empty(*size, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    """Uninitialised tensor of the given size."""
    _check_device(device)
    shape = _size_args(size)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"empty: negative dimension {s} in size {list(shape)}")
    t = _C.empty(shape, _default(dtype).code)
    if requires_grad:
        t.requires_grad = True
    return t


def zeros(*size, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    """Tensor of zeros."""
    _check_device(device)
    t = _filled(_size_args(size), 0.0, _default(dtype))
    t.requires_grad = requires_grad
    return t


def ones(*size, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    """Tensor of ones."""
    _check_device(device)
    t = _filled(_size_args(size), 1.0, _default(dtype))
    t.requires_grad = requires_grad
    return t


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False,
         **kw) -> Tensor:
    """Tensor of ``size`` filled with ``fill_value``."""
    _check_device(device)
    if dtype is None:
        dtype = (dt.bool if isinstance(fill_value, builtins.bool) else
                 dt.int64 if isinstance(fill_value, builtins.int) else dt.float32)
    return _filled(_size_args((size,)), fill_value, dt.to_dtype(dtype))


def _empty_like(input: Tensor, dtype) -> Tensor:
    """Uninitialised tensor like ``input``: torch's preserve_format keeps a dense
    layout (e.g. channels-last or transposed), anything else becomes contiguous."""
    d = dt.to_dtype(dtype) if dtype is not None else input.dtype
    if input._is_contiguous:
        return _C.empty(input._shape, d.code)
    return call(_COPY, (input,), (d.code, 1))


def empty_like(input: Tensor, dtype=None, **kw) -> Tensor:
    return _empty_like(input, dtype)


def zeros_like(input: Tensor, dtype=None, **kw) -> Tensor:
    return _empty_like(input, dtype).fill_(0.0)


def ones_like(input: Tensor, dtype=None, **kw) -> Tensor:
    return _empty_like(input, dtype).fill_(1.0)


def full_like(input: Tensor, fill_value, dtype=None, **kw) -> Tensor:
    return _empty_like(input, dtype).fill_(fill_value)


def rand_like(input: Tensor, dtype=None, **kw) -> Tensor:
    return rand(*input.shape, dtype=dtype or input.dtype)


def randn_like(input: Tensor, dtype=None, **kw) -> Tensor:
    return randn(*input.shape, dtype=dtype or input.dtype)


def arange(start, end=None, step=1, *, dtype=None, device=None, **kw) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) in steps of ``step``."""
    _check_device(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        dtype = (dt.int64 if all(isinstance(v, (builtins.int, np.integer)) for v in vals)
                 else dt.float32)
    return call(_ARANGE, (), (dt.to_dtype(dtype).code,), tuple(builtins.float(v) for v in vals))


def _random(op: int, size, dtype: dt.dtype, floats=None) -> Tensor:
    shape = _size_args(size)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"negative dimension {s} in size {list(shape)}")
    return call(op, (), (dtype.code, len(shape)) + shape, floats)


def rand(*size, dtype=None, generator=None, device=None, requires_grad: bool = False,
         **kw) -> Tensor:
    """Uniform random numbers in [0, 1)."""
    t = _random(_RAND, size, _default(dtype))
    t.requires_grad = requires_grad
    return t


def randn(*size, dtype=None, generator=None, device=None, requires_grad: bool = False,
          **kw) -> Tensor:
    """Standard normal random numbers."""
    t = _random(_RANDN, size, _default(dtype))
    t.requires_grad = requires_grad
    return t


def randint(low, high=None, size=None, *, dtype=None, generator=None, device=None,
            **kw) -> Tensor:
    """Random integers in [low, high)."""
    if size is None:
        # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    return _random(_RANDINT, (tuple(size),), _default(dtype, dt.int64),
                   (builtins.float(low), builtins.float(high)))


def randperm(n: int, dtype=None, **kw) -> Tensor:
    return from_numpy(np.argsort(rand(n).numpy(), kind="stable").astype(np.int64)).to(
        _default(dtype, dt.int64))


def manual_seed(seed: int):
    """Seeds ptlite's random generator."""
    _C.manual_seed(builtins.int(seed))
    return None


def seed() -> int:
    s = builtins.int(np.random.SeedSequence().entropy) & 0xFFFFFFFFFFFF
    _C.manual_seed(s)
    return s


# ---- from data -------------------------------------------------------------------
def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (no copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    d = dt.from_numpy_dtype(array.dtype)
    if any(s < 0 for s in array.strides) or any(s % array.itemsize for s in array.strides):
        raise ValueError("At least one stride in the given numpy array is negative or not a "
                         "multiple of the element size; copy the array first "
                         "(np.ascontiguousarray).")
    return _C.from_buffer(array, d.code)


def _infer_dtype(data) -> dt.dtype:
    if isinstance(data, np.ndarray):
        if data.dtype == np.float64:
            return dt.float32
        return dt.from_numpy_dtype(data.dtype)
    a = np.asarray(data)
    if a.dtype == np.bool_:
        return dt.bool
    if np.issubdtype(a.dtype, np.integer):
        return dt.int64
    if np.issubdtype(a.dtype, np.floating):
        return dt.float32
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def tensor(data, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor (always a copy) holding ``data``."""
    _check_device(device)
    if isinstance(data, Tensor):
        out = data.clone() if dtype is None else data.to(dt.to_dtype(dtype), copy=True)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
            data = [x.tolist() if isinstance(x, Tensor) else x for x in data]
        d = _infer_dtype(data) if dtype is None else dt.to_dtype(dtype)
        try:
            a = np.array(data)
            if a.dtype == object:
                raise ValueError("ragged or non-numeric data")
            a = a.astype(d._np)
        except (ValueError, TypeError) as e:
            raise type(e)(f"tensor(): could not convert data: {e}") from None
        if a.dtype == object:
            raise TypeError("tensor(): data must be numbers or nested sequences of numbers")
        out = _C.empty(a.shape, d.code)
        np.copyto(np.asarray(out), a, casting="unsafe")
    out.requires_grad = requires_grad
    return out


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, sharing memory where possible."""
    _check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dt.to_dtype(dtype))
    if isinstance(data, np.ndarray) and (dtype is None or
                                         dt.to_dtype(dtype)._np == data.dtype):
        try:
            return from_numpy(data)
        except (TypeError, ValueError):
            pass
    return tensor(data, dtype=dtype)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    return input.numel()


def install_methods(methods: dict) -> None:
    """Installs op-family functions as Tensor methods (called once at import)."""
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
