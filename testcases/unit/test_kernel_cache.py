"""Cache keys, the cache root, artifact publication, source identification and error excerpts."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.kernel import cache
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
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "kernels"


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
