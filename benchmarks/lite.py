"""Lite runtime against PyTorch Mobile, in one run.

For mobilenet_v2, resnet18 and resnet50 (batch 1, 3x224x224, same weights in every
library), unoptimized and after optimize_for_mobile in each library, prints latency
at 1 and 2 threads, file size, load time and activation memory for:
  - ptlite: jit.trace -> _save_for_lite_interpreter -> jit.mobile._load_for_lite_interpreter
  - torch 2.13: the same calls on torch (the lite interpreter still runs there)
  - torch 1.13 (Debian python3-torch, run by /usr/bin/python3) when installed
    (`make bench-deps` installs it)
and the ratios ptlite / peer (below 1: ptlite is better). Then the interpreter's
overhead per node on a long chain of tiny ops.

    python benchmarks/lite.py [--runs 20] [--models mobilenet_v2,resnet18,resnet50]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# numpy's OpenBLAS threads spin after any BLAS call numpy makes (a SQNR, a matmul) and then
# compete with the libraries under test for the 2 cores: numpy itself is not measured here
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import torch  # noqa: E402  (peer, benchmark only)
import torch.jit.mobile  # noqa: E402

import ptlite  # noqa: E402
from ptlite.jit.mobile import _load_for_lite_interpreter  # noqa: E402
from ptlite.utils.mobile_optimizer import optimize_for_mobile  # noqa: E402
from torch.utils.mobile_optimizer import optimize_for_mobile as torch_optimize_for_mobile  # noqa
from _models import model_pair  # noqa: E402
from _timing import interleaved_medians  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"

# Runs under Debian's torch 1.13: builds the reference model, loads the weights,
# saves a lite module and times it. Prints one JSON line.
PEER_SCRIPT = r"""
import json, statistics, sys, time
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
import _torch_models as tm
from torch.jit.mobile import _load_for_lite_interpreter
name, weights, x_path, out_dir, runs = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
optimized = sys.argv[7] == "opt"
model = getattr(tm, name)().eval()
state = np.load(weights)
model.load_state_dict({k: torch.from_numpy(state[k]) for k in state.files})
x = torch.from_numpy(np.load(x_path))
traced = torch.jit.trace(model, x)
if optimized:
    from torch.utils.mobile_optimizer import optimize_for_mobile
    traced = optimize_for_mobile(traced)
path = out_dir + "/peer113_" + name + sys.argv[7] + ".ptl"
traced._save_for_lite_interpreter(path)
t0 = time.perf_counter(); lite = _load_for_lite_interpreter(path); load_ms = (time.perf_counter() - t0) * 1e3
res = {"version": torch.__version__, "load_ms": load_ms, "size": __import__("os").path.getsize(path)}
for threads in (1, 2):
    torch.set_num_threads(threads)
    for _ in range(5): lite(x)
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter(); lite(x); ts.append((time.perf_counter() - t0) * 1e3)
    res["ms%d" % threads] = statistics.median(ts)
print(json.dumps(res))
"""


# Heap bytes one inference needs, measured the same way for every runtime: a fresh
# process with benchmarks/memhook.c preloaded, two warm-up runs (weights packed),
# then the peak allocated above the starting level during one run.
HEAP_SCRIPT = r"""
import ctypes, sys, warnings
import numpy as np
warnings.filterwarnings("ignore")
kind, path, x_path = sys.argv[1], sys.argv[2], sys.argv[3]
x = np.load(x_path)
if kind == "ptlite":
    import ptlite
    from ptlite.jit.mobile import _load_for_lite_interpreter
    ptlite.set_num_threads(1)
    inp = ptlite.from_numpy(x)
else:
    import torch
    from torch.jit.mobile import _load_for_lite_interpreter
    torch.set_num_threads(1)
    inp = torch.from_numpy(x)
m = _load_for_lite_interpreter(path)
for _ in range(2):
    out = m(inp)
del out
hook = ctypes.CDLL(None)
hook.memhook_peak.restype = ctypes.c_longlong
hook.memhook_reset()
out = m(inp)
print(hook.memhook_peak())
"""

_MEMHOOK = None


def memhook_library(tmp: str):
    """Builds benchmarks/memhook.c once (None if there is no C compiler)."""
    global _MEMHOOK
    if _MEMHOOK is None:
        lib = os.path.join(tmp, "memhook.so")
        res = subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", lib,
                              os.path.join(HERE, "memhook.c"), "-ldl"], capture_output=True)
        _MEMHOOK = lib if res.returncode == 0 else ""
    return _MEMHOOK or None


def heap_per_run_mb(kind: str, path: str, x_path: str, tmp: str,
                    python: str = sys.executable) -> float:
    lib = memhook_library(tmp)
    if lib is None or not os.path.exists(python):
        return float("nan")
    env = dict(os.environ, LD_PRELOAD=lib, PYTHONPATH=os.path.join(HERE, "..", "python"))
    out = subprocess.run([python, "-c", HEAP_SCRIPT, kind, path, x_path], capture_output=True,
                         text=True, env=env)
    if out.returncode != 0:
        return float("nan")
    return int(out.stdout.strip().splitlines()[-1]) / (1024.0 * 1024.0)


def median_load_ms(load, path: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load(path)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def peer_113(name: str, weights: str, x_path: str, out_dir: str, runs: int, variant: str):
    if not os.path.exists(SYSTEM_PYTHON):
        return None
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import torch"], capture_output=True)
    if probe.returncode != 0:
        return None
    out = subprocess.run([SYSTEM_PYTHON, "-c", PEER_SCRIPT, os.path.join(HERE, "..", "tests"),
                          name, weights, x_path, out_dir, str(runs), variant],
                         capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  (torch 1.13 peer failed for {name}: {out.stderr.strip().splitlines()[-1]})")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def node_overhead_us(n_nodes: int = 2000, runs: int = 50):
    """Interpreter cost per node: a chain of relu on a 1-element tensor."""
    def chain(x):
        for _ in range(n_nodes):
            x = ptlite.relu(x)
        return x

    x = ptlite.ones(1)
    traced = ptlite.jit.trace(chain, x)
    (ours,) = interleaved_medians([lambda: traced(x)], runs)

    class Chain(torch.nn.Module):
        def forward(self, t):
            for _ in range(n_nodes):
                t = torch.relu(t)
            return t

    tx = torch.ones(1)
    tm = torch.jit.trace(Chain(), tx)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "chain.ptl")
        tm._save_for_lite_interpreter(path)
        lite = torch.jit.mobile._load_for_lite_interpreter(path)
        (theirs,) = interleaved_medians([lambda: lite(tx)], runs)
    return ours * 1e3 / n_nodes, theirs * 1e3 / n_nodes


def measure(name, variant, pm, tm, px, tx, x_path, weights, tmp, state, runs, plain=None):
    """One row: ptlite vs torch 2.13 (and 1.13) lite modules, optimized or not.
    `plain` (the unoptimized ptlite lite module) is timed in the same rounds as an
    optimized one, so the optimization's gain is measured under the same load."""
    with ptlite.no_grad():
        ptraced = ptlite.jit.trace(pm, px)
    with torch.no_grad():
        ttraced = torch.jit.trace(tm, tx)
    t_available = True
    if variant == "opt":
        ptraced = optimize_for_mobile(ptraced)
        try:
            ttraced = torch_optimize_for_mobile(ttraced)
        except RuntimeError:
            # PyPI's CPU build of torch 2.13 has no XNNPACK, which its
            # optimize_for_mobile needs; Debian's 1.13 is the optimized peer then
            t_available = False
    ppath = os.path.join(tmp, f"{name}_{variant}.ptl")
    ptraced._save_for_lite_interpreter(ppath)
    plite = _load_for_lite_interpreter(ppath)
    p_load = median_load_ms(_load_for_lite_interpreter, ppath)
    tpath = os.path.join(tmp, f"{name}_{variant}_torch.ptl")
    ttraced._save_for_lite_interpreter(tpath)
    tlite = torch.jit.mobile._load_for_lite_interpreter(tpath)
    t_load = median_load_ms(torch.jit.mobile._load_for_lite_interpreter, tpath)
    row = {"model": name, "variant": variant, "p_size": os.path.getsize(ppath),
           "t_size": os.path.getsize(tpath), "p_load": p_load, "t_load": t_load,
           "p_peak": plite.planned_activation_bytes(px), "nodes": len(plite._info["nodes"]),
           "raw": sum(v.nbytes for v in state.values())}
    for threads in (1, 2):
        ptlite.set_num_threads(threads)
        torch.set_num_threads(threads)
        fns = [lambda: plite(px)]
        if t_available:
            fns.append(lambda: tlite(tx))
        if plain is not None:
            fns.append(lambda: plain(px))
        with torch.no_grad():
            times = interleaved_medians(fns, runs)
        row[f"p{threads}"] = times[0]
        row[f"t{threads}"] = times[1] if t_available else float("nan")
        row[f"plain{threads}"] = times[-1] if plain is not None else float("nan")
    row["module"] = plite
    row["old"] = peer_113(name, weights, x_path, tmp, runs, variant)
    row["p_heap"] = heap_per_run_mb("ptlite", ppath, x_path, tmp)
    row["t_heap"] = heap_per_run_mb("torch", tpath, x_path, tmp) if t_available else float("nan")
    old_path = os.path.join(tmp, "peer113_" + name + variant + ".ptl")
    row["o_heap"] = (heap_per_run_mb("torch", old_path, x_path, tmp, SYSTEM_PYTHON)
                     if row["old"] else float("nan"))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--models", default="mobilenet_v2,resnet18,resnet50")
    args = ap.parse_args()
    import warnings
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        x = np.random.RandomState(0).rand(1, 3, 224, 224).astype(np.float32)
        x_path = os.path.join(tmp, "x.npy")
        np.save(x_path, x)
        px, tx = ptlite.from_numpy(x), torch.from_numpy(x)
        for name in args.models.split(","):
            pm, tm, state, weights = model_pair(name, tmp)

            plain = measure(name, "plain", pm, tm, px, tx, x_path, weights, tmp, state,
                            args.runs)
            rows.append(plain)
            rows.append(measure(name, "opt", pm, tm, px, tx, x_path, weights, tmp, state,
                                args.runs, plain=plain["module"]))

    print(f"ptlite {ptlite.__version__} lite runtime vs PyTorch Mobile lite interpreter "
          f"(torch {torch.__version__}; Debian torch 1.13 when installed); batch 1, "
          f"median of {args.runs} runs")
    print(f"{'model':<14}{'variant':<9}{'thr':>4}{'ptlite ms':>11}{'t2.13 ms':>10}{'ratio':>7}"
          f"{'t1.13 ms':>10}{'ratio':>7}{'opt/plain':>11}")
    for r in rows:
        for threads in (1, 2):
            old = r["old"]
            old_ms = old[f"ms{threads}"] if old else float("nan")
            print(f"{r['model']:<14}{r['variant']:<9}{threads:>4}{r[f'p{threads}']:>11.2f}"
                  f"{r[f't{threads}']:>10.2f}{r[f'p{threads}'] / r[f't{threads}']:>7.2f}"
                  f"{old_ms:>10.2f}{r[f'p{threads}'] / old_ms:>7.2f}"
                  f"{r[f'p{threads}'] / r.get(f'plain{threads}', float('nan')):>11.2f}")
    print(f"\n{'model':<14}{'variant':<9}{'nodes':>6}{'raw weights':>13}{'ptlite file':>13}{'t2.13 file':>12}"
          f"{'t1.13 file':>12}{'ptlite load':>13}{'t2.13 load':>12}{'t1.13 load':>12}"
          f"{'arena':>9}{'heap/run':>10}{'t2.13':>8}{'t1.13':>8}")
    for r in rows:
        old = r["old"] or {}
        mb = 1024 * 1024
        print(f"{r['model']:<14}{r['variant']:<9}{r['nodes']:>6}{r['raw'] / mb:>11.2f}MB{r['p_size'] / mb:>11.2f}MB"
              f"{r['t_size'] / mb:>10.2f}MB{old.get('size', float('nan')) / mb:>10.2f}MB"
              f"{r['p_load']:>11.2f}ms{r['t_load']:>10.2f}ms{old.get('load_ms', float('nan')):>10.2f}ms"
              f"{r['p_peak'] / mb:>7.2f}MB{r['p_heap']:>8.2f}MB{r['t_heap']:>6.1f}MB"
              f"{r['o_heap']:>6.1f}MB")
        print(f"{'':<14}ptlite file / raw weights = {r['p_size'] / r['raw']:.4f}")
    print("opt/plain: ptlite optimized / unoptimized, timed in the same rounds")
    print("t2.13 'opt' is nan: PyPI's CPU torch 2.13 is built without XNNPACK and its "
          "optimize_for_mobile refuses to run; Debian's torch 1.13 is the optimized peer")
    ours, theirs = node_overhead_us()
    print("arena: the activation arena a ptlite C session plans by liveness; heap/run: peak "
          "heap allocated during one inference after warm-up (benchmarks/memhook.c preloaded, "
          "1 thread; ptlite's Python lite module, which frees each value after its last use)")
    print(f"\ninterpreter overhead per node (chain of 2000 relu on 1 element): ptlite "
          f"{ours:.2f} us, torch 2.13 lite {theirs:.2f} us")


if __name__ == "__main__":
    main()
