"""A cluster's private network: a namespace with a bridge, the harness's address, one tap per node.

Everything lives inside a network namespace created for the run, so two clusters can use the same
subnet and names without clashing, and nothing routes to the host's own networks. Links are managed
over netlink with pyroute2. Taps are created non-persistent through ``/dev/net/tun`` and handed to QEMU
as file descriptors: when the last holder (QEMU) exits, the kernel removes the tap by itself.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import struct

from pyroute2 import NetNS
from pyroute2 import netns as _netns

from harness.errors import InfraError
from harness.vm.netns import call_in_netns

log = logging.getLogger(__name__)

BRIDGE = "br0"
#: The bridge's own MAC, fixed: a bridge without one takes the lowest MAC of its ports, and taps get random
#: ones, so a node started again on a new tap (a restored snapshot, a boot attempt) could change it under
#: the guests' ARP caches, and their replies to the harness went to the old MAC for seconds (seen: SSH to
#: a restored node took 7 s, three SYN retransmissions, in half the restores).
BRIDGE_MAC = "52:54:00:7c:fe:fe"
_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000


def tap_name(index: int) -> str:
    """Name of node ``index``'s tap inside the cluster namespace."""
    return f"tap{index}"


def open_tap_device(name: str) -> int:
    """Create (or attach to) tap device ``name`` in the calling thread's namespace; return its fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH22x", name.encode(), _IFF_TAP | _IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def namespace_exists(name: str) -> bool:
    """True if a named network namespace exists."""
    return name in _netns.listnetns()


def remove_namespace(name: str) -> None:
    """Remove a named network namespace if it exists; one another process removes meanwhile is gone too."""
    if namespace_exists(name):
        try:
            _netns.remove(name)
        except FileNotFoundError:
            pass


class ClusterNetwork:
    """The bridge network of one cluster, inside its own namespace. A context manager."""

    def __init__(self, namespace: str, harness_address: str, prefixlen: int):
        self.namespace = namespace
        self.harness_address = harness_address
        self.prefixlen = prefixlen
        self._created = False

    def __enter__(self) -> "ClusterNetwork":
        self.create()
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    def create(self) -> None:
        """Create the namespace, bring up loopback and the bridge with the harness's address."""
        if namespace_exists(self.namespace):
            raise InfraError(f"network namespace {self.namespace} already exists")
        _netns.create(self.namespace)
        self._created = True
        with NetNS(self.namespace) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            ipr.link("add", ifname=BRIDGE, kind="bridge", address=BRIDGE_MAC)
            bridge = ipr.link_lookup(ifname=BRIDGE)[0]
            ipr.addr("add", index=bridge, address=self.harness_address, prefixlen=self.prefixlen)
            ipr.link("set", index=bridge, state="up")
        log.debug("created namespace %s with %s/%s", self.namespace, self.harness_address, self.prefixlen)

    def open_tap(self, index: int) -> int:
        """Create node ``index``'s tap on the bridge; return its fd (the caller hands it to QEMU)."""
        name = tap_name(index)
        fd = call_in_netns(self.namespace, lambda: open_tap_device(name))
        with NetNS(self.namespace) as ipr:
            bridge = ipr.link_lookup(ifname=BRIDGE)[0]
            tap = ipr.link_lookup(ifname=name)[0]
            ipr.link("set", index=tap, master=bridge, state="up")
        return fd

    def set_link(self, index: int, up: bool) -> None:
        """Bring node ``index``'s tap up or down (cuts the node off the bridge)."""
        with NetNS(self.namespace) as ipr:
            tap = ipr.link_lookup(ifname=tap_name(index))[0]
            ipr.link("set", index=tap, state="up" if up else "down")

    def links(self) -> list[str]:
        """Names of the links in the namespace (for tests and status)."""
        with NetNS(self.namespace) as ipr:
            return [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]

    def connect(self, address: str, port: int, timeout: float) -> socket.socket:
        """Open a TCP connection from inside the namespace to ``address:port``."""
        return call_in_netns(self.namespace, lambda: socket.create_connection((address, port), timeout=timeout))

    def destroy(self) -> None:
        """Remove the namespace (taps held by live QEMU processes go when those exit)."""
        if self._created or namespace_exists(self.namespace):
            remove_namespace(self.namespace)
            self._created = False
