#!/usr/bin/env python3
"""Plots (PNG) from the benchmarks' JSON: `popcorn-harness bench --json` (sample distributions, thread
scaling, and B against A when the run had --against), `scripts/bench_boot.py --json` (boot time
breakdown per node count) and `scripts/bench_snapshot.py --json` (restore against boot). Usage:

    python3 scripts/plot_benchmarks.py [--bench B.json] [--boot BOOT.json] [--snapshot SNAP.json] --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.bench.plots import plot_bench, plot_boot, plot_snapshot  # noqa: E402
from harness.bench.results import comparisons, load, runs_of  # noqa: E402


def main() -> int:
    """Write every plot the given files allow; print their paths."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path)
    parser.add_argument("--boot", type=Path)
    parser.add_argument("--snapshot", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    made = []
    if args.bench:
        document = load(args.bench)
        found = comparisons(runs_of(document, "A"), runs_of(document, "B")) if "B" in document["kernels"] else []
        made += plot_bench(document, found, args.out)
    if args.boot:
        made.append(plot_boot(json.loads(args.boot.read_text()), args.out))
    if args.snapshot:
        made.append(plot_snapshot(json.loads(args.snapshot.read_text()), args.out))
    for path in made:
        print(path)
    return 0 if made else 2


if __name__ == "__main__":
    raise SystemExit(main())
