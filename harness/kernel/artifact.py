"""Locate a bootable kernel: an x86 bzImage file, or an artifact dir holding ``bzImage`` and ``modules/``.

The x86 boot protocol header tells a real kernel from any other file: the magic ``HdrS`` at offset
0x202 and, at 0x20E, a pointer to the version string. Modules are looked up beside the image, in the
layout both the kernel builder and the stock-kernel fetcher produce: ``modules/lib/modules/<release>/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

_HDRS_OFFSET = 0x202
_VERSION_PTR_OFFSET = 0x20E


@dataclass(frozen=True)
class KernelImage:
    """A kernel the backends can boot."""

    bzimage: Path
    version: str  # the header's version string, e.g. "6.1.0-56-amd64 (debian-kernel@...) #1 SMP ..."
    modules_root: Path | None  # .../lib/modules/<release>, or None for a kernel without modules
    artifact_dir: Path | None  # the build/fetch artifact dir, when there is one

    @property
    def release(self) -> str:
        """The release (``uname -r``) part of the version string."""
        return self.version.split()[0] if self.version else ""

    def file(self, name: str) -> Path | None:
        """A file of the artifact dir (``System.map``, ``vmlinux``, ``manifest.json``...), if present."""
        if self.artifact_dir and (self.artifact_dir / name).exists():
            return self.artifact_dir / name
        return None


def read_bzimage_version(path: Path) -> str:
    """Return the version string of an x86 bzImage; raise ``UsageError`` if it is not one."""
    try:
        with path.open("rb") as f:
            head = f.read(0x10000)
    except OSError as exc:
        raise UsageError(f"cannot read kernel {path}: {exc.strerror}") from None
    if len(head) < 0x210 or head[_HDRS_OFFSET : _HDRS_OFFSET + 4] != b"HdrS":
        raise UsageError(f"{path} is not an x86 kernel image (no bzImage boot header)")
    pointer = int.from_bytes(head[_VERSION_PTR_OFFSET : _VERSION_PTR_OFFSET + 2], "little") + 0x200
    end = head.find(b"\0", pointer)
    return head[pointer:end].decode(errors="replace") if 0 < pointer < end else ""


def locate_kernel(path: str | Path) -> KernelImage:
    """Resolve ``--kernel``: a bzImage file or an artifact dir. Raises ``UsageError`` with one line."""
    if not str(path):
        raise UsageError("no kernel given (--kernel PATH: a bzImage or a kernel artifact dir)")
    path = Path(path).expanduser()
    artifact_dir = None
    if path.is_dir():
        artifact_dir = path
        path = path / "bzImage"
    if not path.is_file():
        raise UsageError(f"kernel not found: {path}")
    version = read_bzimage_version(path)
    modules_root = _find_modules(artifact_dir or path.parent, version.split()[0] if version else "")
    return KernelImage(path.resolve(), version, modules_root, artifact_dir.resolve() if artifact_dir else None)


def _find_modules(base: Path, release: str) -> Path | None:
    candidates = [base / "modules" / "lib" / "modules" / release, base / "lib" / "modules" / release]
    for candidate in candidates:
        if release and candidate.is_dir():
            return candidate
    found = sorted((base / "modules" / "lib" / "modules").glob("*/modules.dep"))
    return found[0].parent if found else None
