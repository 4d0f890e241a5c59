"""Popcorn detection and bring-up: on a Popcorn kernel the mesh is up and consistent; on any other
kernel the harness says precisely why it is not Popcorn (and Popcorn tests skip with that reason)."""

from __future__ import annotations

import errno

import pytest

from harness.popcorn.bringup import detect, module_paths, run_probe


@pytest.mark.xdist_group("cluster2")
def test_detection_matches_what_the_kernel_is(cluster, cluster_pool):
    support = cluster_pool.support
    again = detect(cluster)
    assert again.available == support.available and again.reason == support.reason
    probe = support.probe
    has_module = any(p.endswith("/msg_socket.ko") for p in module_paths(cluster.kernel.modules_root))
    if support.available:
        assert probe["ret"] == 0 and probe["my_nid_written"] and has_module
        assert "speaks Popcorn" in support.reason
    else:
        # Not Popcorn: get_node_info must have written nothing, and the reason says so exactly.
        assert probe["ret"] == -1 and not probe["my_nid_written"] and probe["entries_written"] == 0
        assert probe["errno"] in (errno.ENOSYS, errno.EINVAL, errno.EFAULT, errno.E2BIG)
        assert support.reason.startswith(f"kernel {cluster.kernel.release} is not a Popcorn kernel: syscall 437")
        assert ("it has no msg_socket.ko module" in support.reason) != has_module


@pytest.mark.xdist_group("cluster2")
def test_mesh_is_up_on_every_node(popcorn):
    n = len(popcorn.nodes)
    for node in popcorn.nodes:
        probe = run_probe(node, popcorn.profile)
        assert probe["my_nid"] == node.index
        assert [e["status"] for e in probe["nodes"][:n]] == [1] * n
        assert all(e["status"] == 0 for e in probe["nodes"][n:])
        dmesg = node.succeed("dmesg")
        assert "Ready on TCP/IP" in dmesg, node.name
