"""Runs a script written for PyTorch with every ``torch`` import resolved to ptlite."""
from __future__ import annotations

import builtins


def import_as_ptlite(name, globals=None, locals=None, fromlist=(), level=0):
    """``__import__`` that resolves ``torch`` and ``torch.*`` to ``ptlite`` and ``ptlite.*``."""
    if level == 0 and (name == "torch" or name.startswith("torch.")):
        name = "ptlite" + name[len("torch"):]
    return builtins.__import__(name, globals, locals, fromlist, level)


def exec_script(source: str, filename: str, with_ptlite: bool) -> dict:
    """Executes ``source``; returns its namespace."""
    scope: dict = {"__name__": filename.rsplit(".", 1)[0]}
    if with_ptlite:
        scope["__builtins__"] = dict(vars(builtins), __import__=import_as_ptlite)
    exec(compile(source, filename, "exec"), scope)
    return scope
