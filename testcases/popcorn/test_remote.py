"""What a migrated thread does at the remote node, as real programs do: identity, file I/O, fork and
threads, exit_group and execve there, futex operations beyond WAIT/WAKE, VMAs changed at the origin, shared
mappings, signal handlers, signals from other processes, the two-step path to a second remote node."""

from __future__ import annotations

import time

import pytest

from harness.cluster.node import leftover_programs
from harness.pytest.known_failures import expect

from .checks import run_checks

#: Seconds the peer may take to end its side of a process that left the origin's view (the origin's exit
#: message to it is one round trip; 10 s is generous under TCG and load).
PEER_END_S = 10

MODES = {
    "identity": "getpid, getppid, gettid are the origin's; the thread status names the origin task",
    "files": "pipe, open file, open/read/close by path and stdout work at the remote node",
    "fork": "fork and wait4 at the remote node",
    "thread": "a thread created at the remote node runs there and ends",
    "futex_timeout": "a FUTEX_WAIT with a relative timeout times out at the remote node",
    "futex_deadline": "a FUTEX_WAIT_BITSET with an absolute deadline times out at the remote node",
    "futex_wake_op": "a remote FUTEX_WAKE_OP wakes the origin's waiter and stores",
    "futex_requeue": "a remote FUTEX_CMP_REQUEUE moves the origin's waiter, a wake there wakes it",
    "futex_pi": "FUTEX_TRYLOCK_PI and FUTEX_UNLOCK_PI at the remote node",
    "origin_vma": "the origin's munmap and mprotect(PROT_NONE) are seen by a remote thread",
    "shared_anon": "a MAP_SHARED anonymous page written on both nodes",
    "shared_file": "a MAP_SHARED file mapping written on both nodes reaches the file",
    "sigaction": "a sigaction handler runs at the remote node",
    "segv": "a fault at the remote node runs the program's SIGSEGV handler there",
    "exit_group": "exit_group by a non-main thread at the remote node ends the process with its status",
    "execve": "execve at the remote node runs the new image to its exit status",
    "kill_pid": "kill(pid) from another process reaches the handler of a process whose thread is remote",
    "stop_cont": "SIGSTOP and SIGCONT stop and continue a process whose thread is remote",
    "futex_signal": "a signal at the remote node interrupts a FUTEX_WAIT forwarded to the origin (EINTR)",
}


@pytest.mark.xdist_group("popcorn2-remote")
@pytest.mark.parametrize("mode", list(MODES))
def test_migrated_thread_at_the_remote_node(popcorn, mode):
    """One thing a real program does after its thread migrated (``MODES``), checked exactly."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_remote", mode, "0", str(len(popcorn.nodes)), timeout=90)



@pytest.mark.xdist_group("popcorn2-remote")
def test_execve_at_the_origin_after_a_round_trip(popcorn):
    """A process whose thread went to the peer and came back calls execve at the origin (a re-exec, a
    shell-out by exec): the new image runs to its exit status, and the peer keeps no task of the old image
    (its remote process ends, as after an exit)."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_remote", "origin_execve", "0", str(len(popcorn.nodes)), timeout=90)
    peer = popcorn.nodes[1]
    deadline = time.monotonic() + PEER_END_S
    while (left := leftover_programs(peer)) and time.monotonic() < deadline:
        time.sleep(0.5)
    expect(not left, "peer_keeps_nothing", f"{peer.name} still runs, {PEER_END_S} s after the program ended: "
                                           f"{'; '.join(left)}")


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4-migrate")
def test_two_step_path_keeps_state_set_at_the_first_remote_node_4(popcorn):
    """origin -> node1 -> origin -> node2, the documented way from one remote node to another: what the
    thread wrote at node1 (stack, heap, thread-local word, MXCSR rounding mode) is intact at node2."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_remote", "two_step", "0", str(len(popcorn.nodes)), timeout=90)
