"""The cluster: boots the nodes of a ``ClusterSpec`` in parallel, drives them, and tears them down.

``Cluster(spec)`` is a context manager. Start-up checks the input before creating anything (so bad
input leaves nothing behind), sweeps leftovers of dead runs, registers the run, builds the image,
creates the network, starts every VM at once and waits for each guest's ready marker and SSH. Teardown
always runs, releases every resource even when one release fails, and reports all failures together.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Protocol

from harness.vm import guest_image
from harness.vm.accel import resolve_accel
from harness.vm.backends import get_backend
from harness.vm.backends.base import VM, VMConfig
from harness.vm.leftovers import sweep_stale
from harness.errors import InfraError, UsageError
from harness.crash.parser import parse
from harness.cluster.fault_log import FaultLog
from harness.cluster.link import Link
from harness.cluster.node import ANSWER_TIMEOUT_S, LEFTOVER_GRACE_S, Node, leftover_programs
from harness.kernel.artifact import KernelImage, locate_kernel
from harness.vm.keys import RunKeys, generate_keys
from harness.cluster.host_netfaults import HostNetworkFaults
from harness.cluster.netfaults import NetworkFaults
from harness.vm.hosts import tap_on_host
from harness.vm.network import ClusterNetwork, tap_name
from harness.paths import PREFIX
from harness.vm.runs import RunLease, netns_name, new_run_id, process_start_time, qemu_start_time, worker_id
from harness.cluster.spec import ClusterSpec
from harness.vm.ssh import NodeConnection

log = logging.getLogger(__name__)

#: Seconds between two looks at the consoles while the guests boot (a look reads each console: a few KiB);
#: the harness notices a ready guest half of it later, on average.
_POLL = 0.02


class Reporter(Protocol):
    """Receives progress: the CLI shows it with rich, tests log it."""

    def phase(self, node: str, text: str) -> None:
        """Node ``node`` entered a phase ("booting", "ready in 3.1s"...)."""

    def info(self, text: str) -> None:
        """A one-line message for the user."""


class LogReporter:
    """A ``Reporter`` that writes to the ``harness.cluster.cluster`` logger."""

    def phase(self, node: str, text: str) -> None:
        """Log a node's phase."""
        log.info("%s: %s", node, text)

    def info(self, text: str) -> None:
        """Log a message."""
        log.warning("%s", text)


#: Boots of a node whose guest clock ran fast (``ClockSkew``), whose boot stalled (``BootStall``) or whose
#: kernel panicked while booting (``BootPanic``) before
#: the cluster gives up. Only that node is booted again: on a loaded host about one TCG boot in ten or
#: twenty goes wrong, so booting every node again (a 4-node cluster, three times) still failed in CI.
BOOT_ATTEMPTS = 3
#: A guest whose uptime at its ready marker exceeds this many times the host's seconds since the boot
#: began (plus ``CLOCK_SLACK_S``) has a clock that runs fast. Seen on a TCG guest of a loaded host:
#: 'tsc: Detected 54.412 MHz processor' for a 2.6 GHz TSC, uptime 3270 s after about 70 s; its
#: ``timeout 40`` ended in under a second. Its guest-side timeouts (program watchdogs included) lie.
CLOCK_SKEW_LIMIT = 2.0
CLOCK_SLACK_S = 10.0


class ClockSkew(InfraError):
    """A node's clock ran fast during boot: its kernel miscalibrated the TSC."""


class BootStall(InfraError):
    """A node's console stayed silent for ``ClusterSpec.boot_stall`` seconds before its guest was ready.
    Seen in CI on a loaded host: a TCG guest stopped after 'rtc_cmos: registered platform RTC device'
    while its two siblings were ready within 100 s, and never printed again in 600 s."""


def fast_clocks(boot_seconds: dict[str, float], guest_uptime: dict[str, float]) -> dict[str, str]:
    """The nodes whose guest uptime at the ready marker says their clock ran fast, each with why
    ("uptime 3270s after 70s"): a guest cannot have run longer than the host waited for it."""
    return {name: f"uptime {uptime:.0f}s after {boot_seconds[name]:.0f}s"
            for name, uptime in sorted(guest_uptime.items())
            if name in boot_seconds and uptime > CLOCK_SKEW_LIMIT * boot_seconds[name] + CLOCK_SLACK_S}


class BootPanic(InfraError):
    """A node's kernel panicked before its guest was ready, on every boot. Seen once in CI on a loaded host:
    Debian's 6.1 under TCG oopsed in io_apic_modify_irq (setup_IO_APIC, 'Fatal exception in interrupt')
    while its siblings booted; booted again it comes up. A kernel that panics at every boot still fails,
    with the console of its last boot (the earlier ones are kept as ``NAME.console.log.N``)."""


#: Why a node's boot went wrong -> the error the cluster raises when its last boot went that way.
BOOT_FAILURES = {"clock": ClockSkew, "stall": BootStall, "panic": BootPanic}
_BOOT_FAILURE_TEXT = {
    "clock": "guest clock ran fast during boot (TSC miscalibrated)",
    "stall": "boot stalled",
    "panic": "kernel panicked while booting",
}


def boot_panic(console: str) -> str:
    """The title of what ended a boot that ended in a kernel panic, or "": the last panic report on the
    console (``Requested init ... failed``), else (the parser folds a ``Fatal exception`` panic into the
    report it follows) the first report that is not a hang, else the first report. A hang report is
    passed over because a TCG guest starved by a loaded host reports soft lockups that do not end it
    (seen in CI: 'soft lockup in __d_instantiate' two lines before 'Requested init /no/such/init failed')."""
    if "Kernel panic - not syncing" not in console:
        return ""
    findings = parse(console)
    panics = [f for f in findings if f.type == "panic"]
    others = [f for f in findings if f.type != "hang"]
    chosen = panics[-1:] or others[:1] or findings[:1]
    return chosen[0].title if chosen else "Kernel panic"


def _save_state(vm: VM, stem: Path) -> None:
    """Save paused ``vm`` as ``STEM.state`` and its console so far as ``STEM.console``."""
    shutil.copyfile(vm.config.console_path, stem.with_name(f"{stem.name}.console"))
    vm.save_state(stem.with_name(f"{stem.name}.state"))


def require_root() -> None:
    """Namespaces and taps need root: say so in one line otherwise."""
    if os.geteuid() != 0:
        raise UsageError("popcorn-harness needs root (it creates network namespaces and tap devices)")


class Cluster:
    """A running cluster of ``spec.nodes`` VMs. Use as a context manager."""

    def __init__(self, spec: ClusterSpec, *, detached: bool = False, name: str = "",
                 reporter: Reporter | None = None):
        self.spec = spec
        self.detached = detached
        self.name = name
        self.reporter = reporter or LogReporter()
        self.run_id = new_run_id()
        self.netns = netns_name(self.run_id)
        self.nodes: list[Node] = []
        self.kernel: KernelImage | None = None
        self.accel = ""
        self.keys: RunKeys | None = None
        self.workdir: Path | None = None
        self.network: ClusterNetwork | None = None
        self.lease: RunLease | None = None
        self.boot_seconds: dict[str, float] = {}
        #: Where the last start went, phase -> seconds (sweep, image, network, boot, ssh...).
        self.timings: dict[str, float] = {}
        self.guest_uptime: dict[str, float] = {}
        self._vms: list[VM] = []
        self._started = False
        self.fault_log = FaultLog()
        self._network_faults: NetworkFaults | HostNetworkFaults | None = None
        #: Where ``save_snapshot`` put every node's state (None: no snapshot yet).
        self.snapshot: Path | None = None
        self.backend = get_backend(spec.backend, spec.host_list())
        #: True between the backend's ``start_run`` and ``end_run``.
        self._backend_run = False

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> "Cluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def preflight(self) -> KernelImage:
        """Check all input and the host before anything is created; return the kernel."""
        self.spec.validate()
        require_root()
        self.backend.preflight()
        recipe = guest_image.Recipe.load()
        for binary in recipe.binaries.values():
            guest_image.find_binary(binary)
        return locate_kernel(self.spec.kernel)

    def start(self) -> "Cluster":
        """Boot the cluster (after ``preflight``, which it runs unless the caller did). A node whose guest
        clock ran fast during boot (``fast_clocks``), whose boot stalled (``BootStall``) or whose kernel
        panicked while booting (``BootPanic``) is booted again,
        alone, up to ``BOOT_ATTEMPTS`` times in all. On any failure, everything created so far is released."""
        if self.kernel is None:
            self.kernel = self.preflight()
        try:
            self._start()
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def _lap(self, phase: str) -> None:
        """Record in ``timings`` the seconds since the previous lap as ``phase``."""
        now = time.monotonic()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self._lap_at
        self._lap_at = now

    def _start(self) -> None:
        self.boot_seconds, self.guest_uptime = {}, {}
        self.timings = {}
        self._lap_at = time.monotonic()
        for leftover in sweep_stale():
            self.reporter.info(f"removed leftover of a dead run: {leftover}")
        self.lease = RunLease.new(self.run_id, self.netns, "", detached=self.detached, booting=self.detached,
                                  name=self.name, spec=self.spec.to_dict())
        self.lease.save()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{worker_id()}-{self.run_id}-"))
        self.lease.workdir = str(self.workdir)
        self.lease.save()
        self._lap("sweep and lease")
        self.keys = generate_keys(self.workdir / "keys")
        self._lap("keys")
        initrd = self._build_initrd()
        self._lap("image")
        self.accel = resolve_accel(self.spec.accel, self.kernel.bzimage, say=self.reporter.info)
        self._lap("accelerator")
        self.network = ClusterNetwork(self.netns, self.spec.harness_address, self.spec.prefixlen)
        self.network.create()
        self._backend_run = True
        self.backend.start_run(self.netns, self.workdir)
        self._lap("network")
        self._vms = [None] * self.spec.nodes
        # each node's first SSH connection starts as soon as its guest is ready, while the others boot
        early: dict[int, tuple[NodeConnection, Future]] = {}
        made: list[NodeConnection] = []
        try:
            with ThreadPoolExecutor(max_workers=self.spec.nodes) as connector:
                def connect_now(index: int) -> None:
                    connection = self._connection(index, self._vms[index])
                    made.append(connection)
                    early[index] = (connection, connector.submit(connection.connect, 120.0))

                self._boot_all(initrd, connect_now)
                self._lap("boot")
                self.lease.extra = {"accel": self.accel, "host_public": self.keys.host_public,
                                     "kernel": str(self.kernel.bzimage)}
                self._record_qemus()
                self._connect_all(early)
                self._lap("ssh")
        finally:
            adopted = {id(node.ssh) for node in self.nodes}
            for connection in made:  # replaced (its node booted again) or never adopted (a failed boot)
                if id(connection) not in adopted:
                    with contextlib.suppress(Exception):
                        connection.close()
        self._started = True

    def _boot_all(self, initrd: Path, on_ready: Callable[[int], None]) -> None:
        """Boot every node (``on_ready(index)`` as each guest gets ready, again for a node booted again); a
        node that stalled, panicked or whose clock runs fast is booted again, alone, up to ``BOOT_ATTEMPTS``
        times in all."""
        pending = list(range(self.spec.nodes))
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            started = time.monotonic()
            self._launch(pending, initrd)
            failed = self._wait_ready(started, pending, on_ready)
            wrong = {**failed,
                     **{name: ("clock", why) for name, why in fast_clocks(self.boot_seconds, self.guest_uptime).items()}}
            if not wrong:
                return
            if attempt == BOOT_ATTEMPTS:
                kind = next(iter(wrong.values()))[0]
                tails = "".join(f"\n--- {name} console tail:\n{self._vms[ClusterSpec.node_index(name)].console_tail(15)}"
                                for name, (k, _) in sorted(wrong.items()) if k in ("stall", "panic"))
                raise BOOT_FAILURES[kind]("; ".join(f"{name}: {_BOOT_FAILURE_TEXT[k]}: {why}"
                                                    for name, (k, why) in sorted(wrong.items())) + tails)
            pending = sorted(ClusterSpec.node_index(name) for name in wrong)
            for name, (kind, why) in sorted(wrong.items()):
                self.reporter.info(f"{name}: {_BOOT_FAILURE_TEXT[kind]}: {why}: booting it again "
                                   f"({attempt + 1}/{BOOT_ATTEMPTS})")
                self.boot_seconds.pop(name, None)
                self.guest_uptime.pop(name, None)
            self._power_off(pending, attempt)

    def _launch(self, indexes: list[int], initrd: Path, snapshot: Path | None = None) -> None:
        """Start the VMs of nodes ``indexes`` (each on a fresh tap of its own); with ``snapshot``, each
        loads its saved state (``NAME.state``) and stays paused."""
        for index in indexes:
            name = ClusterSpec.node_name(index)
            state = snapshot / f"{name}.state" if snapshot else None
            tap_fd = self.network.open_tap(index) if self.backend.takes_tap_fd else -1
            try:
                vm = self.backend.launch(self._vm_config(index, initrd, tap_fd, state))
            finally:
                if tap_fd >= 0:
                    os.close(tap_fd)
            self._vms[index] = vm
            self.lease.qemu_pids.append(vm.pid)  # for the sweep, should this process die while booting
            self.lease.save()
            self.reporter.phase(name, "restoring" if snapshot else "booting")

    def _record_qemus(self) -> None:
        """Write the nodes' QEMUs to the run lease, in node order, one each (``_launch`` appended every one
        it started, a node booted again included), with their start times."""
        self.lease.qemu_pids = [vm.pid for vm in self._vms]
        self.lease.qemu_starts = [process_start_time(vm.pid) for vm in self._vms]
        self.lease.save()

    def _power_off(self, indexes: list[int], attempt: int) -> None:
        """Stop the VMs of nodes ``indexes``, keeping each console as ``NAME.console.log.ATTEMPT``."""
        for index in indexes:
            vm = self._vms[index]
            vm.power_off()
            if vm.config.console_path.exists():
                vm.config.console_path.rename(vm.config.console_path.with_name(
                    f"{vm.config.console_path.name}.{attempt}"))

    def _build_initrd(self) -> Path:
        recipe = guest_image.Recipe.load()
        modules = guest_image.resolve_modules(self.kernel.modules_root, recipe.load_modules)
        base = guest_image.base_image(recipe, modules)
        extra = [(Path(host), guest) for host, guest in self.spec.extra_files]
        carried = guest_image.resolve_modules(self.kernel.modules_root, self.spec.modules).files
        overlay = guest_image.build_overlay(self.keys.host_key, self.keys.client_public, extra, carried)
        return guest_image.assemble_initrd(base, overlay, self.workdir / "initrd.cpio")

    def _vm_config(self, index: int, initrd: Path, tap_fd: int, incoming_state: Path | None = None) -> VMConfig:
        name = ClusterSpec.node_name(index)
        address = self.spec.node_address(index)
        cmdline = " ".join(filter(None, [
            # no_timer_check: on a loaded host a TCG guest can miss the IO-APIC timer check and panic at boot
            "console=ttyS0 panic=-1 printk.time=1 random.trust_cpu=on no_timer_check",
            f"{guest_image.PARAM_PREFIX}name={name}",
            f"{guest_image.PARAM_PREFIX}addr={address}/{self.spec.prefixlen}",
            f"{guest_image.PARAM_PREFIX}mac={ClusterSpec.node_mac(index)}",
            "nokaslr" if self.spec.gdb else "",  # symbols in vmlinux match the running kernel
            self.spec.cmdline,
        ]))
        return VMConfig(
            name=f"{self.netns}-{name}",
            kernel=self.kernel.bzimage,
            initrd=initrd,
            cmdline=cmdline,
            memory_mb=self.spec.memory_mb,
            cpus=self.spec.cpus,
            accel=self.accel,
            mac=ClusterSpec.node_mac(index),
            tap_fd=tap_fd,
            console_path=self.workdir / f"{name}.console.log",
            qmp_path=self.workdir / f"{name}.qmp",
            gdb_socket=self.workdir / f"{name}.gdb" if self.spec.gdb else None,
            die_with_parent=not self.detached,
            incoming_state=incoming_state,
            tap_name=tap_on_host(self.run_id, index) if self.spec.hosts else tap_name(index),
            workdir=self.workdir,
            host=self.spec.host_of(index),
        )

    def _wait_ready(self, started: float, indexes: list[int],
                    on_ready: Callable[[int], None]) -> dict[str, tuple[str, str]]:
        """Wait until the guests of nodes ``indexes`` are ready (``boot_seconds``, ``guest_uptime``; then
        ``on_ready(index)``), stalled, or ended in a kernel panic; return the failed ones as name -> (``"stall"``
        or ``"panic"``, why). A
        QEMU that exits without a panic on its console, or a node neither ready nor failed by the boot
        timeout, is an ``InfraError``."""
        marker = guest_image.Recipe.load().ready_marker
        deadline = time.monotonic() + self.spec.boot_timeout
        pending = {ClusterSpec.node_name(i): self._vms[i] for i in indexes}
        printed = {name: (0, time.monotonic()) for name in pending}  # console length, when it last grew
        failed = {}
        while pending:
            for name, vm in list(pending.items()):
                text = vm.console_text()
                if marker in text:
                    line = text[text.index(marker):].splitlines()[0]
                    self.boot_seconds[name] = time.monotonic() - started
                    with contextlib.suppress(ValueError, IndexError):
                        self.guest_uptime[name] = float(line.split("uptime=")[1])
                    self.reporter.phase(name, f"guest ready after {self.boot_seconds[name]:.1f}s")
                    del pending[name]
                    on_ready(ClusterSpec.node_index(name))
                elif not vm.alive() and (panic := boot_panic(text)):
                    failed[name] = ("panic", panic)
                    del pending[name]
                elif not vm.alive():
                    raise InfraError(f"{name}: QEMU exited (code {vm.exit_code()}) before the guest was ready"
                                     f"{self._qemu_stderr(vm)}\nconsole tail:\n{vm.console_tail()}")
                elif len(text) != printed[name][0]:
                    printed[name] = (len(text), time.monotonic())
                elif time.monotonic() - printed[name][1] > self.spec.boot_stall:
                    failed[name] = ("stall", f"console silent for {self.spec.boot_stall:.0f}s before the guest was ready")
                    del pending[name]
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"--- {n} console tail:\n{vm.console_tail(15)}" for n, vm in pending.items())
                raise InfraError(f"nodes {', '.join(pending)} not ready within {self.spec.boot_timeout:.0f}s\n{tails}")
            if pending:
                time.sleep(_POLL)
        return failed

    @staticmethod
    def _qemu_stderr(vm: VM) -> str:
        path = vm.config.console_path.with_suffix(".qemu.log")
        text = path.read_text(errors="replace").strip() if path.exists() else ""
        return f": {text.splitlines()[-1]}" if text else ""

    def _connection(self, index: int, vm: VM) -> NodeConnection:
        return NodeConnection(ClusterSpec.node_name(index), self.spec.node_address(index),
                              self.network.connect, self.keys.client_key, self.keys.host_public,
                              console_tail=vm.console_tail, vm_alive=vm.running, vm_end_reason=vm.end_reason)

    def _connect_all(self, early: dict[int, tuple[NodeConnection, Future]]) -> None:
        """Make ``nodes``, each with its connection of ``early`` (started when its guest got ready: every node
        has one once ``_boot_all`` returned), and wait until each is connected."""
        self.nodes = [Node(i, self.spec.node_address(i), ClusterSpec.node_mac(i), vm, early[i][0], self.fault_log)
                      for i, vm in enumerate(self._vms)]
        for node in self.nodes:
            early[node.index][1].result()
            self.reporter.phase(node.name, "SSH up")

    def stop(self) -> None:
        """Release everything: connections, VMs, network, work dir, lease. Errors are collected."""
        errors: list[str] = []

        def attempt(what: str, fn: Callable[[], object]) -> None:
            try:
                fn()
            except Exception as exc:  # keep releasing the rest
                errors.append(f"{what}: {exc}")

        if self.lease is not None and not self.lease.owner_alive():
            # an attached detached cluster: once its QEMUs are off, a sweep elsewhere would take the run
            # for abandoned and remove what this teardown is about to remove (seen: "work dir: No such file")
            attempt("run lease", self.lease.take_over)
        for node in self.nodes:
            attempt(f"{node.name} ssh", node.ssh.close)
        if self._network_faults is not None:  # relay threads hold fds in the namespace
            attempt("network faults", self._network_faults.heal)
            self._network_faults = None
        vms = [vm for vm in self._vms if vm is not None]  # a boot that failed midway left slots empty
        if vms:
            with ThreadPoolExecutor(max_workers=len(vms)) as pool:
                futures = [(vm, pool.submit(vm.power_off)) for vm in vms]
            for vm, future in futures:
                attempt(f"{vm.config.name} power off", future.result)
        if self._backend_run:
            attempt(f"{self.spec.backend} backend", lambda: self.backend.end_run(self.workdir))
            self._backend_run = False
        if self.network is not None:
            attempt("network", self.network.destroy)
        if self.workdir is not None:
            attempt("work dir", lambda: shutil.rmtree(self.workdir))
        if self.lease is not None:
            attempt("run lease", self.lease.delete)
        self.nodes, self._vms, self.network, self.workdir, self.lease = [], [], None, None, None
        self._started = False
        if errors:
            raise InfraError("teardown incomplete: " + "; ".join(errors))

    # -- snapshots ----------------------------------------------------------------------------------

    def save_snapshot(self) -> Path:
        """Save every node's whole state (``NAME.state`` in the work dir's ``snapshot/``, and its console so
        far as ``NAME.console``), all paused together so that the state of the connections between them
        (the Popcorn mesh's TCP) agrees, then let them run on. ``restore_snapshot`` brings the cluster back
        to this moment. Return the directory."""
        directory = self.workdir / "snapshot"
        directory.mkdir(exist_ok=True)
        with ThreadPoolExecutor(max_workers=len(self._vms)) as pool:
            list(pool.map(lambda vm: vm.pause(), self._vms))
            try:
                list(pool.map(lambda item: _save_state(item[1], directory / ClusterSpec.node_name(item[0])),
                              enumerate(self._vms)))
            finally:
                list(pool.map(lambda vm: vm.resume(), self._vms))
        self._record_qemus()  # a backend may save a VM by ending its process and starting another
        self.snapshot = directory
        return directory

    def restore_snapshot(self, timeout: float = 60.0) -> None:
        """Replace every node by its saved state (``save_snapshot``): SSH closed, network faults healed,
        each VM powered off and started again from its state on a fresh tap (its console file is again
        what the guest had printed by the snapshot, and goes on from there), all resumed together once
        every one has loaded, and SSH connected anew. ``InfraError`` if there is no snapshot or a node
        does not come back within ``timeout`` seconds."""
        if self.snapshot is None:
            raise InfraError("no snapshot of this cluster to restore")
        self._halt()
        for index, vm in enumerate(self._vms):
            shutil.copyfile(self.snapshot / f"{ClusterSpec.node_name(index)}.console", vm.config.console_path)
        self._launch(list(range(self.spec.nodes)), self.workdir / "initrd.cpio", self.snapshot)
        self._record_qemus()
        self._wait_loaded(timeout)
        with ThreadPoolExecutor(max_workers=len(self._vms)) as pool:
            list(pool.map(lambda vm: vm.resume(), self._vms))
        for node, vm in zip(self.nodes, self._vms):
            node.vm, node.ssh = vm, self._connection(node.index, vm)
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(lambda node: node.ssh.connect(timeout), self.nodes))

    def park(self) -> None:
        """Set aside a cluster that has a snapshot: SSH closed, network faults healed, every VM powered off,
        while its work dir (the snapshot, the image), network namespace and run lease stay. A parked
        cluster costs disk only; ``restore_snapshot`` brings it back as it was at its snapshot, ``stop``
        releases it, and the sweep removes it with its run should the owner die. ``InfraError`` without a
        snapshot."""
        if self.snapshot is None:
            raise InfraError("no snapshot of this cluster to park it on")
        self._halt()
        self.lease.qemu_pids, self.lease.qemu_starts = [], []
        self.lease.save()

    def _halt(self) -> None:
        """Close SSH, heal network faults and power every VM off (``park``, ``restore_snapshot``)."""
        for node in self.nodes:
            node.ssh.close()
        if self._network_faults is not None:
            self._network_faults.heal()
            self._network_faults = None
        with ThreadPoolExecutor(max_workers=len(self._vms)) as pool:
            list(pool.map(lambda vm: vm.power_off(), self._vms))

    def _wait_loaded(self, timeout: float) -> None:
        """Wait until every restored VM has loaded its state (QEMU's run state ``paused``)."""
        deadline = time.monotonic() + timeout
        waiting = dict(enumerate(self._vms))
        while waiting:
            for index, vm in list(waiting.items()):
                if not vm.alive():
                    raise InfraError(f"{ClusterSpec.node_name(index)}: QEMU exited (code {vm.exit_code()}) while "
                                     f"restoring its snapshot{self._qemu_stderr(vm)}")
                with contextlib.suppress(InfraError):  # the QMP socket appears a moment after the process
                    if vm.state() == "paused":
                        del waiting[index]
            if waiting and time.monotonic() > deadline:
                raise InfraError(f"nodes {', '.join(ClusterSpec.node_name(i) for i in waiting)} did not load "
                                 f"their snapshot within {timeout:g}s")
            time.sleep(0.01)

    @classmethod
    def find_lease(cls, name: str) -> RunLease | None:
        """The live cluster called ``name`` (``cluster up``, or an interactive session), if any."""
        for lease in RunLease.all():
            if name and lease.name == name and not lease.is_stale():
                return lease
        return None

    @classmethod
    def attach(cls, name: str, reporter: Reporter | None = None, connect: bool = True) -> "Cluster":
        """Re-open a detached cluster (``cluster up``) from its run lease."""
        lease = cls.find_lease(name)
        if lease is None:
            raise UsageError(f"no cluster named {name!r} is up (start one with: popcorn-harness cluster up)")
        if lease.booting or "kernel" not in lease.extra:
            raise UsageError(f"cluster {name!r} is still booting (if its cluster up was killed, "
                             f"popcorn-harness clean removes it)")
        cluster = cls(ClusterSpec.from_dict(lease.spec), detached=True, name=name, reporter=reporter)
        cluster.run_id, cluster.netns, cluster.lease = lease.run_id, lease.netns, lease
        cluster.workdir = Path(lease.workdir)
        cluster.accel = lease.extra.get("accel", "")
        cluster.kernel = locate_kernel(lease.extra["kernel"])
        keydir = cluster.workdir / "keys"
        cluster.keys = RunKeys(keydir / "host_key", lease.extra["host_public"], keydir / "client_key", "")
        cluster.network = ClusterNetwork(lease.netns, cluster.spec.harness_address, cluster.spec.prefixlen)
        cluster._backend_run = True  # what the backend made for the run (libvirt's daemon) is this one's to end
        cluster._vms = [
            cluster.backend.attach(cluster._vm_config(i, cluster.workdir / "initrd.cpio", -1), pid,
                           qemu_start_time(lease, i))
            for i, pid in enumerate(lease.qemu_pids)
        ]
        cluster.nodes = [Node(i, cluster.spec.node_address(i), ClusterSpec.node_mac(i), vm, cluster._connection(i, vm),
                              cluster.fault_log)
                         for i, vm in enumerate(cluster._vms)]
        if connect:
            for node in cluster.nodes:
                if node.alive():
                    with contextlib.suppress(InfraError):
                        node.ssh.connect(timeout=10)
        return cluster

    def detach(self) -> None:
        """Leave a detached cluster running: close connections only. The first detach hands the cluster
        over (until then, a detached cluster whose owner died was still booting: the sweep removes it)."""
        if self.lease is not None and self.lease.booting and self._started:
            self.lease.booting = False
            self.lease.save()
        for node in self.nodes:
            node.ssh.close()

    # -- operations ---------------------------------------------------------------------------

    def node(self, name_or_index: str | int) -> Node:
        """A node by index, ``nodeN`` name or address."""
        for node in self.nodes:
            if name_or_index in (node.index, node.name, node.address, str(node.index)):
                return node
        raise UsageError(f"no node {name_or_index!r} (this cluster has {', '.join(n.name for n in self.nodes)})")

    def node_groups(self, groups: list[list]) -> list[list[int]]:
        """Node indices of ``groups`` given as indices, names or addresses; a node may be in one group only."""
        resolved = [[self.node(member).index for member in group] for group in groups]
        seen: set[int] = set()
        for group in resolved:
            if seen & set(group):
                raise UsageError(f"a node is in two partition groups: {groups}")
            seen |= set(group)
        return resolved

    def parallel(self, fn: Callable[[Node], object]) -> list[object]:
        """Call ``fn(node)`` for every node concurrently; return results in node order."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            return [f.result() for f in [pool.submit(fn, node) for node in self.nodes]]

    def health(self, timeout: float = ANSWER_TIMEOUT_S, grace: float = LEFTOVER_GRACE_S) -> list[str]:
        """Problems that make the cluster unfit for the next test (empty list = healthy): a node whose
        QEMU exited, a node not answering SSH, or a guest program (``/opt/phc/bin``) still running after
        ``grace`` seconds, which is how a task stuck in the kernel (D state, unkillable) shows."""
        def problem(node: Node) -> str:
            if not node.alive():
                return f"{node.name}: {node.vm.end_reason()} (code {node.vm.exit_code()})"
            if node.vm_state() == "paused":  # known at once, without waiting for SSH to time out
                return f"{node.name}: paused (vCPUs stopped)"
            silence = node.silence(timeout)
            return f"{node.name}: not answering SSH ({silence})" if silence else ""

        # The nodes are asked at once (a 4-node check took 0.39 s one node after the other, 4x a no-op's)
        found = self.parallel(problem)
        problems = [p for p in found if p]
        answering = [node for node, p in zip(self.nodes, found) if not p]
        deadline = time.monotonic() + grace
        while True:
            rows = self.parallel(lambda node: leftover_programs(node, timeout) if node in answering else [])
            left = [f"{node.name}: {row}" for node, node_rows in zip(self.nodes, rows) for row in node_rows]
            if not left or time.monotonic() >= deadline:
                return problems + [f"guest program left running: {row}" for row in left]
            time.sleep(1)

    # -- network faults (harness/cluster/faults.py, harness/cluster/netfaults.py) ------------------------------

    def network_faults(self) -> NetworkFaults | HostNetworkFaults:
        """The partitions and link faults applied to this cluster's network: on a cluster across hosts, where
        its nodes' taps are on the hosts, partitions only (``harness.cluster.host_netfaults``)."""
        if self._network_faults is None:
            addresses = [n.address for n in self.nodes]
            self._network_faults = HostNetworkFaults(self.spec.host_list(), self.run_id, addresses) \
                if self.spec.hosts else NetworkFaults(self.netns, addresses)
        return self._network_faults

    def partition(self, groups: list[list]) -> None:
        """Cut all IPv4 traffic between ``groups`` of nodes (indices, names or addresses), e.g.
        ``[[0], [1, 2]]``; each group still talks within itself, nodes in no group talk to everyone,
        and the harness still reaches every node. Replaces an earlier partition."""
        indices = self.node_groups(groups)
        self.network_faults().partition(indices)
        self.fault_log.add("partition", [[self.nodes[i].name for i in g] for g in indices])

    def heal(self, reason: str = "") -> bool:
        """Remove every partition and link fault; True if there was any (then it is logged, with
        ``reason`` if given). Paused and crashed nodes stay as they are."""
        if self.network is None or not self.nodes:
            return False
        healed = self.network_faults().heal()  # also finds partition filters another process left
        if healed:
            self.fault_log.add("heal", **({"reason": reason} if reason else {}))
        return healed

    def link(self, node: "Node | str | int") -> Link:
        """Delay and loss on one node's link: ``cluster.link(1).delay(100)``."""
        return Link(self.network_faults(), self.fault_log, node if isinstance(node, Node) else self.node(node))
