"""The fuzz run's pure parts: per-node seeds, the commands each node runs, reading a node's outcome, the
summary."""

from __future__ import annotations

from pathlib import Path

from harness.crash.finding import Finding
from harness.popcorn.abi import get_profile
import pytest

from harness.cli.fuzz import parse_calls
from harness.errors import UsageError
from harness.popcorn.fuzz import (
    FuzzRun,
    NodeRun,
    fuzz_command,
    fuzz_ops,
    node_seed,
    parse_wait,
    summary_lines,
    wait_command,
)


def test_node_seeds_are_fixed_by_the_run_seed_and_differ_per_node():
    assert [node_seed(5, i) for i in range(4)] == [node_seed(5, i) for i in range(4)]
    assert len({node_seed(5, i) for i in range(32)}) == 32
    assert node_seed(5, 0) != node_seed(6, 0)


def test_the_launch_returns_at_once_and_the_wait_is_bounded():
    command = fuzz_command(get_profile("ssrg-5.2"), 5, 30, 1, 2, 3, True)
    assert command.endswith("&") and "PCN_NR_MIGRATE=434" in command
    assert f"/opt/phc/bin/pcn_fuzz {node_seed(5, 1)} 30 1 2 3 all >" in command
    assert "all >" not in fuzz_command(get_profile("ssrg-5.2"), 5, 30, 1, 2, 3, False)
    assert "$i -lt 75" in wait_command(30)
    only = fuzz_command(get_profile("ssrg-5.2"), 5, 30, 1, 2, 3, False, ("migrate", "touch"))
    assert f"/opt/phc/bin/pcn_fuzz {node_seed(5, 1)} 30 1 2 3 only=migrate,touch >" in only


def test_the_op_names_come_from_the_fuzzers_own_table():
    ops = fuzz_ops()
    assert len(ops) == 17 and ops["migrate"] is False and ops["migrate_bad_uregs"] is True
    assert parse_calls("migrate,touch") == ("migrate", "touch") and parse_calls(None) == ()
    with pytest.raises(UsageError, match="--calls: nope is not an op of the fuzzer"):
        parse_calls("migrate,nope")
    with pytest.raises(UsageError, match="an empty name"):
        parse_calls("migrate,")


def test_a_node_outcome_is_read_from_the_wait_output():
    done = parse_wait('rc=0\n{"fuzz": {"seed": 9, "ended": 2, "calls": {"migrate": 4}, "errors": {}}}\n')
    assert done.exit_code == 0 and done.summary["calls"] == {"migrate": 4} and not done.problem
    stuck = parse_wait("rc=\n")
    assert stuck.exit_code is None and "still running" in stuck.problem and stuck.summary is None
    garbled = parse_wait('rc=3\n{"fuzz": {"seed"\n')
    assert garbled.exit_code == 3 and garbled.summary is None


def test_the_summary_lists_each_title_with_its_count_and_bundle():
    run = FuzzRun(7, 20, 2, False, nodes={
        "node0": NodeRun(0, {"calls": {"migrate": 3, "touch": 0}, "stuck": ""}),
        "node1": NodeRun(None, None, "node1: SSH connection lost"),
    }, findings=[Finding("kernel BUG in x", "BUG", "node1"), Finding("kernel BUG in x", "BUG", "node0"),
                 Finding("WARNING in y", "WARNING", "node0")],
        stuck=["node0: pcn_fuzz[88] in __start_fault_handling"])
    lines = summary_lines(run, {"kernel BUG in x": Path("/a/finding-1/bundle")})
    assert lines[0] == "fuzz seed 7, 20s, 2 thread(s) per node: 2 distinct finding title(s); fuzzer did not end on node1"
    assert lines[1] == "  2x  kernel BUG in x  -> popcorn-harness repro /a/finding-1/bundle"
    assert lines[2] == "  1x  WARNING in y", "a title without a bundle names none"
    assert lines[3] == "  node0: exit 0, 3 calls (migrate 3)"
    assert lines[4] == "  node1: exit None, no summary: node1: SSH connection lost"
    assert lines[5:] == ["  stuck in the kernel: node0: pcn_fuzz[88] in __start_fault_handling"]
    assert run.nodeid == "popcorn-harness fuzz --seed 7 --seconds 20 --threads 2"
    assert FuzzRun(7, 20, 2, False, ("touch",)).nodeid.endswith("--threads 2 --calls touch")
