"""nn.Parameter: a tensor that a Module registers as one of its parameters."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _C
from .. import _dtype as dt
from .._tensor import Tensor, empty, tensor


class Parameter(Tensor):
    r"""A kind of Tensor that is to be considered a module parameter.

    Parameters are :class:`~ptlite.Tensor` subclasses that have a very special
    property when used with :class:`Module` s: when they're assigned as Module
    attributes they are automatically added to the list of its parameters, and
    will appear e.g. in :meth:`~Module.parameters` iterator.

    The parameter shares the C tensor (storage, shape, strides) of ``data``.

    Args:
        data (Tensor): parameter tensor.
        requires_grad (bool, optional): if the parameter requires gradient.
            Default: `True`
    """

    def __new__(cls, data: Optional[Tensor] = None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, got {type(data).__name__}")
        if requires_grad and not data.dtype.is_floating_point:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        p = _C.alias(cls, data)
        p.requires_grad = requires_grad
        return p

    def __init__(self, data: Optional[Tensor] = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        body = super().__repr__()
        if self.requires_grad and body.endswith(")"):
            body = body[:-1] + ", requires_grad=True)"
        return "Parameter containing:\n" + body

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter,
                (np.array(self.numpy()), self.dtype.name, type(self), self.requires_grad))


def _rebuild_parameter(array, dtype_name: str, cls, requires_grad: bool) -> Parameter:
    return cls(tensor(array, dtype=dt._by_name(dtype_name)), requires_grad)


class Buffer(Tensor):
    r"""A kind of Tensor that should not be considered a model parameter.

    Assigning a Buffer to a Module attribute registers it as a buffer (see
    :meth:`Module.register_buffer`).

    Args:
        data (Tensor): buffer tensor.
        persistent (bool, optional): whether the buffer is part of the module's
            :attr:`state_dict`. Default: ``True``
    """

    def __new__(cls, data: Optional[Tensor] = None, *, persistent: bool = True):
        if data is None:
            data = empty(0)
        b = _C.alias(cls, data)
        b.persistent = persistent
        return b

    def __init__(self, data: Optional[Tensor] = None, *, persistent: bool = True) -> None:
        pass
