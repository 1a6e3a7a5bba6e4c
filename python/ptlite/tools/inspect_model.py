"""ptlite-inspect: what is inside a .ptl file.

    ptlite-inspect model.ptl
    python -m ptlite.tools.inspect_model model.ptl

Prints inputs, outputs, metadata and extra files, an op histogram, the
parameter count, and the file size broken down by section and by layer.
"""
from __future__ import annotations

import argparse
import struct
import sys
from typing import Dict, List, Optional

from ptlite._dtype import BY_CODE
from ptlite.jit.mobile import _load_for_lite_interpreter

_SECTION_NAMES = {1: "graph", 2: "metadata", 3: "weights"}


def _sections(data: bytes) -> List[tuple]:
    count = struct.unpack_from("<I", data, 16)[0]
    out = []
    for i in range(count):
        kind, _flags, offset, size, _crc = struct.unpack_from("<IIQQI", data, 64 + 32 * i)
        out.append((_SECTION_NAMES.get(kind, f"kind {kind}"), offset, size))
    return out


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024.0
    return str(n)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="ptlite-inspect", description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--layers", type=int, default=20, help="largest layers to list")
    args = ap.parse_args(argv)
    with open(args.model, "rb") as f:
        data = f.read()
    module = _load_for_lite_interpreter(data)
    info = module._info
    values = info["values"]

    def describe(i: int) -> str:
        kind, dtype, shape, name, _ = values[i]
        return f"{name or f'v{i}'}: {BY_CODE[dtype].name}[{', '.join(map(str, shape))}]"

    print(f"file      {args.model} ({_human(len(data))})")
    print("inputs    " + "; ".join(describe(i) for i in info["inputs"]))
    print("outputs   " + "; ".join(describe(i) for i in info["outputs"]))
    extra = module.get_extra_files()
    if extra:
        print("extra     " + ", ".join(f"{k} ({len(v)} B)" for k, v in sorted(extra.items())))
    params = 0
    by_layer: Dict[str, int] = {}
    for kind, dtype, shape, name, const in values:
        if kind != 1:
            continue
        n = 1
        for d in shape:
            n *= d
        params += n
        layer = (name or "(anonymous)").rsplit(".", 1)[0]
        by_layer[layer] = by_layer.get(layer, 0) + n * BY_CODE[dtype].itemsize
    print(f"params    {params:,}")
    print(f"nodes     {len(info['nodes'])}")
    report = module.optimization_report()
    if report:
        print("\noptimize_for_mobile:")
        for r in report:
            print(f"  {r['pass']:<18}{r['rewrites']:>5} rewrites {r['nodes_removed']:>5} nodes "
                  f"removed  {r['detail']}")
    print("\nops:")
    for op, count in sorted(module.op_histogram().items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {op:<24}{count:>5}")
    print("\nsize by section:")
    for name, offset, size in _sections(data):
        print(f"  {name:<12}{_human(size):>12}  at offset {offset}")
    overhead = len(data) - sum(by_layer.values())
    print(f"  (weights are {100.0 * sum(by_layer.values()) / max(len(data), 1):.2f}% of the "
          f"file; {_human(overhead)} of graph, metadata and alignment)")
    print(f"\nlargest layers (of {len(by_layer)}):")
    for layer, size in sorted(by_layer.items(), key=lambda kv: -kv[1])[: args.layers]:
        print(f"  {layer:<48}{_human(size):>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
