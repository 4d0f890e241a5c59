"""Nothing leaks: a failed test, Ctrl-C and a killed run, each in a nested pytest on real VMs."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness.vm.accel import probe_name
from harness.vm.leftovers import qemu_processes, sweep_stale, sweeps_held_off
from harness.vm.runs import RunLease
from support import REPO, default_sigint, harness_env, leftovers, new_tag, pytest_command, run_cli


def _start_holding_run(kernel, tmp_path, tag):
    """A nested run that parked a 2-node cluster and holds a 1-node one (both to be released or swept)."""
    flag = tmp_path / "flag"
    holding = str(REPO / "testcases" / "scenarios" / "scenario_runs.py::test_holds_the_cluster")
    proc = subprocess.Popen(
        pytest_command("scenario_runs.py::test_parks_a_cluster", kernel, tmp_path / "artifacts", holding),
        env=harness_env(tag, PHC_SCENARIO_FLAG=str(flag)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 600
    while not flag.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"nested run never held its cluster:\n{proc.stdout.read().decode()[-3000:]}")
        time.sleep(0.2)
    assert any("qemu" in item for item in leftovers(tag)), "the nested run should have a live cluster"
    parked = flag.with_suffix(".parked").read_text()
    assert flag.read_text() != parked and any(parked in item for item in leftovers(tag)), \
        "the nested run should have parked its first cluster"
    return proc


def _run_scenario(name, kernel, tmp_path, tag):
    """Run one scenario test in a nested pytest; return (process, its artifacts dir for that test)."""
    artifacts = tmp_path / "artifacts"
    proc = subprocess.run(pytest_command(f"scenario_runs.py::{name}", kernel, artifacts),
                          env=harness_env(tag), capture_output=True, text=True, timeout=900)
    return proc, artifacts / f"testcases_scenarios_scenario_runs.py_{name}"


@pytest.mark.xdist_group("leak-fail")
def test_failed_test_saves_artifacts_and_leaves_nothing(kernel, tmp_path):
    tag = new_tag()
    proc, saved = _run_scenario("test_fails_after_booting", kernel, tmp_path, tag)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "this scenario fails on purpose" in proc.stdout
    assert "popcorn-harness: guest ready node0" in (saved / "node0.console.log").read_text()
    dmesg = (saved / "node0.dmesg").read_text()
    assert "Linux version" in dmesg and "scenario-was-here" in dmesg
    assert (saved.parent / "junit.xml").is_file()
    assert leftovers(tag) == []


@pytest.mark.xdist_group("leak-int")
def test_interrupted_run_cleans_up(kernel, tmp_path):
    tag = new_tag()
    proc = _start_holding_run(kernel, tmp_path, tag)
    proc.send_signal(signal.SIGINT)
    # The interrupted run tears down in its session's end: the failed test's artifacts (dmesg over SSH),
    # then the cluster. Under eight workers that took over 300 s in a CI emulation. A lost interrupt is
    # caught by the KeyboardInterrupt check below (the nested test would end its sleep and pass), so this
    # bound only has to end a teardown that hangs.
    try:
        out = proc.communicate(timeout=600)[0].decode()
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the interrupted run did not end within 600 s:\n{proc.communicate()[0].decode()[-3000:]}")
    assert "KeyboardInterrupt" in out, out[-3000:]
    assert leftovers(tag) == []


@pytest.mark.xdist_group("leak-kill")
def test_killed_run_loses_its_vms_and_the_next_run_sweeps_the_rest(kernel, tmp_path):
    tag = new_tag()
    proc = _start_holding_run(kernel, tmp_path, tag)
    assert any("netns" in item for item in leftovers(tag)), "the held run has its namespace"
    # No other worker's sweep (any cluster start sweeps) from the kill to the look: the CI emulation of
    # b60ecd7 saw one remove the killed run's namespace first, and `clean` then printed only others' leftovers.
    with sweeps_held_off():
        proc.kill()
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any("qemu" in item for item in leftovers(tag)) and time.monotonic() < deadline:
            time.sleep(0.2)
        remaining = leftovers(tag)
        assert not any("qemu" in item for item in remaining), "QEMU must die with its harness"
        assert any("netns" in item for item in remaining), "a SIGKILLed run cannot remove its namespace itself"
    # The next sweep (this `clean`, or another worker's cluster start just before it) removes the rest.
    result = run_cli("clean")
    assert result.returncode == 0, result.stderr
    assert leftovers(tag) == []


@pytest.mark.xdist_group("leak-warn")
def test_kernel_warning_on_the_console_fails_the_test(kernel, tmp_path):
    tag = new_tag()
    proc, saved = _run_scenario("test_provokes_a_kernel_warning", kernel, tmp_path, tag)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "kernel failure on node0 during the test: WARNING in " in proc.stdout, proc.stdout[-3000:]
    assert "WARNING: CPU: 0" in (saved / "node0.console.log").read_text()
    assert leftovers(tag) == []


def test_a_kvm_probe_qemu_whose_owner_died_is_swept():
    """The KVM probe's QEMU carries the harness's name and its owner's pid (and dies with its owner); one
    that outlived a dead owner anyway is killed by the next sweep, one whose owner lives is left alone."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    fakes = {}
    for owner in (gone.pid, 1):  # pid 1 never dies
        # A process that looks like a probe QEMU to the sweep (argv[0] and -name), without being one.
        fakes[owner] = subprocess.Popen(["bash", "-c", 'exec -a qemu-system-x86_64 python3 -c "import time; '
                                         'time.sleep(120)" -name "$0"', probe_name(owner)])
    try:
        deadline = time.monotonic() + 10
        while len([n for n in qemu_processes().values() if "kvmprobe" in n]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        removed = sweep_stale()
        # Every cluster start sweeps too: under xdist another worker's sweep may kill it first (CI saw that),
        # so this sweep need not be the one that names it; a sweep must have killed it.
        assert fakes[gone.pid].wait(timeout=10) == -signal.SIGKILL, removed
        assert fakes[1].poll() is None, "a probe whose owner lives was killed"
    finally:
        for proc in fakes.values():
            proc.kill()
            proc.wait()


@pytest.mark.xdist_group("leak-kill")
@pytest.mark.timeout(900)
def test_a_cluster_up_killed_while_booting_is_swept(kernel):
    """``cluster up`` SIGKILLed after its QEMUs started (they do not die with it: a detached cluster
    outlives its command) leaves a cluster nobody will use: the next sweep removes all of it, while a
    cluster up that finished is left alone (test_cli's up/down test)."""
    tag = new_tag()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "cluster", "up", "--nodes", "2", "--kernel", kernel,
                             "--accel", "tcg", "--name", tag], env=harness_env(tag), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while sum("qemu" in item for item in leftovers(tag)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "cluster up never started its QEMUs"
        time.sleep(0.05)
    with sweeps_held_off():  # no other worker's sweep before the look (any cluster start sweeps)
        proc.kill()
        proc.wait(timeout=60)
        assert any("qemu" in item for item in leftovers(tag)), "a detached cluster's QEMUs outlive the command"
    result = run_cli("clean")
    assert result.returncode == 0, result.stderr
    assert leftovers(tag) == []


def test_workers_sweeping_the_same_stale_runs_at_once_all_succeed(tmp_path):
    """Every cluster start sweeps: eight xdist workers starting at once sweep the same dead runs. None of
    those sweeps may fail (a failed sweep aborts that worker's cluster start), and the runs are gone."""
    tag = new_tag()
    gone = subprocess.Popen(["true"])
    gone.wait()
    for index in range(4):
        run_id = secrets.token_hex(4)
        namespace = f"phc-{tag}-{run_id}"
        subprocess.run(["ip", "netns", "add", namespace], check=True)
        subprocess.run(["ip", "netns", "add", f"{namespace}-orphan"], check=True)  # a namespace with no lease
        workdir = Path(tempfile.mkdtemp(prefix=f"{namespace}-"))
        (workdir / "console.log").write_text("x\n" * 1000)
        if index % 2:
            RunLease(run_id, gone.pid, 1, namespace, str(workdir)).save()
    go = tmp_path / "go"  # the sweepers start together once all have imported the harness
    sweep = f"import os, time\nfrom harness.vm.leftovers import sweep_stale\nwhile not os.path.exists({str(go)!r}): " \
            "time.sleep(0.001)\nsweep_stale()"
    sweepers = [subprocess.Popen([sys.executable, "-c", sweep], cwd=REPO, stderr=subprocess.PIPE, text=True)
                for _ in range(8)]
    time.sleep(20)
    go.touch()
    errors = [(proc.wait(timeout=120), proc.stderr.read()) for proc in sweepers]
    assert [code for code, _ in errors] == [0] * 8, [err for code, err in errors if code][0][-3000:]
    assert leftovers(tag) == []
