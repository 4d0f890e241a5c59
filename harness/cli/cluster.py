"""``popcorn-harness cluster up|ssh|exec|status|partition|heal|down``: a cluster that outlives the command.

``up`` boots a detached cluster and leases it under a name (default ``default``); the other
sub-commands find it by that name, so separate invocations (and separate shells) share it.
``up --interactive`` keeps it attached instead: gdb stubs, a shell on each node (tmux panes, or a Python
REPL with ``--repl``), and the cluster is gone when the shell ends (``harness/cli/interactive.py``).
"""

from __future__ import annotations

import argparse
import sys

from harness.cli.common import add_cluster_arguments, spec_from_args

DEFAULT_NAME = "default"


def register(subparsers) -> None:
    """Add the ``cluster`` command and its sub-commands."""
    parser = subparsers.add_parser("cluster", help="boot, use and stop a cluster that outlives the command",
                                   description=__doc__)
    sub = parser.add_subparsers(dest="cluster_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True

    up = sub.add_parser("up", help="boot a cluster and leave it running")
    add_cluster_arguments(up)
    up.add_argument("--name", default=DEFAULT_NAME, help="name to find the cluster by (default 'default')")
    up.add_argument("--popcorn", action="store_true",
                    help="bring the Popcorn mesh up (insmod msg_socket.ko everywhere, verify node info)")
    up.add_argument("--abi", help="Popcorn ABI profile (default: from the kernel)")
    up.add_argument("--mesh-timeout", type=float, default=300.0, metavar="S", help="seconds for the mesh (default 300)")
    up.add_argument("--interactive", action="store_true",
                    help="gdb stubs on, Popcorn mesh up when the kernel has it, a shell on each node (tmux panes); "
                         "the cluster is removed when the shell ends")
    up.add_argument("--repl", action="store_true",
                    help="with --interactive: a Python REPL (cluster, node0, node1...) instead of tmux panes")
    up.set_defaults(func=cmd_up)

    ssh = sub.add_parser("ssh", help="open a shell on a node")
    ssh.add_argument("node", help="node name (node0), index (0) or address")
    ssh.add_argument("--name", default=DEFAULT_NAME, help="cluster name")
    ssh.set_defaults(func=cmd_ssh)

    exe = sub.add_parser("exec", help="run a command on a node; exits with the command's exit code")
    exe.add_argument("node", help="node name (node0), index (0), address, or 'all'")
    exe.add_argument("cmd", nargs="*", help="the shell command; put -- before it if it has options (exec node0 -- ls -l)")
    exe.add_argument("--name", default=DEFAULT_NAME, help="cluster name")
    exe.add_argument("--timeout", type=float, default=60.0, help="seconds before the command fails (default 60)")
    exe.set_defaults(func=cmd_exec, trailing="cmd")

    status = sub.add_parser("status", help="show each node's VM and SSH state")
    status.add_argument("--name", default=DEFAULT_NAME, help="cluster name")
    status.set_defaults(func=cmd_status)

    part = sub.add_parser("partition", help="cut IPv4 between groups of nodes (stays until heal or down)")
    part.add_argument("groups", nargs="+", metavar="GROUP", help="comma-separated nodes, e.g. 0 1,2 or node0 node1,node2")
    part.add_argument("--name", default=DEFAULT_NAME, help="cluster name")
    part.set_defaults(func=cmd_partition)

    heal = sub.add_parser("heal", help="remove every partition")
    heal.add_argument("--name", default=DEFAULT_NAME, help="cluster name")
    heal.set_defaults(func=cmd_heal)

    down = sub.add_parser("down", help="stop the cluster and remove everything it created")
    down.add_argument("--name", default=DEFAULT_NAME, help="cluster name")
    down.set_defaults(func=cmd_down)


def cmd_up(args: argparse.Namespace) -> int:
    """Boot a detached cluster and print how to reach each node."""
    from harness.cluster.cluster import Cluster
    from harness.cluster.progress import RichReporter
    from harness.errors import UsageError
    from harness.popcorn.abi import check_node_count, get_profile
    from harness.popcorn.nodes_file import write_nodes_file
    from harness.popcorn.payload import with_popcorn_payload

    spec = spec_from_args(args)
    if args.repl and not args.interactive:
        raise UsageError("--repl goes with --interactive")
    if args.interactive:
        from harness.cli.interactive import session

        return session(spec, name=args.name, popcorn="required" if args.popcorn else "auto", abi=args.abi,
                       mesh_timeout=args.mesh_timeout, use_repl=args.repl, programs=args.programs)
    if Cluster.find_lease(args.name):
        raise UsageError(f"a cluster named {args.name!r} is already up (popcorn-harness cluster down --name {args.name})")
    if args.popcorn:
        check_node_count(spec.nodes, get_profile(args.abi) if args.abi else None)
    cluster = Cluster(spec, detached=True, name=args.name)
    cluster.preflight()  # bad input fails here, before any output or resource
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
        gdb = f"  gdb: target remote 127.0.0.1:{node.vm.config.gdb_port}" if node.vm.config.gdb_port else ""
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
    cluster = Cluster.attach(args.name, connect=False)
    nodes = cluster.nodes if args.node == "all" else [cluster.node(args.node)]
    worst = 0
    try:
        for node in nodes:
            node.ssh.connect(timeout=30)
            result = node.run(command, timeout=args.timeout)
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
        vm = f"QEMU pid {node.vm.pid} running" if node.alive() else "QEMU not running"
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
