"""Child processes that do not outlive what they belong to: shared by the VM backends and the builder."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` of a child that must get SIGKILL when the process that started it dies (a QEMU, a
    kernel build's make). Runs between fork and exec, after any change of user (which would clear it)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def end_group(process: subprocess.Popen) -> None:
    """Kill whatever is left of the process group a child leads, once it has ended or been interrupted
    (a Makefile can leave a process behind; Ctrl-C does not reach a group of its own), and reap the child."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process.poll() is None:
        process.wait()


def command_lines() -> Iterator[tuple[int, list[bytes]]]:
    """Every process of this machine with its argv (``/proc/PID/cmdline``); those gone meanwhile are skipped."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0]:
            yield int(entry.name), argv
