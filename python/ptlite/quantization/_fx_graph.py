"""Internals of graph-mode quantization (quantize_fx.py): the traced graph as a Python
node list that knows which module each op came from, torch's conv/linear + batch-norm
folding arithmetic, and the node-by-node executor both graph modules use.

Module identity: while tracing, forward pre/post hooks on every module dispatch a marker
``fill`` op (an empty tensor whose fill value encodes the event index), so the recorded
node sequence carries module enter/exit events; the markers are dropped afterwards.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import _dtype as dt
from .._ops import table as _table
from .._tensor import Tensor, tensor as _tensor

# Every op of the executors goes through _call (tests replace it to emulate kernels
# that have not landed yet).
_call = _table.call

_FILL = _table.op_id("fill")
_MARK_BASE = 1234567.0  # fill value of marker k: _MARK_BASE + k (exact in float32 < 2**24)
_MARK_INTS = (dt.float32.code, 1, 0)  # an empty 1-d float32 tensor


class FxNode:
    """One op of the graph. ``module_name``/``module``: the leaf module (torch's
    call_module) that ran it, if any; ``scope_name``/``scope_type``: the innermost
    enclosing module otherwise (torch's call_function scope); ``call_index``: torch's
    object-type order index used by set_module_name_object_type_order."""

    __slots__ = ("op", "op_id", "ints", "floats", "ins", "outs", "module_name", "module",
                 "scope_name", "scope_type", "call_index", "qconfig", "fused_relu",
                 "dyn_batch", "kind")

    def __init__(self, op: str, ints: Tuple[int, ...], floats: Tuple[float, ...],
                 ins: Tuple[int, ...], outs: Tuple[int, ...]) -> None:
        self.op = op
        self.op_id = _table.op_id(op)
        self.ints = tuple(ints)
        self.floats = tuple(floats)
        self.ins = list(ins)
        self.outs = list(outs)
        self.module_name: Optional[str] = None
        self.module: Any = None
        self.scope_name = ""
        self.scope_type: Any = None
        self.call_index = 0
        self.qconfig: Any = None
        self.fused_relu: Optional[int] = None  # value id of the absorbed relu's output
        self.dyn_batch = False
        self.kind = "float"

    def where(self) -> str:
        """Human-readable location: op and module."""
        if self.module_name is not None:
            return (f"{self.op} in module '{self.module_name}' "
                    f"({type(self.module).__name__})")
        if self.scope_name:
            return f"{self.op} in module '{self.scope_name}' ({self.scope_type.__name__})"
        return f"{self.op} (top-level forward)"


class FxGraph:
    """The node list plus its values: ``const`` maps constant value ids to tensors,
    ``shapes`` holds every value's traced shape."""

    def __init__(self) -> None:
        self.nodes: List[FxNode] = []
        self.const: Dict[int, Tensor] = {}
        self.const_names: Dict[int, str] = {}
        self.shapes: List[Tuple[int, ...]] = []
        self.dtypes: List[int] = []
        self.inputs: List[int] = []
        self.input_names: List[str] = []
        self.outputs: List[int] = []
        self.in_spec: Any = None
        self.out_spec: Any = None
        self.n_values = 0
        # the float graph as traced, before batch-norm folding rewrote it (compiled
        # tuples, original weights): the reference the numeric suite compares against
        self.float_nodes: Optional[List[Tuple]] = None
        # value id of a folded conv / linear -> the batch norm node whose output it now
        # stands for (in float_nodes that output is the batch norm's own value)
        self.folded_bn: Dict[int, "FxNode"] = {}

    def new_value(self, shape: Tuple[int, ...] = (), dtype: int = 0) -> int:
        self.shapes.append(tuple(shape))
        self.dtypes.append(dtype)
        self.n_values += 1
        return self.n_values - 1

    def add_const(self, t: Tensor, name: str = "") -> int:
        v = self.new_value(tuple(t.shape), t.dtype.code)
        self.const[v] = t
        self.const_names[v] = name
        return v

    def users(self) -> Dict[int, List[FxNode]]:
        u: Dict[int, List[FxNode]] = {}
        for n in self.nodes:
            for i in n.ins:
                if i >= 0:
                    u.setdefault(i, []).append(n)
        return u


_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


def _is_leaf(mod: Any) -> bool:
    """torch.fx's default: modules of the library itself (not containers) are leaves."""
    cls = type(mod)
    return cls.__module__.startswith("ptlite.nn") and cls.__name__ not in _CONTAINERS


def trace(model: Any, example_inputs: Tuple[Any, ...]) -> FxGraph:
    """Traces ``model`` (in eval mode) on the example inputs into an FxGraph whose nodes
    know their modules."""
    from .. import jit

    names = {id(m): n for n, m in model.named_modules()}
    events: List[Tuple[str, Any]] = []

    def mark(kind: str, mod: Any) -> None:
        events.append((kind, mod))
        _table.call(_FILL, (), _MARK_INTS, (_MARK_BASE + len(events) - 1,))

    def pre(mod, args):
        mark("enter", mod)

    def post(mod, args, out):
        mark("exit", mod)

    handles = []
    for _, m in model.named_modules():
        if m is model:
            continue
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        sm = jit.trace(model, example_inputs, check_trace=False)
    finally:
        for h in handles:
            h.remove()
        if was_training:
            model.train()
    info = sm._info
    g = FxGraph()
    for i, (kind, dtype, shape, name, const) in enumerate(info["values"]):
        g.new_value(tuple(shape), dtype)
        if kind == 1:
            g.const[i] = const
            g.const_names[i] = sm._const_names.get(i, "")
    g.inputs = list(info["inputs"])
    g.input_names = [info["values"][i][3] or f"input_{k}" for k, i in enumerate(g.inputs)]
    g.outputs = list(info["outputs"])
    g.in_spec, g.out_spec = sm._in_spec, sm._out_spec

    # in-place ops (relu_, +=) write the value id they read: rename to SSA so every
    # value has one producer (observers and quantized slots are per value)
    cur: Dict[int, int] = {}
    defined = set(g.inputs) | set(g.const)
    stack: List[Any] = [model]
    counts: Dict[Tuple[str, Any], int] = {}
    leaf_call: Dict[int, Tuple[int, ...]] = {}
    batch = g.shapes[g.inputs[0]][0] if g.inputs and g.shapes[g.inputs[0]] else None
    for op, ints, floats, ins, outs in info["nodes"]:
        if op == "fill" and tuple(ints) == _MARK_INTS and len(floats) == 1 \
                and floats[0] >= _MARK_BASE and int(floats[0] - _MARK_BASE) < len(events):
            kind, mod = events[int(floats[0] - _MARK_BASE)]
            if kind == "enter":
                stack.append(mod)
                if _is_leaf(mod) and not any(_is_leaf(s) for s in stack[:-1]):
                    # torch counts a module call in its parent, by module type
                    parent = names.get(id(mod), "").rpartition(".")[0]
                    key = (parent, type(mod))
                    leaf_call[id(mod)] = counts.get(key, 0)
                    counts[key] = leaf_call[id(mod)] + 1
            elif len(stack) > 1:
                stack.pop()
            continue
        ins = tuple(cur.get(i, i) if i >= 0 else i for i in ins)
        ssa_outs = []
        for o in outs:
            if o in defined:
                o2 = g.new_value(g.shapes[o], g.dtypes[o])
                cur[o] = o2
                o = o2
            defined.add(o)
            ssa_outs.append(o)
        n = FxNode(op, ints, floats, ins, tuple(ssa_outs))
        leaf = next((s for s in stack[1:] if _is_leaf(s)), None)
        if leaf is not None:
            n.module, n.module_name = leaf, names.get(id(leaf), "")
            n.call_index = leaf_call.get(id(leaf), 0)
            scope = [s for s in stack if not _is_leaf(s)][-1]
        else:
            scope = stack[-1]
        n.scope_name, n.scope_type = names.get(id(scope), ""), type(scope)
        if leaf is None:
            key = (n.scope_name, op)
            n.call_index = counts.get(key, 0)
            counts[key] = n.call_index + 1
        # flatten / view(x.size(0), -1) keep the batch dimension: let it follow the input
        if op == "reshape" and batch is not None and ints and ins[0] >= 0 \
                and g.shapes[ins[0]] and g.shapes[ins[0]][0] == ints[0] == batch:
            n.dyn_batch = True
        g.nodes.append(n)
    g.outputs = [cur.get(o, o) for o in g.outputs]
    _drop_dead(g)
    return g


def _drop_dead(g: FxGraph) -> None:
    """Removes nodes whose outputs nothing uses (the markers are such nodes)."""
    live = set(g.outputs)
    keep: List[FxNode] = []
    for n in reversed(g.nodes):
        if any(o in live for o in n.outs):
            keep.append(n)
            live.update(i for i in n.ins if i >= 0)
    g.nodes = keep[::-1]


# ---- folding (torch.nn.utils.fusion arithmetic, float32 step by step) ------------------
def _f32(t: Optional[Tensor]) -> Optional[np.ndarray]:
    return None if t is None else np.ascontiguousarray(t.numpy(), dtype=np.float32)


def _bn_params(g: FxGraph, bn: FxNode, C: int):
    get = [g.const.get(bn.ins[k]) if k < len(bn.ins) and bn.ins[k] >= 0 else None
           for k in range(1, 5)]
    rm, rv, w, b = (_f32(t) for t in get)
    if rm is None or rv is None:
        return None
    w = np.ones_like(rm) if w is None else w
    b = np.zeros_like(rm) if b is None else b
    eps = np.float32(bn.floats[0] if bn.floats else 1e-5)
    if any(a.size != C for a in (rm, rv, w, b)):
        return None
    return rm, rv, w, b, eps


def fold_conv_bn(conv_w: np.ndarray, conv_b: Optional[np.ndarray], rm, rv, bn_w, bn_b, eps):
    """torch.nn.utils.fusion.fuse_conv_bn_weights in float32."""
    conv_b = np.zeros_like(rm) if conv_b is None else conv_b
    rsq = np.float32(1.0) / np.sqrt(rv + eps)
    shape = (-1,) + (1,) * (conv_w.ndim - 1)
    w = conv_w * (bn_w * rsq).reshape(shape)
    b = (conv_b - rm) * rsq * bn_w + bn_b
    return w.astype(np.float32), b.astype(np.float32)


def fold_linear_bn(lin_w: np.ndarray, lin_b: Optional[np.ndarray], rm, rv, bn_w, bn_b, eps):
    """torch.nn.utils.fusion.fuse_linear_bn_weights in float32."""
    lin_b = np.zeros_like(rm) if lin_b is None else lin_b
    scale = bn_w * (np.float32(1.0) / np.sqrt(rv + eps))
    w = lin_w * scale[:, None]
    b = (lin_b - rm) * scale + bn_b
    return w.astype(np.float32), b.astype(np.float32)


def fold_batch_norms(g: FxGraph) -> List[str]:
    """Folds an eval batch norm module into the conv / linear module right before it
    (torch's fusion patterns: both modules, the conv's output used only by the batch
    norm). Returns the folded module names."""
    if g.float_nodes is None:
        g.float_nodes = compile_nodes(g.nodes)
    users = g.users()
    done: List[str] = []
    drop = set()
    for n in g.nodes:
        if n.op not in ("conv2d", "linear") or n.module is None or len(n.ins) < 2:
            continue
        if n.op == "conv2d" and len(n.ints) > 7 and n.ints[7]:
            continue
        if n.op == "linear" and len(g.shapes[n.outs[0]]) != 2:
            continue  # BatchNorm1d on [N, C, L] normalizes dim 1, not linear's features
        u = users.get(n.outs[0], [])
        if len(u) != 1 or u[0].op != "batch_norm" or u[0].module is None \
                or u[0].ins[0] != n.outs[0] or n.outs[0] in g.outputs:
            continue
        bn = u[0]
        w = g.const.get(n.ins[1])
        bias_id = n.ins[2] if len(n.ins) > 2 else -1
        if w is None or (bias_id >= 0 and bias_id not in g.const):
            continue
        C = w.shape[0]
        p = _bn_params(g, bn, C)
        if p is None:
            continue
        fold = fold_conv_bn if n.op == "conv2d" else fold_linear_bn
        fw, fb = fold(_f32(w), _f32(g.const.get(bias_id)) if bias_id >= 0 else None, *p)
        wname = g.const_names.get(n.ins[1], "")
        n.ins[1] = g.add_const(_tensor(fw, dtype=dt.float32), wname)
        bname = wname[:-len("weight")] + "bias" if wname.endswith("weight") else ""
        if len(n.ins) < 3:
            n.ins.append(-1)
        n.ins[2] = g.add_const(_tensor(fb, dtype=dt.float32), bname)
        # the batch norm's output now comes from the conv directly
        _replace_value(g, bn.outs[0], n.outs[0])
        g.folded_bn[n.outs[0]] = bn
        drop.add(id(bn))
        done.append(n.module_name or "")
    g.nodes = [n for n in g.nodes if id(n) not in drop]
    return done


def _replace_value(g: FxGraph, old: int, new: int) -> None:
    for n in g.nodes:
        n.ins = [new if i == old else i for i in n.ins]
    g.outputs = [new if o == old else o for o in g.outputs]


# ---- execution --------------------------------------------------------------------------
def compile_nodes(nodes: Sequence[FxNode]) -> List[Tuple]:
    """The executor's tuples for ``nodes`` (copies of their inputs: later rewrites of the
    nodes do not change them)."""
    return [(n.op_id, tuple(n.ins), n.ints, n.floats, tuple(n.outs), n.dyn_batch, n)
            for n in nodes]


def run_nodes(nodes: Sequence[Tuple], env: List[Any], hook=None) -> None:
    """Runs compiled nodes ``(op_id, ins, ints, floats, outs, dyn_batch, node)`` over
    ``env`` (value id -> tensor). ``hook(node, outputs)`` runs after each node (the
    observers). Errors name the node's module."""
    call = _call
    for op, ins, ints, floats, outs, dyn, node in nodes:
        args = tuple(env[i] if i >= 0 else None for i in ins)
        if dyn:
            ints = (args[0].shape[0],) + tuple(ints[1:])
        try:
            r = call(op, args, ints, floats)
        except Exception as e:  # name the module, keep the exception type
            where = node.where() if node is not None else f"op {op}"
            try:
                named = type(e)(f"{where}: {e}")
            except Exception:  # noqa: BLE001 - a type with another constructor
                raise e from None
            raise named from e
        if len(outs) == 1:
            env[outs[0]] = r
        else:
            for o, t in zip(outs, r):
                env[o] = t
        if hook is not None:
            hook(node, outs)


def check_inputs(g: FxGraph, flat: Sequence[Tensor], first_user: Dict[int, FxNode],
                 what: str) -> None:
    """Inputs must match the traced ranks and non-batch dimensions."""
    if len(flat) != len(g.inputs):
        raise RuntimeError(f"{what}: the model was traced with {len(g.inputs)} input "
                           f"tensor(s), got {len(flat)}")
    for k, (v, t) in enumerate(zip(g.inputs, flat)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: input {k} must be a Tensor, got {type(t).__name__}")
        traced = g.shapes[v]
        shape = tuple(t.shape)
        if len(shape) != len(traced) or shape[1:] != tuple(traced[1:]):
            user = first_user.get(v)
            at = f"; it feeds {user.where()}" if user is not None else ""
            exp = "[N" + "".join(f", {d}" for d in traced[1:]) + "]" if traced else "[]"
            raise RuntimeError(
                f"{what}: input '{g.input_names[k]}' has shape {list(shape)} but the model "
                f"was traced with shape {list(traced)} (expected {exp}){at}")


def listing(nodes: Sequence[Tuple], inputs: Sequence[int], outputs: Sequence[int],
            consts: Dict[int, Any]) -> str:
    """A Python-like listing of compiled nodes (the graph modules' ``code``)."""
    names = {v[0]: k for k, v in _table._TABLE.items()}

    def val(i: int) -> str:
        if i < 0:
            return "None"
        return f"c{i}" if i in consts else f"v{i}"

    lines = [f"def forward(self, {', '.join(val(i) for i in inputs)}):"]
    for op, ins, ints, floats, outs, dyn, node in nodes:
        attrs = (f", ints={list(ints)}" if ints else "") + \
            (f", floats={list(floats)}" if floats else "")
        where = f"  # {node.where()}" if node is not None else ""
        lines.append(f"    {', '.join(val(o) for o in outs)} = {names[op]}("
                     f"{', '.join(val(i) for i in ins)}{attrs}){where}")
    lines.append(f"    return {', '.join(val(o) for o in outputs)}")
    return "\n".join(lines) + "\n"
