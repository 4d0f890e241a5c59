"""``popcorn-harness bench``: what Popcorn costs, measured in the guests of a fresh cluster.

Boots the cluster (``--kernel``), brings the Popcorn mesh up and saves a snapshot, then runs every metric
(``--metrics``) ``--repeat`` times, in rounds: a migration round trip, the first touch at node 1 of a page
the origin owns (read, write), a page bouncing between two writers, a futex turn across nodes and on one
node, 1-32 threads migrating at once, and plain workloads (syscall, fork+exec, page faults, mmap) that
need no Popcorn. Timings are read inside the guests; under TCG they are not absolute: compare kernels
in the same run. With ``--against KERNEL`` a second cluster boots that kernel and the rounds alternate
between them (A B, B A, ...); each metric of B is compared with A's by a permutation test on the
rounds' medians, and flagged only beyond the measured noise. ``--baseline FILE`` compares kernel A with
a saved run's (``--json`` of an earlier run). A failed run (error, kernel report, hang) is recorded and
the cluster restored from its snapshot. Exit code 0 when every run measured, 1 when a run failed or a
slowdown against ``--baseline`` is flagged, 2 for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import time
from pathlib import Path

from harness.cli.common import spec_from_args
from harness.cluster.options import add_cluster_options
from harness.errors import UsageError
from harness.popcorn.abi import PROFILES

#: Most rounds a run accepts.
MAX_REPEAT = 100


def register(subparsers) -> None:
    """Add the ``bench`` command."""
    from harness.bench.metrics import BY_NAME, GROUPS

    parser = subparsers.add_parser("bench", help="measure Popcorn's costs on a fresh cluster (A/B kernels, baseline)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cluster_options(parser.add_argument)
    parser.add_argument("--metrics", default="all", metavar="M,M",
                        help=f"metrics or groups to run (default all; groups: {', '.join(GROUPS)}; metrics: "
                             f"{', '.join(BY_NAME)})")
    parser.add_argument("--repeat", type=int, default=5, metavar="R", help="rounds (default 5)")
    parser.add_argument("--iterations", type=int, default=None, metavar="N",
                        help="samples per run of every metric (default: each metric's own)")
    parser.add_argument("--against", default=None, metavar="KERNEL",
                        help="second kernel (bzImage or artifact dir), e.g. the same tree without CONFIG_POPCORN")
    parser.add_argument("--baseline", type=Path, default=None, metavar="FILE",
                        help="a saved run's JSON: compare kernel A with its kernel A")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="where the results go (default ./artifacts/bench-<date>-<time>/bench.json)")
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR", help="write PNG plots of the results here")
    parser.add_argument("--quickack", action="store_true",
                        help="TCP on the cluster's route ACKs at once in every node: run with and without it to "
                             "tell a latency spent waiting on delayed ACKs (Popcorn sends without TCP_NODELAY) "
                             "from Popcorn's own")
    parser.add_argument("--abi", default=None, choices=tuple(PROFILES), help="Popcorn ABI profile (default: from the kernel)")
    parser.set_defaults(func=cmd_bench)


def _check(args: argparse.Namespace):
    from harness.bench.metrics import select_metrics
    from harness.bench.results import load

    if not 1 <= args.repeat <= MAX_REPEAT:
        raise UsageError(f"--repeat must be 1..{MAX_REPEAT}, got {args.repeat}")
    if args.iterations is not None and not 1 <= args.iterations <= 100_000:
        raise UsageError(f"--iterations must be 1..100000, got {args.iterations}")
    metrics = select_metrics(args.metrics)
    baseline = load(args.baseline) if args.baseline else None
    needed = [name for name, wanted in (("scipy", args.against or baseline), ("matplotlib", args.plots)) if wanted]
    for module in needed:
        try:
            __import__(module)
        except ImportError:
            raise UsageError(f"{module} is needed for {'--plots' if module == 'matplotlib' else 'comparisons'} "
                             "(pip install 'popcorn-harness[bench]')") from None
    return metrics, baseline


def cmd_bench(args: argparse.Namespace) -> int:
    """Boot every kernel, run the rounds, print and save the results, compare, plot."""
    from harness.bench.results import comparison_lines, comparisons, runs_of, summary_lines, to_json
    from harness.bench.run import Target, host_tsc_mhz, run_rounds, set_quick_acks
    from harness.cluster.cluster import Cluster
    from harness.cluster.progress import RichReporter
    from harness.popcorn.bringup import bring_up_if_popcorn
    from harness.popcorn.payload import with_popcorn_payload

    metrics, baseline = _check(args)
    spec = spec_from_args(args)
    kernels = {"A": spec.kernel} | ({"B": args.against} if args.against else {})
    clusters = {label: Cluster(dataclasses.replace(spec, kernel=kernel)) for label, kernel in kernels.items()}
    for cluster in clusters.values():
        cluster.preflight()  # bad input fails here, before anything is created
    out = (args.json or Path("artifacts") / time.strftime("bench-%Y%m%d-%H%M%S") / "bench.json").resolve()
    targets: list[Target] = []
    with RichReporter() as reporter, contextlib.ExitStack() as stack:
        for label, cluster in clusters.items():
            cluster.spec = with_popcorn_payload(cluster.spec, None)
            cluster.reporter = reporter
            stack.enter_context(cluster)
            support = bring_up_if_popcorn(cluster, args.abi, reporter=reporter)
            reporter.info(f"{label}: {kernels[label]}: "
                          + ("Popcorn mesh up" if support.available else f"no Popcorn ({support.reason})"))
            if args.quickack:
                set_quick_acks(cluster)  # before the snapshot: every restore keeps it
            cluster.save_snapshot()
            targets.append(Target(label, str(kernels[label]), cluster, support.profile if support.available else None))
        run_rounds(targets, metrics, args.repeat, args.iterations, reporter, tsc_mhz=host_tsc_mhz())
        document = to_json(targets, targets[0].cluster.accel, spec.nodes, args.repeat, quick_acks=args.quickack)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1))
    lines = summary_lines(document)
    found = []
    if args.against:
        found = comparisons(runs_of(document, "A"), runs_of(document, "B"))
        lines += comparison_lines(found, "A", "B")
    slower_than_baseline = []
    if baseline is not None:
        against_baseline = comparisons(runs_of(baseline, "A"), runs_of(document, "A"))
        lines += comparison_lines(against_baseline, f"baseline {args.baseline}", "A")
        slower_than_baseline = [c.metric for c in against_baseline if c.verdict() == "slower"]
    if args.plots:
        from harness.bench.plots import plot_bench

        for path in plot_bench(document, found, args.plots):
            lines.append(f"plot: {path}")
    lines.append(f"results: {out}")
    print("\n".join(lines))
    failed = any(runs.errors for t in targets for runs in t.results.values())
    return 1 if failed or slower_than_baseline else 0
