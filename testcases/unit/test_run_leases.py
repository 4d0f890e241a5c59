"""Run leases: when a run counts as stale (its resources may be swept)."""

import os
import subprocess

from harness.vm.backends.base import VMConfig
from harness.vm.backends.qemu import QemuBackend
from harness.vm.runs import RunLease, process_start_time, qemu_start_time


def test_a_run_is_stale_only_when_its_owner_and_detached_vms_are_gone():
    live = RunLease.new("0badc0de", "phc-x-0badc0de", "")
    assert not live.is_stale()
    live.detached = True  # a detached cluster still starting (no QEMU yet) belongs to its live owner
    assert not live.is_stale()
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = RunLease("0badc0de", gone.pid, 1, "phc-x-0badc0de", "")
    assert dead.is_stale()
    dead.detached, dead.qemu_pids = True, [gone.pid]
    assert dead.is_stale()


def test_a_detached_run_being_torn_down_is_taken_over_and_not_stale(monkeypatch, tmp_path):
    """``cluster down`` takes the detached run over before stopping its QEMUs: another process's sweep must
    not take it for abandoned meanwhile (it removed the work dir under a teardown once)."""
    monkeypatch.setattr(RunLease, "directory", staticmethod(lambda: tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    lease = RunLease("0badc0de", gone.pid, 1, "phc-x-0badc0de", "", detached=True)
    assert lease.is_stale()  # its QEMUs off, its `cluster up` long gone
    lease.take_over()
    assert not lease.is_stale() and lease.owner_pid == os.getpid()
    assert RunLease.load(lease.path).owner_pid == os.getpid(), "the sweep reads the lease file"


def test_a_reused_pid_is_not_taken_for_the_clusters_qemu(tmp_path):
    """``cluster down`` after a guest panic: the QEMU pid in the lease may now be another process. Attached
    with the recorded start time, the VM counts as dead and power_off sends that process nothing."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        lease = RunLease("0badc0de", 1, 1, "phc-x-0badc0de", "", detached=True, qemu_pids=[other.pid],
                         qemu_starts=[process_start_time(other.pid) - 1])
        config = VMConfig(name="phc-x-0badc0de-node0", kernel=tmp_path / "bzImage", initrd=tmp_path / "initrd",
                          cmdline="", memory_mb=256, cpus=1, accel="tcg", mac="52:54:00:7c:00:00", tap_fd=-1,
                          console_path=tmp_path / "console.log", qmp_path=tmp_path / "qmp.sock")
        vm = QemuBackend().attach(config, other.pid, qemu_start_time(lease, 0))
        assert not vm.alive()
        vm.power_off(timeout=1)
        assert other.poll() is None, "power_off killed a process that is not the cluster's QEMU"
        legacy = RunLease("0badc0de", 1, 1, "phc-x-0badc0de", "", detached=True, qemu_pids=[other.pid])
        assert qemu_start_time(legacy, 0) == -1, "a lease without start times: the pid is not our QEMU"
        assert QemuBackend().attach(config, os.getpid(), process_start_time(os.getpid())).alive()
    finally:
        other.kill()
        other.wait()
