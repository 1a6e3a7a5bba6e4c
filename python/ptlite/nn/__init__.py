"""ptlite.nn: modules (torch.nn's layer classes), parameters, init and functional."""
from . import functional  # noqa: F401
from . import init  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from . import modules  # noqa: F401

__all__ = ["Parameter", "Buffer", "functional", "init"] + list(_modules_all)
from . import intrinsic  # noqa: F401,E402
from . import quantized  # noqa: F401,E402
