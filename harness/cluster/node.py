"""One node of a running cluster: its VM, its SSH connection, and the faults it can be put through."""

from __future__ import annotations

import time
from pathlib import Path

from harness.cluster.fault_log import FaultLog
from harness.cluster.spec import ClusterSpec
from harness.guest.programs import GUEST_BIN
from harness.vm.backends.base import VM
from harness.vm.ssh import CommandResult, NodeConnection, OutputSink

#: Seconds a node gets to answer ``true`` over SSH before it counts as silent (``Node.silence``).
ANSWER_TIMEOUT_S = 20.0

#: Seconds a guest program may go on running after its test before the cluster counts as unhealthy.
LEFTOVER_GRACE_S = 15.0

#: Prints ``pid stat comm`` of every process whose comm is a guest program's name (ps truncates comm to
#: 15 characters; a migrated thread's process on a remote node has no args, only its comm).
_LEFTOVERS_SCRIPT = (
    f"ls {GUEST_BIN} 2>/dev/null | cut -c1-15 > /tmp/.phc-programs; "
    "ps -o pid,stat,comm | awk 'NR==FNR {name[$1] = 1; next} ($3 in name) {print $1, $2, $3}' /tmp/.phc-programs -"
)


class Node:
    """One node of a running cluster: its VM and its SSH connection."""

    def __init__(self, index: int, address: str, mac: str, vm: VM, connection: NodeConnection,
                 fault_log: FaultLog | None = None):
        self.index = index
        self.name = ClusterSpec.node_name(index)
        self.address = address
        self.mac = mac
        self.vm = vm
        self.ssh = connection
        self.fault_log = fault_log if fault_log is not None else FaultLog()
        #: Every ``run`` since the last reset (the pytest plugin clears it per test): a repro bundle's command log.
        self.commands: list[dict] = []
        #: Guest paths of the files ``put`` here: with the spec's extra files, the programs a look at a node that
        #: does not answer knows by name (``harness.cluster.watchdog.dumped_signs``).
        self.copied: set[str] = set()

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.address}>"

    def run(self, command: str, timeout: float = 60.0, stdin: bytes | None = None,
            logged: bool = True, sink: OutputSink | None = None) -> CommandResult:
        """Run a shell command; the result has exit code, stdout and stderr (``sink(data, is_stderr)`` gets
        them as they arrive). It is appended to ``commands`` (a repro bundle's command log) unless
        ``logged`` is false, as for the harness's own checks."""
        if not logged:
            return self.ssh.run(command, timeout=timeout, stdin=stdin, sink=sink)
        entry = {"at": round(time.time(), 3), "command": command, "timeout": timeout, "exit_code": None,
                 "stdin": stdin is not None}
        self.commands.append(entry)
        result = self.ssh.run(command, timeout=timeout, stdin=stdin, sink=sink)
        entry["exit_code"] = result.exit_code
        return result

    def succeed(self, command: str, timeout: float = 60.0) -> str:
        """Run a command that must exit 0; return its stdout."""
        return self.run(command, timeout).check().stdout

    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        """Copy a host file to the node (its path is recorded in ``copied``)."""
        self.ssh.put(local, remote, mode)
        self.copied.add(remote)

    def get(self, remote: str, local: Path, timeout: float = 120.0) -> None:
        """Copy a file from the node to the host (at most ``harness.vm.ssh.COPY_CAP_BYTES``, within
        ``timeout`` seconds)."""
        self.ssh.get(remote, local, timeout)

    def alive(self) -> bool:
        """True while the node's VM runs (one that flooded its console is stopped: ``VM.running``)."""
        return self.vm.running()

    def vm_state(self) -> str:
        """QEMU's run state of the node (``running``, ``paused``, ...) or ``dead``."""
        if not self.vm.alive():
            return "dead"
        try:
            return self.vm.state()
        except Exception:
            return "dead"

    def silence(self, timeout: float = ANSWER_TIMEOUT_S) -> str:
        """Why the node does not answer (its QEMU is gone, or ``true`` over SSH failed or took longer than
        ``timeout``), or "" when it answers. The one liveness check of the harness: the cluster's health,
        the hang watchdog and the crash watcher all ask it."""
        if not self.vm.alive():
            return "QEMU is gone"
        try:
            self.run("true", timeout=timeout, logged=False).check()
        except Exception as exc:
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ""

    def flooded(self) -> bool:
        """True if the node's console reached its cap (``VM.flooded``): it is stopped when next seen."""
        return self.vm.flooded()

    def console_text(self) -> str:
        """The node's serial console output so far."""
        return self.vm.console_text()

    def console_size(self) -> int:
        """Bytes on the node's console so far: a position for ``console_since``."""
        return self.vm.console_size()

    def console_since(self, offset: int) -> str:
        """What the node printed on its console after byte ``offset``."""
        return self.vm.console_since(offset)

    def console_tail(self, lines: int = 30) -> str:
        """The last lines of the node's console."""
        return self.vm.console_tail(lines)

    # -- faults (harness/cluster/faults.py); each is recorded in the cluster's fault log ------------------

    def crash(self) -> None:
        """Power loss, as NixOS's ``crash()``: QEMU quits at once (QMP ``quit``, SIGKILL if it lingers),
        no shutdown, no flush. The node stays dead; ``Cluster.health`` reports it."""
        self.fault_log.add("crash", self.name)
        self.ssh.close()
        self.vm.power_off()

    def pause(self) -> None:
        """Freeze the vCPUs (QMP ``stop``): the guest answers nothing, not even pings, until ``resume``."""
        self.fault_log.add("pause", self.name)
        self.vm.pause()

    def resume(self) -> None:
        """Continue the vCPUs after ``pause`` (QMP ``cont``)."""
        self.fault_log.add("resume", self.name)
        self.vm.resume()


def leftover_programs(node: Node, timeout: float = 20.0) -> list[str]:
    """``pid stat comm`` of each guest program (a file of ``/opt/phc/bin``) still running on ``node``."""
    try:
        return node.run(_LEFTOVERS_SCRIPT, timeout=timeout, logged=False).stdout.splitlines()
    except Exception as exc:  # a node that stopped answering now is as bad as a leftover
        return [f"(check failed: {str(exc).splitlines()[0]})"]
