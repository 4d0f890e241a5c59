"""The VM backend interface: what the cluster needs from any way of running a node.

A backend turns a ``VMConfig`` (plain data) into a running ``VM``. The cluster never builds command
lines or talks to a hypervisor itself, so a libvirt backend (or one spanning hosts) can replace QEMU
without touching it.
"""

from __future__ import annotations

import abc
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


#: The most a node may print on its serial console in one boot. The file cannot grow past it (QEMU runs with
#: RLIMIT_FSIZE at this size; QEMU ignores the SIGXFSZ and drops what it cannot write), which bounds the
#: host's disk and what the watchers read, and a VM whose console reached it is powered off the next time
#: the harness asks whether it runs (``VM.running``: every command asks twice a second). A whole Popcorn
#: suite prints well under a MiB per node; a guest that prints 64 MiB is flooding, and that is a finding
#: (``flood``).
CONSOLE_CAP_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class VMConfig:
    """One node's VM, as plain data."""

    name: str  # unique on the host, carries the run id, e.g. "phc-gw0-1a2b3c4d-node0"
    kernel: Path
    initrd: Path
    cmdline: str
    memory_mb: int
    cpus: int
    accel: str  # "kvm" or "tcg" (resolved, never "auto")
    mac: str
    tap_fd: int
    console_path: Path
    qmp_path: Path
    #: A unix socket for QEMU's gdb stub (in the run's 0700 work dir: no other user can attach), or None.
    gdb_socket: Path | None = None
    die_with_parent: bool = True
    #: The most the guest may print on its console, in bytes (``CONSOLE_CAP_BYTES``).
    console_cap: int = CONSOLE_CAP_BYTES
    #: Restore instead of booting: the VM loads the state ``VM.save_state`` wrote to this file, and stays
    #: paused until ``VM.resume`` (its console file is appended to, not truncated).
    incoming_state: Path | None = None
    #: The node's tap device: a backend that does not take ``tap_fd`` (libvirt) has it made under this name
    #: on the cluster's bridge.
    tap_name: str = ""
    #: The run's work dir (a backend may keep its own state there: libvirt's private daemon).
    workdir: Path | None = None
    #: The libvirt URI of the host the VM runs on ("": this machine; ``harness.vm.hosts``).
    host: str = ""


#: How much of the console's end ``console_tail`` reads: far more than any tail shown, and bounded
#: however long the console has grown.
CONSOLE_TAIL_BYTES = 256 * 1024


class VM(abc.ABC):
    """A running (or finished) VM."""

    config: VMConfig
    #: What runs the VM, as its end is told ("QEMU exited").
    process_kind = "the VM process"

    @property
    @abc.abstractmethod
    def pid(self) -> int:
        """Host process id of the VM."""

    @property
    def instance(self) -> str:
        """What tells this run of the VM from an earlier one (a restore or a boot again makes a new one):
        its process id here; a backend whose VM is no process of this machine's says otherwise."""
        return f"pid {self.pid}"

    @abc.abstractmethod
    def alive(self) -> bool:
        """True while the VM process runs."""

    @abc.abstractmethod
    def exit_code(self) -> int | None:
        """The process exit code once it ended (None while running or when unknown)."""

    @abc.abstractmethod
    def monitor(self, command: str, **arguments) -> object:
        """Send one monitor (QMP) command; return its result."""

    @abc.abstractmethod
    def pause(self) -> None:
        """Stop the vCPUs (the guest freezes, its network stays up)."""

    @abc.abstractmethod
    def resume(self) -> None:
        """Continue the vCPUs after ``pause``."""

    @abc.abstractmethod
    def save_state(self, path: Path, timeout: float = 120.0) -> None:
        """Write the paused VM's whole state (RAM, devices, vCPUs) to the file ``path``, for a VM started
        later with ``VMConfig.incoming_state``; the VM stays paused (its process may be a new one)."""

    @abc.abstractmethod
    def state(self) -> str:
        """The VM's run state as its hypervisor names it ("running", "paused", "inmigrate"...)."""

    @abc.abstractmethod
    def power_off(self, timeout: float = 10.0) -> None:
        """End the VM at once (power loss); kill the process if it does not go."""

    def wait_end_or_kill(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the VM process to end (``power_off`` asked it to); ``kill`` it if
        it is still there. True when it had to be killed."""
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.alive():
            return False
        self.kill()
        return True

    def kill(self) -> None:
        """End the VM's process at once (SIGKILL to ``pid``): the last resort of ``wait_end_or_kill``."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def flooded(self) -> bool:
        """True if the VM's console reached its cap (``VMConfig.console_cap``): it printed all it may."""
        return self.console_size() >= self.config.console_cap

    def running(self) -> bool:
        """True while the VM runs and has not flooded its console; one that reached the console cap is
        powered off first (a flooding node is stopped when it is seen)."""
        if self.alive() and self.flooded():
            self.power_off()
        return self.alive()

    def end_reason(self) -> str:
        """Why the VM is not running (its process exited, or it was stopped for flooding its console)."""
        if self.flooded():
            return f"stopped for flooding its console: over {self.config.console_cap // 2**20} MiB"
        return f"{self.process_kind} exited"

    def console_text(self) -> str:
        """Everything the guest printed on its serial console so far (for artifacts; watchers read only
        what is new: ``console_size`` and ``console_since``)."""
        return self.console_since(0)

    def console_size(self) -> int:
        """Bytes the guest has printed on its console so far: a position for ``console_since``."""
        try:
            return self.config.console_path.stat().st_size
        except OSError:
            return 0

    def console_since(self, offset: int) -> str:
        """What the guest printed after byte ``offset`` of its console (read from there, not from the start)."""
        try:
            with self.config.console_path.open("rb") as console:
                console.seek(offset)
                return console.read().decode(errors="replace")
        except OSError:
            return ""

    def console_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the console (read from its last ``CONSOLE_TAIL_BYTES``)."""
        start = max(0, self.console_size() - CONSOLE_TAIL_BYTES)
        return "\n".join(self.console_since(start).splitlines()[-lines:])


class Backend(abc.ABC):
    """Starts VMs."""

    name: str
    #: True: ``launch`` takes the node's NIC as an open tap (``VMConfig.tap_fd``); False: the backend makes
    #: the tap itself, named ``VMConfig.tap_name``, on the cluster's bridge.
    takes_tap_fd = True

    def __init__(self, hosts=None):
        """``hosts`` (a ``harness.vm.hosts.Hosts``): run the VMs there; only a backend that can may take it."""
        if hosts is not None:
            from harness.errors import UsageError

            raise UsageError(f"--hosts needs the libvirt backend (not {self.name})")

    def start_run(self, netns: str, workdir: Path) -> None:
        """Prepare a cluster's run once its namespace exists, before its first ``launch`` (nothing by default)."""

    def end_run(self, workdir: Path) -> None:
        """Release what ``start_run`` made, once every VM of the run is off (nothing by default)."""

    @abc.abstractmethod
    def preflight(self) -> None:
        """Raise ``UsageError`` if this backend cannot run here (tool missing, no rights)."""

    @abc.abstractmethod
    def launch(self, config: VMConfig) -> VM:
        """Start a VM; return at once (boot continues in the background)."""

    @abc.abstractmethod
    def attach(self, config: VMConfig, pid: int, start_time: int | None = None) -> VM:
        """Re-attach to a VM started by an earlier process (a detached CLI cluster); ``start_time`` (the
        process's, from ``harness.vm.runs.process_start_time``) tells it from a later process that got
        the same pid."""
