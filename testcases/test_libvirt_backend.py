"""The libvirt backend on real VMs (#15, first part): a cluster of transient domains run by a libvirtd private
to the cluster, in its namespace, driven through the same cluster API as the QEMU backend; nothing left
behind after a run, and a SIGKILLed harness's domains and daemon are swept by the next run."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import time

import pytest

from harness.cluster.cluster import Cluster
from harness.vm.leftovers import qemu_processes, sweeps_held_off
from support import (assert_usage_error, harness_env, leftovers, new_tag, own_cluster_spec, panic_node, run_cli,
                     skip_without_libvirt)

pytestmark = pytest.mark.xdist_group("libvirt")


@pytest.fixture
def libvirt_spec(cluster_pool):
    """A 2-node spec on the libvirt backend; skips where the backend cannot run (``skip_without_libvirt``)."""
    skip_without_libvirt()
    return own_cluster_spec(cluster_pool, 2, backend="libvirt")


def test_a_libvirt_cluster_is_driven_like_a_qemu_one(libvirt_spec):
    with Cluster(libvirt_spec) as cluster:
        node0, node1 = cluster.nodes
        assert [n.succeed("hostname").strip() for n in cluster.nodes] == ["node0", "node1"]
        # each node's QEMU is a libvirt domain's, in the cluster's namespace (not the host's)
        names = qemu_processes()
        assert names.get(node0.vm.pid) == f"{cluster.netns}-node0", names
        own_netns = subprocess.run(["ip", "netns", "identify", str(node0.vm.pid)], capture_output=True, text=True)
        assert own_netns.stdout.strip() == cluster.netns
        assert node0.run(f"ping -c 1 -W 5 {node1.address}").ok
        # partition and heal, as on QEMU (nftables in the namespace, on libvirt's taps)
        cluster.partition([[0], [1]])
        assert not node0.run(f"ping -c 1 -W 2 {node1.address}").ok
        cluster.heal()
        assert node0.run(f"ping -c 1 -W 5 {node1.address}").ok
        # pause and resume through libvirt; QMP through libvirt's monitor passthrough
        node1.vm.pause()
        assert node1.vm.state() == "paused"
        assert cluster.health() == ["node1: paused (vCPUs stopped)"]
        node1.vm.resume()
        assert node1.vm.monitor("query-status")["status"] == "running"
        assert cluster.health() == []
        # a guest panic ends the domain (panic=-1 resets, and a reset destroys it), as it ends QEMU
        panic_node(node1)
        assert cluster.health()[0].startswith("node1: QEMU exited")
        assert "Kernel panic" in node1.vm.console_text()
        run_id = cluster.run_id
    assert leftovers(run_id) == []


_HOLDER = textwrap.dedent("""
    import sys, time
    from harness.cluster.cluster import Cluster
    from harness.cluster.spec import ClusterSpec
    cluster = Cluster(ClusterSpec.from_dict(__import__("json").loads(sys.argv[1]))).start()
    print(cluster.run_id, flush=True)
    time.sleep(600)
""")


def test_a_killed_harness_leaves_its_libvirt_domains_to_the_sweep(libvirt_spec):
    """Unlike the QEMU backend's, a libvirt domain does not die with the harness (libvirt's daemon owns it):
    after a SIGKILL the domain and the daemon run on, and the next sweep (``clean``, or any run's start)
    removes them with the rest of the run."""
    tag = new_tag()
    spec = dataclasses.replace(libvirt_spec, nodes=1)
    import json

    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, json.dumps(spec.to_dict())], env=harness_env(tag),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = holder.stdout.readline().strip()
        assert run_id, holder.stderr.read()[-3000:]
        held = leftovers(tag)
        assert any(item.startswith("qemu") for item in held) and any(item.startswith("libvirtd") for item in held)
    except BaseException:
        holder.kill()
        raise
    # Any cluster start sweeps, and under xdist another worker's may remove the dead run before the look
    # (the CI emulation of 01d6342 saw that): no sweep until then (the holder's own start has swept).
    with sweeps_held_off():
        holder.kill()
        holder.wait(timeout=60)
        time.sleep(1)
        survivors = leftovers(tag)
    assert any(item.startswith("qemu") for item in survivors), "the domain outlives its harness"
    result = run_cli("clean")
    assert result.returncode == 0, result.stderr
    assert leftovers(tag) == []


def test_libvirt_backend_bad_input(kernel):
    tag = new_tag()
    env = harness_env(tag)
    assert_usage_error(run_cli("cluster", "up", "--kernel", kernel, "--backend", "libvirt", "--gdb", "--name", tag,
                               env=env), tag, "--gdb needs the qemu backend (not libvirt)")
    result = run_cli("cluster", "up", "--kernel", kernel, "--backend", "xen", env=env)
    assert result.returncode == 2 and "invalid choice: 'xen'" in result.stderr
    assert leftovers(tag) == []


def test_a_detached_libvirt_cluster_across_invocations(libvirt_spec):
    """``cluster up --backend libvirt`` leaves the cluster (domains and their daemon) running for later
    invocations; ``exec`` reaches it; ``down`` stops the domains and the daemon and leaves nothing, with no
    libvirt error printed on the way."""
    tag = new_tag()
    env = harness_env(tag)
    up = run_cli("cluster", "up", "--kernel", libvirt_spec.kernel, "--nodes", "1", "--accel", "tcg",
                 "--backend", "libvirt", "--name", tag, env=env)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        assert any(item.startswith("libvirtd") for item in leftovers(tag)), "the daemon outlives cluster up"
        ran = run_cli("cluster", "exec", "--name", tag, "node0", "--", "hostname", env=env)
        assert (ran.returncode, ran.stdout) == (0, "node0\n"), ran.stderr
    finally:
        down = run_cli("cluster", "down", "--name", tag, env=env)
    assert down.returncode == 0 and "libvirt" not in down.stderr, down.stderr
    assert leftovers(tag) == []
