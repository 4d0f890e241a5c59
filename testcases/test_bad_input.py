"""Bad input to every command, as a table: each case gives one wrong value to one option or argument (the
rest valid, with a real kernel) and must be refused with exit code 2 and one line on stderr naming what is
wrong, with nothing printed on stdout and nothing created: no namespace, QEMU, tap, temp dir or lease of
the case's tag, no cache entry, no artifacts directory.

The command line runs in this process (``harness.cli.main.main``: the same parser and checks as the
installed command, without an interpreter start per case); ``test_cli.py`` covers the cases that need a
process of their own (no root, no QEMU on the PATH). Bad bundle fields are ``unit/test_bundle.py``'s table.
"""

from __future__ import annotations

import os
import sys

import pytest

from harness.cli.main import main
from support import leftovers, new_tag

K = "{kernel}"  # replaced by the session's kernel
OUT = "{tmp}/out"  # an artifacts dir that must not be made

CASES = [
    # cluster up: every option
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--nodes", "0"], "--nodes must be at least 1"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--nodes", "two"], "argument --nodes: invalid int value: 'two'"),
    (["cluster", "up", "--name", "{tag}", "--kernel", "{tmp}/none"], "kernel not found"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--accel", "xen"], "argument --accel: invalid choice: 'xen'"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--memory", "0"], "memory must be at least 64 MiB, got 0"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--memory", "999999999"], "memory must be at most 65536 MiB"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--cpus", "0"], "cpus must be at least 1, got 0"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--cpus", "1000"], "cpus must be at most 64, got 1000"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--boot-timeout", "-5"], "--boot-timeout must be a positive number"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--boot-timeout", "nan"], "--boot-timeout must be at most 86400"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--boot-stall", "0"], "--boot-stall must be a positive number"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--append", "quiet\ninit=/bin/sh"], "--append must be one line"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--programs", "{tmp}/none"], "argument --programs: {tmp}/none is not a directory"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--name", "../x"], "argument --name: '../x' is not a cluster name"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--name", ""], "argument --name: '' is not a cluster name"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--name", "a" * 65], "is not a cluster name"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--name", "x;reboot"], "is not a cluster name"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--abi", "nope"], "argument --abi: invalid choice: 'nope'"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--mesh-timeout", "inf"], "argument --mesh-timeout: must be a positive"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--repl"], "--repl goes with --interactive"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--add", "{tmp}/none"], "is not a file"),
    (["cluster", "up", "--name", "{tag}", "--kernel", K, "--add", "/etc/hostname:relative"], "the guest path must be an absolute"),
    # cluster run
    (["cluster", "run", "--kernel", K, "{tmp}/none"], "no such program file"),
    (["cluster", "run", "--kernel", K, "--timeout", "0", "/bin/true"], "argument --timeout: must be a positive"),
    (["cluster", "run", "--kernel", K, "--timeout", "nan", "/bin/true"], "argument --timeout: must be a positive"),
    (["cluster", "run", "--kernel", K, "--name", "a/b", "/bin/true"], "is not a cluster name"),
    (["cluster", "run", "--name", "{tag}", "--add", "/etc/hostname", "/bin/true"], "--add puts files into the images"),
    # commands on a cluster that is not up, and their own options
    (["cluster", "exec", "node0", "--name", "{tag}", "--", "true"], "no cluster named '{tag}' is up"),
    (["cluster", "exec", "node0", "--name", "{tag}", "--timeout", "-1", "--", "true"], "argument --timeout"),
    (["cluster", "exec", "node0", "--name", "{tag}", "--timeout", "soon", "--", "true"], "is not a number"),
    (["cluster", "ssh", "node0", "--name", "{tag}"], "no cluster named '{tag}' is up"),
    (["cluster", "status", "--name", "{tag}"], "no cluster named '{tag}' is up"),
    (["cluster", "down", "--name", "../{tag}"], "is not a cluster name"),
    (["cluster", "heal", "--name", "{tag}"], "no cluster named '{tag}' is up"),
    (["cluster", "partition", "--name", "{tag}"], "the following arguments are required"),
    (["cluster", "cp", "{tmp}/none", "node0:/x", "--name", "{tag}"], "is not a file"),
    (["cluster", "cp", "a", "b", "--name", "{tag}"], "exactly one side must be NODE:/PATH"),
    (["cluster", "frobnicate"], "invalid choice: 'frobnicate'"),
    # the main job
    (["run", "--kernel", K, "--nodes", "0", "--artifacts", OUT], "--nodes must be at least 1"),
    (["run", "--kernel", "{tmp}/none", "--artifacts", OUT], "kernel not found"),
    (["run", "--kernel", K, "--boot-timeout", "nan", "--artifacts", OUT], "--boot-timeout must be at most"),
    (["run", "--kernel", K, "--workers", "0", "--artifacts", OUT], "--workers must be at least 1"),
    (["run", "--kernel", K, "--suites", "nope", "--artifacts", OUT], "argument --suites: invalid choice"),
    (["run", "--popcorn-src", "{tmp}/none", "--artifacts", OUT], "does not exist"),
    (["run", "--popcorn-src", "{tmp}", "--kernel", K, "--artifacts", OUT], "--kernel and --popcorn-src exclude"),
    (["run", "--detectors", "--kernel", K, "--artifacts", OUT], "--detectors needs --popcorn-src"),
    (["run", "--kernel", K, "--emulated-hosts", "2", "--artifacts", OUT], "--emulated-hosts needs --backend libvirt"),
    (["run", "--kernel", K, "--backend", "libvirt", "--emulated-hosts", "1", "--artifacts", OUT],
     "--emulated-hosts must be at least 2, got 1"),
    (["run", "--kernel", K, "--backend", "libvirt", "--emulated-hosts", "2", "--hosts", "/etc/hostname",
      "--artifacts", OUT], "--emulated-hosts and --hosts exclude each other"),
    # fuzz
    (["fuzz", "--kernel", K, "--seconds", "0", "--artifacts", OUT], "--seconds must be 1..3600, got 0"),
    (["fuzz", "--kernel", K, "--threads", "9", "--artifacts", OUT], "--threads must be 1..8, got 9"),
    (["fuzz", "--kernel", K, "--seed", "-1", "--artifacts", OUT], "--seed must be >= 0"),
    (["fuzz", "--kernel", K, "--nodes", "1", "--artifacts", OUT], "--nodes must be at least 2"),
    (["fuzz", "--kernel", K, "--calls", "migrate,nope", "--artifacts", OUT], "--calls: nope is not an op of the fuzzer"),
    (["fuzz", "--kernel", K, "--calls", "migrate", "--all-calls", "--artifacts", OUT], "--all-calls goes without it"),
    # repro
    (["repro", "{tmp}/none"], "bundle not found"),
    (["repro", "/etc/hostname"], "bad bundle /etc/hostname"),
    (["repro", "{tmp}", "--runs", "0"], "--runs must be at least 1"),
    (["repro", "{tmp}", "--shell", "--name", ".x"], "is not a cluster name"),
    # kernel build
    (["kernel", "build", "--source", "{tmp}/none"], "does not exist"),
    (["kernel", "build", "--source", "/etc/hostname"], "is a file but not a tarball"),
    (["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz", "--base", "nope"], "--base 'nope'"),
    (["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz", "--jobs", "0"], "--jobs must be at least 1"),
    (["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz", "--nice", "99"], "--nice must be between"),
    (["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz", "--fragment", "nope"], "no config fragment 'nope'"),
    (["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz", "--series", "{tmp}/none"], "no patch series"),
    (["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz", "--out", "/etc"], "--out /etc exists"),
    # clean
    (["clean", "--everything"], "unrecognized arguments: --everything"),
]


#: Bad values of the environment variables the commands read, as (variables, command, expected message).
ENV_CASES = [
    ({"POPCORN_HARNESS_BUILD_USER": "root"}, ["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz"],
     "POPCORN_HARNESS_BUILD_USER=root is root"),
    ({"POPCORN_HARNESS_BUILD_USER": "0:0"}, ["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz"],
     "POPCORN_HARNESS_BUILD_USER=0:0 is root"),
    ({"POPCORN_HARNESS_BUILD_USER": "no-such-user"}, ["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz"],
     "POPCORN_HARNESS_BUILD_USER='no-such-user': no such user"),
    ({"POPCORN_HARNESS_BUILD_USER": "1000:staff"}, ["kernel", "build", "--source", "/usr/src/linux-source-6.1.tar.xz"],
     "give a user name, a uid, or uid:gid in numbers"),
]


@pytest.mark.parametrize("argv, expected", CASES, ids=[" ".join(a).replace(K, "K")[:70] for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(kernel, tmp_path, monkeypatch, capsys, argv, expected):
    check_refused(kernel, tmp_path, monkeypatch, capsys, argv, expected)


@pytest.mark.parametrize("variables, argv, expected", ENV_CASES, ids=[str(v) for v, _, _ in ENV_CASES])
def test_a_bad_environment_variable_is_one_line_exit_2_and_leaves_nothing(kernel, tmp_path, monkeypatch, capsys,
                                                                          variables, argv, expected):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    check_refused(kernel, tmp_path, monkeypatch, capsys, argv, expected)


def check_refused(kernel, tmp_path, monkeypatch, capsys, argv, expected):
    """Run ``argv`` and check the refusal: exit 2, one line with ``expected``, nothing made."""
    tag = new_tag()
    cache = tmp_path / "cache"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", tag)  # what this command would create carries the tag
    monkeypatch.setenv("POPCORN_HARNESS_CACHE", str(cache))
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # main() installs its own
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # `cluster exec` forwards a stdin that is no terminal
    fill = {"kernel": kernel, "tmp": str(tmp_path), "tag": tag}
    argv = [arg.format(**fill) for arg in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors exit from inside the parser
        code = exc.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("popcorn-harness") and ": error: " in lines[0], lines[0]
    assert expected.format(**fill) in lines[0], lines[0]
    assert out == ""
    assert leftovers(tag) == []
    assert not (tmp_path / "out").exists(), "an artifacts dir was made for a refused command"
    entries = [path for path in cache.rglob("*") if not path.is_dir()] if cache.exists() else []
    assert entries == [], "cache entries made"
