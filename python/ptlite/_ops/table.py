"""Op ids from the C op table (csrc/runtime/ops.def): the single source of truth."""
from __future__ import annotations

from .. import _C

_TABLE = _C.op_table()


def op_id(name: str) -> int:
    """The numeric id of the op called ``name`` in ops.def."""
    return _TABLE[name][0]


def op_names() -> list:
    return sorted(_TABLE)


call = _C.call
