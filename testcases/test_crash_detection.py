"""Crash detection on real VMs: LKDTM failures provoked on node1 of a 2-node cluster are found with
their exact title, type and node; a crash fails only the test that provoked it; a taint nothing on
the console explains is a finding, and so is a node that locks up without a word.

Needs a kernel with LKDTM and debugfs (the CI kernel); on others (Debian's stock kernel) these tests
skip and say so. The titles are the ones verified on the CI kernel's captures (testcases/unit/data/crash/).
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from harness.crash import lkdtm
from harness.crash.watch import CrashWatch
from harness.junit import case_outcomes
from support import harness_env, leftovers, lkdtm_built_in, new_tag, pytest_command

#: LKDTM type -> (titles, type) of its report: the titles a kernel may give it (any one will do). On one
#: vCPU the soft lockup (20 s) races the RCU stall detector (21 s): either may come first, so the test
#: waits for the expected title.
EXPECTED = {
    "BUG": (("kernel BUG in lkdtm_BUG",), "bug"),
    "WARNING": (("WARNING in lkdtm_WARNING",), "warning"),
    "EXCEPTION": (("BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION",), "null-deref"),
    "PANIC": (("kernel panic: dumptest",), "panic"),
    "SOFTLOCKUP": (("BUG: soft lockup in lkdtm_SOFTLOCKUP",), "hang"),
    # 6.1 builds lkdtm_HUNG_TASK as a tail call of schedule(), so the hung task's stack shows its caller;
    # the 5.2 Popcorn kernel (frame pointers, no ORC) keeps lkdtm_HUNG_TASK's own frame.
    "HUNG_TASK": (("INFO: task hung in direct_entry", "INFO: task hung in lkdtm_HUNG_TASK"), "hang"),
}


def _require_lkdtm(cluster, node, crashtype: str) -> None:
    offered = lkdtm.available_types(node)
    if not offered:
        assert not lkdtm_built_in(cluster.kernel), f"the kernel has CONFIG_LKDTM=y, yet {node.name} has no {lkdtm.DIRECT}"
        pytest.skip(f"kernel has no LKDTM ({lkdtm.DIRECT} missing; CONFIG_LKDTM is off, e.g. Debian's stock kernel)")
    if crashtype not in offered:
        pytest.skip(f"this kernel's LKDTM has no {crashtype}")


@pytest.mark.nodes(2)
@pytest.mark.xdist_group("crash")
@pytest.mark.parametrize("crashtype", list(EXPECTED))
def test_provoked_crash_is_found_with_title_type_and_node(cluster, expect_crash, crashtype, request):
    node = cluster.nodes[1]
    _require_lkdtm(cluster, node, crashtype)
    titles, kind = EXPECTED[crashtype]
    lkdtm.provoke(node, crashtype)
    findings = expect_crash.wait("node1", timeout=150, title=titles)
    found = [f for f in findings if f.title in titles]
    assert found, f"none of {titles} on node1 within 150s, found {[f.title for f in findings]}; console tail:\n" \
                  + node.console_tail(40)
    assert (found[0].type, found[0].node, found[0].corrupted) == (kind, "node1", False), found[0].excerpt
    assert found[0].test == request.node.nodeid  # (xdist's loadgroup appends "@group" to it)
    assert expect_crash.findings("node0") == []


@pytest.mark.xdist_group("crash")
def test_a_taint_without_a_console_report_is_a_finding(cluster_pool):
    """Root may add taint bits by hand (U, "taint requested by userspace"): no console report explains it."""
    cluster = cluster_pool.get(2)
    watch = CrashWatch(cluster.nodes, "taint-test")
    cluster.nodes[1].succeed("echo 64 > /proc/sys/kernel/tainted")
    findings = watch.findings()
    assert [(f.title, f.type, f.node, f.test) for f in findings] == [
        ("kernel tainted: U (taint requested by userspace)", "taint", "node1", "taint-test")]
    cluster_pool.after_test("taint-test", failed=False, findings=findings)
    # a cluster with findings is reset: restored from the snapshot the pool took when it came up, untainted
    assert cluster_pool.last_reset == "restored" and cluster_pool.cluster is cluster
    assert int(cluster.nodes[1].succeed("cat /proc/sys/kernel/tainted")) & 64 == 0


@pytest.mark.xdist_group("crash")
def test_a_node_that_locks_up_silently_is_a_lost_connection(cluster_pool):
    """LKDTM HARDLOCKUP: with one vCPU spinning with interrupts off and no hard-lockup detector, nothing
    reports it; the node just stops answering."""
    cluster = cluster_pool.get(2)
    _require_lkdtm(cluster, cluster.nodes[1], "HARDLOCKUP")
    watch = CrashWatch(cluster.nodes, "hardlockup-test")
    lkdtm.provoke(cluster.nodes[1], "HARDLOCKUP")
    findings = watch.findings()
    assert [(f.title, f.type, f.node) for f in findings] == [("lost connection to node", "lost-connection", "node1")]
    assert "Performing direct entry HARDLOCKUP" in findings[0].excerpt
    cluster_pool.after_test("hardlockup-test", failed=False, findings=findings)


@pytest.mark.xdist_group("crash-nested")
def test_a_crash_fails_only_the_test_that_provoked_it(kernel, tmp_path):
    tag = new_tag()
    artifacts = tmp_path / "artifacts"
    proc = subprocess.run(pytest_command("scenario_crash.py", kernel, artifacts), env=harness_env(tag),
                          capture_output=True, text=True, timeout=900)
    outcomes = case_outcomes(artifacts / "junit.xml")
    first, second = outcomes["test_provokes_a_kernel_bug"], outcomes["test_next_test_gets_a_healthy_cluster"]
    if first[0] == "skipped":  # only a kernel without LKDTM may skip it; any other skip is a broken set-up
        assert "has no LKDTM" in first[1] and not lkdtm_built_in(kernel), (first, proc.stdout[-3000:])
        pytest.skip(first[1])
    assert first[0] == "failed" and re.search(r"kernel failure on (node1 during the test|node\d during the test: "
                                              r"(?s:.*)\nalso node1): kernel BUG in lkdtm_BUG", first[1]), \
        proc.stdout[-3000:]
    assert second == ("passed", ""), proc.stdout[-3000:]
    saved = artifacts / "testcases_scenarios_scenario_crash.py_test_provokes_a_kernel_bug"
    findings = json.loads((saved / "findings.json").read_text())
    # Besides the BUG, only hang reports are allowed: a TCG guest starved by a loaded host (CI's eight
    # workers on two cores) may print a soft lockup or an RCU stall of its own, and that is a finding too.
    bug = [(f["title"], f["type"], f["node"]) for f in findings if f["type"] != "hang"]
    assert bug == [("kernel BUG in lkdtm_BUG", "bug", "node1")], findings
    found = next(f for f in findings if f["type"] == "bug")
    assert found["test"].endswith("scenario_crash.py::test_provokes_a_kernel_bug")
    assert "kernel BUG at drivers/misc/lkdtm/bugs.c" in found["excerpt"]
    assert leftovers(tag) == []
