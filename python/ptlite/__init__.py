"""ptlite: a torch-like API over a small C engine, from notebook to phone.

``import ptlite as torch`` runs the supported subset of a PyTorch script.
"""
from __future__ import annotations

from . import _C
from . import _dtype
from ._dtype import (bool, dtype, float, float16, float32, half, int, int8, int32, int64,
                     long, qint8, qint32, quint8, uint8)
from ._tensor import (Size, Tensor, arange, as_tensor, channels_last, contiguous_format,
                      device, empty, empty_like, enable_grad, from_numpy, full, full_like,
                      inference_mode, is_grad_enabled, is_tensor, manual_seed, no_grad,
                      numel, ones, ones_like, preserve_format, rand, rand_like, randint,
                      randn, randn_like, randperm, seed, tensor, zeros, zeros_like)
from . import errors
from ._ops import families as _families

__version__ = _C.__version__

_families.install(globals())

from . import nn  # noqa: E402
from . import jit  # noqa: E402
from . import vision  # noqa: E402
from . import utils  # noqa: E402
from . import backends  # noqa: E402
from . import quantization  # noqa: E402
from . import ao  # noqa: E402


def set_num_threads(n: int) -> None:
    """Sets the number of threads ptlite's kernels use."""
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads ptlite's kernels use (default: physical cores)."""
    return _C.get_num_threads()
