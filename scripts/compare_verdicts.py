#!/usr/bin/env python3
"""Parity of two runs of the same suites (for instance on ``--backend qemu`` and ``--backend libvirt``):
every test must have the same verdict in both JUnit files. A known racy defect that showed in one run
and not in the other counts as the same verdict; a test absent from one run, or failed in either, does
not. Prints the counts of each run and every difference; exits 0 when there is none, 1 otherwise, 2 on
bad input. Usage:

    python3 scripts/compare_verdicts.py A.xml B.xml [--names qemu libvirt]
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.junit import verdict_differences, verdicts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Compare two JUnit files' verdicts; the exit code says whether they agree."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("junit", nargs=2, type=Path, help="the two runs' JUnit XML files")
    parser.add_argument("--names", nargs=2, default=("a", "b"), metavar=("A", "B"), help="what to call the runs")
    args = parser.parse_args(argv)
    runs = []
    for path in args.junit:
        try:
            runs.append(verdicts(path))
        except (OSError, ET.ParseError) as exc:
            print(f"compare_verdicts: cannot read {path}: {exc}", file=sys.stderr)
            return 2
    for name, found in zip(args.names, runs):
        counts = Counter(v.outcome for v in found.values())
        print(f"{name}: {len(found)} tests, " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    differences = verdict_differences(*runs)
    if not differences:
        print(f"same verdict for every test in {args.names[0]} and {args.names[1]}")
        return 0
    print(f"{len(differences)} tests differ ({args.names[0]} | {args.names[1]}):")
    for test, left, right in differences:
        print(f"  {test}: {left} | {right}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
