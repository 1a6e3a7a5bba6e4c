"""ptlite.vision: torchvision's model zoo over ptlite.

``from ptlite.vision import models`` mirrors ``from torchvision import models`` for the
architectures ptlite ships (module trees and ``state_dict`` keys identical to torchvision's, so a
torchvision checkpoint loads with ``strict=True``). Pretrained weights are never downloaded.
"""
from . import models  # noqa: F401

__all__ = ["models"]
