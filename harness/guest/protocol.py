"""What a guest program says: a plan naming every check the run will print, then one JSON line per check
(the guest side is ``record.h``). ``judge`` turns a run's output and exit code into one ``ProgramOutcome``:
every problem in words and as *signs*, the short strings known failures are matched against
(``harness/pytest/known_failures.py``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One check line of a guest program."""

    check: str
    node: int
    ok: bool
    expected: str
    got: str

    def describe(self, node_name: str = "") -> str:
        """'check X on node1: expected E, got G'."""
        where = node_name or f"node{self.node}"
        return f"check {self.check} on {where}: expected {self.expected}, got {self.got}"


#: Checks a program may print without planning them; printed, they are failures (record.h).
ALWAYS_ALLOWED = ("watchdog", "record_overflow")


def _check_of(data: object) -> Check | None:
    """The Check a decoded check line holds, or None if it is not a well-formed one."""
    if not isinstance(data, dict) or not isinstance(data.get("check"), str) or not isinstance(data.get("ok"), bool):
        return None
    node = data.get("node", -1)
    if not isinstance(node, int) or isinstance(node, bool):
        return None
    if not all(isinstance(data.get(key, ""), str) for key in ("expected", "got")):
        return None
    return Check(data["check"], node, data["ok"], data.get("expected", ""), data.get("got", ""))


def _plan_of(data: object) -> tuple[str, ...] | None:
    """The names of a decoded plan line, or None if it is not a well-formed one (each name once)."""
    if not isinstance(data, dict) or set(data) != {"plan"} or not isinstance(data["plan"], list):
        return None
    names = data["plan"]
    if not all(isinstance(name, str) and name for name in names) or len(set(names)) != len(names):
        return None
    return tuple(names)


@dataclass(frozen=True)
class ProgramOutcome:
    """Everything wrong with one run of a check program (see ``judge``); ``ok`` when nothing is."""

    program: str
    exit_code: int
    expect_exit: int
    stderr: str = ""
    plans: tuple[tuple[str, ...], ...] = ()
    checks: tuple[Check, ...] = ()
    malformed: tuple[str, ...] = ()

    @property
    def plan(self) -> tuple[str, ...] | None:
        """The plan, when the program printed exactly one."""
        return self.plans[0] if len(self.plans) == 1 else None

    @property
    def failed(self) -> tuple[Check, ...]:
        """Printed checks whose ok is false."""
        return tuple(c for c in self.checks if not c.ok)

    @property
    def missing(self) -> tuple[str, ...]:
        """Planned checks never printed."""
        printed = {c.check for c in self.checks}
        return tuple(name for name in self.plan or () if name not in printed)

    @property
    def duplicates(self) -> tuple[str, ...]:
        """Checks printed more than once."""
        counts = Counter(c.check for c in self.checks)
        return tuple(name for name, n in counts.items() if n > 1)

    @property
    def unexpected(self) -> tuple[str, ...]:
        """Printed checks the plan does not name (none can be told without a plan)."""
        if self.plan is None:
            return ()
        planned = set(self.plan) | set(ALWAYS_ALLOWED)
        return tuple(dict.fromkeys(c.check for c in self.checks if c.check not in planned))

    @property
    def ok(self) -> bool:
        """True when the run passed: nothing in ``signs()``."""
        return not self.signs()

    def problems(self, node_names: Sequence[str] = ()) -> list[str]:
        """Every problem, one line each: 'check X on node1: expected E, got G', ... ``node_names[i]`` names
        node i (default ``node<i>``)."""
        def where(check: Check) -> str:
            return node_names[check.node] if 0 <= check.node < len(node_names) else ""

        lines = [c.describe(where(c)) for c in self.failed]
        lines += [f"check {name} missing from the output of {self.program}" for name in self.missing]
        counts = Counter(c.check for c in self.checks)
        lines += [f"check {name} printed {counts[name]} times" for name in self.duplicates]
        lines += [f"check {name} printed but not in the plan of {self.program}" for name in self.unexpected]
        lines += [f"malformed line: {line[:200]!r}" for line in self.malformed]
        if not self.plans:
            lines.append(f"{self.program} printed no plan" + ("" if self.checks else " and no checks"))
        elif len(self.plans) > 1:
            lines.append(f"{self.program} printed {len(self.plans)} plans")
        elif not self.plan:
            lines.append(f"{self.program} printed an empty plan: it checks nothing")
        if self.exit_code != self.expect_exit:
            lines.append(f"{self.program} exited {self.exit_code} (expected {self.expect_exit}); "
                         f"stderr: {self.stderr[-800:]!r}")
        return lines

    def signs(self) -> list[str]:
        """The symptom as sorted short strings: ``check:NAME`` (printed with ok false, ``check:watchdog`` and
        ``check:record_overflow`` included), ``missing:NAME``, ``duplicate:NAME``, ``unexpected:NAME``,
        ``malformed`` (a line starting with '{' that is no check or plan, or a second plan), ``no-plan`` (none,
        or an empty one) and ``exit:CODE`` (the exit code, when not the expected one)."""
        signs = {f"check:{c.check}" for c in self.failed}
        signs |= {f"missing:{name}" for name in self.missing}
        signs |= {f"duplicate:{name}" for name in self.duplicates}
        signs |= {f"unexpected:{name}" for name in self.unexpected}
        if self.malformed or len(self.plans) > 1:
            signs.add("malformed")
        if not self.plans or (len(self.plans) == 1 and not self.plan):
            signs.add("no-plan")
        if self.exit_code != self.expect_exit:
            signs.add(f"exit:{self.exit_code}")
        return sorted(signs)


def judge(stdout: str, exit_code: int, expect_exit: int = 0, stderr: str = "", program: str = "program") -> ProgramOutcome:
    """The outcome of one run of a check program, from its output: it passes only with exactly one plan,
    every planned check printed once and passing, nothing else printed as a check (bar a failing
    ``watchdog`` or ``record_overflow``), no malformed line and the expected exit code."""
    plans, checks, malformed = [], [], []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder's stack
            data = None
        check, plan = _check_of(data), _plan_of(data)
        if check is not None:
            checks.append(check)
        elif plan is not None:
            plans.append(plan)
        else:
            malformed.append(line)
    return ProgramOutcome(program, exit_code, expect_exit, stderr, tuple(plans), tuple(checks), tuple(malformed))


def parse_checks(stdout: str) -> list[Check]:
    """The well-formed check lines of a program's output (other lines are ignored)."""
    return list(judge(stdout, 0).checks)
