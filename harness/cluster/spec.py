"""The cluster spec: plain data describing a cluster, and its validation.

A ``ClusterSpec`` is what a test, the CLI or a repro bundle says it wants; it converts to and from a
dict so it can be written to a state file or a bundle and read back. Addresses and MACs are derived
from it deterministically: node *i* gets the *i*-th host address of the subnet, the harness takes the
last one.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UsageError
from harness.vm.hosts import Hosts, parse_hosts

ACCELERATORS = ("auto", "kvm", "tcg")
BACKENDS = ("qemu", "libvirt")


#: Bounds on what a spec may ask for (a spec can come from a bundle someone else wrote).
MAX_MEMORY_MB = 64 * 1024
MAX_CPUS = 64
MAX_SECONDS = 24 * 3600.0

#: The JSON types each field may have in ``from_dict`` (bool is not a number here).
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "nodes": (int,), "kernel": (str,), "memory_mb": (int,), "cpus": (int,), "accel": (str,), "backend": (str,),
    "subnet": (str,), "boot_timeout": (int, float), "boot_stall": (int, float), "cmdline": (str,),
    "gdb": (bool,), "extra_files": (list, tuple), "modules": (list, tuple), "hosts": (list, tuple),
}


def _is_a(value: object, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


@dataclass(frozen=True)
class ClusterSpec:
    """Everything needed to boot a cluster, as plain data."""

    nodes: int = 2
    kernel: str = ""
    memory_mb: int = 256
    cpus: int = 1
    accel: str = "auto"
    backend: str = "qemu"
    subnet: str = "10.77.0.0/24"
    boot_timeout: float = 300.0
    #: Seconds a node's console may stay silent before its guest is ready (a stalled boot, booted again).
    boot_stall: float = 240.0
    cmdline: str = ""
    gdb: bool = False
    #: Extra files for the guest image: pairs of (host path, guest path).
    extra_files: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: Kernel modules (by name, with their dependencies) carried in the image, not loaded at boot:
    #: the harness or a test loads them (``insmod /lib/modules/NAME.ko``). Missing ones are skipped.
    modules: tuple[str, ...] = field(default_factory=tuple)
    #: The lines of a hosts file (``harness.vm.hosts``): the nodes run on those hosts (libvirt backend), round
    #: robin; empty: all on this machine.
    hosts: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """Return the spec as JSON-ready plain data."""
        data = dataclasses.asdict(self)
        data["extra_files"] = [list(pair) for pair in self.extra_files]
        data["modules"] = list(self.modules)
        data["hosts"] = list(self.hosts)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ClusterSpec":
        """Build a spec from ``to_dict`` output; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UsageError(f"unknown cluster spec keys: {', '.join(sorted(unknown))}")
        data = dict(data)
        for name, kinds in FIELD_TYPES.items():
            if name in data and not _is_a(data[name], kinds):
                raise UsageError(f"cluster spec {name} must be {' or '.join(k.__name__ for k in kinds)}, "
                                 f"got {type(data[name]).__name__}")
        pairs = data.get("extra_files", ())
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
            raise UsageError("cluster spec extra_files must be a list of [host path, guest path] pairs")
        if not all(isinstance(m, str) for m in data.get("modules", ())):
            raise UsageError("cluster spec modules must be a list of names")
        if not all(isinstance(line, str) for line in data.get("hosts", ())):
            raise UsageError("cluster spec hosts must be a list of hosts-file lines")
        data["hosts"] = tuple(data.get("hosts", ()))
        data["extra_files"] = tuple(tuple(p) for p in pairs)
        data["modules"] = tuple(data.get("modules", ()))
        return cls(**data)

    def validate(self) -> None:
        """Raise ``UsageError`` for any value the harness cannot boot, or an extra file that is missing.
        Touches nothing."""
        self.validate_values()
        for host_path, _ in self.extra_files:
            if not Path(host_path).is_file():
                raise UsageError(f"extra file not found: {host_path}")

    def validate_values(self) -> None:
        """Raise ``UsageError`` for any value the harness cannot boot (the host's files not looked at)."""
        if self.nodes < 1:
            raise UsageError(f"--nodes must be at least 1, got {self.nodes}")
        if self.accel not in ACCELERATORS:
            raise UsageError(f"--accel must be one of {', '.join(ACCELERATORS)}, got {self.accel!r}")
        if self.backend not in BACKENDS:
            raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.gdb and self.backend != "qemu":
            raise UsageError(f"--gdb needs the qemu backend (not {self.backend})")
        if self.hosts:
            if self.backend != "libvirt":
                raise UsageError(f"--hosts needs the libvirt backend (not {self.backend})")
            parse_hosts(self.hosts)
        if self.memory_mb < 64:
            raise UsageError(f"memory must be at least 64 MiB, got {self.memory_mb}")
        if self.cpus < 1:
            raise UsageError(f"cpus must be at least 1, got {self.cpus}")
        if self.memory_mb > MAX_MEMORY_MB:
            raise UsageError(f"memory must be at most {MAX_MEMORY_MB} MiB, got {self.memory_mb}")
        if self.cpus > MAX_CPUS:
            raise UsageError(f"cpus must be at most {MAX_CPUS}, got {self.cpus}")
        for flag, seconds in (("--boot-timeout", self.boot_timeout), ("--boot-stall", self.boot_stall)):
            if seconds <= 0:
                raise UsageError(f"{flag} must be a positive number of seconds, got {seconds:g}")
            if not seconds <= MAX_SECONDS:  # NaN fails this too: a NaN deadline would never expire
                raise UsageError(f"{flag} must be at most {MAX_SECONDS:g} seconds, got {seconds:g}")
        if any(ord(c) < 32 or ord(c) == 127 for c in self.cmdline):
            raise UsageError("--append must be one line of printable characters (it is the kernel command line)")
        try:
            net = ipaddress.IPv4Network(self.subnet)
        except ValueError as exc:
            raise UsageError(f"bad subnet {self.subnet!r}: {exc}") from None
        if net.num_addresses - 2 < self.nodes + 1:
            raise UsageError(f"subnet {self.subnet} is too small for {self.nodes} nodes and the harness")
        for _, guest_path in self.extra_files:
            if not guest_path.startswith("/") or "\0" in guest_path or ".." in guest_path.split("/"):
                raise UsageError(f"guest path of an extra file must be absolute, without '..': {guest_path!r}")

    # -- derived addressing -------------------------------------------------------------------

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The cluster's subnet."""
        return ipaddress.IPv4Network(self.subnet)

    def node_address(self, index: int) -> str:
        """IPv4 address of node ``index`` (the index-th host address of the subnet)."""
        return str(self.network.network_address + 1 + index)

    @property
    def harness_address(self) -> str:
        """The harness's own address on the cluster bridge (the last host address)."""
        return str(self.network.broadcast_address - 1)

    @property
    def prefixlen(self) -> int:
        """Prefix length of the subnet."""
        return self.network.prefixlen

    def host_list(self) -> Hosts | None:
        """The hosts the nodes run on (None: this machine)."""
        return parse_hosts(self.hosts) if self.hosts else None

    def host_of(self, index: int) -> str:
        """The libvirt URI of the host node ``index`` runs on ("" on this machine)."""
        return parse_hosts(self.hosts).of_node(index).uri if self.hosts else ""

    @staticmethod
    def node_mac(index: int) -> str:
        """Deterministic, locally administered MAC of node ``index``."""
        return f"52:54:00:7c:{index // 256:02x}:{index % 256:02x}"

    @staticmethod
    def node_name(index: int) -> str:
        """Host name of node ``index``."""
        return f"node{index}"

    @staticmethod
    def node_index(name: str) -> int:
        """The index of node ``name`` (``node_name``'s inverse)."""
        return int(name.removeprefix("node"))
