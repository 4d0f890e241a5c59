"""A program of the user's own on a cluster: put it on every node, run it on node 0 with the ABI profile's
environment, watch every node's console meanwhile, and say what happened (``popcorn-harness cluster run``,
the ``run_own_program`` pytest helper and scripts using ``Cluster``).

The program goes to the same path on every node (``/opt/phc/bin/NAME``): a thread that migrates is
re-created on the remote node from the origin's executable path. Exit codes of ``cluster run``:
the program's own, or ``EXIT_TIMEOUT`` when it did not end in time, or ``EXIT_KERNEL_FINDING`` when a
node's kernel reported a problem (or stopped answering) while it ran, whatever the program returned. A
program that did not end in time is looked at once more: its threads left in ``D`` in the kernel, and
where (``harness.cluster.stuck``), are part of the summary.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.cluster.spec import ClusterSpec
from harness.cluster.watchdog import stuck_look
from harness.crash.watch import CrashWatch
from harness.errors import CommandTimeout, InfraError, UsageError
from harness.guest.programs import GUEST_BIN
from harness.popcorn.abi import AbiProfile
from harness.vm.ssh import OutputSink

#: ``cluster run`` exit code: the program did not end within its timeout (as timeout(1)).
EXIT_TIMEOUT = 124
#: ``cluster run`` exit code: a kernel finding on some node while the program ran.
EXIT_KERNEL_FINDING = 125


@dataclass
class ProgramRun:
    """What one run of a user's program did: its status and output, and every kernel finding meanwhile."""

    command: str
    exit_code: int | None  # None: no exit status (timed out, or the node stopped answering)
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    error: str = ""  # why there is no exit status, when it is not a timeout
    findings: list = field(default_factory=list)
    #: Its threads stuck in the kernel when it did not end in time (``node0: prog[57] in WCHAN``).
    stuck: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exit status 0 and no kernel finding."""
        return self.exit_code == 0 and not self.findings

    def exit_status(self) -> int:
        """The exit code ``cluster run`` gives: a kernel finding first, then a timeout, then the program's."""
        if self.findings:
            return EXIT_KERNEL_FINDING
        if self.exit_code is None:
            return EXIT_TIMEOUT if self.timed_out else EXIT_KERNEL_FINDING
        return self.exit_code

    def summary(self) -> str:
        """One line: how the program ended, and the findings (title, node)."""
        if self.timed_out:
            ended = "did not end in time" + (f" (stuck in the kernel: {', '.join(self.stuck)})" if self.stuck else "")
        elif self.exit_code is None:
            ended = f"ended without an exit status ({self.error})"
        else:
            ended = f"exited with {self.exit_code}"
        found = "; ".join(f"{f.node}: {f.title}" for f in self.findings) or "no kernel finding"
        return f"{self.command}: {ended}; {found}"


def guest_path(program: Path) -> str:
    """Where ``program`` lives on every node."""
    return f"{GUEST_BIN}/{Path(program).name}"


def check_program(program: Path) -> Path:
    """``program`` as a path to a regular host file, or a ``UsageError``."""
    path = Path(program)
    if not path.is_file():
        raise UsageError(f"no such program file: {program}")
    return path


def with_program(spec: ClusterSpec, program: Path) -> ClusterSpec:
    """The spec with ``program`` in every node's image, at ``guest_path(program)``."""
    path = check_program(program).resolve()
    return dataclasses.replace(spec, extra_files=spec.extra_files + ((str(path), guest_path(path)),))


def copy_program(cluster, program: Path) -> None:
    """Put ``program`` on every node of a running cluster (executable, at ``guest_path``)."""
    path = check_program(program)
    cluster.parallel(lambda node: node.put(path, guest_path(path), mode=0o755))


def run_program(cluster, program: Path, args: Sequence[str] = (), *, timeout: float = 300.0,
                profile: AbiProfile | None = None, sink: OutputSink | None = None) -> ProgramRun:
    """Run ``program`` (already on the nodes) on node 0 with ``args`` and the environment of the ABI
    ``profile`` (none without one), ``sink`` getting its output as it arrives; every node's console is
    watched meanwhile. Returns the run, findings included."""
    command = " ".join([shlex.quote(guest_path(program)), *map(shlex.quote, args)])
    shell = f"{profile.shell_exports()} {command}" if profile else command
    watch = CrashWatch(cluster.nodes, test=f"cluster run {Path(program).name}")
    run = ProgramRun(command=command, exit_code=None)
    try:
        result = cluster.nodes[0].run(shell, timeout=timeout, sink=sink)
        run.exit_code, run.stdout, run.stderr = result.exit_code, result.stdout, result.stderr
    except CommandTimeout:
        run.timed_out = True
        run.stuck = stuck_look(cluster).threads
    except InfraError as exc:
        run.error = str(exc).splitlines()[0]
    run.findings = watch.findings()
    return run


def parse_add(value: str) -> tuple[str, str]:
    """``LOCAL[:GUEST]`` of ``cluster up --add`` as an ``extra_files`` entry: a regular host file, and an
    absolute guest path (default ``/root/<name>``); anything else is a ``UsageError``."""
    local, _, guest = value.partition(":")
    path = Path(local)
    if not path.is_file():
        raise UsageError(f"--add {value}: {local} is not a file")
    guest = guest or f"/root/{path.name}"
    if not guest.startswith("/") or guest.endswith("/") or "\0" in guest:
        raise UsageError(f"--add {value}: the guest path must be an absolute file path")
    return str(path.resolve()), os.path.normpath(guest)
