"""Reboot a cluster whose kernel got tainted (a BUG, oops or WARN). (A guest program left running is the
harness's own health check; the known-defect xfails are applied in testcases/conftest.py.)"""

from __future__ import annotations

import logging

import pytest

log = logging.getLogger(__name__)


def _tainted(cluster) -> list[str]:
    """``node: kernel tainted N`` for every node whose kernel is tainted (a BUG, oops or WARN happened)."""
    tainted = []
    for node in cluster.nodes:
        try:
            value = node.run("cat /proc/sys/kernel/tainted", timeout=20).stdout.strip()
        except Exception as exc:  # a node that stopped answering is as bad
            tainted.append(f"{node.name}: {str(exc).splitlines()[0]}")
            continue
        if value not in ("", "0"):
            tainted.append(f"{node.name}: kernel tainted {value}")
    return tainted


@pytest.fixture(autouse=True)
def _no_tainted_kernel_left_behind(cluster_pool):
    """After each test (and after the cluster fixture's own teardown): a node whose kernel oopsed (tainted)
    but still answers is not to be trusted; reboot the cluster so the next test does not run on it."""
    yield
    cluster = cluster_pool.cluster
    if cluster is not None and (tainted := _tainted(cluster)):
        log.warning("kernel tainted, rebooting the cluster: %s", "; ".join(tainted))
        cluster_pool.discard()
