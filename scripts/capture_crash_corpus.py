#!/usr/bin/env python3
"""Capture real kernel crash reports for the golden corpus (testcases/unit/data/crash/).

For each LKDTM crash type, boots a fresh 1-node cluster with the given kernel (one that has LKDTM and
debugfs, e.g. the CI kernel), provokes the type through ``/sys/kernel/debug/provoke-crash/DIRECT`` and
waits until the report is complete: the node died, or a report ended (``---[ end trace``, ``</TASK>``)
and the console was then quiet for a few seconds, or the type's deadline passed. Writes the console
output printed after the provocation to ``OUT/<TYPE>.log`` and what happened to ``OUT/summary.json``
(node alive afterwards, taint, seconds, why the wait ended). The corpus titles are checked by reading
the logs: the corpus files are written by hand from these captures (header ``TITLE:``/``TYPE:``, blank line, the log). Usage:

    python3 scripts/capture_crash_corpus.py --kernel ARTIFACT_DIR [--out DIR] [--accel tcg] [TYPE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.cluster.cluster import Cluster  # noqa: E402
from harness.crash import lkdtm  # noqa: E402
from harness.crash.watch import wait_quiet  # noqa: E402
from harness.cluster.spec import ClusterSpec  # noqa: E402

#: Types captured by default, and how long to wait for each (seconds; detectors need time).
DEFAULT_TYPES = {
    "BUG": 30, "WARNING": 30, "WARNING_MESSAGE": 30, "EXCEPTION": 30, "PANIC": 30,
    "SOFTLOCKUP": 120, "HARDLOCKUP": 90, "HUNG_TASK": 120, "SPINLOCKUP": 120, "LOOP": 120,
    "CORRUPT_LIST_ADD": 30, "CORRUPT_LIST_DEL": 30, "EXEC_NULL": 30, "ACCESS_NULL": 30,
    "ACCESS_USERSPACE": 30, "EXEC_USERSPACE": 30, "WRITE_RO": 30, "EXEC_DATA": 30,
    "UNALIGNED_LOAD_STORE_WRITE": 30, "DOUBLE_FAULT": 30, "CORRUPT_STACK": 30, "EXHAUST_STACK": 30,
    "REFCOUNT_INC_OVERFLOW": 30, "SLAB_FREE_DOUBLE": 30, "OVERFLOW_SIGNED": 30,
}
REPORT_ENDS = ("---[ end trace", "</TASK>", "---[ end Kernel panic")
QUIET = 5.0


def capture(kernel: str, accel: str, crashtype: str, deadline: float) -> tuple[str, dict]:
    """Boot a node, provoke ``crashtype``, return (console after the provocation, what happened)."""
    with Cluster(ClusterSpec(nodes=1, kernel=kernel, accel=accel)) as cluster:
        node = cluster.nodes[0]
        if crashtype not in lkdtm.available_types(node):
            return "", {"error": "type not offered by this kernel"}
        start = len(node.console_text())
        started = time.monotonic()
        lkdtm.provoke(node, crashtype)
        until = started + deadline
        ended = "deadline"
        while time.monotonic() < until:
            text = node.console_text()[start:]
            if not node.alive():
                ended = "node died"
                break
            if any(marker in text for marker in REPORT_ENDS):
                wait_quiet(node, QUIET, until)
                ended = "report ended"
                break
            time.sleep(0.5)
        text = node.console_text()[start:]
        info = {"ended": ended, "seconds": round(time.monotonic() - started, 1), "alive": node.alive()}
        if node.alive():
            try:
                info["tainted"] = node.run("cat /proc/sys/kernel/tainted", timeout=20).stdout.strip()
            except Exception as exc:  # a locked-up node does not answer
                info["tainted"] = f"no answer: {str(exc).splitlines()[0]}"
        return text, info


def main(argv: list[str] | None = None) -> int:
    """Capture every requested type; print one line per type."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", required=True, help="kernel artifact dir with LKDTM (the CI kernel)")
    parser.add_argument("--out", default="crash-captures", help="output directory (default ./crash-captures)")
    parser.add_argument("--accel", default="auto", choices=("auto", "kvm", "tcg"))
    parser.add_argument("types", nargs="*", help=f"LKDTM types (default: {' '.join(DEFAULT_TYPES)})")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for crashtype in args.types or list(DEFAULT_TYPES):
        text, info = capture(args.kernel, args.accel, crashtype, DEFAULT_TYPES.get(crashtype, 60))
        (out / f"{crashtype}.log").write_text(text)
        summary[crashtype] = info
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{crashtype}: {info}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
