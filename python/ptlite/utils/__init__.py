"""ptlite.utils: mobile_optimizer (optimize_for_mobile)."""
from . import mobile_optimizer  # noqa: F401
