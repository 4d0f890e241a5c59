"""``popcorn-harness cc [GCC ARGS] -o OUT SRC...``: build a program of your own for the cluster's nodes.

Runs the host's gcc with every argument as given, plus what a guest program needs: a static binary
(the guests have no shared libraries), ``-pthread``, ``-D_GNU_SOURCE``, the harness's Popcorn headers on
the include path (``#include "migrate.h"`` or ``<migrate.h>`` gives the API of Popcorn's user library:
migrate, popcorn_migrate, popcorn_get_status, popcorn_current_nid, popcorn_get_node_info,
popcorn_propose_migration, popcorn_gettid) and, when linking, the harness's run-time library, which
implements that API for every ABI profile and lets glibc's pthread_create work on Popcorn 5.2 (whose
syscall 435 is not clone3). Exits with gcc's exit code. Then: ``popcorn-harness cluster run OUT``.
"""

from __future__ import annotations

import argparse
import subprocess


def register(subparsers) -> None:
    """Add the ``cc`` command: every argument after it goes to gcc."""
    parser = subparsers.add_parser("cc", help="compile a program of your own for the nodes (gcc arguments)",
                                   description=__doc__, prefix_chars="+", add_help=False,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gcc_args", nargs=argparse.REMAINDER, metavar="GCC ARGS",
                        help="gcc's arguments, e.g. -O2 -o demo demo.c")
    parser.set_defaults(func=cmd_cc, cc_parser=parser)


def cmd_cc(args: argparse.Namespace) -> int:
    """Run gcc for the guest (``harness.popcorn.payload.guest_compile_command``)."""
    from harness.errors import UsageError
    from harness.popcorn.payload import guest_compile_command

    if args.gcc_args in ([], ["-h"], ["--help"]):
        args.cc_parser.print_help()
        return 0
    command = guest_compile_command(args.gcc_args)
    try:
        return subprocess.run(command).returncode
    except FileNotFoundError:
        raise UsageError("gcc not found: popcorn-harness cc needs it (apt-get install gcc libc6-dev)") from None
