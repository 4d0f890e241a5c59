"""Scenario for the crash-detection test, run in a nested pytest (never collected by the main run):
the first test crashes node1's kernel (LKDTM BUG) and passes on its own, so only the console watcher
can fail it; the second must get a healthy, freshly booted cluster."""

import time

import pytest

from harness.crash import lkdtm, taint


@pytest.mark.nodes(2)
def test_provokes_a_kernel_bug(cluster):
    node = cluster.nodes[1]
    if "BUG" not in lkdtm.available_types(node):
        pytest.skip(f"kernel has no LKDTM ({lkdtm.DIRECT} missing)")
    lkdtm.provoke(node, "BUG")
    deadline = time.monotonic() + 60
    while "---[ end trace" not in node.console_text() and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.nodes(2)
def test_next_test_gets_a_healthy_cluster(cluster):
    assert len(cluster.nodes) == 2
    for node in cluster.nodes:
        # not the crashed kernel: no D (died) taint. Other letters may be set: a TCG guest starved by a
        # loaded host can report a soft lockup while it boots (L), which is not this test's business.
        value = taint.read_taint(node)
        assert value is not None and "D" not in [letter for letter, _ in taint.decode(value)], (node.name, value)
        assert "kernel BUG" not in node.console_text(), node.name
