"""Guest program threads stuck in the kernel, seen while a test runs.

A thread of a guest program (a file of ``/opt/phc/bin``; on a remote node a migrated thread's process has
the same name) that is in uninterruptible sleep (``D``) at every look for ``STUCK_S`` seconds, without
using any CPU time or taking a page fault in between, is stuck: it makes no progress. Waking up now and
then to wait again counts as no progress (Popcorn's ``wait_at_station`` waits in ``D`` with a timeout, in a
loop, for a reply that may never come); a thread that gets work done in short ``D`` waits (remote page
faults) takes faults and CPU time. The kernel's own hung-task detector says the like at 120 s; the hang
watchdog asks this earlier, to end a test hung at its known symptom (``harness.pytest.plugin``) instead of
waiting for the program's timeout. Threads that sleep interruptibly (``S``) or spin (``R``) are not
judged here.
"""

from __future__ import annotations

import shlex
import time

from harness.guest.programs import GUEST_BIN

#: Seconds a guest program thread must stay in ``D`` without progress to be stuck.
STUCK_S = 30.0

#: Prints the guest programs' names (cut to the 15 characters of a comm), ``---``, then the
#: ``/proc/PID/task/TID/stat`` line of each thread in ``D``.
PROBE = (
    f"ls {shlex.quote(GUEST_BIN)} 2>/dev/null | cut -c1-15; echo ---; "
    "for t in /proc/[0-9]*/task/[0-9]*; do read -r s < \"$t/stat\" 2>/dev/null || continue; "
    "case \"$s\" in *') D '*) echo \"$s\";; esac; done"
)

#: Fields of a stat line after its ``(comm)``: 0 is the state; then minflt 7, majflt 9, utime 11, stime 12.
_PROGRESS_FIELDS = (7, 9, 11, 12)


def sleeping_threads(probe_output: str) -> dict[int, tuple[str, tuple[int, ...]]]:
    """Thread id -> (comm, progress counters: page faults and CPU time) of each guest program thread in
    ``D`` in the output of ``PROBE``."""
    names, _, threads = probe_output.partition("---\n")
    programs = set(names.split())
    found: dict[int, tuple[str, tuple[int, ...]]] = {}
    for line in threads.splitlines():
        tid, _, rest = line.partition(" (")
        comm, _, after = rest.rpartition(") ")
        fields = after.split()
        if tid.isdigit() and comm in programs and len(fields) > max(_PROGRESS_FIELDS) and fields[0] == "D":
            found[int(tid)] = (comm, tuple(int(fields[i]) for i in _PROGRESS_FIELDS))
    return found


class StuckThreads:
    """Tracks one node's sleeping guest program threads across looks; says which are stuck."""

    def __init__(self, stuck_s: float = STUCK_S):
        self.stuck_s = stuck_s
        #: (thread id, comm, progress counters) -> when it was first seen so.
        self._since: dict[tuple[int, str, tuple[int, ...]], float] = {}

    def look(self, threads: dict[int, tuple[str, tuple[int, ...]]], now: float | None = None) -> list[str]:
        """Record one look (``sleeping_threads``); return ``comm[tid]`` of each thread seen in ``D`` with the
        same progress counters at every look for ``stuck_s`` seconds."""
        now = time.monotonic() if now is None else now
        current = {(tid, comm, progress) for tid, (comm, progress) in threads.items()}
        self._since = {key: self._since.get(key, now) for key in current}
        return sorted(f"{comm}[{tid}]" for (tid, comm, _), since in self._since.items() if now - since >= self.stuck_s)

    def stuck(self, node) -> list[str]:
        """Look at ``node`` (over SSH) and return its stuck threads; a failed look sees none."""
        try:
            result = node.run(PROBE, timeout=20, logged=False)
        except Exception:  # a node that does not answer is judged by its silence, not here
            return []
        return self.look(sleeping_threads(result.stdout))
