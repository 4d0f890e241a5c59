"""The Popcorn face of the pytest plugin: the ``popcorn`` fixture (a cluster whose Popcorn mesh is up, with
the ABI profile its kernel speaks), ``--abi``, ``--mesh-timeout`` and ``--require-popcorn``, and the line
on a run in which no Popcorn test ran.

It builds on the generic plugin (``harness/pytest/plugin.py``) through its hooks: every cluster of the pool
carries the Popcorn payload (``harness/popcorn/payload.py``: ``msg_socket.ko``, the probe and the suite's
guest programs, from the ini option ``guest_programs``), and after each boot the nodes file is written,
Popcorn is detected and, when the kernel has it, the mesh is brought up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cluster.cluster import Cluster
from harness.popcorn.bringup import PopcornSupport, bring_up, detect
from harness.popcorn.claim import popcorn_claim
from harness.popcorn.nodes_file import write_nodes_file
from harness.popcorn.payload import with_popcorn_payload
from harness.popcorn.session import PopcornCluster
from harness.pytest.plugin import requested_nodes, watched_test
from harness.pytest.pool import ClusterPool

#: What detection found on each cluster of the worker's pool (the current one and the parked ones), by run id.
_SUPPORT = pytest.StashKey[dict[str, PopcornSupport]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register --abi, --mesh-timeout, --require-popcorn and the ini option guest_programs."""
    group = parser.getgroup("popcorn-harness")
    group.addoption("--require-popcorn", action="store_true",
                    help="the kernel is a Popcorn kernel: a failed Popcorn detection fails the Popcorn tests "
                         "instead of skipping them (implied when the kernel carries msg_socket.ko or was built "
                         "with the popcorn fragment), and a run in which no Popcorn test ran fails")
    group.addoption("--abi", default=None, help="Popcorn ABI profile (ssrg-5.2, rfc-2020); default: from the kernel")
    group.addoption("--mesh-timeout", type=float, default=300.0, help="seconds for the Popcorn mesh to come up")
    parser.addini("guest_programs", "directory of the suite's guest programs (*.c), built into every cluster",
                  type="paths", default=[])


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``popcorn_suite`` marker, and in the controller the count of Popcorn tests."""
    config.addinivalue_line("markers", "popcorn_suite: the test runs on the Popcorn mesh (uses `popcorn`)")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(PopcornRunCount(config), "harness-popcorn-count")


def guest_programs(config: pytest.Config) -> Path | None:
    """The suite's guest programs directory (ini option ``guest_programs``), or None."""
    paths = config.getini("guest_programs")
    return Path(paths[0]) if paths else None


def pytest_harness_cluster_spec(config: pytest.Config, spec):
    """Every cluster carries the Popcorn payload and the suite's guest programs."""
    return with_popcorn_payload(spec, guest_programs(config))


def pytest_harness_cluster_started(config: pytest.Config, cluster: Cluster) -> None:
    """Write the nodes file, detect Popcorn and, when the kernel has it, bring the mesh up."""
    write_nodes_file(cluster)
    support = detect(cluster, config.getoption("abi"))
    config.stash.setdefault(_SUPPORT, {})[cluster.run_id] = support
    if support.available:
        bring_up(cluster, support.profile, config.getoption("mesh_timeout"))


def support_of(config: pytest.Config, cluster: Cluster) -> PopcornSupport:
    """What detection found on ``cluster`` (one the worker's pool booted)."""
    support = config.stash.get(_SUPPORT, {}).get(cluster.run_id)
    assert support is not None, "Popcorn support asked of a cluster the pool did not boot"
    return support


def pytest_harness_bundle_details(config: pytest.Config, cluster: Cluster) -> dict:
    """A repro bundle records what Popcorn detection found (``repro`` brings the mesh up again)."""
    support = config.stash.get(_SUPPORT, {}).get(cluster.run_id)
    if support is None:
        return {}
    return {"popcorn": {"available": support.available, "reason": support.reason, "profile": support.profile.name}}


#: Why the session's kernel is not Popcorn, once a cluster of this worker has shown it (the kernel is the
#: session's: later Popcorn tests skip with the same reason without booting a cluster of their size).
_NOT_POPCORN = pytest.StashKey[str]()


@pytest.fixture
def popcorn(request: pytest.FixtureRequest, cluster_pool: ClusterPool):
    """A cluster with the Popcorn mesh up; on a non-Popcorn kernel it skips, saying what the kernel lacks,
    unless the kernel is given as Popcorn (``--require-popcorn`` or ``popcorn_claim``): then it fails."""
    config = request.config
    if _NOT_POPCORN in config.stash:
        pytest.skip(f"needs a Popcorn kernel: {config.stash[_NOT_POPCORN]}")
    cluster = cluster_pool.get(requested_nodes(request))
    support = support_of(config, cluster)
    if not support.available:
        claim = popcorn_claim_of(config)
        if claim:
            pytest.fail(f"the kernel is given as Popcorn ({claim}) but does not answer as Popcorn: "
                        f"{support.reason}", pytrace=False)
        config.stash[_NOT_POPCORN] = support.reason
        pytest.skip(f"needs a Popcorn kernel: {support.reason}")
    with watched_test(request, cluster_pool) as watched:
        yield PopcornCluster(watched, support)


_CLAIM = pytest.StashKey[str]()


def popcorn_claim_of(config: pytest.Config) -> str:
    """Why the session's kernel is a Popcorn kernel ("" when it is not claimed to be one)."""
    if _CLAIM not in config.stash:
        claim = popcorn_claim(config.getoption("kernel"))
        if config.getoption("require_popcorn"):
            claim = claim or "--require-popcorn"
        config.stash[_CLAIM] = claim
    return config.stash[_CLAIM]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that run on the Popcorn mesh (they use the ``popcorn`` fixture): ``popcorn_suite``."""
    for item in items:
        if "popcorn" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.popcorn_suite)


class PopcornRunCount:
    """The controller's count of Popcorn tests (``popcorn_suite``) collected and run, and the line on a
    run in which none ran: one line at the end, and a failed run when the kernel is given as Popcorn."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.collected = 0
        self.ran = 0
        self.skip_reasons: dict[str, int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count a Popcorn test at its setup (collected, maybe skipped) and at its call (it ran, unless it
        skipped itself)."""
        if "popcorn_suite" not in report.keywords:
            return
        if report.when == "setup":
            self.collected += 1
            if report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                reason = reason.removeprefix("Skipped: ")
                self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
        elif report.when == "call" and (not report.skipped or hasattr(report, "wasxfail")):
            self.ran += 1  # judged: passed, failed, xfailed (a skip in the test's body judged nothing)

    def summary_line(self) -> str:
        """The one line for a run in which Popcorn tests were collected but none ran ("" otherwise)."""
        if self.collected == 0 or self.ran > 0:
            return ""
        why = "; ".join(f"{reason} ({n} tests)" for reason, n in self.skip_reasons.items()) or "none reached its call"
        line = f"no Popcorn test ran ({self.collected} collected): {why}"
        claim = popcorn_claim_of(self.config)
        return line + (f"; the kernel is given as Popcorn ({claim}), so the run fails" if claim else "")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """End the report with the summary line, if there is one."""
        line = self.summary_line()
        if line:
            terminalreporter.write_line(line, red=bool(popcorn_claim_of(self.config)), yellow=True)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """A run on a kernel given as Popcorn in which no Popcorn test ran fails."""
        if self.summary_line() and popcorn_claim_of(self.config) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
