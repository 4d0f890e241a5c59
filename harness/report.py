"""Turn a pytest JUnit XML file into a summary: counts, failures, and a report file."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: JUnit child element -> outcome. pytest writes xfail as <skipped type="pytest.xfail">.
_OUTCOMES = {"failure": "failed", "error": "error", "skipped": "skipped"}


@dataclass
class Summary:
    """Outcome counts of a run and the failed tests with their first message line."""

    counts: dict[str, int] = field(default_factory=lambda: {k: 0 for k in ("passed", "failed", "error", "skipped", "xfailed")})
    failures: list[tuple[str, str]] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of test cases."""
        return sum(self.counts.values())

    def line(self) -> str:
        """A one-line summary: '12 passed, 0 failed, 3 skipped, 1 xfailed, 0 error'."""
        c = self.counts
        return f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped, {c['xfailed']} xfailed, {c['error']} error"


def _outcome(case: ET.Element) -> tuple[str, str]:
    for child in case:
        outcome = _OUTCOMES.get(child.tag)
        if outcome:
            message = (child.get("message") or child.text or "").strip().splitlines()
            if outcome == "skipped" and child.get("type") == "pytest.xfail":
                outcome = "xfailed"
            return outcome, message[0] if message else ""
    return "passed", ""


def summarize_junit(path: Path) -> Summary:
    """Read a JUnit XML file written by pytest."""
    summary = Summary()
    for case in ET.parse(path).iter("testcase"):
        outcome, message = _outcome(case)
        summary.counts[outcome] += 1
        name = f"{case.get('classname')}::{case.get('name')}"
        if outcome in ("failed", "error"):
            summary.failures.append((name, message))
        elif outcome == "skipped":
            summary.skip_reasons[message] = summary.skip_reasons.get(message, 0) + 1
    return summary


def write_report(directory: Path, summary: Summary, meta: dict) -> Path:
    """Write ``report.json`` (summary plus run metadata) into ``directory``; return its path."""
    path = directory / "report.json"
    path.write_text(json.dumps({"meta": meta, **asdict(summary), "total": summary.total}, indent=1) + "\n")
    return path
