"""Run identity and run leases: which process owns which resources, so leftovers can be found.

Every cluster gets a run id; all it creates (network namespace, QEMU processes, work dir) carries that
id in its name, and a lease under ``/run/popcorn-harness/runs/<run id>.json`` says which process owns
them. A lease whose owner is gone (and, for a detached CLI cluster, whose QEMU processes are gone too)
is stale: ``harness.vm.leftovers`` removes what it names.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.paths import PREFIX, state_dir

def new_run_id() -> str:
    """Return a fresh 8-hex-digit run id."""
    return secrets.token_hex(4)


def worker_id() -> str:
    """The pytest-xdist worker id (``gw0``...), or ``main`` outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def netns_name(run_id: str, worker: str | None = None) -> str:
    """Name of a run's network namespace: ``phc-<worker>-<run id>``."""
    return f"{PREFIX}-{worker or worker_id()}-{run_id}"


def process_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) of ``pid``, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def process_alive(pid: int, start_time: int | None = None) -> bool:
    """True if ``pid`` runs (and, when given, started at ``start_time``: no pid reuse) and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat[stat.rindex(")") + 2] == "Z":
        return False
    return start_time is None or process_start_time(pid) == start_time


@dataclass
class RunLease:
    """What one run owns. Saved before any resource is created, updated as they appear."""

    run_id: str
    owner_pid: int
    owner_start: int | None
    netns: str
    workdir: str
    detached: bool = False
    #: A detached cluster its owner has not handed over yet (``Cluster.detach``): if the owner dies now
    #: (SIGKILL during ``cluster up``), nobody will ever use it.
    booting: bool = False
    name: str = ""
    qemu_pids: list[int] = field(default_factory=list)
    #: Each QEMU's start time (``process_start_time``), beside its pid: a pid can be reused once it died.
    qemu_starts: list[int | None] = field(default_factory=list)
    spec: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @classmethod
    def new(cls, run_id: str, netns: str, workdir: str, **kwargs) -> "RunLease":
        """A lease owned by this process."""
        pid = os.getpid()
        return cls(run_id, pid, process_start_time(pid), netns, workdir, **kwargs)

    @staticmethod
    def directory() -> Path:
        """Where run leases live."""
        return state_dir("runs")

    @property
    def path(self) -> Path:
        """This lease's file."""
        return self.directory() / f"{self.run_id}.json"

    def save(self) -> None:
        """Write the lease atomically."""
        self.directory().mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory(), prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, indent=1)
        os.replace(tmp, self.path)

    def take_over(self) -> None:
        """Make this process the run's owner (``cluster down`` of a detached cluster: while it stops the
        QEMUs, the run must not look abandoned to another process's sweep)."""
        self.owner_pid = os.getpid()
        self.owner_start = process_start_time(self.owner_pid)
        self.save()

    def delete(self) -> None:
        """Remove the lease file."""
        self.path.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> "RunLease":
        """Read a lease file."""
        return cls(**json.loads(path.read_text()))

    @classmethod
    def all(cls) -> list["RunLease"]:
        """Every readable lease on this machine."""
        leases = []
        for path in sorted(cls.directory().glob("*.json")):
            try:
                leases.append(cls.load(path))
            except (OSError, ValueError, TypeError):
                continue
        return leases

    def owner_alive(self) -> bool:
        """True while the process that created the run lives."""
        return process_alive(self.owner_pid, self.owner_start)

    def is_stale(self) -> bool:
        """True when nobody can still be using this run's resources: the owner is gone and, for a
        detached (``cluster up``) run, so are all its QEMU processes (a detached run across hosts, whose
        QEMUs are elsewhere, is never stale)."""
        if self.owner_alive():
            return False
        if self.booting:
            return True
        if self.detached and self.spec.get("hosts"):
            return False  # its QEMUs run on other hosts, not here: only ``cluster down`` or ``clean --all`` end it
        return not (self.detached and any(process_alive(pid) and _is_our_qemu(pid, self.run_id)
                                          for pid in self.qemu_pids))


def qemu_start_time(lease: RunLease, index: int) -> int:
    """The start time that identifies the lease's ``index``-th QEMU; -1 (matching no process) when the pid
    now belongs to another process, for a lease written before start times were kept."""
    if index < len(lease.qemu_starts) and lease.qemu_starts[index] is not None:
        return lease.qemu_starts[index]
    pid = lease.qemu_pids[index]
    start = process_start_time(pid)
    return start if start is not None and _is_our_qemu(pid, lease.run_id) else -1


def _is_our_qemu(pid: int, run_id: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return run_id.encode() in cmdline
