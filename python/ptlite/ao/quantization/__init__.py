"""torch.ao.quantization's import path for ptlite.quantization."""
import sys as _sys

from ...quantization import *  # noqa: F401,F403
from ...quantization import __all__, observer  # noqa: F401

# `import ptlite.ao.quantization.observer` finds the same module
_sys.modules[__name__ + ".observer"] = observer
