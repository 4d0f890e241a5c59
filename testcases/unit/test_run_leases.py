"""Run leases: when a run counts as stale (its resources may be swept)."""

import subprocess

from harness.vm.runs import RunLease


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
