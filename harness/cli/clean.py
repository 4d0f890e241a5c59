"""``popcorn-harness clean``: remove what dead runs left behind."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``clean`` command."""
    parser = subparsers.add_parser(
        "clean", help="remove leftovers of dead runs (QEMU processes, namespaces, work dirs)",
        description="Remove QEMU processes, network namespaces and work dirs of runs whose owner is gone. "
                    "Live runs and clusters started with 'cluster up' are left alone unless --all.")
    parser.add_argument("--all", action="store_true", help="also stop every 'cluster up' cluster")
    parser.set_defaults(func=cmd_clean)


def cmd_clean(args: argparse.Namespace) -> int:
    """Sweep stale runs (and with --all, detached clusters); print what was removed."""
    from harness.vm.leftovers import release_run, sweep_stale
    from harness.cluster.cluster import require_root
    from harness.vm.runs import RunLease

    require_root()
    removed = []
    if args.all:
        for lease in RunLease.all():
            if lease.detached:
                removed += release_run(lease)
    removed += sweep_stale()
    for item in removed:
        print(f"removed {item}")
    if not removed:
        print("nothing to clean")
    return 0
