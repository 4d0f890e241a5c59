"""The run summary is read from a JUnit file that a real pytest run wrote."""

import subprocess
import sys

from harness.junit import summarize_junit, write_report
from harness.popcorn.suites import suite_of

SAMPLE = '''
import pytest

def test_ok(): pass
def test_bad(): assert 1 == 2, "one is not two"
@pytest.mark.skip(reason="no popcorn kernel")
def test_skipped(): pass
@pytest.mark.xfail(strict=True, reason="known defect")
def test_known(): assert False
@pytest.fixture
def broken(): raise RuntimeError("setup exploded")
def test_error(broken): pass
def test_racy_passed(record_property):
    record_property("known_defect", "P16")
    record_property("known_defect_outcome", "xpassed")
    record_property("cluster_reset", "restored")
'''


def test_counts_failures_and_skip_reasons(tmp_path):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    junit = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-o", "addopts=",
                    "-c", "/dev/null", f"--junitxml={junit}", str(tmp_path / "test_sample.py")],
                   cwd=tmp_path, capture_output=True)
    summary = summarize_junit(junit)
    assert summary.counts == {"passed": 1, "failed": 1, "error": 1, "skipped": 1, "xfailed": 1, "xpassed": 1}
    assert summary.line() == "1 passed, 1 failed, 1 skipped, 1 xfailed, 1 xpassed, 1 error"
    assert summary.known_defects == [{"test": "::test_racy_passed", "defect": "P16", "outcome": "xpassed",
                                      "judged": "xpassed", "symptom_expected": "", "symptom_actual": "",
                                      "detail": ""}]
    assert summary.cluster_resets == {"restored": 1}
    assert summary.suites == {"other": summary.counts}  # by default, a test counts in its module's package
    assert summarize_junit(junit, suite_of).suites == {"other": summary.counts}
    assert [name.split("::")[-1] for name, _ in summary.failures] == ["test_bad", "test_error"]
    assert "one is not two" in summary.failures[0][1]
    assert list(summary.skip_reasons.values()) == [1] and "no popcorn kernel" in next(iter(summary.skip_reasons))
    report = write_report(tmp_path, summary, {"kernel": "k"})
    assert '"total": 6' in report.read_text()


def test_the_main_job_names_suites_by_path():
    assert suite_of("testcases.popcorn.test_exit") == "popcorn conformance"
    assert suite_of("testcases.popcorn.test_suite_self_check") == "popcorn self-check"
    assert suite_of("testcases.stress.test_popcorn_faults") == "popcorn faults"
    assert suite_of("testcases.unit.test_spec") == "harness unit"
