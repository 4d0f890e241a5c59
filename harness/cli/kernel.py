"""``popcorn-harness kernel``: build a kernel (``build``) and check a patch series builds patch by patch
(``bisect-build``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.errors import UsageError


def register(subparsers) -> None:
    """Add the ``kernel`` command and its ``build`` / ``bisect-build`` sub-commands."""
    kernel = subparsers.add_parser("kernel", help="build kernels (cached) and check patch series",
                                   description="Build kernels from a source tree, tarball or git ref plus a "
                                               "patch series and config fragments; results are cached by content.")
    sub = kernel.add_subparsers(dest="kernel_command", metavar="SUBCOMMAND")
    sub.required = True

    build = sub.add_parser("build", help="build a kernel (or return the cached one) and print its artifact dir")
    _add_build_inputs(build)
    build.add_argument("--no-cache", action="store_true",
                       help="rebuild even when a cached artifact exists (incremental, same build directory)")
    build.add_argument("--out", type=Path, help="also copy the artifact directory here")
    build.add_argument("--allow-dropped", action="store_true",
                       help="warn instead of failing when Kconfig drops an option a fragment asked for")
    build.set_defaults(func=run_build)

    bisect = sub.add_parser("bisect-build", help="apply a series one patch at a time, building after each")
    _add_build_inputs(bisect)
    bisect.add_argument("--boot", action="store_true", help="also boot each built kernel on a 1-node cluster")
    bisect.add_argument("--keep-going", action="store_true", help="continue past the first failing patch")
    bisect.set_defaults(func=run_bisect)


def _add_build_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True,
                        help="kernel source: a directory, a tarball (.tar.xz...), a git repository path or URL")
    parser.add_argument("--ref", help="git ref (branch, tag, commit) when --source is a git repository")
    parser.add_argument("--series", help="patch series: a name under kernel-patches/, a directory or a series file")
    parser.add_argument("--fragment", action="append", default=[], dest="fragments", metavar="NAME|PATH",
                        help="config fragment, repeatable, applied in order (NAME = kernel-patches/configs/NAME.config)")
    parser.add_argument("--base", default="tinyconfig",
                        help="base configuration: tinyconfig (default), defconfig, or a config file")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="make jobs (default: all CPUs)")
    parser.add_argument("--nice", type=int, default=10, help="run make under this niceness (default 10)")


def _check_common(args: argparse.Namespace) -> None:
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    if not -20 <= args.nice <= 19:
        raise UsageError(f"--nice must be between -20 and 19, not {args.nice}")


def run_build(args: argparse.Namespace) -> int:
    """``kernel build``: build or fetch from the cache; the last stdout line is the artifact directory."""
    from harness.kernel.build import build_kernel

    _check_common(args)
    console = Console(stderr=True, soft_wrap=True)
    artifact = build_kernel(args.source, ref=args.ref, series=args.series, fragments=args.fragments,
                            base=args.base, jobs=args.jobs, nice=args.nice, use_cache=not args.no_cache,
                            out=args.out, allow_dropped=args.allow_dropped, console=console)
    manifest = artifact.manifest
    how = "cache hit" if artifact.cache_hit else f"built in {manifest['build']['elapsed_s']:.0f}s"
    modules = manifest.get("modules") or []
    console.print(f"kernel {manifest['kernel_release']} ({how}); {len(modules)} module(s)", highlight=False)
    print(artifact.dir, flush=True)
    return 0


def run_bisect(args: argparse.Namespace) -> int:
    """``kernel bisect-build``: a table of patch -> builds? boots?; exit 1 when a patch fails."""
    from harness.cluster.boot_check import boot_check
    from harness.kernel.bisect import bisect_build

    _check_common(args)
    if not args.series:
        raise UsageError("bisect-build needs --series")
    console = Console(stderr=True, soft_wrap=True)
    report = bisect_build(args.source, args.series, ref=args.ref, fragments=args.fragments, base=args.base,
                          jobs=args.jobs, nice=args.nice, boot_check=boot_check if args.boot else None,
                          keep_going=args.keep_going, console=console)
    table = Table(title=f"bisect-build of {report.series_name}")
    for column in ("#", "patch", "builds?", "boots?", "time"):
        table.add_column(column)
    for step in report.steps:
        table.add_row(str(step.index), step.name, _mark(step.builds), _mark(step.boots), f"{step.elapsed_s:.0f}s")
    Console().print(table)
    failure = report.first_failure
    if failure is not None:
        print(f"first failure: patch {failure.index} {failure.name}: {failure.error}")
        return 1
    return 0


def _mark(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[value]
