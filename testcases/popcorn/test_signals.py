"""Signals to a migrated thread's origin task (promised by the RFC; the 5.2 tree has no hooks), and to a thread
back from a remote node."""

from __future__ import annotations

import pytest

from .checks import run_checks


@pytest.mark.xdist_group("popcorn2-signals")
def test_signal_to_origin_task_reaches_remote_thread(popcorn):
    """tgkill of the origin task runs the SIGUSR1 handler in the remote thread."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_signal", "forward", "0", str(len(popcorn.nodes)), timeout=90)


@pytest.mark.xdist_group("popcorn2-signals")
def test_signal_to_thread_back_from_remote_node(popcorn):
    """A thread that migrated to the other node and back handles a SIGUSR1 sent to it then."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_signal", "returned", "0", str(len(popcorn.nodes)), timeout=90)
