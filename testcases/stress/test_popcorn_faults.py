"""Faults in the middle of Popcorn's work: a remote node crashed, paused or cut off while a thread
migrates back and forth (pingpong) or while a page moves between nodes on every write (rotate).

The program runs in the background at node 0; the fault hits node 1 at a moment chosen from the seed.
What a dependable Popcorn must do:
- pause or partition for a few seconds, then resume or heal: the program finishes, every check passes
  (the messaging layer is TCP: a short outage is a delay, not a loss);
- crash of the remote node: the origin stays up and answering, and the program ends (an error, or killed)
  within a minute instead of hanging for good.
What Popcorn really does is recorded in testcases/popcorn/known_defects.py.
"""

from __future__ import annotations

import time

import pytest

from harness.guest.protocol import judge
from harness.pytest.known_failures import expect
from popcorn.checks import require_pass

DURATION_S = 20
#: Seconds after the fault within which the program must have ended (crash) or finished (pause, partition).
END_WITHIN_S = 60
OUT, RC = "/tmp/pcn_stress_fault.out", "/tmp/pcn_stress_fault.rc"


def _start(popcorn, mode: str, seed: int) -> None:
    command = popcorn.command("pcn_stress", mode, "0", str(len(popcorn.nodes)), f"{DURATION_S}:{seed}")
    popcorn.nodes[0].succeed(f"rm -f {OUT} {RC}; (setsid sh -c '{command} > {OUT} 2>&1; echo $? > {RC}' "
                             f"< /dev/null > /dev/null 2>&1 &)")


def _wait_end(node, seconds: float) -> int | None:
    """The program's exit code once it ended, or None if it still runs after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = node.run(f"cat {RC} 2>/dev/null", timeout=20)
        if result.stdout.strip():
            return int(result.stdout.strip())
        time.sleep(2)
    return None


def _fault_moment(faults) -> float:
    """Seconds into the run at which the fault hits (from the seed)."""
    return faults.rng.uniform(3.0, 8.0)


@pytest.mark.xdist_group("popcorn2-popcorn_faults")
@pytest.mark.parametrize("mode", ["pingpong", "rotate"])
@pytest.mark.parametrize("fault", ["pause", "partition"])
def test_short_outage_of_the_remote_node_is_survived(popcorn, faults, mode, fault):
    """node1 paused, or cut off from node0, for 2-6 s mid-run: the program finishes and passes its checks."""
    node0, node1 = popcorn.nodes[0], popcorn.nodes[1]
    _start(popcorn, mode, faults.seed)
    time.sleep(_fault_moment(faults))
    outage = faults.rng.uniform(2.0, 6.0)
    if fault == "pause":
        faults.pause(node1)
        time.sleep(outage)
        faults.resume(node1)
    else:
        faults.partition([[0], [1]])
        time.sleep(outage)
        faults.heal()
    code = _wait_end(node0, DURATION_S + END_WITHIN_S)
    assert code is not None, f"pcn_stress {mode} still running {END_WITHIN_S}s after a {outage:.1f}s {fault} ended"
    output = node0.run(f"cat {OUT}", timeout=20).stdout  # stdout and stderr: only the JSON lines are judged
    require_pass(judge(output, code, 0, program="pcn_stress"),
                 f"pcn_stress {mode} on {node0.name} after a {outage:.1f}s {fault} of {node1.name}",
                 [n.name for n in popcorn.nodes])


@pytest.mark.xdist_group("popcorn2-popcorn_faults")
@pytest.mark.parametrize("mode", ["pingpong", "rotate"])
def test_crash_of_the_remote_node_ends_the_program(popcorn, faults, mode):
    """node1 powered off mid-run: node0 keeps answering and the program ends within a minute. The crash is
    the test's own doing (the ``faults`` fixture declares it), so node1's silence is no finding; what is
    judged is what Popcorn does at the origin."""
    node0, node1 = popcorn.nodes[0], popcorn.nodes[1]
    _start(popcorn, mode, faults.seed)
    time.sleep(_fault_moment(faults))
    faults.crash(node1)
    code = _wait_end(node0, END_WITHIN_S)  # asks node0 every 2 s: a node0 that stops answering fails here
    expect(code is not None, "program_ended",
           f"pcn_stress {mode} at the origin still running {END_WITHIN_S}s after node1 crashed")
