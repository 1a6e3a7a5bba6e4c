"""Numeric suite: where does quantization lose accuracy? (torch.ao.ns._numeric_suite's
compare_weights / compare_model_outputs, plus quantization_report).

quantization_report(float_model, quantized_model, data) runs both models on the user's data,
measures the SQNR of every quantized layer's output against the float layer's output and
of every weight against its float weight, and lists layers from the most damaged (lowest
SQNR) up. ``report.skip_worst(n, qconfig_mapping_or_model)`` is the one-line rerun: it marks
those layers to stay float (qconfig None) so prepare/convert can be run again.

    report = ptlite.quantization.ns.quantization_report(float_model, int8_model, batches)
    print(report)
    float_model = report.skip_worst(2, float_model)     # eager: sets .qconfig = None
    mapping = report.skip_worst(2, qconfig_mapping)     # graph mode: set_module_name(.., None)
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Optional, Tuple

import numpy as np

from .._tensor import Tensor
from ..nn.modules.linear import Identity
from ..nn.modules.module import Module

__all__ = ["compute_sqnr", "compare_weights", "compare_model_outputs", "quantization_report",
           "QuantizationReport"]


def _np(t: Any) -> np.ndarray:
    if isinstance(t, Tensor):
        if t.dtype.is_quantized:
            t = t.dequantize()
        return np.asarray(t.numpy(), dtype=np.float64)
    return np.asarray(t, dtype=np.float64)


def compute_sqnr(x: Any, y: Any) -> float:
    r"""Signal to quantization noise ratio in dB: ``20 log10(||x|| / ||x - y||)`` with x the
    float reference and y its quantized approximation (inf when they are equal)."""
    a, b = _np(x), _np(y)
    if a.shape != b.shape:
        raise ValueError(f"compute_sqnr: shapes differ: {a.shape} vs {b.shape}")
    noise = float(np.linalg.norm(a - b))
    signal = float(np.linalg.norm(a))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 20.0 * math.log10(signal / noise)


def _weight_of(value: Any) -> Any:
    return value() if callable(value) and not isinstance(value, Tensor) else value


def compare_weights(float_dict: Dict[str, Any],
                    quantized_dict: Dict[str, Any]) -> Dict[str, Dict[str, Tensor]]:
    r"""Compare the weights of the float module with its corresponding quantized
    module. Return a dict with key corresponding to module names and each entry being
    a dictionary with two keys 'float' and 'quantized', containing the float and
    quantized weights.

    Args:
        float_dict: state dict of the float model
        quantized_dict: state dict of the quantized model
    """
    out: Dict[str, Dict[str, Tensor]] = {}
    for key, qv in quantized_dict.items():
        if not (isinstance(qv, Tensor) and qv.dtype.is_quantized and key.endswith("weight")):
            continue
        # a fused float module (ConvReLU2d, a Sequential) keeps its conv at ".0"
        for fkey in (key, key[:-len("weight")] + "0.weight"):
            if fkey in float_dict:
                out[key] = {"float": float_dict[fkey], "quantized": qv}
                break
    return out


def _leaf_names(model: Module) -> List[Tuple[str, Module]]:
    return [(n, m) for n, m in model.named_modules() if n and len(m._modules) == 0
            or type(m).__name__.startswith("Quantized") and n]


def _float_source(float_model: Module, q_model: Module) -> Dict[str, str]:
    """Maps each quantized layer name to the float layer whose output it replaces: the
    last float module of its fusion group (fused-away members are Identity in q_model)."""
    q_mods = dict(q_model.named_modules())
    f_order = [n for n, m in float_model.named_modules() if n and len(m._modules) == 0]
    mapping: Dict[str, str] = {}
    for i, name in enumerate(f_order):
        qm = q_mods.get(name)
        if qm is None or isinstance(qm, Identity):
            continue
        last = name
        for nxt in f_order[i + 1:]:
            if isinstance(q_mods.get(nxt), Identity) and \
                    nxt.rpartition(".")[0] == name.rpartition(".")[0]:
                last = nxt
            else:
                break
        mapping[name] = last
    return mapping


def _record(model: Module, names: Iterable[str], store: Dict[str, List[Any]]) -> List[Any]:
    handles = []
    mods = dict(model.named_modules())
    for name in names:
        def hook(mod, inp, out, name=name):
            if isinstance(out, Tensor):
                store.setdefault(name, []).append(out)
        handles.append(mods[name].register_forward_hook(hook))
    return handles


def compare_model_outputs(float_model: Module, q_model: Module, *data: Any,
                          Logger: Any = None, allow_list: Any = None) -> Dict[str, Dict]:
    r"""Compare output activations between float and quantized models at
    corresponding locations for the same input. Return a dict with key corresponding
    to quantized module names and each entry being a dictionary with two keys 'float'
    and 'quantized', containing the activations of quantized model and float model at
    matching locations.

    Args:
        float_model: float model used to generate the q_model
        q_model: model quantized from float_model
        data: input data used to run the prepared float_model and q_model
    """
    mapping = _float_source(float_model, q_model)
    f_store: Dict[str, List[Any]] = {}
    q_store: Dict[str, List[Any]] = {}
    handles = _record(float_model, set(mapping.values()), f_store)
    handles += _record(q_model, mapping.keys(), q_store)
    try:
        float_model(*data)
        q_model(*data)
    finally:
        for h in handles:
            h.remove()
    return {q: {"float": f_store.get(f, []), "quantized": q_store.get(q, [])}
            for q, f in mapping.items() if q in q_store and f in f_store}


class QuantizationReport:
    """Per-layer SQNR of a quantized model against its float model (dB; higher is
    better), layers sorted from the most damaged."""

    def __init__(self, layers: List[Dict[str, Any]], output_sqnr: float,
                 input_sqnr: Optional[Dict[str, float]] = None) -> None:
        self.layers = layers
        self.output_sqnr = output_sqnr
        self.input_sqnr = input_sqnr or {}  # graph mode: quantization of each model input

    def worst(self, n: int) -> List[str]:
        """Names of the ``n`` layers with the lowest activation SQNR."""
        return [row["name"] for row in self.layers[:n]]

    def skip_worst(self, n: int, target: Any) -> Any:
        """Marks the ``n`` most damaged layers to stay float and returns ``target``: a float
        model (their ``qconfig`` is set to None, for eager prepare/convert) or a
        QConfigMapping (``set_module_name(name, None)``, for prepare_fx)."""
        rows = self.layers[:n]
        names = [row["name"] for row in rows]
        if hasattr(target, "set_module_name"):
            for row in rows:
                if row.get("object_type") is not None:
                    # a functional op (graph mode): just this call, not its whole module
                    target.set_module_name_object_type_order(row["name"], row["object_type"],
                                                             row["index"], None)
                else:
                    target.set_module_name(row["name"], None)
            return target
        if any("object_type" in row for row in rows):
            raise TypeError("skip_worst: this report is of a convert_fx model: pass the "
                            "QConfigMapping given to prepare_fx and rerun prepare_fx / "
                            "convert_fx with it")
        mods = dict(target.named_modules())
        for name in names:
            if name not in mods:
                raise KeyError(f"skip_worst: the model has no module {name!r}")
            mods[name].qconfig = None
        return target

    def __repr__(self) -> str:
        local = any("local_sqnr" in row for row in self.layers)
        lines = [f"quantization report: model output SQNR {self.output_sqnr:.1f} dB; layers "
                 "from the most damaged (activation SQNR, "
                 + ("local SQNR, " if local else "") + "weight SQNR, dB):"]
        if self.input_sqnr:
            lines.insert(1, "  inputs quantized at " + ", ".join(
                f"{k}: {v:.1f} dB" for k, v in self.input_sqnr.items()))
        for row in self.layers:
            w = row.get("weight_sqnr")
            name = row["name"] or "(top-level forward)"
            lines.append(f"  {name:<32} {row['type']:<24} {row['sqnr']:7.1f}"
                         + (f" {row['local_sqnr']:7.1f}" if local else "")
                         + (f" {w:7.1f}" if w is not None else "        -"))
        if self.layers:
            lines.append(f"rerun with the worst layers float: report.skip_worst(2, model_or_"
                         f"qconfig_mapping) -> {self.worst(2)}")
        return "\n".join(lines)


def _batches(data: Iterable[Any], max_batches: Optional[int]):
    """The model arguments of each batch: a tensor, a tuple of inputs, or an (input,
    integer label) pair whose label is dropped."""
    for i, batch in enumerate(data):
        if max_batches is not None and i >= max_batches:
            break
        args = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
        if len(args) == 2 and isinstance(args[1], Tensor) and not args[1].dtype.is_floating_point:
            args = args[:1]  # (input, label) pairs
        yield args


def _db(s: float, n: float) -> float:
    return math.inf if n == 0 else (-math.inf if s == 0 else 10 * math.log10(s / n))


def _accumulate(acc: Dict[Any, List[float]], key: Any, ref: Any, q: Any) -> None:
    a, b = _np(ref), _np(q)
    if a.shape != b.shape:
        raise ValueError(f"quantization_report: {key!r}: the float value has shape "
                         f"{list(a.shape)}, the quantized one {list(b.shape)}")
    s = acc.setdefault(key, [0.0, 0.0])
    s[0] += float((a * a).sum())
    s[1] += float(((a - b) ** 2).sum())


def quantization_report(float_model: Module, quantized_model: Module, data: Iterable[Any],
                        max_batches: Optional[int] = None,
                        sort_by: str = "sqnr") -> QuantizationReport:
    """Runs ``float_model`` and ``quantized_model`` on ``data`` (an iterable of input
    tensors, of tuples of inputs, or of (input, target) pairs) and reports the SQNR of every
    quantized layer's output and weight against the float one, the most damaged first.

    ``quantized_model`` is an eager model (``convert``) or a graph module (``convert_fx``);
    for the latter each int8 op is compared with the same value of the float model's
    traced graph (after its batch norm and fused relu), and rows are named by the module
    that ran the op (the enclosing module for functional ops such as ``add``).

    ``sqnr`` is end to end (what the quantized model has at that point, so errors of
    earlier layers add up); graph reports also give ``local_sqnr``: the op alone, run on
    the float model's inputs quantized as its own inputs are, i.e. the error that layer
    adds. ``sort_by="local_sqnr"`` orders by it (graph mode only), which points
    ``skip_worst`` at the layers that cause the damage rather than the deep ones that
    inherit it."""
    from .quantize_fx import QuantizedGraphModule
    if sort_by not in ("sqnr", "local_sqnr"):
        raise ValueError(f"quantization_report: sort_by must be 'sqnr' or 'local_sqnr', got "
                         f"{sort_by!r}")
    if isinstance(quantized_model, QuantizedGraphModule):
        return _graph_report(float_model, quantized_model, data, max_batches, sort_by)
    if sort_by != "sqnr":
        raise ValueError("quantization_report: sort_by='local_sqnr' needs a convert_fx model")
    q_mods = dict(quantized_model.named_modules())
    f_mods = dict(float_model.named_modules())
    sig: Dict[str, float] = {}
    noise: Dict[str, float] = {}
    out_sig = out_noise = 0.0
    for args in _batches(data, max_batches):
        res = compare_model_outputs(float_model, quantized_model, *args)
        for name, pair in res.items():
            for f, q in zip(pair["float"], pair["quantized"]):
                a, b = _np(f), _np(q)
                if a.shape != b.shape:
                    continue
                sig[name] = sig.get(name, 0.0) + float((a * a).sum())
                noise[name] = noise.get(name, 0.0) + float(((a - b) ** 2).sum())
        fo, qo = _np(float_model(*args)), _np(quantized_model(*args))
        out_sig += float((fo * fo).sum())
        out_noise += float(((fo - qo) ** 2).sum())

    def db(s: float, n: float) -> float:
        return math.inf if n == 0 else (-math.inf if s == 0 else 10 * math.log10(s / n))

    layers = []
    for name in sig:
        qm = q_mods[name]
        row = {"name": name, "type": type(qm).__name__ if not hasattr(qm, "_get_name")
               else qm._get_name(), "sqnr": db(sig[name], noise[name]), "weight_sqnr": None}
        w = getattr(qm, "weight", None)
        fw = getattr(f_mods.get(name), "weight", None)
        w = _weight_of(w) if w is not None else None
        if isinstance(w, Tensor) and w.dtype.is_quantized and isinstance(fw, Tensor) \
                and tuple(fw.shape) == tuple(w.shape):
            row["weight_sqnr"] = compute_sqnr(fw.detach(), w)
        layers.append(row)
    layers.sort(key=lambda r: r["sqnr"])
    return QuantizationReport(layers, db(out_sig, out_noise))


# ---- graph mode (convert_fx) ----------------------------------------------------------
def _flat(x: Any) -> List[Tensor]:
    from ..jit import _flatten
    out: List[Tensor] = []
    _flatten(x if isinstance(x, tuple) else (x,), out)
    return out


def _float_env(g: Any, args: Tuple[Any, ...]) -> List[Any]:
    """Every value of the float graph as traced (before batch-norm folding, original
    weights) on ``args``."""
    from . import _fx_graph as fxg
    env: List[Any] = [None] * g.n_values
    for v, t in g.const.items():
        env[v] = t
    for v, t in zip(g.inputs, _flat(tuple(args))):
        env[v] = t
    nodes = g.float_nodes if g.float_nodes is not None else fxg.compile_nodes(g.nodes)
    fxg.run_nodes(nodes, env)
    return env


def _layer_row(layer: Dict[str, Any], g: Any) -> Dict[str, Any]:
    from .quantize_fx import _aliases
    n = layer["node"]
    kind = n.op + ("+bn" if n.outs[0] in g.folded_bn else "") + \
        ("+relu" if n.fused_relu is not None else "")
    if n.module_name is not None:
        # a module call: set_module_name(name, None) keeps exactly this module float
        return {"name": n.module_name, "type": kind,
                "module_type": type(n.module).__name__, "object_type": None, "index": None}
    # a function inside module scope_name: set_module_name_object_type_order(scope, fn,
    # index, None) keeps just this call float (set_module_name would take the whole scope)
    return {"name": n.scope_name, "type": kind,
            "module_type": getattr(n.scope_type, "__name__", ""),
            "object_type": _aliases(n.op)[0], "index": n.call_index}


def _run_alone(qm: Any, layer: Dict[str, Any], q_env: List[Any], f_env: List[Any],
               ref_of: Dict[int, int]) -> Tensor:
    """The layer's int8 op on the float model's inputs quantized with the qparams its
    quantized inputs have: the error this op adds by itself (torch's shadow comparison)."""
    from .. import _dtype as dt
    from .._ops.quant import quantize_per_tensor
    from . import _fx_graph as fxg
    op, ins, ints, floats, _, _, _ = qm._compiled[layer["op"]]
    args = [q_env[i] if i >= 0 else None for i in ins]
    for p, v in enumerate(layer["acts"]):
        qx = args[p]
        args[p] = quantize_per_tensor(f_env[ref_of.get(v, v)], qx.q_scale(), qx.q_zero_point(),
                                      dt.quint8)
    return fxg._call(op, tuple(args), ints, floats)


def _graph_report(float_model: Module, qm: Any, data: Iterable[Any],
                  max_batches: Optional[int], sort_by: str = "sqnr") -> QuantizationReport:
    import warnings
    g = qm._g
    acc: Dict[Any, List[float]] = {}
    local: Dict[Any, List[float]] = {}
    inp: Dict[Any, List[float]] = {}
    out_acc: Dict[Any, List[float]] = {}
    graph_acc: Dict[Any, List[float]] = {}
    ref_of = {v: bn.outs[0] for v, bn in g.folded_bn.items()}
    for args in _batches(data, max_batches):
        q_env = qm._run(args)
        f_env = _float_env(g, args)
        for k, layer in enumerate(qm._layers):
            v = layer["value"]
            ref = f_env[ref_of.get(v, v)]
            _accumulate(acc, k, ref, q_env[layer["slot"]])
            _accumulate(local, k, ref, _run_alone(qm, layer, q_env, f_env, ref_of))
        for k, v in enumerate(g.inputs):
            if v in qm._qslot:
                _accumulate(inp, g.input_names[k], f_env[v], q_env[qm._qslot[v]])
        f_out = _flat(float_model(*args))
        q_out = [q_env[o] for o in qm._outputs]
        for k, (f, q) in enumerate(zip(f_out, q_out)):
            _accumulate(out_acc, 0, f, q)
            _accumulate(graph_acc, 0, f, f_env[g.outputs[k]])
    if graph_acc and _db(*graph_acc[0]) < 60:
        warnings.warn("quantization_report: float_model's output differs from the float graph "
                      f"prepare_fx traced ({_db(*graph_acc[0]):.1f} dB): the per-layer float "
                      "references come from the traced graph; is this the model given to "
                      "prepare_fx (with the same weights)?", stacklevel=3)
    layers = []
    for k, layer in enumerate(qm._layers):
        if k not in acc:
            continue
        row = _layer_row(layer, g)
        row["sqnr"] = _db(*acc[k])
        row["local_sqnr"] = _db(*local[k])
        row["weight_sqnr"] = None
        if layer["weight"] is not None:
            wid, wq = layer["weight"]
            row["weight_sqnr"] = compute_sqnr(g.const[wid], wq)  # the bn-folded float weight
        layers.append(row)
    layers.sort(key=lambda r: r[sort_by])
    out = _db(*out_acc[0]) if out_acc else math.nan
    return QuantizationReport(layers, out, {k: _db(*v) for k, v in inp.items()})
