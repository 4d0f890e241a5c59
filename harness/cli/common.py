"""Argument helpers shared by the CLI sub-commands: the cluster options (declared once, in
``harness/cluster/options.py``) and the directory of guest programs a cluster carries."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.assets import checkout
from harness.cluster.options import add_cluster_options, spec_from_options
from harness.cluster.spec import ClusterSpec


def default_programs() -> Path | None:
    """The test suite's guest programs (``testcases/guest`` of the checkout), or None outside a checkout."""
    root = checkout()
    return root / "testcases" / "guest" if root is not None else None


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The cluster options (``--nodes``, ``--kernel``, ``--accel``...) and ``--programs``."""
    add_cluster_options(parser.add_argument)
    default = default_programs()
    parser.add_argument("--programs", type=Path, default=default, metavar="DIR",
                        help="directory of guest programs (*.c) to build into /opt/phc/bin"
                             + (f" (default {default})" if default else " (default: none)"))


def spec_from_args(args: argparse.Namespace) -> ClusterSpec:
    """Build a ``ClusterSpec`` from the options of ``add_cluster_arguments``."""
    return spec_from_options(vars(args).get)
