"""A program of the user's own on the Popcorn kernel: an ordinary pthread program written against
Popcorn's user library (``testcases/programs/pthread_migrate.c``), built with ``popcorn-harness cc`` and
run with ``popcorn-harness cluster run`` on a cluster of its own, and through the pytest helper
``PopcornCluster.run_own_program`` on the suite's cluster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cluster.spec import ClusterSpec
from harness.popcorn.session import popcorn_cluster
from support import REPO, harness_env, leftovers, new_tag, run_cli

DEMO = REPO / "testcases" / "programs" / "pthread_migrate.c"
LINE = re.compile(r"thread (\d+): started on node (-?\d+), ran on node (-?\d+), back on node (-?\d+), sum (\d+)")
#: The sum of i % 1000 over the demo's 64 Ki values.
SUM = sum(i % 1000 for i in range(64 * 1024))


def build_demo(out: Path) -> Path:
    """``popcorn-harness cc`` the demo into ``out``; fail with gcc's message."""
    built = run_cli("cc", "-O2", "-Wall", "-Werror", "-o", str(out), str(DEMO))
    assert built.returncode == 0, built.stderr[-2000:]
    return out


def assert_demo_output(stdout: str, threads: int, nodes: int) -> None:
    """Each thread ran on the node it was sent to, came back to 0, and summed the origin's array right."""
    lines = [tuple(map(int, m.groups())) for m in LINE.finditer(stdout)]
    expected = [(i, 0, 1 + i % (nodes - 1), 0, SUM) for i in range(threads)]
    assert lines == expected, stdout[-3000:]
    assert f"all {threads} threads done: ok" in stdout


@pytest.mark.timeout(1500)
def test_cluster_run_of_an_own_pthread_program(popcorn_kernel, tmp_path):
    tag = new_tag()
    env = harness_env(tag)
    demo = build_demo(tmp_path / "pthread_migrate")
    result = run_cli("cluster", "run", "--kernel", popcorn_kernel, "--nodes", "2", "--accel", "tcg",
                     "--timeout", "240", "--artifacts", str(tmp_path / "artifacts"), str(demo), "2", "2",
                     env=env, timeout=1400)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert_demo_output(result.stdout, threads=2, nodes=2)
    assert "exited with 0; no kernel finding" in result.stderr
    assert leftovers(tag) == []


def test_run_own_program_helper(popcorn, tmp_path):
    demo = build_demo(tmp_path / "pthread_migrate")
    run = popcorn.run_own_program(demo, "2", str(len(popcorn.nodes)), timeout=240)
    assert (run.exit_code, run.findings, run.timed_out) == (0, [], False), run.summary() + run.stderr
    assert_demo_output(run.stdout, threads=2, nodes=len(popcorn.nodes))


def test_a_script_boots_a_popcorn_cluster_and_runs_an_own_program(popcorn_kernel, tmp_path):
    """The README's library example: ``popcorn_cluster(spec)`` is all a script needs for a mesh."""
    demo = build_demo(tmp_path / "pthread_migrate")
    with popcorn_cluster(ClusterSpec(nodes=3, kernel=popcorn_kernel, accel="tcg")) as popcorn:
        assert popcorn.support.available and len(popcorn.nodes) == 3
        run = popcorn.run_own_program(demo, "4", "3", timeout=240)
    assert (run.exit_code, run.findings) == (0, []), run.summary() + run.stderr
    assert_demo_output(run.stdout, threads=4, nodes=3)


@pytest.mark.timeout(1500)
def test_cluster_run_on_a_cluster_that_is_up(popcorn_kernel, tmp_path):
    """``cluster up --popcorn`` once, then ``cluster run --name`` twice on it: the program is copied to the
    running nodes, and the cluster stays up between runs."""
    tag = new_tag()
    env = harness_env(tag)
    demo = build_demo(tmp_path / "pthread_migrate")
    try:
        up = run_cli("cluster", "up", "--popcorn", "--kernel", popcorn_kernel, "--nodes", "3", "--accel", "tcg",
                     "--name", tag, env=env, timeout=1400)
        assert up.returncode == 0, up.stderr[-3000:]
        for threads in ("1", "3"):
            result = run_cli("cluster", "run", "--name", tag, "--timeout", "240", "--artifacts",
                             str(tmp_path / "artifacts"), str(demo), threads, "3", env=env, timeout=600)
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
            assert_demo_output(result.stdout, threads=int(threads), nodes=3)
        assert leftovers(tag), "the named cluster stays up after cluster run"
    finally:
        down = run_cli("cluster", "down", "--name", tag, env=env)
    assert down.returncode == 0, down.stderr
    assert leftovers(tag) == []
