"""Reproduction bundles on real VMs: a provoked crash leaves a complete bundle, ``repro`` replays it
(by re-running the test, and from its command log when the test is gone), bad bundles are refused, and
the interactive shells leave nothing behind."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import GUEST_PROGRAMS, REPO, default_sigint, assert_usage_error, harness_env, leftovers, lkdtm_built_in, new_tag, pytest_command, run_cli

SCENARIO = "test_provokes_a_kernel_bug"
LKDTM_COMMAND = "echo BUG > /sys/kernel/debug/provoke-crash/DIRECT"


def _crash_bundle(kernel, artifacts, tag) -> Path:
    """Run the LKDTM scenario in a nested pytest; return its bundle dir (skip without LKDTM)."""
    proc = subprocess.run(pytest_command(f"scenario_runs.py::{SCENARIO}", kernel, artifacts, "-rs"),
                          env=harness_env(tag), capture_output=True, text=True, timeout=900)
    if proc.returncode == 0 and "1 skipped" in proc.stdout:
        reason = re.search(r"SKIPPED \[\d+\] \S+ (.*)", proc.stdout)
        # Only a kernel without LKDTM may skip this; any other skip (no kernel, no QEMU) is a broken set-up.
        assert reason and "has no LKDTM" in reason.group(1) and not lkdtm_built_in(kernel), proc.stdout[-3000:]
        pytest.skip(reason.group(1))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return artifacts / f"testcases_scenarios_scenario_runs.py_{SCENARIO}" / "bundle"


def _replays(bundle: Path, runs: int, artifacts: Path, tag: str):
    result = run_cli("repro", str(bundle), "--runs", str(runs), "--artifacts", str(artifacts), env=harness_env(tag),
                     timeout=1800)
    report = json.loads((artifacts / "repro.json").read_text()) if (artifacts / "repro.json").is_file() else {}
    return result, report


@pytest.mark.xdist_group("repro-crash")
def test_a_provoked_crash_leaves_a_complete_bundle_that_replays(kernel, tmp_path):
    tag = new_tag()
    bundle = _crash_bundle(kernel, tmp_path / "artifacts", tag)
    data = json.loads((bundle / "bundle.json").read_text())

    assert data["nodeid"] == f"testcases/scenarios/scenario_runs.py::{SCENARIO}"
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert data["repo"]["commit"] == commit and len(commit) == 40
    assert data["spec"]["nodes"] == 2 and data["spec"]["accel"] == "tcg"
    assert data["kernel"]["path"] == str(Path(kernel).resolve())
    manifest = Path(kernel) / "manifest.json"
    assert data["kernel"]["manifest"] == (json.loads(manifest.read_text()) if manifest.is_file() else None)
    assert [e["command"] for e in data["commands"]["node1"]][-1] == LKDTM_COMMAND
    assert data["commands"]["node0"] == [], "only the test's own commands are logged"
    assert isinstance(data["seed"], int) and data["faults"] == [], "the session seed, no faults applied"
    first = data["findings"][0]
    assert (first["node"], first["title"], first["type"]) == ("node1", "kernel BUG in lkdtm_BUG", "bug")
    title = data["title"]
    assert title == first["title"]
    assert "kernel BUG at drivers/misc/lkdtm/" in first["excerpt"]
    assert "kernel BUG at drivers/misc/lkdtm/" in (bundle / data["consoles"]["node1"]).read_text()
    assert "Linux version" in (bundle / data["consoles"]["node0"]).read_text()
    assert f"popcorn-harness repro {bundle}" in (bundle / "README").read_text()

    result, report = _replays(bundle, 2, tmp_path / "replays", tag)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert f"reproduced 2/2: {title}\n" in result.stdout
    assert f"  2/2  {title}\n" in result.stdout
    assert [(run["how"], run["reproduced"]) for run in report["runs"]] == [("pytest", True), ("pytest", True)]
    assert "run 1/2: reproduced" in result.stderr and "run 2/2: reproduced" in result.stderr

    # The test is gone from the checkout: the replay falls back to the recorded command log.
    gone = tmp_path / "gone"
    shutil.copytree(bundle, gone)
    data["nodeid"] = f"testcases/scenarios/removed_since.py::{SCENARIO}"
    (gone / "bundle.json").write_text(json.dumps(data))
    result, report = _replays(gone, 1, tmp_path / "from-commands", tag)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "is not a test of this checkout: replaying its command log" in result.stderr
    assert f"reproduced 1/1: {title}\n" in result.stdout
    assert [(run["how"], run["reproduced"]) for run in report["runs"]] == [("commands", True)]
    assert leftovers(tag) == []


def _write_bundle(directory: Path, kernel: str, **changes) -> Path:
    from harness.cluster.spec import ClusterSpec
    from harness.popcorn.payload import with_popcorn_payload
    from harness.repro.bundle import Bundle, write_bundle

    spec = with_popcorn_payload(ClusterSpec(nodes=2, kernel=kernel, accel="tcg"), GUEST_PROGRAMS)
    fields = dict(nodeid="testcases/test_repro.py::test_x", spec=spec.to_dict(), kernel={"path": kernel},
                  commands={"node1": [{"at": 1.0, "command": "echo replayed > /dev/kmsg", "timeout": 30}]})
    write_bundle(Bundle(**{**fields, **changes}), directory, {})
    return directory


@pytest.mark.parametrize("case", ["missing", "no bundle.json", "not json", "kernel gone", "shell, kernel gone"])
def test_a_bad_bundle_is_one_line_exit_2_and_leaves_nothing(tmp_path, case):
    tag = new_tag()
    bundle = tmp_path / "bundle"
    expected = {"missing": "bundle not found", "no bundle.json": "not a repro bundle", "not json": "bad bundle",
                "kernel gone": "kernel not found", "shell, kernel gone": "kernel not found"}[case]
    if case == "no bundle.json":
        bundle.mkdir()
    elif case == "not json":
        bundle.mkdir()
        (bundle / "bundle.json").write_text('{"format": 1, "nodeid": ')
    elif "kernel gone" in case:
        _write_bundle(bundle, str(tmp_path / "no-such-kernel"))
    extra = ["--shell", "--repl"] if case.startswith("shell") else ["--runs", "2"]
    result = run_cli("repro", str(bundle), *extra, "--artifacts", str(tmp_path / "out"), env=harness_env(tag))
    assert_usage_error(result, tag, expected)
    assert not (tmp_path / "out").exists()


SCRIPT = """\
print("release=" + node1.succeed("uname -r").strip())
print("cmdline=" + node0.succeed("cat /proc/cmdline").strip())
import subprocess
vmlinux = cluster.kernel.file("vmlinux")  # without one gdb still attaches, with no symbols
gdb = ["gdb", "-batch", "-nx", *([str(vmlinux)] if vmlinux else []), "-ex", f"target remote {node0.vm.config.gdb_socket}", "-ex", "detach"]
print("gdb=" + subprocess.run(gdb, capture_output=True, text=True, timeout=300).stdout)
print("after-gdb=" + node0.succeed("echo alive", timeout=30).strip())
print("names=" + ",".join(sorted(n.name for n in nodes)))
"""


@pytest.mark.xdist_group("repro-shell")
@pytest.mark.parametrize("how", ["repro --shell --repl", "cluster up --interactive --repl"])
def test_the_repl_shell_drives_the_nodes_and_leaves_nothing(kernel, tmp_path, how):
    from harness.kernel.artifact import locate_kernel

    assert shutil.which("gdb"), "gdb is not installed: setup.sh installs it"
    tag = new_tag()
    if how.startswith("repro"):
        bundle = _write_bundle(tmp_path / "bundle", kernel)
        args = ["repro", str(bundle), "--shell", "--repl", "--name", tag]
        script = SCRIPT + "print('bundle=' + bundle.nodeid); replay()\n"
    else:
        args = ["cluster", "up", "--interactive", "--repl", "--nodes", "2", "--kernel", kernel, "--accel", "tcg",
                "--name", tag]
        script = SCRIPT + "node0.succeed('exit 3')\n"  # a failing line: the session's exit code says so
    result = run_cli(*args, env=harness_env(tag), input=script, timeout=900)
    out = result.stdout
    located = locate_kernel(kernel)
    assert f"release={located.release}\n" in out, out + result.stderr[-3000:]
    assert re.search(r"cmdline=.*\bnokaslr\b", out), out
    assert "names=node0,node1\n" in out
    vmlinux = located.file("vmlinux")
    if vmlinux is not None:  # the stopped vCPU's pc resolves to a kernel function: nokaslr, matching symbols
        assert f"vmlinux: {vmlinux.resolve()}" in out, out
        assert re.search(r"^gdb=(0x[0-9a-f]+ in )?[A-Za-z_]\w* \(", out, re.MULTILINE), out  # no address at a line start
    else:  # a kernel without vmlinux (Debian's stock one): gdb attaches all the same, the pc has no name
        assert "vmlinux: none beside the kernel (gdb needs one with symbols)" in out, out
        assert re.search(r"^gdb=0x[0-9a-f]+ in \?\? \(\)$", out, re.MULTILINE), out
    assert "after-gdb=alive\n" in out, "a gdb that attached and detached leaves the node running"
    assert len(re.findall(r"node\d  10\.77\.0\.\d +gdb \S+ -ex 'target remote /\S+/node\d\.gdb'", out)) == 2, out
    if how.startswith("repro"):
        assert "bundle=testcases/test_repro.py::test_x\n" in out
        assert "[node1] $ echo replayed > /dev/kmsg" in out
        assert result.returncode == 0, result.stderr[-3000:]
    else:
        assert result.returncode == 1 and "`exit 3` exited 3" in result.stderr, result.stderr[-3000:]
    assert f"cluster '{tag}' is down" in result.stderr
    assert leftovers(tag) == []


def _wait_for(condition, seconds: float, what: str, seen=None) -> None:
    """Poll ``condition`` until it holds; after ``seconds``, fail with ``seen()`` (what there was instead)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}" + (f"; there was:\n{seen()}" if seen else ""))
        time.sleep(0.2)


@pytest.mark.xdist_group("repro-shell")
@pytest.mark.parametrize("signal_, when", [(signal.SIGINT, "booting"), (signal.SIGTERM, "in the REPL")])
def test_an_interrupted_interactive_session_leaves_nothing(kernel, tmp_path, signal_, when):
    tag = new_tag()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "cluster", "up", "--interactive", "--repl", "--nodes", "2",
                             "--kernel", kernel, "--accel", "tcg", "--name", tag], cwd=REPO,
                            env=harness_env(tag, PYTHONFAULTHANDLER="1"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        _wait_for(lambda: any("qemu" in item for item in leftovers(tag)), 300, "QEMU to start")
        if when == "in the REPL":
            proc.stdin.write("open(%r, 'w').write('ready')\n" % str(tmp_path / "ready"))
            proc.stdin.flush()
            _wait_for((tmp_path / "ready").exists, 600, "the REPL")
        proc.send_signal(signal_)
        try:
            out, err = proc.communicate(timeout=300)  # tearing down a booting cluster takes long with 8 workers on 2 cores
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack on stderr, then it ends
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate(timeout=60)
            pytest.fail(f"{signal_.name} {when} did not end the session in 300 s; its output:\n{out[-2000:]}\n"
                        f"{err[-12000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (130 if signal_ == signal.SIGINT else 128 + signal_), err[-3000:]
    assert leftovers(tag) == []


@pytest.mark.xdist_group("repro-shell")
def test_interactive_on_a_terminal_gives_one_tmux_pane_per_node(kernel, tmp_path):
    assert shutil.which("tmux"), "tmux is not installed: setup.sh installs it"
    tag = new_tag()
    env = harness_env(tag)
    env.pop("TMUX", None)
    inner, outer, rc = f"phc-{tag}", f"outer-{tag}", tmp_path / "rc"
    # A session whose name starts with the nodes' session name: not the cluster's, so it must outlive it.
    decoy = f"{inner}-not-the-cluster"
    subprocess.run(["tmux", "new-session", "-d", "-s", decoy, "sleep 900"], env=env, check=True)
    command = shlex.join([sys.executable, "-m", "harness", "cluster", "up", "--interactive", "--nodes", "2",
                          "--kernel", kernel, "--accel", "tcg", "--name", tag])
    # The outer tmux session is the terminal the command would have.
    subprocess.run(["tmux", "new-session", "-d", "-s", outer, "-x", "160", "-y", "50", "-c", str(REPO),
                    f"{command} 2>{tmp_path / 'err'}; echo $? > {rc}.tmp; mv {rc}.tmp {rc}"], env=env, check=True)

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", *args], env=env, capture_output=True, text=True).stdout

    try:
        _wait_for(lambda: subprocess.run(["tmux", "has-session", "-t", f"={inner}"], env=env,
                                         capture_output=True).returncode == 0, 600, "the nodes' tmux session")
        panes = tmux("list-panes", "-t", f"={inner}:", "-F", "#{pane_id}").split()  # ids: indexes shift as panes close
        assert len(panes) == 2, panes
        def seen(pane: str):
            return lambda: (f"panes {tmux('list-panes', '-t', f'={inner}:', '-F', '#{pane_id}').split()}, {pane}:\n"
                            f"{tmux('capture-pane', '-p', '-t', pane)}\nstderr:\n"
                            f"{(tmp_path / 'err').read_text()[-2000:] if (tmp_path / 'err').exists() else ''}")

        for index, pane in enumerate(panes):  # the shells start Python then SSH: slow with 8 workers on 2 cores
            _wait_for(lambda: f"node{index}:" in tmux("capture-pane", "-p", "-t", pane), 300, f"node{index}'s prompt",
                      seen(pane))
            tmux("send-keys", "-t", pane, "echo pane-$(hostname)", "Enter")
            _wait_for(lambda: f"pane-node{index}" in tmux("capture-pane", "-p", "-t", pane), 120,
                      f"node{index} to answer in its pane", seen(pane))
        for pane in panes:
            tmux("send-keys", "-t", pane, "exit", "Enter")
        _wait_for(rc.exists, 120, "the session to end when every shell has exited")
        assert subprocess.run(["tmux", "has-session", "-t", f"={decoy}"], env=env).returncode == 0, \
            "ending the cluster's tmux session ended another session whose name starts the same"
    finally:
        for session in (inner, outer, decoy):
            subprocess.run(["tmux", "kill-session", "-t", f"={session}"], env=env, capture_output=True)
    assert rc.read_text().strip() == "0", (tmp_path / "err").read_text()[-3000:]
    assert f"cluster '{tag}' is down" in (tmp_path / "err").read_text()
    assert leftovers(tag) == []
