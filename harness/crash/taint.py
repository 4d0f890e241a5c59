"""Kernel taint: decode ``/proc/sys/kernel/tainted`` and compare it on every node before/after a test.

A taint that appears during a test is a finding (type ``taint``) unless a console report on that node
already explains it (see ``new_taint_findings``): a WARNING taints W, an oops D, a soft lockup L, and
the console report says more than the taint does.
"""

from __future__ import annotations

from harness.crash.finding import Finding

#: Taint bits of Linux 6.1 (Documentation/admin-guide/tainted-kernels.rst): bit -> (letter, meaning).
TAINT_FLAGS: dict[int, tuple[str, str]] = {
    0: ("P", "proprietary module"),
    1: ("F", "module force loaded"),
    2: ("S", "kernel running on an out of specification system"),
    3: ("R", "module force unloaded"),
    4: ("M", "machine check"),
    5: ("B", "bad page"),
    6: ("U", "taint requested by userspace"),
    7: ("D", "kernel died (oops or BUG)"),
    8: ("A", "ACPI table overridden"),
    9: ("W", "warning"),
    10: ("C", "staging driver"),
    11: ("I", "platform firmware bug workaround"),
    12: ("O", "out-of-tree module"),
    13: ("E", "unsigned module"),
    14: ("L", "soft lockup"),
    15: ("K", "kernel live patched"),
    16: ("X", "auxiliary taint"),
    17: ("T", "built with struct randomization"),
    18: ("N", "in-kernel test"),
}


def decode(value: int) -> list[tuple[str, str]]:
    """The (letter, meaning) of every bit set in a taint value; unknown bits as ("?", "bit N")."""
    return [TAINT_FLAGS.get(bit, ("?", f"bit {bit}")) for bit in range(value.bit_length()) if value >> bit & 1]


def describe(value: int) -> str:
    """``W (warning), D (kernel died (oops or BUG))`` for a taint value; ``not tainted`` for 0."""
    return ", ".join(f"{letter} ({meaning})" for letter, meaning in decode(value)) or "not tainted"


def read_taint(node, timeout: float = 10.0) -> int | None:
    """``node``'s taint value, or None when the node does not answer (dead nodes are health's business)."""
    try:
        result = node.run("cat /proc/sys/kernel/tainted", timeout=timeout, logged=False)
        return int(result.stdout.strip()) if result.ok else None
    except Exception:  # a dead or hung node: cluster.health() reports it
        return None


def read_all(nodes) -> dict[str, int | None]:
    """Taint of every node, by node name."""
    return {node.name: read_taint(node) for node in nodes if node.alive()}


def new_taint_findings(before: dict[str, int | None], after: dict[str, int | None],
                       explained: set[str], test: str = "") -> list[Finding]:
    """A ``taint`` finding for each node whose taint gained bits between ``before`` and ``after``,
    unless the node is in ``explained`` (a console report on it already covers the taint)."""
    findings = []
    for node, value in after.items():
        old = before.get(node)
        if value is None or old is None or node in explained:
            continue
        gained = value & ~old
        if gained:
            findings.append(Finding(title=f"kernel tainted: {describe(gained)}", type="taint", node=node, test=test,
                                    excerpt=f"/proc/sys/kernel/tainted: {old} -> {value}"))
    return findings
