"""What a cluster carries to run Popcorn programs: Popcorn's message-layer modules (``msg_socket.ko`` of
every ABI profile) and the guest programs, built with the headers every Popcorn guest program includes
(``harness/popcorn/guest/``: syscall wrappers, migration, threads and the check protocol) and the probe
that detection runs (``pcn_probe``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from harness.cluster.spec import ClusterSpec
from harness.guest.programs import build_guest_programs, compile_command, image_files
from harness.popcorn.abi import PROFILES

#: The Popcorn guest headers and the probe: the guest side of ``harness/popcorn/abi.py``.
POPCORN_GUEST_DIR = Path(__file__).resolve().parent / "guest"
#: The run-time library linked into every guest program: Popcorn's user-library API, working threads.
POPCORN_RUNTIME = (POPCORN_GUEST_DIR / "runtime" / "popcorn_lib.c",)


def build_popcorn_programs(programs: Path | None = None, defines: Iterable[str] = (),
                           names: Iterable[str] | None = None) -> dict[str, Path]:
    """Build the probe and the programs of the directory ``programs`` (if given) against the Popcorn
    guest headers; name -> host path (see ``build_guest_programs``)."""
    dirs = [POPCORN_GUEST_DIR] + ([Path(programs)] if programs else [])
    return build_guest_programs(dirs, defines=defines, names=names, runtime=POPCORN_RUNTIME)


def guest_compile_command(gcc_args: list[str]) -> list[str]:
    """The gcc command that builds a user's program for the nodes, against the Popcorn headers and the
    run-time library (``popcorn-harness cc``)."""
    return compile_command(gcc_args, includes=[POPCORN_GUEST_DIR], runtime=POPCORN_RUNTIME)


def with_popcorn_payload(spec: ClusterSpec, programs: Path | None = None) -> ClusterSpec:
    """The spec plus Popcorn's message-layer modules and the guest programs (``/opt/phc/bin``: the probe,
    and those of the directory ``programs``), so any cluster (test or hand-started) can bring Popcorn up
    and run what the suites run. Call after preflight: it compiles."""
    return dataclasses.replace(spec, extra_files=spec.extra_files + image_files(build_popcorn_programs(programs)),
                               modules=tuple(sorted(set(spec.modules) | {p.module for p in PROFILES.values()})))
