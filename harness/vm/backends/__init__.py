"""VM backends behind one interface (``harness.vm.backends.base``), by name."""

from __future__ import annotations

from harness.vm.backends.base import Backend
from harness.vm.backends.qemu import QemuBackend

#: Backend name (``ClusterSpec.backend``) -> class.
BACKENDS: dict[str, type[Backend]] = {"qemu": QemuBackend}


def get_backend(name: str) -> Backend:
    """Return the backend registered under ``name``."""
    return BACKENDS[name]()
