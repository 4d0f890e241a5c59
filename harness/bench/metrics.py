"""The benchmark's metrics, as a table: what each measures, in which unit, whether it needs the Popcorn
mesh, and how many samples one run of it takes by default.

Each metric is one run of the guest program ``pcn_bench`` (``harness/popcorn/guest/pcn_bench.c``) at
node 0, migrating to node 1 where it migrates; ``threads_K`` is its ``threads`` metric with K threads.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from harness.errors import UsageError
from harness.guest.programs import GUEST_BIN

PROGRAM = "pcn_bench"
#: Thread counts of the scaling metrics (threads_1 .. threads_32).
THREAD_COUNTS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class Metric:
    """One benchmark metric: its name, the guest program's metric and thread count, what one sample is,
    whether it needs the Popcorn mesh, and the samples one run takes by default."""

    name: str
    program_metric: str
    what: str
    popcorn: bool
    iterations: int
    threads: int = 1

    def command(self, profile_exports: str, iterations: int, peer: int = 1, tsc_mhz: float = 0.0) -> str:
        """The guest shell command running this metric (``profile_exports``: the ABI's syscall numbers;
        ``tsc_mhz``: the TSC's rate, measured on the host, 0 to let the program calibrate in the guest)."""
        args = [f"{GUEST_BIN}/{PROGRAM}", self.program_metric, str(iterations), str(peer), str(self.threads)]
        rate = f"PHC_TSC_MHZ={tsc_mhz:.3f} " if tsc_mhz > 0 else ""
        return f"{profile_exports} {rate}{shlex.join(args)}".strip()


METRICS: tuple[Metric, ...] = (
    Metric("migrate_rtt", "migrate_rtt", "a migration to node 1 and back (us)", True, 30),
    Metric("first_touch_read", "first_touch_read", "first read at node 1 of a page the origin owns (us)", True, 64),
    Metric("first_touch_write", "first_touch_write", "first write at node 1 of a page the origin owns (us)", True, 64),
    Metric("page_bounce", "page_bounce", "a word written in turn at the origin and node 1, there and back (us)",
           True, 30),
    Metric("futex_remote", "futex_remote", "a FUTEX_WAKE/WAIT turn between the origin and node 1, there and back (us)",
           True, 30),
    *(Metric(f"threads_{k}", "threads", f"{k} thread(s) migrating to node 1 and back at once, per round (us)",
             True, 4, k) for k in THREAD_COUNTS),
    Metric("futex_local", "futex_local", "futex_remote with both threads at the origin (us)", False, 200),
    Metric("local_touch", "local_touch", "first write to a fresh anonymous page at the origin (us)", False, 256),
    Metric("syscall", "syscall", "getppid, per call (ns)", False, 10),
    Metric("fork_exec", "fork_exec", "fork, execve /bin/true, wait (us)", False, 20),
    Metric("mmap_touch", "mmap_touch", "mmap 4 MiB, write every page, munmap (us)", False, 10),
)

BY_NAME = {metric.name: metric for metric in METRICS}
#: Metric groups ``--metrics`` accepts besides names.
GROUPS = {
    "all": tuple(METRICS),
    "popcorn": tuple(m for m in METRICS if m.popcorn),
    "plain": tuple(m for m in METRICS if not m.popcorn),
    "threads": tuple(m for m in METRICS if m.program_metric == "threads"),
}


def select_metrics(text: str) -> tuple[Metric, ...]:
    """``--metrics a,b,plain`` -> the metrics, in table order, each once; ``UsageError`` for an unknown name."""
    wanted: set[str] = set()
    for name in (part.strip() for part in text.split(",")):
        if name in GROUPS:
            wanted.update(m.name for m in GROUPS[name])
        elif name in BY_NAME:
            wanted.add(name)
        else:
            raise UsageError(f"--metrics: {name or 'an empty name'!r} is not a metric or group "
                             f"(groups: {', '.join(GROUPS)}; metrics: {', '.join(BY_NAME)})")
    return tuple(m for m in METRICS if m.name in wanted)
