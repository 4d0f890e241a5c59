"""A small writer for the ``newc`` cpio format the kernel unpacks as an initramfs.

Entries are collected first and written sorted, with fixed owners and times, so the same content always
gives the same bytes (the image cache relies on that). Parent directories are added implicitly.
"""

from __future__ import annotations

import stat
from pathlib import PurePosixPath


class CpioArchive:
    """An in-memory list of initramfs entries, written out in ``newc`` format."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, bytes, int]] = {}  # path -> (mode, data, rdev)

    def _parents(self, path: str) -> None:
        for parent in reversed(PurePosixPath(path).parents):
            key = str(parent).lstrip("/")
            if key and key not in self._entries:
                self._entries[key] = (stat.S_IFDIR | 0o755, b"", 0)

    def _put(self, path: str, mode: int, data: bytes = b"", rdev: int = 0) -> None:
        key = path.lstrip("/")
        self._parents(path)
        self._entries[key] = (mode, data, rdev)

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        """Add a directory with permission bits ``mode``."""
        self._put(path, stat.S_IFDIR | mode)

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file."""
        self._put(path, stat.S_IFREG | mode, data)

    def add_symlink(self, path: str, target: str) -> None:
        """Add a symbolic link pointing at ``target``."""
        self._put(path, stat.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        """Add a character device node."""
        self._put(path, stat.S_IFCHR | mode, b"", (major << 8) | minor)

    def __contains__(self, path: str) -> bool:
        return path.lstrip("/") in self._entries

    def to_bytes(self) -> bytes:
        """Serialise the archive (sorted, deterministic) with its trailer."""
        out = bytearray()
        for ino, name in enumerate(sorted(self._entries), start=1):
            mode, data, rdev = self._entries[name]
            _append(out, name, ino, mode, data, rdev)
        _append(out, "TRAILER!!!", 0, 0, b"", 0)
        return bytes(out)


def _pad4(out: bytearray) -> None:
    out.extend(b"\0" * (-len(out) % 4))


def _append(out: bytearray, name: str, ino: int, mode: int, data: bytes, rdev: int) -> None:
    encoded = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(mode) else 1
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF, len(encoded), 0)
    out.extend(b"070701" + "".join(f"{v:08X}" for v in fields).encode())
    out.extend(encoded)
    _pad4(out)
    out.extend(data)
    _pad4(out)
