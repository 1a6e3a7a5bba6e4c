"""Graph-mode post-training static quantization (torch.ao.quantization.quantize_fx's
``prepare_fx`` / ``convert_fx``) over ptlite's traced graph.

``prepare_fx(model, qconfig_mapping, example_inputs)`` traces the model, folds batch
norms into the conv / linear before them, fuses relu into conv / linear / add / mul and
places observers where torch's FX flow does (shared observers for ops that keep their
input's qparams: pooling, relu, hardtanh, flatten, mean, cat...). Calling the result on
calibration data records activation ranges. ``convert_fx(prepared)`` quantizes the weights
and rewrites the graph into int8 kernels; an op without one (or whose qconfig is None)
stays float with dequantize / quantize around it, and is listed in ``.fallbacks``.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Tuple

from .. import _dtype as dt
from .._ops import table as _table
from .._ops.quant import (per_channel_affine, per_channel_symmetric, quantize_per_channel,
                          quantize_per_tensor)
from .._tensor import Tensor
from ..nn.modules.module import Module
from . import _fx_graph as fxg
from .qconfig_mapping import (FixedQParamsObserver, QConfigMapping, ReuseInputObserver,
                              _activation_is)

__all__ = ["prepare_fx", "convert_fx", "ObservedGraphModule", "QuantizedGraphModule"]

# ops with an int8 kernel (ops.def ids 134-143); weight-carrying ones first
_WEIGHTED = {"conv2d": "quantized_conv2d", "linear": "quantized_linear",
             "conv_transpose2d": "quantized_conv_transpose2d"}
_QUANT = dict(_WEIGHTED, add="quantized_add", mul="quantized_mul", cat="quantized_cat",
              hardswish="quantized_hardswish", sigmoid="quantized_sigmoid",
              leaky_relu="quantized_leaky_relu", batch_norm="quantized_batch_norm")
# float ops that run on quint8 keeping the input's qparams (torch's "share qparams" ops)
_SHARE = {"relu", "hardtanh", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "mean",
          "reshape", "upsample_nearest2d", "upsample_bilinear2d"}
_RELU_FUSABLE = ("conv2d", "linear", "add", "mul")

_QPT = _table.op_id("quantize_per_tensor")
_DEQ = _table.op_id("dequantize")


# ---- the object types an op may have been called as (torch's call_function targets) ----
def _aliases(op: str) -> Tuple[Any, ...]:
    import operator

    import ptlite
    from ..nn import functional as F
    special = {
        "add": (ptlite.add, operator.add, operator.iadd, "add", "add_"),
        "mul": (ptlite.mul, operator.mul, operator.imul, "mul", "mul_"),
        "reshape": (ptlite.flatten, ptlite.reshape, "reshape", "view", "flatten"),
        "hardtanh": (F.hardtanh, F.relu6, ptlite.clamp, "clamp", "hardtanh"),
        "relu": (F.relu, ptlite.relu, "relu", "relu_"),
        "upsample_nearest2d": (F.interpolate,), "upsample_bilinear2d": (F.interpolate,),
    }
    if op in special:
        return special[op]
    return tuple(x for x in (getattr(F, op, None), getattr(ptlite, op, None), op)
                 if x is not None)


def _observer_dtype(ctor: Any) -> Any:
    try:
        return ctor().dtype
    except Exception:  # noqa: BLE001 - an observer we cannot build is not int8
        return None


class _UnionFind:
    def __init__(self) -> None:
        self.parent: Dict[int, int] = {}

    def find(self, v: int) -> int:
        while self.parent[v] != v:
            self.parent[v] = self.parent[self.parent[v]]
            v = self.parent[v]
        return v


class ObservedGraphModule(Module):
    """What prepare_fx returns: the float graph with observers. Call it on calibration
    data, then pass it to convert_fx."""

    def __init__(self, g: fxg.FxGraph, groups: Dict[int, int], group_qconfig: Dict[int, Any],
                 group_node: Dict[int, fxg.FxNode], reasons: Dict[int, str],
                 qconfig_mapping: QConfigMapping, folded: List[str]) -> None:
        super().__init__()
        self._g = g
        self._groups = groups              # value id -> group root value id
        self._group_qconfig = group_qconfig  # root -> qconfig that made the group
        self._group_node = group_node      # root -> first node that needed it (errors)
        self._reasons = reasons            # id(node) -> why it stays float
        self.qconfig_mapping = qconfig_mapping
        self.folded_batch_norms = folded
        self._observers: Dict[int, Any] = {}
        self._seen: Dict[int, int] = {}
        for k, root in enumerate(sorted(set(groups.values()), key=_order_of(g))):
            obs = group_qconfig[root].activation()
            self.add_module(f"activation_post_process_{k}", obs)
            self._observers[root] = obs
            self._seen[root] = 0
        self._observe_at = {v: r for v, r in groups.items()}
        self._compiled = fxg.compile_nodes(g.nodes)
        self._first_user: Dict[int, fxg.FxNode] = {}
        for n in g.nodes:
            for i in n.ins:
                if i >= 0:
                    self._first_user.setdefault(i, n)

    def _observe(self, v: int, t: Tensor) -> None:
        root = self._observe_at.get(v)
        if root is not None and t.dtype.is_floating_point:
            self._observers[root](t)
            self._seen[root] += 1

    def forward(self, *args: Any) -> Any:
        from ..jit import _flatten, _unflatten
        flat: List[Tensor] = []
        _flatten(tuple(args), flat)
        g = self._g
        fxg.check_inputs(g, flat, self._first_user, "prepare_fx model")
        env: List[Any] = [None] * g.n_values
        for v, t in g.const.items():
            env[v] = t
        for v, t in zip(g.inputs, flat):
            env[v] = t
            self._observe(v, t)

        def hook(node, outs):
            for o in outs:
                if o in self._observe_at:
                    self._observe(o, env[o])

        fxg.run_nodes(self._compiled, env, hook)
        return _unflatten(g.out_spec, iter(env[o] for o in g.outputs))

    @property
    def code(self) -> str:
        """The float graph as a Python-like listing (observed values are not marked)."""
        return fxg.listing(self._compiled, self._g.inputs, self._g.outputs, self._g.const)

    def observer_qparams(self) -> List[Dict[str, Any]]:
        """(for inspection) each observer's (scale, zero_point) and the node that made it."""
        out = []
        for root, obs in self._observers.items():
            node = self._group_node.get(root)
            out.append({"module": node.module_name if node is not None else None,
                        "where": node.where() if node is not None else "input",
                        "observer": obs})
        return out


def _order_of(g: fxg.FxGraph):
    pos = {v: k for k, v in enumerate(g.inputs)}
    for k, n in enumerate(g.nodes):
        for o in n.outs:
            pos.setdefault(o, len(g.inputs) + k)
    return lambda v: pos.get(v, -1)


def prepare_fx(model: Any, qconfig_mapping: Any, example_inputs: Any,
               prepare_custom_config: Any = None, _equalization_config: Any = None,
               backend_config: Any = None) -> ObservedGraphModule:
    """Traces ``model`` (eval mode) on ``example_inputs`` and inserts observers as torch's
    FX post-training flow does. Returns an :class:`ObservedGraphModule`."""
    if isinstance(qconfig_mapping, dict):
        warnings.warn("Passing a QConfig dictionary to prepare is deprecated and will not be "
                      "supported in a future version. Please pass in a QConfigMapping instead.",
                      FutureWarning, stacklevel=2)
        qconfig_mapping = QConfigMapping.from_dict(qconfig_mapping)
    if not isinstance(qconfig_mapping, QConfigMapping):
        raise AssertionError(f"qconfig_mapping must be a QConfigMapping, got "
                             f"{type(qconfig_mapping).__name__}")
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    g = fxg.trace(model, example_inputs)
    # qconfigs first: fusion keeps the conv's, as torch's fused modules do
    for n in g.nodes:
        if n.module is not None:
            n.qconfig = qconfig_mapping._qconfig_for_module_call(n.module, n.module_name,
                                                                 n.call_index)
        else:
            n.qconfig = qconfig_mapping._qconfig_for_function(_aliases(n.op), n.scope_name,
                                                              n.scope_type, n.call_index)
    folded = fxg.fold_batch_norms(g)
    reasons: Dict[int, str] = {}
    for n in g.nodes:
        n.kind = _classify(g, n, reasons)
    _fuse_relu(g)
    groups, group_qconfig, group_node = _place_observers(g)
    observed = ObservedGraphModule(g, groups, group_qconfig, group_node, reasons,
                                   qconfig_mapping, folded)
    # the graph was traced in eval mode: say so, so jit.trace / optimize_for_mobile of the
    # converted model accept it without a .eval() the torch flow does not need
    return observed.eval()


def _fuse_relu(g: fxg.FxGraph) -> None:
    """conv / linear / add / mul followed by relu (their output's only user) become one
    quantized op with a relu flag (torch's ConvReLU2d, LinearReLU, add_relu, mul_relu)."""
    users = g.users()
    for n in g.nodes:
        if n.op not in _RELU_FUSABLE or n.kind != "quant":
            continue
        u = users.get(n.outs[0], [])
        if len(u) == 1 and u[0].op == "relu" and n.outs[0] not in g.outputs:
            n.fused_relu = u[0].outs[0]
            u[0].kind = "fused"


def _act_inputs(n: fxg.FxNode) -> List[int]:
    if n.op in _WEIGHTED or n.op == "batch_norm":
        return [n.ins[0]]
    if n.op == "cat":
        return [i for i in n.ins]
    if n.op in ("add", "mul"):
        return n.ins[:2]
    return n.ins[:1]


def _classify(g: fxg.FxGraph, n: fxg.FxNode, reasons: Dict[int, str]) -> str:
    q = n.qconfig

    def float_because(why: str) -> str:
        reasons[id(n)] = why
        return "float"

    if n.op not in _QUANT and n.op not in _SHARE:
        return float_because(f"no int8 kernel for '{n.op}'")
    if q is None:
        where = n.module_name if n.module_name is not None else n.scope_name
        return float_because(f"qconfig is None (module '{where}')" if where else
                             "qconfig is None")
    acts = _act_inputs(n)
    if any(i < 0 or i in g.const for i in acts):
        return float_because(f"{n.op} with a constant or scalar operand has no int8 kernel here")
    if any(not g.dtypes[i] == dt.float32.code for i in acts):
        return float_because(f"{n.op} input is not float32")
    if n.op in _SHARE and _activation_is(q, ReuseInputObserver):
        return "reuse"
    act_dtype = _observer_dtype(q.activation)
    if act_dtype is not dt.quint8:
        return float_because(f"qconfig activation dtype {act_dtype} is not quint8 (static "
                             "int8 quantization only)")
    if n.op in _SHARE:
        return "share"
    if n.op in _WEIGHTED:
        if n.ins[1] not in g.const or (len(n.ins) > 2 and n.ins[2] >= 0
                                       and n.ins[2] not in g.const):
            return float_because(f"{n.op} weight or bias is not a constant")
        w_dtype = _observer_dtype(q.weight)
        if w_dtype is not dt.qint8:
            return float_because(f"qconfig weight dtype {w_dtype} is not qint8")
        if n.op == "conv_transpose2d" and getattr(q.weight(), "qscheme", None) in (
                per_channel_affine, per_channel_symmetric):
            return float_because("conv_transpose2d with per-channel weights (the kernel "
                                 "takes per-tensor ones)")
        if n.op == "conv2d" and (len(n.ints) > 7 and n.ints[7]
                                 or len(n.ints) > 9 and (n.ints[8] or n.ints[9])):
            return float_because("conv2d with a fused clamp or asymmetric 'same' padding")
    if n.op == "add" and n.floats and n.floats[0] != 1.0:
        return float_because("add with alpha != 1")
    if n.op == "add" and n.ints and n.ints[0]:
        return float_because("add with a pre-fused relu")
    if n.op == "batch_norm":
        if len(g.shapes[n.ins[0]]) != 4 or any(i >= 0 and i not in g.const for i in n.ins[1:]):
            return float_because("batch_norm needs a 4-d input and constant statistics")
    return "quant"


def _place_observers(g: fxg.FxGraph):
    """Groups of values sharing one observer (union-find), torch's placement: inputs and
    outputs of quantized ops, outputs of share ops join their input's group, cat's inputs
    and output join its first input's group."""
    uf = _UnionFind()
    qconf: Dict[int, Any] = {}
    first: Dict[int, fxg.FxNode] = {}

    def ensure(v: int, q: Any, n: fxg.FxNode) -> int:
        if v not in uf.parent:
            uf.parent[v] = v
            qconf[v] = q
            first[v] = n
        return uf.find(v)

    def union(a: int, b: int) -> None:  # a's group survives
        ra, rb = uf.find(a), uf.find(b)
        if ra != rb:
            uf.parent[rb] = ra

    for n in g.nodes:
        if n.kind == "quant":
            out = n.fused_relu if n.fused_relu is not None else n.outs[0]
            acts = _act_inputs(n)
            for v in acts:
                ensure(v, n.qconfig, n)
            if n.op == "cat":
                uf.parent.setdefault(out, out)
                qconf.setdefault(out, n.qconfig)
                first.setdefault(out, n)
                for v in acts[1:]:
                    union(acts[0], v)
                union(acts[0], out)
            else:
                ensure(out, n.qconfig, n)
        elif n.kind == "share":
            ensure(n.ins[0], n.qconfig, n)
            uf.parent.setdefault(n.outs[0], n.outs[0])
            union(n.ins[0], n.outs[0])
        elif n.kind == "reuse" and n.ins[0] in uf.parent:
            uf.parent.setdefault(n.outs[0], n.outs[0])
            union(n.ins[0], n.outs[0])
    groups = {v: uf.find(v) for v in uf.parent}
    roots = set(groups.values())
    return groups, {r: qconf[r] for r in roots}, {r: first[r] for r in roots}


# ---- convert --------------------------------------------------------------------------
class QuantizedGraphModule(Module):
    """What convert_fx returns: a node list of dispatcher ops (quantized kernels, float
    fallbacks with dequantize / quantize around them). ``fallbacks`` lists the ops left
    in float; ``fallback_report()`` formats it."""

    def __init__(self, g: fxg.FxGraph, compiled: List[Tuple], n_values: int,
                 consts: Dict[int, Tensor], outputs: List[int], fallbacks: List[Dict[str, Any]],
                 quantized_weights: Dict[str, Tensor], node_qparams: List[Dict[str, Any]],
                 first_user: Dict[int, fxg.FxNode]) -> None:
        super().__init__()
        self._g = g
        self._compiled = compiled
        self._n_values = n_values
        self._consts = consts
        self._outputs = outputs
        self.fallbacks = fallbacks
        self.quantized_weights = quantized_weights
        self.node_qparams = node_qparams
        self._first_user = first_user
        # for the numeric suite (ns.quantization_report): original value id -> slot of its
        # quantized tensor in the converted env, and one record per int8 op
        self._qslot: Dict[int, int] = {}
        self._layers: List[Dict[str, Any]] = []

    def _run(self, args: Tuple[Any, ...]) -> List[Any]:
        """Runs the converted nodes; returns the whole env (every slot's tensor)."""
        from ..jit import _flatten
        flat: List[Tensor] = []
        _flatten(tuple(args), flat)
        g = self._g
        fxg.check_inputs(g, flat, self._first_user, "quantized model")
        env: List[Any] = [None] * self._n_values
        for v, t in self._consts.items():
            env[v] = t
        for v, t in zip(g.inputs, flat):
            env[v] = t
        fxg.run_nodes(self._compiled, env)
        return env

    def forward(self, *args: Any) -> Any:
        from ..jit import _unflatten
        env = self._run(args)
        return _unflatten(self._g.out_spec, iter(env[o] for o in self._outputs))

    @property
    def code(self) -> str:
        """The converted graph as a Python-like listing, each op with its module."""
        return fxg.listing(self._compiled, self._g.inputs, self._outputs, self._consts)

    def fallback_report(self) -> str:
        """One line per op left in float, with its module and the reason."""
        if not self.fallbacks:
            return "all ops run as int8 kernels (no float fallbacks)"
        lines = [f"{len(self.fallbacks)} op(s) run in float (dequantize -> op -> quantize):"]
        for f in self.fallbacks:
            mod = f"module '{f['module']}'" if f["module"] else "top-level forward"
            lines.append(f"  node {f['node']}: {f['op']} in {mod}: {f['reason']}")
        return "\n".join(lines)

    def op_histogram(self) -> Dict[str, int]:
        names = {v[0]: k for k, v in _table._TABLE.items()}
        hist: Dict[str, int] = {}
        for c in self._compiled:
            hist[names[c[0]]] = hist.get(names[c[0]], 0) + 1
        return hist


def _zeros(shape: Tuple[int, ...]) -> Tensor:
    from .._tensor import zeros
    return zeros(*shape) if shape else zeros(())


def _qparams(obs: Any) -> Tuple[float, int]:
    s, z = obs.calculate_qparams()
    return float(s.reshape(-1).tolist()[0]), int(z.reshape(-1).tolist()[0])


def convert_fx(graph_module: Any, convert_custom_config: Any = None,
               _remove_qconfig: bool = True, qconfig_mapping: Any = None,
               backend_config: Any = None) -> QuantizedGraphModule:
    """Quantizes the weights of a calibrated :class:`ObservedGraphModule` and rewrites its
    graph into int8 kernels. Returns a :class:`QuantizedGraphModule`."""
    if not isinstance(graph_module, ObservedGraphModule):
        raise TypeError(f"convert_fx expects the model returned by prepare_fx (and calibrated "
                        f"by calling it on data), got {type(graph_module).__name__}")
    m = graph_module
    g = m._g
    # activation qparams of every group; an observer that saw nothing is an error
    group_qp: Dict[int, Tuple[float, int]] = {}
    for root, obs in m._observers.items():
        if not isinstance(obs, FixedQParamsObserver) and m._seen[root] == 0:
            node = m._group_node[root]
            raise RuntimeError(
                f"convert_fx: the observer for {node.where()} has not seen any data: call the "
                "prepared model on calibration data before convert_fx")
        group_qp[root] = _qparams(obs)
    return _Emitter(g, m, group_qp).run()


class _Emitter:
    """Builds the converted node list: per original value a float slot and/or a quantized
    slot, quantize / dequantize inserted where a consumer needs the other one."""

    def __init__(self, g: fxg.FxGraph, m: ObservedGraphModule,
                 group_qp: Dict[int, Tuple[float, int]]) -> None:
        self.g, self.m, self.group_qp = g, m, group_qp
        self.n_values = g.n_values
        self.fslot: Dict[int, int] = {v: v for v in g.inputs}
        self.fslot.update({v: v for v in g.const})
        self.qslot: Dict[int, int] = {}
        self.consts: Dict[int, Tensor] = dict(g.const)
        self.compiled: List[Tuple] = []
        self.fallbacks: List[Dict[str, Any]] = []
        self.weights: Dict[str, Tensor] = {}
        self.node_qparams: List[Dict[str, Any]] = []
        self.quint8_ok: Dict[Tuple, bool] = {}  # (op, attrs, shape) -> takes quint8
        self.layers: List[Dict[str, Any]] = []  # one per int8 op (see QuantizedGraphModule)

    def new(self) -> int:
        self.n_values += 1
        return self.n_values - 1

    def const(self, t: Tensor) -> int:
        v = self.new()
        self.consts[v] = t
        return v

    def emit(self, op: int, ins, ints, floats, out: int, node, dyn: bool = False) -> None:
        self.compiled.append((op, tuple(ins), tuple(ints), tuple(floats), (out,), dyn, node))

    def get_q(self, v: int, node) -> int:
        if v in self.qslot:
            return self.qslot[v]
        s, z = self.group_qp[self.m._groups[v]]
        out = self.new()
        self.emit(_QPT, (self.fslot[v],), (z, dt.quint8.code), (s,), out, node)
        self.qslot[v] = out
        if v in self.g.inputs:
            self.node_qparams.append({"op": "quantize_per_tensor", "module": None,
                                      "input": self.g.inputs.index(v), "scale": s,
                                      "zero_point": z})
        return out

    def get_f(self, v: int, node) -> int:
        if v < 0:
            return -1
        if v in self.fslot:
            return self.fslot[v]
        out = self.new()
        self.emit(_DEQ, (self.qslot[v],), (), (), out, node)
        self.fslot[v] = out
        return out

    def run(self) -> QuantizedGraphModule:
        g = self.g
        for k, n in enumerate(g.nodes):
            if n.kind == "fused":
                continue
            if n.kind == "quant":
                self.quant(n)
            elif (n.kind == "share" or (n.kind == "reuse" and n.ins[0] in self.qslot
                                        and n.ins[0] not in self.fslot)) \
                    and self.runs_on_quint8(n):
                x = self.get_q(n.ins[0], n)
                out = self.new()
                self.emit(n.op_id, (x,) + tuple(n.ins[1:]), n.ints, n.floats, out, n,
                          n.dyn_batch)
                self.qslot[n.outs[0]] = out
            elif n.kind == "share":
                # this build's float op rejects quint8: same qparams, via float
                x = self.get_f(n.ins[0], n)
                f_out, q_out = self.new(), self.new()
                self.emit(n.op_id, (x,) + tuple(n.ins[1:]), n.ints, n.floats, f_out, n,
                          n.dyn_batch)
                s, z = self.group_qp[self.m._groups[n.outs[0]]]
                self.emit(_QPT, (f_out,), (z, dt.quint8.code), (s,), q_out, n)
                self.qslot[n.outs[0]] = q_out  # float users dequantize it, as torch's
                self.fallbacks.append({
                    "node": k, "op": n.op,
                    "module": n.module_name if n.module_name is not None
                    else (n.scope_name or None),
                    "reason": f"'{n.op}' does not accept quint8 in this build"})
            else:
                ins = [self.get_f(i, n) for i in n.ins]
                out = self.new()
                self.emit(n.op_id, ins, n.ints, n.floats, out, n, n.dyn_batch)
                self.fslot[n.outs[0]] = out
                for extra in n.outs[1:]:  # multi-output ops: keep ids
                    self.fslot[extra] = extra
                if n.kind == "float" and any(i >= 0 and i not in g.const for i in n.ins):
                    self.fallbacks.append({
                        "node": k, "op": n.op,
                        "module": n.module_name if n.module_name is not None
                        else (n.scope_name or None),
                        "reason": self.m._reasons.get(id(n), "runs in float")})
        outputs = [self.get_f(o, None) for o in g.outputs]
        qm = QuantizedGraphModule(g, self.compiled, self.n_values, self.consts, outputs,
                                  self.fallbacks, self.weights, self.node_qparams,
                                  dict(self.m._first_user))
        qm._qslot = dict(self.qslot)
        qm._layers = self.layers
        return qm.train(self.m.training)

    def runs_on_quint8(self, n: fxg.FxNode) -> bool:
        """Whether this build's ``n.op`` takes a quint8 input (tried once per op and
        attributes on a small tensor of the traced shape)."""
        key = (n.op_id, n.ints, n.floats, self.g.shapes[n.ins[0]])
        if key not in self.quint8_ok:
            x = quantize_per_tensor(_zeros(self.g.shapes[n.ins[0]]), 1.0, 0, dt.quint8)
            try:
                fxg._call(n.op_id, (x,), n.ints, n.floats)
                self.quint8_ok[key] = True
            except Exception:  # noqa: BLE001 - it ran on float at this shape: a refusal
                self.quint8_ok[key] = False
        return self.quint8_ok[key]

    def quant(self, n: fxg.FxNode) -> None:
        m = self.m
        out_v = n.fused_relu if n.fused_relu is not None else n.outs[0]
        s, z = self.group_qp[m._groups[out_v]]
        if n.op == "sigmoid" and _activation_is(n.qconfig, FixedQParamsObserver):
            s, z = _qparams(n.qconfig.activation())
        relu = 1 if n.fused_relu is not None else 0
        qop = _table.op_id(_QUANT[n.op])
        wq = None
        if n.op in _WEIGHTED:
            x = self.get_q(n.ins[0], n)
            wq = self.quantize_weight(n)
            b = n.ins[2] if len(n.ins) > 2 else -1
            ins = (x, self.const(wq), self.get_f(b, n))
            if n.op == "conv2d":
                ints = tuple(n.ints[:7]) + (relu, z)
            elif n.op == "conv_transpose2d":
                ints = tuple(n.ints[:9]) + (z,)
            else:
                ints = (relu, z)
            floats: Tuple[float, ...] = (s,)
        elif n.op in ("add", "mul"):
            ins = (self.get_q(n.ins[0], n), self.get_q(n.ins[1], n))
            ints, floats = (relu, z), (s,)
        elif n.op == "cat":
            ins = tuple(self.get_q(i, n) for i in n.ins)
            ints, floats = (n.ints[0], z), (s,)
        elif n.op == "leaky_relu":
            ins = (self.get_q(n.ins[0], n),)
            ints, floats = (z,), (s, n.floats[0] if n.floats else 0.01)
        elif n.op == "batch_norm":
            ins = (self.get_q(n.ins[0], n),) + tuple(self.get_f(i, n) for i in n.ins[1:])
            ints, floats = (z, relu), (n.floats[0] if n.floats else 1e-5, s)
        else:  # hardswish, sigmoid
            ins = (self.get_q(n.ins[0], n),)
            ints, floats = (z,), (s,)
        out = self.new()
        self.emit(qop, ins, ints, floats, out, n)
        self.qslot[out_v] = out
        # value: the original graph value this int8 op computes (after the fused relu);
        # weight: (float weight value id, its int8 tensor)
        # acts: the original values of its activation inputs, in the order of the first
        # inputs of compiled[op] (the report reruns the op alone on them)
        self.layers.append({"node": n, "value": out_v, "slot": out, "acts": _act_inputs(n),
                            "op": len(self.compiled) - 1,
                            "weight": (n.ins[1], wq) if wq is not None else None})
        self.node_qparams.append({"op": _QUANT[n.op], "module": n.module_name,
                                  "where": n.where(), "scale": s, "zero_point": z})

    def quantize_weight(self, n: fxg.FxNode) -> Tensor:
        w = self.g.const[n.ins[1]]
        obs = n.qconfig.weight()
        obs(w)
        scale, zp = obs.calculate_qparams()
        if getattr(obs, "qscheme", None) in (per_channel_affine, per_channel_symmetric):
            wq = quantize_per_channel(w, scale.to(dt.float32), zp.to(dt.int64),
                                      getattr(obs, "ch_axis", 0), dt.qint8)
        else:
            wq = quantize_per_tensor(w, float(scale.reshape(-1).tolist()[0]),
                                     int(zp.reshape(-1).tolist()[0]), dt.qint8)
        key = n.module_name if n.module_name is not None else f"{n.op}@{len(self.weights)}"
        self.weights[key] = wq
        return wq
