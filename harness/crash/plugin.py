"""Crash detection in pytest: each test that uses a cluster is watched (console reports, new taint).

A test fails when its cluster's kernels report a failure while it runs, unless it asked for the crash
with the ``expect_crash`` fixture: then the findings are the test's to check (``expect_crash.wait()``)
and do not fail it. Either way a cluster with findings is rebooted before the next test (the pool does
that with the findings ``collect`` returns).
"""

from __future__ import annotations

import pytest

from harness.crash.finding import Finding
from harness.crash.watch import CrashWatch

WATCH = pytest.StashKey[CrashWatch]()
FINDINGS = pytest.StashKey[list]()
EXPECTED = pytest.StashKey[bool]()


class KernelFindingsFailed(pytest.fail.Exception):
    """A test body that passed, failed by its kernel findings. Its signs (``harness.pytest.known_failures``) are
    the findings', which the plugin adds itself, so it has none of its own."""

    signs: list[str] = []


def start(item: pytest.Item, nodes, symbols=None) -> None:
    """Start watching ``nodes`` for ``item`` (the cluster fixtures call this before the test)."""
    item.stash[WATCH] = CrashWatch(nodes, item.nodeid, symbols)


def collect(item: pytest.Item) -> list[Finding]:
    """The findings of ``item``'s test, gathered once (at the end of its call, or now)."""
    if FINDINGS not in item.stash:
        watch = item.stash.get(WATCH, None)
        item.stash[FINDINGS] = watch.findings() if watch is not None else []
    return item.stash[FINDINGS]


#: Types of finding a node that was powered off on purpose shows: its silence is the test's doing.
LOSS_TYPES = ("lost-connection", "no-output")
DELIBERATE_LOSSES = pytest.StashKey[object]()


def deliberate_losses(item: pytest.Item, nodes) -> None:
    """Declare that the nodes ``nodes()`` names (a callable, asked when the findings are judged) were
    powered off on purpose by ``item``'s test: their lost-connection / no-output findings do not fail it
    (a kernel report on their console still does)."""
    item.stash[DELIBERATE_LOSSES] = nodes


def unexpected(item: pytest.Item) -> list[Finding]:
    """The findings that fail ``item``'s test: all of them, unless it asked for ``expect_crash``, less the
    silence of nodes it powered off on purpose (``deliberate_losses``)."""
    if item.stash.get(EXPECTED, False):
        return []
    lost = item.stash.get(DELIBERATE_LOSSES, None)
    lost = lost() if lost is not None else set()
    return [f for f in collect(item) if not (f.type in LOSS_TYPES and f.node in lost)]


def failure_message(findings: list[Finding]) -> str:
    """What a test failed by kernel findings says: the first one with its report, then the others."""
    first = findings[0]
    return (f"kernel failure on {first.node} during the test: {first.title}"
            + (" (corrupted report)" if first.corrupted else "") + f"\n{first.symbolized or first.excerpt}"
            + "".join(f"\nalso {f.summary()}" for f in findings[1:]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """After the test body: fail it on kernel findings, unless it expects a crash."""
    try:
        result = yield
    except Exception:
        if WATCH in item.stash and collect(item):
            item.add_report_section("call", "kernel findings", "\n".join(f.summary() for f in collect(item)))
        raise
    if WATCH in item.stash and unexpected(item):
        raise KernelFindingsFailed(failure_message(unexpected(item)), pytrace=False)
    return result


class ExpectedCrash:
    """What a crash-provoking test gets: the findings of its own test, handed over instead of failing it."""

    def __init__(self, item: pytest.Item):
        self.item = item

    def wait(self, node: str | None = None, timeout: float = 120.0,
             title: str | tuple[str, ...] | None = None) -> list[Finding]:
        """Wait for a report (with ``title``, or one of the titles, if given) on ``node`` (or any node);
        return the reports so far."""
        return self.item.stash[WATCH].wait(node, timeout, title=title)

    def findings(self, node: str | None = None) -> list[Finding]:
        """Console reports since the test started, on ``node`` or every node."""
        return self.item.stash[WATCH].mark.findings_since(node)


@pytest.fixture
def expect_crash(request: pytest.FixtureRequest) -> ExpectedCrash:
    """Declare that the test provokes kernel failures on purpose: its findings are returned by
    ``expect_crash.wait()`` instead of failing it; the cluster is still rebooted afterwards."""
    request.node.stash[EXPECTED] = True
    return ExpectedCrash(request.node)
