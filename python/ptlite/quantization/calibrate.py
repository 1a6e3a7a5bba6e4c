"""calibrate(model, data, progress=True): runs a prepared model over calibration data."""
from __future__ import annotations

import sys
from typing import Any, Iterable, Optional

from .._tensor import no_grad

__all__ = ["calibrate"]


def calibrate(model: Any, data: Iterable[Any], progress: bool = True,
              max_batches: Optional[int] = None) -> Any:
    """Runs ``model`` (prepared by ``prepare`` or ``prepare_fx``) on every batch of
    ``data`` so its observers record activation ranges, with a tqdm progress bar when
    ``progress`` (and tqdm is installed). A batch is an input tensor, a tuple of inputs, or
    an (input, label) pair whose integer label is ignored. Returns the model."""
    total = None
    if hasattr(data, "__len__"):
        total = len(data)
        if max_batches is not None:
            total = min(total, max_batches)
    it: Iterable[Any] = data
    if progress:
        try:
            from tqdm.auto import tqdm
            it = tqdm(data, total=total, desc="calibrating", unit="batch", file=sys.stderr)
        except ImportError:
            pass
    from .._tensor import Tensor
    with no_grad():
        for i, batch in enumerate(it):
            if max_batches is not None and i >= max_batches:
                break
            args = batch if isinstance(batch, (tuple, list)) else (batch,)
            if len(args) == 2 and isinstance(args[1], Tensor) and \
                    not args[1].dtype.is_floating_point:
                args = args[:1]
            model(*args)
    if progress and hasattr(it, "close"):
        it.close()
    return model
