#!/usr/bin/env python3
"""Benchmark: a 1-node cluster against virtme-ng on the same kernel, as a ratio.

Both boot the given kernel (a bzImage or artifact dir built with the `vng` fragment, which adds what vng
needs: 9p, overlayfs, virtio console) with the same accelerator, memory and vCPUs, and run one no-op
command: the harness from `Cluster.start` to the command's answer over SSH (teardown not counted), vng
from its start to its init reporting the command's exit (`vng --run BZIMAGE --force-initramfs --exec
true`: an initramfs that mounts the host's root over 9p, then the command). Medians of --repeat,
interleaved (harness, vng, harness, vng...). Usage:

    python3 scripts/bench_vng.py --kernel ARTIFACT [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import json
import os
import shutil
import signal
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
from harness.kernel.artifact import locate_kernel  # noqa: E402


def harness_once(kernel: str, accel: str) -> float:
    """Seconds from starting a 1-node cluster to a no-op command's answer."""
    began = time.monotonic()
    cluster = Cluster(ClusterSpec(nodes=1, kernel=kernel, accel=accel))
    try:
        cluster.start()
        cluster.nodes[0].run("true", logged=False).check()
        return time.monotonic() - began
    finally:
        cluster.stop()


#: What virtme-ng's init prints (with --verbose) once the command has ended.
VNG_DONE = "script exited with code 0"


def vng_once(bzimage: Path, accel: str) -> float:
    """Seconds from starting ``vng --run BZIMAGE --exec true`` to its init saying the command ended with
    exit code 0. Not to vng's exit: a kernel without ACPI (the harness's tiny configs) halts instead of
    powering off, and QEMU stays; vng is stopped there."""
    command = ["vng", "--run", str(bzimage), "--memory", "256M", "--cpus", "1", "--force-initramfs", "--verbose",
               "--exec", "true"] + (["--disable-kvm"] if accel == "tcg" else [])
    before = set(Path(tempfile.gettempdir()).glob("virtme_*"))
    began = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if VNG_DONE in line:
                return time.monotonic() - began
            if time.monotonic() - began > 300:
                break
        raise SystemExit(f"vng did not run the command: {''.join(seen[-20:])}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for leftover in set(Path(tempfile.gettempdir()).glob("virtme_*")) - before:  # vng's, never cleaned
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)


def main() -> int:
    """Run both, interleaved, and print the ratio."""
    args = parse_cluster_bench_args(__doc__, [1], 5)
    if shutil.which("vng") is None:
        raise SystemExit("vng not found: pip install virtme-ng")
    bzimage = locate_kernel(args.kernel).bzimage
    accel = "tcg" if args.accel in ("auto", "tcg") else args.accel
    harness, vng = [], []
    for _ in range(args.repeat):
        harness.append(harness_once(args.kernel, accel))
        vng.append(vng_once(bzimage, accel))
    h, v = statistics.median(harness), statistics.median(vng)
    print(f"kernel: {args.kernel} ({accel}, 1 node, 256 MiB, 1 vCPU), median of {args.repeat}")
    print(f"  harness: start -> a command's answer over SSH  {h:.2f}s ({min(harness):.2f}-{max(harness):.2f})")
    print(f"  vng:     start -> the command's exit reported   {v:.2f}s ({min(vng):.2f}-{max(vng):.2f})")
    print(f"  harness / vng: {h / v:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"kernel": args.kernel, "accel": accel, "harness": harness, "vng": vng}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
