"""The CLI on real VMs, and its one-line errors (exit code 2, nothing left behind) for bad input."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from support import VFORK_WAIT_CHANNEL, assert_usage_error, harness_env, leftovers, new_tag, run_cli


@pytest.mark.parametrize("args, expected", [
    (["--nodes", "0"], "--nodes must be at least 1"),
    (["--nodes", "254"], "subnet 10.77.0.0/24 is too small for 254 nodes"),
    (["--nodes", "33", "--popcorn", "--abi", "ssrg-5.2"], "a Popcorn mesh of 33 nodes is larger than the ssrg-5.2 ABI accepts (32)"),
    (["--nodes", "33", "--popcorn"], "larger than any Popcorn ABI the harness knows accepts (32)"),
])
def test_node_count_out_of_range(kernel, args, expected):
    tag = new_tag()
    result = run_cli("cluster", "up", *args, "--kernel", kernel, "--name", tag, env=harness_env(tag))
    assert_usage_error(result, tag, expected)


@pytest.mark.parametrize("command, args, expected", [
    ("fuzz", ["--seconds", "0"], "--seconds must be 1..3600, got 0"),
    ("fuzz", ["--threads", "9"], "--threads must be 1..8, got 9"),
    ("fuzz", ["--nodes", "1"], "--nodes must be at least 2 to fuzz migrations, got 1"),
    ("fuzz", ["--seed", "-1"], "--seed must be >= 0, got -1"),
    ("run", ["--detectors"], "--detectors needs --popcorn-src (a given --kernel is tested as it was built)"),
    ("run", ["--workers", "0"], "--workers must be at least 1, got 0"),
])
def test_fuzz_and_main_job_bad_input(kernel, tmp_path, command, args, expected):
    """Refused in one line before anything is made, not even the artifacts directory."""
    tag = new_tag()
    result = run_cli(command, *args, "--kernel", kernel, "--artifacts", str(tmp_path / "out"), env=harness_env(tag))
    assert_usage_error(result, tag, expected)
    assert not (tmp_path / "out").exists()


def test_fuzz_on_a_kernel_without_popcorn_is_refused_and_leaves_nothing(kernel, tmp_path):
    """The cluster boots (detection needs a running node), then the fuzz is refused in one line."""
    tag = new_tag()
    result = run_cli("fuzz", "--kernel", kernel, "--accel", "tcg", "--seconds", "5", "--seed", "1",
                     "--artifacts", str(tmp_path / "fuzz"), env=harness_env(tag), timeout=1200)
    assert result.returncode == 2, result.stdout + result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1].startswith("popcorn-harness: error: fuzz needs a Popcorn kernel: "
                                                             "kernel 6.1"), result.stderr[-3000:]
    assert result.stdout == ""
    assert leftovers(tag) == []


def test_missing_kernel_file(tmp_path):
    tag = new_tag()
    result = run_cli("cluster", "up", "--kernel", str(tmp_path / "nope"), "--name", tag, env=harness_env(tag))
    assert_usage_error(result, tag, "kernel not found")


def test_non_kernel_file():
    tag = new_tag()
    result = run_cli("cluster", "up", "--kernel", "/etc/passwd", "--name", tag, env=harness_env(tag))
    assert_usage_error(result, tag, "is not an x86 kernel image")


def test_no_root_rights(kernel):
    assert shutil.which("unshare"), "unshare is not installed: setup.sh installs util-linux"
    tag = new_tag()
    # An unmapped user namespace: same files readable, but the effective uid is no longer 0.
    result = subprocess.run(["unshare", "--user", sys.executable, "-m", "harness", "cluster", "up", "--kernel", kernel,
                             "--name", tag], env=harness_env(tag), capture_output=True, text=True, timeout=300)
    assert_usage_error(result, tag, "needs root")


def test_no_qemu_installed(kernel):
    tag = new_tag()
    result = run_cli("cluster", "up", "--kernel", kernel, "--name", tag, env=harness_env(tag, PATH="/usr/sbin:/sbin"))
    assert_usage_error(result, tag, "qemu-system-x86_64 not found")


def test_unknown_cluster_name_is_a_usage_error():
    tag = new_tag()
    result = run_cli("cluster", "status", "--name", tag, env=harness_env(tag))
    assert_usage_error(result, tag, f"no cluster named '{tag}' is up")


@pytest.mark.parametrize("args", [[], ["cluster"], ["cluster", "up"], ["cluster", "exec"], ["cluster", "cp"],
                                  ["cluster", "run"], ["cc"], ["clean"], ["fuzz"], ["bench"]])
def test_help_explains_itself(args):
    result = run_cli(*args, "--help")
    assert result.returncode == 0 and "usage: popcorn-harness" in result.stdout
    assert len(result.stdout.splitlines()) > 5


@pytest.mark.xdist_group("cli")
@pytest.mark.timeout(1800)
def test_up_status_exec_cp_down_across_invocations(kernel, tmp_path):
    tag = new_tag()
    env = harness_env(tag)
    added = tmp_path / "added.txt"
    added.write_text("added before boot\n")
    try:
        # Longer than the harness's own bounds (boot 300 s, SSH 120 s, payload): a slow boot under CI load
        # (eight workers, two cores; once over 600 s) ends in the harness's error, not in this timeout.
        up = run_cli("cluster", "up", "--nodes", "2", "--kernel", kernel, "--accel", "tcg", "--name", tag,
                     "--add", str(added), "--add", f"{added}:/etc/extra/renamed.txt", env=env, timeout=1200)
        assert up.returncode == 0, up.stderr[-3000:]
        assert "node0  10.77.0.1" in up.stdout and "node1  10.77.0.2" in up.stdout
        assert f"cluster ssh node1 --name {tag}" in up.stdout
        status = run_cli("cluster", "status", "--name", tag, env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("SSH up") == 2
        exe = run_cli("cluster", "exec", "node1", "--name", tag, "--", "hostname; exit 5", env=env)
        assert (exe.returncode, exe.stdout) == (5, "node1\n")
        shell = run_cli("cluster", "ssh", "0", "--name", tag, env=env, input="cat /etc/popcorn/nodes\nexit\n")
        assert "10.77.0.1\n10.77.0.2" in shell.stdout.replace("\r", "")
        everywhere = run_cli("cluster", "exec", "all", "--name", tag, "--", "ping -c1 -W5 10.77.0.2 >/dev/null && echo ok", env=env)
        assert everywhere.returncode == 0 and everywhere.stdout == "[node0] ok\n[node1] ok\n"
        image = run_cli("cluster", "exec", "all", "--name", tag, "--", "cat /root/added.txt /etc/extra/renamed.txt", env=env)
        assert image.stdout == "[node0] added before boot\n" * 2 + "[node1] added before boot\n" * 2, image.stderr
        piped = run_cli("cluster", "exec", "node1", "--name", tag, "--", "tr a-z A-Z > /root/piped; wc -c < /root/piped",
                        env=env, input="standard input\n")
        assert (piped.returncode, piped.stdout.strip()) == (0, "15"), piped.stderr
        sent = run_cli("cluster", "cp", str(added), "all:/tmp/in/", "--name", tag, env=env)
        assert sent.returncode == 0 and "-> node1:/tmp/in/added.txt" in sent.stdout, sent.stderr
        back = run_cli("cluster", "cp", "all:/tmp/in/added.txt", str(tmp_path / "back"), "--name", tag, env=env)
        assert back.returncode == 0, back.stderr
        assert [(tmp_path / "back" / n / "added.txt").read_text() for n in ("node0", "node1")] == ["added before boot\n"] * 2
        one = run_cli("cluster", "cp", "node1:/root/piped", str(tmp_path / "piped"), "--name", tag, env=env)
        assert one.returncode == 0 and (tmp_path / "piped").read_text() == "STANDARD INPUT\n", one.stderr
        missing = run_cli("cluster", "cp", "node0:/no/such/file", str(tmp_path / "none"), "--name", tag, env=env)
        assert missing.returncode != 0 and not (tmp_path / "none").exists()
        assert leftovers(tag), "a cluster that is up owns resources"
    finally:
        down = run_cli("cluster", "down", "--name", tag, env=env)
    assert down.returncode == 0, down.stderr
    assert leftovers(tag) == []


CRASHING = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	printf("about to %s\n", argv[1]);
	fflush(stdout);
	if (argv[1][0] == 'c')
		return system("echo c > /proc/sysrq-trigger");
	if (argv[1][0] == 'h' && vfork() == 0) { /* hang: the parent waits in D in the kernel */
		sleep(3600);
		_exit(0);
	}
	return atoi(argv[2]);
}
"""


@pytest.mark.xdist_group("cli")
@pytest.mark.timeout(2400)
def test_cluster_run_gives_the_programs_status_or_the_kernel_finding(kernel, tmp_path):
    """``cluster run`` of a program built with ``cc``, on a kernel without Popcorn: its output streamed and
    its exit status passed on; a program that crashes the node's kernel exits 125 with the finding, a
    reproduction bundle, and nothing left behind; one that hangs in the kernel exits 124 and says where it
    waits."""
    source = tmp_path / "crashing.c"
    source.write_text(CRASHING)
    built = run_cli("cc", "-O2", "-o", str(tmp_path / "crashing"), str(source))
    assert built.returncode == 0, built.stderr
    for how, expected in (("exit", 3), ("crash", 125)):
        tag = new_tag()
        result = run_cli("cluster", "run", "--kernel", kernel, "--nodes", "1", "--accel", "tcg",
                         "--artifacts", str(tmp_path / how), str(tmp_path / "crashing"), how, "3",
                         env=harness_env(tag), timeout=1200)
        assert result.returncode == expected, result.stdout + result.stderr[-3000:]
        assert f"about to {how}\n" in result.stdout
        assert "Popcorn is not up" in result.stderr
        bundles = list((tmp_path / how).glob("crashing-*/bundle/bundle.json"))
        assert len(bundles) == 1, result.stderr[-2000:]
        assert leftovers(tag) == []
    assert "no kernel finding" not in result.stderr
    assert "node0: kernel panic: sysrq triggered crash" in result.stderr, result.stderr[-3000:]
    assert "sysrq triggered crash" in (bundles[0].parent / "node0.console.log").read_text()
    # A program that does not end in time: 124, and where it waits in the kernel.
    tag = new_tag()
    hung = run_cli("cluster", "run", "--kernel", kernel, "--nodes", "1", "--accel", "tcg", "--timeout", "20",
                   "--artifacts", str(tmp_path / "hang"), str(tmp_path / "crashing"), "hang", "0",
                   env=harness_env(tag), timeout=1200)
    assert hung.returncode == 124, hung.stdout + hung.stderr[-3000:]
    assert re.search(rf"did not end in time \(stuck in the kernel: node0: crashing\[\d+\] in {VFORK_WAIT_CHANNEL}\); "
                     r"no kernel finding", hung.stderr), hung.stderr[-3000:]
    assert leftovers(tag) == []
