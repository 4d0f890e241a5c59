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

Where a thread is stuck is its wait channel (``/proc/.../wchan``). After a test failed (or the watchdog
stopped it), ``stuck_signs`` turns the threads still stuck into signs ``stuck:NODE:WCHAN``: a known hang's
entry can then say where it hangs, not only that a node stopped answering.

A node too busy to answer SSH (a kernel thread spinning) still prints a sysrq task dump on its console:
``dumped_stuck_signs`` takes the guest program threads in ``D`` from such a dump (read by
``harness.crash.task_dump``, which names their wait channel as the kernel would, from the call trace and
the kernel's ``System.map``). One dump is one look: the watchdog takes it only of a node
that did not answer, after the test ran past its deadline.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import NamedTuple

from harness.cluster.node import ANSWER_TIMEOUT_S
from harness.crash.task_dump import dumped_tasks, wait_channel
from harness.guest.programs import GUEST_BIN

#: Seconds a guest program thread must stay in ``D`` without progress to be stuck.
STUCK_S = 30.0
#: Seconds between the two looks of ``stuck_signs`` (after a test failed: a thread stuck that long in the
#: same place without progress is where the test hung).
SETTLED_S = 1.0
#: Seconds one look at a node may take: as long as the harness waits for any node to answer (a node busy
#: with a kernel thread's loop answers slowly; one that does not answer is judged by its silence, not here).
LOOK_TIMEOUT_S = ANSWER_TIMEOUT_S

#: Prints the guest programs' names (cut to the 15 characters of a comm), ``---``, then for each thread in
#: ``D`` its wait channel (``/proc/.../wchan``: the first kernel function on its stack that is not the
#: scheduler's, by the kernel's own ``in_sched_functions``; needs CONFIG_KALLSYMS, not CONFIG_STACKTRACE),
#: a tab, and its ``/proc/PID/task/TID/stat`` line.
PROBE = (
    f"ls {shlex.quote(GUEST_BIN)} 2>/dev/null | cut -c1-15; echo ---; "
    "for t in /proc/[0-9]*/task/[0-9]*; do read -r s < \"$t/stat\" 2>/dev/null || continue; "
    "case \"$s\" in *') D '*) w=$(cat \"$t/wchan\" 2>/dev/null); printf '%s\\t%s\\n' \"${w:-0}\" \"$s\";; esac; done"
)

#: Fields of a stat line after its ``(comm)``: 0 is the state; then minflt 7, majflt 9, utime 11, stime 12.
_PROGRESS_FIELDS = (7, 9, 11, 12)


class Sleeper(NamedTuple):
    """A guest program thread in ``D``: its name, progress counters (page faults, CPU time) and wait channel
    (``unknown`` when the kernel could not tell)."""

    comm: str
    progress: tuple[int, ...]
    wchan: str = "unknown"


class StuckThread(NamedTuple):
    """A thread found stuck: ``pcn_vma[123] in __start_fault_handling``."""

    tid: int
    comm: str
    wchan: str

    def __str__(self) -> str:
        return f"{self.comm}[{self.tid}] in {self.wchan}"


def sleeping_threads(probe_output: str) -> dict[int, Sleeper]:
    """Thread id -> ``Sleeper`` of each guest program thread in ``D`` in the output of ``PROBE``."""
    names, _, threads = probe_output.partition("---\n")
    programs = set(names.split())
    found: dict[int, Sleeper] = {}
    for line in threads.splitlines():
        wchan, tab, stat = line.partition("\t")
        if not tab:
            wchan, stat = "0", line
        tid, _, rest = stat.partition(" (")
        comm, _, after = rest.rpartition(") ")
        fields = after.split()
        if tid.isdigit() and comm in programs and len(fields) > max(_PROGRESS_FIELDS) and fields[0] == "D":
            found[int(tid)] = Sleeper(comm, tuple(int(fields[i]) for i in _PROGRESS_FIELDS),
                                      wchan if wchan.strip("0") else "unknown")
    return found


class StuckThreads:
    """Tracks one node's sleeping guest program threads across looks; says which are stuck."""

    def __init__(self, stuck_s: float = STUCK_S):
        self.stuck_s = stuck_s
        #: (thread id, comm, progress counters, wait channel) -> when it was first seen so.
        self._since: dict[tuple[int, str, tuple[int, ...], str], float] = {}
        #: Why the last look over SSH failed ("" when it did not).
        self.failed = ""

    def look(self, threads: dict[int, Sleeper], now: float | None = None) -> list[StuckThread]:
        """Record one look (``sleeping_threads``); return each thread seen in ``D`` with the same progress
        counters and wait channel at every look for ``stuck_s`` seconds, by thread id."""
        now = time.monotonic() if now is None else now
        current = {(tid, t.comm, t.progress, t.wchan) for tid, t in threads.items()}
        self._since = {key: self._since.get(key, now) for key in current}
        return sorted(StuckThread(tid, comm, wchan) for (tid, comm, _, wchan), since in self._since.items()
                      if now - since >= self.stuck_s)

    def watching(self) -> bool:
        """Whether the last look saw any guest program thread in ``D``."""
        return bool(self._since)

    def stuck(self, node, timeout: float = LOOK_TIMEOUT_S) -> list[StuckThread]:
        """Look at ``node`` (over SSH) and return its stuck threads; a failed look sees none (``failed`` says
        why)."""
        try:
            result = node.run(PROBE, timeout=timeout, logged=False)
        except Exception as exc:  # a node that does not answer is judged by its silence, not here
            self.failed = (str(exc).splitlines() or [type(exc).__name__])[0]
            return []
        self.failed = ""
        return self.look(sleeping_threads(result.stdout))


def stuck_sign(node: str, thread: StuckThread) -> str:
    """The sign (``harness.pytest.known_failures``) of a stuck thread: ``stuck:NODE:WCHAN``."""
    return f"stuck:{node}:{thread.wchan}"


class StuckLook(NamedTuple):
    """What ``stuck_signs`` saw: the signs (sorted, once each), the threads as text (``node1: pcn_vma[123]
    in ...``; a node whose look failed: ``node0: not looked at (why)``), and the nodes it could not look at."""

    signs: list[str]
    threads: list[str]
    unanswered: list[str]


def stuck_signs(nodes, settled_s: float = SETTLED_S) -> StuckLook:
    """Where the guest programs on ``nodes`` are stuck now: two looks at every node (in parallel), ``settled_s``
    apart; a thread in ``D`` at both, in the same wait channel, without progress, gives ``stuck:NODE:WCHAN``."""
    trackers = {node.name: StuckThreads(stuck_s=settled_s) for node in nodes}

    def look(node) -> list[StuckThread]:
        return trackers[node.name].stuck(node)

    with ThreadPoolExecutor(max_workers=max(1, len(nodes)), thread_name_prefix="phc-stuck") as pool:
        list(pool.map(look, nodes))
        again = [node for node in nodes if trackers[node.name].watching()]
        if again:
            time.sleep(settled_s)
        second = dict(zip([n.name for n in again], pool.map(look, again)))
    signs = sorted({stuck_sign(name, t) for name, threads in second.items() for t in threads})
    seen = [f"{name}: {t}" for name, threads in second.items() for t in threads]
    unanswered = [name for name, tracker in trackers.items() if tracker.failed]
    seen += [f"{name}: not looked at ({trackers[name].failed})" for name in unanswered]
    return StuckLook(signs, seen, unanswered)


def program_names(guest_paths: Iterable[str]) -> set[str]:
    """The comm names (15 characters at most) of the guest programs among ``guest_paths`` (``GUEST_BIN``'s)."""
    return {path.name[:15] for path in map(PurePosixPath, guest_paths) if str(path.parent) == GUEST_BIN}


def dumped_stuck_signs(dumps: dict[str, str], programs: set[str],
                       in_scheduler: Callable[[str], bool | None] | None) -> StuckLook:
    """The guest program threads (``programs``: comm names) in ``D`` in each node's sysrq task dump (node ->
    console text), as ``stuck_signs`` gives them; their text says they come from a dump."""
    found = [(node, StuckThread(task.pid, task.comm, wait_channel(task.frames, in_scheduler)))
             for node, console in dumps.items() for task in dumped_tasks(console)
             if task.state == "D" and task.comm in programs]
    return StuckLook(sorted({stuck_sign(node, thread) for node, thread in found}),
                     [f"{node}: {thread} (sysrq dump)" for node, thread in found], [])
