"""ptlite.backends: torch.backends names that scripts set (quantized.engine)."""
from __future__ import annotations

from typing import List

__all__ = ["quantized"]


class _QuantizedEngine:
    """``ptlite.backends.quantized.engine``: which int8 arithmetic to follow.

    ptlite's int8 kernels follow XNNPACK/QNNPACK arithmetic on every engine name,
    so the name is recorded for the default qconfig choice (as torch's
    ``get_default_qconfig(backend)``) and scripts that set it run unchanged.
    """

    _ENGINES = ("qnnpack", "x86", "fbgemm", "onednn", "none")

    def __init__(self) -> None:
        self._engine = "qnnpack"

    @property
    def engine(self) -> str:
        return self._engine

    @engine.setter
    def engine(self, name: str) -> None:
        if name not in self._ENGINES:
            raise RuntimeError(f"quantized engine {name!r} is not supported; ptlite accepts "
                               f"{', '.join(repr(e) for e in self._ENGINES)}")
        self._engine = name

    @property
    def supported_engines(self) -> List[str]:
        return list(self._ENGINES)


quantized = _QuantizedEngine()
