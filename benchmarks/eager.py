"""Eager-mode latency: ptlite vs torch 2.13 on the zoo's classifiers.

Prints one table: model, threads, ptlite median ms, torch median ms, ratio
(ptlite / torch; below 1 means ptlite is faster). Both libraries run the same
architecture with the same weights (torch's reference architectures live in
tests/_torch_models.py) at batch 1, 3x224x224, median of >= 20 runs after
warm-up. Then the per-op Python overhead of ptlite on tiny tensors.

    python benchmarks/eager.py [--runs 20] [--models mobilenet_v2,resnet18,resnet50]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

# numpy's OpenBLAS threads spin after any BLAS call numpy makes (a SQNR, a matmul) and then
# compete with the libraries under test for the 2 cores: numpy itself is not measured here
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import torch  # noqa: E402  (peer, benchmark only)

import ptlite  # noqa: E402
from ptlite.vision import models as pmodels  # noqa: E402
import _torch_models as tmodels  # noqa: E402
from _timing import interleaved_medians  # noqa: E402


def build_pair(name: str):
    tm = getattr(tmodels, name)().eval()
    pm = getattr(pmodels, name)().eval()
    pm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return pm, tm


def per_op_overhead_us(n: int = 20000) -> dict:
    a = ptlite.ones(1)
    b = ptlite.ones(1)
    relu = ptlite.nn.functional.relu
    out = {}
    for label, fn in (("a + b", lambda: a + b), ("F.relu(a)", lambda: relu(a)),
                      ("a.view(1)", lambda: a.view(1))):
        fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        out[label] = (time.perf_counter() - t0) / n * 1e6
    ta, tb = torch.ones(1), torch.ones(1)
    t0 = time.perf_counter()
    for _ in range(n):
        ta + tb
    out["torch: a + b"] = (time.perf_counter() - t0) / n * 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--models", default="mobilenet_v2,resnet18,resnet50")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()

    print(f"ptlite {ptlite.__version__} vs torch {torch.__version__}; batch 1, 3x224x224, "
          f"median of {args.runs} runs after warm-up")
    print(f"{'model':<14}{'threads':>8}{'ptlite ms':>12}{'torch ms':>12}{'ratio':>8}")
    x = np.random.RandomState(0).rand(1, 3, 224, 224).astype(np.float32)
    px, tx = ptlite.from_numpy(x), torch.from_numpy(x)
    ratios = []
    for name in args.models.split(","):
        pm, tm = build_pair(name)
        for threads in (int(t) for t in args.threads.split(",")):
            ptlite.set_num_threads(threads)
            torch.set_num_threads(threads)
            with ptlite.no_grad(), torch.no_grad():
                p_ms, t_ms = interleaved_medians([lambda: pm(px), lambda: tm(tx)], args.runs)
            ratios.append(p_ms / t_ms)
            print(f"{name:<14}{threads:>8}{p_ms:>12.2f}{t_ms:>12.2f}{p_ms / t_ms:>8.2f}")
    print(f"worst ratio {max(ratios):.2f} (target <= 0.80)")
    print("per-op Python overhead (us, 1-element tensors):")
    for label, us in per_op_overhead_us().items():
        print(f"  {label:<14}{us:6.2f}")


if __name__ == "__main__":
    main()
