"""popcorn_migrate with our own register-set helper: round trips, thread status, refusals, proposals."""

from __future__ import annotations

import pytest

from .checks import run_checks


def _run(popcorn, mode: str, origin: int = 0, **kw):
    node = popcorn.nodes[origin]
    return run_checks(popcorn, node, "pcn_migrate", mode, str(origin), str(len(popcorn.nodes)), **kw)


@pytest.mark.xdist_group("popcorn2")
@pytest.mark.parametrize("origin", [0, 1])
def test_migrate_round_trip_keeps_thread_state(popcorn, origin):
    """To the other node and back, from either node: status, stack, heap, globals, TLS, registers."""
    _run(popcorn, "roundtrip", origin)


@pytest.mark.xdist_group("popcorn2")
def test_migrate_refusals(popcorn):
    """EINVAL out of range, EBUSY for the current node, EAGAIN offline, EINVAL for -1 unproposed."""
    _run(popcorn, "errors")


@pytest.mark.xdist_group("popcorn2")
def test_propose_then_migrate_minus_1(popcorn):
    """propose_migration(0, d) then migrate(-1) goes to d; the proposal is consumed."""
    _run(popcorn, "propose")


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4")
def test_migrate_round_trip_to_every_node_4(popcorn):
    """From node 0 to each of three other nodes and back."""
    _run(popcorn, "roundtrip", 0)


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4")
def test_threads_on_every_node_at_once_4(popcorn):
    """One thread per other node migrating at the same time, and back."""
    _run(popcorn, "threads")


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4")
def test_remote_thread_asking_for_a_third_node_is_refused_4(popcorn):
    """A remote thread may only migrate back to its origin: a third node must be refused."""
    _run(popcorn, "third", timeout=90)
