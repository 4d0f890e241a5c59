"""Clusters across hosts (#15 item 4) on real VMs: two hosts emulated on this machine (each a network namespace
with its own libvirtd on ``qemu+tcp``, on one LAN; ``harness/vm/emulated_hosts.py``), a cluster whose nodes
run on both, its bridge stretched to them over VXLAN; nothing left on the hosts after the cluster, a killed
harness's domains and bridges there removed by the next sweep. The Popcorn suites on such a cluster:
``testcases/stress/test_across_hosts.py``."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from xml.etree import ElementTree

import pytest

from harness.cluster.cluster import Cluster
from harness.cluster.spec import ClusterSpec
from harness.errors import UsageError
from harness.vm import libvirtd
from harness.vm.emulated_hosts import EmulatedHosts
from harness.vm.hosts import overlay_names, partition_table
from harness.vm.leftovers import sweeps_held_off
from support import (assert_usage_error, harness_env, leftovers, new_tag, own_cluster_spec, run_cli,
                     skip_without_libvirt)

pytestmark = pytest.mark.xdist_group("libvirt")


@pytest.fixture
def two_hosts():
    """Two emulated hosts; after the test, nothing of them is left."""
    skip_without_libvirt()
    hosts = EmulatedHosts(2).start()
    try:
        yield hosts
    finally:
        hosts.stop()
    assert leftovers(hosts.run_id) == []


def domains_on(hosts: EmulatedHosts, index: int) -> list[str]:
    """Names of the domains host ``index``'s daemon runs (through its unix socket, not the cluster's path)."""
    lib = libvirtd.libvirt_module()
    conn = lib.open(libvirtd.uri_of(hosts.daemon_dir(index)))
    try:
        return sorted(domain.name() for domain in conn.listAllDomains())
    finally:
        conn.close()


def run_links(hosts: EmulatedHosts, index: int, run_id: str) -> list[str]:
    """The links of run ``run_id`` (bridge, VXLAN end, taps) in host ``index``'s namespace."""
    out = subprocess.run(["ip", "-n", hosts.namespace(index), "-o", "link"], capture_output=True, text=True,
                         check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if run_id in line]


def tables_on(hosts: EmulatedHosts, index: int) -> str:
    """The nftables tables in host ``index``'s namespace (``nft list tables``)."""
    return subprocess.run(["ip", "netns", "exec", hosts.namespace(index), "nft", "list", "tables"],
                          capture_output=True, text=True, check=True).stdout


def reaches(src, dst) -> bool:
    """True if ``src`` gets an answer to one ping from ``dst`` within 3 s."""
    return src.run(f"ping -c 1 -W 3 {dst.address}", timeout=30).ok


def test_a_cluster_spans_two_hosts_over_the_overlay(cluster_pool, two_hosts):
    """Node *i* runs on host *i mod 2* (as a domain of that host's daemon, its tap on the run's bridge there);
    the harness's namespace holds no node's tap, only its bridge and its VXLAN end; the nodes reach each
    other and the harness across the overlay (SSH, pings of full-size frames, 1 MiB through SSH).
    A partition cuts nodes on the same host and across the overlay alike, the harness still reaching every
    node, and heals; link faults are refused in one line. After the cluster: no domain, bridge, VXLAN end,
    tap or partition table of the run on either host."""
    spec = own_cluster_spec(cluster_pool, 3, backend="libvirt", hosts=two_hosts.hosts_lines)
    with Cluster(spec) as cluster:
        run_id = cluster.run_id
        assert domains_on(two_hosts, 0) == [f"{cluster.netns}-node0", f"{cluster.netns}-node2"]
        assert domains_on(two_hosts, 1) == [f"{cluster.netns}-node1"]
        bridge, vxlan, _ = overlay_names(run_id)
        assert sorted(run_links(two_hosts, 1, run_id)) == sorted([bridge, vxlan, f"pht{run_id}1"])
        assert sorted(cluster.network.links()) == sorted(["lo", "br0", vxlan])
        node0, node1, node2 = cluster.nodes
        assert node0.succeed("hostname").strip() == "node0" and node1.succeed("hostname").strip() == "node1"
        # frames of full size (1500-byte IP packets) between nodes on two hosts, and bulk TCP (SSH) from a
        # node on the other host to the harness: the overlay's MTU holds
        assert " 0% packet loss" in node0.succeed(f"ping -c 3 -s 1472 -W 5 {node1.address}")
        sent = node1.succeed("head -c 1048576 /dev/urandom > /tmp/r && base64 /tmp/r")
        assert hashlib.md5(base64.b64decode(sent)).hexdigest() == node1.succeed("md5sum < /tmp/r").split()[0]
        assert " 0% packet loss" in node2.succeed(f"ping -c 1 -W 5 {node1.address}")
        # a partition is nftables rules on every host's bridge: node0 (host 0) is cut from node1 (host 1,
        # over the overlay) and from node2 (host 0, the same bridge); node1 and node2 still talk across the
        # overlay; the harness still reaches every node
        cluster.partition([[0], [1, 2]])
        assert all(partition_table(run_id) in tables_on(two_hosts, i) for i in (0, 1))
        assert not reaches(node0, node1) and not reaches(node0, node2) and not reaches(node2, node0)
        assert reaches(node1, node2) and reaches(node2, node1)
        assert cluster.health() == []
        # link faults relay a tap's frames through the harness: across hosts they are refused, nothing changed
        with pytest.raises(UsageError, match="not on a cluster across hosts"):
            cluster.link(1).delay(50)
        assert cluster.heal() is True and cluster.heal() is False
        assert reaches(node0, node1) and reaches(node0, node2)
        cluster.partition([[1], [2]])  # left for the cluster's teardown to remove
        assert not reaches(node1, node2) and reaches(node0, node1)
    assert domains_on(two_hosts, 0) == domains_on(two_hosts, 1) == []
    assert run_links(two_hosts, 0, run_id) == run_links(two_hosts, 1, run_id) == []
    assert partition_table(run_id) not in tables_on(two_hosts, 0) + tables_on(two_hosts, 1)
    assert leftovers(run_id) == []


_HOLDER = """
import json, sys, time
from harness.cluster.cluster import Cluster
from harness.errors import UsageError
from harness.cluster.spec import ClusterSpec
cluster = Cluster(ClusterSpec.from_dict(json.loads(sys.argv[1]))).start()
cluster.partition([[0], [1]])
print(cluster.run_id, flush=True)
time.sleep(600)
"""


def test_a_killed_harness_leaves_its_hosts_to_the_sweep(cluster_pool, two_hosts):
    """A harness SIGKILLed with a cluster on the hosts leaves its domains running there (their daemons own
    them), its bridges and its partition; the next sweep (``clean``) destroys the domains and removes the
    bridges and partition tables on every host, from what the run recorded in its work dir."""
    tag = new_tag()
    spec = own_cluster_spec(cluster_pool, 2, backend="libvirt", hosts=two_hosts.hosts_lines)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, json.dumps(spec.to_dict())], env=harness_env(tag),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = holder.stdout.readline().strip()
        assert run_id, holder.stderr.read()[-3000:]
    except BaseException:
        holder.kill()
        raise
    with sweeps_held_off():  # no other worker's sweep before the look (any cluster start sweeps; its own has)
        holder.kill()
        holder.wait(timeout=60)
        assert len(domains_on(two_hosts, 0)) == len(domains_on(two_hosts, 1)) == 1, "domains outlive their harness"
        assert run_links(two_hosts, 1, run_id) and partition_table(run_id) in tables_on(two_hosts, 1)
    result = run_cli("clean")
    assert result.returncode == 0, result.stderr
    assert domains_on(two_hosts, 0) == domains_on(two_hosts, 1) == []
    assert run_links(two_hosts, 0, run_id) == run_links(two_hosts, 1, run_id) == []
    assert partition_table(run_id) not in tables_on(two_hosts, 0) + tables_on(two_hosts, 1)
    assert leftovers(tag) == []


def test_hosts_bad_input(kernel, tmp_path):
    """A hosts file the harness cannot use, or --hosts without the libvirt backend: one line, exit 2, nothing
    made."""
    skip_without_libvirt()
    tag = new_tag()
    env = harness_env(tag)
    hosts_file = tmp_path / "hosts"
    cases = [
        ("qemu+tcp://10.213.0.2/system\n", "libvirt", "give the command that runs a root command on qemu+tcp://"),
        ("# nothing\n", "libvirt", "hosts file names no host"),
        ("http://hostb/\n", "libvirt", "not a libvirt URI of a remote host"),
        ("qemu+ssh://root@hostb/system\n", "qemu", "--hosts needs the libvirt backend (not qemu)"),
    ]
    for text, backend, expected in cases:
        hosts_file.write_text(text)
        assert_usage_error(run_cli("cluster", "up", "--kernel", kernel, "--backend", backend, "--hosts",
                                   str(hosts_file), "--name", tag, env=env), tag, expected)
    assert_usage_error(run_cli("cluster", "up", "--kernel", kernel, "--backend", "libvirt", "--hosts",
                               str(tmp_path / "absent"), "--name", tag, env=env), tag, "cannot read hosts file")


def test_a_detached_cluster_across_hosts_from_the_cli(kernel, two_hosts, tmp_path):
    """``cluster up --backend libvirt --hosts FILE`` leaves the cluster running across the hosts for later
    commands (``exec`` on a node of each host); a sweep (``clean``) leaves it alone though no QEMU of it runs
    on this machine; ``cluster partition`` and a later ``cluster heal`` act on the hosts; ``cluster down``
    removes its domains and bridges on both hosts."""
    tag = new_tag()
    env = harness_env(tag)
    hosts_file = two_hosts.write_hosts_file(tmp_path / "hosts")
    up = run_cli("cluster", "up", "--kernel", kernel, "--accel", "tcg", "--nodes", "2", "--backend", "libvirt",
                 "--hosts", str(hosts_file), "--name", tag, env=env)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        assert len(domains_on(two_hosts, 0)) == len(domains_on(two_hosts, 1)) == 1
        assert run_cli("clean", env=env).returncode == 0
        names = run_cli("cluster", "exec", "all", "--name", tag, "--", "hostname", env=env)
        assert names.returncode == 0 and names.stdout.split() == ["[node0]", "node0", "[node1]", "node1"], names.stdout + names.stderr
        status = run_cli("cluster", "status", "--name", tag, env=env)
        assert status.returncode == 0 and "domain" in status.stdout, status.stdout + status.stderr
        # a partition made by one command lives on the hosts: a later one sees it and heals it
        cut = run_cli("cluster", "partition", "0", "1", "--name", tag, env=env)
        assert cut.returncode == 0, cut.stderr[-2000:]
        ping = ["cluster", "exec", "node0", "--name", tag, "--", f"ping -c 1 -W 3 {ClusterSpec().node_address(1)}"]
        assert run_cli(*ping, env=env).returncode != 0
        healed = run_cli("cluster", "heal", "--name", tag, env=env)
        assert healed.returncode == 0 and "healed" in healed.stdout and "nothing" not in healed.stdout, healed.stdout
        assert run_cli("cluster", "heal", "--name", tag, env=env).stdout.strip() == "nothing to heal"
        assert run_cli(*ping, env=env).returncode == 0
    finally:
        down = run_cli("cluster", "down", "--name", tag, env=env)
    assert down.returncode == 0, down.stderr
    assert domains_on(two_hosts, 0) == domains_on(two_hosts, 1) == []
    assert leftovers(tag) == []


def emulated_ssh_hosts(count: int):
    """``count`` emulated hosts with SSH servers, for a fixture to yield; after the test, nothing of them is left."""
    skip_without_libvirt()
    hosts = EmulatedHosts(count, ssh=True).start()
    try:
        yield hosts
    finally:
        hosts.stop()
    assert leftovers(hosts.run_id) == []


@pytest.fixture
def two_ssh_hosts():
    """Two emulated hosts reached as real hosts are: ``qemu+ssh`` URIs and ``ssh`` (their own SSH servers)."""
    yield from emulated_ssh_hosts(2)


def test_a_cluster_across_hosts_reached_over_ssh(cluster_pool, two_ssh_hosts):
    """The real-host path: libvirt over ``qemu+ssh`` (its ssh transport, ``virt-ssh-helper`` on the host) and
    the overlay made through ``ssh``: a node on each host, SSH from the harness to both, a full-size ping
    between them, nothing of the run left on the hosts after."""
    assert all(line.split()[0].startswith("qemu+ssh://") for line in two_ssh_hosts.hosts_lines[1:])
    spec = own_cluster_spec(cluster_pool, 2, backend="libvirt", hosts=two_ssh_hosts.hosts_lines)
    with Cluster(spec) as cluster:
        run_id = cluster.run_id
        assert domains_on(two_ssh_hosts, 0) == [f"{cluster.netns}-node0"]
        assert domains_on(two_ssh_hosts, 1) == [f"{cluster.netns}-node1"]
        node0, node1 = cluster.nodes
        assert " 0% packet loss" in node0.succeed(f"ping -c 2 -s 1472 -W 5 {node1.address}")
    assert domains_on(two_ssh_hosts, 0) == domains_on(two_ssh_hosts, 1) == []
    assert run_links(two_ssh_hosts, 0, run_id) == run_links(two_ssh_hosts, 1, run_id) == []


@pytest.fixture
def one_ssh_host():
    """One emulated host with its own SSH server (its libvirtd is started but not used)."""
    yield from emulated_ssh_hosts(1)


def junit_cases(path) -> list[dict[str, str]]:
    """Each test case of a JUnit file as its properties, with its outcome under "outcome"."""
    import xml.etree.ElementTree as ET

    cases = []
    for case in ET.parse(path).iter("testcase"):
        found = {p.get("name"): p.get("value") for p in case.iter("property")}
        found["outcome"] = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        cases.append(found)
    return cases


def test_xdist_workers_on_another_host_boot_their_own_clusters(kernel, one_ssh_host, tmp_path):
    """pytest-xdist workers across hosts (README, "xdist workers on several machines"): a nested run with one
    local worker and one reached over SSH on an emulated host (``--tx ssh=...``, the checkout copied there by
    ``--rsyncdir``), ``--dist each``: each worker boots a cluster where it runs (the host's worker in the host's
    network namespace, in its copy of the checkout), the controller's JUnit has both, nothing is left."""
    import os

    from support import REPO

    host = one_ssh_host
    remote_dir = tmp_path / "on-host"
    spec = (f"ssh=root@{host.address(0)}//ssh_config={host.ssh_config_from_here}"
            f"//python={os.path.realpath(sys.executable)}//chdir={remote_dir}")
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o", "addopts=", "--dist", "each",
               "--tx", "popen", "--tx", spec, f"--rsyncdir={REPO}", "--rsyncignore=artifacts",
               "-W", "ignore::DeprecationWarning",
               str(REPO / "testcases" / "scenarios" / "scenario_xdist_hosts.py"),
               f"--kernel={os.path.abspath(kernel)}", f"--artifacts={tmp_path / 'artifacts'}", "--accel=tcg",
               f"--junitxml={junit}"]
    result = subprocess.run(command, cwd=REPO, env=harness_env(new_tag()), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cases = junit_cases(junit)
    assert [case["outcome"] for case in cases] == ["passed", "passed"], cases
    here = str(os.stat("/proc/self/ns/net").st_ino)
    on_host = str(os.stat(f"/run/netns/{host.namespace(0)}").st_ino)
    assert sorted(case["worker_netns"] for case in cases) == sorted([here, on_host]), cases
    remote = next(case for case in cases if case["worker_netns"] == on_host)
    assert remote["cwd"].startswith(str(remote_dir)), remote
    for case in cases:
        assert leftovers(case["run_id"]) == [], case


def test_the_main_job_runs_its_clusters_on_hosts_it_emulates(kernel, tmp_path):
    """``popcorn-harness run --backend libvirt --emulated-hosts 2``: the run makes two hosts for itself, every
    cluster of the suite spans both (the JUnit property ``nodes_on_hosts`` names each node's host), the report
    says so, and nothing of the hosts is left after the run."""
    skip_without_libvirt()
    tag = new_tag()
    artifacts = tmp_path / "artifacts"
    result = run_cli("run", "--kernel", kernel, "--accel", "tcg", "--backend", "libvirt", "--emulated-hosts", "2",
                     "-n", "1", "--artifacts", str(artifacts), "--", "-k", "test_detection_matches_what_the_kernel_is",
                     env=harness_env(tag), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "emulating 2 hosts" in result.stderr, result.stderr[-3000:]
    report = json.loads((artifacts / "report.json").read_text())
    assert report["meta"]["hosts"] == "2 emulated" and report["counts"]["passed"] == 1, report
    properties = {p.get("name"): p.get("value") for p in ElementTree.parse(artifacts / "junit.xml").iter("property")}
    assert re.fullmatch(r"node0@qemu\+tcp://10\.213\.0\.2/system node1@qemu\+tcp://10\.213\.0\.3/system",
                        properties.get("nodes_on_hosts", "")), properties
    assert leftovers(tag) == []
