"""Futexes across nodes: waits woken from the other node, pthread mutex, condvar and barrier."""

from __future__ import annotations

import pytest

from .checks import run_checks


def _run(popcorn, mode: str, **kw):
    return run_checks(popcorn, popcorn.nodes[0], "pcn_futex", mode, "0", str(len(popcorn.nodes)), timeout=150, **kw)


@pytest.mark.xdist_group("popcorn2-futex")
@pytest.mark.parametrize("mode", ["remote_wait", "origin_wait", "remote_wait_private", "origin_wait_private"])
def test_futex_wait_woken_from_the_other_node(popcorn, mode):
    """A FUTEX_WAIT on one node (remote_*: the remote node, origin_*: the origin) is woken by a FUTEX_WAKE
    on the other; *_private with FUTEX_PRIVATE_FLAG (the futexes of glibc's process-private locks)."""
    _run(popcorn, mode)


@pytest.mark.xdist_group("popcorn2-futex")
def test_pthread_mutex_condvar_barrier_across_nodes(popcorn):
    """Threads on two nodes share a mutex-protected counter, take turns on a condvar, pass a barrier."""
    _run(popcorn, "pthread")


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4-futex")
def test_pthread_mutex_condvar_barrier_across_nodes_4(popcorn):
    """The same with one thread on each of four nodes."""
    _run(popcorn, "pthread")
