"""Unit tests of the cluster spec: validation and deterministic addressing."""

import pytest

from harness.errors import UsageError
from harness.cluster.spec import ClusterSpec
from harness.popcorn.abi import PROFILES, check_node_count


@pytest.mark.parametrize("nodes, message", [(0, "at least 1"), (-1, "at least 1"), (254, "too small for 254 nodes")])
def test_node_count_out_of_range_is_a_usage_error(nodes, message):
    with pytest.raises(UsageError, match=message):
        ClusterSpec(nodes=nodes).validate()


@pytest.mark.parametrize("nodes", [1, 2, 32, 253])
def test_node_count_in_range_is_accepted(nodes):
    ClusterSpec(nodes=nodes).validate()  # the subnet (/24) bounds a cluster; Popcorn's ABI bounds a mesh


def test_a_popcorn_mesh_is_bounded_by_its_abi_profile():
    check_node_count(32, PROFILES["ssrg-5.2"])
    with pytest.raises(UsageError, match="larger than the ssrg-5.2 ABI accepts \\(32\\)"):
        check_node_count(33, PROFILES["ssrg-5.2"])
    check_node_count(32)  # before detection: the largest any profile accepts
    with pytest.raises(UsageError, match="larger than any Popcorn ABI the harness knows accepts \\(32\\)"):
        check_node_count(33)


def test_the_rfc_profile_gives_its_three_syscalls_and_no_propose_migration():
    """The RFC posting numbers get_thread_status 435 and get_node_info 436 (the 5.2 tree's propose_migration
    and get_thread_status); a guest program must not fall back to the 5.2 tree's numbers for the syscall
    the RFC lacks."""
    env = PROFILES["rfc-2020"].environment()
    assert (env["PCN_NR_MIGRATE"], env["PCN_NR_THREAD_STATUS"], env["PCN_NR_NODE_INFO"]) == ("434", "435", "436")
    assert env["PCN_NR_PROPOSE"] == "-1"
    assert PROFILES["ssrg-5.2"].environment()["PCN_NR_PROPOSE"] == "435"


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


@pytest.mark.parametrize("field, flag", [("boot_timeout", "--boot-timeout"), ("boot_stall", "--boot-stall")])
def test_a_boot_time_limit_must_be_positive(field, flag):
    with pytest.raises(UsageError, match=f"{flag} must be a positive number of seconds, got 0"):
        ClusterSpec(**{field: 0}).validate()


def test_spec_round_trips_through_plain_data():
    spec = ClusterSpec(nodes=3, kernel="/k", extra_files=(("/a", "/b"),), modules=("lkdtm",))
    assert ClusterSpec.from_dict(spec.to_dict()) == spec


def test_unknown_spec_keys_are_rejected():
    with pytest.raises(UsageError, match="unknown cluster spec keys: colour"):
        ClusterSpec.from_dict({"nodes": 2, "colour": "red"})



def test_a_guest_clock_that_ran_faster_than_the_host_waited_is_fast():
    from harness.cluster.cluster import fast_clocks

    host = {"node0": 70.0, "node1": 70.0, "node2": 70.0}
    assert fast_clocks(host, {"node0": 12.0, "node1": 150.0, "node2": 3270.8}) == {"node2": "uptime 3271s after 70s"}
    assert fast_clocks({"node0": 3.0}, {"node0": 12.9}) == {}, "a fast boot is not a fast clock (slack)"
