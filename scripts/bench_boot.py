#!/usr/bin/env python3
"""Benchmark: time from `cluster up` to every node answering SSH, for N = 1, 2 and 4 nodes, and where it goes.

Beside it, the guest kernel's own boot time (its uptime when init printed the ready marker, read from
the console), one SSH round trip on the ready cluster (a no-op command, median of 10), and the ratio the
harness aims at: up->SSH over (guest boot + one round trip), goal 1.15. The start-up is broken down by
phase (``Cluster.timings``: sweep and lease, keys, image, accelerator, network, boot = QEMU start to every
guest ready, ssh = every node's first connection). Prints a table and writes JSON with --json. Usage:

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

#: No-op commands timed on the ready cluster.
ROUND_TRIPS = 10


def measure(kernel: str, nodes: int, accel: str) -> dict:
    """Boot one cluster; return wall time to SSH, guest boot time, a round trip, the phases, teardown time."""
    started = time.monotonic()
    cluster = Cluster(ClusterSpec(nodes=nodes, kernel=kernel, accel=accel))
    cluster.start()
    up = time.monotonic() - started
    guest = max(cluster.guest_uptime.values())
    trips = []
    for _ in range(ROUND_TRIPS):
        began = time.monotonic()
        cluster.nodes[0].run("true", logged=False)
        trips.append(time.monotonic() - began)
    rtt = statistics.median(trips)
    began_stop = time.monotonic()
    cluster.stop()
    return {"up": up, "guest_boot": guest, "overhead": up - guest, "rtt": rtt, "goal_ratio": up / (guest + rtt),
            "phases": dict(cluster.timings), "preflight": up - sum(cluster.timings.values()),
            "down": time.monotonic() - began_stop}


def main() -> int:
    """Run the benchmark and print the table."""
    args = parse_cluster_bench_args(__doc__, [1, 2, 4], 3)
    kernel = args.kernel
    results = {}
    print(f"kernel: {kernel}")
    print(f"{'nodes':>5}  {'up->SSH':>7}  {'guest boot':>10}  {'overhead':>8}  {'1 RTT':>6}  {'ratio':>5}  {'down':>5}   "
          f"phases (s)   (median of {args.repeat})")
    for nodes in args.nodes:
        runs = [measure(kernel, nodes, args.accel) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "phases"}
        med["phases"] = {p: statistics.median(r["phases"].get(p, 0.0) for r in runs) for p in runs[0]["phases"]}
        results[nodes] = {"median": med, "runs": runs}
        phases = ", ".join(f"{p} {v:.2f}" for p, v in med["phases"].items())
        print(f"{nodes:>5}  {med['up']:>6.2f}s  {med['guest_boot']:>9.2f}s  {med['overhead']:>7.2f}s  "
              f"{med['rtt'] * 1000:>4.0f}ms  {med['goal_ratio']:>5.2f}  {med['down']:>4.2f}s   "
              f"preflight {med['preflight']:.2f}, {phases}")
    if args.json:
        args.json.write_text(json.dumps({"kernel": kernel, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
