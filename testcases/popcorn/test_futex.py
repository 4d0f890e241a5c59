"""Futexes across nodes: waits woken from the other node, pthread mutex, condvar and barrier."""

from __future__ import annotations

import pytest

from .checks import run_checks


def _run(popcorn, mode: str, **kw):
    return run_checks(popcorn, popcorn.nodes[0], "pcn_futex", mode, "0", str(len(popcorn.nodes)), timeout=150, **kw)


REMOTE_WAITER = ("waiter_migrated", "origin_wake_reaches_remote_waiter", "remote_wait_woken_from_origin",
                 "remote_waiter_joined")
ORIGIN_WAITER = ("waker_migrated", "origin_wait_woken_from_remote", "remote_wake_reaches_origin_waiter",
                 "remote_waker_joined")


@pytest.mark.xdist_group("popcorn2")
@pytest.mark.parametrize("mode, required", [
    pytest.param("remote_wait", REMOTE_WAITER, id="remote_wait"),
    pytest.param("origin_wait", ORIGIN_WAITER, id="origin_wait"),
    pytest.param("remote_wait_private", REMOTE_WAITER, id="remote_wait_private"),
    pytest.param("origin_wait_private", ORIGIN_WAITER, id="origin_wait_private"),
])
def test_futex_wait_woken_from_the_other_node(popcorn, mode, required):
    """A FUTEX_WAIT on one node (remote_*: the remote node, origin_*: the origin) is woken by a FUTEX_WAKE
    on the other; *_private with FUTEX_PRIVATE_FLAG (the futexes of glibc's process-private locks)."""
    _run(popcorn, mode, required=required)


@pytest.mark.xdist_group("popcorn2")
def test_pthread_mutex_condvar_barrier_across_nodes(popcorn):
    """Threads on two nodes share a mutex-protected counter, take turns on a condvar, pass a barrier."""
    _run(popcorn, "pthread", required=("mutex_counter", "condvar_turns", "barrier_rounds"))


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4")
def test_pthread_mutex_condvar_barrier_across_nodes_4(popcorn):
    """The same with one thread on each of four nodes."""
    _run(popcorn, "pthread", required=("mutex_counter", "condvar_turns", "barrier_rounds"))
