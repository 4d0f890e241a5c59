"""Hung nodes, seen and handled from outside the guest.

A task stuck inside a guest kernel cannot be killed from inside the guest, and a paused or spinning node
answers nothing. So the watchdog works on QEMU: ``dump_node`` saves each vCPU's registers (QMP ``info
registers -a``) and a sysrq task dump (``alt+sysrq+w`` / ``+l`` typed on the node's keyboard through QMP,
so it works when SSH does not); ``HangWatchdog`` fires when a test runs past its deadline, names the
nodes that stopped answering and where guest programs are stuck, saves the dumps, and resets the cluster (powers every node off and drops
the SSH connections) so the test thread, blocked on a node, fails at once instead of holding a CI job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.cluster.stuck import StuckLook, dumped_stuck_signs, program_names, stuck_signs
from harness.crash.finding import Finding
from harness.crash.symbolize import SymbolTable
from harness.crash.watch import ConsoleMark, silence_finding

log = logging.getLogger(__name__)

#: sysrq keys typed on a node for a dump: w = blocked (D state) tasks, l = backtrace of every active CPU.
SYSRQ_KEYS = ("w", "l")
#: Seconds the console gets to print a sysrq dump.
SYSRQ_SETTLE_S = 3.0


@dataclass
class NodeDump:
    """What the watchdog saw of one node: its QEMU state, vCPU registers and the sysrq dump."""

    node: str
    state: str
    registers: str
    sysrq: str

    def text(self) -> str:
        """The dump as a readable report."""
        return (f"== {self.node}: QEMU state {self.state}\n\n-- info registers -a\n{self.registers}\n"
                f"-- sysrq {'+'.join(SYSRQ_KEYS)} (console)\n{self.sysrq}\n")


def _monitor_text(node, command: str) -> str:
    try:
        return str(node.vm.monitor("human-monitor-command", **{"command-line": command}))
    except Exception as exc:  # a dead QEMU has no monitor
        return f"({command} failed: {exc})"


def dump_node(node) -> NodeDump:
    """Registers of every vCPU and a sysrq dump of ``node`` (typed through QMP; a paused node's vCPUs do not
    run, so it gets registers only)."""
    state = node.vm_state()
    registers = _monitor_text(node, "info registers -a") if state != "dead" else "(QEMU is gone)"
    sysrq = "(node not running: no sysrq dump)"
    if state == "running":
        before = node.console_size()
        for key in SYSRQ_KEYS:
            try:
                node.vm.monitor("send-key", keys=[{"type": "qcode", "data": k} for k in ("alt", "sysrq", key)])
            except Exception as exc:
                sysrq = f"(send-key failed: {exc})"
                break
        time.sleep(SYSRQ_SETTLE_S)
        sysrq = node.console_since(before) or "(the console printed nothing: interrupts off or the kernel is gone)"
    return NodeDump(node.name, state, registers, sysrq)


def dumped_signs(cluster, dumps: dict[str, str]) -> StuckLook:
    """``dumped_stuck_signs`` of the cluster's guest programs in ``dumps`` (node name -> its sysrq dump), wait
    channels named from its kernel's System.map (read only when there is a dump to read). Its programs: those
    of the spec's extra files and those a test copied to a node (``Node.copied``), in ``GUEST_BIN``."""
    if not dumps:
        return StuckLook([], [], [])
    symbols = SymbolTable.for_kernel(cluster.spec.kernel)
    programs = program_names([guest for _, guest in cluster.spec.extra_files] +
                             [path for node in cluster.nodes for path in node.copied])
    return dumped_stuck_signs(dumps, programs, symbols.in_scheduler if symbols else None)


def stuck_look(cluster) -> StuckLook:
    """``stuck_signs`` of every node of ``cluster``; of a node that could not be looked at (it did not answer,
    or the look's command failed), what its sysrq dump shows (the dump is taken then)."""
    look = stuck_signs(cluster.nodes)
    if not look.unanswered:
        return look
    dumps = [dump_node(node) for node in cluster.nodes if node.name in look.unanswered]
    dumped = dumped_signs(cluster, {dump.node: dump.sysrq for dump in dumps})
    return StuckLook(sorted(set(look.signs + dumped.signs)), look.threads + dumped.threads, look.unanswered)


def save_dumps(dumps: list[NodeDump], directory: Path) -> list[Path]:
    """Write each dump to ``<directory>/<node>.hang.txt``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for dump in dumps:
        path = directory / f"{dump.node}.hang.txt"
        path.write_text(dump.text())
        paths.append(path)
    return paths


def silent_nodes(cluster, since: dict[str, int] | None = None, test: str = "") -> list[Finding]:
    """A finding for every node that does not answer (``Node.silence``): ``no output from node`` when it
    printed nothing on its console since ``since`` (offsets), else ``lost connection to node`` (also when
    its QEMU is gone)."""
    found = []
    for node in cluster.nodes:
        reason = node.silence()
        if reason:
            found.append(silence_finding(node, (since or {}).get(node.name, 0), test, reason, tail=30))
    return found


def reset(cluster) -> None:
    """Power every node off and drop its SSH connection: whatever waits on a node fails at once."""
    for node in cluster.nodes:
        try:
            node.vm.power_off(timeout=5)
        except Exception as exc:
            log.warning("%s: power off failed: %s", node.name, exc)
        try:
            node.ssh.close()
        except Exception:
            pass


#: Seconds between two looks of the watchdog's ``end_early`` check.
EARLY_POLL_S = 2.0


class HangWatchdog:
    """Fires once when a test outlives ``timeout`` seconds: finds the silent nodes, dumps every node into
    ``directory``, then resets the cluster. ``findings`` holds what it found (the test then fails with
    them); ``cancel`` stops it and waits if it is firing, so a finished test never races a reset.

    On the timeout, before it resets the cluster, it looks where guest programs are stuck: over SSH on the
    nodes that answer (``stuck_signs``), in the sysrq dump of the others (``dumped_stuck_signs``).

    ``end_early``, if given, is asked every ``EARLY_POLL_S`` seconds; when it returns ``(reason, signs)`` (a
    known hang whose symptom already shows), the watchdog resets the cluster at once, with no dumps and no
    findings of its own: ``ended_early`` holds the reason, ``early_signs`` the signs it saw that are not
    console findings (nodes that stopped answering), and the test is judged by those and its console."""

    def __init__(self, cluster, timeout: float, directory: Path, test: str = "",
                 end_early: Callable[[], tuple[str, list[str]] | None] | None = None):
        self.cluster = cluster
        self.test = test
        self.timeout = timeout
        self.directory = directory
        self.findings: list[Finding] = []
        self.fired = False
        self.ended_early = ""
        self.early_signs: list[str] = []
        #: ``stuck:NODE:WCHAN`` signs of the threads stuck when it fired on the timeout (before the reset),
        #: and those threads as text.
        self.stuck_signs: list[str] = []
        self.stuck_threads: list[str] = []
        self._end_early = end_early
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._offsets = ConsoleMark(cluster.nodes).offsets
        self._thread = threading.Thread(target=self._run, name="phc-hang-watchdog", daemon=True)

    def start(self) -> "HangWatchdog":
        """Arm the watchdog."""
        self._thread.start()
        return self

    def _wait(self) -> str:
        """Wait out the deadline; return "" when cancelled, "timeout" or "early" when it must fire."""
        if self._end_early is None:
            return "" if self._cancelled.wait(self.timeout) else "timeout"
        deadline = time.monotonic() + self.timeout
        while not self._cancelled.wait(min(EARLY_POLL_S, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return "timeout"
            seen = self._end_early()
            if seen:
                self.ended_early, self.early_signs = seen
                return "early"
        return ""

    def _run(self) -> None:
        why = self._wait()
        if not why:
            return
        with self._lock:
            if self._cancelled.is_set():
                self.ended_early = ""
                return
            self.fired = True
            if why == "early":  # the early check saw the stuck threads its symptom names (early_signs)
                log.warning("ending the test at its known symptom: %s", self.ended_early)
                reset(self.cluster)
                return
            log.warning("test still running after %gs: dumping and resetting the cluster", self.timeout)
            silent = silent_nodes(self.cluster, self._offsets, self.test)
            quiet = {finding.node for finding in silent}
            look = stuck_signs([node for node in self.cluster.nodes if node.name not in quiet])
            dumps = [dump_node(node) for node in self.cluster.nodes]
            paths = save_dumps(dumps, self.directory)
            unanswered = quiet | set(look.unanswered)
            dumped = dumped_signs(self.cluster, {d.node: d.sysrq for d in dumps if d.node in unanswered})
            self.stuck_signs = sorted(set(look.signs + dumped.signs))
            self.stuck_threads = look.threads + [f"{name}: not looked at (does not answer)" for name in sorted(quiet)] \
                + dumped.threads
            if self.stuck_threads:
                log.warning("stuck guest program threads: %s", "; ".join(self.stuck_threads))
            where = f"\ndumps (registers, sysrq): {', '.join(str(p) for p in paths)}"
            for finding in silent:
                finding.excerpt += where
            self.findings = silent or [Finding(
                title="test timed out (every node still answers)", type="hang", test=self.test,
                excerpt=f"still running after {self.timeout:g}s; every node answers SSH, so a task of the test "
                        f"is stuck (see the sysrq dumps){where}")]
            reset(self.cluster)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds until the watchdog is done (it fired, or was cancelled); whether it is."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        """Disarm; if the watchdog is firing, wait until it is done."""
        self._cancelled.set()
        with self._lock:
            pass
