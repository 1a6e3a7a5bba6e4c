"""ptlite.jit: capture a module as a graph with :func:`trace` and run it in C.

Tracing records every op the C engine dispatches while the example runs (the
dispatcher reports them to a tracer; see csrc/compiler/trace.c). The result is a
:class:`ScriptModule` whose ``forward`` runs the graph through the C interpreter,
which calls the same kernels as eager mode, so outputs are bit-identical.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import _C
from .._tensor import Tensor, TracerWarning, _TraceState
from .._dtype import BY_CODE

__all__ = ["trace", "ScriptModule", "TracerWarning", "TracingCheckError", "is_tracing",
           "script", "save", "load"]


class TracingCheckError(RuntimeError):
    """The traced graph does not reproduce the eager outputs."""


def is_tracing() -> bool:
    """True while :func:`trace` is recording."""
    return _TraceState.depth > 0


# ---- structure of inputs and outputs -------------------------------------------------
def _flatten(obj: Any, out: List[Tensor]) -> Any:
    """Appends the tensors of a nested tuple/list/dict to ``out``; returns its spec."""
    if isinstance(obj, Tensor):
        out.append(obj)
        return ("T",)
    if isinstance(obj, (tuple, list)):
        return ("tuple" if isinstance(obj, tuple) else "list",
                tuple(_flatten(x, out) for x in obj))
    if isinstance(obj, dict):
        keys = tuple(obj.keys())
        return ("dict", keys, tuple(_flatten(obj[k], out) for k in keys))
    raise TypeError(f"trace: only Tensors and tuples, lists and dicts of them are supported "
                    f"as inputs and outputs, got {type(obj).__name__}")


def _unflatten(spec: Any, it) -> Any:
    kind = spec[0]
    if kind == "T":
        return next(it)
    if kind == "tuple":
        return tuple(_unflatten(s, it) for s in spec[1])
    if kind == "list":
        return [_unflatten(s, it) for s in spec[1]]
    return {k: _unflatten(s, it) for k, s in zip(spec[1], spec[2])}


def _spec_names(spec: Any, prefix: str, out: List[str]) -> None:
    kind = spec[0]
    if kind == "T":
        out.append(prefix)
    elif kind in ("tuple", "list"):
        for i, s in enumerate(spec[1]):
            _spec_names(s, f"{prefix}.{i}", out)
    else:
        for k, s in zip(spec[1], spec[2]):
            _spec_names(s, f"{prefix}.{k}", out)


_VALUE_KIND = ("input", "constant", "value")


def _type_str(dtype_code: int, shape: Tuple[int, ...]) -> str:
    name = BY_CODE[dtype_code].name
    short = {"float32": "Float", "float16": "Half", "int64": "Long", "int32": "Int",
             "int8": "Char", "uint8": "Byte", "bool": "Bool", "quint8": "QUInt8",
             "qint8": "QInt8", "qint32": "QInt32"}[name]
    return f"{short}({', '.join(str(d) for d in shape)})"


class ScriptModule:
    """A traced module: a C graph plus the parameters it was traced with.

    Calling it runs the graph through the C interpreter. ``graph`` prints the IR,
    ``code`` a Python-like listing.
    """

    def __init__(self, graph, in_spec: Any, out_spec: Any, module: Any = None,
                 name: str = "forward", extra_files: Optional[Dict[str, bytes]] = None) -> None:
        self._graph = graph
        self._in_spec = in_spec
        self._out_spec = out_spec
        self._module = module
        self._name = name
        self._extra_files = dict(extra_files or {})
        self.training = False
        # set by trace: whether the traced module was in training mode
        self._traced_training = False
        # set by optimize_for_mobile: [(pass, rewrites, nodes_removed, detail)]
        self._optimization_report: List[Tuple[str, int, int, str]] = []
        info = _C.graph_info(graph)
        self._info = info
        self._const_names = self._name_constants(info)
        for i, n in self._const_names.items():
            if info["values"][i][3] != n:
                _C.graph_set_name(graph, i, n)

    # -- files --
    def save(self, f: Any, _extra_files: Optional[Dict[str, Any]] = None) -> None:
        """Writes the module to a .ptl file (atomically: a temporary file, then rename)."""
        _write_atomic(f, self._serialize(_extra_files))

    def _save_for_lite_interpreter(self, f: Any,
                                   _extra_files: Optional[Dict[str, Any]] = None) -> None:
        """Same file as :meth:`save`: the lite runtime reads it."""
        self.save(f, _extra_files=_extra_files)

    def _serialize(self, extra_files: Optional[Dict[str, Any]] = None) -> bytes:
        meta = {
            "ptlite.version": _C.__version__.encode(),
            "ptlite.in_spec": json.dumps(_spec_to_json(self._in_spec)).encode(),
            "ptlite.out_spec": json.dumps(_spec_to_json(self._out_spec)).encode(),
        }
        if self._optimization_report:
            meta["ptlite.optimization_report"] = json.dumps(self._optimization_report).encode()
        files = dict(self._extra_files)
        files.update(extra_files or {})
        for name, content in files.items():
            meta["extra/" + name] = content.encode() if isinstance(content, str) else bytes(content)
        return _C.graph_save(self._graph, meta)

    def get_extra_files(self) -> Dict[str, bytes]:
        return dict(self._extra_files)

    # -- running --
    def forward(self, *args: Any) -> Any:
        flat: List[Tensor] = []
        spec = _flatten(tuple(args), flat)
        if spec != self._in_spec:
            raise RuntimeError(f"{self._name}: expected inputs structured as {self._in_spec}, "
                               f"got {spec}")
        outs = _C.graph_run(self._graph, flat)
        return _unflatten(self._out_spec, iter(outs))

    __call__ = forward

    def run_method(self, name: str, *args: Any) -> Any:
        if name != "forward":
            raise RuntimeError(f"method '{name}' is not defined; this module has 'forward'")
        return self.forward(*args)

    # -- module-like API --
    def eval(self) -> "ScriptModule":
        return self

    def train(self, mode: bool = True) -> "ScriptModule":
        if mode:
            raise RuntimeError("a traced module is frozen in eval mode; trace the module in "
                               "train mode to get training behaviour")
        return self

    def parameters(self, recurse: bool = True):
        return self._module.parameters(recurse) if self._module is not None else iter(())

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        if self._module is None:
            return iter(())
        return self._module.named_parameters(prefix=prefix, recurse=recurse)

    def state_dict(self, *args: Any, **kwargs: Any):
        if self._module is None:
            vals = self._info["values"]
            return {n: vals[i][4] for i, n in self._const_names.items() if not _is_anon(n)}
        return self._module.state_dict(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        module = self.__dict__.get("_module")
        if module is not None and not name.startswith("_"):
            return getattr(module, name)
        raise AttributeError(f"'ScriptModule' object has no attribute '{name}'")

    # -- inspection --
    def _name_constants(self, info: Dict[str, Any]) -> Dict[int, str]:
        names: Dict[int, str] = {}
        if self._module is None:
            for i, (kind, dtype, shape, name, const) in enumerate(info["values"]):
                if kind == 1:
                    names[i] = name or f"c{i}"
            return names
        by_ptr: Dict[Tuple[int, Tuple[int, ...]], str] = {}
        if self._module is not None and hasattr(self._module, "state_dict"):
            for k, v in self._module.state_dict(keep_vars=True).items():
                if isinstance(v, Tensor):
                    by_ptr.setdefault((v._data_ptr, tuple(v._shape)), k)
        for i, (kind, dtype, shape, name, const) in enumerate(info["values"]):
            if kind == 1:
                key = (const._data_ptr, tuple(const._shape))
                names[i] = by_ptr.get(key) or f"c{i}"
        return names

    def _value_name(self, i: int) -> str:
        kind, dtype, shape, name, const = self._info["values"][i]
        if kind == 1:
            n = self._const_names[i]
            return n if _is_anon(n) else "self." + n
        if name and kind == 0:
            return name
        return f"v{i}"

    @property
    def graph(self) -> "Graph":
        return Graph(self)

    @property
    def code(self) -> str:
        info = self._info
        lines = [f"def forward(self, {', '.join(self._value_name(i) for i in info['inputs'])}):"]
        for op, ints, floats, ins, outs in info["nodes"]:
            args = ", ".join(self._value_name(i) if i >= 0 else "None" for i in ins)
            attrs = []
            if ints:
                attrs.append(f"ints={list(ints)}")
            if floats:
                attrs.append(f"floats={list(floats)}")
            call = f"ops.{op}({args}{', ' if attrs and args else ''}{', '.join(attrs)})"
            lhs = ", ".join(self._value_name(o) for o in outs)
            lines.append(f"    {lhs} = {call}")
        rets = ", ".join(self._value_name(o) for o in info["outputs"])
        lines.append(f"    return {rets}")
        return "\n".join(lines) + "\n"

    def planned_activation_bytes(self, *example_inputs: Any) -> int:
        """Bytes of the activation arena the lite runtime plans for these inputs
        (one block per tensor, reused once the tensor is dead)."""
        flat: List[Tensor] = []
        _flatten(tuple(example_inputs), flat)
        return _C.graph_plan_bytes(self._graph, flat)

    def optimization_report(self) -> List[Dict[str, Any]]:
        """What optimize_for_mobile did: one entry per pass that ran, in order."""
        return [{"pass": p, "rewrites": r, "nodes_removed": n, "detail": d}
                for p, r, n, d in self._optimization_report]

    def op_histogram(self) -> Dict[str, int]:
        hist: Dict[str, int] = {}
        for node in self._info["nodes"]:
            hist[node[0]] = hist.get(node[0], 0) + 1
        return hist

    def __repr__(self) -> str:
        inner = type(self._module).__name__ if self._module is not None else "function"
        return f"RecursiveScriptModule(original_name={inner})"


def _is_anon(name: str) -> bool:
    return name[:1] == "c" and name[1:].isdigit()


def _spec_to_json(spec: Any) -> Any:
    if spec[0] == "T":
        return ["T"]
    if spec[0] in ("tuple", "list"):
        return [spec[0], [_spec_to_json(s) for s in spec[1]]]
    for k in spec[1]:
        if not isinstance(k, str):
            raise TypeError(f"save: dict outputs need str keys, got {k!r}")
    return ["dict", list(spec[1]), [_spec_to_json(s) for s in spec[2]]]


def _spec_from_json(obj: Any) -> Any:
    if obj[0] == "T":
        return ("T",)
    if obj[0] in ("tuple", "list"):
        return (obj[0], tuple(_spec_from_json(s) for s in obj[1]))
    return ("dict", tuple(obj[1]), tuple(_spec_from_json(s) for s in obj[2]))


def _write_atomic(f: Any, data: bytes) -> None:
    if hasattr(f, "write"):
        f.write(data)
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ptl-", dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved model is an ordinary file
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_source(f: Any) -> Any:
    """The file image as writable memory: a private copy-on-write map of a path (weights
    are used in place, straight from the page cache, and a write into a loaded weight
    stays private to the process), or a copy of bytes (which must stay immutable)."""
    if isinstance(f, (bytes, bytearray, memoryview)):
        return bytearray(f)
    if hasattr(f, "read"):
        return bytearray(f.read())
    import mmap
    with open(os.fspath(f), "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return b""
        return mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY)


def _from_image(data: bytes, cls: type) -> "ScriptModule":
    graph, meta = _C.graph_load(data)
    try:
        in_spec = _spec_from_json(json.loads(meta["ptlite.in_spec"]))
        out_spec = _spec_from_json(json.loads(meta["ptlite.out_spec"]))
    except (KeyError, ValueError, IndexError, TypeError) as e:
        from ..errors import ModelFormatError
        raise ModelFormatError(f"the .ptl file lacks valid input/output structure metadata "
                               f"({e})") from None
    extra = {k[len("extra/"):]: v for k, v in meta.items() if k.startswith("extra/")}
    m = cls(graph, in_spec, out_spec, None, extra_files=extra)
    if "ptlite.optimization_report" in meta:
        m._optimization_report = [tuple(r) for r in
                                  json.loads(meta["ptlite.optimization_report"])]
    return m


def save(m: ScriptModule, f: Any, _extra_files: Optional[Dict[str, Any]] = None) -> None:
    """Saves a traced module to a .ptl file (or a writable file object)."""
    if not isinstance(m, ScriptModule):
        raise TypeError(f"jit.save expects a ScriptModule (from jit.trace), got "
                        f"{type(m).__name__}")
    m.save(f, _extra_files=_extra_files)


def load(f: Any, map_location: Any = None,
         _extra_files: Optional[Dict[str, Any]] = None) -> ScriptModule:
    """Loads a module saved by :func:`save` (a path, a file object or bytes).

    ``_extra_files``: a dict whose keys name extra files to read; their contents
    are filled in as bytes, as torch.jit.load does.
    """
    m = _from_image(_read_source(f), ScriptModule)
    if _extra_files is not None:
        for k in list(_extra_files):
            _extra_files[k] = m._extra_files.get(k, b"")
    return m


class Graph:
    """Readable view of a traced graph (``print(module.graph)``)."""

    def __init__(self, module: ScriptModule) -> None:
        self._m = module

    def nodes(self):
        return list(self._m._info["nodes"])

    def __str__(self) -> str:
        m, info = self._m, self._m._info
        vals = info["values"]

        def typed(i: int) -> str:
            kind, dtype, shape, name, const = vals[i]
            return f"%{m._value_name(i)} : {_type_str(dtype, shape)}"

        params = [typed(i) for i in info["inputs"]]
        params += [typed(i) for i, v in enumerate(vals) if v[0] == 1]
        lines = ["graph(" + ",\n      ".join(params) + "):"]
        for op, ints, floats, ins, outs in info["nodes"]:
            attrs = []
            if ints:
                attrs.append(f"ints={list(ints)}")
            if floats:
                attrs.append(f"floats={[float(f) for f in floats]}")
            attr = f"[{', '.join(attrs)}]" if attrs else ""
            args = ", ".join(f"%{m._value_name(i)}" if i >= 0 else "None" for i in ins)
            lhs = ", ".join(typed(o) for o in outs)
            lines.append(f"  {lhs} = ptl::{op}{attr}({args})")
        lines.append("  return (" + ", ".join(f"%{m._value_name(o)}" for o in info["outputs"])
                     + ")")
        return "\n".join(lines) + "\n"

    __repr__ = __str__


def _input_names(fn: Any, n: int) -> List[str]:
    import inspect
    target = getattr(fn, "forward", fn)
    try:
        params = [p.name for p in inspect.signature(target).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"input_{i}" for i in range(n)]


def _outputs_equal(a: Sequence[Tensor], b: Sequence[Tensor]) -> Optional[str]:
    for i, (x, y) in enumerate(zip(a, b)):
        xa, ya = np.asarray(x), np.asarray(y)
        if xa.shape != ya.shape or xa.dtype != ya.dtype:
            return f"output {i}: {xa.dtype}{list(xa.shape)} vs {ya.dtype}{list(ya.shape)}"
        if not np.array_equal(xa, ya, equal_nan=True):
            diff = np.max(np.abs(xa.astype(np.float64) - ya.astype(np.float64)))
            return f"output {i}: values differ (max abs difference {diff:g})"
    return None


def trace(func: Any, example_inputs: Any = None, optimize: Any = None, check_trace: bool = True,
          check_inputs: Any = None, check_tolerance: float = 1e-5, strict: bool = True,
          _force_outplace: bool = False, _module_class: Any = None,
          example_kwarg_inputs: Any = None) -> ScriptModule:
    """Records the ops ``func(*example_inputs)`` runs and returns a :class:`ScriptModule`.

    Args:
        func: an ``nn.Module`` or a function taking tensors.
        example_inputs: a tensor or a tuple of tensors (nested tuples, lists and dicts
            of tensors are allowed).
        check_trace: run the graph on the example inputs and check it reproduces the
            eager outputs exactly.
    """
    if example_inputs is None:
        raise TypeError("trace() missing required argument 'example_inputs'")
    args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    flat: List[Tensor] = []
    in_spec = _flatten(args, flat)
    names = _input_names(func, len(flat))
    tracer = _C.trace_begin()
    _TraceState.depth += 1
    try:
        for t, name in zip(flat, names):
            _C.trace_input(tracer, t, name)
        out = func(*args)
        out_flat: List[Tensor] = []
        out_spec = _flatten(out, out_flat)
        out_names: List[str] = []
        _spec_names(out_spec, "output", out_names)
    except BaseException:
        _TraceState.depth -= 1
        _C.trace_abort(tracer)
        raise
    _TraceState.depth -= 1
    graph = _C.trace_end(tracer, out_flat, out_names)
    module = func if hasattr(func, "state_dict") else None
    sm = ScriptModule(graph, in_spec, out_spec, module)
    sm._traced_training = bool(getattr(func, "training", False))
    if check_trace:
        again: List[Tensor] = []
        _flatten(sm.forward(*args), again)
        problem = _outputs_equal(out_flat, again)
        if problem:
            raise TracingCheckError(
                "Tracing failed sanity checks! The traced graph does not reproduce the eager "
                f"outputs on the example inputs: {problem}. Python code that reads tensor "
                "values (see TracerWarnings) or non-deterministic ops are the usual cause.")
    return sm


def script(obj: Any, *args: Any, **kwargs: Any) -> Any:
    """Not supported: ptlite captures graphs by tracing."""
    raise NotImplementedError(
        "ptlite.jit.script is not supported yet: use ptlite.jit.trace(module, example_inputs) "
        "(models without data-dependent control flow trace to the same graph)")

from . import mobile  # noqa: E402,F401  (torch.jit.mobile)
