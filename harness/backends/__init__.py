"""VM backends behind one interface (``harness.backends.base``). QEMU today; libvirt later."""

from __future__ import annotations

from harness.backends.base import Backend


def get_backend(name: str) -> Backend:
    """Return the backend registered under ``name``."""
    from harness.backends.qemu import QemuBackend

    backends = {"qemu": QemuBackend}
    return backends[name]()
