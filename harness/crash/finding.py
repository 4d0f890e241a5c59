"""A crash finding as plain data, and the table of finding types.

A ``Finding`` is what the parser (``harness.crash.parser``) makes of one kernel report on one node's
console, or an infrastructure finding a caller makes (a node that went silent or dropped its
connection), or a taint that appeared during a test. It converts to and from JSON-ready dicts
(``findings.json`` in a failed test's artifact dir).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: Finding types (in the spirit of syzkaller's pkg/report/crash types): type -> what it means.
TYPES: dict[str, str] = {
    "bug": "BUG()/BUG_ON() or another kernel-detected bug",
    "null-deref": "NULL pointer dereference in the kernel",
    "memory-safety": "bad memory access or corrupted kernel data (paging request, GPF, list, page state)",
    "warning": "WARN()/WARN_ON() or a refcount warning",
    "hang": "the kernel stopped making progress (soft lockup, hung task, RCU stall)",
    "lockdep": "lock debugging found a (possible) deadlock or misuse",
    "atomic-sleep": "sleeping or scheduling in atomic context",
    "panic": "kernel panic",
    "reboot": "the kernel booted again while a test ran",
    "taint": "the kernel became tainted with no console report explaining it",
    "no-output": "infrastructure: the node printed nothing when it should have",
    "lost-connection": "infrastructure: the node stopped answering",
    "flood": "the node printed past the console cap and was stopped (harness.vm.backends.base.CONSOLE_CAP_BYTES)",
}

#: Infrastructure findings: made by callers, not found on the console. type -> title.
VERDICTS: dict[str, str] = {
    "no-output": "no output from node",
    "lost-connection": "lost connection to node",
    "flood": "console flood from node",
}


@dataclass
class Finding:
    """One kernel failure (or infrastructure finding) on one node, during one test."""

    title: str
    type: str
    node: str = ""
    test: str = ""
    excerpt: str = ""
    symbolized: str = ""
    corrupted: bool = False

    def to_dict(self) -> dict:
        """Return the finding as JSON-ready plain data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        """Build a finding from ``to_dict`` output."""
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    def summary(self) -> str:
        """One line: node, title (and "corrupted report" when the culprit was not found)."""
        where = f"{self.node}: " if self.node else ""
        return where + self.title + (" (corrupted report)" if self.corrupted else "")


def silence_kind_finding(kind: str, node: str, test: str = "", excerpt: str = "") -> Finding:
    """A finding made by the harness, not read from a report (a ``VERDICTS`` kind: ``no-output``,
    ``lost-connection``, ``flood``) for ``node``."""
    return Finding(title=VERDICTS[kind], type=kind, node=node, test=test, excerpt=excerpt)
