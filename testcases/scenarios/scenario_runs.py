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
from harness.pytest.known_failures import Defect, KnownFailure, Symptom
from support import VFORK_WAIT_CHANNEL, start_vfork_waiter

_HANG = Defect("S01", "a scenario's hang", "a program left waiting in the kernel while a command times out")


@pytest.mark.nodes(1)
def test_fails_after_booting(cluster):
    cluster.nodes[0].succeed("echo scenario-was-here > /dev/kmsg")
    assert False, "this scenario fails on purpose"


@pytest.mark.nodes(2)
def test_parks_a_cluster(cluster):
    """Run before ``test_holds_the_cluster`` (another size): the pool parks this cluster (its namespace, work
    dir and snapshot kept) for the rest of the run, which must release it as well."""
    Path(os.environ["PHC_SCENARIO_FLAG"]).with_suffix(".parked").write_text(cluster.run_id)


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
def test_waits_on_a_paused_node(cluster):
    """Pauses node1 and waits on it with no timeout of its own: only the hang watchdog can end this."""
    cluster.nodes[1].vm.pause()
    cluster.nodes[1].run("true", timeout=3600)


@pytest.mark.nodes(2)
def test_waits_on_a_stuck_command(cluster):
    """Every node answers, but the test's command never ends: the watchdog says the test timed out."""
    cluster.nodes[0].run("sleep 3600", timeout=3600)


@pytest.mark.nodes(2)
def test_command_times_out(cluster):
    """A command that outlives its own timeout: the harness saves every node's registers and sysrq dump."""
    cluster.nodes[0].run("sleep 3600", timeout=3)


def _hang_where_it_waits(cluster):
    start_vfork_waiter(cluster.nodes[1])
    cluster.nodes[0].run("sleep 3600", timeout=3)


@pytest.mark.nodes(2)
@pytest.mark.known_failure(KnownFailure("scenario", _HANG, Symptom(
    (r"timeout:node0", rf"stuck:node1:{VFORK_WAIT_CHANNEL}"))))
def test_known_hang_waits_where_its_entry_says(cluster):
    """A known hang whose entry names where a program waits (on another node than the timeout's): xfailed."""
    _hang_where_it_waits(cluster)


@pytest.mark.nodes(2)
@pytest.mark.known_failure(KnownFailure("scenario", _HANG, Symptom((r"timeout:node0", r"stuck:node1:elsewhere"))))
def test_known_hang_waits_elsewhere(cluster):
    """The same hang, its entry naming another wait channel: a failure (the hang is another one)."""
    _hang_where_it_waits(cluster)


@pytest.mark.nodes(2)
def test_gets_a_healthy_cluster(cluster):
    """Runs after the hang scenarios: every node of its cluster answers."""
    assert len(cluster.nodes) == 2
    for node in cluster.nodes:
        assert node.succeed("echo ok").strip() == "ok"
def test_leaves_network_faults(cluster, faults):
    """Partitions the cluster and slows a link, and leaves both for the fixture's teardown to heal."""
    faults.partition([[0], [1]])
    faults.link(0).delay(50)
    assert cluster.nodes[0].run(f"ping -c 1 -W 2 {cluster.nodes[1].address}", timeout=30).exit_code != 0


@pytest.mark.nodes(2)
def test_finds_the_network_whole(cluster):
    """Runs after ``test_leaves_network_faults`` on the same cluster: nothing of it is left."""
    for src, dst in ((0, 1), (1, 0)):
        result = cluster.nodes[src].run(f"ping -c 3 -W 2 {cluster.nodes[dst].address}", timeout=30)
        assert result.ok, result.stdout
        rtt = float(result.stdout.split("min/avg/max = ")[1].split("/")[0])  # the minimum: load adds to the rest
        assert rtt < 90, f"the link is still slow (the test added 2 x 50 ms): {result.stdout}"


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
