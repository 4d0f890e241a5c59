"""Popcorn detection and bring-up: on a Popcorn kernel the mesh is up and consistent; on any other
kernel the harness says precisely why it is not Popcorn (and Popcorn tests skip with that reason)."""

from __future__ import annotations

import errno
import time

import pytest

from harness.cluster.cluster import Cluster
from harness.errors import InfraError
from harness.popcorn.bringup import bring_up, detect, module_paths, run_probe
from harness.popcorn.nodes_file import write_nodes_file
from harness.popcorn.plugin import support_of
from support import own_cluster_spec


def _built_with_popcorn(kernel) -> bool | None:
    """What the kernel's ``.config`` says (``CONFIG_POPCORN=y``), or None for a kernel without one beside it:
    an independent answer to "is this Popcorn" that detection must agree with."""
    config = kernel.file(".config")
    return None if config is None else "CONFIG_POPCORN=y" in config.read_text().splitlines()


@pytest.mark.xdist_group("cluster2")
def test_detection_matches_what_the_kernel_is(cluster, request):
    support = support_of(request.config, cluster)
    built = _built_with_popcorn(cluster.kernel)
    if built is not None:  # a misdetected Popcorn kernel would otherwise pass here and skip every Popcorn test
        assert support.available == built, f"CONFIG_POPCORN={'y' if built else 'n'}: {support.reason}"
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


@pytest.mark.xdist_group("mesh-fail")
def test_a_node_that_never_joins_is_named_with_its_console(cluster_pool):
    """Node 1 is frozen (QMP stop) before insmod: the deadline ends the wait and names it."""
    with Cluster(own_cluster_spec(cluster_pool, 2)) as cluster:
        support = detect(cluster)
        if not support.available:
            assert not _built_with_popcorn(cluster.kernel), f"built with CONFIG_POPCORN=y: {support.reason}"
            pytest.skip(f"needs a Popcorn kernel: {support.reason}")
        write_nodes_file(cluster)
        cluster.nodes[1].vm.pause()
        started = time.monotonic()
        with pytest.raises(InfraError) as info:
            bring_up(cluster, support.profile, timeout=20)
        message = str(info.value)
        assert message.startswith("Popcorn mesh did not come up: ")
        assert "node1: " in message and "--- node1 console tail:" in message
        assert "node0: never joined within 20s" in message, "node0's insmod waits for node1 forever"
        assert time.monotonic() - started < 120
