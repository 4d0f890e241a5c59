"""Scenario tests for the suite's own verdicts, run in a nested pytest by ``testcases/popcorn/test_verdicts.py``
on a Popcorn kernel (never collected by the main run). Each takes the real table entry of known defect P11
(MADV_RELEASE of an unmapped range at a remote node returns 0) as its ``known_failure``."""

import pytest

from popcorn.checks import run_checks
from popcorn.known_defects import KNOWN_FAILURES

P11 = next(k for k in KNOWN_FAILURES if k.test == "test_madv_release_invalid_arguments")


@pytest.mark.known_failure(P11)
@pytest.mark.nodes(2)
def test_known_defect_with_its_symptom(popcorn):
    """The real P11 case: it fails with exactly the known symptom, so it is an expected failure."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_madvise", "errors", "0", str(len(popcorn.nodes)), timeout=90)


@pytest.mark.known_failure(P11)
@pytest.mark.nodes(2)
def test_known_defect_test_failing_another_way(popcorn):
    """A test with P11's entry that fails for another reason (a command exits 3): a failure, not an xfail."""
    popcorn.nodes[0].succeed("exit 3")


@pytest.mark.known_failure(P11)
@pytest.mark.nodes(2)
def test_known_defect_test_that_passes(popcorn):
    """A test with P11's entry that passes (node info on two nodes): XPASS(strict), a failure."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_node_info", "info", "0", str(len(popcorn.nodes)), timeout=90)


@pytest.mark.nodes(2)
def test_popcorn_test_that_skips_itself(popcorn):
    """The only Popcorn test of a run, and it judges nothing: a run with no Popcorn test."""
    pytest.skip("this scenario skips on purpose")
