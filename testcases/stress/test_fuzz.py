"""The fuzzer (``harness/popcorn/fuzz.py``, the guest fuzzer ``pcn_fuzz``): as a stress case with a verdict,
and ``popcorn-harness fuzz`` end to end (each distinct finding title becomes a bundle that ``repro``
replays)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.popcorn.fuzz import run_fuzz, summary_lines
from harness.pytest.known_failures import expect
from harness.repro.bundle import load_bundle
from support import harness_env, leftovers, new_tag, run_cli

#: Seconds of the command's own fuzz run (with every call: a node goes down within seconds).
CLI_SECONDS = 20


@pytest.mark.xdist_group("popcorn2-fuzz")
def test_fuzz_of_the_calls_not_known_to_crash(popcorn, request, seed):
    """Every node fuzzes for ``--stress-duration`` seconds from the run's seed: two threads each drawing
    Popcorn calls, madvise, futex operations and migrations, without the calls known to crash the tree
    (``pcn_fuzz`` without ``all``). Every node's fuzzer must end on its own (exit 0) and no console may
    show a kernel report (the crash watch's findings fail the test)."""
    duration = request.config.getoption("stress_duration")
    run = run_fuzz(popcorn.cluster, popcorn.profile, seed, duration)
    summary = summary_lines(run, {})
    print("\n".join(summary))
    request.node.user_properties.append(("fuzz", "; ".join(summary[1:])))
    not_ended = run.not_ended()
    stuck = {name: node.exit_code if node.exit_code is not None else node.problem
             for name, node in run.nodes.items() if name in not_ended}
    expect(not stuck, "every fuzzer ends", f"fuzzers that did not end with exit 0: {stuck}")


@pytest.mark.xdist_group("popcorn-fuzz-cli")
@pytest.mark.timeout(2400)
def test_fuzz_command_bundles_each_title_and_repro_replays_it(popcorn_kernel, tmp_path):
    """``fuzz --all-calls`` on a fresh cluster finds titles (the calls known to crash the 5.2.21 tree are
    in): it exits 1, lists each title with its count and bundle, each bundle holds its title and every
    node's fuzz commands, and ``repro --runs 1`` of the first bundle replays the command log on a fresh
    cluster and hits one of the run's titles again. Nothing is left behind."""
    tag, artifacts = new_tag(), tmp_path / "fuzz"
    env = harness_env(tag)
    result = run_cli("fuzz", "--kernel", popcorn_kernel, "--accel", "tcg", "--seconds", str(CLI_SECONDS), "--seed", "11",
                     "--all-calls", "--artifacts", str(artifacts), env=env, timeout=1200)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert "fuzz seed 11 (replay the same calls with --seed 11)" in result.stderr
    listed = re.findall(r"^  (\d+)x  (.+)  -> popcorn-harness repro (\S+)$", result.stdout, re.MULTILINE)
    assert listed, result.stdout
    for count, title, bundle_dir in listed:
        bundle = load_bundle(bundle_dir)
        assert bundle.title == title and len(bundle.findings) == int(count), (title, bundle.findings)
        assert bundle.seed == 11 and bundle.nodeid.startswith("popcorn-harness fuzz --seed 11 --seconds 20")
        launched = {entry["node"] for entry in bundle.command_log() if "/opt/phc/bin/pcn_fuzz " in entry["command"]}
        assert launched == {"node0", "node1"}, bundle.command_log()
        assert Path(bundle_dir).parent.parent == artifacts
    assert leftovers(tag) == []

    # The same seed draws the same calls, but which call crashes first depends on the machines' interleaving
    # (seen: the first bundle's radix_tree_load_root, replayed, hit WARNING in do_futex first): the replay must
    # run the command log on a fresh cluster and hit one of the run's titles again.
    replayed = run_cli("repro", listed[0][2], "--runs", "1", "--artifacts", str(tmp_path / "repro"), env=env,
                       timeout=1200)
    assert "replaying 4 recorded command(s) on a fresh 2-node cluster" in replayed.stderr, replayed.stderr[-3000:]
    seen = re.findall(r"^  1/1  (.+)$", replayed.stdout, re.MULTILINE)
    assert set(seen) & {title for _, title, _ in listed}, (listed, replayed.stdout)
    assert leftovers(tag) == []
