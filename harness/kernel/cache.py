"""The content-addressed kernel cache: where sources, patched trees and artifacts live.

Layout under the kernel cache root (``kernels/`` of the harness's cache: ``$POPCORN_HARNESS_CACHE``,
``/var/cache/popcorn-harness`` for root, else ``~/.cache/popcorn-harness``)::

    sources/<source-id>/tree/     pristine source trees (unpacked tarballs, git checkouts, copies)
    trees/<tree-id>/              pristine tree + patch series applied (hard-linked copies)
    artifacts/<key>/              finished artifacts: bzImage, vmlinux, System.map, .config, ...
    git/<url-hash>.git            bare clones of remote git sources
    locks/                        flock files (the machine-wide build lock is in the state dir)
    build-home/                   the build user's HOME and ccache (see harness.kernel.build_user)

Build directories (``O=``) live inside the tree they build (``<tree>/_build-<config-key>``, the build
user's; its log and config fragments beside it, root's): the kernel then uses a relative ``srctree``
(``..``), so ccache hits across copies of the same tree."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness import paths
from harness.paths import locked, state_dir

#: Environment variable that overrides the cache root.

#: Bump when the artifact layout or the build recipe changes, so old artifacts are not reused.
RECIPE_VERSION = 1


def cache_root() -> Path:
    """Return the kernel cache root, creating it: ``kernels/`` under the harness's cache
    (``harness.paths.cache_root``)."""
    root = paths.cache_root() / "kernels"
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_bytes(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def key_of(inputs: object) -> str:
    """Return a short stable key for JSON-serialisable ``inputs`` (sorted keys, SHA-256, 20 hex)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return sha256_bytes(text.encode())[:20]


def artifact_dir(key: str, root: Path | None = None) -> Path:
    """Return where the artifact with this key lives (it may not exist yet)."""
    return (root or cache_root()) / "artifacts" / key


def is_complete_artifact(path: Path) -> bool:
    """True when ``path`` holds a finished artifact (its manifest is written last)."""
    return (path / "manifest.json").is_file() and (path / "bzImage").is_file()


def publish_artifact(staging: Path, final: Path) -> None:
    """Move a fully written staging directory to its final place, replacing an older copy.

    The old copy is renamed away first and deleted last, so a reader sees the old or the new
    artifact for all but the instant between two renames, never a half-deleted one.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    retired = None
    if final.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{final.name}-old-", dir=final.parent))
        os.rename(final, retired / "artifact")
    os.rename(staging, final)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


#: Lock names that hold across every cache root of the machine (their files are in the harness's private
#: state dir, not in a predictable /tmp path another user could plant a symlink at).
MACHINE_WIDE_LOCKS = {"build": "kernel-build.lock"}


@contextlib.contextmanager
def exclusive_lock(name: str, root: Path | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` named ``name`` under the cache root for the ``with`` block.

    The builder takes ``build`` around every make run; that lock is machine-wide (even across cache
    roots), so two builds never compete for the machine's cores: a second one waits for the first.
    """
    if name in MACHINE_WIDE_LOCKS:
        path = state_dir("locks") / MACHINE_WIDE_LOCKS[name]
    else:
        path = (root or cache_root()) / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path):
        yield
