"""Timing shared by the benchmarks."""
from __future__ import annotations

import statistics
import time


def interleaved_medians(fns, runs: int, warmup: int = 10, rounds: int = 4):
    """Median ms of each fn, measured in alternating rounds so every peer sees the
    same machine state (the machine may be shared; rounds spread any noise)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for fn, out in zip(fns, times):
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                out.append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(t) for t in times]
