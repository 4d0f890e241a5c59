"""Watch a cluster's nodes during one test: console reports and new taint, as findings.

``ConsoleMark`` remembers where each node's console stood (a byte offset); ``findings_since`` reads and
parses only what was printed after it. ``CrashWatch`` adds the taint comparison and the test's node id; the pytest plugin
makes one per test.
"""

from __future__ import annotations

import time

from harness.crash import taint
from harness.crash.parser import parse
from harness.crash.finding import Finding, silence_kind_finding
from harness.crash.symbolize import SymbolTable


class ConsoleMark:
    """Console positions of a cluster's nodes at one moment."""

    def __init__(self, nodes, test: str = "", symbols: SymbolTable | None = None):
        self.nodes = list(nodes)
        self.test = test
        self.symbols = symbols
        self.offsets = {node.name: node.console_size() for node in self.nodes}

    def findings_since(self, node: str | None = None) -> list[Finding]:
        """Reports printed on any node (or on ``node``) since the mark."""
        found = []
        for each in self.nodes:
            if node is None or each.name == node:
                offset = self.offsets.get(each.name, 0)
                found += parse(each.console_since(offset), each.name, self.test, self.symbols, booted=offset > 0)
        return found


def silence_finding(node, offset: int, test: str = "", reason: str = "", tail: int = 20) -> Finding:
    """The finding for a node that stopped answering: ``console flood from node`` when its VM was stopped
    for printing past the console cap, ``lost connection to node`` when its QEMU is gone or it printed on
    its console after ``offset``, else ``no output from node``; the excerpt is ``reason`` (if any) and the
    console's last ``tail`` lines."""
    printed = node.console_size() > offset
    kind = ("flood" if node.flooded() else "lost-connection") if printed or not node.alive() else "no-output"
    return silence_kind_finding(kind, node.name, test, (f"{reason}\n" if reason else "") + node.console_tail(tail))


class CrashWatch:
    """Everything that went wrong on a cluster's kernels during one test."""

    def __init__(self, nodes, test: str = "", symbols: SymbolTable | None = None):
        self.mark = ConsoleMark(nodes, test, symbols)
        self.taint_before = taint.read_all(self.mark.nodes)

    def findings(self) -> list[Finding]:
        """Console reports since the start; then, for nodes without a report, new taint and the
        infrastructure findings: a node that answered before the test and no longer does is "lost
        connection" (or "no output" when its console stayed silent too)."""
        found = self.mark.findings_since()
        after = taint.read_all(self.mark.nodes)
        explained = {finding.node for finding in found}
        found += taint.new_taint_findings(self.taint_before, after, explained, self.mark.test)
        return found + [self._silence(node) for node in self.mark.nodes
                        if node.name not in explained and self._lost(node, after)]

    def _lost(self, node, after: dict[str, int | None]) -> bool:
        if self.taint_before.get(node.name) is None or after.get(node.name) is not None:
            return False
        return bool(node.silence())  # one more chance: a slow answer is not a lost node

    def _silence(self, node) -> Finding:
        return silence_finding(node, self.mark.offsets.get(node.name, 0), self.mark.test)

    def wait(self, node: str | None = None, timeout: float = 120.0, quiet: float = 3.0,
             title: str | tuple[str, ...] | None = None) -> list[Finding]:
        """Wait until a console report appears (on ``node``, or any node; with ``title``, a report with
        that title, or with one of them when it is a tuple), then until that console has been quiet for
        ``quiet`` seconds or its node died, so the report is complete; return the reports so far.
        Returns what there is at ``timeout``."""
        deadline = time.monotonic() + timeout
        wanted = (title,) if isinstance(title, str) else title
        found = []
        while time.monotonic() < deadline:
            found = self.mark.findings_since(node)
            match = [f for f in found if wanted is None or f.title in wanted]
            if match:
                wait_quiet(next(each for each in self.mark.nodes if each.name == match[0].node), quiet, deadline)
                return self.mark.findings_since(node)
            time.sleep(0.5)
        return found

def wait_quiet(node, seconds: float, until: float) -> None:
    """Wait until ``node``'s console has not grown for ``seconds`` (or the node died, or ``until``,
    a ``time.monotonic()`` deadline, passed): a report is printed in several bursts."""
    size, since = node.console_size(), time.monotonic()
    while time.monotonic() < until and node.alive() and time.monotonic() - since < seconds:
        time.sleep(0.25)
        now = node.console_size()
        if now != size:
            size, since = now, time.monotonic()
