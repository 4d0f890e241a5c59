"""The wire: a stranger and a rogue peer talking to the Popcorn port, and two distributed processes that
must not reach each other's memory or futexes through Popcorn.

The stranger is a socket the harness opens from its own namespace, at the harness's own address, which no
nodes file lists: what any machine on the nodes' network can do. Popcorn has no authentication of peers;
a peer is known by its source address alone (msg_layer/socket.c ``__accept_client``). Once the mesh is up
no node accepts connections any more, so what a stranger sends then is never read.

The rogue peer (``peer.py``) is the harness listed in the nodes file as the last node: what a machine that
holds, or spoofs, a listed address can do. Every node reads its messages. Each case sends one kind of
message a real node would not (or replays a real one) and expects the node to drop it: the node answers,
its console stays clean, and a mesh of two still migrates a thread."""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from harness.guest.protocol import judge
from harness.errors import HarnessError
from harness.popcorn.bringup import start_insmod
from harness.popcorn.nodes_file import nodes_file_text, write_nodes_file

from .checks import program_command, require_pass, run_checks
from .mesh import OutcomeDiffers, console_signs, judge_outcome, put_nodes_file, settle
from .peer import TYPE_MAX, TYPE_NODE_INFO, RoguePeer, message, node_info

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
def test_a_stranger_knocking_during_bring_up_does_not_stop_the_mesh(popcorn, own_cluster):
    """While node0 waits for node1, a stranger connects twelve times and sends a line each time; then node1
    loads the module. Both must join: a stranger is not a peer."""
    cluster = own_cluster(2)
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


@dataclass(frozen=True)
class PeerCase:
    """What the rogue peer does to node0 once every node has joined (``act(peer, node_infos)``, with the
    NODE_INFO message each node sent the peer), on a mesh of ``nodes`` nodes plus the peer."""

    nodes: int
    act: Callable[[RoguePeer, list[bytes]], None]


def _replay(peer: RoguePeer, infos: list[bytes]) -> None:
    for _ in range(3):
        peer.send(0, infos[1])
        peer.send(1, infos[0])


PEER_CASES = {
    # Each node's own NODE_INFO, byte for byte, three times to the other node.
    "replayed_node_info": PeerCase(2, _replay),
    # A NODE_INFO whose arch indexes far past the 4 names of archs_sz[] (kernel/popcorn/bundle.c): 2 GiB on,
    # where nothing is mapped.
    "node_info_arch_out_of_range": PeerCase(1, lambda peer, _: peer.send(0, node_info(peer.nid, 1 << 28, peer.nid))),
    # A message type past the last one (PCN_KMSG_TYPE_MAX) with a plain header.
    "type_out_of_range": PeerCase(1, lambda peer, _: peer.send(0, message(TYPE_MAX + 10, from_nid=peer.nid))),
    # A NODE_INFO header claiming size 0 (shorter than the header itself).
    "size_zero": PeerCase(1, lambda peer, _: peer.send(0, message(TYPE_NODE_INFO, from_nid=peer.nid, size=0))),
    # The peer closes its connection (FIN), as a node that unloads its module does.
    "hang_up": PeerCase(1, lambda peer, _: peer.hang_up(0)),
}
#: Seconds node0 gets to handle what the peer sent before it is asked to answer.
PEER_SETTLE_S = 10.0


def judge_peer_case(cluster, answers: list[str]) -> None:
    """Raise ``OutcomeDiffers`` when a node does not answer (``expect:node0 answers``) or a console shows a
    kernel report (``finding:NODE:TITLE``)."""
    signs = console_signs(cluster)
    signs += [f"expect:{node.name} answers" for node, answer in zip(cluster.nodes, answers) if answer != "answers"]
    if signs:
        raise OutcomeDiffers(signs, "the rogue peer's message was not dropped: "
                                    + ", ".join(f"{n.name} {a}" for n, a in zip(cluster.nodes, answers)))


def _answer(node) -> str:
    try:
        return "answers" if node.run("true", timeout=30).exit_code == 0 else "fails"
    except HarnessError as exc:
        return "is lost: " + str(exc).splitlines()[0]


@pytest.mark.xdist_group("popcorn-nodes-file")
@pytest.mark.parametrize("case", list(PEER_CASES))
def test_a_rogue_peer_message_is_dropped(popcorn, own_cluster, case):
    """The harness joins a fresh mesh as its last node, waits for every node's NODE_INFO, then does what the
    case says to node0. Every node must answer with a clean console; a mesh of two must still migrate."""
    spec = PEER_CASES[case]
    cluster = own_cluster(spec.nodes)
    addresses = [node.address for node in cluster.nodes]
    text = nodes_file_text(addresses + [cluster.spec.harness_address])
    for node in cluster.nodes:
        put_nodes_file(node, text)
        start_insmod(node, popcorn.profile)
    peer = RoguePeer(cluster.network, addresses, popcorn.profile.msg_port)
    try:
        peer.join(60.0)
        judge_outcome(cluster, settle(cluster.nodes, popcorn.profile, 60.0),
                      tuple(f"joined {i}" for i in range(spec.nodes)))
        infos = peer.wait_node_info(30.0)
        spec.act(peer, infos)
        time.sleep(PEER_SETTLE_S)
        judge_peer_case(cluster, [_answer(node) for node in cluster.nodes])
        if spec.nodes > 1:
            result = cluster.nodes[0].run(program_command(popcorn, "pcn_migrate", "roundtrip", "0",
                                                          str(spec.nodes)), timeout=120)
            require_pass(judge(result.stdout, result.exit_code, 0, result.stderr, "pcn_migrate roundtrip"),
                         "pcn_migrate roundtrip 0 after the peer's messages", [n.name for n in cluster.nodes])
            judge_peer_case(cluster, ["answers"] * spec.nodes)
    finally:
        peer.close()
