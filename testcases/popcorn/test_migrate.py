"""popcorn_migrate with our own register-set helper: round trips, thread status, refusals, proposals."""

from __future__ import annotations

import pytest

from harness.guest.programs import GUEST_BIN

from .checks import run_checks


def _run(popcorn, mode: str, origin: int = 0, **kw):
    node = popcorn.nodes[origin]
    return run_checks(popcorn, node, "pcn_migrate", mode, str(origin), str(len(popcorn.nodes)), **kw)


@pytest.mark.xdist_group("popcorn2-migrate")
@pytest.mark.parametrize("origin", [0, 1])
def test_migrate_round_trip_keeps_thread_state(popcorn, origin):
    """To the other node and back, from either node: status, stack, heap, globals, TLS, registers."""
    _run(popcorn, "roundtrip", origin)


@pytest.mark.xdist_group("popcorn2-migrate")
def test_migrate_refusals(popcorn):
    """EINVAL out of range, EBUSY for the current node, EAGAIN offline, EINVAL for -1 unproposed."""
    _run(popcorn, "errors")


@pytest.mark.xdist_group("popcorn2-migrate")
def test_propose_then_migrate_minus_1(popcorn):
    """propose_migration(0, d) then migrate(-1) goes to d; the proposal is consumed."""
    _run(popcorn, "propose")


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4-migrate")
def test_migrate_round_trip_to_every_node_4(popcorn):
    """From node 0 to each of three other nodes and back."""
    _run(popcorn, "roundtrip", 0)


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4-migrate")
@pytest.mark.parametrize("waiter", ["joined", "polled"])
def test_threads_on_every_node_at_once_4(popcorn, waiter):
    """One thread per other node migrating at the same time, and back; the main thread waits for them
    ``joined`` (FUTEX_WAIT on each tid word, as pthread_join) or ``polled`` (reading the words): the pair
    tells a defect of the migrations from the join's futex-key faults (P14)."""
    _run(popcorn, "threads" if waiter == "joined" else "threads_polled")


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4-migrate")
def test_remote_thread_asking_for_a_third_node_is_refused_4(popcorn):
    """A remote thread may only migrate back to its origin: a third node must be refused."""
    _run(popcorn, "third", timeout=90)


@pytest.mark.xdist_group("popcorn2-migrate")
@pytest.mark.parametrize("waiter", ["joined", "polled"])
def test_round_trips_while_the_main_thread_waits(popcorn, waiter):
    """A thread makes 300 round trips to the peer, writing there on the page of its tid word, while the
    origin's main thread waits for it to end, looking every 10 ms: ``joined`` by FUTEX_WAIT on the tid word
    (which the kernel clears and wakes at the thread's exit; each call takes the futex key, a fault on that
    page), ``polled`` by reading the word. Both must end with every trip made; the pair tells a futex-key
    fault from a page-fault problem of its own."""
    _run(popcorn, f"trips_{waiter}", timeout=120)


@pytest.mark.xdist_group("popcorn2-migrate")
def test_migrating_a_program_only_the_origin_has(popcorn):
    """The remote node opens the program's executable by its path at the origin: a program that only the
    origin has must migrate, or be refused with an error, and leave the remote node up."""
    node0, binary = popcorn.nodes[0], "/tmp/phc-origin-only/pcn_migrate"
    node0.succeed(f"mkdir -p /tmp/phc-origin-only && cp {GUEST_BIN}/pcn_migrate {binary}")
    _run(popcorn, "there_and_back", binary=binary)


@pytest.mark.xdist_group("popcorn2-migrate")
def test_a_cluster_restored_from_its_snapshot_migrates_as_before(popcorn):
    """The pool saved this cluster with its mesh connected; restored from that snapshot (every node's QEMU
    replaced, the nodes' TCP mesh as it was when saved), a thread still migrates there and back and
    get_node_info still sees every node online."""
    cluster = popcorn.cluster
    assert cluster.snapshot is not None, "the pool took no snapshot of this cluster"
    before = [node.vm.instance for node in cluster.nodes]
    cluster.restore_snapshot()
    assert all(new != old for new, old in zip((node.vm.instance for node in cluster.nodes), before))
    for node in popcorn.nodes:
        run_checks(popcorn, node, "pcn_node_info", "info", str(node.index), str(len(popcorn.nodes)), timeout=90)
    _run(popcorn, "roundtrip", 0)
    _run(popcorn, "roundtrip", 1)
