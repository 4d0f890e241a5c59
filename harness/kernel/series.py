"""Quilt-style patch series: parse a ``series`` file, hash its patches, apply them to a tree.

A series is a directory (``kernel-patches/<name>/``) with a ``series`` file listing one patch a line,
relative to that directory; ``#`` starts a comment and a line may end with quilt's ``-pN`` strip
option (default ``-p1``). Patches are applied with GNU ``patch`` (dry run first, so a patch that does
not apply leaves the tree as it was and is named in the error).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.assets import PATCHES_DIR
from harness.errors import UsageError
from harness.kernel.cache import sha256_file

#: Where named series and config fragments live, relative to the repository root.

#: Lines of ``patch`` output quoted when a patch does not apply.
FAILURE_LINES = 6


@dataclass(frozen=True)
class Patch:
    """One patch of a series: its file, strip level and content hash."""

    name: str
    path: Path
    strip: int
    sha256: str

    def as_manifest(self) -> dict:
        """The patch as recorded in ``manifest.json``."""
        return {"name": self.name, "sha256": self.sha256, "strip": self.strip}


@dataclass(frozen=True)
class Series:
    """A parsed series: its name and patches in order."""

    name: str
    directory: Path
    patches: tuple[Patch, ...]

    def as_manifest(self) -> dict:
        """The series as recorded in ``manifest.json`` and in cache keys."""
        return {"name": self.name, "patches": [p.as_manifest() for p in self.patches]}


class PatchDoesNotApply(UsageError):
    """A patch of the series does not apply; the message names it and quotes ``patch``'s complaint."""

    def __init__(self, index: int, total: int, patch: Patch, output: str) -> None:
        self.patch = patch
        self.index = index
        quoted = " / ".join(line for line in output.strip().splitlines()[:FAILURE_LINES])
        super().__init__(f"patch {index}/{total} {patch.name!r} does not apply; series stopped there: {quoted}")


def parse_series_text(text: str) -> list[tuple[str, int]]:
    """Return ``(patch name, strip level)`` for each entry of a quilt ``series`` file's text."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        strip = 1
        for option in fields[1:]:
            match = re.fullmatch(r"-p(\d+)", option)
            if not match:
                raise UsageError(f"series line {number}: unknown option {option!r} (only -pN is supported)")
            strip = int(match.group(1))
        entries.append((fields[0], strip))
    return entries


def resolve_series_dir(spec: str) -> Path:
    """Turn ``--series`` (a name under ``kernel-patches/``, a directory or a ``series`` file) into a directory."""
    candidates = [Path(spec), PATCHES_DIR / spec]
    for candidate in candidates:
        if candidate.is_file() and candidate.name == "series":
            return candidate.parent.resolve()
        if (candidate / "series").is_file():
            return candidate.resolve()
    raise UsageError(f"no patch series {spec!r}: expected a 'series' file in {spec} or {PATCHES_DIR / spec}")


def load_series(spec: str) -> Series:
    """Parse and hash the series named by ``spec``; every listed patch must exist."""
    directory = resolve_series_dir(spec)
    patches = []
    for name, strip in parse_series_text((directory / "series").read_text()):
        path = directory / name
        if not path.is_file():
            raise UsageError(f"series {directory / 'series'} lists {name!r}, which does not exist")
        patches.append(Patch(name=name, path=path, strip=strip, sha256=sha256_file(path)))
    if not patches:
        raise UsageError(f"series {directory / 'series'} lists no patch")
    return Series(name=directory.name, directory=directory, patches=tuple(patches))


def apply_patch(tree: Path, patch: Patch, index: int, total: int) -> None:
    """Apply one patch to ``tree`` (dry run first); raise :class:`PatchDoesNotApply` naming it if it fails.

    GNU patch writes each result to a new file and renames it into place, so a tree made of hard links
    to a pristine copy gets new files and the pristine copy stays untouched.
    """
    base = ["patch", f"-p{patch.strip}", "--forward", "--batch", "--no-backup-if-mismatch", "-d", str(tree),
            "-i", str(patch.path)]
    check = subprocess.run([*base, "--dry-run"], capture_output=True, text=True)
    if check.returncode != 0:
        raise PatchDoesNotApply(index, total, patch, check.stdout + check.stderr)
    done = subprocess.run([*base, "--quiet"], capture_output=True, text=True)
    if done.returncode != 0:
        raise PatchDoesNotApply(index, total, patch, done.stdout + done.stderr)


def apply_series(tree: Path, series: Series) -> None:
    """Apply every patch of ``series`` to ``tree`` in order, stopping at the first that does not apply."""
    total = len(series.patches)
    for index, patch in enumerate(series.patches, start=1):
        apply_patch(tree, patch, index, total)
