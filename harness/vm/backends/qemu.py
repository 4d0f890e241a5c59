"""The QEMU backend: the command line (pure), the process, and QMP.

Each node is one ``qemu-system-x86_64`` booting ``-kernel``/``-initrd`` directly, with ``-no-reboot``
and ``panic=-1`` so a guest panic ends the process at once, its serial console in a file (no larger than
the console cap: ``RLIMIT_FSIZE``), a QMP socket, its NIC on a tap handed over as a file descriptor, and
optionally a gdb stub on a unix socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from qemu.qmp.legacy import QEMUMonitorProtocol

from harness.vm.backends.base import VM, Backend, VMConfig
from harness.errors import InfraError, UsageError
from harness.processes import die_with_parent
from harness.vm.runs import process_alive

def qemu_binary() -> str:
    """The QEMU system emulator to run (``POPCORN_HARNESS_QEMU`` overrides)."""
    return os.environ.get("POPCORN_HARNESS_QEMU", "qemu-system-x86_64")


def qemu_command(config: VMConfig, binary: str | None = None, incoming_fd: int | None = None) -> list[str]:
    """Build the QEMU command line for one node; with ``incoming_fd`` (``config.incoming_state`` open),
    a restore. Pure: no side effects."""
    cpu = "host" if config.accel == "kvm" else "max"
    cmd = [
        binary or qemu_binary(),
        "-name", f"{config.name},debug-threads=on",
        "-machine", "q35",
        "-accel", config.accel,
        "-cpu", cpu,
        "-m", str(config.memory_mb),
        "-smp", str(config.cpus),
        "-nodefaults", "-no-user-config", "-display", "none",
        "-no-reboot",
        "-kernel", str(config.kernel),
        "-initrd", str(config.initrd),
        "-append", config.cmdline,
        # append: a restored node's console goes on after the boot that made its snapshot
        "-chardev", f"file,id=console,path={config.console_path},append=on",
        "-serial", "chardev:console",
        "-qmp", f"unix:{config.qmp_path},server=on,wait=off",
        "-netdev", f"tap,id=net0,fd={config.tap_fd}",
        # romfile=: no iPXE option ROM (the kernel is loaded with -kernel, never from the network); under
        # TCG SeaBIOS spent 0.12 s running it before the kernel started (measured, README Benchmarks)
        "-device", f"virtio-net-pci,netdev=net0,mac={config.mac},romfile=",
        "-device", "virtio-rng-pci",
        # QEMU runs as root: its seccomp sandbox keeps a compromised emulator from exec'ing, raising its
        # privileges or using obsolete system calls
        "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    ]
    if incoming_fd is not None:  # a restore: load the saved state, stay paused until `cont`
        cmd += ["-S", "-incoming", f"fd:{incoming_fd}"]
    if config.gdb_socket:
        cmd += ["-chardev", f"socket,id=gdb,path={config.gdb_socket},server=on,wait=off", "-gdb", "chardev:gdb"]
    return cmd


def _copy_to_end(reader: int, fd: int) -> None:
    """Copy everything from pipe ``reader`` to ``fd`` until the writer closes it; close ``reader``."""
    try:
        while chunk := os.read(reader, 1 << 20):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(reader)


def child_setup(config: VMConfig) -> Callable[[], None]:
    """The ``preexec_fn`` of a node's QEMU: no file it writes (the console) grows past the console cap
    (``RLIMIT_FSIZE``), no core dump of the guest's RAM, and, with ``die_with_parent``, SIGKILL when the
    harness dies."""
    cap = config.console_cap

    def setup() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if config.die_with_parent:
            die_with_parent()
    return setup


class QemuVM(VM):
    """A QEMU process driven through its QMP socket."""

    process_kind = "QEMU"

    def __init__(self, config: VMConfig, process: subprocess.Popen | None = None, pid: int | None = None,
                 start_time: int | None = None):
        self.config = config
        self._process = process
        self._pid = process.pid if process else pid
        #: For an attached QEMU: its start time, so a pid reused after it died is not taken for it.
        self._start_time = start_time
        self._exit_code: int | None = None

    @property
    def pid(self) -> int:
        """Host process id of QEMU."""
        return self._pid

    def alive(self) -> bool:
        """True while QEMU runs."""
        if self._process is not None:
            code = self._process.poll()
            if code is not None:
                self._exit_code = code
            return code is None
        return process_alive(self._pid, self._start_time)

    def exit_code(self) -> int | None:
        """QEMU's exit code once it ended (only known for a process this harness started)."""
        self.alive()
        return self._exit_code

    @contextlib.contextmanager
    def _qmp(self, what: str):
        """A QMP session on the VM's socket; any failure in it is an ``InfraError`` naming ``what`` failed."""
        if not self.alive():
            raise InfraError(f"{self.config.name}: QEMU is not running")
        # The session's own event loop, closed with it: qemu.qmp's sync shim would otherwise leave one open
        # in every thread that ever used QMP, and their finalizers print errors when Python exits.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        qmp = QEMUMonitorProtocol(str(self.config.qmp_path))
        try:
            qmp.connect()
            qmp.settimeout(10)
            yield qmp
        except InfraError:
            raise
        except Exception as exc:
            raise InfraError(f"{self.config.name}: {what} failed: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):  # EOF races with `quit`
                qmp.close()
            asyncio.set_event_loop(None)
            loop.close()

    def monitor(self, command: str, **arguments) -> object:
        """Run one QMP command (``query-status``, ``stop``, ``human-monitor-command``...)."""
        with self._qmp(f"QMP {command}") as qmp:
            return qmp.cmd(command, **arguments)

    def state(self) -> str:
        """QEMU's run state (QMP ``query-status``: "running", "paused", "inmigrate", "postmigrate"...)."""
        return str(self.monitor("query-status").get("status", "unknown"))

    def save_state(self, path: Path, timeout: float = 120.0) -> None:
        """Migrate the paused VM into the file ``path`` and wait until QEMU says the migration
        completed; raise ``InfraError`` if it failed or took over ``timeout`` seconds. The VM stays paused
        (``postmigrate``). QEMU writes into a pipe (QMP ``getfd`` with the descriptor passed over the
        socket, then ``migrate fd:``) that a thread copies to ``fd``: QEMU's own writes to files are bounded
        by the console cap (``RLIMIT_FSIZE``), and a node's state is larger."""
        with open(path, "wb") as file:
            self._save_to(file.fileno(), timeout)

    def _save_to(self, fd: int, timeout: float) -> None:
        reader, writer = os.pipe()
        copier = threading.Thread(target=_copy_to_end, args=(reader, fd), name=f"save-{self.config.name}", daemon=True)
        copier.start()
        try:
            with self._qmp("saving its state") as qmp:
                # QEMU 7.2 throttles a migration to 32 MiB/s by default; a local pipe takes what it gives
                qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 2**40})
                qmp.send_fd_scm(writer)
                qmp.cmd("getfd", fdname="snapshot")
                os.close(writer)  # QEMU holds its own copy now: the copier sees the end when QEMU closes it
                writer = -1
                qmp.cmd("migrate", uri="fd:snapshot")
                deadline = time.monotonic() + timeout
                while (info := qmp.cmd("query-migrate")).get("status") != "completed":
                    if info.get("status") in ("failed", "cancelled"):
                        raise InfraError(f"{self.config.name}: saving its state {info['status']}: "
                                         f"{info.get('error-desc', 'QEMU gave no reason')}")
                    if time.monotonic() > deadline:
                        raise InfraError(f"{self.config.name}: saving its state took over {timeout:g}s")
                    time.sleep(0.02)
        finally:
            if writer >= 0:
                os.close(writer)
            copier.join(timeout)
        if copier.is_alive():
            raise InfraError(f"{self.config.name}: its saved state was not written out within {timeout:g}s")

    def pause(self) -> None:
        """Freeze the vCPUs (QMP ``stop``)."""
        self.monitor("stop")

    def resume(self) -> None:
        """Continue the vCPUs (QMP ``cont``)."""
        self.monitor("cont")

    def power_off(self, timeout: float = 10.0) -> None:
        """QMP ``quit``; SIGKILL if QEMU is still there after ``timeout``. Safe on a dead VM."""
        if self.alive():
            try:
                self.monitor("quit")
            except InfraError:
                pass
        if self.wait_end_or_kill(timeout):
            if self._process is not None:
                self._process.wait(timeout=10)
            else:
                while self.alive():
                    time.sleep(0.05)
        if self._process is not None:
            self._exit_code = self._process.wait()


class QemuBackend(Backend):
    """Runs each node as a local QEMU process."""

    name = "qemu"

    def preflight(self) -> None:
        """QEMU must be installed and we must be root (taps, namespaces)."""
        if shutil.which(qemu_binary()) is None:
            raise UsageError(f"{qemu_binary()} not found: install QEMU (apt-get install qemu-system-x86)")

    def launch(self, config: VMConfig) -> QemuVM:
        """Start QEMU (limits: ``child_setup``). With ``die_with_parent`` it is killed if the harness dies,
        even by SIGKILL."""
        log = config.console_path.with_suffix(".qemu.log").open("wb")
        incoming = os.open(config.incoming_state, os.O_RDONLY) if config.incoming_state is not None else None
        try:
            process = subprocess.Popen(
                qemu_command(config, incoming_fd=incoming),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(config.tap_fd,) + ((incoming,) if incoming is not None else ()),
                preexec_fn=child_setup(config),
                start_new_session=True,
            )
        finally:
            log.close()
            if incoming is not None:
                os.close(incoming)
        return QemuVM(config, process)

    def attach(self, config: VMConfig, pid: int, start_time: int | None = None) -> QemuVM:
        """Attach to a QEMU started by another harness process (``start_time``: see ``Backend.attach``)."""
        return QemuVM(config, pid=pid, start_time=start_time)
