#!/usr/bin/env python3
"""Benchmark: time from `cluster up` to every node answering SSH, for N = 1, 2 and 4 nodes.

Beside it, the guest kernel's own boot time (its uptime when init printed the ready marker, read from
the console) and what remains: the harness's overhead (image, network, QEMU start, firmware and kernel
load, SSH). Prints a table and writes JSON with --json. Usage:

    python3 scripts/bench_boot.py [--kernel PATH] [--nodes 1 2 4] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cluster_bench_args import parse_cluster_bench_args  # noqa: E402  (beside this script)
from harness.cluster.cluster import Cluster  # noqa: E402
from harness.cluster.spec import ClusterSpec  # noqa: E402


def measure(kernel: str, nodes: int, accel: str) -> dict:
    """Boot one cluster; return wall time to SSH, guest boot time, teardown time."""
    started = time.monotonic()
    cluster = Cluster(ClusterSpec(nodes=nodes, kernel=kernel, accel=accel))
    cluster.start()
    up = time.monotonic() - started
    guest = max(cluster.guest_uptime.values())
    began_stop = time.monotonic()
    cluster.stop()
    return {"up": up, "guest_boot": guest, "overhead": up - guest, "down": time.monotonic() - began_stop}


def main() -> int:
    """Run the benchmark and print the table."""
    args = parse_cluster_bench_args(__doc__, [1, 2, 4], 3)
    kernel = args.kernel
    results = {}
    print(f"kernel: {kernel}")
    print(f"{'nodes':>5}  {'up->SSH (s)':>12}  {'guest boot (s)':>14}  {'overhead (s)':>12}  {'down (s)':>8}   (median of {args.repeat})")
    for nodes in args.nodes:
        runs = [measure(kernel, nodes, args.accel) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        results[nodes] = {"median": med, "runs": runs}
        print(f"{nodes:>5}  {med['up']:>12.2f}  {med['guest_boot']:>14.2f}  {med['overhead']:>12.2f}  {med['down']:>8.2f}")
    if args.json:
        args.json.write_text(json.dumps({"kernel": kernel, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
