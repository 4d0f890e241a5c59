"""Where the harness keeps its state and caches on the host, and the prefix of every name it gives.

``phc`` (popcorn-harness cluster) starts every host resource a run creates (network namespaces, work
dirs, QEMU process names) and the guest paths the harness owns (``/opt/phc/bin``), so the sweep of dead
runs can find them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from harness.errors import UsageError

#: Prefix of every name the harness gives to host resources.
PREFIX = "phc"


def state_root() -> Path:
    """Directory holding run records and cluster state (``POPCORN_HARNESS_RUNDIR`` overrides)."""
    return Path(os.environ.get("POPCORN_HARNESS_RUNDIR", "/run/popcorn-harness"))


def state_dir(*parts: str) -> Path:
    """``state_root()/parts`` as a private directory (``private_dir``): run leases, locks, probe results."""
    root = private_dir(state_root())
    return private_dir(root.joinpath(*parts)) if parts else root


def private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can change: made (mode 0700) when missing; an existing one
    must be a real directory (no symlink) of this user that nobody else may write, else ``UsageError``."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path} must be a directory, not a symlink or file: remove it")
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UsageError(f"{path} belongs to uid {info.st_uid} or others may write it: the harness runs as "
                         f"uid {os.geteuid()} and keeps its state only in a directory of its own; remove it")
    return path


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the file ``path`` for the ``with`` block. The file is created mode
    0600 and never opened through a symlink (a planted link is a ``UsageError``, not a write elsewhere)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot open the lock file {path} ({exc.strerror}): remove it") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


#: The environment variable that moves every cache of the harness.
CACHE_ENV = "POPCORN_HARNESS_CACHE"


#: root's cache: outside root's 0700 home, so the unprivileged build user can reach the kernel trees.
ROOT_CACHE = Path("/var/cache/popcorn-harness")


def cache_root() -> Path:
    """Directory for caches that outlive runs: guest images and programs, kernels (``kernels/``);
    ``$POPCORN_HARNESS_CACHE``, else :data:`ROOT_CACHE` for root, else ``$XDG_CACHE_HOME/popcorn-harness``
    or ``~/.cache/popcorn-harness``."""
    if os.geteuid() == 0:
        default = ROOT_CACHE
    else:
        default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "popcorn-harness"
    root = Path(os.environ.get(CACHE_ENV, default))
    for where in (root, root.parent):
        with contextlib.suppress(OSError):
            owner = os.lstat(where).st_uid
            if owner not in (os.geteuid(), 0):
                raise UsageError(f"the cache {root} is in a directory of uid {owner}, who could swap what the "
                                 f"harness (uid {os.geteuid()}) reads and runs there (sudo -E keeps a user's "
                                 f"HOME): set {CACHE_ENV} to a directory of your own")
    return root
