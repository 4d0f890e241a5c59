"""Provoke kernel failures on a node on purpose, through LKDTM (``/sys/kernel/debug/provoke-crash``).

Used by the crash-corpus capture script and the crash-detection tests. The write is started detached
from the SSH session (many types never return, or take the node down under the command); callers watch
the console for the report.
"""

from __future__ import annotations

DEBUGFS = "/sys/kernel/debug"
DIRECT = f"{DEBUGFS}/provoke-crash/DIRECT"

#: Types that must be written twice to trigger (the first write returns, the second blocks).
TWICE = frozenset({"SPINLOCKUP"})


def mount_debugfs(node) -> None:
    """Mount debugfs on ``node`` unless it is mounted already."""
    node.run(f"mountpoint -q {DEBUGFS} || mount -t debugfs none {DEBUGFS}", timeout=30)


def available_types(node) -> list[str]:
    """The LKDTM crash types ``node``'s kernel offers (empty when it has no LKDTM)."""
    mount_debugfs(node)
    result = node.run(f"cat {DIRECT} 2>/dev/null", timeout=30)
    lines = result.stdout.splitlines() if result.ok else []
    return [line.strip() for line in lines[1:] if line.strip()]  # first line: "Available crash types:"


def provoke(node, crashtype: str, timeout: float = 30.0) -> None:
    """Write ``crashtype`` to LKDTM's DIRECT file on ``node`` from a detached shell and return at once;
    the report shows up on the console (``CrashWatch.wait``)."""
    mount_debugfs(node)
    write = f"echo {crashtype} > {DIRECT}"
    if crashtype in TWICE:
        node.run(write, timeout=timeout)
    node.run(f"setsid sh -c '{write}' </dev/null >/dev/null 2>&1 &", timeout=timeout)

