"""Reading files out of a directory someone else controls, without following any link they planted.

A build directory belongs to the build user, and the kernel tree's code that ran there may have
replaced ``vmlinux``, ``arch`` or ``include/config/kernel.release`` with a symlink to a file only root
may read. Root copies the results out with these functions: each path is walked one component at a
time from an open directory with ``O_NOFOLLOW``, and only regular files are read; anything else is an
``InfraError`` naming the path.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from harness.errors import InfraError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def open_beneath(root: Path, relative: str) -> int:
    """Open the regular file ``root/relative`` for reading, following no link on the way (``root``
    itself is trusted); return the file descriptor."""
    parts = PurePosixPath(relative).parts
    if not parts or any(part in ("..", "/") for part in parts):
        raise InfraError(f"{relative!r} is not a path inside {root}")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise InfraError(f"{root / relative} cannot be read as a plain file of the build ({exc.strerror}): "
                         "a link or a missing file where the build should have left one") from None
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise InfraError(f"{root / relative} is not a regular file")
    os.set_blocking(file_fd, True)
    return file_fd


def read_beneath(root: Path, relative: str) -> bytes:
    """The bytes of the regular file ``root/relative`` (see :func:`open_beneath`)."""
    with os.fdopen(open_beneath(root, relative), "rb") as handle:
        return handle.read()


def copy_beneath(root: Path, relative: str, dest: Path) -> None:
    """Copy the regular file ``root/relative`` to ``dest`` (a new file of ours, mode 0644)."""
    with os.fdopen(open_beneath(root, relative), "rb") as source, open(dest, "xb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
    os.chmod(dest, 0o644)


def copy_tree_beneath(root: Path, relative: str, dest: Path) -> None:
    """Copy the directory ``root/relative`` to a new ``dest``: directories and regular files only (links
    and special files are left out), each entered or opened without following a link."""
    dest.mkdir(mode=0o755)
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in PurePosixPath(relative).parts:
            child = _open_dir_at(fd, part, root / relative)
            os.close(fd)
            fd = child
        _copy_dir_fd(fd, dest, root / relative)
    finally:
        os.close(fd)


def _open_dir_at(parent_fd: int, name: str, where: Path) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise InfraError(f"{where} cannot be entered as a plain directory of the build ({exc.strerror})") from None


def _copy_dir_fd(dir_fd: int, dest: Path, where: Path) -> None:
    """Copy the open directory ``dir_fd`` into the existing ``dest`` (the caller closes ``dir_fd``)."""
    with os.scandir(dir_fd) as entries:
        listed = list(entries)
    for entry in listed:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            child = _open_dir_at(dir_fd, entry.name, where / entry.name)
            try:
                (dest / entry.name).mkdir(mode=0o755)
                _copy_dir_fd(child, dest / entry.name, where / entry.name)
            finally:
                os.close(child)
        elif stat.S_ISREG(info.st_mode):
            try:
                source_fd = os.open(entry.name, _FILE_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                raise InfraError(f"{where / entry.name} cannot be read ({exc.strerror})") from None
            if not stat.S_ISREG(os.fstat(source_fd).st_mode):
                os.close(source_fd)
                continue
            os.set_blocking(source_fd, True)
            with os.fdopen(source_fd, "rb") as source, open(dest / entry.name, "xb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
            os.chmod(dest / entry.name, 0o644)
