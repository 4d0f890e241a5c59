"""Mark the cases of ``known_defects.KNOWN_DEFECTS`` as strict expected failures; reboot a cluster on
which a conformance program is left behind or whose kernel got tainted (a BUG, oops or WARN)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from .known_defects import KNOWN_DEFECTS, RACY_DEFECTS

log = logging.getLogger(__name__)

LEFTOVER_GRACE_S = 15.0
PROGRAMS = frozenset(path.stem[:15] for path in (Path(__file__).parent.parent / "guest").glob("*.c"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add ``xfail(reason=...)`` to every test named in a defects table (strict for the known ones)."""
    for item in items:
        name = getattr(item, "originalname", None) or item.name
        for table, strict in ((KNOWN_DEFECTS, True), (RACY_DEFECTS, False)):
            reason = table.get(item.name) or table.get(name)
            if reason:
                item.add_marker(pytest.mark.xfail(strict=strict, reason=reason))


def _leftovers(cluster) -> list[str]:
    """``node: pid stat comm`` of every process of a conformance program (``testcases/guest/*.c``) still on
    a node (Popcorn's own kernel threads, pcn_wq, pcn_send_N, ..., are not)."""
    left = []
    for node in cluster.nodes:
        try:
            out = node.run("ps -o pid,stat,comm", timeout=20).stdout
        except Exception as exc:  # a node that stopped answering is left over too
            left.append(f"{node.name}: {str(exc).splitlines()[0]}")
            continue
        left += [f"{node.name}: {' '.join(row.split())}" for row in out.splitlines()
                 if row.split() and row.split()[-1] in PROGRAMS]
        tainted = node.run("cat /proc/sys/kernel/tainted", timeout=20).stdout.strip()
        if tainted not in ("", "0"):  # a BUG/oops/WARN during the test: the kernel is not to be trusted
            left.append(f"{node.name}: kernel tainted {tainted}")
    return left


@pytest.fixture(autouse=True)
def _no_program_left_behind(cluster_pool):
    """After each test (and after the cluster fixture's own teardown): a program that hung in the kernel
    (D state, unkillable) while SSH still answers leaves the cluster 'healthy' to the harness; reboot it
    so the next test does not run beside it. Likewise a node whose kernel oopsed (tainted) but answers."""
    yield
    cluster = cluster_pool.cluster
    if cluster is None:
        return
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while (left := _leftovers(cluster)) and time.monotonic() < deadline:
        time.sleep(1)
    if left:
        log.warning("conformance program left behind, rebooting the cluster: %s", "; ".join(left))
        cluster_pool.discard()
