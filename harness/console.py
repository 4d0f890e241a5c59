"""Read node consoles for kernel failures: a small pattern table (data) and a scanner.

A ``ConsoleMark`` remembers where each node's console stood before a test; ``findings_since`` scans only
what was printed after it. The table here is the seed of the full crash parser (issue: crash detection).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: (kind, regular expression on one console line). The first matching row names the finding.
PATTERNS: tuple[tuple[str, str], ...] = (
    ("kernel BUG", r"kernel BUG at \S+"),
    ("BUG", r"BUG: .+"),
    ("general protection fault", r"general protection fault.*"),
    ("invalid opcode", r"invalid opcode: .*"),
    ("Oops", r"Oops: .*"),
    ("WARNING", r"WARNING: .*"),
    ("INFO: task hung", r"INFO: task \S+ blocked for more than \d+ seconds"),
    ("INFO: RCU stall", r"rcu: INFO: \S+ detected stalls?.*"),
    ("lockdep", r"WARNING: possible (?:circular|recursive) locking dependency detected"),
    ("Kernel panic", r"Kernel panic - not syncing: .*"),
)
_COMPILED = tuple((kind, re.compile(pattern)) for kind, pattern in PATTERNS)
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s*")


@dataclass(frozen=True)
class Finding:
    """One kernel failure seen on a node's console."""

    node: str
    kind: str
    title: str
    excerpt: str


def scan(text: str, node: str = "") -> list[Finding]:
    """Every failure line in ``text`` (one finding per line), with a few lines of context."""
    lines = text.splitlines()
    findings = []
    for i, raw in enumerate(lines):
        line = _TIMESTAMP.sub("", raw)
        for kind, pattern in _COMPILED:
            match = pattern.search(line)
            if match:
                excerpt = "\n".join(lines[max(0, i - 2): i + 25])
                findings.append(Finding(node, kind, match.group(0).strip(), excerpt))
                break
    return findings


class ConsoleMark:
    """Console positions of a cluster's nodes at one moment."""

    def __init__(self, nodes):
        self.nodes = list(nodes)
        self.offsets = {node.name: len(node.console_text()) for node in self.nodes}

    def findings_since(self) -> list[Finding]:
        """Failures printed on any node since the mark."""
        found = []
        for node in self.nodes:
            found += scan(node.console_text()[self.offsets.get(node.name, 0):], node.name)
        return found
