"""The command line the cluster benchmarks share (bench_boot.py, bench_snapshot.py)."""

from __future__ import annotations

import argparse
from pathlib import Path


def parse_cluster_bench_args(doc: str, nodes: list[int], repeat: int) -> argparse.Namespace:
    """Parse --kernel (default: Debian's stock kernel, fetched once), --nodes, --repeat, --accel, --json;
    ``args.kernel`` is always a path afterwards."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kernel", default="", help="bzImage or artifact dir (default: Debian stock kernel)")
    parser.add_argument("--nodes", type=int, nargs="+", default=nodes)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--accel", default="auto")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not args.kernel:
        from harness.kernel.stock import stock_kernel

        args.kernel = str(stock_kernel())
    return args
