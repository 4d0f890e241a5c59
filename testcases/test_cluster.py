"""Integration tests of the cluster on real QEMU VMs: boot, reachability, nodes file, control, isolation."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import itertools
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness.cluster.cluster import BootPanic, BootStall, ClockSkew, Cluster
from harness.cluster.stuck import stuck_signs
from harness.cluster.watchdog import HangWatchdog, stuck_look
from harness.errors import CommandTimeout, InfraError
from harness.vm.network import namespace_exists
from support import VFORK_WAIT_CHANNEL, leftovers, own_cluster_spec, panic_node, start_vfork_waiter, tcp_delivers


def _nodes(cluster, request) -> list:
    """The cluster's nodes, once it is checked to have the size the test asked for (every check below
    loops over the nodes or their pairs: on a smaller cluster it would check less, on one node nothing)."""
    asked = request.node.callspec.params["cluster"]
    assert len(cluster.nodes) == cluster.spec.nodes == asked, (len(cluster.nodes), cluster.spec.nodes, asked)
    return cluster.nodes


@pytest.mark.parametrize("cluster", [
    pytest.param(2, id="2nodes", marks=pytest.mark.xdist_group("cluster2")),
    pytest.param(4, id="4nodes", marks=pytest.mark.xdist_group("cluster4")),
], indirect=True)
class TestBootAndReach:
    """Run once on a 2-node and once on a 4-node cluster."""

    def test_every_node_boots_with_its_name_and_address(self, cluster, request):
        nodes = _nodes(cluster, request)
        assert [node.name for node in nodes] == [f"node{i}" for i in range(len(nodes))]
        for node in nodes:
            assert node.succeed("hostname").strip() == node.name
            assert f"inet {node.address}/24" in node.succeed("ip -4 addr show")

    def test_every_node_pings_every_other(self, cluster, request):
        for src, dst in itertools.permutations(_nodes(cluster, request), 2):
            result = src.run(f"ping -c 1 -W 5 {dst.address}", timeout=30)
            assert result.ok, f"{src.name} -> {dst.name}: {result.stdout}{result.stderr}"

    def test_tcp_connection_between_every_pair(self, cluster, request):
        for src, dst in itertools.permutations(_nodes(cluster, request), 2):
            assert tcp_delivers(src, dst), f"{src.name} -> {dst.name}"

    def test_nodes_file_is_identical_everywhere_and_lists_addresses_in_order(self, cluster, request):
        nodes = _nodes(cluster, request)
        expected = "".join(f"10.77.0.{i + 1}\n" for i in range(len(nodes)))  # node i has the subnet's i+1th address
        assert [node.address for node in nodes] == expected.split()
        for node in nodes:
            assert node.succeed("cat /etc/popcorn/nodes") == expected, node.name


@pytest.mark.xdist_group("cluster2")
class TestControl:
    """Commands, timeouts and copies on the shared 2-node cluster."""

    def test_exit_code_stdout_and_stderr_are_separate(self, cluster):
        result = cluster.nodes[1].run("echo out; echo err >&2; exit 7")
        assert (result.exit_code, result.stdout, result.stderr) == (7, "out\n", "err\n")

    def test_timeout_names_the_node_and_shows_its_console(self, cluster):
        node = cluster.nodes[1]
        with pytest.raises(CommandTimeout) as info:
            node.run("sleep 30", timeout=1.5)
        message = str(info.value)
        assert message.startswith("node1: `sleep 30` did not finish within 1.5s")
        assert "console tail:" in message and "popcorn-harness: guest ready node1" in message

    def test_copy_in_and_out_preserves_bytes_and_mode(self, cluster, tmp_path):
        data = os.urandom(300_000)
        local = tmp_path / "blob"
        local.write_bytes(data)
        local.chmod(0o750)
        node = cluster.nodes[0]
        node.put(local, "/tmp/sub/blob")
        assert node.succeed("stat -c %a /tmp/sub/blob").strip() == "750"
        assert node.succeed("sha256sum /tmp/sub/blob").split()[0] == hashlib.sha256(data).hexdigest()
        node.get("/tmp/sub/blob", tmp_path / "back")
        assert (tmp_path / "back").read_bytes() == data


@pytest.mark.xdist_group("isolation")
def test_two_clusters_run_at_once_without_clashing(cluster_pool):
    """Same subnet, same node names, separate namespaces: each sees only its own nodes."""
    spec = own_cluster_spec(cluster_pool, 1)
    with Cluster(spec) as first, Cluster(spec) as second:
        assert first.netns != second.netns
        assert first.nodes[0].address == second.nodes[0].address == "10.77.0.1"
        first.nodes[0].succeed("echo first > /tmp/who")
        second.nodes[0].succeed("echo second > /tmp/who")
        assert first.nodes[0].succeed("cat /tmp/who") == "first\n"
        assert second.nodes[0].succeed("cat /tmp/who") == "second\n"
        assert first.nodes[0].vm.instance != second.nodes[0].vm.instance
    assert not namespace_exists(first.netns) and not namespace_exists(second.netns)
    assert leftovers(first.run_id) == [] and leftovers(second.run_id) == []


@pytest.mark.xdist_group("clock")
def test_a_guest_whose_clock_runs_fast_is_booted_again_then_refused(cluster_pool, monkeypatch, caplog):
    """``tsc_early_khz=54000`` makes a kernel (>= 5.5) take the 2.6 GHz TSC for a 54 MHz one, as a loaded TCG
    guest once did on its own ('tsc: Detected 54.412 MHz processor'): its clock runs about 48 times fast
    and its timeouts lie, so the harness boots it again and, when every boot is fast, refuses it."""
    spec = own_cluster_spec(cluster_pool, 1, cmdline="tsc_early_khz=54000")
    release = Cluster(spec).preflight().release
    if tuple(int(x) for x in re.findall(r"\d+", release)[:2]) < (5, 5):
        pytest.skip(f"kernel {release} has no tsc_early_khz (Linux 5.5)")
    monkeypatch.setattr("harness.cluster.cluster.BOOT_ATTEMPTS", 2)
    cluster = Cluster(spec)  # its default reporter logs what it says
    with pytest.raises(ClockSkew, match=r"node0: guest clock ran fast during boot \(TSC miscalibrated\): uptime \d+s "
                                        r"after \d+s"):
        cluster.start()
    again = [line for line in caplog.messages if "booting it again (2/2)" in line]
    assert len(again) == 1 and again[0].startswith("node0: guest clock ran fast"), caplog.messages
    assert leftovers(cluster.run_id) == []


def append_to_node1_cmdline(monkeypatch, extra: str) -> None:
    """Boot node1 (only) with ``extra`` appended to its kernel command line."""
    vm_config = Cluster._vm_config

    def changed(self, index, *args):
        config = vm_config(self, index, *args)
        return dataclasses.replace(config, cmdline=f"{config.cmdline} {extra}") if index == 1 else config

    monkeypatch.setattr(Cluster, "_vm_config", changed)


@pytest.mark.xdist_group("clock")
def test_a_node_whose_boot_stalls_is_booted_again_alone_then_refused_before_the_timeout(cluster_pool, monkeypatch,
                                                                                       caplog):
    """A guest whose console falls silent before it is ready (seen in CI: a loaded TCG guest stopped after
    'rtc_cmos: registered platform RTC device') is booted again, alone. Here node1's init is a silent
    ``sleep``, so each of its boots stalls: the harness must say so after ``boot_stall`` seconds of silence,
    not wait for the boot timeout, and must not boot node0 again for it."""
    spec = own_cluster_spec(cluster_pool, 2, boot_stall=45.0, boot_timeout=500.0)
    monkeypatch.setattr("harness.cluster.cluster.BOOT_ATTEMPTS", 2)
    append_to_node1_cmdline(monkeypatch, "rdinit=/bin/busybox -- sleep 100000")
    cluster = Cluster(spec)
    started = time.monotonic()
    # node0 may fail on its own too (seen in CI under eight workers: a TSC that ran fast, or a console silent
    # for 20 s while its init loaded modules): then it is named first, for its own reason.
    with pytest.raises(BootStall, match=r"^(node0: (guest clock ran fast during boot|boot stalled: console silent)"
                                        r"[^;\n]*; )?"
                                        r"node1: boot stalled: console silent for 45s before the guest was ready"
                                        r"\n(.|\n)*--- node1 console tail:\n(.|\n)*Run /bin/busybox as init process"):
        cluster.start()
    assert time.monotonic() - started < spec.boot_timeout, "the stall must end both boots within one boot timeout"
    again = [line for line in caplog.messages if "booting it again" in line]
    assert [line for line in again if line.startswith("node1:")] == \
        [line for line in again if line.startswith("node1: boot stalled: console silent for 45s")], caplog.messages
    assert len([line for line in again if line.startswith("node1:")]) == 1, caplog.messages
    # node0 is booted again only for a failure of its own, never because node1 stalled.
    booted = [line.split(":")[0] for line in caplog.messages if line.endswith(": booting")]
    node0_again = [line for line in again if line.startswith("node0:")]
    assert booted.count("node1") == 2 and booted.count("node0") == 1 + len(node0_again), caplog.messages
    assert leftovers(cluster.run_id) == []


@pytest.mark.xdist_group("clock")
def test_a_node_whose_kernel_panics_while_booting_is_booted_again_alone_then_refused(cluster_pool, monkeypatch,
                                                                                    caplog):
    """A kernel panic before the guest is ready (seen in CI: 6.1 under TCG oopsed in io_apic_modify_irq on a
    loaded host, its siblings fine) gets that node booted again, alone; one that panics at every boot (here
    node1 has no init) is refused with the panic's title and its console, and node0 is not booted again."""
    spec = own_cluster_spec(cluster_pool, 2)
    append_to_node1_cmdline(monkeypatch, "rdinit=/no/such/init init=/no/such/init")
    cluster = Cluster(spec)
    with pytest.raises(BootPanic, match=r"node1: kernel panicked while booting: kernel panic: "
                                        r"(?s:.*)--- node1 console tail:\n(?s:.*)Kernel panic - not syncing"):
        cluster.start()
    again = [line for line in caplog.messages if "booting it again" in line]
    # node0 may be booted again for a failure of its own (seen in CI: its TSC ran fast), never for node1's panic.
    node1_again = [line for line in again if line.startswith("node1:")]
    assert node1_again, caplog.messages
    title = node1_again[0].removeprefix("node1: kernel panicked while booting: ").split(": booting it again")[0]
    assert title.startswith("kernel panic: "), caplog.messages
    assert node1_again == [f"node1: kernel panicked while booting: {title}: booting it again ({n}/3)"
                           for n in (2, 3)], caplog.messages
    assert not [line for line in again if line.startswith("node0: kernel panicked")], caplog.messages
    booted = [line.split(":")[0] for line in caplog.messages if line.endswith(": booting")]
    assert booted.count("node1") == 3 and booted.count("node0") == 1 + len([a for a in again if a.startswith("node0")])
    assert leftovers(cluster.run_id) == []


@pytest.mark.xdist_group("panic")
def test_guest_panic_ends_the_node_and_teardown_leaves_nothing(cluster_pool):
    with Cluster(own_cluster_spec(cluster_pool, 2)) as cluster:
        node = cluster.nodes[0]
        panic_node(node)
        assert "Kernel panic" in node.console_text()
        problems = cluster.health()
        assert problems and problems[0].startswith("node0: QEMU exited"), problems
        assert cluster.nodes[1].succeed("hostname").strip() == "node1"
        run_id = cluster.run_id
    assert leftovers(run_id) == []


@pytest.mark.xdist_group("reboot")
def test_pool_resets_a_cluster_a_test_left_unhealthy(cluster_pool, tmp_path):
    """What the cluster fixture does after each test: a dead node means the cluster restored from its
    snapshot next time, or, without a snapshot, a fresh cluster."""
    first = cluster_pool.get(1)
    assert cluster_pool.after_test("healthy-test", failed=False) == [] and cluster_pool.last_reset == ""
    assert cluster_pool.get(1) is first, "a healthy cluster is reused"
    instance = first.nodes[0].vm.instance
    panic_node(first.nodes[0])
    problems = cluster_pool.after_test("panicking-test", failed=True)
    assert problems and "node0: QEMU exited" in problems[0]
    artifacts = Path(cluster_pool.config.getoption("artifacts")) / "panicking-test"
    assert "Kernel panic" in (artifacts / "node0.console.log").read_text()
    assert (artifacts / "node0.dmesg").read_text() == "(node is down)\n"
    assert cluster_pool.last_reset == "restored"
    assert cluster_pool.get(1) is first and first.nodes[0].vm.instance != instance
    assert first.nodes[0].succeed("hostname").strip() == "node0"

    first.snapshot = None  # as with --no-snapshots
    panic_node(first.nodes[0])
    assert cluster_pool.after_test("panicking-again", failed=True) and cluster_pool.last_reset == "rebooted"
    second = cluster_pool.get(1)
    assert second is not first and second.run_id != first.run_id
    assert second.nodes[0].succeed("hostname").strip() == "node0"
    assert leftovers(first.run_id) == []


@pytest.mark.xdist_group("reboot")
def test_pool_parks_a_cluster_of_another_size_and_restores_it_later(cluster_pool):
    """A test asking for another size parks the current cluster (its QEMUs gone, its namespace and snapshot
    kept); a later test of the first size gets that cluster back restored from its snapshot, not booted.
    Closing the pool releases the parked clusters too."""
    first = cluster_pool.get(1)
    instance = first.nodes[0].vm.instance
    first.nodes[0].succeed("touch /tmp/made-after-snapshot")
    second = cluster_pool.get(2)
    assert second is not first and cluster_pool.parked.get(first.spec) is first
    parked = leftovers(first.run_id)
    assert not any(item.startswith("qemu") for item in parked), parked
    assert any(item.startswith("netns") for item in parked) and any(item.startswith("tmpdir") for item in parked)
    cluster_pool.last_switch = ""
    again = cluster_pool.get(1)
    assert again is first and cluster_pool.last_switch == "restored"
    assert cluster_pool.parked.get(second.spec) is second and first.spec not in cluster_pool.parked
    assert first.nodes[0].vm.instance != instance and first.health() == []
    assert first.nodes[0].succeed("hostname").strip() == "node0"
    assert not first.nodes[0].run("test -e /tmp/made-after-snapshot").ok, "the parked cluster was not restored"
    assert cluster_pool.get(2) is second and second.nodes[1].succeed("hostname").strip() == "node1"
    cluster_pool.close()
    assert cluster_pool.cluster is None and cluster_pool.parked == {}
    assert leftovers(first.run_id) == [] and leftovers(second.run_id) == []


@pytest.mark.xdist_group("reboot")
def test_a_full_disk_while_saving_artifacts_still_resets_an_unhealthy_cluster(cluster_pool, tmp_path, monkeypatch):
    """The artifacts dir on a full file system (a 64 KiB tmpfs, filled): the failed test's artifacts cannot
    be written, which is said (InfraError naming the test and ENOSPC), and the dead cluster is still
    reset (restored from its snapshot), not handed to the next test as it is."""
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "phc-test-full", str(full)], check=True)
    try:
        with pytest.raises(OSError) as filled:
            (full / "filler").write_bytes(b"x" * (1 << 20))
        assert filled.value.errno == errno.ENOSPC
        monkeypatch.setattr(cluster_pool.config.option, "artifacts", str(full))
        first = cluster_pool.get(1)
        panic_node(first.nodes[0])
        with pytest.raises(InfraError, match=r"the artifacts of on-a-full-disk could not be saved: .*No space left"):
            cluster_pool.after_test("on-a-full-disk", failed=True)
        assert cluster_pool.last_reset == "restored", "the cluster with a dead node was kept for the next test"
        assert cluster_pool.get(1).health() == []
        assert first.nodes[0].succeed("hostname").strip() == "node0"
    finally:
        subprocess.run(["umount", "-l", str(full)], check=False)


def test_a_guest_program_left_running_makes_the_cluster_unhealthy(cluster_pool):
    """A guest program (a file of /opt/phc/bin) still running after a test, as a task stuck in the kernel
    would be, makes the cluster unhealthy; once it is gone the cluster is healthy again."""
    cluster = cluster_pool.get(1)
    node = cluster.nodes[0]
    node.succeed("printf '#!/bin/sh\\nsleep 600\\n' > /opt/phc/bin/phc_leftover && chmod +x /opt/phc/bin/phc_leftover"
                 " && (setsid /opt/phc/bin/phc_leftover > /dev/null 2>&1 < /dev/null &)")
    try:
        problems = cluster.health(grace=2)
        assert len(problems) == 1 and problems[0].startswith("guest program left running: node0: "), problems
        assert problems[0].endswith(" phc_leftover"), problems
    finally:
        node.succeed("pkill -f phc_leftover; rm /opt/phc/bin/phc_leftover")
    assert cluster.health(grace=5) == []


def test_a_guest_program_stuck_in_the_kernel_is_signed_by_where_it_waits(cluster_pool):
    """A guest program thread in D without progress is a stuck sign ``stuck:NODE:WCHAN`` (what known hangs
    are judged by); its child, asleep (S), and every other task are not; once it is gone there is none."""
    cluster = cluster_pool.get(1)
    node = cluster.nodes[0]
    start_vfork_waiter(node)
    try:
        signs, threads, _ = stuck_signs(cluster.nodes)
        assert len(signs) == 1 and re.fullmatch(rf"stuck:node0:{VFORK_WAIT_CHANNEL}", signs[0]), (signs, threads)
        assert len(threads) == 1 and re.fullmatch(rf"node0: phc_vfork_wait\[\d+\] in {VFORK_WAIT_CHANNEL}",
                                                  threads[0]), threads
    finally:
        node.succeed("pkill -KILL phc_vfork_wait; rm -f /opt/phc/bin/phc_vfork_wait")
    assert stuck_signs(cluster.nodes) == ([], [], [])
    assert cluster.health(grace=5) == []


def test_where_a_node_that_does_not_answer_is_stuck_is_read_from_its_sysrq_dump(cluster_pool, tmp_path):
    """A node whose link is cut does not answer the look over SSH, neither the one after a failed test
    (``stuck_look``) nor the hang watchdog's; its console still prints the sysrq task dump, and the guest
    program thread in D there gives the stuck sign, its wait channel named as the kernel's wchan would be
    (from the call trace and System.map). The program was copied to the node by the test (``Node.put``), not
    baked into its image: the look knows it by that copy (a CI run missed test_hang_watchdog's stuck sign when
    the look over SSH failed and the dump's programs were only the image's)."""
    with Cluster(own_cluster_spec(cluster_pool, 1)) as cluster:
        node = cluster.nodes[0]
        start_vfork_waiter(node)
        cluster.link(node).loss(100)  # the harness's SSH goes over the same link
        look = stuck_look(cluster)
        assert look.unanswered == ["node0"], look
        assert len(look.signs) == 1 and re.fullmatch(rf"stuck:node0:{VFORK_WAIT_CHANNEL}", look.signs[0]), look
        assert look.threads[0].startswith("node0: not looked at ("), look.threads
        assert re.fullmatch(rf"node0: phc_vfork_wait\[\d+\] in {VFORK_WAIT_CHANNEL} \(sysrq dump\)",
                            look.threads[1]), look.threads
        watchdog = HangWatchdog(cluster, 1, tmp_path, "t").start()
        assert watchdog.wait(240), "the watchdog did not end"
    assert watchdog.fired
    assert len(watchdog.stuck_signs) == 1 and \
        re.fullmatch(rf"stuck:node0:{VFORK_WAIT_CHANNEL}", watchdog.stuck_signs[0]), watchdog.stuck_threads
    assert len(watchdog.stuck_threads) == 2, watchdog.stuck_threads
    assert watchdog.stuck_threads[0].startswith("node0: not looked at ("), watchdog.stuck_threads
    assert re.fullmatch(rf"node0: phc_vfork_wait\[\d+\] in {VFORK_WAIT_CHANNEL} \(sysrq dump\)",
                        watchdog.stuck_threads[1]), watchdog.stuck_threads
    assert "phc_vfork_wait" in (tmp_path / "node0.hang.txt").read_text()
    assert leftovers(cluster.run_id) == []


@pytest.mark.xdist_group("gdb")
def test_gdb_stub_answers_on_a_private_unix_socket(cluster_pool):
    """With gdb=True (a QEMU backend feature) each node has a gdb stub that speaks the remote protocol, on a
    unix socket in the run's work dir, which only the harness's user may enter (a TCP port on loopback is
    open to every local user)."""
    import socket
    import stat

    with Cluster(own_cluster_spec(cluster_pool, 1, gdb=True, backend="qemu")) as cluster:
        node = cluster.nodes[0]
        assert "nokaslr" in node.succeed("cat /proc/cmdline")
        path = node.vm.config.gdb_socket
        assert stat.S_ISSOCK(path.stat().st_mode) and path.parent.stat().st_mode & 0o077 == 0
        with socket.socket(socket.AF_UNIX) as gdb:
            gdb.settimeout(10)
            gdb.connect(str(path))
            gdb.sendall(b"$?#3f")  # "why did the target stop?"
            reply = b""
            while not re.search(rb"\$[^#]*#[0-9a-f]{2}", reply):
                chunk = gdb.recv(256)
                assert chunk, f"the stub closed the connection before a full reply: {reply!r}"
                reply += chunk
        assert re.search(rb"\$[ST][0-9a-f]{2}", reply), reply  # a stop-reply packet
        run_id = cluster.run_id
    assert leftovers(run_id) == []
