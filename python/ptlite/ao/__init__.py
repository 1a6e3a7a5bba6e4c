"""ptlite.ao: torch.ao's import paths. ``ptlite.ao.quantization`` IS ``ptlite.quantization``
and ``ptlite.ao.nn.quantized`` / ``ptlite.ao.nn.intrinsic`` ARE ``ptlite.nn.quantized`` /
``ptlite.nn.intrinsic`` (the same module objects, so classes compare equal), including
every submodule already imported (the packages import all of theirs)."""
import sys as _sys
import types as _types

from .. import nn as _nn
from .. import quantization  # noqa: F401


def _alias(alias: str, real: str) -> None:
    for name, mod in list(_sys.modules.items()):
        if name == real or name.startswith(real + "."):
            _sys.modules[alias + name[len(real):]] = mod


_alias(__name__ + ".quantization", "ptlite.quantization")

nn = _types.ModuleType(__name__ + ".nn", "torch.ao.nn's import path for ptlite.nn.quantized "
                       "and ptlite.nn.intrinsic.")
nn.quantized = _nn.quantized
nn.intrinsic = _nn.intrinsic
_sys.modules[__name__ + ".nn"] = nn
_alias(__name__ + ".nn.quantized", "ptlite.nn.quantized")
_alias(__name__ + ".nn.intrinsic", "ptlite.nn.intrinsic")

ns = _types.ModuleType(__name__ + ".ns", "torch.ao.ns's import path for ptlite.quantization.ns.")
ns._numeric_suite = quantization.ns
_sys.modules[__name__ + ".ns"] = ns
_sys.modules[__name__ + ".ns._numeric_suite"] = quantization.ns
