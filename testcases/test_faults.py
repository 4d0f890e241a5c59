"""Faults on real VMs: partitions, slow and lossy links, pause, crash, the fault log and its seed."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from harness.errors import CommandTimeout
from harness.cluster.faults import FaultInjector
from support import REPO, harness_env, leftovers, new_tag, pytest_command, run_cli, tcp_delivers

pytestmark = [pytest.mark.nodes(3), pytest.mark.xdist_group("cluster3")]


def ping(src, dst, count: int = 3) -> tuple[bool, float | None]:
    """Ping ``dst`` from ``src``: (every reply came, the shortest round trip in ms or None). The minimum,
    not the average: on a loaded host (eight workers on two cores) single replies can be late by a second,
    but none can come back sooner than the delay allows."""
    result = src.run(f"ping -c {count} -i 0.3 -W 2 {dst.address}", timeout=30 + 3 * count)
    match = re.search(r"min/avg/max = ([\d.]+)/", result.stdout)
    return result.ok and f"{count} packets received" in result.stdout, float(match[1]) if match else None


def host_round_trip(cluster, dst, count: int = 5) -> float:
    """The shortest of ``count`` round trips in ms from the harness (inside the cluster's namespace) to
    ``dst``: a TCP connect to its SSH port returns when the SYN-ACK is back, so it times one round trip
    through the node's link. Timed by the host's clock, not a guest's: a TCG guest on a loaded host often
    fails TSC calibration (its kernels have no ACPI, so no HPET or PM timer either), falls back to the
    jiffies clocksource and loses time (280 ms measured for 300 ms of delay; 156 ms once under CI load)."""
    times = []
    for _ in range(count):
        started = time.monotonic()
        cluster.network.connect(dst.address, 22, 30).close()
        times.append((time.monotonic() - started) * 1000)
        time.sleep(0.2)
    return min(times)


def reachable(cluster) -> dict[tuple[int, int], bool]:
    """Which ordered node pairs answer a ping."""
    return {(a.index, b.index): ping(a, b, 2)[0] for a in cluster.nodes for b in cluster.nodes if a is not b}


def test_partition_cuts_ipv4_between_groups_only_and_heal_restores_it(cluster, faults):
    faults.partition([["node0"], [1, "10.77.0.3"]])  # names, indices and addresses all name nodes
    pairs = reachable(cluster)
    assert pairs == {(0, 1): False, (0, 2): False, (1, 0): False, (2, 0): False, (1, 2): True, (2, 1): True}, pairs
    assert not tcp_delivers(cluster.nodes[1], cluster.nodes[0]), "TCP crossed the partition"
    assert tcp_delivers(cluster.nodes[1], cluster.nodes[2]), "TCP within a group must work"
    assert [n.succeed("hostname").strip() for n in cluster.nodes] == ["node0", "node1", "node2"]  # harness SSH
    assert faults.heal()
    assert all(reachable(cluster).values())
    assert tcp_delivers(cluster.nodes[1], cluster.nodes[0])
    assert faults.log.kinds() == ["partition", "heal"]
    assert faults.log.entries[0]["target"] == [["node0"], ["node1", "node2"]]


def test_a_partition_chosen_from_the_seed_isolates_that_node(cluster, faults):
    groups = faults.choose_split("one")
    assert groups == FaultInjector(cluster, faults.seed).choose_split("one"), "same seed, same split"
    faults.partition(groups)
    alone = cluster.node(groups[1][0])
    for other in cluster.nodes:
        if other is not alone:
            assert not ping(other, alone, 2)[0], f"{other.name} reached the isolated {alone.name}"
    rest = [n for n in cluster.nodes if n is not alone]
    assert ping(rest[0], rest[1], 2)[0]


def test_delay_raises_the_round_trip_by_the_delay_per_direction_and_clear_restores_it(cluster, faults):
    node1 = cluster.nodes[1]
    base = host_round_trip(cluster, node1)
    faults.link(node1).delay(150, direction="in")
    one_way = host_round_trip(cluster, node1)
    # Lower bounds are exact (the relay holds every frame for the delay, and the host's clock is right);
    # upper bounds are loose: under CI load (eight workers, two cores) the Python relay added up to 1.3 s once.
    assert 150 <= one_way < base + 150 + 2000, (base, one_way)
    faults.link(node1).delay(150)  # both directions: the request and the reply each wait 150 ms
    both = host_round_trip(cluster, node1)
    assert 300 <= both < base + 300 + 2000, (base, both)
    assert node1.succeed("hostname").strip() == "node1", "the harness still reaches a slow node"
    assert ping(cluster.nodes[0], node1, 3)[0], "nodes still reach a slow node"
    faults.link(node1).clear()
    after = host_round_trip(cluster, node1)
    assert after < base + 100, (base, after)  # the relay is gone: back to the bridge
    assert [e["kind"] for e in faults.log.entries] == ["delay", "delay", "clear"]
    assert faults.log.entries[0]["args"] == {"direction": "in", "delay_ms": 150, "jitter_ms": 0.0}


def test_loss_100_cuts_the_link_and_0_restores_it(cluster, faults):
    node0, node1, node2 = cluster.nodes
    faults.link(1).loss(100)
    assert not ping(node0, node1, 2)[0] and not ping(node2, node1, 2)[0]
    assert ping(node0, node2, 2)[0], "other links are untouched"
    with pytest.raises(CommandTimeout):
        node1.run("true", timeout=3)  # the harness's SSH goes over the same link
    faults.link(1).loss(0)
    assert cluster.network_faults().shapers == {}, "an idle link is put back on the bridge"
    assert ping(node0, node1, 3)[0] and ping(node1, node2, 3)[0]
    assert node1.succeed("hostname", timeout=60).strip() == "node1"


def test_pause_freezes_a_node_until_resume(cluster, faults):
    node1 = cluster.nodes[1]
    faults.pause(node1)
    assert node1.alive(), "a paused node's QEMU still runs"
    with pytest.raises(CommandTimeout):
        node1.run("true", timeout=3)
    assert not ping(cluster.nodes[0], node1, 2)[0]
    problems = cluster.health()
    assert len(problems) == 1 and problems[0] == "node1: paused (vCPUs stopped)", problems
    faults.resume(node1)
    assert node1.succeed("hostname", timeout=60).strip() == "node1"
    assert ping(cluster.nodes[0], node1, 2)[0]
    assert cluster.health() == []
    assert faults.log.kinds() == ["pause", "resume"]


def test_a_schedule_runs_in_order_and_leaves_the_network_whole(cluster, faults):
    schedule = faults.schedule(3, span=2.0, kinds=("partition", "delay", "loss"), duration=(0.5, 1.0))
    assert len(schedule) == 3
    errors = []

    def run():
        try:
            faults.run(schedule)
        except BaseException as exc:  # an exception in a thread is lost unless kept: the test must see it
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive()
    assert not errors, f"the schedule failed: {errors!r}"
    applied = [e for e in faults.log.entries if e["kind"] in ("partition", "delay", "loss")]
    assert [e["kind"] for e in applied] == [f.kind for f in schedule]
    assert [e["t"] for e in faults.log.entries] == sorted(e["t"] for e in faults.log.entries)
    assert all(reachable(cluster).values()), faults.log.text()
    assert cluster.network_faults().state() == {"groups": [], "links": {}}


@pytest.mark.parametrize("kind", ["crash", "pause"])
@pytest.mark.timeout(1800)  # two 3-node boots; with eight workers on two cores one took over 900 s in CI
def test_a_crashed_or_paused_node_gets_the_cluster_restored_or_rebooted(cluster_pool, seed, kind):
    """After a crash the pool restores the snapshot it saved when the cluster came up (the same cluster,
    every node a new QEMU); after a pause, with the snapshot dropped (as ``--no-snapshots``), it boots a
    new cluster."""
    first = cluster_pool.get(3)
    assert first.snapshot is not None, "the pool saved no snapshot of its new cluster"
    if kind == "pause":
        first.snapshot = None
    pids = [node.vm.pid for node in first.nodes]
    faults = FaultInjector(first, seed)
    getattr(faults, kind)(1)
    assert first.nodes[1].alive() == (kind == "pause")
    problems = cluster_pool.after_test(f"{kind}-test", failed=False)
    expected = "node1: QEMU exited" if kind == "crash" else "node1: paused (vCPUs stopped)"
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    second = cluster_pool.get(3)
    assert [n.succeed("hostname").strip() for n in second.nodes] == ["node0", "node1", "node2"]
    assert faults.log.kinds() == [kind]
    if kind == "crash":
        assert second is first and not set(pids) & {node.vm.pid for node in second.nodes}
        assert second.health() == []
    else:
        assert second is not first
        assert leftovers(first.run_id) == []


@pytest.mark.xdist_group("faults-nested")
def test_teardown_heals_and_the_report_carries_seed_and_fault_log(kernel, tmp_path):
    """A nested run: the first test leaves a partition and a slow link, the second finds the network whole;
    the header prints the seed and JUnit carries it with the fault log."""
    tag = new_tag()
    artifacts = tmp_path / "artifacts"
    scenarios = REPO / "testcases" / "scenarios" / "scenario_runs.py"
    proc = subprocess.run(
        pytest_command("scenario_runs.py::test_leaves_network_faults", kernel, artifacts,
                       f"{scenarios}::test_finds_the_network_whole", "--seed=1234", "-v"),  # -v: undo -q, show the header
        env=harness_env(tag), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "fault seed: 1234" in proc.stdout
    cases = {case.get("name"): case for case in ET.parse(artifacts / "junit.xml").iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_leaves_network_faults"].iter("property")}
    assert props["seed"] == "1234"
    log = json.loads(props["faults"])
    assert log["seed"] == 1234
    assert [(e["kind"], e["target"]) for e in log["faults"]] == [
        ("partition", [["node0"], ["node1"]]), ("delay", "node0"), ("heal", None)]
    assert log["faults"][-1]["args"] == {"reason": "teardown"}
    assert leftovers(tag) == []


@pytest.mark.xdist_group("faults-cli")
def test_cli_partition_lasts_across_invocations_until_heal(kernel):
    tag = new_tag()
    env = harness_env(tag)

    def cli(*args):
        result = run_cli("cluster", args[0], "--name", tag, *args[1:], env=env)
        assert result.returncode in (0, 1), result.stderr
        return result

    try:
        assert cli("up", "--nodes", "3", "--kernel", kernel).returncode == 0
        assert cli("partition", "0", "node1,2").stdout.strip() == "node0 | node1,node2"
        ping0 = ("exec", "node0", "--", "ping -c 1 -W 2 10.77.0.2")
        assert cli(*ping0).returncode == 1
        assert cli("exec", "node1", "--", "ping -c 1 -W 2 10.77.0.3").returncode == 0
        assert cli("heal").stdout.strip() == "healed"
        assert cli(*ping0).returncode == 0
        assert cli("heal").stdout.strip() == "nothing to heal"
    finally:
        run_cli("cluster", "down", "--name", tag, env=env)
    assert leftovers(tag) == []
