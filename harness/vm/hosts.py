"""Clusters across hosts (the libvirt backend): the hosts file, where each node runs, and the overlay that
stretches the cluster's bridge to every host.

A hosts file names one host a line, as a libvirt URI and the command that runs a root shell command on it:

    # URI                              command prefix (default for qemu+ssh: ssh [-p PORT] [USER@]HOST)
    qemu+ssh://root@hostb/system
    qemu+tcp://10.213.0.11/system      ip netns exec phc-main-1a2b3c4d-h0
    netns phc-main-1a2b3c4d            # optional: the namespace the harness reaches the hosts from

Node *i* runs on host *i mod N* (round robin: a 2-node cluster on two hosts spans both). Each host gets, for
the run, a bridge ``phb<run id>`` and a VXLAN device ``phx<run id>`` on it (VNI from the run id, UDP 4789,
head-end replication to every other host and to the harness: no multicast needed); the harness's end of the
overlay is a VXLAN device made in the namespace it reaches the hosts from and moved onto the cluster's own
bridge, so the nodes file, the addresses and SSH to the nodes are unchanged: every node is one hop away on
the cluster's subnet wherever it runs. ``hosts.json`` in the run's work dir names what was made, for the
sweep of a run that died.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError, UsageError

VXLAN_PORT = 4789
#: The overlay's MTU: the guests' 1500 bytes; the underlay carries 50 more per frame (VXLAN over IPv4), so it
#: wants an MTU of 1550 (the emulated hosts' links have 1600); on a 1500-byte underlay the kernel fragments.
OVERLAY_MTU = 1500
#: What the hosts-file sweep of a dead run waits for one host's shell.
HOST_COMMAND_TIMEOUT_S = 60.0
HOSTS_RECORD = "hosts.json"


@dataclass(frozen=True)
class Host:
    """One host of a cluster: its libvirt URI and the command prefix that runs a root command on it."""

    uri: str
    shell: tuple[str, ...]

    @property
    def hostname(self) -> str:
        """The host part of the URI (its address on the underlay, or a name that resolves to it)."""
        return urllib.parse.urlsplit(self.uri).hostname or ""

    def address(self) -> str:
        """The host's IPv4 address on the underlay (its URI's host, resolved)."""
        try:
            return socket.gethostbyname(self.hostname)
        except OSError as exc:
            raise InfraError(f"host {self.uri}: cannot resolve {self.hostname}: {exc}") from None

    def run_script(self, script: str, netns: str = "", timeout: float = HOST_COMMAND_TIMEOUT_S) -> str:
        """Run a shell script as root on the host (``sh -s`` through its command prefix, the script on stdin:
        no quoting differs between ``ssh`` and a local prefix), the prefix started in ``netns`` (where the
        harness reaches the hosts from; "" its own); return its output. ``InfraError`` with its output if it
        fails."""
        where = ["ip", "netns", "exec", netns] if netns else []
        try:
            result = subprocess.run([*where, *self.shell, "sh", "-s"], input=script, capture_output=True, text=True,
                                    timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InfraError(f"host {self.uri}: {' '.join(self.shell)} failed: {exc}") from None
        if result.returncode != 0:
            tail = " / ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
            raise InfraError(f"host {self.uri}: a command failed (exit {result.returncode}): {tail}")
        return result.stdout


@dataclass(frozen=True)
class Hosts:
    """The hosts of a cluster, from a hosts file."""

    hosts: tuple[Host, ...]
    #: The network namespace the harness reaches the hosts from ("" = its own).
    netns: str = ""
    #: The hosts file's lines these come from.
    lines: tuple[str, ...] = ()

    def of_node(self, index: int) -> Host:
        """The host node ``index`` runs on (round robin)."""
        return self.hosts[index % len(self.hosts)]

    def by_uri(self, uri: str) -> Host:
        """The host whose URI is ``uri``."""
        return next(host for host in self.hosts if host.uri == uri)

    def call(self, fn: Callable[[], object]) -> object:
        """Call ``fn`` where the harness reaches the hosts from (a connection opened there stays there)."""
        if not self.netns:
            return fn()
        from harness.vm.netns import call_in_netns

        return call_in_netns(self.netns, fn)


def default_shell(uri: str) -> tuple[str, ...]:
    """The command prefix for a host given without one: ``ssh`` to a ``qemu+ssh`` URI's user, host and port."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "qemu+ssh":
        raise UsageError(f"hosts file: give the command that runs a root command on {uri} after its URI "
                         f"(only a qemu+ssh host has a default: ssh)")
    target = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname
    return ("ssh", *(("-p", str(parts.port)) if parts.port else ()), "-o", "BatchMode=yes", target)


def parse_hosts(lines: list[str] | tuple[str, ...]) -> Hosts:
    """Hosts from a hosts file's lines (comments and blank lines skipped). ``UsageError`` for a bad line."""
    hosts, netns = [], ""
    for number, raw in enumerate(lines, 1):
        words = shlex.split(raw, comments=True)
        if not words:
            continue
        if words[0] == "netns":
            if len(words) != 2:
                raise UsageError(f"hosts file line {number}: 'netns' takes one namespace name")
            netns = words[1]
            continue
        uri = words[0]
        parts = urllib.parse.urlsplit(uri)
        if not parts.scheme.startswith("qemu") or not parts.hostname or parts.path not in ("/system", "/session"):
            raise UsageError(f"hosts file line {number}: not a libvirt URI of a remote host: {uri!r} "
                             f"(e.g. qemu+ssh://root@hostb/system)")
        hosts.append(Host(uri, tuple(words[1:]) or default_shell(uri)))
    if not hosts:
        raise UsageError("hosts file names no host")
    if len({h.uri for h in hosts}) != len(hosts):
        raise UsageError("hosts file names a host twice")
    return Hosts(tuple(hosts), netns, tuple(lines))


def read_hosts_file(path: str) -> tuple[str, ...]:
    """The meaningful lines of the hosts file ``path`` (checked with ``parse_hosts``), as a cluster spec
    keeps them. ``UsageError`` if it cannot be read or is wrong."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read hosts file {path}: {exc.strerror}") from None
    lines = tuple(line.strip() for line in text.splitlines() if shlex.split(line, comments=True))
    parse_hosts(lines)
    return lines


# -- the overlay ------------------------------------------------------------------------------------------


def overlay_names(run_id: str) -> tuple[str, str, int]:
    """The run's bridge and VXLAN device names on every host, and its VXLAN network id (never 0)."""
    return f"phb{run_id}", f"phx{run_id}", int(run_id, 16) % (2**24 - 1) + 1


def tap_on_host(run_id: str, index: int) -> str:
    """Node ``index``'s tap on its host (unique among runs: hosts are shared, their namespace too)."""
    return f"pht{run_id}{index}"


def host_setup_script(run_id: str, local: str, peers: list[str]) -> str:
    """The shell script that makes the run's bridge and VXLAN end on one host (``local``: its underlay
    address; ``peers``: every other end's). Pure."""
    bridge, vxlan, vni = overlay_names(run_id)
    lines = [
        "set -e",
        f"ip link add {bridge} type bridge",
        f"ip link add {vxlan} mtu {OVERLAY_MTU} type vxlan id {vni} dstport {VXLAN_PORT} local {local}",
        *(f"bridge fdb append 00:00:00:00:00:00 dev {vxlan} dst {peer}" for peer in peers),
        f"ip link set {vxlan} master {bridge} up",
        f"ip link set {bridge} up",
    ]
    return "\n".join(lines) + "\n"


def host_teardown_script(run_id: str) -> str:
    """The shell script that removes the run's bridge, VXLAN end and partition rules from a host (what is not
    there is skipped). Pure."""
    bridge, vxlan, _ = overlay_names(run_id)
    return ("".join(f"! ip link show {dev} >/dev/null 2>&1 || ip link del {dev}\n" for dev in (vxlan, bridge))
            + "! command -v nft >/dev/null || " + host_unpartition_script(run_id))


# -- partitions across hosts --------------------------------------------------------------------------------
# A node's frames reach it from its host's bridge (from a node on the same host, or from the VXLAN end): a
# partition is, on every host, an nftables table of the bridge family (no br_netfilter needed) whose forward
# chain drops IPv4 frames to a node's tap from the nodes of other groups. ARP and the harness's traffic pass.


def partition_table(run_id: str) -> str:
    """The run's nftables table (family ``bridge``) on every host."""
    return f"phf{run_id}"


def host_unpartition_script(run_id: str) -> str:
    """The shell script that removes the run's partition table from a host, printing ``removed`` if there was
    one. Pure."""
    table = partition_table(run_id)
    return (f"! nft list table bridge {table} >/dev/null 2>&1 || "
            f"{{ nft delete table bridge {table} && echo removed; }}\n")


def host_partition_script(run_id: str, blocked: dict[str, list[str]]) -> str:
    """The shell script that replaces the run's partition on a host: frames the host's bridge forwards to tap
    T are dropped when their IPv4 source is in ``blocked[T]``. Needs ``nft`` (nftables) on the host. Pure."""
    table = partition_table(run_id)
    rules = "".join(f'add rule bridge {table} forward oifname "{tap}" ip saddr {{ {", ".join(sources)} }} drop\n'
                    for tap, sources in sorted(blocked.items()) if sources)
    return ("command -v nft >/dev/null || { echo 'nft (Debian: nftables) is not installed: partitions across "
            "hosts need it' >&2; exit 1; }\n" + host_unpartition_script(run_id)
            + f"nft -f - <<'RULES'\nadd table bridge {table}\n"
            f"add chain bridge {table} forward {{ type filter hook forward priority 0; policy accept; }}\n"
            f"{rules}RULES\n")


def local_address(hosts: Hosts, towards: str) -> str:
    """The harness's underlay address: the source the kernel picks, in the namespace the harness reaches
    the hosts from, for a packet to ``towards``."""
    from pyroute2 import IPRoute, NetNS

    with (NetNS(hosts.netns) if hosts.netns else IPRoute()) as ipr:
        routes = ipr.route("get", dst=towards)
    source = routes[0].get_attr("RTA_PREFSRC") if routes else None
    if not source:
        raise InfraError(f"no route to host {towards} (from namespace {hosts.netns or 'of the harness'})")
    return source


def stretch_bridge(hosts: Hosts, run_id: str, cluster_netns: str, bridge: str) -> None:
    """Join the cluster's bridge (``bridge`` in ``cluster_netns``) and a bridge made on every host into one
    layer-2 segment over VXLAN (recording what was made, for the sweep, is the caller's: ``record``)."""
    from pyroute2 import IPRoute, NetNS

    addresses = [host.address() for host in hosts.hosts]
    mine = local_address(hosts, addresses[0])
    for host, address in zip(hosts.hosts, addresses):
        host.run_script(host_setup_script(run_id, address, [a for a in [mine, *addresses] if a != address]),
                        hosts.netns)
    _, vxlan, vni = overlay_names(run_id)
    with (NetNS(hosts.netns) if hosts.netns else IPRoute()) as ipr:  # its UDP socket stays in this namespace
        ipr.link("add", ifname=vxlan, kind="vxlan", vxlan_id=vni, vxlan_port=VXLAN_PORT, vxlan_local=mine,
                 mtu=OVERLAY_MTU)
        ipr.link("set", index=ipr.link_lookup(ifname=vxlan)[0], net_ns_fd=cluster_netns)
    with NetNS(cluster_netns) as ipr:
        index = ipr.link_lookup(ifname=vxlan)[0]
        for address in addresses:
            ipr.fdb("append", ifindex=index, lladdr="00:00:00:00:00:00", dst=address)
        ipr.link("set", index=index, master=ipr.link_lookup(ifname=bridge)[0], state="up")


def record(workdir: Path, hosts: Hosts, run_id: str, domain_prefix: str) -> None:
    """Write to its work dir what a run makes on its hosts, before it makes it (``release_recorded`` reads it)."""
    (Path(workdir) / HOSTS_RECORD).write_text(json.dumps({"run_id": run_id, "hosts": list(hosts.lines),
                                                          "domain_prefix": domain_prefix}))


def destroy_domains(conn, prefix: str = "") -> None:
    """Destroy every domain of libvirt connection ``conn`` whose name starts with ``prefix``; close ``conn``."""
    try:
        for domain in conn.listAllDomains():
            if domain.name().startswith(prefix):
                domain.destroy()
    finally:
        conn.close()


def release(hosts: Hosts, run_id: str, domain_prefix: str) -> list[str]:
    """Destroy the run's domains (names starting ``domain_prefix``) on every host and remove its bridge and
    VXLAN end there; return the errors (every host is tried)."""
    from harness.vm import libvirtd

    libvirt = libvirtd.libvirt_module()
    errors = []
    for host in hosts.hosts:
        try:
            destroy_domains(hosts.call(lambda host=host: libvirt.open(host.uri)), domain_prefix)
        except (libvirt.libvirtError, OSError) as exc:
            errors.append(f"{host.uri}: domains: {exc}")
        try:
            host.run_script(host_teardown_script(run_id), hosts.netns)
        except InfraError as exc:
            errors.append(str(exc))
    return errors


def release_recorded(workdir: Path) -> list[str]:
    """``release`` what a run recorded in ``workdir`` (nothing if it recorded nothing), then forget it; the
    errors."""
    path = Path(workdir) / HOSTS_RECORD
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        hosts = parse_hosts(data["hosts"])
        run_id, domain_prefix = data["run_id"], data["domain_prefix"]
    except (ValueError, KeyError, TypeError, UsageError) as exc:
        return [f"{path}: unreadable: {exc}"]
    errors = release(hosts, run_id, domain_prefix)
    path.unlink(missing_ok=True)
    return errors
