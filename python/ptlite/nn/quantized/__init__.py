"""ptlite.nn.quantized: int8 modules with torch.ao.nn.quantized's names. ``convert`` builds
them from prepared float modules; their kernels are the quantized ops of the C engine."""
from . import dynamic  # noqa: F401
from . import functional  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all

__all__ = ["dynamic", "functional"] + list(_modules_all)
