"""Exits of distributed processes: afterwards no task of the program is left on any node."""

from __future__ import annotations

import time

import pytest

from harness.pytest.known_failures import expect

from .checks import no_task_left, run_checks

PROGRAM = "pcn_exit"


def _run(popcorn, mode: str, **kw):
    return run_checks(popcorn, popcorn.nodes[0], PROGRAM, mode, "0", str(len(popcorn.nodes)), timeout=120, **kw)


def _assert_nothing_left(popcorn, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while (left := no_task_left(popcorn, PROGRAM)) and time.monotonic() < deadline:
        time.sleep(1)
    expect(not left, "nothing_left", f"tasks of {PROGRAM} left {within:.0f}s after the exit: {left}")


@pytest.mark.xdist_group("popcorn2-exit")
def test_migrated_thread_exits_remotely(popcorn):
    """A thread that exits on the remote node is gone at the origin too (join returns)."""
    _run(popcorn, "thread_exit")
    _assert_nothing_left(popcorn)


@pytest.mark.xdist_group("popcorn2-exit")
def test_main_thread_exits_on_remote_node_with_its_status(popcorn):
    """_exit(7) on the remote node ends the process at the origin with status 7 (the program exits 7 only
    when get_node_info said it ran on the destination, and its check says so)."""
    _run(popcorn, "main_exits_remote", expect_exit=7)
    _assert_nothing_left(popcorn)


@pytest.mark.xdist_group("popcorn2-exit")
def test_process_exits_while_a_thread_is_remote(popcorn):
    """exit(0) at the origin while a thread runs remotely ends the whole process."""
    _run(popcorn, "process_exit")
    _assert_nothing_left(popcorn)


@pytest.mark.xdist_group("popcorn2-exit")
def test_sigkill_of_process_with_remote_thread(popcorn):
    """SIGKILL at the origin ends a process whose thread runs remotely, on every node."""
    node = popcorn.nodes[0]
    cmd = popcorn.command(PROGRAM, "hold", "0", str(len(popcorn.nodes)))
    node.run(f"({cmd}) > /tmp/pcn_exit.out 2>&1 & echo $! > /tmp/pcn_exit.pid", timeout=30).check()
    deadline = time.monotonic() + 60
    while '"thread_is_remote", "node": 0, "ok": true' not in node.run("cat /tmp/pcn_exit.out", timeout=20).stdout:
        expect(time.monotonic() < deadline, "thread_became_remote",
               "the thread never became remote: " + node.run("cat /tmp/pcn_exit.out", timeout=20).stdout)
        time.sleep(1)
    node.run("kill -9 $(pidof pcn_exit)", timeout=30)
    _assert_nothing_left(popcorn)
