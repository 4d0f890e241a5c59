"""popcorn-harness run: the main job. Build or reuse the kernel, boot, test it, summarise, report.

The kernel comes from --kernel (a bzImage or artifact dir), or is built from the Popcorn source
(--popcorn-src or POPCORN_SRC: a path or git URL) with the QEMU-guest and Popcorn fragments, or,
with --stock, is Debian's stock kernel: a run that tests the harness itself, where every Popcorn
test skips. By default the run judges the kernel: the Popcorn conformance, stress, faults and
detection suites and crash detection (--suites kernel); --suites all adds the harness's own tests
(unit, CLI, cleanup, kernel builder), which is what --stock runs. Clusters boot in the suites'
fixtures. The summary gives counts per suite and each known Popcorn defect seen; report.json,
junit.xml and failure artifacts go to --artifacts. Exit code: pytest's, and 1 when the kernel is a
Popcorn kernel and no Popcorn test ran.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from harness.assets import checkout
from harness.cluster.options import KERNEL_ENV, add_cluster_options
from harness.popcorn.suites import SUITE_PATHS
from harness.errors import UsageError

REPO = checkout() or Path.cwd()
POPCORN_FRAGMENTS = ("qemu-guest", "popcorn", "popcorn-debug")
#: What --detectors adds: the kernel's own bug detectors (kernel-patches/configs/debug.config: hung-task and
#: soft-lockup detectors, lockdep, atomic-sleep checks, LKDTM; detectors.config: DEBUG_LIST).
DETECTOR_FRAGMENTS = ("debug", "detectors")
#: --suites NAME -> the test paths (under the repo) it runs.
def register(subparsers) -> None:
    """Add the ``run`` command."""
    parser = subparsers.add_parser("run", help="the main job: build/reuse the kernel, boot, run the suite, report",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_argument_group("kernel (one of)")
    source.add_argument("--popcorn-src", default="", metavar="PATH|URL",
                        help="Popcorn kernel source to build (env POPCORN_SRC)")
    source.add_argument("--ref", help="git ref of --popcorn-src")
    source.add_argument("--detectors", action="store_true",
                        help="build --popcorn-src with the kernel's own bug detectors too (hung task, soft lockup, "
                             "lockdep, DEBUG_LIST, LKDTM): findings come with the kernel's diagnosis and the LKDTM "
                             "crash-detection tests run; the known-defect symptoms are those of a build without them")
    add_cluster_options(source.add_argument, only=("--kernel",))
    source.add_argument("--stock", action="store_true",
                        help="no Popcorn source: run on Debian's stock kernel (tests the harness; Popcorn tests skip)")
    add_cluster_options(parser.add_argument, only=("--nodes", "--accel", "--boot-timeout", "--backend", "--hosts"))
    parser.add_argument("--emulated-hosts", type=int, default=0, metavar="N",
                        help="run the nodes on N hosts emulated on this machine for the run (each a network "
                             "namespace with its own libvirtd on qemu+tcp, a VXLAN overlay between them; needs "
                             "--backend libvirt, excludes --hosts): a cluster across hosts without a second machine")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"),
                        help="report, JUnit XML and failure artifacts (default ./artifacts)")
    parser.add_argument("--suites", choices=tuple(SUITE_PATHS), default=None,
                        help="kernel: the suites that judge the kernel (Popcorn conformance, stress, faults, "
                             "detection, crash detection; the default); all: also the harness's own tests "
                             "(the default with --stock)")
    parser.add_argument("-n", "--workers", type=int, default=2,
                        help="pytest-xdist workers (default 2: each boots its own clusters)")
    parser.add_argument("--yes", "-y", action="store_true", help="answer yes to the stock-kernel offer")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --), e.g. -k nodes_file")
    parser.set_defaults(func=cmd_run, trailing="pytest_args", kernel="")  # env defaults: see _choose_source


def _choose_source(args: argparse.Namespace) -> None:
    """``--kernel`` or ``--popcorn-src`` as given on the command line (not both); without either, the
    environment's ``POPCORN_HARNESS_KERNEL``, else its ``POPCORN_SRC``. A flag always beats a variable."""
    if args.kernel and args.popcorn_src:
        raise UsageError("--kernel and --popcorn-src exclude each other: give one")
    if not (args.kernel or args.popcorn_src):
        args.kernel = os.environ.get(KERNEL_ENV, "")
        args.popcorn_src = "" if args.kernel else os.environ.get("POPCORN_SRC", "")


def _kernel(args: argparse.Namespace) -> tuple[str, str]:
    """Resolve the kernel to test; return (path, description)."""
    if args.kernel:
        from harness.kernel.artifact import locate_kernel

        image = locate_kernel(args.kernel)  # a missing or non-kernel path is a one-line error, not a suite run
        return str(image.bzimage.parent if Path(args.kernel).is_dir() else args.kernel), "given"
    if args.popcorn_src:
        from harness.kernel.build import build_kernel

        fragments = POPCORN_FRAGMENTS + (DETECTOR_FRAGMENTS if args.detectors else ())
        artifact = build_kernel(args.popcorn_src, ref=args.ref, fragments=fragments)
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

    from harness.cluster.cluster import require_root
    from harness.cluster.spec import ClusterSpec
    from harness.vm.hosts import read_hosts_file

    _choose_source(args)
    _check_emulated_hosts(args)
    ClusterSpec(nodes=args.nodes, accel=args.accel, boot_timeout=args.boot_timeout, backend=args.backend,
                hosts=read_hosts_file(args.hosts) if args.hosts else ()).validate()
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.detectors and not args.popcorn_src:
        raise UsageError("--detectors needs --popcorn-src (a given --kernel is tested as it was built)")
    require_root()
    console = Console(stderr=True, soft_wrap=True)  # a CI log keeps whole lines
    kernel, origin = _kernel(args)
    artifacts = args.artifacts.resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    junit = artifacts / "junit.xml"
    junit.unlink(missing_ok=True)
    suites = args.suites or ("all" if origin == "stock Debian" else "kernel")
    with _hosts_file(args) as hosts:
        return _run_suites(args, console, kernel, origin, suites, artifacts, junit, hosts)


def _check_emulated_hosts(args: argparse.Namespace) -> None:
    """``--emulated-hosts N``: at least 2, on the libvirt backend, not with ``--hosts``."""
    if not args.emulated_hosts:
        return
    if args.emulated_hosts < 2:
        raise UsageError(f"--emulated-hosts must be at least 2, got {args.emulated_hosts}")
    if args.hosts:
        raise UsageError("--emulated-hosts and --hosts exclude each other: give one")
    if args.backend != "libvirt":
        raise UsageError(f"--emulated-hosts needs --backend libvirt (not {args.backend})")


@contextlib.contextmanager
def _hosts_file(args: argparse.Namespace):
    """The hosts file the run's clusters use: ``--hosts`` (resolved), or for ``--emulated-hosts N`` the file of
    N hosts emulated for the run (``harness.vm.emulated_hosts``; stopped afterwards, also on Ctrl-C; a killed run
    leaves them to the sweep), or None."""
    if not args.emulated_hosts:
        yield Path(args.hosts).resolve() if args.hosts else None
        return
    from harness.vm.emulated_hosts import EmulatedHosts

    print(f"popcorn-harness: emulating {args.emulated_hosts} hosts (a libvirtd each, VXLAN overlay)", file=sys.stderr)
    with EmulatedHosts(args.emulated_hosts) as hosts:
        yield hosts.write_hosts_file(hosts.workdir / "hosts")


def _run_suites(args: argparse.Namespace, console, kernel: str, origin: str, suites: str, artifacts: Path,
                junit: Path, hosts: Path | None) -> int:
    """Run pytest on ``suites`` (clusters on ``hosts`` when given), then print the summary and write the
    report; return the exit code."""
    from rich.markup import escape

    from harness.junit import summarize_junit, write_report
    from harness.popcorn.claim import popcorn_claim
    from harness.popcorn.suites import POPCORN_SUITES, suite_of
    from harness.vm.hosts import read_hosts_file

    command = [sys.executable, "-m", "pytest", *(str(REPO / p) for p in SUITE_PATHS[suites]), "-n", str(args.workers),
               f"--kernel={kernel}", f"--nodes={args.nodes}", f"--accel={args.accel}",
               f"--boot-timeout={args.boot_timeout}", f"--backend={args.backend}",
               *([f"--hosts={hosts}"] if hosts else []), f"--artifacts={artifacts}", f"--junitxml={junit}",
               *args.pytest_args]
    console.print(f"[bold]kernel[/bold] {escape(f'{kernel} ({origin})')}\n[bold]running[/bold] {escape(' '.join(command))}",
                  highlight=False)
    if hosts:
        console.print(f"[bold]hosts[/bold] {escape(', '.join(read_hosts_file(hosts)))}", highlight=False)
    started = time.monotonic()
    code = subprocess.call(command, cwd=REPO)
    elapsed = time.monotonic() - started
    if not junit.is_file():
        console.print(f"pytest wrote no report (exit code {code})")
        return code or 1
    summary = summarize_junit(junit, suite_of)
    report = write_report(artifacts, summary, {"kernel": kernel, "kernel_origin": origin, "nodes": args.nodes,
                                               "accel": args.accel, "backend": args.backend, "pytest_exit": code,
                                               "hosts": f"{args.emulated_hosts} emulated" if args.emulated_hosts
                                               else args.hosts or "this machine",
                                               "suites": suites,
                                               "seconds": round(elapsed, 1), "command": command})
    console.rule("summary")
    for suite, counts in sorted(summary.suites.items()):
        console.print(f"  {suite:<20} {summary.line(counts)}", highlight=False)
    console.print(escape(f"{summary.line()} in {elapsed:.0f}s; kernel: {origin}"), highlight=False)
    if summary.cluster_resets:
        console.print("  clusters reset after a test: " + ", ".join(
            f"{count} {how}" for how, count in sorted(summary.cluster_resets.items())), highlight=False)
    # Test ids, messages and paths carry brackets ([execve], a user's "[/x]") that rich would take for markup:
    # every text that is not the harness's own is escaped.
    for defect in summary.known_defects:
        console.print(escape(f"  {defect['outcome']:<8} {defect['defect']} {defect['test']}: "
                             f"{defect['symptom_actual'] or '-'}"), highlight=False)
    for name, message in summary.failures:
        console.print(f"  [red]FAILED[/red] {escape(f'{name}: {message}')}", highlight=False)
    for reason, count in summary.skip_reasons.items():
        console.print(escape(f"  skipped {count}: {reason}"), highlight=False)
    console.print(escape(f"report: {report}\njunit: {junit}\nfailure artifacts: {artifacts}/<test id>/"), highlight=False)
    claim = popcorn_claim(kernel)
    if claim and summary.ran(POPCORN_SUITES) == 0:
        console.print(f"[red]no Popcorn test ran[/red] {escape(f'on a Popcorn kernel ({claim}): the run fails')}",
                      highlight=False)
        return code or 1
    if not claim and summary.ran(POPCORN_SUITES) == 0:
        console.print(escape(f"no Popcorn test ran: the kernel {kernel} is not a Popcorn kernel"), highlight=False)
    return code
