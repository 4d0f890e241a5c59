"""The pytest face of the harness: options, the per-worker cluster pool, artifacts on failure.

Each xdist worker keeps one cluster and hands it to test after test; it is rebooted when a test left it
unhealthy (a node died or stopped answering), when its kernels reported a failure, or when a test asks
for another size. When a test fails, every node's console log and dmesg, and the kernel findings
(``findings.json``), go to ``<artifacts>/<test id>/``. Crash detection: ``harness.crash.plugin``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from functools import cached_property
from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.crash import plugin as crash_plugin
from harness.crash.symbolize import SymbolTable
from harness.errors import HarnessError
from harness.runtime import state_root
from harness.guest import with_guest_payload
from harness.popcorn.bringup import PopcornSupport, bring_up, detect
from harness.spec import ClusterSpec

log = logging.getLogger(__name__)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register --kernel, --nodes, --accel, --artifacts, --boot-timeout."""
    group = parser.getgroup("popcorn-harness")
    group.addoption("--kernel", default=os.environ.get("POPCORN_HARNESS_KERNEL", ""),
                    help="bzImage or kernel artifact dir to boot (env POPCORN_HARNESS_KERNEL; "
                         "default: Debian's stock linux-image-amd64, downloaded once)")
    group.addoption("--nodes", type=int, default=2, help="default cluster size (default 2)")
    group.addoption("--accel", default="auto", choices=("auto", "kvm", "tcg"), help="accelerator (default auto)")
    group.addoption("--artifacts", default="artifacts", help="where failure artifacts and JUnit XML go")
    group.addoption("--boot-timeout", type=float, default=600.0, help="seconds for a cluster to boot")
    group.addoption("--abi", default=None, help="Popcorn ABI profile (ssrg-5.2, rfc-2020); default: from the kernel")
    group.addoption("--mesh-timeout", type=float, default=300.0, help="seconds for the Popcorn mesh to come up")


def pytest_configure(config: pytest.Config) -> None:
    """Resolve the kernel once (in the controller), set the JUnit path, register markers."""
    config.addinivalue_line("markers", "nodes(n): the test needs a cluster of n nodes")
    config.addinivalue_line("markers", "xdist_group(name): run in the same xdist worker as its group")
    if not config.pluginmanager.has_plugin("harness-crash"):
        config.pluginmanager.register(crash_plugin, "harness-crash")  # expect_crash, fail on kernel findings
    artifacts = Path(config.getoption("artifacts")).resolve()
    config.option.artifacts = str(artifacts)
    if not getattr(config.option, "xmlpath", None) and not hasattr(config, "workerinput"):
        artifacts.mkdir(parents=True, exist_ok=True)
        config.option.xmlpath = str(artifacts / "junit.xml")
    if not config.getoption("kernel") and not hasattr(config, "workerinput") and not config.option.collectonly:
        kernel = default_kernel()
        if kernel:
            config.option.kernel = kernel
            os.environ["POPCORN_HARNESS_KERNEL"] = kernel  # inherited by xdist workers


def default_kernel() -> str:
    """The stock Debian kernel artifact (fetched once, under a lock), or "" if it cannot be had."""
    from harness.kernel.stock import stock_kernel

    state_root().mkdir(parents=True, exist_ok=True)
    with open(state_root() / "stock-kernel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return str(stock_kernel())
        except HarnessError as exc:
            log.warning("no default kernel: %s", exc)
            return ""


class ClusterPool:
    """One reusable cluster per worker; Popcorn is brought up on it when the kernel has Popcorn."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.cluster: Cluster | None = None
        self.support: PopcornSupport | None = None

    @cached_property
    def symbols(self) -> SymbolTable | None:
        """The kernel's System.map symbols (read once), or None without one."""
        return SymbolTable.for_kernel(self.config.getoption("kernel"))

    def spec(self, nodes: int) -> ClusterSpec:
        """The spec for a cluster of ``nodes`` from the command-line options, with the guest programs."""
        return with_guest_payload(ClusterSpec(nodes=nodes, kernel=self.config.getoption("kernel"),
                                              accel=self.config.getoption("accel"),
                                              boot_timeout=self.config.getoption("boot_timeout")))

    def get(self, nodes: int) -> Cluster:
        """A healthy cluster of ``nodes`` nodes, booting one if needed."""
        if self.cluster is not None and self.cluster.spec.nodes != nodes:
            self.discard()
        if self.cluster is None:
            if not self.config.getoption("kernel"):
                pytest.skip("no kernel: pass --kernel or set POPCORN_HARNESS_KERNEL")
            self.cluster = Cluster(self.spec(nodes)).start()
            self.support = None
            self.support = detect(self.cluster, self.config.getoption("abi"))
            if self.support.available:
                bring_up(self.cluster, self.support.profile, self.config.getoption("mesh_timeout"))
        return self.cluster

    def after_test(self, nodeid: str, failed: bool, findings=()) -> list[str]:
        """Save artifacts (and ``findings.json``) if the test failed; reboot (discard) an unhealthy
        cluster or one whose kernels reported failures (``findings``). Return its problems."""
        if self.cluster is None:
            return []
        if failed:
            directory = _test_dir(self.config.getoption("artifacts"), nodeid)
            save_artifacts(self.cluster, directory)
            (directory / "findings.json").write_text(json.dumps([f.to_dict() for f in findings], indent=2) + "\n")
        problems = self.cluster.health()
        if problems or findings:
            log.warning("cluster unhealthy after %s, rebooting: %s", nodeid,
                        "; ".join(problems + [f.summary() for f in findings]))
            self.discard()
        return problems

    def discard(self) -> None:
        """Stop the current cluster (the next ``get`` boots a fresh one)."""
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            cluster.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Keep each phase's report on the item, so fixtures can see whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def cluster_pool(request: pytest.FixtureRequest):
    """The worker's cluster pool; stops its cluster at the end of the session."""
    pool = ClusterPool(request.config)
    yield pool
    pool.discard()


def _test_dir(artifacts: str, nodeid: str) -> Path:
    return Path(artifacts) / re.sub(r"[^\w.-]+", "_", nodeid).strip("_")


def save_artifacts(cluster: Cluster, directory: Path) -> None:
    """Save every node's console log and dmesg (when it still answers) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for node in cluster.nodes:
        (directory / f"{node.name}.console.log").write_text(node.console_text())
        try:
            dmesg = node.run("dmesg", timeout=20).stdout if node.alive() else "(node is down)\n"
        except HarnessError as exc:
            dmesg = f"(dmesg failed: {exc})\n"
        (directory / f"{node.name}.dmesg").write_text(dmesg)


def _requested_nodes(request: pytest.FixtureRequest) -> int:
    marker = request.node.get_closest_marker("nodes")
    return getattr(request, "param", None) or (marker.args[0] if marker else request.config.getoption("nodes"))


def _after(request: pytest.FixtureRequest, pool: ClusterPool) -> None:
    """After a test: save artifacts on failure or unexpected kernel findings (also under xfail), reboot an
    unhealthy cluster (the findings fail the test in ``harness.crash.plugin``)."""
    report = getattr(request.node, "rep_call", None)
    failed = (report is not None and report.failed) or bool(crash_plugin.unexpected(request.node))
    pool.after_test(request.node.nodeid, failed=failed, findings=crash_plugin.collect(request.node))


@pytest.fixture
def cluster(request: pytest.FixtureRequest, cluster_pool: ClusterPool):
    """A healthy cluster (Popcorn mesh up if the kernel has it): ``@pytest.mark.nodes(n)`` or an
    indirect parameter sets its size."""
    current = cluster_pool.get(_requested_nodes(request))
    crash_plugin.start(request.node, current.nodes, cluster_pool.symbols)
    yield current
    _after(request, cluster_pool)


class PopcornCluster:
    """A cluster whose Popcorn mesh is up, with the ABI profile the kernel speaks."""

    def __init__(self, cluster: Cluster, support: PopcornSupport):
        self.cluster = cluster
        self.nodes = cluster.nodes
        self.support = support
        self.profile = support.profile

    def command(self, program: str, *args: str) -> str:
        """Shell command running guest program ``program`` with the profile's syscall numbers."""
        import shlex

        from harness.guest import GUEST_BIN

        return f"{self.profile.shell_exports()} {GUEST_BIN}/{program} {' '.join(map(shlex.quote, args))}"


@pytest.fixture
def popcorn(request: pytest.FixtureRequest, cluster_pool: ClusterPool):
    """A cluster with the Popcorn mesh up; skips (saying what kernel is missing) on a non-Popcorn kernel."""
    cluster = cluster_pool.get(_requested_nodes(request))
    if not cluster_pool.support.available:
        pytest.skip(f"needs a Popcorn kernel: {cluster_pool.support.reason}")
    crash_plugin.start(request.node, cluster.nodes, cluster_pool.symbols)
    yield PopcornCluster(cluster, cluster_pool.support)
    _after(request, cluster_pool)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In the controller: remove leftovers of workers that were killed (their owner is gone)."""
    if hasattr(session.config, "workerinput") or os.geteuid() != 0:
        return
    from harness.cleanup import sweep_stale

    for item in sweep_stale():
        log.warning("removed leftover of a dead run: %s", item)
