"""Quilt series parsing and applying: real ``patch`` runs on small trees made here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.kernel.series import PatchDoesNotApply, apply_series, load_series, parse_series_text
from harness.kernel.worktree import linked_copy

GOOD = """--- a/hello.c
+++ b/hello.c
@@ -1,3 +1,3 @@
 int a;
-int b;
+int b = 2;
 int c;
"""

BAD = """--- a/hello.c
+++ b/hello.c
@@ -1,3 +1,3 @@
 int a;
-int not_in_this_file;
+int b = 3;
 int c;
"""


def make_series(directory: Path, patches: dict[str, str], series_text: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in patches.items():
        (directory / name).write_text(text)
    (directory / "series").write_text(series_text if series_text is not None else "\n".join(patches) + "\n")
    return directory


def make_tree(path: Path) -> Path:
    path.mkdir()
    (path / "hello.c").write_text("int a;\nint b;\nint c;\n")
    return path


def test_parse_series_skips_comments_and_reads_strip_level():
    text = "# header\n\n0001-a.patch\n0002-b.patch -p0   # trailing comment\n  0003-c.patch\n"
    assert parse_series_text(text) == [("0001-a.patch", 1), ("0002-b.patch", 0), ("0003-c.patch", 1)]


def test_parse_series_rejects_unknown_option():
    with pytest.raises(UsageError, match="line 2: unknown option '--fuzz=3'"):
        parse_series_text("a.patch\nb.patch --fuzz=3\n")


def test_load_series_hashes_patches_and_names_missing_ones(tmp_path):
    series = load_series(str(make_series(tmp_path / "s", {"one.patch": GOOD})))
    assert series.name == "s"
    assert [p.name for p in series.patches] == ["one.patch"]
    assert len(series.patches[0].sha256) == 64
    make_series(tmp_path / "m", {"one.patch": GOOD}, "one.patch\ntwo.patch\n")
    with pytest.raises(UsageError, match="lists 'two.patch', which does not exist"):
        load_series(str(tmp_path / "m"))


def test_load_series_accepts_the_series_file_itself(tmp_path):
    directory = make_series(tmp_path / "s", {"one.patch": GOOD})
    assert load_series(str(directory / "series")).patches[0].name == "one.patch"


def test_unknown_series_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no patch series"):
        load_series(str(tmp_path / "nope"))


def test_apply_series_changes_the_tree(tmp_path):
    tree = make_tree(tmp_path / "tree")
    apply_series(tree, load_series(str(make_series(tmp_path / "s", {"one.patch": GOOD}))))
    assert (tree / "hello.c").read_text() == "int a;\nint b = 2;\nint c;\n"


def test_patch_that_does_not_apply_is_named_and_stops_the_series(tmp_path):
    tree = make_tree(tmp_path / "tree")
    third = GOOD.replace("int b = 2;", "int b = 4;")
    series = load_series(str(make_series(tmp_path / "s", {"1-good.patch": GOOD, "2-bad.patch": BAD,
                                                          "3-never.patch": third})))
    with pytest.raises(PatchDoesNotApply) as failure:
        apply_series(tree, series)
    assert failure.value.index == 2
    assert "patch 2/3 '2-bad.patch' does not apply" in str(failure.value)
    assert "FAILED" in str(failure.value)
    # the dry run left the failing patch's file as the first patch made it; the third never ran
    assert (tree / "hello.c").read_text() == "int a;\nint b = 2;\nint c;\n"
    assert not list(tree.glob("*.rej")) and not list(tree.glob("*.orig"))


def test_patching_a_linked_copy_leaves_the_pristine_tree_alone(tmp_path):
    pristine = make_tree(tmp_path / "pristine")
    (pristine / "_build-abc").mkdir()
    copy = tmp_path / "copy"
    linked_copy(pristine, copy)
    assert os.stat(copy / "hello.c").st_ino == os.stat(pristine / "hello.c").st_ino
    assert not (copy / "_build-abc").exists()
    apply_series(copy, load_series(str(make_series(tmp_path / "s", {"one.patch": GOOD}))))
    assert (copy / "hello.c").read_text() == "int a;\nint b = 2;\nint c;\n"
    assert (pristine / "hello.c").read_text() == "int a;\nint b;\nint c;\n"


def test_the_popcorn_off_series_adds_lines_only_and_applies_to_a_makefile_of_the_trees_length(tmp_path):
    """kernel-patches/popcorn-off carries no line of the Popcorn tree: its hunks have no context and remove
    nothing. It applies to a kernel/Makefile of 135 lines (the 5.2.21 tree's length) and adds the stubs file."""
    series = load_series("popcorn-off")
    assert [p.name for p in series.patches] == ["0001-stubs-for-a-build-without-popcorn.patch"]
    text = series.patches[0].path.read_text()
    body = text[text.index("--- /dev/null"):].splitlines()
    assert all(line.startswith(("+", "---", "@@")) for line in body), [l for l in body if l[:1] not in "+-@"]
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "Makefile").write_text("".join(f"# line {i}\n" for i in range(1, 136)))
    apply_series(tmp_path, series)
    assert (tmp_path / "kernel" / "Makefile").read_text().endswith("ifndef CONFIG_POPCORN\nobj-y += popcorn_off.o\nendif\n")
    assert "POPCORN_OFF_SYSCALL(popcorn_migrate)" in (tmp_path / "kernel" / "popcorn_off.c").read_text()
