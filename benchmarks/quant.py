"""Int8 models against float and against PyTorch's int8, in one run.

For mobilenet_v2, resnet18 and resnet50 (batch 1, 3x224x224, the same random weights in
every library), quantized post-training in graph mode (--qconfig x86 by default: per-channel
weights, histogram activations) and calibrated on the same 8 inputs, prints latency at 1
and 2 threads for:
  - ptlite int8: prepare_fx -> convert_fx -> jit.trace -> optimize_for_mobile -> .ptl ->
    lite runtime
  - ptlite fp32: jit.trace -> optimize_for_mobile -> .ptl -> lite runtime
  - PyTorch Mobile int8 (qnnpack engine, lite interpreter): torch 2.13 (its PyPI build has
    no XNNPACK, so unoptimized) and Debian's python3-torch 1.13 (optimized) when installed
  - torch 2.13 eager int8 (x86 engine, FX graph mode)
with ratios (below 1: ptlite is faster) and file sizes against the raw weight bytes. Then
dynamic int8 Linear / LSTM against torch's quantize_dynamic (benchmarks/_quant_dynamic.py).

    python benchmarks/quant.py [--runs 20] [--models mobilenet_v2,resnet18,resnet50]
                               [--qconfig {x86,qnnpack}]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import warnings

# numpy's OpenBLAS threads spin after any BLAS call numpy makes (a SQNR, a matmul) and then
# compete with the libraries under test for the 2 cores: numpy itself is not measured here
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)

import torch  # noqa: E402  (peer, benchmark only)
import torch.jit.mobile  # noqa: E402

import ptlite  # noqa: E402
from ptlite.jit.mobile import _load_for_lite_interpreter  # noqa: E402
from ptlite.quantization.qconfig_mapping import get_default_qconfig_mapping  # noqa: E402
from ptlite.quantization.quantize_fx import convert_fx, prepare_fx  # noqa: E402
from ptlite.utils.mobile_optimizer import optimize_for_mobile  # noqa: E402
from _models import model_pair  # noqa: E402
from _timing import interleaved_medians  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"

# Runs under Debian's torch 1.13: FX post-training quantization with qnnpack settings,
# optimize_for_mobile, lite interpreter. Prints one JSON line.
PEER_SCRIPT = r"""
import json, os, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
import _torch_models as tm
from torch.jit.mobile import _load_for_lite_interpreter
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
from torch.utils.mobile_optimizer import optimize_for_mobile
name, weights, x_path, calib_path, out_dir, runs = sys.argv[2:8]
runs = int(runs)
torch.backends.quantized.engine = "qnnpack"
model = getattr(tm, name)().eval()
state = np.load(weights)
model.load_state_dict({k: torch.from_numpy(state[k]) for k in state.files})
x = torch.from_numpy(np.load(x_path))
calib = np.load(calib_path)
prepared = prepare_fx(model, get_default_qconfig_mapping("qnnpack"), example_inputs=(x,))
with torch.no_grad():
    for b in calib:
        prepared(torch.from_numpy(b))
q = convert_fx(prepared)
traced = optimize_for_mobile(torch.jit.trace(q, x))
path = os.path.join(out_dir, "peer113_int8_" + name + ".ptl")
traced._save_for_lite_interpreter(path)
lite = _load_for_lite_interpreter(path)
res = {"version": torch.__version__, "size": os.path.getsize(path)}
for threads in (1, 2):
    torch.set_num_threads(threads)
    for _ in range(5): lite(x)
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter(); lite(x); ts.append((time.perf_counter() - t0) * 1e3)
    res["ms%d" % threads] = statistics.median(ts)
print(json.dumps(res))
"""


def peer_113(name, weights, x_path, calib_path, out_dir, runs):
    if not os.path.exists(SYSTEM_PYTHON):
        return None
    out = subprocess.run([SYSTEM_PYTHON, "-c", PEER_SCRIPT, os.path.join(HERE, "..", "tests"),
                          name, weights, x_path, calib_path, out_dir, str(runs)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        print(f"  (torch 1.13 int8 peer unavailable for {name}: {last})")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def torch_int8(tm, tx, calib, engine):
    torch.backends.quantized.engine = engine
    from torch.ao.quantization import get_default_qconfig_mapping as tmapping
    from torch.ao.quantization.quantize_fx import convert_fx as tconvert
    from torch.ao.quantization.quantize_fx import prepare_fx as tprepare
    prepared = tprepare(copy.deepcopy(tm), tmapping(engine), example_inputs=(tx,))
    with torch.no_grad():
        for b in calib:
            prepared(torch.from_numpy(b))
    return tconvert(prepared)


def ptlite_int8(pm, px, calib, qconfig="x86"):
    # x86 (reduce_range: activations 0..127) lets the quantized convs / linears run the
    # exact vpmaddubsw kernel (kernels/qgemm_avx2.c); qnnpack settings use 0..255
    prepared = prepare_fx(pm, get_default_qconfig_mapping(qconfig), example_inputs=(px,))
    with ptlite.no_grad():
        for b in calib:
            prepared(ptlite.from_numpy(b))
    # convert_fx keeps the prepared module's training flag (torch's too): eval() before
    # tracing, or optimize_for_mobile refuses the trace
    return convert_fx(prepared).eval()


def lite_file(module, x, path, optimize=True):
    with ptlite.no_grad():
        traced = ptlite.jit.trace(module, x)
    if optimize:
        traced = optimize_for_mobile(traced)
    traced._save_for_lite_interpreter(path)
    return _load_for_lite_interpreter(path)


def raw_weight_bytes(lite) -> int:
    """Bytes of the model's information: every constant's data, plus the float32 scale of
    each quantized channel (an int8 weight is its integers and their scales)."""
    total = 0
    for v in lite._info["values"]:
        t = v[4]
        if t is None:
            continue
        total += t.numel() * t.element_size()
        if t.is_quantized:
            per_channel = "channel" in str(t.qscheme())
            total += 4 * (t.q_per_channel_scales().numel() if per_channel else 1)
    return total


def measure(name, pm, tm, px, tx, calib, tmp, runs, weights, x_path, calib_path, qconfig):
    row = {"model": name}
    q = ptlite_int8(pm, px, calib, qconfig)
    p8 = lite_file(q, px, os.path.join(tmp, f"{name}_int8.ptl"))
    p32 = lite_file(pm, px, os.path.join(tmp, f"{name}_fp32.ptl"))
    row["p8_size"] = os.path.getsize(os.path.join(tmp, f"{name}_int8.ptl"))
    row["p32_size"] = os.path.getsize(os.path.join(tmp, f"{name}_fp32.ptl"))
    row["p8_raw"] = raw_weight_bytes(p8)
    with ptlite.no_grad():
        ref = pm(px).numpy()
        out8 = p8(px).numpy()
    row["sqnr"] = ptlite.quantization.ns.compute_sqnr(ref, out8)

    t_eager = torch_int8(tm, tx, calib, "x86")
    t_mob = torch_int8(tm, tx, calib, "qnnpack")
    tpath = os.path.join(tmp, f"{name}_int8_torch.ptl")
    with torch.no_grad():
        torch.jit.trace(t_mob, tx)._save_for_lite_interpreter(tpath)
    t_lite = torch.jit.mobile._load_for_lite_interpreter(tpath)
    row["t_size"] = os.path.getsize(tpath)
    for threads in (1, 2):
        ptlite.set_num_threads(threads)
        torch.set_num_threads(threads)
        with torch.no_grad(), ptlite.no_grad():
            torch.backends.quantized.engine = "qnnpack"
            a, b, c = interleaved_medians([lambda: p8(px), lambda: p32(px),
                                           lambda: t_lite(tx)], runs)
            torch.backends.quantized.engine = "x86"
            (d,) = interleaved_medians([lambda: t_eager(tx)], runs)
        row.update({f"p8_{threads}": a, f"p32_{threads}": b, f"tl_{threads}": c,
                    f"te_{threads}": d})
    row["old"] = peer_113(name, weights, x_path, calib_path, tmp, runs)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--models", default="mobilenet_v2,resnet18,resnet50")
    ap.add_argument("--no-dynamic", action="store_true")
    ap.add_argument("--qconfig", choices=("qnnpack", "x86"), default="x86",
                    help="ptlite's PTQ qconfig mapping (torch's peers keep theirs)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    rows = []
    rng = np.random.RandomState(0)
    with tempfile.TemporaryDirectory() as tmp:
        x = rng.rand(1, 3, 224, 224).astype(np.float32)
        calib = rng.rand(8, 1, 3, 224, 224).astype(np.float32)
        x_path, calib_path = os.path.join(tmp, "x.npy"), os.path.join(tmp, "calib.npy")
        np.save(x_path, x)
        np.save(calib_path, calib)
        px, tx = ptlite.from_numpy(x), torch.from_numpy(x)
        for name in args.models.split(","):
            pm, tm, _, weights = model_pair(name, tmp)
            rows.append(measure(name, pm, tm, px, tx, calib, tmp, args.runs, weights, x_path,
                                calib_path, args.qconfig))

    nan = float("nan")
    print(f"ptlite {ptlite.__version__} int8 (graph-mode PTQ with the {args.qconfig} qconfig, "
          f"lite runtime) vs ptlite fp32 "
          f"optimized and PyTorch int8 (torch {torch.__version__}); batch 1, median of "
          f"{args.runs} runs, ratio = ptlite int8 / other (below 1: ptlite int8 is faster)")
    print(f"{'model':<14}{'thr':>4}{'int8 ms':>9}{'fp32 ms':>9}{'/fp32':>7}{'t2.13 lite':>12}"
          f"{'ratio':>7}{'t1.13 opt':>11}{'ratio':>7}{'t2.13 eager':>13}{'ratio':>7}")
    for r in rows:
        old = r["old"] or {}
        for t in (1, 2):
            p8 = r[f"p8_{t}"]
            o = old.get(f"ms{t}", nan)
            print(f"{r['model']:<14}{t:>4}{p8:>9.2f}{r[f'p32_{t}']:>9.2f}"
                  f"{p8 / r[f'p32_{t}']:>7.2f}{r[f'tl_{t}']:>12.2f}{p8 / r[f'tl_{t}']:>7.2f}"
                  f"{o:>11.2f}{p8 / o:>7.2f}{r[f'te_{t}']:>13.2f}{p8 / r[f'te_{t}']:>7.2f}")
    mb = 1024 * 1024
    print(f"\n{'model':<14}{'int8 file':>11}{'raw int8 w':>12}{'file/raw':>10}{'fp32 file':>11}"
          f"{'t2.13 int8':>12}{'t1.13 int8':>12}{'SQNR dB':>9}")
    for r in rows:
        old = r["old"] or {}
        print(f"{r['model']:<14}{r['p8_size'] / mb:>9.2f}MB{r['p8_raw'] / mb:>10.2f}MB"
              f"{r['p8_size'] / r['p8_raw']:>10.4f}{r['p32_size'] / mb:>9.2f}MB"
              f"{r['t_size'] / mb:>10.2f}MB{old.get('size', nan) / mb:>10.2f}MB"
              f"{r['sqnr']:>9.1f}")
    print("raw int8 w: bytes of the int8 model's constants: int8 weights with their "
          "float32 scales, float biases")
    print("SQNR: ptlite int8 output against ptlite fp32 on the timing input")

    if not args.no_dynamic:
        import _quant_dynamic
        print("\ndynamic quantization (quantize_dynamic) against torch's, same weights:")
        _quant_dynamic.print_table((1, 2), max(50, args.runs * 5))


if __name__ == "__main__":
    main()
