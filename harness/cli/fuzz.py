"""``popcorn-harness fuzz``: a bounded, seeded fuzz run of the Popcorn system calls on a fresh cluster.

Boots the cluster (``--kernel``: a Popcorn kernel), brings the Popcorn mesh up and runs the guest fuzzer
on every node at once for ``--seconds``: threads that migrate draw calls to the Popcorn syscalls, madvise
(MADV_RELEASE too) and futex, with bad pointers and node ids among them, from ``--seed`` (random when not
given, and printed: the same seed draws the same calls). Calls known to crash the 5.2.21 tree are left
out unless ``--all-calls``. Every distinct kernel report title on a console is listed with its count
and gets a reproduction bundle (``<artifacts>/finding-<n>/bundle``) that ``popcorn-harness repro``
replays. Exit code 0 when no node reported anything, 1 when a title was found, 2 for bad input.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from harness.cli.common import add_cluster_arguments, spec_from_args
from harness.popcorn.abi import PROFILES
from harness.errors import UsageError

#: Longest run accepted (seconds): a fuzz run is bounded.
MAX_SECONDS = 3600


def register(subparsers) -> None:
    """Add the ``fuzz`` command."""
    parser = subparsers.add_parser("fuzz", help="fuzz the Popcorn syscalls on a fresh cluster for S seconds (seeded)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cluster_arguments(parser)
    parser.add_argument("--seconds", type=int, default=60, metavar="S",
                        help=f"how long each node fuzzes (default 60, at most {MAX_SECONDS})")
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="the run's seed (default: random, printed)")
    parser.add_argument("--threads", type=int, default=2, help="fuzzing threads per node (1-8, default 2)")
    parser.add_argument("--all-calls", action="store_true",
                        help="also the calls known to crash the 5.2.21 tree (a bad register set, MADV_RELEASE at "
                             "the origin, futex ops beyond WAIT/WAKE...)")
    parser.add_argument("--calls", default=None, metavar="OP,OP",
                        help="draw only these ops (known to crash or not), to narrow down what leads to a finding; "
                             "ops: " + ", ".join(_op_names()))
    parser.add_argument("--abi", default=None, choices=tuple(PROFILES), help="Popcorn ABI profile (default: from the kernel)")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="where bundles and consoles go (default ./artifacts/fuzz-<date>-<time>)")
    parser.set_defaults(func=cmd_fuzz)


def _op_names() -> list[str]:
    from harness.popcorn.fuzz import fuzz_ops

    return [name + (" (known to crash)" if bad else "") for name, bad in fuzz_ops().items()]


def parse_calls(text: str | None) -> tuple[str, ...]:
    """``--calls a,b`` -> ('a', 'b'); ``UsageError`` for an empty list or an op the fuzzer does not have."""
    from harness.popcorn.fuzz import fuzz_ops

    if text is None:
        return ()
    names = tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in fuzz_ops()]
    if not all(names) or unknown:
        raise UsageError(f"--calls: {', '.join(unknown) or 'an empty name'} is not an op of the fuzzer "
                         f"(ops: {', '.join(fuzz_ops())})")
    return names


def _check(args: argparse.Namespace) -> None:
    if not 1 <= args.seconds <= MAX_SECONDS:
        raise UsageError(f"--seconds must be 1..{MAX_SECONDS}, got {args.seconds}")
    if not 1 <= args.threads <= 8:
        raise UsageError(f"--threads must be 1..8, got {args.threads}")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.nodes < 2:
        raise UsageError(f"--nodes must be at least 2 to fuzz migrations, got {args.nodes}")
    if args.calls is not None and args.all_calls:
        raise UsageError("--calls names the ops to draw; --all-calls goes without it")
    parse_calls(args.calls)


def cmd_fuzz(args: argparse.Namespace) -> int:
    """Boot, bring Popcorn up, fuzz every node, report each finding title with a bundle."""
    from harness.cluster.cluster import Cluster
    from harness.cluster.progress import RichReporter
    from harness.popcorn.abi import check_node_count, get_profile
    from harness.popcorn.bringup import bring_up_if_popcorn
    from harness.popcorn.fuzz import run_fuzz, save_bundles, summary_lines
    from harness.popcorn.payload import with_popcorn_payload

    _check(args)
    spec = spec_from_args(args)
    check_node_count(spec.nodes, get_profile(args.abi) if args.abi else None)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    cluster = Cluster(spec)
    cluster.preflight()  # bad input fails here, before anything is created
    artifacts = (args.artifacts or Path("artifacts") / time.strftime("fuzz-%Y%m%d-%H%M%S")).resolve()
    print(f"fuzz seed {seed} (replay the same calls with --seed {seed}); artifacts {artifacts}", file=sys.stderr,
          flush=True)
    cluster.spec = with_popcorn_payload(spec, args.programs)
    with RichReporter() as reporter:
        cluster.reporter = reporter
        with cluster:
            support = bring_up_if_popcorn(cluster, args.abi, reporter=reporter)
            if not support.available:
                raise UsageError(f"fuzz needs a Popcorn kernel: {support.reason}")
            run = run_fuzz(cluster, support.profile, seed, args.seconds, threads=args.threads,
                           all_calls=args.all_calls, calls=parse_calls(args.calls), reporter=reporter)
            artifacts.mkdir(parents=True, exist_ok=True)
            bundles = save_bundles(cluster, run, artifacts, support.profile)
            for node in cluster.nodes:
                (artifacts / f"{node.name}.console.log").write_text(node.console_text())
    for line in summary_lines(run, bundles):
        print(line)
    return 1 if run.findings or run.not_ended() else 0
