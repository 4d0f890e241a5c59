"""The per-worker cluster pool: each xdist worker keeps one cluster and hands it to test after test. Once a
cluster is up (and the domain plugins prepared it: the Popcorn mesh connected) the pool saves a snapshot of
it; when a test left it unhealthy (a node died, is paused or stopped answering, a guest program is left
running), its kernels reported a failure or a test hung, the pool restores that snapshot, and reboots only
when the restore fails, the restored cluster is not healthy, ``--no-snapshots`` is given, or a test asks
for another size.
A failed test leaves its artifacts and a reproduction bundle (``harness/repro/bundle.py``)."""

from __future__ import annotations

import json
import logging
import time
from functools import cached_property
from pathlib import Path

import pytest

from harness.cluster.cluster import Cluster
from harness.cluster.options import spec_from_options
from harness.cluster.spec import ClusterSpec
from harness.crash.symbolize import SymbolTable
from harness.errors import InfraError
from harness.pytest.artifacts import save_artifacts, test_dir
from harness.repro.bundle import save_bundle

log = logging.getLogger(__name__)


class ClusterPool:
    """One reusable cluster per worker, booted from the cluster options; domain plugins prepare it through
    the ``pytest_harness_*`` hooks (``harness/pytest/hooks.py``)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.cluster: Cluster | None = None
        #: How the last test's cluster was reset: "restored" (from its snapshot), "rebooted", or "" (it was
        #: healthy). The pytest plugin records it as the test's JUnit property ``cluster_reset``.
        self.last_reset = ""
        #: Seconds spent booting clusters (mesh and snapshot included) since the plugin last took the figure
        #: (JUnit property ``harness_boot_s`` of the test that waited for it); ``after_s``: the last
        #: ``after_test`` (artifacts, health check, reset: ``harness_after_s``). scripts/suite_time.py adds them up.
        self.boot_s = 0.0
        self.after_s = 0.0

    @cached_property
    def symbols(self) -> SymbolTable | None:
        """The kernel's System.map symbols (read once), or None without one."""
        return SymbolTable.for_kernel(self.config.getoption("kernel"))

    def spec(self, nodes: int) -> ClusterSpec:
        """The spec for a cluster of ``nodes`` from the cluster options, as the domain plugins extend it."""
        spec = spec_from_options(self.config.getoption, nodes=nodes)
        return self.config.hook.pytest_harness_cluster_spec(config=self.config, spec=spec) or spec

    def get(self, nodes: int) -> Cluster:
        """A healthy cluster of ``nodes`` nodes, booting one if needed."""
        if self.cluster is not None and self.cluster.spec.nodes != nodes:
            self.discard()
        if self.cluster is None:
            if not self.config.getoption("kernel"):
                pytest.skip("no kernel: pass --kernel or set POPCORN_HARNESS_KERNEL")
            booting = time.monotonic()
            self.cluster = Cluster(self.spec(nodes)).start()
            self.config.hook.pytest_harness_cluster_started(config=self.config, cluster=self.cluster)
            if self.config.getoption("snapshots", True):
                started = time.monotonic()
                self.cluster.save_snapshot()
                log.info("snapshot of the %d-node cluster saved in %.2fs", nodes, time.monotonic() - started)
            self.boot_s += time.monotonic() - booting
        return self.cluster

    def begin_test(self) -> None:
        """Start a test on the current cluster: empty each node's command log (a repro bundle's)."""
        for node in self.cluster.nodes:
            node.commands.clear()

    def after_test(self, nodeid: str, failed: bool, findings=(), **details) -> list[str]:
        """If the test failed, save artifacts, ``findings.json`` and a repro bundle (``details``: message,
        seed, faults); ``reset`` (restore or reboot) an unhealthy cluster or one whose kernels reported
        failures (``findings``). Return its problems. Artifacts that could not be written (disk full) raise
        ``InfraError`` once the health check and reset are done: they never leave a broken cluster in use."""
        self.last_reset = ""
        self.after_s = 0.0
        if self.cluster is None:
            return []
        started = time.monotonic()
        try:
            return self._after_test(nodeid, failed, findings, details)
        finally:
            self.after_s = time.monotonic() - started

    def _after_test(self, nodeid: str, failed: bool, findings, details: dict) -> list[str]:
        unsaved = None
        if failed:
            try:
                self._save_failure(nodeid, findings, details)
            except OSError as exc:
                unsaved = exc
        problems = self.cluster.health()
        if problems or findings:
            log.warning("cluster unhealthy after %s: %s", nodeid, "; ".join(problems + [f.summary() for f in findings]))
            self.reset()
        if unsaved is not None:
            raise InfraError(f"the artifacts of {nodeid} could not be saved: {unsaved}") from unsaved
        return problems

    def _save_failure(self, nodeid: str, findings, details: dict) -> None:
        directory = test_dir(self.config.getoption("artifacts"), nodeid)
        self._save_bundle(directory / "bundle", nodeid, dict(details, findings=list(findings)))
        save_artifacts(self.cluster, directory)  # after the bundle: its dmesg is a logged command too
        (directory / "findings.json").write_text(json.dumps([f.to_dict() for f in findings], indent=2) + "\n")

    def _save_bundle(self, directory: Path, nodeid: str, details: dict) -> None:
        try:
            extra: dict = {}
            for more in self.config.hook.pytest_harness_bundle_details(config=self.config, cluster=self.cluster):
                extra.update(more or {})
            save_bundle(self.cluster, directory, nodeid, rootdir=str(self.config.rootpath), **extra, **details)
        except Exception:  # a bundle that cannot be written must not hide the test's own failure
            log.exception("could not write the repro bundle of %s", nodeid)

    def reset(self) -> None:
        """Bring the current cluster back to its snapshot; boot a new one (``discard``) when there is no
        snapshot, the restore fails or the restored cluster is not healthy."""
        if self.cluster.snapshot is not None:
            started = time.monotonic()
            try:
                self.cluster.restore_snapshot()
                problems = self.cluster.health()
            except InfraError as exc:
                problems = [str(exc)]
            if not problems:
                log.info("cluster restored from its snapshot in %.2fs", time.monotonic() - started)
                self.last_reset = "restored"
                return
            log.warning("the restored cluster is not healthy, rebooting: %s", "; ".join(problems))
        self.last_reset = "rebooted"
        self.discard()

    def discard(self) -> None:
        """Stop the current cluster (the next ``get`` boots a fresh one)."""
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            cluster.stop()
