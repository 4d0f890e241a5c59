"""The pytest face of the harness: options, cluster fixtures, the hang watchdog, known failures judged by
their symptom, artifacts on failure.

The ``cluster`` fixture takes the worker's cluster from the pool (``harness/pytest/pool.py``), watches
the test's kernels (crash detection, ``harness.crash.plugin``) and its time (``harness.cluster.watchdog``),
and after the test saves artifacts and a repro bundle when it failed (``harness/pytest/artifacts.py``).
The ``faults`` fixture gives a test a ``FaultInjector`` seeded from ``--seed`` (random unless given,
printed in the header and carried by each test's report and JUnit properties); it heals the network at
teardown and attaches the fault log. A test marked ``known_failure`` is judged by its symptom
(``harness/pytest/known_failures.py``). Domain plugins (``harness/popcorn/plugin.py``) build on the pool
through the hooks of ``harness/pytest/hooks.py``; this module knows nothing of them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time

import pytest

from harness.cluster.cluster import Cluster
from harness.cluster.faults import FaultInjector
from harness.cluster.options import KERNEL_ENV, add_cluster_options
from harness.cluster.stuck import STUCK_S, StuckThreads, stuck_sign
from harness.cluster.watchdog import HangWatchdog, stuck_look
from harness.crash import plugin as crash_plugin
from harness.crash.finding import VERDICTS
from harness.crash.watch import silence_finding
from harness.errors import HarnessError
from harness.kernel.stock import stock_kernel
from harness.paths import locked, state_dir
from harness.pytest import hooks
from harness.pytest.artifacts import CALL_EXCINFO, dump_after_timeout, replay_inputs, test_dir
from harness.pytest.known_failures import KnownFailure, exception_signs, finding_sign
from harness.pytest.pool import ClusterPool
from harness.vm.leftovers import sweep_stale

log = logging.getLogger(__name__)

_SEED_ENV = "POPCORN_HARNESS_SEED"
#: Per test, in ``item.stash``: its fault injector, call report, hang watchdog and cluster.
_INJECTOR = pytest.StashKey[FaultInjector]()
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()
_WATCHDOG = pytest.StashKey[HangWatchdog]()
_CLUSTER = pytest.StashKey[Cluster]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Add the ``pytest_harness_*`` hooks domain plugins implement."""
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the cluster options (``harness/cluster/options.py``), --artifacts, --hang-timeout, --seed."""
    group = parser.getgroup("popcorn-harness")
    add_cluster_options(group.addoption)
    group.addoption("--artifacts", default="artifacts", help="where failure artifacts and JUnit XML go")
    group.addoption("--hang-timeout", type=float, default=480.0,
                    help="seconds a test may run before the watchdog dumps every node (vCPU registers, sysrq) "
                         "and resets the cluster; @pytest.mark.hang_timeout(s) overrides (default 480)")
    group.addoption("--no-snapshots", dest="snapshots", action="store_false", default=True,
                    help="after a test that leaves its cluster unhealthy, boot a new cluster instead of restoring "
                         "the snapshot the pool took once the cluster was up (and its Popcorn mesh connected)")
    group.addoption("--seed", type=int, default=os.environ.get(_SEED_ENV) or None,
                    help="seed of the faults tests choose (default: random, printed in the header)")


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and crash detection; in the controller, resolve the kernel (default: Debian's stock
    one) and the fault seed once (xdist workers inherit both by environment) and set the JUnit path."""
    config.addinivalue_line("markers", "nodes(n): the test needs a cluster of n nodes")
    config.addinivalue_line("markers", "hang_timeout(s): seconds before the hang watchdog fires for this test")
    config.addinivalue_line("markers", "xdist_group(name): run in the same xdist worker as its group")
    config.addinivalue_line("markers", "known_failure(entry): judged by the symptom of a known defect "
                                       "(harness.pytest.known_failures.KnownFailure)")
    if not config.pluginmanager.has_plugin("harness-crash"):
        config.pluginmanager.register(crash_plugin, "harness-crash")  # expect_crash, fail on kernel findings
    artifacts = os.path.abspath(config.getoption("artifacts"))
    config.option.artifacts = artifacts
    if config.getoption("seed") is None:
        config.option.seed = random.SystemRandom().randrange(2**32)
    config.option.seed = int(config.getoption("seed"))
    os.environ[_SEED_ENV] = str(config.option.seed)
    if hasattr(config, "workerinput"):
        return
    if not getattr(config.option, "xmlpath", None):
        os.makedirs(artifacts, exist_ok=True)
        config.option.xmlpath = os.path.join(artifacts, "junit.xml")
    if not config.getoption("kernel") and not config.option.collectonly:
        kernel = default_kernel()
        if kernel:
            config.option.kernel = kernel
            os.environ[KERNEL_ENV] = kernel  # inherited by xdist workers


def default_kernel() -> str:
    """The stock Debian kernel artifact (fetched once, under a lock), or "" if it cannot be had."""
    with locked(state_dir() / "stock-kernel.lock"):
        try:
            return str(stock_kernel())
        except HarnessError as exc:
            log.warning("no default kernel: %s", exc)
            return ""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Shape each test's call report: a test the hang watchdog ended fails with the watchdog's findings
    first; the faults applied are shown; a test with a known failure is judged by its symptom
    (``harness.pytest.known_failures``). The call report and exception stay in the item's stash for the fixtures."""
    report = yield
    if report.when != "call":
        return report
    item.stash[CALL_EXCINFO] = call.excinfo
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


def failure_signs(item: pytest.Item, excinfo, watchdog: HangWatchdog | None, stuck: list[str] = ()) -> list[str]:
    """The signs (``harness.pytest.known_failures``) of a failed test: its exception's, its unexpected kernel
    findings', the hang watchdog's findings, and where guest programs are stuck (``stuck``, looked at after
    the test; or what the watchdog saw before it reset the cluster). When the watchdog fired, it reset the
    cluster: what the test body saw after that (a lost connection, a killed program) is its doing and not a
    sign."""
    fired = watchdog is not None and watchdog.fired
    signs = exception_signs(excinfo.value) if excinfo is not None and not fired else []
    if fired:
        signs += watchdog.early_signs + watchdog.stuck_signs
    else:
        signs += list(stuck)
    for finding in crash_plugin.unexpected(item):
        if not (fired and finding.type in crash_plugin.LOSS_TYPES):  # the watchdog powered them off
            signs.append(finding_sign("finding", finding))
    if fired:
        signs += [finding_sign("hang", f) for f in watchdog.findings]
    return sorted(dict.fromkeys(signs))


def stuck_after(item: pytest.Item, watchdog: HangWatchdog | None) -> tuple[list[str], list[str]]:
    """Where the failed test's guest programs are stuck on its cluster (``harness.cluster.watchdog.stuck_look``:
    a node that cannot be looked at is read from its sysrq dump): signs and threads as text; when the
    watchdog fired, the threads it saw before it reset the cluster (its signs are among its own,
    ``failure_signs``)."""
    if watchdog is not None and watchdog.fired:
        return [], watchdog.stuck_threads
    cluster = item.stash.get(_CLUSTER, None)
    if cluster is None:
        return [], []
    look = stuck_look(cluster)
    return look.signs, look.threads


#: How much of a known failure's exception message its JUnit entry keeps (``failure_detail``).
FAILURE_DETAIL_CHARS = 2000


def _judge_known_failure(item: pytest.Item, report: pytest.TestReport, call, known: KnownFailure,
                         watchdog: HangWatchdog | None) -> None:
    """Turn the call report of a test with a known failure into xfailed / xpassed / failed."""
    stuck, threads = stuck_after(item, watchdog) if report.failed else ([], [])
    if threads:
        report.sections.append(("stuck threads", "\n".join(threads)))
    signs = failure_signs(item, call.excinfo, watchdog, stuck) if report.failed else []
    outcome, explanation = known.verdict(report.passed, signs)
    properties = [("known_defect", known.defect.id), ("known_defect_test", known.test), ("known_defect_outcome", outcome),
                  ("symptom_expected", known.describe()), ("symptom_actual", " + ".join(signs))]
    if report.failed and call.excinfo is not None:  # what the signs stand for (a check's got), kept for an xfail too
        properties.append(("failure_detail", str(call.excinfo.value)[:FAILURE_DETAIL_CHARS]))
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
    """The worker's cluster pool; stops its clusters (the parked ones too) at the end of the session."""
    pool = ClusterPool(request.config)
    yield pool
    pool.close()


def requested_nodes(request: pytest.FixtureRequest) -> int:
    """The cluster size a test asks for: an indirect parameter, its ``nodes`` marker, else ``--nodes``."""
    marker = request.node.get_closest_marker("nodes")
    return getattr(request, "param", None) or (marker.args[0] if marker else request.config.getoption("nodes"))


def _watch(request: pytest.FixtureRequest, cluster: Cluster) -> HangWatchdog:
    """Arm the hang watchdog for the running test (``--hang-timeout`` or its ``hang_timeout`` marker)."""
    marker = request.node.get_closest_marker("hang_timeout")
    timeout = marker.args[0] if marker else request.config.getoption("hang_timeout")
    directory = test_dir(request.config.getoption("artifacts"), request.node.nodeid)
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


def _hung_node_signs(cluster: Cluster, known: KnownFailure, stuck: dict[str, StuckThreads],
                     offsets: dict[str, int]) -> tuple[list[str], list[str]]:
    """The signs of ``known`` that show on ``cluster``'s nodes while the test runs, besides console reports:
    for a node that does not answer (``Node.silence``), ``timeout:NODE`` and the finding the crash watcher
    will make of it (``lost connection to node``, ``no output from node``: ``silence_finding``, console
    positions at the test's start in ``offsets``); for one that answers, ``timeout:NODE`` and
    ``stuck:NODE:WCHAN`` when a guest program thread on it is stuck in the kernel (``harness.cluster.stuck``,
    tracked across looks in ``stuck``). Only nodes ``known`` requires such a sign of are looked at. Also
    returns what was seen."""
    signs, seen = [], []
    for node in cluster.nodes:
        hang = f"timeout:{node.name}"
        silent = [hang] + [f"finding:{node.name}:{title}" for title in VERDICTS.values()]
        wants_stuck = known.symptom.names("stuck", node.name)
        if not wants_stuck and not any(known.symptom.requires(sign) for sign in silent):
            continue
        if why := node.silence():
            lost = finding_sign("finding", silence_finding(node, offsets.get(node.name, 0)))
            signs += [sign for sign in (hang, lost) if known.symptom.requires(sign)]
            seen.append(f"{node.name} does not answer ({why})")
        elif (known.symptom.requires(hang) or wants_stuck) and \
                (threads := stuck.setdefault(node.name, StuckThreads()).stuck(node)):
            signs += [hang] * known.symptom.requires(hang) + sorted({stuck_sign(node.name, t) for t in threads})
            seen.append(f"{node.name} has guest program threads in D without progress for {STUCK_S:g}s: "
                        f"{', '.join(map(str, threads))}")
    return signs, seen


def _known_symptom_seen(item: pytest.Item, cluster: Cluster, known: KnownFailure):
    """A check for the hang watchdog: a reason once every required sign of ``known`` has shown for
    ``KNOWN_SYMPTOM_GRACE_S`` seconds, else None. The signs it can see while the test runs are console
    findings, nodes that stopped answering and nodes with a guest program stuck in the kernel. A test hung
    at its known symptom then ends instead of waiting for a program's or the harness's own timeout; the
    hung nodes it saw are signs of the test (``HangWatchdog.early_signs``)."""
    since: list[float] = []
    stuck: dict[str, StuckThreads] = {}

    def check() -> tuple[str, list[str]] | None:
        watch = item.stash.get(crash_plugin.WATCH, None)
        if watch is None:
            return None
        findings = [finding_sign("finding", f) for f in watch.mark.findings_since()]
        hung, seen = _hung_node_signs(cluster, known, stuck, watch.mark.offsets)
        if known.symptom.absent(findings + hung):
            since.clear()
            return None
        since[:] = since or [time.monotonic()]
        if time.monotonic() - since[0] < KNOWN_SYMPTOM_GRACE_S:
            return None
        return (f"the known symptom of {known.reason()} has shown for {KNOWN_SYMPTOM_GRACE_S:g}s: "
                f"{' + '.join(findings + hung)}" + "".join(f"\n  {each}" for each in seen), hung)
    return check


def _after(request: pytest.FixtureRequest, pool: ClusterPool) -> None:
    """After a test: stop its hang watchdog, save artifacts and a repro bundle on failure or unexpected
    kernel findings (also under xfail), reset (restore or reboot) an unhealthy cluster or one with findings,
    recorded as the JUnit property ``cluster_reset``. (The findings
    fail the test in ``harness.crash.plugin``; the watchdog's in ``pytest_runtest_makereport``.)"""
    item = request.node
    watchdog = item.stash[_WATCHDOG]
    watchdog.cancel()
    findings = crash_plugin.collect(item)
    if watchdog.fired:  # its dumps are saved and it powered the nodes off: their silence is its doing
        findings = watchdog.findings + [f for f in findings if f.type not in crash_plugin.LOSS_TYPES]
    else:
        try:
            dump_after_timeout(request, pool.cluster)
        except OSError as exc:  # disk full: the pool's health check below must still run
            log.error("the register and sysrq dumps of %s could not be saved: %s", item.nodeid, exc)
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
    if pool.last_reset:
        item.user_properties.append(("cluster_reset", pool.last_reset))
    item.user_properties.append(("harness_after_s", f"{pool.after_s:.2f}"))


@contextlib.contextmanager
def watched_test(request: pytest.FixtureRequest, pool: ClusterPool):
    """The pool's cluster for the running test, watched: its command logs emptied, crash detection started,
    the hang watchdog armed; afterwards ``_after``. Cluster fixtures (this module's ``cluster``, Popcorn's
    ``popcorn``) are built on it."""
    current = pool.get(requested_nodes(request))
    if pool.boot_s:
        request.node.user_properties.append(("harness_boot_s", f"{pool.boot_s:.2f}"))
        pool.boot_s = 0.0
    if pool.last_switch:
        request.node.user_properties.append(("cluster_switch", pool.last_switch))
        pool.last_switch = ""
    if current.spec.hosts:  # where each node ran: node0@URI node1@URI ...
        request.node.user_properties.append(("nodes_on_hosts", " ".join(
            f"{node.name}@{current.spec.host_of(node.index)}" for node in current.nodes)))
    pool.begin_test()
    crash_plugin.start(request.node, current.nodes, pool.symbols)
    _watch(request, current)
    request.node.stash[_CLUSTER] = current
    yield current
    _after(request, pool)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, cluster_pool: ClusterPool):
    """A healthy cluster: ``@pytest.mark.nodes(n)`` or an indirect parameter sets its size."""
    with watched_test(request, cluster_pool) as current:
        yield current


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In the controller: remove leftovers of workers that were killed (their owner is gone)."""
    if hasattr(session.config, "workerinput") or os.geteuid() != 0:
        return
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
    """A ``FaultInjector`` on the test's cluster (the one its cluster fixture, e.g. ``popcorn``, watches;
    else ``cluster``), seeded with ``--seed``. At teardown it heals the network (a cluster it cannot heal
    is discarded) and attaches the fault log to the test as the JUnit property ``faults`` (JSON)."""
    target = request.node.stash.get(_CLUSTER, None) or request.getfixturevalue("cluster")
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
