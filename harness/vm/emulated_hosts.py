"""Hosts emulated on this machine, for clusters across hosts without a second machine: each "host" is a
network namespace running its own libvirtd that takes ``qemu+tcp`` connections on its address, all on one
"LAN" (a bridge in a namespace of its own, from which the harness reaches them, as it would reach real
hosts from its own namespace). What a cluster does on them goes the way it goes on real hosts: libvirt
over TCP, root commands through a command prefix (``ip netns exec`` here, ``ssh`` there), a VXLAN overlay
over the LAN.

With ``ssh=True`` each host also runs an SSH server (dropbear, key login as root only with the emulation's
own key, in a private mount namespace where ``~root/.ssh`` holds that key and ``/run/libvirt`` is the host's
daemon's), and the hosts file names them as real hosts are named: ``qemu+ssh://root@ADDRESS/system`` (libvirt's
ssh transport and ``virt-ssh-helper``) with ``ssh`` as the command prefix; ``ssh_config`` is the client's
configuration (its key, no host key checks, no file of known hosts written).

Everything carries a run id and a run lease of its own (the sweep removes what a dead emulation left:
its daemons, namespaces and work dir). ``hosts_lines`` is the hosts file (``harness.vm.hosts``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from pyroute2 import NetNS
from pyroute2 import netns as _netns

from harness.errors import InfraError
from harness.paths import PREFIX
from harness.vm import libvirtd
from harness.vm.hosts import destroy_domains
from harness.vm.keys import generate_keys
from harness.vm.network import remove_namespace
from harness.vm.runs import RunLease, netns_name, new_run_id, worker_id

LAN_BRIDGE = "lan0"
#: The LAN's MTU: room for the overlay's 50 bytes over the guests' 1500 (``harness.vm.hosts.OVERLAY_MTU``).
LAN_MTU = 1600


class EmulatedHosts:
    """``count`` emulated hosts on a LAN ``subnet`` (the harness's end takes the first address, host *i*
    the next ones). A context manager."""

    def __init__(self, count: int, subnet: str = "10.213.0.0/24", ssh: bool = False):
        self.count = count
        self.ssh = ssh
        self.network = ipaddress.IPv4Network(subnet)
        self.run_id = new_run_id()
        self.lan = netns_name(self.run_id)
        self.workdir: Path | None = None
        self.lease: RunLease | None = None
        self._made: list[str] = []

    def __enter__(self) -> "EmulatedHosts":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def namespace(self, index: int) -> str:
        """Host ``index``'s network namespace."""
        return f"{self.lan}-h{index}"

    def address(self, index: int) -> str:
        """Host ``index``'s address on the LAN."""
        return str(self.network.network_address + 2 + index)

    def uri(self, index: int) -> str:
        """Host ``index``'s libvirt URI."""
        return f"qemu+tcp://{self.address(index)}/system"

    def daemon_dir(self, index: int) -> Path:
        """Where host ``index``'s libvirtd keeps its state (``libvirtd.root_of`` of it)."""
        return self.workdir / f"h{index}"

    @property
    def ssh_config(self) -> Path:
        """The SSH client configuration that reaches the hosts (``ssh=True``)."""
        return self.workdir / "ssh" / "config"

    @property
    def ssh_config_from_here(self) -> Path:
        """An SSH client configuration that reaches the hosts (``ssh=True``) from the harness's own namespace,
        through the LAN's (``ProxyCommand``: busybox ``nc`` there): for clients that take a configuration
        file but run here, such as pytest-xdist's ``ssh=`` workers (execnet)."""
        return self.workdir / "ssh" / "config-from-here"

    @property
    def hosts_lines(self) -> tuple[str, ...]:
        """The hosts file of these hosts, as lines: ``qemu+tcp`` and ``ip netns exec``, or with ``ssh=True``
        ``qemu+ssh`` and ``ssh``."""
        if self.ssh:
            wrapper = self.workdir / "ssh" / "ssh"
            return (f"netns {self.lan}",
                    *(f"qemu+ssh://root@{self.address(i)}/system?command={wrapper} {wrapper} root@{self.address(i)}"
                      for i in range(self.count)))
        return (f"netns {self.lan}",
                *(f"{self.uri(i)} ip netns exec {self.namespace(i)}" for i in range(self.count)))

    def write_hosts_file(self, path: Path) -> Path:
        """Write the hosts file to ``path``; return it."""
        path.write_text("# hosts emulated by popcorn-harness (harness/vm/emulated_hosts.py)\n"
                        + "\n".join(self.hosts_lines) + "\n")
        return path

    def start(self) -> "EmulatedHosts":
        """Make the LAN, the hosts and their daemons. On failure, everything made so far is removed."""
        libvirtd.preflight()
        self.lease = RunLease.new(self.run_id, self.lan, "")
        self.lease.save()
        try:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{worker_id()}-{self.run_id}-hosts-"))
            self.lease.workdir = str(self.workdir)
            self.lease.save()
            self._make_lan()
            if self.ssh:
                self._make_ssh_keys()
            for index in range(self.count):
                self._make_host(index)
                libvirtd.start(self.namespace(index), self.daemon_dir(index), listen=self.address(index))
                if self.ssh:
                    self._start_sshd(index)
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def _make_lan(self) -> None:
        _netns.create(self.lan)
        self._made.append(self.lan)
        with NetNS(self.lan) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            ipr.link("add", ifname=LAN_BRIDGE, kind="bridge")
            bridge = ipr.link_lookup(ifname=LAN_BRIDGE)[0]
            ipr.addr("add", index=bridge, address=str(self.network.network_address + 1),
                     prefixlen=self.network.prefixlen)
            ipr.link("set", index=bridge, mtu=LAN_MTU, state="up")

    def _make_host(self, index: int) -> None:
        name = self.namespace(index)
        _netns.create(name)
        self._made.append(name)
        port = f"vh{index}"
        with NetNS(self.lan) as ipr:
            ipr.link("add", ifname=port, kind="veth", peer={"ifname": "eth0", "net_ns_fd": name})
            link = ipr.link_lookup(ifname=port)[0]
            ipr.link("set", index=link, mtu=LAN_MTU, master=ipr.link_lookup(ifname=LAN_BRIDGE)[0], state="up")
        with NetNS(name) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            eth = ipr.link_lookup(ifname="eth0")[0]
            ipr.addr("add", index=eth, address=self.address(index), prefixlen=self.network.prefixlen)
            ipr.link("set", index=eth, mtu=LAN_MTU, state="up")

    def _make_ssh_keys(self) -> None:
        directory = self.workdir / "ssh"
        keys = generate_keys(directory)
        (directory / "home").mkdir(mode=0o700)
        (directory / "home" / "authorized_keys").write_text(keys.client_public + "\n")
        self.ssh_config.write_text(
            f"Host *\n  User root\n  IdentityFile {keys.client_key}\n  IdentitiesOnly yes\n  BatchMode yes\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
        self.ssh_config_from_here.write_text(self.ssh_config.read_text()
                                             + f"  ProxyCommand ip netns exec {self.lan} busybox nc %h %p\n")
        wrapper = directory / "ssh"  # libvirt's ssh transport takes a command, not options
        wrapper.write_text(f'#!/bin/sh\nexec ssh -F {self.ssh_config} "$@"\n')
        wrapper.chmod(0o755)

    def _start_sshd(self, index: int) -> None:
        """dropbear on host ``index``'s address, in a private mount namespace where root's ``.ssh`` is the
        emulation's and ``/run/libvirt`` the host daemon's run dir (what ``virt-ssh-helper`` connects to)."""
        directory = self.workdir / "ssh"
        home_ssh = Path(pwd.getpwuid(0).pw_dir) / ".ssh"
        home_ssh.mkdir(mode=0o700, exist_ok=True)  # a mount point (left, empty, if it was not there)
        Path("/run/libvirt").mkdir(parents=True, exist_ok=True)
        run = libvirtd.root_of(self.daemon_dir(index)) / "run"
        inner = (f"mount --bind {directory / 'home'} {home_ssh} && mount --bind {run} /run/libvirt && "
                 f"exec dropbear -F -E -s -r {directory / 'host_key'} -p {self.address(index)}:22 "
                 f"-P {directory / f'dropbear{index}.pid'}")
        with (directory / f"dropbear{index}.log").open("wb") as log:
            subprocess.Popen(["ip", "netns", "exec", self.namespace(index), "unshare", "--mount", "--propagation",
                              "private", "--", "sh", "-c", inner], stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            probe = subprocess.run(["ip", "netns", "exec", self.lan, "ssh", "-F", str(self.ssh_config),
                                    self.address(index), "true"], capture_output=True, text=True)
            if probe.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise InfraError(f"emulated host {index}: SSH does not answer: {probe.stderr.strip()[-300:]}")
            time.sleep(0.2)

    def _stop_sshds(self) -> None:
        for pidfile in (self.workdir / "ssh").glob("dropbear*.pid"):
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)

    def stop(self) -> None:
        """Destroy what domains the hosts still run, stop their daemons, remove the namespaces, the work dir
        and the lease. Every step is tried; ``InfraError`` names the ones that failed."""
        errors = []
        if self.workdir is not None and self.ssh:
            self._stop_sshds()
        if self.workdir is not None:
            lib = libvirtd.libvirt_module()
            for index in range(self.count):
                if not (libvirtd.root_of(self.daemon_dir(index)) / "pid").exists():
                    continue
                try:
                    destroy_domains(lib.open(libvirtd.uri_of(self.daemon_dir(index))))
                except lib.libvirtError as exc:
                    errors.append(f"host {index}: domains: {exc}")
                try:
                    libvirtd.keep_capabilities(self.daemon_dir(index))
                    libvirtd.stop(self.daemon_dir(index))
                except OSError as exc:
                    errors.append(f"host {index}: libvirtd: {exc}")
        for name in reversed(self._made):
            try:
                remove_namespace(name)
            except OSError as exc:
                errors.append(f"namespace {name}: {exc}")
        self._made = []
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self.lease is not None:
            self.lease.delete()
            self.lease = None
        if errors:
            raise InfraError("emulated hosts: teardown incomplete: " + "; ".join(errors))
