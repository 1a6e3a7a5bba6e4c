"""Dynamic quantization latency: ptlite vs torch 2.13's quantize_dynamic.

Cases: an int8 dynamic Linear 1024x1024 at batch 1, 8 and 32, and a dynamic LSTM
(input 256, hidden 512, seq 32, batch 1). Each library runs under two engines, each
ptlite module quantized under the same engine as the torch one it is compared with
(the engine binds the numerics when weights are packed, in both): torch's default
(x86: fbgemm, activations on 7 bits) vs ptlite 'x86' (the same numerics, bit for bit,
pmaddubsw kernel), and torch 'qnnpack' vs ptlite 'qnnpack' (8 bits, pmaddwd kernel).
Times are medians (ms) measured in interleaved rounds (benchmarks/_timing.py).
Ratio = ptlite / torch under the same engine; target for the Linear: <= 0.7 against
the default engine.

    python benchmarks/_quant_dynamic.py [--threads 1,2] [--runs 100]
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

# numpy's OpenBLAS threads spin after any BLAS call numpy makes (a SQNR, a matmul) and then
# compete with the libraries under test for the 2 cores: numpy itself is not measured here
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402  (peer, benchmark only)

import ptlite  # noqa: E402
from ptlite.quantization._quantize_dynamic import quantize_dynamic  # noqa: E402
from _timing import interleaved_medians  # noqa: E402

warnings.filterwarnings("ignore")


def _torch_quantized(tmod, engine: str):
    prev = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        return torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(tmod),
                                                      {type(tmod)}, dtype=torch.qint8)
    finally:
        torch.backends.quantized.engine = prev


def _ptlite_quantized(pmod, engine: str):
    prev = ptlite.backends.quantized.engine
    ptlite.backends.quantized.engine = engine
    try:
        return quantize_dynamic(ptlite.nn.Sequential(pmod), {type(pmod)}, dtype=ptlite.qint8)
    finally:
        ptlite.backends.quantized.engine = prev


def _pair(kind: str):
    torch.manual_seed(0)
    if kind == "linear":
        tmod = torch.nn.Linear(1024, 1024)
        pmod = ptlite.nn.Linear(1024, 1024)
    else:
        tmod = torch.nn.LSTM(256, 512)
        pmod = ptlite.nn.LSTM(256, 512)
    pmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    default_engine = torch.backends.quantized.engine
    return (_ptlite_quantized(pmod, default_engine), _ptlite_quantized(pmod, "qnnpack"),
            _torch_quantized(tmod, default_engine), _torch_quantized(tmod, "qnnpack"),
            default_engine)


def rows(threads: int, runs: int = 100) -> list:
    """One dict per case: name, threads, ptlite/torch median ms and the ratios."""
    ptlite.set_num_threads(threads)
    torch.set_num_threads(threads)
    out = []
    cases = [("linear", (b, 1024), f"dynamic Linear 1024x1024 batch {b}") for b in (1, 8, 32)]
    cases.append(("lstm", (32, 1, 256), "dynamic LSTM 256->512 seq 32 batch 1"))
    built = {}
    for kind, shape, name in cases:
        if kind not in built:
            built[kind] = _pair(kind)
        pq_default, pq_qnnpack, tq_default, tq_qnnpack, engine = built[kind]
        x = np.random.RandomState(1).randn(*shape).astype(np.float32)
        px, tx = ptlite.from_numpy(x), torch.from_numpy(x)
        n = runs if kind == "linear" else max(10, runs // 10)
        with ptlite.no_grad(), torch.no_grad():
            p_ms, pq_ms, t_ms, q_ms = interleaved_medians(
                [lambda: pq_default(px), lambda: pq_qnnpack(px), lambda: tq_default(tx),
                 lambda: tq_qnnpack(tx)], n)
        out.append({"case": name, "threads": threads, "ptlite_ms": p_ms,
                    "ptlite_qnnpack_ms": pq_ms, f"torch_{engine}_ms": t_ms,
                    "torch_qnnpack_ms": q_ms, "ratio_default": p_ms / t_ms,
                    "ratio_qnnpack": pq_ms / q_ms, "torch_engine": engine})
    return out


def print_table(threads_list=(1, 2), runs: int = 100) -> None:
    """Prints the dynamic rows at each thread count."""
    print(f"ptlite {ptlite.__version__} vs torch {torch.__version__}; median ms, "
          "interleaved rounds")
    print("engine x86 (torch's default) | engine qnnpack; each ratio ptlite / torch")
    print(f"{'case':<40}{'thr':>4}{'pt x86':>9}{'th x86':>9}{'ratio':>7}"
          f"{'pt qnnp':>9}{'th qnnp':>9}{'ratio':>7}")
    for threads in threads_list:
        for r in rows(threads, runs):
            t_ms = r[f"torch_{r['torch_engine']}_ms"]
            print(f"{r['case']:<40}{threads:>4}{r['ptlite_ms']:>9.3f}{t_ms:>9.3f}"
                  f"{r['ratio_default']:>7.2f}{r['ptlite_qnnpack_ms']:>9.3f}"
                  f"{r['torch_qnnpack_ms']:>9.3f}{r['ratio_qnnpack']:>7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    print_table([int(t) for t in args.threads.split(",")], args.runs)


if __name__ == "__main__":
    main()
