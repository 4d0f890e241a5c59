"""The CI kernel built by the builder boots in a 2-node cluster (needs the cluster layer and QEMU)."""

from __future__ import annotations

import pytest

from harness.cluster.cluster import Cluster
from harness.cluster.spec import ClusterSpec

pytestmark = pytest.mark.kernel_build


def test_ci_kernel_boots_in_a_two_node_cluster(ci_kernel):
    spec = ClusterSpec(nodes=2, kernel=str(ci_kernel.dir))
    with Cluster(spec) as cluster:
        assert len(cluster.nodes) == 2
        for node in cluster.nodes:
            result = node.run("uname -r", timeout=60)
            assert result.exit_code == 0
            assert result.stdout.strip() == ci_kernel.manifest["kernel_release"]
