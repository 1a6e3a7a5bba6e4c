"""Helpers shared by the int8 fast-path tests: run a call on both backends, and build a
quint8 tensor holding given integers."""
from __future__ import annotations

import numpy as np

import ptlite
from ptlite import _C

FAST, REF = 0, 1


def run_both(fn):
    """fn() on the fast backend and on the reference backend, as int arrays."""
    out = {}
    prev = _C.get_backend()
    try:
        for code in (FAST, REF):
            _C.set_backend(code)
            out[code] = fn().int_repr().numpy().astype(np.int64)
    finally:
        _C.set_backend(prev)
    return out[FAST], out[REF]


def q_from_ints(q: np.ndarray, scale: float, zp: int, channels_last: bool = False):
    """A quint8 tensor holding exactly the integers q."""
    scale = float(np.float32(scale))
    f = ((q.astype(np.float64) - zp) * scale).astype(np.float32)
    t = ptlite.tensor(f)
    if channels_last:
        t = t.contiguous(memory_format=ptlite.channels_last)
    p = ptlite.quantize_per_tensor(t, scale, zp, ptlite.quint8)
    np.testing.assert_array_equal(p.int_repr().numpy(), q)
    return p
