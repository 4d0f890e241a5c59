"""Argument helpers shared by the CLI sub-commands: the cluster options (declared once, in
``harness/cluster/options.py``) and the directory of guest programs a cluster carries."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from harness.assets import checkout
from harness.cluster.options import add_cluster_options, spec_from_options
from harness.cluster.spec import MAX_SECONDS, ClusterSpec

#: A cluster name: it becomes part of tmux session names, leases and messages, so a plain word.
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def cluster_name(value: str) -> str:
    """argparse type of ``--name``: 1-64 letters, digits, ``_``, ``.`` or ``-``, starting with a letter or
    digit (no path, no shell or tmux syntax)."""
    if not _CLUSTER_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value[:80]!r} is not a cluster name (1-64 of A-Z a-z 0-9 _ . -, "
                                         f"starting with a letter or digit)")
    return value


def directory(value: str) -> Path:
    """argparse type of an option naming an existing directory."""
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a directory")
    return path


def seconds(value: str) -> float:
    """argparse type of a duration option: a positive number of seconds, at most a day (NaN and inf refused:
    a deadline that never comes)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value[:80]!r} is not a number of seconds") from None
    if not 0 < number <= MAX_SECONDS:  # NaN and inf fail this too
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, at most {MAX_SECONDS:g}, "
                                         f"got {value[:80]}")
    return number


def default_programs() -> Path | None:
    """The test suite's guest programs (``testcases/guest`` of the checkout), or None outside a checkout."""
    root = checkout()
    return root / "testcases" / "guest" if root is not None else None


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The cluster options (``--nodes``, ``--kernel``, ``--accel``...) and ``--programs``."""
    add_cluster_options(parser.add_argument)
    default = default_programs()
    parser.add_argument("--programs", type=directory, default=default, metavar="DIR",
                        help="directory of guest programs (*.c) to build into /opt/phc/bin"
                             + (f" (default {default})" if default else " (default: none)"))


def spec_from_args(args: argparse.Namespace) -> ClusterSpec:
    """Build a ``ClusterSpec`` from the options of ``add_cluster_arguments``."""
    return spec_from_options(vars(args).get)
