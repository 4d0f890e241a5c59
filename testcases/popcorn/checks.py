"""Run a guest check program on a node and turn its output into one pytest verdict.

``harness.guest.programs.judge`` decides: a run passes only with exactly one plan, every planned check printed
once and passing, no other check, no malformed line and the expected exit code. A crash, a timeout
(``CommandTimeout`` propagates), a wrong exit code or an empty output fails the test: there are no vacuous
passes. Every judge of a check program's output (the conformance tests, the stress tests, the fault
tests) fails through ``ProgramFailed``, which carries the verdict and its signs.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import pytest

from harness.guest.protocol import Check, ProgramOutcome, judge

DEFAULT_TIMEOUT = 120.0


class ProgramFailed(pytest.fail.Exception):
    """A check program's run failed: a short report (no traceback) listing every problem; ``verdict`` is
    the ``ProgramOutcome`` and ``signs`` its signs (``harness/pytest/known_failures.py`` matches them)."""

    def __init__(self, message: str, verdict: ProgramOutcome):
        super().__init__(message, pytrace=False)
        self.verdict = verdict
        self.signs = verdict.signs()


def require_pass(verdict: ProgramOutcome, title: str, node_names: Sequence[str] = ()) -> None:
    """Raise ``ProgramFailed`` ('TITLE:' then one problem per line) unless the run passed."""
    if not verdict.ok:
        raise ProgramFailed(f"{title}:\n  " + "\n  ".join(verdict.problems(node_names)), verdict)


def program_command(popcorn, program: str, *args: str, binary: str | None = None) -> str:
    """Shell command running ``program`` (or the binary at ``binary`` on the node) with the profile's
    syscall numbers."""
    if binary is None:
        return popcorn.command(program, *args)
    return f"{popcorn.profile.shell_exports()} {shlex.quote(binary)} {' '.join(map(shlex.quote, args))}"


def run_checks(popcorn, node, program: str, *args: str, timeout: float = DEFAULT_TIMEOUT, expect_exit: int = 0,
               binary: str | None = None) -> list[Check]:
    """Run ``program args`` on ``node`` (``binary``: another build of it, already on the node); fail the
    test with ``ProgramFailed`` unless the run passed; return its checks."""
    result = node.run(program_command(popcorn, program, *args, binary=binary), timeout=timeout)
    verdict = judge(result.stdout, result.exit_code, expect_exit, result.stderr, program)
    require_pass(verdict, f"{program} {' '.join(args)} on {node.name}", [n.name for n in popcorn.nodes])
    return list(verdict.checks)


def no_task_left(popcorn, program: str, timeout: float = 30.0) -> list[str]:
    """Nodes on which a process or Popcorn worker named after ``program`` still exists."""
    left = []
    for node in popcorn.nodes:
        out = node.run("ps -o pid,stat,comm 2>/dev/null || ps", timeout=timeout).stdout
        rows = [line for line in out.splitlines() if program[:15] in line]
        if rows:
            left.append(f"{node.name}: " + "; ".join(r.strip() for r in rows))
    return left
