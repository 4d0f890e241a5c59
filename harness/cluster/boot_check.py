"""Does a kernel boot: a 1-node cluster runs ``uname -r`` on it (``kernel bisect-build --boot``)."""

from __future__ import annotations

from pathlib import Path

from harness.cluster.cluster import Cluster
from harness.cluster.spec import ClusterSpec
from harness.errors import HarnessError


def boot_check(kernel: Path, timeout: float = 60) -> tuple[bool, str]:
    """Boot ``kernel`` (an artifact directory) on a 1-node cluster and run ``uname -r``; return (booted?,
    the first line of the error)."""
    try:
        with Cluster(ClusterSpec(nodes=1, kernel=str(kernel))) as cluster:
            result = cluster.nodes[0].run("uname -r", timeout=timeout)
    except HarnessError as exc:
        return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if result.exit_code != 0:
        return False, f"uname -r exited {result.exit_code}"
    return True, ""
