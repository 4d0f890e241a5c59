"""``popcorn-harness cluster up|ssh|exec|cp|run|status|partition|heal|down``: a cluster that outlives the
command, and a program of your own on a cluster.

``up`` boots a detached cluster and leases it under a name (default ``default``); the other
sub-commands find it by that name, so separate invocations (and separate shells) share it.
``up --interactive`` keeps it attached instead: gdb stubs, a shell on each node (tmux panes, or a Python
REPL with ``--repl``), and the cluster is gone when the shell ends (``harness/cli/interactive.py``).
``cp`` copies files in and out (``NODE:PATH``, ``all:PATH``); ``exec`` passes its standard input on.
``run PROGRAM`` boots a cluster (or uses the one named by ``--name``), brings Popcorn up, runs the
program on node 0 and reports its exit status and any kernel finding (``harness/popcorn/own_program.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

from harness.cli.common import add_cluster_arguments, cluster_name, seconds, spec_from_args
from harness.popcorn.abi import PROFILES

DEFAULT_NAME = "default"

RUN_DESCRIPTION = """Run a program of your own on a Popcorn cluster.

Boots a cluster (--nodes, --kernel...) or uses a running one (--name), brings the Popcorn mesh up when the
kernel has it, puts PROGRAM on every node (/opt/phc/bin/NAME: a migrating thread needs it at the same path
everywhere), runs it on node 0 with the ABI profile's environment, streams its output, and watches every
node's console meanwhile. Then prints its exit status and each kernel finding (node: title); when something
failed, a reproduction bundle goes to --artifacts. A cluster it booted is removed at the end.

Exit code: the program's; 124 when it did not end within --timeout; 125 when a node's kernel reported a
problem (WARNING, BUG, Oops, hang...) or stopped answering, whatever the program returned; 2 for bad input.
Build the program with: popcorn-harness cc -O2 -o demo demo.c (static, pthreads work, #include <migrate.h>).
"""


def _add_name_argument(parser: argparse.ArgumentParser, help: str = "cluster name") -> None:
    """``--name``: the cluster a command boots or works on (``DEFAULT_NAME`` when not given)."""
    parser.add_argument("--name", default=DEFAULT_NAME, type=cluster_name, help=help)


def register(subparsers) -> None:
    """Add the ``cluster`` command and its sub-commands."""
    parser = subparsers.add_parser("cluster", help="boot, use and stop a cluster that outlives the command",
                                   description=__doc__)
    sub = parser.add_subparsers(dest="cluster_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True

    up = sub.add_parser("up", help="boot a cluster and leave it running")
    add_cluster_arguments(up)
    _add_name_argument(up, "name to find the cluster by (default 'default')")
    up.add_argument("--popcorn", action="store_true",
                    help="bring the Popcorn mesh up (insmod msg_socket.ko everywhere, verify node info)")
    up.add_argument("--abi", choices=tuple(PROFILES), help="Popcorn ABI profile (default: from the kernel)")
    up.add_argument("--mesh-timeout", type=seconds, default=300.0, metavar="S", help="seconds for the mesh (default 300)")
    up.add_argument("--interactive", action="store_true",
                    help="gdb stubs on, Popcorn mesh up when the kernel has it, a shell on each node (tmux panes); "
                         "the cluster is removed when the shell ends")
    up.add_argument("--repl", action="store_true",
                    help="with --interactive: a Python REPL (cluster, node0, node1...) instead of tmux panes")
    _add_files_argument(up)
    up.set_defaults(func=cmd_up)

    ssh = sub.add_parser("ssh", help="open a shell on a node")
    ssh.add_argument("node", help="node name (node0), index (0) or address")
    _add_name_argument(ssh)
    ssh.set_defaults(func=cmd_ssh)

    exe = sub.add_parser("exec", help="run a command on a node (standard input passed on); exits with its exit code")
    exe.add_argument("node", help="node name (node0), index (0), address, or 'all'")
    exe.add_argument("cmd", nargs="*", help="the shell command; put -- before it if it has options (exec node0 -- ls -l)")
    _add_name_argument(exe)
    exe.add_argument("--timeout", type=seconds, default=60.0, help="seconds before the command fails (default 60)")
    exe.set_defaults(func=cmd_exec, trailing="cmd")

    cp = sub.add_parser("cp", help="copy a file to or from nodes (NODE:PATH, all:PATH)",
                        description="Copy a file between the host and the nodes of a running cluster. One side is "
                                    "NODE:PATH (node0:/root/x, 0:/root/x, or all:/root/x for every node); a guest "
                                    "PATH ending in / keeps the file's name. From all: the files land in "
                                    "LOCAL/<node>/<name>.")
    cp.add_argument("source", help="LOCAL or NODE:PATH")
    cp.add_argument("destination", help="NODE:PATH or LOCAL")
    _add_name_argument(cp)
    cp.set_defaults(func=cmd_cp)

    run = sub.add_parser("run", help="run a program of your own on a cluster (node 0) and report kernel findings",
                         description=RUN_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cluster_arguments(run)
    run.add_argument("program", help="the program: a static x86-64 binary (build it with popcorn-harness cc)")
    run.add_argument("args", nargs="*", help="its arguments; put -- before them if they have options")
    run.add_argument("--name", type=cluster_name, help="use the running cluster of this name (cluster up) instead of booting one")
    run.add_argument("--timeout", type=seconds, default=300.0, metavar="S",
                     help="seconds the program may run (default 300)")
    run.add_argument("--abi", choices=tuple(PROFILES), help="Popcorn ABI profile (default: from the kernel)")
    run.add_argument("--mesh-timeout", type=seconds, default=300.0, metavar="S", help="seconds for the mesh (default 300)")
    run.add_argument("--artifacts", type=Path, default=Path("artifacts/cluster-run"), metavar="DIR",
                     help="where a failed run leaves its reproduction bundle (default artifacts/cluster-run)")
    _add_files_argument(run)
    run.set_defaults(func=cmd_run, trailing="args")

    status = sub.add_parser("status", help="show each node's VM and SSH state")
    _add_name_argument(status)
    status.set_defaults(func=cmd_status)

    part = sub.add_parser("partition", help="cut IPv4 between groups of nodes (stays until heal or down)")
    part.add_argument("groups", nargs="+", metavar="GROUP", help="comma-separated nodes, e.g. 0 1,2 or node0 node1,node2")
    _add_name_argument(part)
    part.set_defaults(func=cmd_partition)

    heal = sub.add_parser("heal", help="remove every partition")
    _add_name_argument(heal)
    heal.set_defaults(func=cmd_heal)

    down = sub.add_parser("down", help="stop the cluster and remove everything it created")
    _add_name_argument(down)
    down.set_defaults(func=cmd_down)


def cmd_up(args: argparse.Namespace) -> int:
    """Boot a detached cluster and print how to reach each node."""
    from harness.cluster.cluster import Cluster
    from harness.cluster.progress import RichReporter
    from harness.errors import UsageError
    from harness.popcorn.abi import check_node_count, get_profile
    from harness.popcorn.nodes_file import write_nodes_file
    from harness.popcorn.payload import with_popcorn_payload

    spec = with_added_files(spec_from_args(args), args.add)
    if args.repl and not args.interactive:
        raise UsageError("--repl goes with --interactive")
    if args.interactive:
        from harness.cli.interactive import session

        return session(spec, name=args.name, popcorn="required" if args.popcorn else "auto", abi=args.abi,
                       mesh_timeout=args.mesh_timeout, use_repl=args.repl, programs=args.programs)
    if args.popcorn:
        check_node_count(spec.nodes, get_profile(args.abi) if args.abi else None)
    cluster = Cluster(spec, detached=True, name=args.name)
    cluster.preflight()  # bad input fails here, before any output or resource
    if Cluster.find_lease(args.name):  # after the values: a wrong one is named whatever else is up
        raise UsageError(f"a cluster named {args.name!r} is already up (popcorn-harness cluster down --name {args.name})")
    cluster.spec = with_popcorn_payload(spec, args.programs)
    with RichReporter() as reporter:
        cluster.reporter = reporter
        cluster.start()
        if args.popcorn:
            _popcorn_up(cluster, args, reporter)  # writes the nodes file too
        else:
            write_nodes_file(cluster)
    flag = "" if args.name == DEFAULT_NAME else f" --name {args.name}"
    print(f"cluster {args.name!r} is up: {spec.nodes} node(s), {cluster.accel}, kernel {cluster.kernel.release}, "
          f"namespace {cluster.netns}")
    for node in cluster.nodes:
        gdb = f"  gdb: target remote {node.vm.config.gdb_socket}" if node.vm.config.gdb_socket else ""
        print(f"  {node.name}  {node.address:<12}  popcorn-harness cluster ssh {node.name}{flag}   "
              f"console: {node.vm.config.console_path}{gdb}")
    print(f"stop it with: popcorn-harness cluster down{flag}")
    cluster.detach()
    return 0


def _popcorn_up(cluster, args: argparse.Namespace, reporter) -> None:
    """Detect Popcorn and bring the mesh up; a non-Popcorn kernel is a one-line error (cluster removed)."""
    from harness.popcorn.bringup import bring_up_if_popcorn

    try:
        bring_up_if_popcorn(cluster, args.abi, args.mesh_timeout, required=True, reporter=reporter)
    except BaseException:
        cluster.stop()
        raise


def cmd_ssh(args: argparse.Namespace) -> int:
    """Interactive shell on one node."""
    from harness.cluster.cluster import Cluster

    cluster = Cluster.attach(args.name, connect=False)
    node = cluster.node(args.node)
    node.ssh.connect(timeout=120)  # as long as the cluster's own first connection may take on a loaded host
    try:
        return node.ssh.interactive()
    finally:
        cluster.detach()


def cmd_exec(args: argparse.Namespace) -> int:
    """Run a command on one node (or all) and relay its output."""
    from harness.cluster.cluster import Cluster
    from harness.errors import UsageError

    command = " ".join(args.cmd).strip()
    if not command:
        raise UsageError("no command given (popcorn-harness cluster exec NODE CMD...)")
    stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    cluster = Cluster.attach(args.name, connect=False)
    nodes = cluster.nodes if args.node == "all" else [cluster.node(args.node)]
    worst = 0
    try:
        for node in nodes:
            node.ssh.connect(timeout=30)
            result = node.run(command, timeout=args.timeout, stdin=stdin)
            prefix = f"[{node.name}] " if len(nodes) > 1 else ""
            for line in result.stdout.splitlines():
                print(prefix + line)
            for line in result.stderr.splitlines():
                print(prefix + line, file=sys.stderr)
            worst = worst or result.exit_code
    finally:
        cluster.detach()
    return worst


def cmd_status(args: argparse.Namespace) -> int:
    """Print each node's QEMU and SSH state; exit 1 if any node is unhealthy."""
    from harness.cluster.cluster import Cluster

    cluster = Cluster.attach(args.name)
    print(f"cluster {args.name!r}: {len(cluster.nodes)} node(s), {cluster.accel}, namespace {cluster.netns}, "
          f"work dir {cluster.workdir}")
    unhealthy = 0
    for node in cluster.nodes:
        vm = f"QEMU ({node.vm.instance}) running" if node.alive() else "QEMU not running"
        ssh = "SSH down"
        if node.alive() and node.ssh.connected:
            result = node.run("cut -d' ' -f1 /proc/uptime", timeout=10)
            ssh = f"SSH up, uptime {result.stdout.strip()}s" if result.ok else "SSH error"
        unhealthy += "up" not in ssh
        print(f"  {node.name}  {node.address:<12}  {vm:<26}  {ssh}")
    cluster.detach()
    return 1 if unhealthy else 0


def cmd_partition(args: argparse.Namespace) -> int:
    """Partition a detached cluster (kernel filters on its taps: they outlive this command)."""
    from harness.cluster.cluster import Cluster

    cluster = Cluster.attach(args.name, connect=False)
    cluster.partition([group.split(",") for group in args.groups])
    print(" | ".join(",".join(group) for group in cluster.fault_log.entries[-1]["target"]))
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    """Remove the partition of a detached cluster."""
    from harness.cluster.cluster import Cluster

    cluster = Cluster.attach(args.name, connect=False)
    print("healed" if cluster.heal() else "nothing to heal")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop a detached cluster and remove its namespace, VMs and work dir."""
    from harness.cluster.cluster import Cluster

    cluster = Cluster.attach(args.name, connect=False)
    cluster.stop()
    print(f"cluster {args.name!r} is down")
    return 0


def _add_files_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--add", action="append", default=[], metavar="LOCAL[:GUEST]",
                        help="put a host file into every node's image before boot (default GUEST /root/NAME); "
                             "repeatable")


def with_added_files(spec, added: list[str]):
    """The spec with the ``--add`` files in every node's image (each checked first: bad input is exit 2)."""
    from harness.popcorn.own_program import parse_add

    return dataclasses.replace(spec, extra_files=spec.extra_files + tuple(parse_add(value) for value in added))


def _remote(spec: str) -> tuple[str, str] | None:
    """``NODE:PATH`` as (node, path); None for a host path."""
    match = re.fullmatch(r"(all|node\d+|\d+):(/.*)", spec)
    return (match.group(1), match.group(2)) if match else None


def cmd_cp(args: argparse.Namespace) -> int:
    """Copy a host file to nodes, or a node's file to the host."""
    from harness.cluster.cluster import Cluster
    from harness.errors import UsageError

    source, destination = _remote(args.source), _remote(args.destination)
    if (source is None) == (destination is None):
        raise UsageError("cp: exactly one side must be NODE:/PATH (e.g. node0:/root/x or all:/root/x)")
    if destination is not None and not Path(args.source).is_file():
        raise UsageError(f"cp: {args.source} is not a file")
    cluster = Cluster.attach(args.name, connect=False)
    try:
        node_name, path = destination or source
        nodes = cluster.nodes if node_name == "all" else [cluster.node(node_name)]
        for node in nodes:
            node.ssh.connect(timeout=30)
            if destination is not None:
                target = path + Path(args.source).name if path.endswith("/") else path
                node.put(Path(args.source), target)
                print(f"{args.source} -> {node.name}:{target}")
            else:
                local = Path(args.destination)
                if node_name == "all":
                    local = local / node.name / Path(path).name
                elif local.is_dir():
                    local = local / Path(path).name
                local.parent.mkdir(parents=True, exist_ok=True)
                node.get(path, local)
                print(f"{node.name}:{path} -> {local}")
    finally:
        cluster.detach()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a program of the user's own on node 0 of a fresh (or named) cluster; see ``RUN_DESCRIPTION``."""
    from harness.cluster.cluster import Cluster
    from harness.cluster.progress import RichReporter
    from harness.popcorn.bringup import bring_up_if_popcorn, detect
    from harness.popcorn.own_program import check_program, copy_program, run_program, with_program
    from harness.errors import UsageError
    from harness.popcorn.payload import with_popcorn_payload
    from harness.repro.bundle import save_bundle

    program = check_program(args.program)
    added = with_added_files(spec_from_args(args), args.add)  # checks --add before anything starts
    if args.name and args.add:
        raise UsageError("--add puts files into the images of a cluster this command boots; a cluster named "
                         "with --name is already up: copy them with `popcorn-harness cluster cp`")
    if args.name:
        cluster, owned = Cluster.attach(args.name), False
        copy_program(cluster, program)
        support = detect(cluster, args.abi)
    else:
        spec = with_program(added, program)
        cluster, owned = Cluster(spec), True
        cluster.preflight()
        cluster.spec = with_popcorn_payload(spec, args.programs)
    try:
        if owned:
            with RichReporter() as reporter:
                cluster.reporter = reporter
                cluster.start()
                support = bring_up_if_popcorn(cluster, args.abi, args.mesh_timeout, reporter=reporter)
        if not support.available:
            print(f"popcorn-harness: Popcorn is not up ({support.reason}); running the program anyway",
                  file=sys.stderr)

        def relay(data: bytes, is_stderr: bool) -> None:
            stream = sys.stderr if is_stderr else sys.stdout
            stream.buffer.write(data)
            stream.flush()

        run = run_program(cluster, program, args.args, timeout=args.timeout,
                          profile=support.profile if support.available else None, sink=relay)
        print(f"popcorn-harness: {run.summary()}", file=sys.stderr)
        if not run.ok:
            where = args.artifacts / f"{program.name}-{cluster.run_id}"
            bundle = save_bundle(cluster, where / "bundle", f"cluster run {program.name}", findings=run.findings,
                                 message=run.summary(), popcorn={"up": support.available,
                                                                 "abi": support.profile.name if support.available else ""})
            print(f"popcorn-harness: reproduction bundle: {bundle.parent}", file=sys.stderr)
        return run.exit_status()
    finally:
        if owned:
            cluster.stop()
        else:
            cluster.detach()
