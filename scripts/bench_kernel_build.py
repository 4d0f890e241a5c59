#!/usr/bin/env python3
"""Benchmark the kernel builder on the CI kernel: clean build, no-op rebuild and cache hit.

Runs in a private cache (a temporary directory unless --cache is given), so the user's cache is left
alone: the source is unpacked there first (timed separately), then

1. clean build: an empty build directory, ccache disabled (``CCACHE_DISABLE=1``) unless --ccache;
2. no-op rebuild: the same inputs with the cache bypassed, i.e. make again in the same build directory;
3. cache hit: the same inputs again, answered from the artifact cache;
4. (with --ccache-rebuild) a clean build directory again, with ccache warm from step 1.

Prints one line per measurement and a JSON summary. Takes several minutes (two CPUs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.kernel import cache
from harness.paths import CACHE_ENV  # noqa: E402
from harness.kernel.build import build_directory, plan_build  # noqa: E402
from harness.kernel.ci import CI_FRAGMENTS, DEBIAN_SOURCE_TARBALL, build_ci_kernel  # noqa: E402
from harness.kernel.source import prepare_source  # noqa: E402


def timed(label: str, results: dict, action):
    """Run ``action``, record and print its wall time under ``label``; return its result."""
    started = time.monotonic()
    value = action()
    results[label] = round(time.monotonic() - started, 1)
    print(f"{label:28s} {results[label]:8.1f} s", flush=True)
    return value


def main() -> int:
    """Run the benchmark; exit 2 when the Debian source is not installed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="cache root to use (default: a new temporary directory)")
    parser.add_argument("--ccache", action="store_true", help="let the clean build use ccache")
    parser.add_argument("--ccache-rebuild", action="store_true", help="also time a clean build with warm ccache")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--nice", type=int, default=10)
    args = parser.parse_args()
    if not DEBIAN_SOURCE_TARBALL.is_file():
        print(f"{DEBIAN_SOURCE_TARBALL} is absent: apt-get install linux-source-6.1", file=sys.stderr)
        return 2
    root = args.cache or Path(tempfile.mkdtemp(prefix="popcorn-kernel-bench-", dir="/var/tmp"))
    root.chmod(0o755)  # the build user (harness.kernel.build_user) works in it
    os.environ[CACHE_ENV] = str(root)
    options = {"jobs": args.jobs, "nice": args.nice}
    results: dict[str, float] = {}
    timed("source preparation", results, lambda: prepare_source(str(DEBIAN_SOURCE_TARBALL)))
    plan = plan_build(str(DEBIAN_SOURCE_TARBALL), fragments=CI_FRAGMENTS)
    shutil.rmtree(build_directory(plan.source.tree, plan), ignore_errors=True)
    shutil.rmtree(cache.artifact_dir(plan.key), ignore_errors=True)
    if not args.ccache:
        os.environ["CCACHE_DISABLE"] = "1"
    artifact = timed("clean build" + (" (ccache on)" if args.ccache else " (no ccache)"), results,
                     lambda: build_ci_kernel(**options))
    os.environ.pop("CCACHE_DISABLE", None)
    timed("no-op rebuild", results, lambda: build_ci_kernel(use_cache=False, **options))
    hit = timed("cache hit", results, lambda: build_ci_kernel(**options))
    assert hit.cache_hit, "the third build was not a cache hit"
    if args.ccache_rebuild:
        shutil.rmtree(build_directory(plan.source.tree, plan))
        timed("clean build (warm ccache)", results, lambda: build_ci_kernel(use_cache=False, **options))
    summary = {"kernel_release": artifact.manifest["kernel_release"], "files_compiled":
               artifact.manifest["build"]["files_compiled"], "jobs": args.jobs, "seconds": results,
               "cache": str(root)}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
