"""ptlite.nn.functional: torch.nn.functional's names over ptlite's C kernels."""
from __future__ import annotations

from .._ops import families as _families

globals().update(_families.functional_names())
