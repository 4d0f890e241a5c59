"""Argument helpers shared by the CLI sub-commands."""

from __future__ import annotations

import argparse
import os

from harness.cluster.spec import ACCELERATORS

ACCEL_HELP = "auto: use KVM only if a probe guest really boots with it, else TCG (default auto)"


def add_cluster_arguments(parser: argparse.ArgumentParser, default_nodes: int = 2) -> None:
    """Options that describe a cluster: --nodes, --kernel, --accel, --memory, --boot-timeout..."""
    parser.add_argument("--nodes", type=int, default=default_nodes, help=f"number of nodes, 1-32 (default {default_nodes})")
    parser.add_argument("--kernel", default=os.environ.get("POPCORN_HARNESS_KERNEL", ""),
                        help="bzImage file or kernel artifact dir (env POPCORN_HARNESS_KERNEL)")
    parser.add_argument("--accel", choices=ACCELERATORS, default="auto",
                        help=ACCEL_HELP)
    parser.add_argument("--memory", type=int, default=256, metavar="MIB", help="memory per node (default 256)")
    parser.add_argument("--cpus", type=int, default=1, help="vCPUs per node (default 1)")
    parser.add_argument("--boot-timeout", type=float, default=300.0, metavar="S",
                        help="seconds for every node to answer SSH (default 300)")
    parser.add_argument("--append", default="", metavar="ARGS", help="extra kernel command-line arguments")
    parser.add_argument("--gdb", action="store_true", help="give each node a gdb stub on 127.0.0.1")


def spec_from_args(args: argparse.Namespace):
    """Build a ``ClusterSpec`` from the options of ``add_cluster_arguments``."""
    from harness.cluster.spec import ClusterSpec

    return ClusterSpec(nodes=args.nodes, kernel=args.kernel, accel=args.accel, memory_mb=args.memory,
                       cpus=args.cpus, boot_timeout=args.boot_timeout, cmdline=args.append, gdb=args.gdb)
