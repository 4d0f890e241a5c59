"""Turn a pytest JUnit XML file into a run summary: counts per suite, failures, known defects, a report file.

Outcomes: passed, failed, error, skipped, xfailed (a known failure seen with its symptom), xpassed (a test
with a known racy failure that passed this time; pytest's JUnit file shows it as a pass, the property
``known_defect_outcome`` tells). Each test counts in a suite, named from its JUnit classname by a function
the caller gives (the main job's: ``harness/popcorn/suites.py``; by default the test module's package).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: JUnit child element -> outcome. pytest writes xfail as <skipped type="pytest.xfail">.
_OUTCOMES = {"failure": "failed", "error": "error", "skipped": "skipped"}
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")

def module_suite(classname: str) -> str:
    """The default suite of a JUnit classname: its package (``testcases.popcorn.test_exit`` ->
    ``testcases.popcorn``), or "other" for a module outside any package."""
    return classname.rpartition(".")[0] or "other"


def _zero() -> dict[str, int]:
    return {k: 0 for k in OUTCOMES}


@dataclass
class Summary:
    """Outcome counts of a run (in all and per suite), the failed tests with their first message line, the
    skip reasons, and each known defect's tests with how they came out."""

    counts: dict[str, int] = field(default_factory=_zero)
    suites: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)
    known_defects: list[dict] = field(default_factory=list)
    #: How often a test left its cluster to be reset, by how: "restored" (its snapshot), "rebooted".
    cluster_resets: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of test cases."""
        return sum(self.counts.values())

    def line(self, counts: dict[str, int] | None = None) -> str:
        """A one-line summary: '12 passed, 0 failed, 3 skipped, 1 xfailed, 0 xpassed, 0 error'."""
        c = counts or self.counts
        return (f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped, {c['xfailed']} xfailed, "
                f"{c['xpassed']} xpassed, {c['error']} error")

    def ran(self, suites: tuple[str, ...]) -> int:
        """How many tests of ``suites`` were judged (any outcome but skipped)."""
        return sum(n for s in suites for k, n in self.suites.get(s, {}).items() if k != "skipped")


def _properties(case: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in case.iter("property")}


def _outcome(case: ET.Element, properties: dict[str, str]) -> tuple[str, str]:
    for child in case:
        outcome = _OUTCOMES.get(child.tag)
        if outcome:
            message = (child.get("message") or child.text or "").strip().splitlines()
            if outcome == "skipped" and child.get("type") == "pytest.xfail":
                outcome = "xfailed"
            return outcome, message[0] if message else ""
    if properties.get("known_defect_outcome") == "xpassed":
        return "xpassed", ""
    return "passed", ""


def case_outcomes(path: Path) -> dict[str, tuple[str, str]]:
    """Test name -> (outcome, its whole message and text) from a JUnit XML file (for tests of runs)."""
    outcomes = {}
    for case in ET.parse(path).iter("testcase"):
        outcome, _ = _outcome(case, _properties(case))
        problem = next((child for child in case if child.tag in _OUTCOMES), None)
        text = "" if problem is None else "\n".join(filter(None, (problem.get("message"), problem.text)))
        outcomes[case.get("name")] = (outcome, text)
    return outcomes


def summarize_junit(path: Path, suite_of: Callable[[str], str] = module_suite) -> Summary:
    """Read a JUnit XML file written by pytest; ``suite_of`` names each test's suite from its classname."""
    summary = Summary()
    for case in ET.parse(path).iter("testcase"):
        properties = _properties(case)
        outcome, message = _outcome(case, properties)
        suite = suite_of(case.get("classname") or "")
        summary.counts[outcome] += 1
        summary.suites.setdefault(suite, _zero())[outcome] += 1
        name = f"{case.get('classname')}::{case.get('name')}"
        if outcome in ("failed", "error"):
            summary.failures.append((name, message))
        elif outcome == "skipped":
            summary.skip_reasons[message] = summary.skip_reasons.get(message, 0) + 1
        if "cluster_reset" in properties:
            how = properties["cluster_reset"]
            summary.cluster_resets[how] = summary.cluster_resets.get(how, 0) + 1
        if "known_defect" in properties:
            summary.known_defects.append({
                "test": f"{case.get('classname')}::{properties.get('known_defect_test') or case.get('name')}",
                "defect": properties["known_defect"], "outcome": outcome,
                "judged": properties.get("known_defect_outcome", ""),
                "symptom_expected": properties.get("symptom_expected", ""),
                "symptom_actual": properties.get("symptom_actual", ""),
                "detail": properties.get("failure_detail", "")})
    return summary


def write_report(directory: Path, summary: Summary, meta: dict) -> Path:
    """Write ``report.json`` (summary plus run metadata) into ``directory``; return its path."""
    path = directory / "report.json"
    path.write_text(json.dumps({"meta": meta, **asdict(summary), "total": summary.total}, indent=1) + "\n")
    return path


@dataclass(frozen=True)
class Verdict:
    """One test's verdict as two runs are compared: its outcome and, for a test with a known failure, the
    defect that judged it. ``xfailed`` and ``xpassed`` of one defect are one verdict: an xpass arises only
    for a racy defect (a strict entry that passes is a failure), so a racy defect shown in one run and not
    in the other is the same verdict ("known defect P16")."""

    outcome: str
    defect: str = ""

    def same_as(self, other: Verdict) -> bool:
        """Whether two runs gave this test the same verdict."""
        if self.defect and self.defect == other.defect and {self.outcome, other.outcome} <= {"xfailed", "xpassed"}:
            return True
        return (self.outcome, self.defect) == (other.outcome, other.defect)

    def __str__(self) -> str:
        return f"{self.outcome} ({self.defect})" if self.defect else self.outcome


def verdicts(path: Path) -> dict[str, Verdict]:
    """Test id (``classname::name``) -> its :class:`Verdict`, from a JUnit XML file written by pytest."""
    found = {}
    for case in ET.parse(path).iter("testcase"):
        properties = _properties(case)
        outcome, _ = _outcome(case, properties)
        found[f"{case.get('classname')}::{case.get('name')}"] = Verdict(outcome, properties.get("known_defect", ""))
    return found


def verdict_differences(a: dict[str, Verdict], b: dict[str, Verdict]) -> list[tuple[str, str, str]]:
    """(test, verdict in a, verdict in b) for every test whose verdicts differ, a test missing from one run
    (shown as "absent") included; a failure or error in both runs is a difference too (parity of two broken
    runs proves nothing). Sorted by test id."""
    differences = []
    for test in sorted(a.keys() | b.keys()):
        left, right = a.get(test), b.get(test)
        broken = any(v is not None and v.outcome in ("failed", "error") for v in (left, right))
        if left is None or right is None or broken or not left.same_as(right):
            differences.append((test, str(left or "absent"), str(right or "absent")))
    return differences
