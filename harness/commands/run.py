"""popcorn-harness run: the main job. Build or reuse the kernel, boot, test, summarise, report.

The kernel comes from --kernel (a bzImage or artifact dir), or is built from the Popcorn source
(--popcorn-src or POPCORN_SRC: a path or git URL) with the QEMU-guest and Popcorn fragments, or,
with --stock, is Debian's stock kernel: a run that tests the harness itself, where every Popcorn
test skips. The suite is testcases/ under pytest with xdist; clusters boot in its fixtures. The
summary is printed, and report.json, junit.xml and failure artifacts go to --artifacts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from harness.commands.common import ACCEL_HELP
from harness.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
POPCORN_FRAGMENTS = ("qemu-guest", "popcorn", "popcorn-debug")


def register(subparsers) -> None:
    """Add the ``run`` command."""
    parser = subparsers.add_parser("run", help="the main job: build/reuse the kernel, boot, run the suite, report",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_argument_group("kernel (one of)")
    source.add_argument("--popcorn-src", default=os.environ.get("POPCORN_SRC", ""), metavar="PATH|URL",
                        help="Popcorn kernel source to build (env POPCORN_SRC)")
    source.add_argument("--ref", help="git ref of --popcorn-src")
    source.add_argument("--kernel", default=os.environ.get("POPCORN_HARNESS_KERNEL", ""),
                        help="an already built bzImage or kernel artifact dir")
    source.add_argument("--stock", action="store_true",
                        help="no Popcorn source: run on Debian's stock kernel (tests the harness; Popcorn tests skip)")
    parser.add_argument("--nodes", type=int, default=2, help="default cluster size (default 2)")
    parser.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto", help=ACCEL_HELP)
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"),
                        help="report, JUnit XML and failure artifacts (default ./artifacts)")
    parser.add_argument("-n", "--workers", type=int, default=4, help="pytest-xdist workers (default 4)")
    parser.add_argument("--yes", "-y", action="store_true", help="answer yes to the stock-kernel offer")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --), e.g. -k nodes_file")
    parser.set_defaults(func=cmd_run, trailing="pytest_args")


def _kernel(args: argparse.Namespace) -> tuple[str, str]:
    """Resolve the kernel to test; return (path, description)."""
    if args.kernel:
        from harness.kernel.image import locate_kernel

        return str(locate_kernel(args.kernel).bzimage.parent if Path(args.kernel).is_dir() else args.kernel), "given"
    if args.popcorn_src:
        from harness.kernel.build import build_kernel

        artifact = build_kernel(args.popcorn_src, ref=args.ref, fragments=POPCORN_FRAGMENTS)
        return str(artifact.dir), "popcorn (cached)" if artifact.cache_hit else "popcorn (built)"
    missing = "no Popcorn kernel source configured (--popcorn-src PATH|URL or POPCORN_SRC)"
    if not (args.stock or args.yes):
        if not sys.stdin.isatty():
            raise UsageError(f"{missing}; pass --stock to run the suite on Debian's stock kernel instead")
        print(f"popcorn-harness: {missing}", file=sys.stderr)
        answer = input("Run the suite on Debian's stock kernel instead (Popcorn tests will skip)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise UsageError("no kernel to test")
    print(f"popcorn-harness: {missing}: running on Debian's stock kernel", file=sys.stderr)
    from harness.kernel.stock import stock_kernel

    return str(stock_kernel()), "stock Debian"


def cmd_run(args: argparse.Namespace) -> int:
    """Run the main job; exit with pytest's exit code."""
    from rich.console import Console

    from harness.cluster import require_root
    from harness.report import summarize_junit, write_report
    from harness.spec import ClusterSpec

    ClusterSpec(nodes=args.nodes, accel=args.accel).validate()
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    require_root()
    console = Console(stderr=True)
    kernel, origin = _kernel(args)
    artifacts = args.artifacts.resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    junit = artifacts / "junit.xml"
    junit.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", str(REPO / "testcases"), "-n", str(args.workers),
               f"--kernel={kernel}", f"--nodes={args.nodes}", f"--accel={args.accel}",
               f"--artifacts={artifacts}", f"--junitxml={junit}", *args.pytest_args]
    console.print(f"[bold]kernel[/bold] {kernel} ({origin})\n[bold]running[/bold] {' '.join(command)}", highlight=False)
    started = time.monotonic()
    code = subprocess.call(command, cwd=REPO)
    elapsed = time.monotonic() - started
    if not junit.is_file():
        console.print(f"pytest wrote no report (exit code {code})")
        return code or 1
    summary = summarize_junit(junit)
    report = write_report(artifacts, summary, {"kernel": kernel, "kernel_origin": origin, "nodes": args.nodes,
                                               "accel": args.accel, "pytest_exit": code,
                                               "seconds": round(elapsed, 1), "command": command})
    console.rule("summary")
    console.print(f"{summary.line()} in {elapsed:.0f}s; kernel: {origin}", highlight=False)
    for name, message in summary.failures:
        console.print(f"  [red]FAILED[/red] {name}: {message}", highlight=False)
    for reason, count in summary.skip_reasons.items():
        console.print(f"  skipped {count}: {reason}", highlight=False)
    console.print(f"report: {report}\njunit: {junit}\nfailure artifacts: {artifacts}/<test id>/", highlight=False)
    return code
