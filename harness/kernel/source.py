"""Kernel sources: a local path, a git repository (path or URL) + ref, or a tarball -> a pristine tree.

The user's tree is never written to. Every source becomes a private copy under the cache
(``sources/<source-id>/tree``): a tarball is unpacked, a git commit is exported with ``git archive``
(no ``.git`` in the copy, so the kernel release string carries no ``-dirty``), a plain directory is
copied. A copy that carries build leftovers (a ``.config``, ``include/config``, generated headers),
which would make ``make O=`` refuse with "source tree is not clean", is cleaned with ``make mrproper``
and the user is told so in one line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfraError, UsageError
from harness.kernel.build_user import build_user, run_as
from harness.kernel.cache import cache_root, exclusive_lock, key_of, sha256_file

#: Tarball suffixes the builder unpacks with ``tar -xf`` (tar picks the decompressor).
TARBALL_SUFFIXES = (".tar", ".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tar.zst")

#: What makes a kernel tree refuse ``make O=`` (the kernel Makefile's own ``prepare3`` test).
UNCLEAN_MARKERS = (".config", "include/config", "arch/*/include/generated")

#: URL forms that name a remote git repository.
GIT_URL = re.compile(r"^(https?|git|ssh|file)://|^[\w.-]+@[\w.-]+:")


@dataclass
class PreparedSource:
    """A pristine kernel tree the builder may use, and what identifies it."""

    tree: Path
    source_id: str
    description: dict
    notes: list[str] = field(default_factory=list)


def source_kind(spec: str) -> str:
    """Classify a ``--source`` value: ``git-url``, ``tarball``, ``git-dir`` or ``dir``."""
    if spec.startswith("-"):
        raise UsageError(f"kernel source {spec!r} starts with '-': give it as ./{spec} if it is a path")
    if GIT_URL.match(spec):
        return "git-url"
    path = Path(spec)
    if not path.exists():
        raise UsageError(f"kernel source {spec!r} does not exist (give a directory, tarball or git URL)")
    if path.is_file():
        if spec.endswith(TARBALL_SUFFIXES):
            return "tarball"
        raise UsageError(f"kernel source {spec!r} is a file but not a tarball ({', '.join(TARBALL_SUFFIXES)})")
    if _is_git_repository(path):
        return "git-dir"
    return "dir"


def prepare_source(spec: str, ref: str | None = None, root: Path | None = None) -> PreparedSource:
    """Return a pristine private tree for ``spec`` (see the module docstring), reusing the cache."""
    root = root or cache_root()
    kind = source_kind(spec)
    if ref and kind in ("tarball", "dir"):
        raise UsageError(f"--ref {ref!r} only applies to a git source; {spec!r} is a {kind}")
    preparer = {"tarball": _from_tarball, "git-url": _from_git_url, "git-dir": _from_git_dir, "dir": _from_dir}[kind]
    return preparer(spec, ref, root)


def unclean_markers(tree: Path) -> list[str]:
    """Return the relative paths in ``tree`` that make the kernel refuse an ``O=`` build."""
    found: list[str] = []
    for pattern in UNCLEAN_MARKERS:
        found += sorted(str(p.relative_to(tree)) for p in tree.glob(pattern) if p.exists())
    return found


def unclean_note(origin: str, markers: list[str]) -> str:
    """The one line that tells the user their tree would refuse ``make O=`` and what the builder did."""
    return (f"{origin} is not clean for an out-of-tree build ({', '.join(markers)}): building from a "
            "private copy cleaned with 'make mrproper'; the original is untouched")


# --- tarballs ---------------------------------------------------------------------------------------


def _from_tarball(spec: str, ref: str | None, root: Path) -> PreparedSource:
    path = Path(spec).resolve()
    digest = _memoised_file_hash(path, root)
    source_id = f"tar-{digest[:20]}"
    description = {"kind": "tarball", "location": str(path), "sha256": digest}

    def populate(dest: Path) -> None:
        unpack = dest.parent / "unpack"
        unpack.mkdir()
        extract_tarball(path, unpack)
        entries = list(unpack.iterdir())
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() else unpack
        os.rename(top, dest)
        if unpack.exists():
            shutil.rmtree(unpack)

    return _materialise(root, source_id, description, populate, origin=str(path))


def extract_tarball(path: Path, into: Path) -> None:
    """Unpack a kernel tarball as data, not as a system image (it runs as root and comes from elsewhere):
    tarfile's ``data`` filter drops owners, device nodes and set-id bits, and refuses absolute names, ``..``
    and links that point out of ``into``; any such member is a ``UsageError`` naming it."""
    try:
        with tarfile.open(path) as archive:
            archive.extractall(into, filter="data")
    except tarfile.FilterError as exc:
        raise UsageError(f"kernel tarball {path}: refused: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UsageError(f"kernel tarball {path} cannot be unpacked: {exc}") from None


def _memoised_file_hash(path: Path, root: Path) -> str:
    """SHA-256 of a big file, remembered by (path, size, mtime) so a rebuild does not re-read it."""
    index_path = root / "index" / "file-hashes.json"
    index_path.parent.mkdir(parents=True, exist_ok=True)
    stat = path.stat()
    memo_key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    if memo_key not in index:
        index[memo_key] = sha256_file(path)
        tmp = index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(index, indent=1))
        os.replace(tmp, index_path)
    return index[memo_key]


# --- git ----------------------------------------------------------------------------------------------


def _is_git_repository(path: Path) -> bool:
    result = subprocess.run(["git", "-C", str(path), "rev-parse", "--git-dir"], capture_output=True, text=True)
    if result.returncode != 0:
        return False
    git_dir = (path / result.stdout.strip()).resolve()
    # Only the repository rooted here counts: a plain directory inside some other checkout is a "dir".
    top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if top.returncode == 0:
        return Path(top.stdout.strip()).resolve() == path.resolve()
    return git_dir == path.resolve()  # a bare repository


def _resolve_commit(git_dir: str, ref: str) -> str:
    result = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise UsageError(f"git ref {ref!r} not found in {git_dir}")
    return result.stdout.strip()


def _git_dir_of(path: Path) -> str:
    result = _run(["git", "-C", str(path), "rev-parse", "--absolute-git-dir"], f"reading {path}")
    return result.stdout.strip()


def _from_git_dir(spec: str, ref: str | None, root: Path) -> PreparedSource:
    path = Path(spec).resolve()
    git_dir = _git_dir_of(path)
    notes = []
    if ref is None:
        ref = "HEAD"
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            notes.append(f"{path} has uncommitted changes: they are not built (commit them, or pass --ref)")
    return _from_git(git_dir, ref, {"kind": "git", "location": str(path)}, root, notes)


def _from_git_url(spec: str, ref: str | None, root: Path) -> PreparedSource:
    mirror = root / "git" / f"{key_of(spec)}.git"
    with exclusive_lock(f"git-{mirror.name}", root):
        if not mirror.exists():
            _run(["git", "clone", "--mirror", "--quiet", "--", spec, str(mirror)], f"cloning {spec}")
        else:
            _run(["git", "--git-dir", str(mirror), "fetch", "--quiet", "--prune", "origin"], f"fetching {spec}")
    return _from_git(str(mirror), ref or "HEAD", {"kind": "git", "location": spec}, root, [])


def _from_git(git_dir: str, ref: str, description: dict, root: Path, notes: list[str]) -> PreparedSource:
    commit = _resolve_commit(git_dir, ref)
    description = {**description, "ref": ref, "commit": commit}

    def populate(dest: Path) -> None:
        missing = _missing_blobs(git_dir, commit)
        if missing:
            notes.append(f"{len(missing)} file(s) of {commit[:12]} are missing from the repository's object "
                         f"store and were left out: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        dest.mkdir()
        excludes = [f":(exclude,literal){p}" for p in missing]
        archive = subprocess.Popen(["git", "--git-dir", git_dir, "archive", "--format=tar", commit, "--", ".", *excludes],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        untar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, capture_output=True, text=True)
        archive.stdout.close()
        err = archive.stderr.read().decode(errors="replace")
        if archive.wait() != 0 or untar.returncode != 0:
            raise InfraError(f"exporting {commit[:12]} from {git_dir} failed: {(err or untar.stderr).strip()[:300]}")

    return _materialise(root, f"git-{commit[:20]}", description, populate, origin=f"{description['location']}@{commit[:12]}",
                        notes=notes)


def _missing_blobs(git_dir: str, commit: str) -> list[str]:
    """Paths in ``commit`` whose blobs the object store lacks (partial or trimmed mirrors)."""
    listing = _run(["git", "--git-dir", git_dir, "ls-tree", "-r", "-z", commit], "listing the tree").stdout
    entries = [line.split("\t", 1) for line in listing.split("\0") if line]
    blobs = [(meta.split()[2], path) for meta, path in entries if meta.split()[1] == "blob"]
    check = subprocess.run(["git", "--git-dir", git_dir, "cat-file", "--batch-check=%(objectname) %(objecttype)"],
                           input="\n".join(sha for sha, _ in blobs) + "\n", capture_output=True, text=True)
    missing_shas = {line.split()[0] for line in check.stdout.splitlines() if line.endswith(" missing")}
    return [path for sha, path in blobs if sha in missing_shas]


# --- plain directories -------------------------------------------------------------------------------


def _from_dir(spec: str, ref: str | None, root: Path) -> PreparedSource:
    path = Path(spec).resolve()
    if not (path / "Makefile").is_file() or not (path / "Kconfig").is_file():
        raise UsageError(f"{path} does not look like a kernel tree (no top-level Makefile and Kconfig)")
    fingerprint = tree_fingerprint(path)
    description = {"kind": "dir", "location": str(path), "fingerprint": fingerprint}

    def populate(dest: Path) -> None:
        _run(["cp", "-a", "--no-preserve=ownership", f"{path}/.", str(dest)], f"copying {path}")

    return _materialise(root, f"dir-{fingerprint[:20]}", description, populate, origin=str(path))


def tree_fingerprint(path: Path) -> str:
    """Fingerprint a directory by every file's relative path, size and mtime (fast; no file is read)."""
    rows = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            stat = os.lstat(full)
            rows.append(f"{os.path.relpath(full, path)}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return key_of(rows)


# --- shared ----------------------------------------------------------------------------------------------


def _materialise(root: Path, source_id: str, description: dict, populate, origin: str,
                 notes: list[str] | None = None) -> PreparedSource:
    """Create ``sources/<source_id>/tree`` once (populate into a temp dir, clean, rename)."""
    notes = notes if notes is not None else []
    home = root / "sources" / source_id
    tree = home / "tree"
    with exclusive_lock(f"source-{source_id}", root):
        if not (home / "source.json").is_file():
            build_user().check_reachable(root)  # before unpacking anything the build user could not use
            if home.exists():
                shutil.rmtree(home)
            (root / "sources").mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{source_id}-", dir=root / "sources"))
            try:
                staging.chmod(0o755)
                populate(staging / "tree")
                _run(["chmod", "-R", "a+rX,go-w", "--", str(staging / "tree")], "making the source copy readable")
                markers = unclean_markers(staging / "tree")
                if markers:
                    _mrproper(staging / "tree")
                meta = {**description, "source_id": source_id, "unclean_markers": markers, "notes": notes}
                (staging / "source.json").write_text(json.dumps(meta, indent=2))
                os.rename(staging, home)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        home.chmod(0o755)  # the build user reads the tree (copies made before it existed were 0700)
        meta = json.loads((home / "source.json").read_text())
    all_notes = list(meta.get("notes", []))
    if meta.get("unclean_markers"):
        all_notes.append(unclean_note(origin, meta["unclean_markers"]))
    return PreparedSource(tree=tree, source_id=source_id, description=description, notes=all_notes)


def _mrproper(tree: Path) -> None:
    """``make mrproper`` in a fresh copy, as the build user (the tree's Makefile is code from elsewhere):
    the copy is the build user's while it runs and root's again afterwards."""
    user = build_user()
    user.check_reachable(tree)
    user.give(tree)
    try:
        run_as(user, ["make", "-s", "-C", str(tree), "mrproper"], "cleaning the source copy")
    finally:
        user.take_back(tree)


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise InfraError(f"{what} failed: {' / '.join(tail)}")
    return result
