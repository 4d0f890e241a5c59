"""VM backends behind one interface (``harness.vm.backends.base``), by name."""

from __future__ import annotations

from harness.errors import UsageError
from harness.vm.backends.base import Backend
from harness.vm.backends.libvirt import LibvirtBackend
from harness.vm.backends.qemu import QemuBackend

#: Backend name (``ClusterSpec.backend``) -> class.
BACKENDS: dict[str, type[Backend]] = {"qemu": QemuBackend, "libvirt": LibvirtBackend}


def get_backend(name: str, hosts=None) -> Backend:
    """Return the backend registered under ``name`` (``UsageError`` for another name), running its VMs on
    ``hosts`` (a ``harness.vm.hosts.Hosts``; None: on this machine)."""
    if name not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    return BACKENDS[name](hosts)
