"""Bad arguments to the Popcorn system calls from an unprivileged user (uid 65534): an error code (the ABI
profile's for a bad pointer), the caller unharmed, the node alive, nothing in the console."""

from __future__ import annotations

import pytest

from .checks import run_checks


def _run(popcorn, mode: str, *extra: str):
    return run_checks(popcorn, popcorn.nodes[0], "pcn_bad_args", mode, "0", str(len(popcorn.nodes)), *extra,
                      timeout=90)


@pytest.mark.xdist_group("popcorn2-bad_args")
@pytest.mark.parametrize("uregs", ["null", "unmapped", "kernel", "partial"])
def test_migrate_with_a_register_set_the_kernel_cannot_read(popcorn, uregs):
    """popcorn_migrate(peer, uregs) with an unreadable register set is refused; a good one works after."""
    _run(popcorn, "uregs", uregs)


@pytest.mark.xdist_group("popcorn2-bad_args")
def test_thread_status_into_memory_the_kernel_cannot_write(popcorn):
    """get_thread_status into an unmapped page, a kernel address, a buffer running off its mapping."""
    _run(popcorn, "status_badptr")


@pytest.mark.xdist_group("popcorn2-bad_args")
def test_propose_migration_for_another_users_task_is_refused(popcorn):
    """An unprivileged user may not set the migration target of root's init (then root clears it: init never
    migrates, so a target left behind by a failed run harms nothing)."""
    _run(popcorn, "propose_other")
    _run(popcorn, "reset_init")


@pytest.mark.xdist_group("popcorn-nodes-file")
def test_popcorn_calls_while_the_mesh_is_down(popcorn, own_cluster):
    """On a node of a cluster of its own whose message layer is not loaded: no id, nobody online,
    migrations refused (EAGAIN), the thread status says no node."""
    cluster = own_cluster(1)
    run_checks(popcorn, cluster.nodes[0], "pcn_bad_args", "mesh_down", "0", "1", timeout=90)
