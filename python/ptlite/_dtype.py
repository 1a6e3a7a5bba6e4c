"""Element types, named as torch names them."""
from __future__ import annotations

import numpy as np


class dtype:
    """A tensor element type (``ptlite.float32`` etc.)."""

    __slots__ = ("name", "code", "itemsize", "is_floating_point", "is_signed", "is_quantized",
                 "_np")

    def __init__(self, name: str, code: int, itemsize: int, is_floating_point: bool,
                 is_signed: bool, is_quantized: bool, np_dtype) -> None:
        self.name = name
        self.code = code
        self.itemsize = itemsize
        self.is_floating_point = is_floating_point
        self.is_signed = is_signed
        self.is_quantized = is_quantized
        self._np = np.dtype(np_dtype)

    def __repr__(self) -> str:
        return "ptlite." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))


# codes match enum ptl_dtype in csrc/include/ptlite.h
float32 = dtype("float32", 0, 4, True, True, False, np.float32)
float16 = dtype("float16", 1, 2, True, True, False, np.float16)
int8 = dtype("int8", 2, 1, False, True, False, np.int8)
uint8 = dtype("uint8", 3, 1, False, False, False, np.uint8)
int32 = dtype("int32", 4, 4, False, True, False, np.int32)
int64 = dtype("int64", 5, 8, False, True, False, np.int64)
bool = dtype("bool", 6, 1, False, False, False, np.bool_)  # noqa: A001 (torch's name)
quint8 = dtype("quint8", 7, 1, False, False, True, np.uint8)
qint8 = dtype("qint8", 8, 1, False, True, True, np.int8)
qint32 = dtype("qint32", 9, 4, False, True, True, np.int32)

float = float32  # noqa: A001
half = float16
int = int32  # noqa: A001
long = int64
short = None  # int16 is not supported

BY_CODE = (float32, float16, int8, uint8, int32, int64, bool, quint8, qint8, qint32)
_NAMES = {d.name: d for d in BY_CODE}
_FROM_NUMPY = {np.dtype(np.float32): float32, np.dtype(np.float16): float16,
               np.dtype(np.int8): int8, np.dtype(np.uint8): uint8, np.dtype(np.int32): int32,
               np.dtype(np.int64): int64, np.dtype(np.bool_): bool}


def _by_name(name: str) -> dtype:
    return _NAMES[name]


def from_numpy_dtype(npd) -> dtype:
    """The ptlite dtype of a NumPy dtype; TypeError if there is none."""
    d = _FROM_NUMPY.get(np.dtype(npd))
    if d is None:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{np.dtype(npd).name}. The only supported "
            "types are: float32, float16, int64, int32, int8, uint8, and bool.")
    return d


def to_dtype(d) -> dtype:
    """Accepts a ptlite dtype, a NumPy dtype or a Python type (float, int, bool)."""
    if isinstance(d, dtype):
        return d
    import builtins
    if d is builtins.float:
        return float32
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool
    try:
        return from_numpy_dtype(d)
    except TypeError:
        raise TypeError(f"unsupported dtype {d!r}") from None
