"""Futexes across nodes: waits woken from the other node, pthread mutex, condvar and barrier."""

from __future__ import annotations

import pytest

from .checks import run_checks


def _run(popcorn, mode: str, **kw):
    return run_checks(popcorn, popcorn.nodes[0], "pcn_futex", mode, "0", str(len(popcorn.nodes)), timeout=150, **kw)


@pytest.mark.xdist_group("popcorn2")
def test_futex_wait_woken_from_the_other_node_both_ways(popcorn):
    """A remote FUTEX_WAIT woken at the origin, and an origin FUTEX_WAIT woken remotely."""
    _run(popcorn, "wait", required=("origin_wake_reaches_remote_waiter", "remote_wait_woken_from_origin",
                                    "origin_wait_woken_from_remote", "remote_wake_reaches_origin_waiter"))


@pytest.mark.xdist_group("popcorn2")
def test_pthread_mutex_condvar_barrier_across_nodes(popcorn):
    """Threads on two nodes share a mutex-protected counter, take turns on a condvar, pass a barrier."""
    _run(popcorn, "pthread", required=("mutex_counter", "condvar_turns", "barrier_rounds"))


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4")
def test_pthread_mutex_condvar_barrier_across_nodes_4(popcorn):
    """The same with one thread on each of four nodes."""
    _run(popcorn, "pthread", required=("mutex_counter", "condvar_turns", "barrier_rounds"))
