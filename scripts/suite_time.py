#!/usr/bin/env python3
"""Where a test run's time went, from its JUnit XML (``popcorn-harness run`` writes artifacts/junit.xml).

For each file: the run's wall time, the tests' summed time (setup, call and teardown: pytest's JUnit time)
and what that means in parallelism, then the summed time split into getting clusters (property
``harness_boot_s``: boot, mesh, snapshot; or the restore of a cluster the pool had parked, property
``cluster_switch``), the pool's work after each test (``harness_after_s``: artifacts,
health check, restores or reboots), the tests that ended on a hang or a timeout sign (their known
symptom holds ``timeout:`` or ``hang:``: the waits on hangs) and the rest (test bodies); per suite; and the
slowest tests. Give one file per ``-n`` to compare worker counts. Usage:

    python3 scripts/suite_time.py JUNIT.xml [JUNIT.xml ...] [--top 10]
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.popcorn.suites import suite_of  # noqa: E402


def summarize(path: Path, top: int) -> list[str]:
    """The lines for one JUnit file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    wall = sum(float(s.get("time", 0)) for s in suites)
    cases = [c for s in suites for c in s.iter("testcase")]
    total = boot = after = hung = 0.0
    boots = restored = unparked = 0
    per_suite: Counter = Counter()
    timed = []
    for case in cases:
        seconds = float(case.get("time", 0))
        props = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        total += seconds
        per_suite[suite_of(case.get("classname", ""))] += seconds
        timed.append((seconds, f"{case.get('classname')}::{case.get('name')}"))
        if "harness_boot_s" in props:
            boot += float(props["harness_boot_s"])
            unparked += props.get("cluster_switch") == "restored"
            boots += props.get("cluster_switch") != "restored"
        after += float(props.get("harness_after_s", 0) or 0)
        restored += props.get("cluster_reset") == "restored"
        if any(sign in props.get("symptom_actual", "") for sign in ("timeout:", "hang:")):
            hung += seconds
    lines = [f"{path}: wall {wall:.0f} s, {len(cases)} tests, summed test time {total:.0f} s "
             f"(x{total / wall if wall else 0:.2f} in parallel)",
             f"  getting clusters     {boot:7.0f} s  ({boots} boot(s), mesh and snapshot included; "
             f"{unparked} parked cluster(s) restored)",
             f"  after each test      {after:7.0f} s  (artifacts, health checks, {restored} restore(s))",
             f"  tests ended on hangs {hung:7.0f} s  (known symptoms with timeout or hang signs, whole tests)",
             f"  the rest             {total - boot - after - hung:7.0f} s  (test bodies)",
             "  by suite: " + ", ".join(f"{name} {secs:.0f} s" for name, secs in per_suite.most_common())]
    lines.append(f"  slowest {top}:")
    lines += [f"    {secs:7.1f} s  {name}" for secs, name in sorted(timed, reverse=True)[:top]]
    return lines


def main() -> int:
    """Print the breakdown of every file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("junit", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    for path in args.junit:
        print("\n".join(summarize(path, args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
