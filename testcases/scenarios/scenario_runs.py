"""Scenario tests run by the leak tests in a nested pytest (never collected by the main run).

Each one uses the real cluster fixture; the outer test then kills, interrupts or inspects the run and
checks what it left on the machine.
"""

import contextlib
import os
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError


@pytest.mark.nodes(1)
def test_fails_after_booting(cluster):
    cluster.nodes[0].succeed("echo scenario-was-here > /dev/kmsg")
    assert False, "this scenario fails on purpose"


@pytest.mark.nodes(1)
def test_holds_the_cluster(cluster):
    """Signal the outer test through a flag file, then wait to be interrupted or killed."""
    Path(os.environ["PHC_SCENARIO_FLAG"]).write_text(cluster.run_id)
    time.sleep(600)


@pytest.mark.nodes(1)
def test_provokes_a_kernel_warning(cluster):
    """Passes on its own; the console watcher must fail it. Uses LKDTM when the kernel has it."""
    node = cluster.nodes[0]
    lkdtm = "/sys/kernel/debug/provoke-crash/DIRECT"
    if node.run(f"test -w {lkdtm}").ok:
        node.run(f"echo WARNING > {lkdtm}", timeout=30)
    else:
        node.succeed("echo '<4>WARNING: CPU: 0 PID: 1 at harness/scenario.c:1 provoked+0x0/0x1' > /dev/kmsg")
    time.sleep(1)


@pytest.mark.nodes(2)
def test_provokes_a_kernel_bug(cluster):
    """Node1 hits ``BUG()`` through LKDTM; the console watcher fails the test (repro bundle tests)."""
    node = cluster.nodes[1]
    lkdtm = "/sys/kernel/debug/provoke-crash/DIRECT"
    if not node.run(f"test -w {lkdtm}").ok:
        pytest.skip("the kernel has no LKDTM (CONFIG_LKDTM=y gives /sys/kernel/debug/provoke-crash)")
    with contextlib.suppress(HarnessError):  # the shell that writes is killed by the oops
        node.run(f"echo BUG > {lkdtm}", timeout=30)
    time.sleep(1)
