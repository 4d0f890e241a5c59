"""The pytest face of the harness: options, the per-worker cluster pool, artifacts on failure.

Each xdist worker keeps one cluster and hands it to test after test; it is rebooted when a test left it
unhealthy (a node died, is paused or stopped answering, a guest program is left running), when its kernels
reported a failure (crash detection: ``harness.crash.plugin``) or a test hung (``harness.cluster.watchdog``), or
when a test asks for another size. When a test fails, every node's console log and dmesg, the kernel
findings (``findings.json``) and a reproduction bundle (``bundle/``, ``harness/repro/bundle.py``;
``popcorn-harness repro`` replays it) go to ``<artifacts>/<test id>/``. The ``faults`` fixture gives a
test a ``FaultInjector`` seeded from ``--seed`` (random unless given, printed in the header and carried
by each test's report and JUnit properties); it heals the network at teardown and attaches the fault log.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import re
import time
from functools import cached_property
from pathlib import Path

import pytest

from harness.cluster.cluster import Cluster
from harness.crash import plugin as crash_plugin
from harness.crash.symbolize import SymbolTable
from harness.errors import CommandTimeout, HarnessError
from harness.cluster.faults import FaultInjector
from harness.pytest.known_failures import KnownFailure, exception_signs, finding_sign
from harness.vm.runs import state_root
from harness.guest.programs import with_guest_payload
from harness.popcorn.bringup import PopcornSupport, bring_up, detect
from harness.popcorn.claim import popcorn_claim
from harness.cluster.spec import ClusterSpec
from harness.cluster.watchdog import HangWatchdog, dump_node, save_dumps

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
    group.addoption("--require-popcorn", action="store_true",
                    help="the kernel is a Popcorn kernel: a failed Popcorn detection fails the Popcorn tests "
                         "instead of skipping them (implied when the kernel carries msg_socket.ko or was built "
                         "with the popcorn fragment), and a run in which no Popcorn test ran fails")
    group.addoption("--abi", default=None, help="Popcorn ABI profile (ssrg-5.2, rfc-2020); default: from the kernel")
    group.addoption("--mesh-timeout", type=float, default=300.0, help="seconds for the Popcorn mesh to come up")
    group.addoption("--stress-duration", type=int, default=30,
                    help="seconds each stress case (testcases/stress) runs (default 30)")
    group.addoption("--hang-timeout", type=float, default=480.0,
                    help="seconds a test may run before the watchdog dumps every node (vCPU registers, sysrq) "
                         "and resets the cluster; @pytest.mark.hang_timeout(s) overrides (default 480)")
    group.addoption("--seed", type=int, default=os.environ.get(_SEED_ENV) or None,
                    help="seed of the faults tests choose (default: random, printed in the header)")


def pytest_configure(config: pytest.Config) -> None:
    """Resolve the kernel once (in the controller), set the JUnit path, register markers."""
    config.addinivalue_line("markers", "nodes(n): the test needs a cluster of n nodes")
    config.addinivalue_line("markers", "hang_timeout(s): seconds before the hang watchdog fires for this test")
    config.addinivalue_line("markers", "xdist_group(name): run in the same xdist worker as its group")
    config.addinivalue_line("markers", "known_failure(entry): judged by the symptom of a known defect "
                                       "(harness.pytest.known_failures.KnownFailure)")
    config.addinivalue_line("markers", "popcorn_suite: the test runs on the Popcorn mesh (uses `popcorn`)")
    if not config.pluginmanager.has_plugin("harness-crash"):
        config.pluginmanager.register(crash_plugin, "harness-crash")  # expect_crash, fail on kernel findings
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(PopcornRunCount(config), "harness-popcorn-count")
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


_SEED_ENV = "POPCORN_HARNESS_SEED"
_INJECTOR = pytest.StashKey[FaultInjector]()


@pytest.hookimpl(specname="pytest_configure")
def pytest_configure_seed(config: pytest.Config) -> None:
    """Pick the session's fault seed once, in the controller; xdist workers inherit it by environment."""
    if config.getoption("seed") is None:
        config.option.seed = random.SystemRandom().randrange(2**32)
    config.option.seed = int(config.getoption("seed"))
    os.environ[_SEED_ENV] = str(config.option.seed)


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

    def begin_test(self) -> None:
        """Start a test on the current cluster: empty each node's command log (a repro bundle's)."""
        for node in self.cluster.nodes:
            node.commands.clear()

    def after_test(self, nodeid: str, failed: bool, findings=(), **details) -> list[str]:
        """If the test failed, save artifacts, ``findings.json`` and a repro bundle (``details``: message,
        seed, faults); reboot (discard) an unhealthy cluster or one whose kernels reported failures
        (``findings``). Return its problems."""
        if self.cluster is None:
            return []
        if failed:
            directory = _test_dir(self.config.getoption("artifacts"), nodeid)
            self._save_bundle(directory / "bundle", nodeid, dict(details, findings=list(findings)))
            save_artifacts(self.cluster, directory)  # after the bundle: its dmesg is a logged command too
            (directory / "findings.json").write_text(json.dumps([f.to_dict() for f in findings], indent=2) + "\n")
        problems = self.cluster.health()
        if problems or findings:
            log.warning("cluster unhealthy after %s, rebooting: %s", nodeid,
                        "; ".join(problems + [f.summary() for f in findings]))
            self.discard()
        return problems

    def _save_bundle(self, directory: Path, nodeid: str, details: dict) -> None:
        from harness.repro.bundle import save_bundle

        support = self.support
        popcorn = {"available": support.available, "reason": support.reason, "profile": support.profile.name} \
            if support is not None else {}
        try:
            save_bundle(self.cluster, directory, nodeid, popcorn=popcorn, rootdir=str(self.config.rootpath), **details)
        except Exception:  # a bundle that cannot be written must not hide the test's own failure
            log.exception("could not write the repro bundle of %s", nodeid)

    def discard(self) -> None:
        """Stop the current cluster (the next ``get`` boots a fresh one)."""
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            cluster.stop()


_CALL_EXCINFO = pytest.StashKey[object]()
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()
_WATCHDOG = pytest.StashKey[HangWatchdog]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Shape each test's call report: a test the hang watchdog ended fails with the watchdog's findings
    first; the faults applied are shown; a test with a known failure is judged by its symptom
    (``harness.pytest.known_failures``). The call report and exception stay in the item's stash for the fixtures."""
    report = yield
    if report.when != "call":
        return report
    item.stash[_CALL_EXCINFO] = call.excinfo
    watchdog = item.stash.get(_WATCHDOG, None)
    if watchdog is not None and watchdog.fired and watchdog.ended_early:
        watchdog.cancel()
        if report.failed or report.passed:
            report.outcome = "failed"
            report.longrepr = f"ended early: {watchdog.ended_early}\n\nthe test then saw:\n{report.longrepr}"
    elif watchdog is not None and watchdog.fired:
        watchdog.cancel()  # waits until its findings are complete
        titles = "; ".join(f.summary() for f in watchdog.findings)
        if report.failed or report.passed:
            report.outcome = "failed"
            report.longrepr = f"hang watchdog after {watchdog.timeout:g}s: {titles}\n" + "\n".join(
                f.excerpt for f in watchdog.findings) + f"\n\nthe test then saw:\n{report.longrepr}"
        else:
            report.sections.append(("hang watchdog", titles))
    injector = item.stash.get(_INJECTOR, None)
    if injector is not None:
        report.sections.append(("faults", injector.log.text()))
    marker = item.get_closest_marker("known_failure")
    if marker is not None and not report.skipped:
        _judge_known_failure(item, report, call, marker.args[0], watchdog)
    item.stash[_CALL_REPORT] = report
    return report


def failure_signs(item: pytest.Item, excinfo, watchdog: HangWatchdog | None) -> list[str]:
    """The signs (``harness.pytest.known_failures``) of a failed test: its exception's, its unexpected kernel
    findings' and the hang watchdog's verdicts. When the watchdog fired, it reset the cluster: what the
    test body saw after that (a lost connection, a killed program) is its doing and not a sign."""
    fired = watchdog is not None and watchdog.fired
    signs = exception_signs(excinfo.value) if excinfo is not None and not fired else []
    if fired:
        signs += watchdog.early_signs
    for finding in crash_plugin.unexpected(item):
        if not (fired and finding.type in crash_plugin.LOSS_TYPES):  # the watchdog powered them off
            signs.append(finding_sign("finding", finding))
    if fired:
        signs += [finding_sign("hang", f) for f in watchdog.findings]
    return sorted(dict.fromkeys(signs))


def _judge_known_failure(item: pytest.Item, report: pytest.TestReport, call, known: KnownFailure,
                         watchdog: HangWatchdog | None) -> None:
    """Turn the call report of a test with a known failure into xfailed / xpassed / failed."""
    signs = failure_signs(item, call.excinfo, watchdog) if report.failed else []
    outcome, explanation = known.verdict(report.passed, signs)
    properties = [("known_defect", known.defect.id), ("known_defect_test", known.test), ("known_defect_outcome", outcome),
                  ("symptom_expected", known.symptom.describe()), ("symptom_actual", " + ".join(signs))]
    report.user_properties.extend(properties)
    item.user_properties.extend(properties)
    if outcome == "xfailed":
        report.outcome, report.wasxfail = "skipped", explanation
        report.sections.append(("known defect", f"{explanation}\nsymptom: {' + '.join(signs)}"))
    elif outcome == "xpassed":
        report.wasxfail = explanation
    elif outcome == "xpass-strict":
        report.outcome, report.longrepr = "failed", f"[XPASS(strict)] {explanation}"
    else:
        report.longrepr = f"{explanation}\n\n{report.longrepr}"


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
            dmesg = node.run("dmesg", timeout=20, record=False).stdout if node.alive() else "(node is down)\n"
        except HarnessError as exc:
            dmesg = f"(dmesg failed: {exc})\n"
        (directory / f"{node.name}.dmesg").write_text(dmesg)


def _requested_nodes(request: pytest.FixtureRequest) -> int:
    marker = request.node.get_closest_marker("nodes")
    return getattr(request, "param", None) or (marker.args[0] if marker else request.config.getoption("nodes"))


def _watch(request: pytest.FixtureRequest, cluster: Cluster) -> HangWatchdog:
    """Arm the hang watchdog for the running test (``--hang-timeout`` or its ``hang_timeout`` marker)."""
    marker = request.node.get_closest_marker("hang_timeout")
    timeout = marker.args[0] if marker else request.config.getoption("hang_timeout")
    directory = _test_dir(request.config.getoption("artifacts"), request.node.nodeid)
    marker = request.node.get_closest_marker("known_failure")
    end_early = _known_symptom_seen(request.node, cluster, marker.args[0]) \
        if marker and marker.args[0].symptom.seen_while_running() else None
    watchdog = HangWatchdog(cluster, timeout, directory, request.node.nodeid, end_early=end_early).start()
    request.node.stash[_WATCHDOG] = watchdog
    return watchdog


#: Seconds a known symptom must have shown before the watchdog ends its test: a program that goes on after
#: a report (and finishes, passing or failing some check) gets to finish first, and a node must stay
#: silent that long to count as silent.
KNOWN_SYMPTOM_GRACE_S = 20.0
#: Seconds a node gets to answer ``true`` while a test waits for a known "node stopped answering" symptom.
LIVENESS_TIMEOUT_S = 10.0


def _silent_node_signs(cluster: Cluster, known: KnownFailure) -> list[str]:
    """``timeout:NODE`` for each node of ``cluster`` that ``known``'s required signs expect to go silent
    (a ``timeout:``/``infra:`` pattern) and that does not answer ``true`` within ``LIVENESS_TIMEOUT_S``."""
    signs = []
    for node in cluster.nodes:
        sign = f"timeout:{node.name}"
        if known.symptom.requires(sign):
            try:
                node.run("true", timeout=LIVENESS_TIMEOUT_S, record=False).check()
            except Exception:
                signs.append(sign)
    return signs


def _known_symptom_seen(item: pytest.Item, cluster: Cluster, known: KnownFailure):
    """A check for the hang watchdog: a reason once every required sign of ``known`` has shown for
    ``KNOWN_SYMPTOM_GRACE_S`` seconds, else None. The signs it can see while the test runs are console
    findings and nodes that stopped answering. A test hung at its known symptom then ends instead of
    waiting for a program's or the harness's own timeout; the silent nodes it saw are signs of the test
    (``HangWatchdog.early_signs``)."""
    since: list[float] = []

    def check() -> tuple[str, list[str]] | None:
        watch = item.stash.get(crash_plugin.WATCH, None)
        if watch is None:
            return None
        findings = [finding_sign("finding", f) for f in watch.mark.findings_since()]
        silent = _silent_node_signs(cluster, known)
        if known.symptom.absent(findings + silent):
            since.clear()
            return None
        since[:] = since or [time.monotonic()]
        if time.monotonic() - since[0] < KNOWN_SYMPTOM_GRACE_S:
            return None
        return (f"the known symptom of {known.reason()} has shown for {KNOWN_SYMPTOM_GRACE_S:g}s: "
                f"{' + '.join(findings + silent)}", silent)
    return check


def _dump_after_timeout(request: pytest.FixtureRequest, cluster: Cluster | None) -> None:
    """A test that failed on a command timeout gets every node's registers and sysrq dump saved."""
    excinfo = request.node.stash.get(_CALL_EXCINFO, None)
    if cluster is not None and excinfo is not None and excinfo.errisinstance(CommandTimeout):
        save_dumps([dump_node(node) for node in cluster.nodes],
                   _test_dir(request.config.getoption("artifacts"), request.node.nodeid))


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


def _after(request: pytest.FixtureRequest, pool: ClusterPool) -> None:
    """After a test: stop its hang watchdog, save artifacts and a repro bundle on failure or unexpected
    kernel findings (also under xfail), reboot an unhealthy cluster or one with findings. (The findings
    fail the test in ``harness.crash.plugin``; the watchdog's in ``pytest_runtest_makereport``.)"""
    item = request.node
    watchdog = item.stash[_WATCHDOG]
    watchdog.cancel()
    findings = crash_plugin.collect(item)
    if watchdog.fired:  # its dumps are saved and it powered the nodes off: their silence is its doing
        findings = watchdog.findings + [f for f in findings if f.type not in crash_plugin.LOSS_TYPES]
    else:
        _dump_after_timeout(request, pool.cluster)
    report = item.stash.get(_CALL_REPORT, None)
    failed = (report is not None and report.failed) or bool(crash_plugin.unexpected(item)) or watchdog.fired
    if findings:
        message = crash_plugin.failure_message(findings)
    elif report is not None and report.failed:
        message = getattr(getattr(report.longrepr, "reprcrash", None), "message", "") or str(report.longrepr)
    else:
        message = ""
    seed, faults = replay_inputs(item)
    pool.after_test(item.nodeid, failed=failed, findings=findings, message=message, seed=seed, faults=faults)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, cluster_pool: ClusterPool):
    """A healthy cluster (Popcorn mesh up if the kernel has it): ``@pytest.mark.nodes(n)`` or an
    indirect parameter sets its size."""
    current = cluster_pool.get(_requested_nodes(request))
    cluster_pool.begin_test()
    crash_plugin.start(request.node, current.nodes, cluster_pool.symbols)
    _watch(request, current)
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

        from harness.guest.programs import GUEST_BIN

        return f"{self.profile.shell_exports()} {GUEST_BIN}/{program} {' '.join(map(shlex.quote, args))}"


@pytest.fixture
def popcorn(request: pytest.FixtureRequest, cluster_pool: ClusterPool):
    """A cluster with the Popcorn mesh up; on a non-Popcorn kernel it skips, saying what the kernel lacks,
    unless the kernel is given as Popcorn (``--require-popcorn`` or ``popcorn_claim``): then it fails."""
    cluster = cluster_pool.get(_requested_nodes(request))
    if not cluster_pool.support.available:
        claim = popcorn_claim_of(request.config)
        if claim:
            pytest.fail(f"the kernel is given as Popcorn ({claim}) but does not answer as Popcorn: "
                        f"{cluster_pool.support.reason}", pytrace=False)
        pytest.skip(f"needs a Popcorn kernel: {cluster_pool.support.reason}")
    cluster_pool.begin_test()
    crash_plugin.start(request.node, cluster.nodes, cluster_pool.symbols)
    _watch(request, cluster)
    yield PopcornCluster(cluster, cluster_pool.support)
    _after(request, cluster_pool)


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
    """The controller's count of Popcorn tests (``popcorn_suite``) collected and run, and the verdict on a
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

    def verdict(self) -> str:
        """The one line for a run in which Popcorn tests were collected but none ran ("" otherwise)."""
        if self.collected == 0 or self.ran > 0:
            return ""
        why = "; ".join(f"{reason} ({n} tests)" for reason, n in self.skip_reasons.items()) or "none reached its call"
        line = f"no Popcorn test ran ({self.collected} collected): {why}"
        claim = popcorn_claim_of(self.config)
        return line + (f"; the kernel is given as Popcorn ({claim}), so the run fails" if claim else "")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """End the report with the verdict line, if there is one."""
        line = self.verdict()
        if line:
            terminalreporter.write_line(line, red=bool(popcorn_claim_of(self.config)), yellow=True)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """A run on a kernel given as Popcorn in which no Popcorn test ran fails."""
        if self.verdict() and popcorn_claim_of(self.config) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In the controller: remove leftovers of workers that were killed (their owner is gone)."""
    if hasattr(session.config, "workerinput") or os.geteuid() != 0:
        return
    from harness.vm.leftovers import sweep_stale

    for item in sweep_stale():
        log.warning("removed leftover of a dead run: %s", item)


# -- faults ----------------------------------------------------------------------------------------


def pytest_report_header(config: pytest.Config) -> str:
    """Print the session's fault seed once."""
    seed = config.getoption("seed")
    return f"fault seed: {seed} (replay the same choices with --seed {seed})"


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """The session's fault seed; the test's JUnit properties carry it."""
    value = request.config.getoption("seed")
    request.node.user_properties.append(("seed", value))
    return value


@pytest.fixture
def faults(request: pytest.FixtureRequest, seed: int, cluster_pool: ClusterPool):
    """A ``FaultInjector`` on the test's cluster (the ``popcorn`` one if the test uses it), seeded with
    ``--seed``. At teardown it heals the network (a cluster it cannot heal is discarded) and attaches
    the fault log to the test as the JUnit property ``faults`` (JSON)."""
    target = (request.getfixturevalue("popcorn").cluster if "popcorn" in request.fixturenames
              else request.getfixturevalue("cluster"))
    injector = FaultInjector(target, seed)
    request.node.stash[_INJECTOR] = injector
    crash_plugin.deliberate_losses(request.node, lambda: injector.log.targets("crash"))
    yield injector
    try:
        target.heal(reason="teardown")
    except Exception:
        cluster_pool.discard()  # never hand a half-healed network to the next test
        raise
    finally:
        request.node.user_properties.append(("faults", injector.log.to_json()))
