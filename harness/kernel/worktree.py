"""Patched working trees: hard-linked copies of a pristine source with a patch series applied.

A hard-linked copy of a kernel tree takes a couple of seconds and no space; GNU patch replaces each
file it changes with a new one, so the pristine tree is never modified through the links.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.errors import InfraError
from harness.kernel.cache import exclusive_lock, key_of
from harness.kernel.series import Series, apply_series

#: Build directories inside a tree start with this; copies leave them out.
BUILD_DIR_PREFIX = "_build-"

#: Marker written into a finished patched tree.
APPLIED_MARKER = ".harness-series.json"


def linked_copy(source: Path, dest: Path) -> None:
    """Hard-link copy of ``source`` into a new ``dest``, without its build directories."""
    dest.mkdir(parents=True)
    entries = [str(p) for p in source.iterdir() if not p.name.startswith(BUILD_DIR_PREFIX)]
    if entries:
        result = subprocess.run(["cp", "-al", *entries, str(dest)], capture_output=True, text=True)
        if result.returncode != 0:
            raise InfraError(f"linking a copy of {source} failed: {result.stderr.strip()[:300]}")


def patched_tree(pristine: Path, source_id: str, series: Series, root: Path) -> Path:
    """Return ``trees/<id>``: ``pristine`` with ``series`` applied, made once and reused after that.

    A patch that does not apply raises :class:`~harness.kernel.series.PatchDoesNotApply` and leaves no
    tree behind.
    """
    tree_id = key_of({"source": source_id, "series": series.as_manifest()})
    tree = root / "trees" / tree_id
    with exclusive_lock(f"tree-{tree_id}", root):
        if (tree / APPLIED_MARKER).is_file():
            return tree
        if tree.exists():
            shutil.rmtree(tree)
        (root / "trees").mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{tree_id}-", dir=root / "trees"))
        try:
            linked_copy(pristine, staging / "tree")
            apply_series(staging / "tree", series)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        (staging / "tree" / APPLIED_MARKER).write_text(json.dumps(series.as_manifest(), indent=2))
        (staging / "tree").rename(tree)
        staging.rmdir()
    return tree
