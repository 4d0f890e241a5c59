"""Where the harness keeps its state and caches on the host, and the prefix of every name it gives.

``phc`` (popcorn-harness cluster) starts every host resource a run creates (network namespaces, work
dirs, QEMU process names) and the guest paths the harness owns (``/opt/phc/bin``), so the sweep of dead
runs can find them.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Prefix of every name the harness gives to host resources.
PREFIX = "phc"


def state_root() -> Path:
    """Directory holding run records and cluster state (``POPCORN_HARNESS_RUNDIR`` overrides)."""
    return Path(os.environ.get("POPCORN_HARNESS_RUNDIR", "/run/popcorn-harness"))


#: The environment variable that moves every cache of the harness.
CACHE_ENV = "POPCORN_HARNESS_CACHE"


def cache_root() -> Path:
    """Directory for caches that outlive runs: guest images and programs, kernels (``kernels/``);
    ``$POPCORN_HARNESS_CACHE``, else ``$XDG_CACHE_HOME/popcorn-harness`` or ``~/.cache/popcorn-harness``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "popcorn-harness"
    return Path(os.environ.get(CACHE_ENV, default))
