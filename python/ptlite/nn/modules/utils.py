"""Argument helpers shared by the layer modules (torch.nn.modules.utils)."""
from __future__ import annotations

import collections.abc
from itertools import repeat
from typing import Any, Callable, Tuple


def _ntuple(n: int, name: str = "parse") -> Callable[[Any], Tuple]:
    def parse(x: Any) -> Tuple:
        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(repeat(x, n))

    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t: Tuple, n: int) -> Tuple:
    r"""Reverse the order of `t` and repeat each element for `n` times.

    This can be used to translate padding arg used by Conv and Pooling modules
    to the ones used by `F.pad`.
    """
    return tuple(x for x in reversed(t) for _ in range(n))
