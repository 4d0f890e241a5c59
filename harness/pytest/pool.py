"""The per-worker cluster pool: each xdist worker keeps one cluster and hands it to test after test. Once a
cluster is up (and the domain plugins prepared it: the Popcorn mesh connected) the pool saves a snapshot of
it; when a test left it unhealthy (a node died, is paused or stopped answering, a guest program is left
running), its kernels reported a failure or a test hung, the pool restores that snapshot, and reboots only
when the restore fails, the restored cluster is not healthy, or ``--no-snapshots`` is given.
When a test asks for another cluster (another size), the current one is parked (``Cluster.park``: VMs off,
snapshot kept) and the one wanted is restored from its own snapshot if the worker has parked one, keyed by
its whole spec (kernel, node count, image): a worker boots each size once.
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


def _restored(cluster: Cluster) -> list[str]:
    """Restore ``cluster`` from its snapshot; return why it is not fit for a test (empty: healthy)."""
    try:
        cluster.restore_snapshot()
        return cluster.health()
    except InfraError as exc:
        return [str(exc)]


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
        #: Clusters set aside when a test asked for another spec (``get``), by spec.
        self.parked: dict[ClusterSpec, Cluster] = {}
        #: "restored" once a ``get`` restored a parked cluster, until the plugin takes it (JUnit property
        #: ``cluster_switch`` of the test that got that cluster).
        self.last_switch = ""

    @cached_property
    def symbols(self) -> SymbolTable | None:
        """The kernel's System.map symbols (read once), or None without one."""
        return SymbolTable.for_kernel(self.config.getoption("kernel"))

    def spec(self, nodes: int) -> ClusterSpec:
        """The spec for a cluster of ``nodes`` from the cluster options, as the domain plugins extend it."""
        spec = spec_from_options(self.config.getoption, nodes=nodes)
        return self.config.hook.pytest_harness_cluster_spec(config=self.config, spec=spec) or spec

    def get(self, nodes: int) -> Cluster:
        """A healthy cluster of ``nodes`` nodes: the current one, a parked one restored, or a new one."""
        spec = self.spec(nodes)
        if self.cluster is not None and self.cluster.spec != spec:
            self._set_aside()
        if self.cluster is None:
            if not self.config.getoption("kernel"):
                pytest.skip("no kernel: pass --kernel or set POPCORN_HARNESS_KERNEL")
            acquiring = time.monotonic()
            self.cluster = self._unpark(spec) or self._boot(spec)
            self.boot_s += time.monotonic() - acquiring
        return self.cluster

    def _boot(self, spec: ClusterSpec) -> Cluster:
        """Boot a cluster of ``spec``, let the domain plugins prepare it, and save its snapshot."""
        cluster = Cluster(spec).start()
        self.config.hook.pytest_harness_cluster_started(config=self.config, cluster=cluster)
        if self.config.getoption("snapshots", True):
            started = time.monotonic()
            cluster.save_snapshot()
            log.info("snapshot of the %d-node cluster saved in %.2fs", spec.nodes, time.monotonic() - started)
        return cluster

    def _set_aside(self) -> None:
        """Park the current cluster for a later test of its spec, or stop it when it has no snapshot (or
        cannot be parked)."""
        cluster, self.cluster = self.cluster, None
        if cluster.snapshot is not None:
            try:
                cluster.park()
                self.parked[cluster.spec] = cluster
                return
            except InfraError as exc:
                log.warning("could not park the %d-node cluster, stopping it: %s", cluster.spec.nodes, exc)
        cluster.stop()

    def _unpark(self, spec: ClusterSpec) -> Cluster | None:
        """The parked cluster of ``spec`` restored from its snapshot (``last_switch`` = "restored"), or None
        when there is none or its restore failed (then it is stopped)."""
        cluster = self.parked.pop(spec, None)
        if cluster is None:
            return None
        started = time.monotonic()
        problems = _restored(cluster)
        if problems:
            log.warning("the parked %d-node cluster did not come back, booting one: %s", spec.nodes,
                        "; ".join(problems))
            cluster.stop()
            return None
        log.info("parked %d-node cluster restored in %.2fs", spec.nodes, time.monotonic() - started)
        self.last_switch = "restored"
        return cluster

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
            problems = _restored(self.cluster)
            if not problems:
                log.info("cluster restored from its snapshot in %.2fs", time.monotonic() - started)
                self.last_reset = "restored"
                return
            log.warning("the restored cluster is not healthy, rebooting: %s", "; ".join(problems))
        self.last_reset = "rebooted"
        self.discard()

    def discard(self) -> None:
        """Stop the current cluster (the next ``get`` restores a parked one of its spec or boots one)."""
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            cluster.stop()

    def close(self) -> None:
        """Stop every cluster of the pool, the parked ones too (the end of the session). Every one is
        stopped even when one fails; the first failure is raised after."""
        clusters = [self.cluster, *self.parked.values()]
        self.cluster, self.parked = None, {}
        failure = None
        for cluster in filter(None, clusters):
            try:
                cluster.stop()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
