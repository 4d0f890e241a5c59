"""A cluster whose Popcorn mesh is up, for tests and for scripts: ``PopcornCluster`` (what the pytest
fixture ``popcorn`` yields) and ``popcorn_cluster(spec)``, which boots one::

    from harness.cluster.spec import ClusterSpec
    from harness.popcorn.session import popcorn_cluster

    with popcorn_cluster(ClusterSpec(nodes=2, kernel="/path/to/popcorn/artifact")) as popcorn:
        run = popcorn.run_own_program("demo", "4")   # built with: popcorn-harness cc -o demo demo.c
        print(run.exit_code, run.stdout, run.findings)
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.cluster.cluster import Cluster
from harness.cluster.spec import ClusterSpec
from harness.guest.programs import GUEST_BIN
from harness.popcorn.bringup import PopcornSupport, bring_up_if_popcorn
from harness.popcorn.own_program import ProgramRun, copy_program, run_program
from harness.popcorn.payload import with_popcorn_payload


class PopcornCluster:
    """A cluster whose Popcorn mesh is up, with the ABI profile the kernel speaks."""

    def __init__(self, cluster: Cluster, support: PopcornSupport):
        self.cluster = cluster
        self.nodes = cluster.nodes
        self.support = support
        self.profile = support.profile

    def command(self, program: str, *args: str) -> str:
        """Shell command running guest program ``program`` with the profile's syscall numbers."""
        return f"{self.profile.shell_exports()} {GUEST_BIN}/{program} {' '.join(map(shlex.quote, args))}"

    def run_own_program(self, program: str | Path, *args: str, timeout: float = 300.0) -> ProgramRun:
        """Copy a program of your own (a static binary, e.g. from ``popcorn-harness cc``) to every node and
        run it on node 0 with the profile's environment; return its ``ProgramRun`` (exit code, output,
        kernel findings on any node while it ran)."""
        copy_program(self.cluster, Path(program))
        return run_program(self.cluster, Path(program), args, timeout=timeout, profile=self.profile)


@contextmanager
def popcorn_cluster(spec: ClusterSpec, abi: str | None = None, mesh_timeout: float = 300.0,
                    programs: Path | None = None) -> Iterator[PopcornCluster]:
    """Boot ``spec`` with the Popcorn payload (message-layer modules, probe, the guest programs of
    ``programs``), bring the mesh up (a kernel without Popcorn is a ``UsageError``) and yield it; the
    cluster is stopped at the end, whatever happened."""
    cluster = Cluster(spec)
    cluster.preflight()
    cluster.spec = with_popcorn_payload(spec, programs)
    with cluster:
        yield PopcornCluster(cluster, bring_up_if_popcorn(cluster, abi, mesh_timeout, required=True))
