"""The hang watchdog on real VMs: a paused node, a stuck test and a command timeout are each reported
within the test timeout with vCPU registers and sysrq dumps saved, the cluster is reset, and the next
test gets a healthy cluster. A known hang is judged by where its program waits (``stuck:`` signs)."""

from __future__ import annotations

import re
import subprocess

import pytest

from support import REPO, VFORK_WAIT_CHANNEL, harness_env, leftovers, new_tag, pytest_command

SCENARIO_FILE = REPO / "testcases" / "scenarios" / "scenario_runs.py"

SCENARIOS = ("test_waits_on_a_paused_node", "test_waits_on_a_stuck_command", "test_command_times_out",
             "test_known_hang_waits_where_its_entry_says", "test_known_hang_waits_elsewhere",
             "test_gets_a_healthy_cluster")
HANG_TIMEOUT = 20


def verdict_lines(out: str) -> str:
    """What the nested run said of its verdicts (symptoms, stuck threads, the watchdog's reasons) and its last
    lines: an assertion's message that shows why, wherever in the output that was."""
    said = re.findall(r"^.*(?:symptom|differences|stuck|hang watchdog|phc_vfork_wait|not looked at).*$", out, re.M)
    return "\n".join(said) + "\n...\n" + out[-2000:]


@pytest.mark.xdist_group("hang-watchdog")
@pytest.mark.timeout(2700)
def test_hangs_are_reported_dumped_and_reset(kernel, tmp_path):
    tag = new_tag()
    artifacts = tmp_path / "artifacts"
    others = [f"{SCENARIO_FILE}::{name}" for name in SCENARIOS[1:]]
    command = pytest_command(f"scenario_runs.py::{SCENARIOS[0]}", kernel, artifacts, *others,
                             f"--hang-timeout={HANG_TIMEOUT}", "-rA")
    proc = subprocess.run(command, env=harness_env(tag), capture_output=True, text=True, timeout=2400)
    out = proc.stdout
    assert proc.returncode == 1, out[-4000:]
    outcomes = {name: verdict for verdict, name in
                re.findall(r"^(PASSED|FAILED|ERROR|XFAIL) \S+::(test_\w+)", out, re.M)}
    assert outcomes == {"test_waits_on_a_paused_node": "FAILED", "test_waits_on_a_stuck_command": "FAILED",
                        "test_command_times_out": "FAILED", "test_known_hang_waits_where_its_entry_says": "XFAIL",
                        "test_known_hang_waits_elsewhere": "FAILED", "test_gets_a_healthy_cluster": "PASSED"}, \
        out[-4000:]
    # Where a known hang waits is part of its symptom: the same hang with another wait channel is another.
    assert re.search(rf"actual symptom: +stuck:node1:{VFORK_WAIT_CHANNEL} \+ timeout:node0", out), verdict_lines(out)
    assert "no sign matches 'stuck:node1:elsewhere'" in out, verdict_lines(out)
    assert f"hang watchdog after {HANG_TIMEOUT}s: node1: no output from node" in out, out[-4000:]
    assert f"hang watchdog after {HANG_TIMEOUT}s: test timed out (every node still answers)" in out
    # The watchdog, not pytest-timeout (900 s per test in the nested run too), ended each hang. Not a
    # wall-clock bound: under CI load (eight workers, two cores) the four tests took 485 s once.
    assert "Timeout +++" not in out + proc.stderr, out[-4000:]

    def dump(test: str, node: str) -> str:
        return (artifacts / f"testcases_scenarios_scenario_runs.py_{test}" / f"{node}.hang.txt").read_text()

    paused = dump("test_waits_on_a_paused_node", "node1")
    assert "QEMU state paused" in paused and "RIP=" in paused and "CPU#0" in paused, paused[:2000]
    running = dump("test_waits_on_a_paused_node", "node0")
    assert "QEMU state running" in running and "sysrq: Show Blocked State" in running, running[-2000:]
    stuck = dump("test_waits_on_a_stuck_command", "node0")
    assert "sysrq: Show Blocked State" in stuck and "RIP=" in stuck
    timed_out = dump("test_command_times_out", "node0")
    assert "QEMU state running" in timed_out and "RIP=" in timed_out
    assert leftovers(tag) == []
