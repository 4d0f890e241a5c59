"""The tasks of a sysrq task dump (``alt+sysrq+w``: tasks in ``D``) read from a node's console, and where
each waits: its wait channel, named as the kernel's ``/proc/PID/wchan`` would name it (the first function of
its call trace outside the scheduler's and the locks' text, from the kernel's ``System.map``). For a node
that does not answer SSH but still prints on its console (``harness.cluster.stuck``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from harness.crash.patterns import CALL_TRACE, LINE_PREFIX, TRACE_MARKER


class DumpedTask(NamedTuple):
    """A task of a sysrq task dump: its pid, name, state letter and the functions of its call trace's
    reliable frames, innermost first."""

    pid: int
    comm: str
    state: str
    frames: tuple[str, ...]


#: A task's header line in a sysrq task dump, by kernel: Linux 5.x ``comm(15 wide) D  free pid ppid
#: 0xflags``; Linux 5.14 and later ``task:comm state:D stack:N pid:N ...``.
_TASK_HEADERS = (
    re.compile(r"(?P<comm>.{15}) (?P<state>[A-Z]) *(?:running task +)?\d+ +(?P<pid>\d+) +\d+ 0x[0-9a-f]+\s*"),
    re.compile(r"task:(?P<comm>.{1,15}?) +state:(?P<state>[A-Z]) .*?\bpid: *(?P<pid>\d+)\b.*"),
)
#: A call trace frame (``func+0x1/0x2``, ``? func+0x1/0x2`` when unreliable; a module's name may follow),
#: once the console's line prefix is gone (``LINE_PREFIX``). Unlike the crash table's ``FRAME`` (which
#: titles a report by the bare function), it keeps the whole symbol (``foo.isra.0``): a wait channel is
#: named by the symbol, as ``/proc/PID/wchan`` and System.map name it.
_FRAME = re.compile(r"(?P<unreliable>\?\s+)?(?P<function>[A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+(?:\s+\[\w+\])?")


def dumped_tasks(console: str) -> list[DumpedTask]:
    """The tasks a sysrq task dump (``alt+sysrq+w``) printed in ``console``, with their call traces."""
    tasks: list[DumpedTask] = []
    current: tuple[int, str, str] | None = None
    frames: list[str] = []
    for raw in console.splitlines():
        line = LINE_PREFIX.sub("", raw, count=1).rstrip()
        header = next((m for pattern in _TASK_HEADERS if (m := pattern.fullmatch(line))), None)
        if header:
            if current:
                tasks.append(DumpedTask(*current, tuple(frames)))
            current, frames = (int(header["pid"]), header["comm"].rstrip(), header["state"]), []
        elif current and (CALL_TRACE.fullmatch(line) or TRACE_MARKER.match(line)):
            continue
        elif current and (frame := _FRAME.fullmatch(line)):
            if not frame["unreliable"]:
                frames.append(frame["function"])
        elif current:
            tasks.append(DumpedTask(*current, tuple(frames)))
            current = None
    if current:
        tasks.append(DumpedTask(*current, tuple(frames)))
    return tasks


def wait_channel(frames: Iterable[str], in_scheduler: Callable[[str], bool | None] | None) -> str:
    """The wait channel of a call trace as the kernel names it: its first function outside the scheduler's
    and the locks' text (``in_scheduler``: ``SymbolTable.in_scheduler``); ``unknown`` without a way to tell."""
    if in_scheduler is None:
        return "unknown"
    for function in frames:
        inside = in_scheduler(function)
        if inside is None:
            return "unknown"
        if not inside:
            return function
    return "unknown"
