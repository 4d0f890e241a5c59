"""Cluster snapshots on real VMs: a restored cluster is the cluster at the moment of its snapshot, its
guest-to-guest TCP connections included (what the Popcorn mesh is made of), a crashed node comes back
with it, and the pool restores instead of rebooting."""

from __future__ import annotations

import pytest

from harness.cluster.cluster import Cluster
from harness.errors import InfraError
from support import leftovers, own_cluster_spec, panic_node, skip_without_libvirt


def _wait_for_line(node, path: str, line: str, seconds: float = 30.0) -> bool:
    """True once ``line`` is a line of ``path`` on ``node`` (waiting by the guest's clock)."""
    return node.run(f"timeout {seconds:g} sh -c 'until grep -qx {line} {path}; do sleep 0.2; done'",
                    timeout=seconds + 30).ok


@pytest.mark.xdist_group("snapshots")
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("backend", ["qemu", "libvirt"])
def test_a_restored_cluster_is_the_cluster_at_its_snapshot(cluster_pool, backend):
    spec = own_cluster_spec(cluster_pool, 2, backend=backend)
    if backend == "libvirt":
        skip_without_libvirt()
    with Cluster(spec) as cluster:
        node0, node1 = cluster.nodes
        # a TCP connection from node0 to node1, open across the snapshot: node0 writes into a fifo whose
        # reader is nc (a sleeping writer keeps it open), node1's nc appends what arrives to /tmp/recv (its
        # stdin a pipe that never ends: nc closes the connection at the end of its input)
        node1.succeed("(sleep 100000 | nc -l -p 7000 > /tmp/recv &); for i in $(seq 100); do netstat -ltn | grep -q ':7000 ' "
                      "&& exit 0; sleep 0.1; done; exit 1", timeout=60)
        node0.succeed(f"mkfifo /tmp/f; (sleep 100000 > /tmp/f &); (nc {node1.address} 7000 < /tmp/f &); "
                      "echo before > /tmp/f", timeout=60)
        assert _wait_for_line(node1, "/tmp/recv", "before"), node1.run("cat /tmp/recv").stdout
        node0.succeed("echo at-snapshot > /tmp/marker")

        directory = cluster.save_snapshot()
        assert sorted(p.name for p in directory.iterdir()) == ["node0.console", "node0.state", "node1.console",
                                                               "node1.state"]
        # the cluster runs on after its snapshot
        node0.succeed("echo after-snapshot > /tmp/marker; touch /tmp/made-after-snapshot")
        pids = [node.vm.pid for node in cluster.nodes]
        panic_node(node1)

        cluster.restore_snapshot()
        assert all(node.vm.pid not in pids and node.alive() for node in cluster.nodes)
        assert [node.succeed("hostname").strip() for node in cluster.nodes] == ["node0", "node1"]
        assert node0.succeed("cat /tmp/marker").strip() == "at-snapshot"
        assert not node0.run("test -e /tmp/made-after-snapshot").ok, "a file made after the snapshot survived it"
        # the connection made before the snapshot carries a line written after the restore
        node0.succeed("echo across > /tmp/f", timeout=30)
        assert _wait_for_line(node1, "/tmp/recv", "across"), node1.run("cat /tmp/recv").stdout
        assert cluster.health() == []
        # the restored node's console is what its guest printed up to the snapshot (its boot), not the panic
        # of the node it replaced (that one is in the failed test's artifacts), and goes on from there
        console = node1.vm.console_text()
        assert "guest ready" in console and "sysrq" not in console.lower(), console[-2000:]
        node1.succeed("echo after-restore > /dev/console")
        assert "after-restore" in node1.vm.console_text()

        cluster.restore_snapshot()  # the same snapshot restores again
        assert node0.succeed("cat /tmp/marker").strip() == "at-snapshot"
        run_id = cluster.run_id
    assert leftovers(run_id) == []


@pytest.mark.xdist_group("snapshots")
def test_a_restore_without_a_snapshot_is_refused(cluster_pool):
    cluster = Cluster(own_cluster_spec(cluster_pool, 2))
    with pytest.raises(InfraError, match="no snapshot of this cluster to restore"):
        cluster.restore_snapshot()
    with pytest.raises(InfraError, match="no snapshot of this cluster to park it on"):
        cluster.park()
