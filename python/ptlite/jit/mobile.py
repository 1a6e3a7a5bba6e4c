"""ptlite.jit.mobile: load a .ptl file for the lite interpreter."""
from __future__ import annotations

from typing import Any

from . import ScriptModule, _from_image, _read_source

__all__ = ["LiteScriptModule", "_load_for_lite_interpreter"]


class LiteScriptModule(ScriptModule):
    """A module loaded from a .ptl file: ``forward``, ``run_method``, ``get_extra_files``."""

    def __repr__(self) -> str:
        return f"LiteScriptModule(inputs={len(self._info['inputs'])}, " \
               f"nodes={len(self._info['nodes'])})"


def _load_for_lite_interpreter(f: Any, map_location: Any = None) -> LiteScriptModule:
    """Loads a .ptl file (a path, a file object or bytes) for the lite interpreter."""
    return _from_image(_read_source(f), LiteScriptModule)
