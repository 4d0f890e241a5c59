"""What a failed test leaves: every node's console log and dmesg, register and sysrq dumps after a command
timeout, and the inputs a repro bundle needs (seed, faults), under ``<artifacts>/<test id>/``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cluster.cluster import Cluster
from harness.cluster.watchdog import dump_node, save_dumps
from harness.errors import CommandTimeout, HarnessError

#: The exception of a test's call phase (``pytest_runtest_makereport`` keeps it for the fixtures).
CALL_EXCINFO = pytest.StashKey[object]()


def test_dir(artifacts: str, nodeid: str) -> Path:
    """The artifacts directory of test ``nodeid``."""
    return Path(artifacts) / re.sub(r"[^\w.-]+", "_", nodeid).strip("_")


def save_artifacts(cluster: Cluster, directory: Path) -> None:
    """Save every node's console log and dmesg (when it still answers) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for node in cluster.nodes:
        (directory / f"{node.name}.console.log").write_text(node.console_text())
        try:
            dmesg = node.run("dmesg", timeout=20, logged=False).stdout if node.alive() else "(node is down)\n"
        except HarnessError as exc:
            dmesg = f"(dmesg failed: {exc})\n"
        (directory / f"{node.name}.dmesg").write_text(dmesg)


def dump_after_timeout(request: pytest.FixtureRequest, cluster: Cluster | None) -> None:
    """A test that failed on a command timeout gets every node's registers and sysrq dump saved."""
    excinfo = request.node.stash.get(CALL_EXCINFO, None)
    if cluster is not None and excinfo is not None and excinfo.errisinstance(CommandTimeout):
        save_dumps([dump_node(node) for node in cluster.nodes],
                   test_dir(request.config.getoption("artifacts"), request.node.nodeid))


def replay_inputs(item: pytest.Item) -> tuple[int | None, list[dict]]:
    """The seed and fault schedule a bundle records: the fault log the ``faults`` fixture attached (JUnit
    property ``faults``), else the ``--seed`` option."""
    properties = dict(item.user_properties)
    log_json = properties.get("faults")
    if log_json:
        data = json.loads(log_json)
        return data.get("seed"), list(data.get("faults") or [])
    seed = properties.get("seed", item.config.getoption("seed", None))
    return (int(seed) if seed is not None else None), []
