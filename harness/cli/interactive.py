"""An interactive cluster: gdb stubs ready, a shell on every node, everything torn down on exit.

``cluster up --interactive`` and ``repro BUNDLE --shell`` boot a cluster with a gdb stub per node
(``nokaslr``, so the symbols of ``vmlinux`` match), bring the Popcorn mesh up when the kernel has it,
print the ``gdb`` line of each node, then give a shell: a tmux session with one pane per node (each
``popcorn-harness cluster ssh NODE --name NAME``) when stdin is a terminal and tmux exists, else (or with
``--repl``) a Python REPL with ``cluster``, ``nodes`` and ``node0``, ``node1``... bound as names, like the
NixOS test driver's interactive mode. When the shell ends (or on Ctrl-C, SIGTERM, SIGHUP) the cluster is
stopped and removed. The cluster is not detached: its QEMUs die with this process even on SIGKILL.
"""

from __future__ import annotations

import code
import contextlib
import dataclasses
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from harness.assets import checkout
from harness.cluster.spec import ClusterSpec
from harness.errors import UsageError
from harness.guest.programs import GUEST_BIN

REPO = checkout() or Path.cwd()


def use_tmux(repl: bool) -> bool:
    """tmux panes when asked for no REPL, stdin is a terminal and tmux is installed."""
    return not repl and sys.stdin.isatty() and shutil.which("tmux") is not None


def describe(cluster, support, name: str) -> list[str]:
    """Lines telling where everything is: nodes, consoles, vmlinux and each node's gdb command."""
    vmlinux = cluster.kernel.file("vmlinux") if cluster.kernel else None
    popcorn = ("Popcorn mesh up" if support is not None and support.available else
               f"no Popcorn mesh ({support.reason})" if support is not None else "no Popcorn mesh")
    lines = [f"cluster {name!r}: {len(cluster.nodes)} node(s), {cluster.accel}, kernel {cluster.kernel.release}, "
             f"{popcorn}",
             f"vmlinux: {vmlinux}" if vmlinux else "vmlinux: none beside the kernel (gdb needs one with symbols)"]
    gdb_binary = shlex.quote(str(vmlinux)) if vmlinux else "vmlinux"
    for node in cluster.nodes:
        stub = shlex.quote(f"target remote {node.vm.config.gdb_socket}")
        lines.append(f"  {node.name}  {node.address:<12}  gdb {gdb_binary} -ex {stub}"
                     f"   console: {node.vm.config.console_path}")
    return lines


class _Console(code.InteractiveConsole):
    """A REPL that remembers whether any input raised (for the exit code of a piped script)."""

    failed = False

    def showtraceback(self) -> None:
        self.failed = True
        super().showtraceback()

    def showsyntaxerror(self, filename=None, **kwargs) -> None:
        self.failed = True
        super().showsyntaxerror(filename, **kwargs)


def repl(cluster, names: dict | None = None, banner: str = "") -> int:
    """A Python REPL with ``cluster``, ``nodes`` and ``node<i>`` bound; exit code 1 if any input raised."""
    scope = {"cluster": cluster, "nodes": cluster.nodes, **{node.name: node for node in cluster.nodes},
             **(names or {})}
    console = _Console(scope)
    prompts = (getattr(sys, "ps1", None), getattr(sys, "ps2", None))
    if not sys.stdin.isatty():  # a piped script: its output only, no prompts
        sys.ps1 = sys.ps2 = ""
    try:
        console.interact(banner=banner or f"names: {', '.join(scope)}; Ctrl-D ends the session and the cluster",
                         exitmsg="")
    finally:
        sys.ps1, sys.ps2 = prompts
        for attribute, value in (("ps1", prompts[0]), ("ps2", prompts[1])):
            if value is None:
                delattr(sys, attribute)
    return 1 if console.failed else 0


def tmux(cluster, name: str) -> int:
    """One tmux pane per node, each an SSH shell; returns when the session ends or is detached."""
    session = f"phc-{name}"
    env = {key: value for key, value in os.environ.items() if key != "TMUX"}  # also from inside tmux

    def tmux_cmd(*args: str) -> None:
        subprocess.run(["tmux", *args], env=env, check=True, stdout=subprocess.DEVNULL)

    def shell(node) -> str:
        return shlex.join([sys.executable, "-m", "harness", "cluster", "ssh", node.name, "--name", name])

    # "=NAME" makes tmux match the session name exactly: a bare "-t NAME" also takes a session whose name
    # only starts with NAME (another cluster's, or a user's), which kill-session would then end.
    # The panes are laid out under a staging name and the session renamed when whole, so whoever looks
    # for the cluster's session (a user, a test) never finds it with some nodes' panes still missing.
    staging = f"starting-{session}"
    try:
        tmux_cmd("new-session", "-d", "-s", staging, "-c", str(REPO), "-n", name, shell(cluster.nodes[0]))
        for node in cluster.nodes[1:]:
            tmux_cmd("split-window", "-t", f"={staging}:", "-c", str(REPO), shell(node))
            tmux_cmd("select-layout", "-t", f"={staging}:", "tiled")
        tmux_cmd("rename-session", "-t", f"={staging}", session)
        return subprocess.call(["tmux", "attach-session", "-t", f"={session}"], env=env)
    finally:
        for each in (staging, session):
            subprocess.run(["tmux", "kill-session", "-t", f"={each}"], env=env, capture_output=True)


def _has_probe(spec: ClusterSpec) -> bool:
    """Popcorn detection needs the ``pcn_probe`` guest program in the image."""
    return f"{GUEST_BIN}/pcn_probe" in (guest for _, guest in spec.extra_files)


@contextlib.contextmanager
def _signals_end_session():
    """SIGTERM and SIGHUP end the session like Ctrl-D does (so the cluster is torn down)."""
    owner = os.getpid()

    def stop(signum, _frame):
        if os.getpid() != owner:  # a forked helper (pyroute2 makes namespaces in one) dies as it would have
            os._exit(128 + signum)
        raise SystemExit(128 + signum)

    saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def session(spec: ClusterSpec, *, name: str, popcorn: str = "auto", abi: str | None = None,
            mesh_timeout: float = 300.0, use_repl: bool = False, payload: bool = True,
            programs: Path | None = None, names: Callable[[object], dict] | None = None,
            notes: Sequence[str] = ()) -> int:
    """Boot ``spec`` with gdb stubs (``payload``: add the Popcorn payload and the guest programs of the
    directory ``programs``), write the nodes file, bring Popcorn up (``popcorn``: auto, required or off),
    print ``notes``, give a shell (tmux panes or, with ``use_repl`` or no terminal, a REPL with
    ``names(cluster)`` bound too) and tear the cluster down when it ends."""
    from harness.cluster.cluster import Cluster
    from harness.cluster.progress import RichReporter
    from harness.popcorn.bringup import bring_up_if_popcorn
    from harness.popcorn.nodes_file import write_nodes_file
    from harness.popcorn.payload import with_popcorn_payload

    if Cluster.find_lease(name):
        raise UsageError(f"a cluster named {name!r} is already up (popcorn-harness cluster down --name {name})")
    cluster = Cluster(dataclasses.replace(spec, gdb=True), name=name)
    cluster.preflight()  # bad input fails here, before any output or resource
    if payload:
        cluster.spec = with_popcorn_payload(cluster.spec, programs)
    with _signals_end_session():
        try:
            support = None
            with RichReporter() as reporter:
                cluster.reporter = reporter
                cluster.start()
                if popcorn == "required" or (popcorn == "auto" and _has_probe(cluster.spec)):
                    support = bring_up_if_popcorn(cluster, abi, mesh_timeout, required=popcorn == "required")
                else:
                    write_nodes_file(cluster)
            print("\n".join([*describe(cluster, support, name), *notes]), flush=True)
            if use_tmux(use_repl):
                return tmux(cluster, name)
            return repl(cluster, names(cluster) if names else None)
        finally:
            cluster.stop()
            print(f"cluster {name!r} is down", file=sys.stderr)
