"""Popcorn under load: migrations, page transfers, futexes and process churn, for a duration, from a seed.

Each case runs ``pcn_stress MODE`` (testcases/guest/pcn_stress.c) at node 0 for ``--stress-duration``
seconds with the run's seed, reports the operations it did (in the test's output and JUnit properties)
and fails on any failed check, hang or kernel finding. Cases Popcorn fails by a known defect are xfails in
testcases/popcorn/known_defects.py.
"""

from __future__ import annotations

import pytest

from harness.guest.protocol import judge
from popcorn.checks import require_pass

MODES = ("pingpong", "storm", "rotate", "futex", "churn")
#: Seconds a stress program may take beyond its duration (migrations back, joins, the program's own watchdog).
MARGIN_S = 150


def _stress(popcorn, request, seed: int, mode: str) -> None:
    duration = request.config.getoption("stress_duration")
    node = popcorn.nodes[0]
    args = (mode, "0", str(len(popcorn.nodes)), f"{duration}:{seed}")
    result = node.run(popcorn.command("pcn_stress", *args), timeout=duration + MARGIN_S)
    verdict = judge(result.stdout, result.exit_code, 0, result.stderr, "pcn_stress")
    ops = next((c.got for c in verdict.checks if c.check == "ops"), "no ops reported")
    request.node.user_properties.append(("ops", ops))
    print(f"pcn_stress {' '.join(args)}: {ops}")
    require_pass(verdict, f"pcn_stress {' '.join(args)} on {node.name} (seed {seed})", [n.name for n in popcorn.nodes])


@pytest.mark.xdist_group("popcorn2-stress")
@pytest.mark.parametrize("mode", MODES)
def test_stress(popcorn, request, seed, mode):
    """Each stress mode on two nodes."""
    _stress(popcorn, request, seed, mode)


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4-stress")
@pytest.mark.parametrize("mode", MODES)
def test_stress_4(popcorn, request, seed, mode):
    """Each stress mode on four nodes (storm, rotate and futex put threads on every node at once)."""
    _stress(popcorn, request, seed, mode)
