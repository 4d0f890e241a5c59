"""``manifest.json``: what went into a kernel artifact, so a result can be traced and reproduced."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

#: Name of the manifest inside an artifact directory (written last: its presence marks completion).
MANIFEST_NAME = "manifest.json"


def module_files(modules_dir: Path | None) -> list[str]:
    """Relative paths of the ``.ko`` files under an artifact's ``modules/`` (empty when none)."""
    if modules_dir is None or not modules_dir.is_dir():
        return []
    return sorted(str(p.relative_to(modules_dir)) for p in modules_dir.rglob("*.ko"))


def make_manifest(*, key: str, kernel_release: str, kernel_version: str, source: dict, series: dict | None,
                  base: dict, fragments: list[dict], workarounds: list[dict], toolchain: dict,
                  elapsed_s: float, files_compiled: int, dropped: list[str], modules: list[str],
                  notes: list[str]) -> dict:
    """Assemble the manifest dictionary (every field named, so callers cannot forget one)."""
    return {
        "key": key,
        "kernel_release": kernel_release,
        "kernel_version": kernel_version,
        "source": source,
        "series": series,
        "config": {"base": base, "fragments": fragments, "workarounds": workarounds, "dropped": dropped},
        "toolchain": toolchain,
        "build": {"elapsed_s": round(elapsed_s, 1), "files_compiled": files_compiled,
                  "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host_cpus": os.cpu_count()},
        "modules": modules,
        "notes": notes,
    }


def write_manifest(artifact: Path, manifest: dict) -> Path:
    """Write ``manifest.json`` into ``artifact`` atomically; return its path."""
    path = artifact / MANIFEST_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_manifest(artifact: Path) -> dict:
    """Read an artifact's manifest."""
    return json.loads((artifact / MANIFEST_NAME).read_text())
