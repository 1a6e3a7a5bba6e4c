"""ptlite-benchmark: time a .ptl model in the lite runtime.

    ptlite-benchmark model.ptl --threads 2 --warmup 5 --runs 50 [--profile]
    python -m ptlite.tools.benchmark model.ptl ...

Prints load time, first-run time, min/median/p90 latency and peak resident
memory; with --profile, a per-op table (count, time share, which backend ran).
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from typing import List, Optional

import numpy as np

import ptlite
from ptlite import _C
from ptlite.jit.mobile import _load_for_lite_interpreter


def _random_inputs(module) -> List[ptlite.Tensor]:
    rng = np.random.RandomState(0)
    inputs = []
    for i in module._info["inputs"]:
        kind, dtype, shape, name, _ = module._info["values"][i]
        d = ptlite._dtype.BY_CODE[dtype]
        if d.is_floating_point:
            a = rng.rand(*shape).astype(d._np)
        else:
            a = rng.randint(0, 2, size=shape).astype(d._np)
        inputs.append(ptlite.from_numpy(a))
    return inputs


def _percentile(values: List[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="ptlite-benchmark", description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=0, help="0: physical cores")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--profile", action="store_true", help="per-op time table")
    args = ap.parse_args(argv)
    if args.threads:
        ptlite.set_num_threads(args.threads)

    t0 = time.perf_counter()
    module = _load_for_lite_interpreter(args.model)
    load_ms = (time.perf_counter() - t0) * 1e3
    inputs = _random_inputs(module)
    graph = module._graph

    t0 = time.perf_counter()
    _C.graph_run(graph, inputs)
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(args.warmup):
        _C.graph_run(graph, inputs)
    times = []
    profile: list = [] if args.profile else None
    for _ in range(args.runs):
        t0 = time.perf_counter()
        if profile is None:
            _C.graph_run(graph, inputs)
        else:
            _C.graph_run(graph, inputs, profile)
        times.append((time.perf_counter() - t0) * 1e3)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    print(f"model            {args.model}")
    print(f"threads          {ptlite.get_num_threads()}")
    print(f"load             {load_ms:.2f} ms")
    print(f"first run        {first_ms:.2f} ms")
    print(f"latency          min {min(times):.3f} ms  median {statistics.median(times):.3f} ms"
          f"  p90 {_percentile(times, 90):.3f} ms  ({args.runs} runs)")
    print(f"peak RSS         {peak_mb:.1f} MiB")
    if profile is not None:
        per_op = {}
        for (op, *_), (secs, runs, fast) in zip(module._info["nodes"], profile):
            entry = per_op.setdefault(op, [0, 0.0, set()])
            entry[0] += 1
            entry[1] += secs
            entry[2].add("fast" if fast else "reference")
        total = sum(e[1] for e in per_op.values()) or 1.0
        print(f"\n{'op':<24}{'count':>6}{'time %':>9}{'ms/run':>10}  backend")
        for op, (count, secs, backends) in sorted(per_op.items(), key=lambda kv: -kv[1][1]):
            print(f"{op:<24}{count:>6}{100 * secs / total:>8.1f}%{secs / args.runs * 1e3:>10.3f}"
                  f"  {'+'.join(sorted(backends))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
