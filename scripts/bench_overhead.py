#!/usr/bin/env python3
"""Benchmark: what the harness costs around a test on a reused cluster, and the guest image's build.

On one booted cluster (its Popcorn mesh up on a Popcorn kernel): a no-op command on node 0 (one SSH round
trip), the same on every node in parallel (``Cluster.parallel``), the pool's health check between tests
(``Cluster.health``), and a snapshot restore (what a test that leaves the cluster unhealthy costs). Off the
cluster: the guest image's base archive built cold (an empty cache) and taken from the cache, and the
per-run overlay plus the initrd written. Medians of --repeat (min-max); JSON with --json. Usage:

    python3 scripts/bench_overhead.py [--kernel PATH] [--nodes 2] [--repeat 10] [--json out.json]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cluster_bench_args import parse_cluster_bench_args  # noqa: E402  (beside this script)
from harness.cluster.cluster import Cluster  # noqa: E402
from harness.cluster.spec import ClusterSpec  # noqa: E402
from harness.popcorn.bringup import bring_up_if_popcorn  # noqa: E402
from harness.popcorn.payload import with_popcorn_payload  # noqa: E402
from harness.vm import guest_image  # noqa: E402


def timed(fn, repeat: int) -> list[float]:
    """Seconds of ``repeat`` calls of ``fn``."""
    out = []
    for _ in range(repeat):
        began = time.monotonic()
        fn()
        out.append(time.monotonic() - began)
    return out


def image_costs(cluster: Cluster, repeat: int) -> dict[str, list[float]]:
    """The base archive cold (a fresh cache each time) and cached, and overlay + initrd assembly."""
    recipe = guest_image.Recipe.load()
    modules = guest_image.resolve_modules(cluster.kernel.modules_root, recipe.load_modules)
    cold = []
    for _ in range(min(repeat, 3)):
        with tempfile.TemporaryDirectory() as cache:
            cold += timed(lambda: guest_image.base_image(recipe, modules, cache=Path(cache)), 1)
    cached = timed(lambda: guest_image.base_image(recipe, modules), repeat)
    base = guest_image.base_image(recipe, modules)

    def assemble() -> None:
        carried = guest_image.resolve_modules(cluster.kernel.modules_root, cluster.spec.modules).files
        extra = [(Path(host), guest) for host, guest in cluster.spec.extra_files]
        overlay = guest_image.build_overlay(cluster.keys.host_key, cluster.keys.client_public, extra, carried)
        guest_image.assemble_initrd(base, overlay, cluster.workdir / "bench-initrd.cpio")

    return {"base image, cold": cold, "base image, cached": cached, "overlay + initrd": timed(assemble, repeat)}


def main() -> int:
    """Run the benchmark and print the table."""
    args = parse_cluster_bench_args(__doc__, [2], 10)
    results: dict[str, dict[str, list[float]]] = {}
    for nodes in args.nodes:
        cluster = Cluster(ClusterSpec(nodes=nodes, kernel=args.kernel, accel=args.accel))
        cluster.preflight()
        cluster.spec = with_popcorn_payload(cluster.spec, None)
        with cluster:
            support = bring_up_if_popcorn(cluster)
            cluster.save_snapshot()
            node = cluster.nodes[0]
            figures = {
                "no-op command, node 0": timed(lambda: node.run("true", logged=False), args.repeat),
                "no-op command, every node": timed(lambda: cluster.parallel(lambda n: n.run("true", logged=False)),
                                                   args.repeat),
                "health check": timed(cluster.health, args.repeat),
                "snapshot restore": timed(cluster.restore_snapshot, min(args.repeat, 5)),
            }
            figures.update(image_costs(cluster, args.repeat))
            results[nodes] = figures
        print(f"{nodes} node(s), {cluster.accel}{', Popcorn mesh' if support.available else ''}: median (min-max)")
        for what, values in figures.items():
            print(f"  {what:<28} {statistics.median(values) * 1000:>8.1f} ms  "
                  f"({min(values) * 1000:.1f}-{max(values) * 1000:.1f}, n={len(values)})")
    if args.json:
        args.json.write_text(json.dumps({"kernel": args.kernel, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
