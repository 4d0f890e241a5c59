"""The nodes file and the mesh: ``msg_socket.ko`` loaded on a fresh 2-node cluster with an odd nodes file.

Each case states what every node's ``insmod`` must come to: ``refused`` (it fails, the node stays up),
``joined N`` (loaded, and ``get_node_info`` says node id N) or ``waiting`` (still blocked in insmod,
waiting for a peer, after ``SETTLE_S``). What the kernel makes of a file follows msg_socket.ko's parser
(``harness/popcorn/nodes_file.py`` models it); what a case expects is what its author would need: a file
the kernel cannot read as meant is refused, one it can is a working mesh. A kernel report on a console
fails the case with its ``finding:NODE:TITLE`` sign; a wrong outcome with ``expect:outcome ...``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from harness.errors import HarnessError
from harness.popcorn.bringup import start_insmod
from harness.popcorn.nodes_file import write_nodes_file

from .mesh import insmod_outcome, judge_outcome, put_nodes_file, settle

#: Seconds every node gets to settle: to load, to be refused, or to stay waiting for a peer.
SETTLE_S = 60.0


def _node0_and_node1(a: str, b: str) -> str:
    return f"{a}\n{b}\n"


@dataclass(frozen=True)
class NodesCase:
    """A nodes file per node (from the two nodes' addresses) and what each node's insmod must come to."""

    files: Callable[[str, str], list[str]]  # (address0, address1) -> [node0's file, node1's file]
    expect: tuple[str, str]


CASES = {
    "comment_line": NodesCase(lambda a, b: ["# the cluster\n" + _node0_and_node1(a, b)] * 2, ("refused", "refused")),
    "leading_space": NodesCase(lambda a, b: [f" {a}\n{b}\n"] * 2, ("refused", "refused")),
    "ipv6_line": NodesCase(lambda a, b: [_node0_and_node1(a, b) + "fd00::3\n"] * 2, ("refused", "refused")),
    "blank_lines_crlf_trailing_text": NodesCase(lambda a, b: [f"\n{a}   \r\n\n{b} # node1\n"] * 2,
                                                ("joined 0", "joined 1")),
    "no_newline_at_the_end": NodesCase(lambda a, b: [f"{a}\n{b}"] * 2, ("joined 0", "joined 1")),
    "address_across_the_512_byte_read": NodesCase(
        lambda a, b: [a + " " * (508 - len(a) - 1) + "\n" + b + "\n"] * 2, ("joined 0", "joined 1")),
    "duplicate_address": NodesCase(lambda a, b: [_node0_and_node1(a, b) + f"{a}\n"] * 2, ("refused", "refused")),
    "more_than_32_addresses": NodesCase(
        lambda a, b: [_node0_and_node1(a, b) + "".join(f"10.78.0.{i}\n" for i in range(1, 32))] * 2,
        ("refused", "refused")),
    "own_address_missing_on_node1": NodesCase(lambda a, b: [_node0_and_node1(a, b), f"{a}\n10.78.0.9\n"],
                                              ("waiting", "refused")),
}


@pytest.mark.xdist_group("popcorn-nodes-file")
@pytest.mark.parametrize("case", list(CASES))
def test_msg_socket_with_an_odd_nodes_file(popcorn, own_cluster, case):
    """Load msg_socket.ko on a fresh 2-node cluster whose nodes file is the case's; every node's insmod must
    come to the case's outcome, with nothing on any console."""
    cluster = own_cluster(2)
    texts = CASES[case].files(cluster.nodes[0].address, cluster.nodes[1].address)
    for node, text in zip(cluster.nodes, texts):
        put_nodes_file(node, text)
    for node in cluster.nodes:
        start_insmod(node, popcorn.profile)
    judge_outcome(cluster, settle(cluster.nodes, popcorn.profile, SETTLE_S), CASES[case].expect)


#: Seconds node1 waits before it loads the module, while node0 waits for it.
LATE_S = 30.0


@pytest.mark.xdist_group("popcorn-nodes-file")
def test_a_node_that_joins_late_joins(popcorn, own_cluster):
    """node0 loads the module and waits for node1, which loads it 30 s later: both join."""
    cluster = own_cluster(2)
    write_nodes_file(cluster)
    node0, node1 = cluster.nodes
    start_insmod(node0, popcorn.profile)
    time.sleep(LATE_S)
    assert insmod_outcome(node0, popcorn.profile)[0] == "waiting", "node0 must wait for node1"
    start_insmod(node1, popcorn.profile)
    judge_outcome(cluster, settle(cluster.nodes, popcorn.profile, SETTLE_S), ("joined 0", "joined 1"))



@pytest.mark.xdist_group("popcorn-nodes-file")
def test_a_node_that_restarts_its_module_rejoins(popcorn, own_cluster):
    """With the mesh up, node1 unloads the message layer (rmmod) and loads it again: node1 must rejoin as
    node 1 and node0 must still be node 0 (or rmmod must refuse, with both nodes still joined). A kernel
    report on either console fails the case."""
    module = popcorn.profile.module
    cluster = own_cluster(2)
    write_nodes_file(cluster)
    node1 = cluster.nodes[1]
    for node in cluster.nodes:
        start_insmod(node, popcorn.profile)
    judge_outcome(cluster, settle(cluster.nodes, popcorn.profile, SETTLE_S), ("joined 0", "joined 1"))
    try:
        unloaded = node1.run(f"rmmod {module}", timeout=60).exit_code == 0
    except HarnessError:  # node1 lost: the outcomes and its console say what happened
        unloaded = True
    if unloaded and insmod_outcome(node1, popcorn.profile)[0] != "not answering":
        start_insmod(node1, popcorn.profile)
    judge_outcome(cluster, settle(cluster.nodes, popcorn.profile, SETTLE_S), ("joined 0", "joined 1"))
