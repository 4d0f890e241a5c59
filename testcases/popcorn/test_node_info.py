"""get_node_info, get_thread_status and propose_migration on every node, without migrating."""

from __future__ import annotations

import pytest

from .checks import run_checks


def _on_every_node(popcorn, mode: str) -> None:
    for node in popcorn.nodes:
        run_checks(popcorn, node, "pcn_node_info", mode, str(node.index), str(len(popcorn.nodes)), timeout=90)


@pytest.mark.xdist_group("popcorn2-node_info")
def test_node_info_lists_every_node(popcorn):
    """Own id; listed nodes online as x86 at distance 0; other ids offline; PCN_MAX_NODES entries."""
    _on_every_node(popcorn, "info")


@pytest.mark.xdist_group("popcorn2-node_info")
def test_node_info_bad_pointers_give_einval(popcorn):
    """Bad pointers give EINVAL (the 5.2 tree's choice; Linux convention would be EFAULT)."""
    _on_every_node(popcorn, "badptr")


@pytest.mark.xdist_group("popcorn2-node_info")
def test_thread_status_and_proposal_without_migration(popcorn):
    """A thread that never migrated: here, no proposal, no peer; propose_migration sets/clears/refuses."""
    _on_every_node(popcorn, "status")


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4-node_info")
def test_node_info_lists_every_node_4(popcorn):
    """The node table on a 4-node cluster."""
    _on_every_node(popcorn, "info")


@pytest.mark.nodes(1)
@pytest.mark.xdist_group("popcorn1")
def test_node_info_lists_every_node_1(popcorn):
    """A 1-node mesh: the node is online and must report its own arch (x86) like any other."""
    _on_every_node(popcorn, "info")
