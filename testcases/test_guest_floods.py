"""A guest that floods the host is stopped at a cap, on real VMs: its serial console (the node is stopped
and that is a ``flood`` finding), a command's output and a file copied from it (the command or copy is
stopped, the node lives on). The caps are lowered here so the floods are short; the mechanism is the same."""

from __future__ import annotations

import dataclasses
import time

import pytest

from harness.cluster.cluster import Cluster
from harness.crash.watch import CrashWatch
from harness.errors import CommandTimeout, InfraError, OutputFlood
from harness.vm import ssh
from support import leftovers, own_cluster_spec

CAP = 2 * 1024 * 1024


@pytest.mark.xdist_group("flood")
def test_a_node_that_floods_its_console_is_stopped_at_the_cap_and_that_is_a_finding(cluster_pool, monkeypatch):
    vm_config = Cluster._vm_config
    monkeypatch.setattr(Cluster, "_vm_config",
                        lambda self, *args: dataclasses.replace(vm_config(self, *args), console_cap=CAP))
    with Cluster(own_cluster_spec(cluster_pool, 2)) as cluster:
        flooding, other = cluster.nodes[1], cluster.nodes[0]
        watch = CrashWatch(cluster.nodes, test="flood")
        with pytest.raises(InfraError, match=r"^node1: its VM ended \(stopped for flooding its console: over 2 MiB\)"):
            flooding.run("while :; do echo 'flood flood flood flood flood flood flood'; done > /dev/ttyS0", timeout=600)
        assert not flooding.vm.alive()
        assert flooding.console_size() == CAP, "the console file grew past the cap"
        assert [(f.node, f.title, f.type) for f in watch.findings()] == [("node1", "console flood from node", "flood")]
        assert cluster.health()[0].startswith("node1: stopped for flooding its console: over 2 MiB (code "), \
            cluster.health()
        assert other.succeed("hostname").strip() == "node0"
        run_id = cluster.run_id
    assert leftovers(run_id) == []


def test_a_command_that_floods_its_output_is_stopped_at_the_cap_and_the_node_lives_on(cluster_pool, monkeypatch):
    monkeypatch.setattr(ssh, "OUTPUT_CAP_BYTES", CAP)
    node = cluster_pool.get(1).nodes[0]
    with pytest.raises(OutputFlood, match=r"^node0: `yes flood` printed over 2 MiB: stopped \(the output cap\)"):
        node.run("yes flood", timeout=300)
    deadline = time.monotonic() + 30
    while node.run("pgrep -x yes", timeout=30).ok and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not node.run("pgrep -x yes", timeout=30).ok, "the flooding command still runs"
    assert node.succeed("yes flood | head -c 100000 | wc -c").strip() == "100000", "output under the cap is whole"


def test_a_copy_from_a_node_is_bounded_in_size_and_in_time(cluster_pool, monkeypatch, tmp_path):
    monkeypatch.setattr(ssh, "COPY_CAP_BYTES", CAP)
    node = cluster_pool.get(1).nodes[0]
    with pytest.raises(OutputFlood, match=r"^node0: /dev/zero holds over 2 MiB: not copied \(the copy cap\)"):
        node.get("/dev/zero", tmp_path / "zero")
    assert not (tmp_path / "zero").exists(), "a partial copy was left"
    # a file that trickles one line a second: the copy ends at its deadline, not at each read's
    node.succeed("printf 'while :; do echo x; sleep 1; done > /tmp/trickle\\n' > /tmp/trickler.sh && "
                 "rm -f /tmp/trickle && mkfifo /tmp/trickle && "
                 "(setsid sh /tmp/trickler.sh > /dev/null 2>&1 < /dev/null &)")
    try:
        with pytest.raises(CommandTimeout, match=r"^node0: reading /tmp/trickle took over 5s"):
            node.get("/tmp/trickle", tmp_path / "trickle", timeout=5)
        assert not (tmp_path / "trickle").exists()
    finally:
        node.run("pkill -f '[t]rickler'; rm -f /tmp/trickle /tmp/trickler.sh", timeout=30)
    node.succeed("head -c 1000000 /dev/urandom > /tmp/small")
    node.get("/tmp/small", tmp_path / "small")
    assert (tmp_path / "small").stat().st_size == 1000000
