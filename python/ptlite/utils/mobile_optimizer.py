"""ptlite.utils.mobile_optimizer: make a traced module fast on a phone.

``optimize_for_mobile`` clones the module's graph and runs the C graph passes
(csrc/compiler/passes, one file each) in a fixed order. Each pass reports what
it rewrote; the optimized module keeps that report (``optimization_report()``),
saves it in its .ptl file and ``ptlite-inspect`` prints it.
"""
from __future__ import annotations

import enum
from typing import Dict, List, Optional, Set

from .. import _C
from ..jit import ScriptModule

__all__ = ["MobileOptimizerType", "optimize_for_mobile", "generate_mobile_module_lints"]


class MobileOptimizerType(enum.Enum):
    """Optimizations ``optimize_for_mobile`` can skip (``optimization_blocklist``).

    torch's names come first; ptlite adds passes that have no torch name.
    """
    CONV_BN_FUSION = 1
    INSERT_FOLD_PREPACK_OPS = 2
    REMOVE_DROPOUT = 3
    FUSE_ADD_RELU = 4
    HOIST_CONV_PACKED_PARAMS = 5
    VULKAN_AUTOMATIC_GPU_TRANSFER = 6
    # ptlite's own
    FUSE_ACTIVATION = 101  # relu / relu6 / hardtanh / clamp into the preceding conv or linear
    LINEAR_BN_FUSION = 102  # a standalone BatchNorm into a neighbouring linear
    CONSTANT_FOLDING = 103
    DEAD_CODE_ELIMINATION = 104


# Pass order: remove what does nothing, fold BN before fusing activations (BN sits
# between conv and relu), fold constants the folds expose, then drop dead code.
_PIPELINE = (
    ("remove_dropout", MobileOptimizerType.REMOVE_DROPOUT),
    ("conv_bn_fold", MobileOptimizerType.CONV_BN_FUSION),
    ("linear_bn_fold", MobileOptimizerType.LINEAR_BN_FUSION),
    ("fuse_activation", MobileOptimizerType.FUSE_ACTIVATION),
    ("fuse_add_relu", MobileOptimizerType.FUSE_ADD_RELU),
    ("constant_fold", MobileOptimizerType.CONSTANT_FOLDING),
    ("dead_code", MobileOptimizerType.DEAD_CODE_ELIMINATION),
)

_BACKENDS = ("cpu",)


def optimize_for_mobile(script_module: ScriptModule,
                        optimization_blocklist: Optional[Set[MobileOptimizerType]] = None,
                        preserved_methods: Optional[List[str]] = None,
                        backend: str = "CPU") -> ScriptModule:
    """Returns an optimized copy of a traced module; the input is left untouched.

    Args:
        script_module: a module from ``ptlite.jit.trace`` (traced in eval mode).
        optimization_blocklist: ``MobileOptimizerType`` members to skip.
        preserved_methods: accepted for torch compatibility; a traced module has
            only ``forward``, which is always preserved.
        backend: ``"CPU"`` (the only one ptlite has).
    """
    if not isinstance(script_module, ScriptModule):
        raise TypeError(f"Got {type(script_module).__name__}, but ScriptModule is expected "
                        "(trace the module with ptlite.jit.trace first).")
    if str(backend).lower() not in _BACKENDS:
        raise ValueError(f"optimize_for_mobile: backend {backend!r} is not supported; ptlite "
                         f"supports {', '.join(repr(b.upper()) for b in _BACKENDS)}")
    if script_module._traced_training:
        raise RuntimeError("optimize_for_mobile expects a module traced in eval mode: the trace "
                           "recorded training-mode behaviour (batch statistics, dropout). Call "
                           "model.eval() before ptlite.jit.trace.")
    blocked = set(optimization_blocklist or ())
    for item in blocked:
        if not isinstance(item, MobileOptimizerType):
            raise TypeError(f"optimization_blocklist takes MobileOptimizerType members, got "
                            f"{item!r}")
    for name in preserved_methods or ():
        if name != "forward":
            raise RuntimeError(f"preserved method '{name}' does not exist: a traced module "
                               "has only 'forward'")
    graph = _C.graph_clone(script_module._graph)
    report = []
    for name, kind in _PIPELINE:
        if kind in blocked:
            continue
        rewrites, removed, detail = _C.graph_pass(graph, name)
        report.append((name, rewrites, removed, detail))
    optimized = ScriptModule(graph, script_module._in_spec, script_module._out_spec, None,
                             extra_files=script_module._extra_files)
    optimized._optimization_report = report
    if MobileOptimizerType.INSERT_FOLD_PREPACK_OPS not in blocked:
        report.append(("prepack", 0, 0, "conv/linear weights are packed for the fast kernels "
                       "once: when a C runtime session is created (on the first call in "
                       "Python), and cached"))
    return optimized


def generate_mobile_module_lints(script_module: ScriptModule) -> List[Dict[str, str]]:
    """Things that hurt on a phone, as torch's lints: a list of ``{"name", "message"}``."""
    if not isinstance(script_module, ScriptModule):
        raise TypeError(f"Got {type(script_module).__name__}, but ScriptModule is expected.")
    table = _C.op_table()
    info = script_module._info
    counts: Dict[str, int] = {}
    for op, *_ in info["nodes"]:
        counts[op] = counts.get(op, 0) + 1
    lints = []
    if counts.get("dropout"):
        lints.append({"name": "Dropout", "message": f"{counts['dropout']} dropout op(s) left: "
                      "trace in eval mode or run optimize_for_mobile (REMOVE_DROPOUT)"})
    if counts.get("batch_norm"):
        lints.append({"name": "BatchNorm", "message": f"{counts['batch_norm']} batch_norm op(s) "
                      "left: fold them into the neighbouring conv/linear (CONV_BN_FUSION)"})
    slow = sorted(op for op in counts if not table[op][6] and table[op][2] == 0)
    if slow:
        lints.append({"name": "ReferenceKernel", "message": "ops without a fast path run the "
                      "portable reference kernels: " + ", ".join(slow)})
    quantized = any(v[1] in (7, 8, 9) for v in info["values"])
    float_compute = [op for op in counts if op in ("conv2d", "linear", "matmul")]
    if quantized and float_compute:
        lints.append({"name": "FloatOpInQuantizedModel", "message": "float ops left in a "
                      "quantized model: " + ", ".join(sorted(float_compute))})
    consts = {i for i, v in enumerate(info["values"]) if v[0] == 1}
    for op, ints, floats, ins, outs in info["nodes"]:
        if op == "matmul" and any(i in consts for i in ins):
            lints.append({"name": "NotPrepacked", "message": "matmul with a constant operand "
                          "is not prepacked: write it as nn.Linear / F.linear"})
            break
    return lints
