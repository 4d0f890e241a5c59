#!/usr/bin/env python3
"""Benchmark: a cluster from its snapshot against a cluster from a boot, for N = 2 and 4 nodes.

For each size: boot a cluster (start to every node answering SSH), bring the Popcorn mesh up on a Popcorn
kernel (the pool's snapshot is taken with it connected), save the snapshot, then restore it --repeat
times (from powering the old VMs off to every node answering SSH again). After every restore the mesh
is checked with get_node_info on every node (not timed). Prints a table (medians, with min-max) and
the snapshot's size on disk, and writes JSON with --json. Usage:

    python3 scripts/bench_snapshot.py [--kernel PATH] [--nodes 2 4] [--repeat 5] [--json out.json]
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
from harness.popcorn.bringup import bring_up_if_popcorn, verify_mesh  # noqa: E402
from harness.popcorn.payload import with_popcorn_payload  # noqa: E402


def _timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def measure(kernel: str, nodes: int, accel: str, repeat: int) -> dict:
    """Boot, mesh, save and ``repeat`` restores of one cluster; seconds of each, and the snapshot's bytes."""
    cluster = Cluster(ClusterSpec(nodes=nodes, kernel=kernel, accel=accel))
    cluster.preflight()
    cluster.spec = with_popcorn_payload(cluster.spec, None)
    try:
        boot = _timed(cluster.start)
        started = time.monotonic()
        support = bring_up_if_popcorn(cluster)
        mesh = time.monotonic() - started
        save = _timed(cluster.save_snapshot)
        size = sum(p.stat().st_size for p in cluster.snapshot.iterdir())
        restores = []
        for _ in range(repeat):
            restores.append(_timed(cluster.restore_snapshot))
            if support.available:
                verify_mesh(cluster, support.profile)  # raises if a node lost the mesh
        return {"accel": cluster.accel, "popcorn": support.available, "boot": boot,
                "mesh": mesh if support.available else None, "save": save, "restores": restores,
                "snapshot_bytes": size}
    finally:
        cluster.stop()


def main() -> int:
    """Run the benchmark and print the table."""
    args = parse_cluster_bench_args(__doc__, [2, 4], 5)
    kernel = args.kernel
    results = {}
    print(f"kernel: {kernel}")
    print(f"{'nodes':>5}  {'boot->SSH':>9}  {'mesh':>6}  {'save':>6}  {'restore->SSH (median, min-max)':>31}  "
          f"{'boot+mesh / restore':>19}  {'snapshot':>9}")
    for nodes in args.nodes:
        r = measure(kernel, nodes, args.accel, args.repeat)
        results[nodes] = r
        median = statistics.median(r["restores"])
        ratio = (r["boot"] + (r["mesh"] or 0)) / median
        print(f"{nodes:>5}  {r['boot']:>8.2f}s  {(r['mesh'] or 0):>5.2f}s  {r['save']:>5.2f}s  "
              f"{median:>12.2f}s ({min(r['restores']):.2f}-{max(r['restores']):.2f}s)      {ratio:>18.1f}x  "
              f"{r['snapshot_bytes'] / 2**20:>6.0f} MiB   [{r['accel']}{', Popcorn mesh' if r['popcorn'] else ''}]")
    if args.json:
        args.json.write_text(json.dumps({"kernel": kernel, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
