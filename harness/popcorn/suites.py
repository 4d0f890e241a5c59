"""The suites of the test tree that the main job (``popcorn-harness run``) runs and reports: which paths
each choice of ``--suites`` runs, and the suite each test counts in (the Popcorn suites judge the kernel).
"""

from __future__ import annotations

#: ``--suites`` choice -> the paths (from the checkout's top) pytest runs.
SUITE_PATHS = {
    "kernel": ("testcases/popcorn", "testcases/stress", "testcases/test_popcorn_detection.py",
               "testcases/test_crash_detection.py"),
    "all": ("testcases",),
}

#: Suites, first match wins: (prefix of the JUnit classname, suite name). Popcorn suites judge the kernel.
SUITES: tuple[tuple[str, str], ...] = (
    ("testcases.popcorn.test_suite_self_check", "popcorn self-check"),
    ("testcases.popcorn.test_verdicts", "popcorn self-check"),
    ("testcases.popcorn.", "popcorn conformance"),
    ("testcases.stress.test_popcorn_faults", "popcorn faults"),
    ("testcases.stress.", "popcorn stress"),
    ("testcases.test_popcorn_detection", "popcorn detection"),
    ("testcases.test_crash_detection", "crash detection"),
    ("testcases.unit.", "harness unit"),
    ("testcases.kernel.", "kernel builder"),
    ("testcases.", "harness"),
)
#: The suites whose tests run on the Popcorn mesh: the kernel is judged by them.
POPCORN_SUITES = ("popcorn conformance", "popcorn stress", "popcorn faults", "popcorn detection", "popcorn self-check")


def suite_of(classname: str) -> str:
    """The suite a JUnit classname (``testcases.popcorn.test_exit``) belongs to."""
    return next((suite for prefix, suite in SUITES if classname.startswith(prefix)), "other")
