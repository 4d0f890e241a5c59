"""VM backends behind one interface (``harness.vm.backends.base``). QEMU today; libvirt later."""

from __future__ import annotations

from harness.vm.backends.base import Backend


def get_backend(name: str) -> Backend:
    """Return the backend registered under ``name``."""
    from harness.vm.backends.qemu import QemuBackend

    backends = {"qemu": QemuBackend}
    return backends[name]()
