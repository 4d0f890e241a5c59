"""Unit tests of the cluster spec: validation and deterministic addressing."""

import pytest

from harness.errors import UsageError
from harness.cluster.spec import MAX_NODES, ClusterSpec


@pytest.mark.parametrize("nodes", [0, -1, MAX_NODES + 1])
def test_node_count_out_of_range_is_a_usage_error(nodes):
    with pytest.raises(UsageError, match="between 1 and 32"):
        ClusterSpec(nodes=nodes).validate()


@pytest.mark.parametrize("nodes", [1, 2, MAX_NODES])
def test_node_count_in_range_is_accepted(nodes):
    ClusterSpec(nodes=nodes).validate()


def test_node_i_gets_the_ith_host_address_and_harness_the_last():
    spec = ClusterSpec(nodes=4, subnet="10.77.0.0/24")
    assert [spec.node_address(i) for i in range(4)] == ["10.77.0.1", "10.77.0.2", "10.77.0.3", "10.77.0.4"]
    assert spec.harness_address == "10.77.0.254"
    assert spec.prefixlen == 24


def test_macs_are_distinct_and_deterministic():
    macs = [ClusterSpec.node_mac(i) for i in range(300)]
    assert len(set(macs)) == 300
    assert macs[1] == "52:54:00:7c:00:01" and macs[257] == "52:54:00:7c:01:01"


def test_subnet_too_small_is_rejected():
    with pytest.raises(UsageError, match="too small"):
        ClusterSpec(nodes=6, subnet="10.0.0.0/29").validate()


def test_bad_accel_and_subnet_are_rejected():
    with pytest.raises(UsageError, match="--accel"):
        ClusterSpec(accel="xen").validate()
    with pytest.raises(UsageError, match="bad subnet"):
        ClusterSpec(subnet="10.0.0.300/24").validate()


def test_spec_round_trips_through_plain_data():
    spec = ClusterSpec(nodes=3, kernel="/k", extra_files=(("/a", "/b"),), modules=("lkdtm",))
    assert ClusterSpec.from_dict(spec.to_dict()) == spec


def test_unknown_spec_keys_are_rejected():
    with pytest.raises(UsageError, match="unknown cluster spec keys: colour"):
        ClusterSpec.from_dict({"nodes": 2, "colour": "red"})

