"""FloatFunctional and QFunctional: module wrappers of add/mul/cat so eager-mode
quantization can observe (and then quantize) their outputs."""
from __future__ import annotations

from typing import Any, List

from ...._ops import qeltwise as _qe
from .... import _dtype as dt
from ...._tensor import Tensor, tensor
from ...modules.linear import Identity
from ...modules.module import Module
from .utils import _activation_qparams

__all__ = ["FloatFunctional", "QFunctional"]


class FloatFunctional(Module):
    r"""State collector class for float operations.

    The instance of this class can be used instead of the ``torch.`` prefix for
    some operations. See example usage below.

    .. note::

        This class does not provide a ``forward`` hook. Instead, you must use
        one of the underlying functions (e.g. ``add``).

    Examples::

        >>> f_add = FloatFunctional()
        >>> a = torch.tensor(3.0)
        >>> b = torch.tensor(4.0)
        >>> f_add.add(a, b)  # Equivalent to ``torch.add(a, b)``

    Valid operation names:
        - add
        - cat
        - mul
        - add_relu
        - add_scalar
        - mul_scalar
    """

    def __init__(self) -> None:
        super().__init__()
        self.activation_post_process = Identity()

    def forward(self, x: Any) -> Any:
        raise RuntimeError("FloatFunctional is not intended to use the 'forward'. Please use "
                           "the underlying operation")

    def add(self, x: Tensor, y: Tensor) -> Tensor:
        return self.activation_post_process(x + y)

    def add_scalar(self, x: Tensor, y: float) -> Tensor:
        # torch does not observe here: the quantized op derives its output qparams
        return x + y

    def mul(self, x: Tensor, y: Tensor) -> Tensor:
        return self.activation_post_process(x * y)

    def mul_scalar(self, x: Tensor, y: float) -> Tensor:
        return x * y

    def cat(self, x: List[Tensor], dim: int = 0) -> Tensor:
        from .... import cat
        return self.activation_post_process(cat(x, dim=dim))

    def add_relu(self, x: Tensor, y: Tensor) -> Tensor:
        return self.activation_post_process((x + y).relu())


class QFunctional(Module):
    r"""Wrapper class for quantized operations: what ``convert`` turns a
    :class:`FloatFunctional` into. Its ``scale`` and ``zero_point`` are those of the
    outputs (from the FloatFunctional's observer).

    Examples::

        >>> q_add = QFunctional()
        >>> q_add.add(qa, qb)  # Equivalent to ``torch.ops.quantized.add(qa, qb, s, zp)``
    """

    def __init__(self) -> None:
        super().__init__()
        self.scale = 1.0
        self.zero_point = 0
        self.activation_post_process = Identity()

    def _get_name(self) -> str:
        return "QFunctional"

    def extra_repr(self) -> str:
        return f"scale={self.scale}, zero_point={self.zero_point}"

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "scale"] = tensor(self.scale, dtype=dt.float32)
        destination[prefix + "zero_point"] = tensor(self.zero_point, dtype=dt.int64)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: Any,
                              strict: bool, missing_keys: Any, unexpected_keys: Any,
                              error_msgs: Any) -> None:
        if prefix + "scale" in state_dict:
            self.scale = float(state_dict.pop(prefix + "scale"))
        elif strict:
            missing_keys.append(prefix + "scale")
        if prefix + "zero_point" in state_dict:
            self.zero_point = int(state_dict.pop(prefix + "zero_point"))
        elif strict:
            missing_keys.append(prefix + "zero_point")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, False, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x: Any) -> Any:
        raise RuntimeError("Functional is not intended to use the 'forward'. Please use the "
                           "underlying operation")

    def add(self, x: Tensor, y: Tensor) -> Tensor:
        return _qe.add(x, y, self.scale, self.zero_point)

    def mul(self, x: Tensor, y: Tensor) -> Tensor:
        return _qe.mul(x, y, self.scale, self.zero_point)

    def cat(self, x: List[Tensor], dim: int = 0) -> Tensor:
        return _qe.cat(x, self.scale, self.zero_point, dim)

    def add_relu(self, x: Tensor, y: Tensor) -> Tensor:
        return _qe.add_relu(x, y, self.scale, self.zero_point)

    def add_scalar(self, x: Tensor, y: float) -> Tensor:
        raise NotImplementedError("QFunctional.add_scalar is not supported yet; use add with "
                                  "a quantized tensor")

    def mul_scalar(self, x: Tensor, y: float) -> Tensor:
        raise NotImplementedError("QFunctional.mul_scalar is not supported yet; use mul with "
                                  "a quantized tensor")

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "QFunctional":
        if type(mod) is not FloatFunctional:
            raise TypeError(f"QFunctional.from_float expects an instance of FloatFunctional, "
                            f"got {type(mod).__name__}")
        q = cls()
        q.scale, q.zero_point = _activation_qparams(mod, "QFunctional")
        return q
