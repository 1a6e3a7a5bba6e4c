"""ptlite.ao: torch.ao's layout (``ptlite.ao.quantization`` is ``ptlite.quantization``)."""
from . import quantization  # noqa: F401
