"""ptlite.nn: modules and functional ops (STUB)."""
from . import functional  # noqa: F401
