"""The libvirt backend: each node a transient libvirt domain (``images/templates/libvirt-domain.xml.j2``)
run by the cluster's private libvirtd (``harness/vm/libvirtd.py``), which lives in the cluster's network
namespace: libvirt makes each node's tap on the cluster's bridge under the same name as the QEMU backend's
(so link faults work alike), and the cluster API is the same.

What differs from the QEMU backend (README, "Backends"): a domain outlives the harness (libvirt's daemon
owns it: a SIGKILLed harness leaves its QEMUs to the next run's sweep, which finds them and the daemon by
the run id in their names); the console file has no size cap (libvirt has no knob for QEMU's
RLIMIT_FSIZE; a flooding node is still powered off when seen); no gdb stub. QMP goes through libvirt's
monitor passthrough. Snapshots are libvirt's own ``save`` and ``restore`` (its file format: the domain's
XML and QEMU's migration stream); a save ends the domain, so ``save_state`` restores it at once, paused.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path

from harness.errors import InfraError
from harness.vm import hosts, libvirtd
from harness.vm.backends.base import VM, Backend, VMConfig
from harness.vm.backends.qemu import qemu_binary
from harness.vm.guest_image import render_template
from harness.vm.hosts import Hosts
from harness.vm.network import BRIDGE
from harness.vm.runs import process_alive, process_start_time

#: ``VMConfig.accel`` -> (libvirt domain type, CPU mode): ``-accel tcg -cpu max`` and ``-accel kvm -cpu host``.
DOMAIN_TYPES = {"tcg": ("qemu", "maximum"), "kvm": ("kvm", "host-passthrough")}


def domain_xml(config: VMConfig, bridge: str = BRIDGE, emulator: str = "") -> str:
    """The transient domain of one node, its NIC on ``bridge``. Pure: no side effects."""
    domain_type, cpu_mode = DOMAIN_TYPES[config.accel]
    return render_template(
        "libvirt-domain.xml.j2", domain_type=domain_type, cpu_mode=cpu_mode, name=config.name,
        memory_mb=config.memory_mb, cpus=config.cpus, kernel=str(config.kernel), initrd=str(config.initrd),
        cmdline=config.cmdline, console=str(config.console_path), bridge=bridge, tap=config.tap_name,
        mac=config.mac, emulator=emulator or shutil.which(qemu_binary()) or qemu_binary())


def qemu_pid(config: VMConfig) -> int:
    """The pid of the QEMU libvirt runs for ``config``'s domain (libvirt's pid file in the daemon's run dir);
    0 for a domain on another host (its QEMU is no process of this machine's)."""
    if config.host:
        return 0
    pidfile = libvirtd.root_of(config.workdir) / "run" / "qemu" / f"{config.name}.pid"
    return int(pidfile.read_text().strip())


def open_connection(config: VMConfig, hosts: Hosts | None):
    """A libvirt connection to the daemon that runs ``config``'s domain: the host's (reached from where the
    hosts file says) or the cluster's own."""
    libvirt = libvirtd.libvirt_module()
    if config.host:
        if hosts is None:
            raise InfraError(f"{config.name}: runs on {config.host}, and no hosts file names it")
        return hosts.call(lambda: libvirt.open(config.host))
    return libvirt.open(libvirtd.uri_of(config.workdir))


class LibvirtVM(VM):
    """A transient domain of the cluster's libvirtd, driven through libvirt-python."""

    process_kind = "QEMU"

    def __init__(self, config: VMConfig, pid: int, start_time: int | None, hosts: Hosts | None = None):
        self.config = config
        self._pid = pid
        self._start_time = start_time
        self._hosts = hosts
        self._conn = None
        self._domain_id = self._current_domain_id()

    @property
    def pid(self) -> int:
        """Host process id of the domain's QEMU (0 on another host)."""
        return self._pid

    def alive(self) -> bool:
        """True while the domain's QEMU runs (on another host: while libvirt there says it is active)."""
        if not self.config.host:
            return process_alive(self._pid, self._start_time)
        libvirt = libvirtd.libvirt_module()
        try:
            return bool(self._connection().lookupByName(self.config.name).isActive())
        except (libvirt.libvirtError, OSError):  # no such domain, or its host's daemon is gone
            return False

    @property
    def instance(self) -> str:
        """``VM.instance``: on another host, the domain's id there (libvirt numbers each start anew)."""
        return f"{self.config.host} domain {self._domain_id}" if self.config.host else super().instance

    def _current_domain_id(self) -> int:
        if not self.config.host:
            return -1
        libvirt = libvirtd.libvirt_module()
        try:
            return self._connection().lookupByName(self.config.name).ID()
        except (libvirt.libvirtError, OSError):
            return -1

    def _connection(self):
        if self._conn is None:
            self._conn = open_connection(self.config, self._hosts)
        return self._conn

    def kill(self) -> None:
        """``VM.kill``; a domain on another host is destroyed again (its QEMU is no process here)."""
        if not self.config.host:
            return super().kill()
        libvirt = libvirtd.libvirt_module()
        with contextlib.suppress(libvirt.libvirtError, OSError):
            self._connection().lookupByName(self.config.name).destroy()

    def exit_code(self) -> int | None:
        """Unknown: libvirt's daemon, not the harness, is QEMU's parent."""
        return None

    def _domain(self, what: str):
        libvirt = libvirtd.libvirt_module()
        if not self.alive():
            raise InfraError(f"{self.config.name}: QEMU is not running")
        try:
            return self._connection().lookupByName(self.config.name)
        except libvirt.libvirtError as exc:
            raise InfraError(f"{self.config.name}: {what} failed: {exc}") from exc

    def _call(self, what: str, fn) -> object:
        libvirt = libvirtd.libvirt_module()
        domain = self._domain(what)
        try:
            return fn(domain)
        except libvirt.libvirtError as exc:
            raise InfraError(f"{self.config.name}: {what} failed: {exc}") from exc

    def monitor(self, command: str, **arguments) -> object:
        """Run one QMP command through libvirt's monitor passthrough; return its ``return`` value."""
        import libvirt_qemu

        request = json.dumps({"execute": command, **({"arguments": arguments} if arguments else {})})
        reply = json.loads(self._call(f"QMP {command}", lambda d: libvirt_qemu.qemuMonitorCommand(d, request, 0)))
        if "error" in reply:
            raise InfraError(f"{self.config.name}: QMP {command} failed: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def state(self) -> str:
        """QEMU's run state (QMP ``query-status``), named as the QEMU backend names it."""
        return str(self.monitor("query-status").get("status", "unknown"))

    def pause(self) -> None:
        """Freeze the vCPUs (libvirt ``suspend``)."""
        self._call("pause", lambda d: d.suspend())

    def resume(self) -> None:
        """Continue the vCPUs (libvirt ``resume``)."""
        self._call("resume", lambda d: d.resume())

    def save_state(self, path: Path, timeout: float = 120.0) -> None:
        """Save the paused domain to ``path`` (libvirt's ``save``: its own format, the domain's XML and
        QEMU's migration stream), which ends the domain, and bring it back from that file, still paused,
        as a new QEMU process (``pid`` changes): the cluster resumes its nodes together."""
        libvirt = libvirtd.libvirt_module()
        self._call("saving its state", lambda d: d.save(str(path)))
        try:
            self._conn.restoreFlags(str(path), None, libvirt.VIR_DOMAIN_SAVE_PAUSED)
        except libvirt.libvirtError as exc:
            raise InfraError(f"{self.config.name}: restoring its saved state failed: {exc}") from exc
        self._pid = qemu_pid(self.config)
        self._start_time = process_start_time(self._pid) if self._pid else None
        self._domain_id = self._current_domain_id()

    def power_off(self, timeout: float = 10.0) -> None:
        """Destroy the domain (power loss); SIGKILL its QEMU if it is still there after ``timeout``; return
        once libvirt has forgotten the domain (it does so a moment after its QEMU ended, and until then a
        new domain of the same name, a node booted again or restored, is refused as existing)."""
        libvirt = libvirtd.libvirt_module()
        try:
            conn = self._connection()
        except (libvirt.libvirtError, OSError):  # no daemon: nothing of the domain is left but its QEMU, if that
            conn = None
        try:
            if conn is not None:
                with contextlib.suppress(libvirt.libvirtError):  # gone already, or going
                    conn.lookupByName(self.config.name).destroy()
            self.wait_end_or_kill(timeout)
            deadline = time.monotonic() + timeout
            while conn is not None and time.monotonic() < deadline:
                try:
                    conn.lookupByName(self.config.name)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                        break
                time.sleep(0.05)
        finally:
            # Dropped, not closed: another thread (the crash watch asking alive()) may be inside a call on
            # it, and virConnectClose under a call in flight freed the connection beneath it (seen in a CI
            # emulation: libvirt's "is not a virObjectLockable instance", then the test worker crashed).
            # libvirt-python closes it when its last reference goes.
            self._conn = None


def run_id_of_netns(netns: str) -> str:
    """The run id in a cluster's namespace name (``harness.vm.runs.netns_name``)."""
    return netns.rsplit("-", 1)[-1]


class LibvirtBackend(Backend):
    """Runs each node as a transient domain of a libvirtd private to the cluster (started in its namespace),
    or of the libvirtd of the host a hosts file puts it on (``harness.vm.hosts``)."""

    name = "libvirt"
    takes_tap_fd = False

    def __init__(self, hosts: Hosts | None = None):
        self.hosts = hosts
        self._run_id = ""
        #: Host URI -> its QEMU binary (asked once per host: ``_emulator``).
        self._emulators: dict[str, str] = {}

    def preflight(self) -> None:
        """``UsageError`` unless libvirtd, libvirt-python and libvirt's QEMU user are there."""
        libvirtd.preflight()

    def start_run(self, netns: str, workdir) -> None:
        """Start the cluster's libvirtd in ``netns``; on hosts, stretch the cluster's bridge to a bridge of
        the run's on each (``harness.vm.hosts.stretch_bridge``, recorded first for the sweep)."""
        self._run_id = run_id_of_netns(netns)
        if self.hosts is None:
            libvirtd.start(netns, workdir)
            return
        hosts.record(workdir, self.hosts, self._run_id, f"{netns}-")
        hosts.stretch_bridge(self.hosts, self._run_id, netns, BRIDGE)

    def end_run(self, workdir) -> None:
        """Stop the cluster's libvirtd (its domains are destroyed by then), keeping its QEMU capabilities; on
        hosts, destroy what domains are left there and remove the run's bridges (``InfraError`` naming every
        step that failed)."""
        if self.hosts is not None:
            errors = hosts.release_recorded(workdir)
            if errors:
                raise InfraError("; ".join(errors))
            return
        libvirtd.keep_capabilities(workdir)
        libvirtd.stop(workdir)

    def launch(self, config: VMConfig) -> VM:
        """Create the node's transient domain; return once its QEMU runs."""
        libvirt = libvirtd.libvirt_module()
        bridge = hosts.overlay_names(self._run_id)[0] if config.host else BRIDGE
        try:
            conn = open_connection(config, self.hosts)
            try:
                if config.incoming_state is not None:  # the domain as saved (same name, console, tap), paused
                    conn.restoreFlags(str(config.incoming_state), None, libvirt.VIR_DOMAIN_SAVE_PAUSED)
                else:
                    conn.createXML(domain_xml(config, bridge, emulator=self._emulator_of(config.host, conn)), 0)
            finally:
                conn.close()
        except libvirt.libvirtError as exc:
            raise InfraError(f"{config.name}: libvirt could not start the domain: {exc}") from exc
        pid = qemu_pid(config)
        return LibvirtVM(config, pid, process_start_time(pid) if pid else None, self.hosts)

    def attach(self, config: VMConfig, pid: int, start_time: int | None = None) -> VM:
        """Re-attach to a domain an earlier process created (a detached cluster)."""
        return LibvirtVM(config, pid, start_time, self.hosts)

    def _emulator_of(self, host: str, conn) -> str:
        """The QEMU binary on ``host`` ("" on this machine: ``domain_xml`` finds it here)."""
        if host and host not in self._emulators:
            self._emulators[host] = _emulator(conn)
        return self._emulators.get(host, "")


def _emulator(conn) -> str:
    """The QEMU binary of the host ``conn`` is connected to (from its domain capabilities): it may live
    elsewhere there than here."""
    import xml.etree.ElementTree as ET

    caps = ET.fromstring(conn.getDomainCapabilities(None, "x86_64", "q35", "qemu", 0))
    return caps.findtext("path") or qemu_binary()
