"""Pure logic of clusters across hosts (``harness/vm/hosts.py``): the hosts file, where each node runs, the
overlay's names and the scripts run on each host."""

from __future__ import annotations

import json

import pytest

from harness.cluster.spec import ClusterSpec
from harness.errors import UsageError
from harness.vm.hosts import (HOSTS_RECORD, default_shell, host_partition_script, host_setup_script,
                              host_teardown_script, host_unpartition_script, overlay_names,
                              parse_hosts, read_hosts_file, release_recorded, tap_on_host)


def test_parse_hosts_reads_uris_shells_and_the_namespace():
    hosts = parse_hosts([
        "# a comment", "",
        "qemu+ssh://root@hostb:2222/system",
        "qemu+tcp://10.213.0.3/system   ip netns exec phc-x-h1   # emulated",
        "netns phc-x",
    ])
    assert [h.uri for h in hosts.hosts] == ["qemu+ssh://root@hostb:2222/system", "qemu+tcp://10.213.0.3/system"]
    assert hosts.hosts[0].shell == ("ssh", "-p", "2222", "-o", "BatchMode=yes", "root@hostb")
    assert hosts.hosts[1].shell == ("ip", "netns", "exec", "phc-x-h1")
    assert hosts.hosts[1].hostname == "10.213.0.3"
    assert hosts.netns == "phc-x"


@pytest.mark.parametrize("lines, message", [
    ([], "names no host"),
    (["# only a comment"], "names no host"),
    (["qemu+tcp://10.0.0.2/system"], "give the command that runs a root command on qemu\\+tcp://10.0.0.2/system"),
    (["qemu:///system sh"], "not a libvirt URI of a remote host"),
    (["http://hostb/ ssh hostb"], "not a libvirt URI of a remote host"),
    (["qemu+ssh://hostb/other"], "not a libvirt URI of a remote host"),
    (["qemu+ssh://hostb/system", "qemu+ssh://hostb/system"], "names a host twice"),
    (["netns", "qemu+ssh://hostb/system"], "'netns' takes one namespace name"),
])
def test_parse_hosts_refuses(lines, message):
    with pytest.raises(UsageError, match=message):
        parse_hosts(lines)


def test_default_shell_of_an_ssh_uri_without_user_or_port():
    assert default_shell("qemu+ssh://hostc/system") == ("ssh", "-o", "BatchMode=yes", "hostc")


def test_nodes_go_round_robin_over_the_hosts():
    hosts = parse_hosts(["qemu+ssh://a/system", "qemu+ssh://b/system", "qemu+ssh://c/system"])
    assert [hosts.of_node(i).uri for i in range(5)] == [
        "qemu+ssh://a/system", "qemu+ssh://b/system", "qemu+ssh://c/system", "qemu+ssh://a/system",
        "qemu+ssh://b/system"]
    spec = ClusterSpec(backend="libvirt", hosts=("qemu+ssh://a/system", "qemu+ssh://b/system"))
    assert [spec.host_of(i) for i in range(3)] == ["qemu+ssh://a/system", "qemu+ssh://b/system", "qemu+ssh://a/system"]
    assert ClusterSpec().host_of(1) == "" and ClusterSpec().host_list() is None


def test_overlay_names_fit_interface_names_and_the_vni_is_never_zero():
    for run_id in ("00000000", "ffffff", "ffffffff", "1a2b3c4d"):
        bridge, vxlan, vni = overlay_names(run_id)
        assert len(bridge) <= 15 and len(vxlan) <= 15 and run_id in bridge and run_id in vxlan
        assert 1 <= vni < 2**24
    assert len(tap_on_host("ffffffff", 999)) <= 15


def test_the_host_scripts_make_and_remove_the_run_s_overlay_end():
    script = host_setup_script("1a2b3c4d", "10.213.0.2", ["10.213.0.1", "10.213.0.3"])
    _, _, vni = overlay_names("1a2b3c4d")
    assert "ip link add phb1a2b3c4d type bridge" in script
    assert f"type vxlan id {vni} dstport 4789 local 10.213.0.2" in script
    assert [line.split()[-1] for line in script.splitlines() if line.startswith("bridge fdb append")] == [
        "10.213.0.1", "10.213.0.3"]
    assert script.startswith("set -e\n")
    teardown = host_teardown_script("1a2b3c4d")
    assert teardown.index("ip link del phx1a2b3c4d") < teardown.index("ip link del phb1a2b3c4d")
    assert "nft delete table bridge phf1a2b3c4d" in teardown and "command -v nft" in teardown


def test_the_partition_script_drops_other_groups_frames_to_each_tap():
    script = host_partition_script("1a2b3c4d", {"pht1a2b3c4d0": ["10.0.0.3", "10.0.0.4"], "pht1a2b3c4d2": []})
    rules = [line for line in script.splitlines() if line.startswith("add rule")]
    assert rules == ['add rule bridge phf1a2b3c4d forward oifname "pht1a2b3c4d0" ip saddr { 10.0.0.3, 10.0.0.4 } drop']
    assert script.index("nft delete table bridge phf1a2b3c4d") < script.index("add table bridge phf1a2b3c4d")
    assert "type filter hook forward priority 0; policy accept;" in script
    assert host_unpartition_script("1a2b3c4d").rstrip().endswith("echo removed; }")


def test_spec_with_hosts_round_trips_and_needs_libvirt():
    spec = ClusterSpec(backend="libvirt", hosts=("qemu+ssh://a/system",))
    spec.validate_values()
    assert ClusterSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(UsageError, match="--hosts needs the libvirt backend"):
        ClusterSpec(hosts=("qemu+ssh://a/system",)).validate_values()
    with pytest.raises(UsageError, match="hosts must be a list of hosts-file lines"):
        ClusterSpec.from_dict({"hosts": [1]})


def test_read_hosts_file_keeps_the_meaningful_lines(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("# hosts\n\n  qemu+ssh://a/system  \nnetns phc-y\n")
    assert read_hosts_file(str(path)) == ("qemu+ssh://a/system", "netns phc-y")
    with pytest.raises(UsageError, match="cannot read hosts file"):
        read_hosts_file(str(tmp_path / "absent"))


def test_release_of_an_unreadable_record_says_so(tmp_path):
    assert release_recorded(tmp_path) == []  # a run on this machine recorded nothing
    (tmp_path / HOSTS_RECORD).write_text('{"hosts": ["qemu+ssh://a/system"]}')
    errors = release_recorded(tmp_path)
    assert len(errors) == 1 and "unreadable" in errors[0]
