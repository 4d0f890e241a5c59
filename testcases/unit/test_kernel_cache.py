"""Cache keys, the cache root, artifact publication, source identification and error excerpts."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.kernel import cache
from harness.kernel.build import _check_out
from harness.paths import CACHE_ENV
from harness.kernel.make import error_excerpt
from harness.kernel.source import prepare_source, source_kind, tree_fingerprint, unclean_markers

FAKE_MAKEFILE = """\
VERSION = 9
PATCHLEVEL = 8
SUBLEVEL = 7
mrproper:
\trm -rf .config include/config
"""


def fake_kernel(path: Path, dirty: bool = False) -> Path:
    path.mkdir(parents=True)
    (path / "Makefile").write_text(FAKE_MAKEFILE)
    (path / "Kconfig").write_text('mainmenu "fake"\n')
    (path / "init").mkdir()
    (path / "init" / "main.c").write_text("int main_c;\n")
    if dirty:
        (path / ".config").write_text("CONFIG_X=y\n")
        (path / "include" / "config").mkdir(parents=True)
    return path


@pytest.fixture(autouse=True)
def private_cache(monkeypatch):
    """A cache of this test's own, which the build user can reach (pytest's tmp dirs are 0700)."""
    where = Path(tempfile.mkdtemp(prefix="phc-unit-cache-", dir="/var/tmp"))
    where.chmod(0o755)
    monkeypatch.setenv(CACHE_ENV, str(where / "cache"))
    yield where / "cache" / "kernels"
    shutil.rmtree(where)


def test_key_is_stable_and_order_sensitive():
    assert cache.key_of({"a": 1, "b": [1, 2]}) == cache.key_of({"b": [1, 2], "a": 1})
    assert cache.key_of({"fragments": ["x", "y"]}) != cache.key_of({"fragments": ["y", "x"]})
    assert len(cache.key_of("x")) == 20


def test_cache_root_follows_the_environment(private_cache):
    assert cache.cache_root() == private_cache and private_cache.is_dir()


def test_publish_makes_a_complete_artifact(tmp_path, private_cache):
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "bzImage").write_bytes(b"k")
    final = cache.artifact_dir("k1")
    assert not cache.is_complete_artifact(staging)
    (staging / "manifest.json").write_text("{}")
    cache.publish_artifact(staging, final)
    assert cache.is_complete_artifact(final) and not staging.exists()
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "bzImage").write_bytes(b"k2")
    (newer / "manifest.json").write_text("{}")
    cache.publish_artifact(newer, final)
    assert (final / "bzImage").read_bytes() == b"k2"
    assert sorted(p.name for p in final.parent.iterdir()) == ["k1"]


def test_source_kinds(tmp_path):
    tarball = tmp_path / "k.tar.xz"
    tarball.write_bytes(b"")
    assert source_kind(str(tarball)) == "tarball"
    assert source_kind("https://example.invalid/linux.git") == "git-url"
    assert source_kind(str(fake_kernel(tmp_path / "plain"))) == "dir"
    with pytest.raises(UsageError, match="does not exist"):
        source_kind(str(tmp_path / "missing"))
    other = tmp_path / "notes.txt"
    other.write_text("x")
    with pytest.raises(UsageError, match="not a tarball"):
        source_kind(str(other))


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    tree = fake_kernel(tmp_path / "t")
    before = tree_fingerprint(tree)
    assert tree_fingerprint(tree) == before
    (tree / "init" / "main.c").write_text("int main_c = 1;\n")
    assert tree_fingerprint(tree) != before


def test_dirty_tree_is_copied_cleaned_and_the_user_is_told(tmp_path):
    tree = fake_kernel(tmp_path / "user-tree", dirty=True)
    assert unclean_markers(tree) == [".config", "include/config"]
    prepared = prepare_source(str(tree))
    assert prepared.source_id.startswith("dir-")
    assert unclean_markers(prepared.tree) == []
    assert (prepared.tree / "init" / "main.c").is_file()
    assert any("not clean for an out-of-tree build (.config, include/config)" in n for n in prepared.notes)
    assert (tree / ".config").is_file(), "the user's tree was modified"
    again = prepare_source(str(tree))
    assert again.tree == prepared.tree and again.notes == prepared.notes


def test_tarball_source_is_unpacked_once_and_keyed_by_content(tmp_path):
    tree = fake_kernel(tmp_path / "linux-9.8.7")
    tarball = tmp_path / "linux.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tree, arcname="linux-9.8.7")
    prepared = prepare_source(str(tarball))
    assert (prepared.tree / "Makefile").read_text() == FAKE_MAKEFILE
    assert prepared.description["sha256"] == cache.sha256_file(tarball)
    assert prepare_source(str(tarball)).source_id == prepared.source_id
    with pytest.raises(UsageError, match="--ref 'main' only applies to a git source"):
        prepare_source(str(tarball), ref="main")


def test_git_source_exports_the_commit_without_touching_the_repository(tmp_path):
    repo = fake_kernel(tmp_path / "repo")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (repo / "init" / "main.c").write_text("int uncommitted;\n")
    status_before = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout
    prepared = prepare_source(str(repo))
    assert prepared.description["commit"] == commit
    assert (prepared.tree / "init" / "main.c").read_text() == "int main_c;\n"
    assert not (prepared.tree / ".git").exists()
    assert any("uncommitted changes" in n for n in prepared.notes)
    assert subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout == status_before
    with pytest.raises(UsageError, match="git ref 'nope' not found"):
        prepare_source(str(repo), ref="nope")
    by_url = prepare_source(f"file://{repo}", ref=commit[:10])
    assert by_url.source_id == prepared.source_id and by_url.description["location"] == f"file://{repo}"


def test_error_excerpt_shows_the_first_errors_not_the_wall():
    log = ["  CC      a.o\n"] * 50 + ["../kernel/panic.c:54:1: error: unknown type name 'this'\n",
                                    "  CC      b.o\n", "make[3]: *** [x] Error 1\n"] + ["  CC      c.o\n"] * 50
    excerpt = error_excerpt(log)
    assert excerpt[0] == "../kernel/panic.c:54:1: error: unknown type name 'this'"
    assert len(excerpt) == 2
    assert error_excerpt(["just\n", "noise\n"]) == ["just", "noise"]
    assert os.linesep not in "".join(excerpt)


def _tarball_with(tmp_path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    tarball = tmp_path / "hostile.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return tarball


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes | None = None, **fields) -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data or b"")
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


@pytest.mark.parametrize("members, refused", [
    ([_member("linux", tarfile.SYMTYPE, linkname="/")], "linux"),  # the cached tree would be the host's /
    ([_member("linux/Makefile", data=b"x"), _member("linux/etc", tarfile.SYMTYPE, linkname="../../../etc")], "etc"),
    ([_member("linux/../../escape", data=b"x")], "escape"),
    ([_member("linux/Makefile", data=b"x"), _member("linux/null", tarfile.CHRTYPE, devmajor=1, devminor=3)], "null"),
])
def test_a_hostile_kernel_tarball_is_refused_and_nothing_is_cached(tmp_path, private_cache, members, refused):
    """Tarballs are unpacked as data (tarfile's data filter): no absolute names, no '..', no links out of
    the tree, no device nodes; the refusal names the member and the cache holds no tree of it."""
    tarball = _tarball_with(tmp_path, *members)
    with pytest.raises(UsageError, match=f"refused: .*{refused}"):
        prepare_source(str(tarball))
    assert not list((private_cache / "sources").glob("tar-*/source.json"))
    assert not Path("/escape").exists() and not (tmp_path / "escape").exists()


def test_an_absolute_member_name_lands_inside_the_tree(tmp_path):
    host_file = Path("/etc/cron.d/phc-unit-test-absolute")
    tree = [_member("/etc/cron.d/phc-unit-test-absolute", data=b"* * * * * root id\n"),
            _member("Makefile", data=FAKE_MAKEFILE.encode())]
    prepared = prepare_source(str(_tarball_with(tmp_path, *tree)))
    assert (prepared.tree / "etc/cron.d/phc-unit-test-absolute").is_file() and not host_file.exists()


def test_a_tarball_keeps_no_owner_and_no_set_id_bit(tmp_path):
    tree = [_member("linux/Makefile", data=FAKE_MAKEFILE.encode(), uid=4242, gid=4242, mode=0o4755)]
    prepared = prepare_source(str(_tarball_with(tmp_path, *tree)))
    made = (prepared.tree / "Makefile").stat()
    assert (made.st_uid, made.st_mode & 0o7000) == (os.getuid(), 0)


def test_a_source_that_looks_like_an_option_is_refused():
    with pytest.raises(UsageError, match="starts with '-'"):
        source_kind("-u@host:repo")


def test_out_replaces_only_a_directory_the_builder_made(tmp_path):
    """``kernel build --out DIR`` removes DIR before copying: only when DIR is an artifact directory (the
    builder's manifest and nothing but artifact files), never a directory that merely holds a manifest.json."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "manifest.json").write_text('{"key": "k", "kernel_release": "6.1"}')
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(UsageError, match="is not a kernel artifact directory"):
        _check_out(home)
    assert (home / "thesis.tex").is_file()
    (home / "thesis.tex").unlink()
    (home / "bzImage").write_bytes(b"x")
    _check_out(home)  # an artifact directory: replaced
    link = tmp_path / "link"
    link.symlink_to(home)
    with pytest.raises(UsageError):
        _check_out(link)
    (home / "manifest.json").write_text("[]")
    with pytest.raises(UsageError):
        _check_out(home)
