#!/usr/bin/env python3
"""Benchmark: time from `cluster up` to a cluster ready for a test (every node answering SSH, and on a
Popcorn kernel the message-layer mesh up), for N = 1, 2 and 4 nodes, and where it goes.

The cluster boots with the Popcorn payload, as the suites boot it. Beside its times, in the same run:
- guest boot: the guest's own uptime when its init printed the ready marker (read from the console);
- bare QEMU: the same kernel, initrd and command line booted by QEMU alone (the harness's own QEMU command
  line, its NIC on a hub with nothing else: no namespace, no keys, no SSH), N at once, from the spawn of
  the QEMUs to every ready marker on their consoles: what the guests take when nothing but QEMU runs them
  (firmware and the kernel's decompression included, which the guest's uptime does not count);
- one SSH round trip on the ready cluster (a no-op command, median of 10).
Ratios: the goal's, ready / (guest boot + 1 RTT), goal 1.15; the same without the mesh (up->SSH); and
ready against bare QEMU, ready / (bare QEMU + 1 RTT). The start-up is broken down by phase
(``Cluster.timings``: sweep and lease, keys, image, accelerator, network, boot = QEMU start to every guest
ready, ssh = every node's first connection; then mesh). Prints a table and writes JSON with --json. Usage:

    python3 scripts/bench_boot.py [--kernel PATH] [--nodes 1 2 4] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
import subprocess
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
from harness.vm.backends.base import VMConfig  # noqa: E402
from harness.vm.backends.qemu import child_setup, qemu_command  # noqa: E402

#: No-op commands timed on the ready cluster.
ROUND_TRIPS = 10
#: The bare boot's NIC: on a QEMU hub of its own, connected to nothing.
HUB_NETDEV = "hubport,id=net0,hubid=0"


def bare_configs(configs: list[VMConfig], workdir: Path) -> list[VMConfig]:
    """The cluster's VM configs with a copy of their initrd, consoles and QMP sockets in ``workdir``."""
    initrd = workdir / "initrd.cpio"
    shutil.copyfile(configs[0].initrd, initrd)
    return [dataclasses.replace(c, initrd=initrd, tap_fd=-1, console_path=workdir / f"{i}.console.log",
                                qmp_path=workdir / f"{i}.qmp", gdb_socket=None) for i, c in enumerate(configs)]


def bare_boot(configs: list[VMConfig], timeout: float = 120.0) -> float:
    """Start a QEMU for each config at once (the harness's command line, NIC on a hub); seconds until every
    console shows the ready marker."""
    marker = guest_image.Recipe.load().ready_marker.encode()
    commands = [[HUB_NETDEV if arg.startswith("tap,id=net0") else arg for arg in qemu_command(c)] for c in configs]
    started = time.monotonic()
    processes = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  preexec_fn=child_setup(c)) for cmd, c in zip(commands, configs)]
    try:
        pending = list(configs)
        while pending:
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"bare QEMU boot: no ready marker within {timeout:.0f}s")
            pending = [c for c in pending if not (c.console_path.exists() and marker in c.console_path.read_bytes())]
            if pending:
                time.sleep(0.01)
        return time.monotonic() - started
    finally:
        for process in processes:
            process.kill()
            process.wait()


def measure(kernel: str, nodes: int, accel: str) -> dict:
    """Boot one cluster and bring its mesh up; return wall times to SSH and to ready, guest boot time, a
    round trip, the phases, teardown time, and a bare QEMU boot of the same guests."""
    started = time.monotonic()
    cluster = Cluster(ClusterSpec(nodes=nodes, kernel=kernel, accel=accel))
    cluster.preflight()
    cluster.spec = with_popcorn_payload(cluster.spec, None)
    cluster.start()
    up = time.monotonic() - started
    support = bring_up_if_popcorn(cluster)
    ready = time.monotonic() - started
    guest = max(cluster.guest_uptime.values())
    trips = []
    for _ in range(ROUND_TRIPS):
        began = time.monotonic()
        cluster.nodes[0].run("true", logged=False)
        trips.append(time.monotonic() - began)
    rtt = statistics.median(trips)
    with tempfile.TemporaryDirectory(prefix="phc-bench-") as workdir:
        configs = bare_configs([node.vm.config for node in cluster.nodes], Path(workdir))
        began_stop = time.monotonic()
        cluster.stop()
        down = time.monotonic() - began_stop
        bare = bare_boot(configs)
    return {"up": up, "mesh": ready - up, "ready": ready, "popcorn": support.available, "guest_boot": guest,
            "bare_qemu": bare, "rtt": rtt, "goal_ratio": ready / (guest + rtt), "ssh_ratio": up / (guest + rtt),
            "bare_ratio": ready / (bare + rtt), "phases": dict(cluster.timings),
            "preflight": up - sum(cluster.timings.values()), "down": down}


def main() -> int:
    """Run the benchmark and print the table."""
    args = parse_cluster_bench_args(__doc__, [1, 2, 4], 3)
    kernel = args.kernel
    results = {}
    print(f"kernel: {kernel}")
    print(f"{'nodes':>5}  {'up->SSH':>7}  {'mesh':>5}  {'ready':>6}  {'guest boot':>10}  {'bare QEMU':>9}  {'1 RTT':>6}  "
          f"{'ratio':>5}  {'w/o mesh':>8}  {'vs bare':>7}  {'down':>5}   phases (s)   (median of {args.repeat})")
    for nodes in args.nodes:
        runs = [measure(kernel, nodes, args.accel) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k not in ("phases", "popcorn")}
        med["phases"] = {p: statistics.median(r["phases"].get(p, 0.0) for r in runs) for p in runs[0]["phases"]}
        results[nodes] = {"median": med, "runs": runs}
        phases = ", ".join(f"{p} {v:.2f}" for p, v in med["phases"].items())
        print(f"{nodes:>5}  {med['up']:>6.2f}s  {med['mesh']:>4.2f}s  {med['ready']:>5.2f}s  {med['guest_boot']:>9.2f}s  "
              f"{med['bare_qemu']:>8.2f}s  {med['rtt'] * 1000:>4.0f}ms  {med['goal_ratio']:>5.2f}  "
              f"{med['ssh_ratio']:>8.2f}  {med['bare_ratio']:>7.2f}  {med['down']:>4.2f}s   "
              f"preflight {med['preflight']:.2f}, {phases}{'' if runs[0]['popcorn'] else ' (no Popcorn: no mesh)'}")
    if args.json:
        args.json.write_text(json.dumps({"kernel": kernel, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
