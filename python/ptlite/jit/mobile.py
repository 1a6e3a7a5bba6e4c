"""ptlite.jit.mobile: load a .ptl file for the lite interpreter."""
from __future__ import annotations

from typing import Any, List

from .. import _C
from .._tensor import Tensor
from . import ScriptModule, _flatten, _from_image, _read_source, _unflatten

__all__ = ["LiteScriptModule", "_load_for_lite_interpreter"]


class LiteScriptModule(ScriptModule):
    """A module loaded from a .ptl file: ``forward``, ``run_method``, ``get_extra_files``.

    It runs like the C runtime's sessions: the first call plans one activation arena
    by liveness (and packs the weights); every call copies the inputs into the
    plan's input tensors, runs without allocating activations, and returns copies
    of the outputs (the arena is reused by the next call).
    """

    _plan = None
    _plan_inputs: List[Tensor] = []

    def forward(self, *args: Any) -> Any:
        flat: List[Tensor] = []
        spec = _flatten(tuple(args), flat)
        info = self._info
        expected = [info["values"][i] for i in info["inputs"]]
        if spec != self._in_spec or any(
                t._dtype != v[1] or tuple(t._shape) != tuple(v[2])
                for t, v in zip(flat, expected)):
            # the unplanned interpreter names exactly what does not match
            return super().forward(*args)
        if self._plan is None:
            self._plan_inputs = [t.clone() for t in flat]
            self._plan = _C.plan_create(self._graph, self._plan_inputs)
        else:
            for dst, src in zip(self._plan_inputs, flat):
                dst.copy_(src)
        outs = [t.clone() for t in _C.plan_run(self._plan)]
        return _unflatten(self._out_spec, iter(outs))

    __call__ = forward

    def __repr__(self) -> str:
        return f"LiteScriptModule(inputs={len(self._info['inputs'])}, " \
               f"nodes={len(self._info['nodes'])})"


def _load_for_lite_interpreter(f: Any, map_location: Any = None) -> LiteScriptModule:
    """Loads a .ptl file (a path, a file object or bytes) for the lite interpreter."""
    return _from_image(_read_source(f), LiteScriptModule)
