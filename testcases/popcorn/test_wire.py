"""The wire: a stranger on the cluster's bridge talking to the Popcorn port, and two distributed processes
that must not reach each other's memory or futexes through Popcorn.

The stranger is a socket the harness opens from its own namespace, at the harness's own address, which no
nodes file lists: what any machine on the nodes' network can do. Popcorn has no authentication of peers;
a peer is known by its source address alone (msg_layer/socket.c ``__accept_client``)."""

from __future__ import annotations

import random
import struct
import time

import pytest

from harness.cluster.cluster import Cluster
from harness.guest.protocol import judge
from harness.popcorn.bringup import start_insmod
from harness.popcorn.nodes_file import write_nodes_file
from support import own_cluster_spec

from .checks import program_command, require_pass, run_checks
from .mesh import judge_outcome, settle

#: What the stranger sends, one connection each: (name, bytes from a seeded random source). A message
#: header is {from_nid:6, prio:2, type:8; size_t size} packed (include/popcorn/pcn_kmsg.h).
MESSAGES = (
    ("garbage", lambda rng: rng.randbytes(4096)),
    ("truncated_header", lambda rng: b"\x01\x02\x03"),
    ("oversized", lambda rng: struct.pack("<HQ", 0x0101, 1 << 40) + rng.randbytes(64)),
    ("zero_size", lambda rng: struct.pack("<HQ", 0x0101, 0)),
)
#: Connections a stranger makes while a node waits for its peers: __accept_client gives up after ten
#: connections from addresses it does not know.
KNOCKS = 12


def _send(network, address: str, port: int, data: bytes) -> str:
    """Connect from the harness's namespace, send ``data``, close; what happened, in a word."""
    try:
        with network.connect(address, port, timeout=10) as sock:
            sock.sendall(data)
            time.sleep(0.1)
        return "sent"
    except OSError as exc:
        return type(exc).__name__


@pytest.mark.xdist_group("popcorn2-wire")
def test_a_stranger_on_the_popcorn_port_once_the_mesh_is_up(popcorn, seed):
    """Garbage, a truncated header, an oversized and a zero-sized message from a stranger to every node:
    no node may crash (crash detection watches the consoles) and the mesh must still migrate a thread."""
    rng = random.Random(seed)
    for node in popcorn.nodes:
        for _, make in MESSAGES:
            _send(popcorn.cluster.network, node.address, popcorn.profile.msg_port, make(rng))
    run_checks(popcorn, popcorn.nodes[0], "pcn_migrate", "roundtrip", "0", str(len(popcorn.nodes)), timeout=90)


@pytest.mark.xdist_group("popcorn-nodes-file")
def test_a_stranger_knocking_during_bring_up_does_not_stop_the_mesh(popcorn, cluster_pool):
    """While node0 waits for node1, a stranger connects twelve times and sends a line each time; then node1
    loads the module. Both must join: a stranger is not a peer."""
    with Cluster(own_cluster_spec(cluster_pool, 2)) as cluster:
        write_nodes_file(cluster)
        node0, node1 = cluster.nodes
        start_insmod(node0, popcorn.profile)
        time.sleep(3)
        sent = []
        for _ in range(KNOCKS):  # one at a time: the listen backlog is the node count, two
            sent.append(_send(cluster.network, node0.address, popcorn.profile.msg_port, b"hello from a stranger\n"))
            time.sleep(1.0)
        assert sent.count("sent") >= 11, f"the stranger could not knock (node0 not listening?): {sent}"
        start_insmod(node1, popcorn.profile)
        judge_outcome(cluster, settle(cluster.nodes, popcorn.profile, 60.0), ("joined 0", "joined 1"))


@pytest.mark.xdist_group("popcorn2-wire")
def test_two_distributed_processes_do_not_see_each_other(popcorn):
    """Two processes at once, both migrating between node0 and node1 with pages at the same fixed address:
    each sees only its own data, and neither one's FUTEX_WAKE reaches the other's waiter."""
    node0, count = popcorn.nodes[0], str(len(popcorn.nodes))
    a, b = (program_command(popcorn, "pcn_remote", "isolation", "0", count, which) for which in "ab")
    node0.succeed(f"({a} > /tmp/iso-a.out 2>&1; echo $? > /tmp/iso-a.rc) & "
                  f"({b} > /tmp/iso-b.out 2>&1; echo $? > /tmp/iso-b.rc) & wait", timeout=120)
    for which in "ab":
        out = node0.succeed(f"cat /tmp/iso-{which}.out")
        rc = int(node0.succeed(f"cat /tmp/iso-{which}.rc").strip())
        require_pass(judge(out, rc, 0, "", f"pcn_remote isolation {which}"), f"process {which} on node0",
                     [n.name for n in popcorn.nodes])
