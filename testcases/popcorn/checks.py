"""Run a guest conformance program on a node and turn its check lines into one pytest verdict.

A run passes only if the program exited as expected, printed every check the test names, and every
check it printed passed. A crash, a timeout (``CommandTimeout`` propagates), an unexpected exit code or
an empty output fails the test: there are no vacuous passes.
"""

from __future__ import annotations

import pytest

from harness.guest import Check, parse_checks

DEFAULT_TIMEOUT = 120.0


def node_name(popcorn, index: int) -> str:
    """The name of node ``index`` of the cluster, or ``node<index>`` if there is no such node."""
    return popcorn.nodes[index].name if 0 <= index < len(popcorn.nodes) else f"node{index}"


def verdict(popcorn, program: str, result, checks: list[Check], expect_exit: int, required: tuple[str, ...]) -> list[str]:
    """Every problem with one run: failed checks, missing checks, wrong exit code."""
    problems = [c.describe(node_name(popcorn, c.node)) for c in checks if not c.ok]
    names = {c.check for c in checks}
    problems += [f"check {name} missing from the output of {program}" for name in required if name not in names]
    if not checks:
        problems.append(f"{program} printed no checks")
    if result.exit_code != expect_exit:
        problems.append(f"{program} exited {result.exit_code} (expected {expect_exit}); stderr: {result.stderr[-800:]!r}")
    return problems


def run_checks(popcorn, node, program: str, *args: str, timeout: float = DEFAULT_TIMEOUT, expect_exit: int = 0,
               required: tuple[str, ...] = ()) -> list[Check]:
    """Run ``program args`` on ``node``; fail the test with every problem; return the checks."""
    result = node.run(popcorn.command(program, *args), timeout=timeout)
    checks = parse_checks(result.stdout)
    problems = verdict(popcorn, program, result, checks, expect_exit, required)
    if problems:
        pytest.fail(f"{program} {' '.join(args)} on {node.name}:\n  " + "\n  ".join(problems), pytrace=False)
    return checks


def no_task_left(popcorn, program: str, timeout: float = 30.0) -> list[str]:
    """Nodes on which a process or Popcorn worker named after ``program`` still exists."""
    left = []
    for node in popcorn.nodes:
        out = node.run(f"ps -o pid,stat,comm 2>/dev/null || ps", timeout=timeout).stdout
        rows = [line for line in out.splitlines() if program[:15] in line]
        if rows:
            left.append(f"{node.name}: " + "; ".join(r.strip() for r in rows))
    return left
