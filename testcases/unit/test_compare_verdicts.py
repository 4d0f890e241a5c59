"""Parity of two runs: scripts/compare_verdicts.py on JUnit files that real pytest runs wrote."""

import subprocess
import sys
from pathlib import Path

from harness.junit import Verdict, verdict_differences, verdicts

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_verdicts.py"

# Each test's outcome comes from the environment, so two runs of one file can differ where a test says.
SAMPLE = '''
import os
import pytest

RUN = os.environ["RUN"]

def test_same(): pass

@pytest.mark.skip(reason="no popcorn kernel")
def test_skipped(): pass

def test_racy(record_property):
    # a racy known defect: shown (xfailed) in run a, not in run b (xpassed)
    record_property("known_defect", "P16")
    record_property("known_defect_outcome", "xfailed" if RUN == "a" else "xpassed")
    if RUN == "a":
        pytest.xfail("P16")

def test_other_defect(record_property):
    record_property("known_defect", "P05" if RUN == "a" else "P06")
    record_property("known_defect_outcome", "xfailed")
    pytest.xfail("known")

def test_fails_in_b():
    assert RUN == "a"

def test_fails_in_both():
    assert False

if RUN == "a":
    def test_only_in_a(): pass
'''


def _pytest_junit(test_file: Path, junit: Path, env: dict[str, str] | None = None) -> Path:
    """Run pytest on ``test_file`` (in its directory, no project config); return the JUnit file it wrote."""
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-o", "addopts=",
                    "-c", "/dev/null", f"--junitxml={junit}", str(test_file)],
                   cwd=test_file.parent, capture_output=True, env=env)
    return junit


def _junit(tmp_path: Path, run: str) -> Path:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    return _pytest_junit(tmp_path / "test_sample.py", tmp_path / f"{run}.xml", {"RUN": run, "PATH": "/usr/bin:/bin"})


def test_racy_defect_is_one_verdict_and_every_other_difference_is_named(tmp_path):
    a, b = verdicts(_junit(tmp_path, "a")), verdicts(_junit(tmp_path, "b"))
    assert a["::test_racy"] == Verdict("xfailed", "P16") and b["::test_racy"] == Verdict("xpassed", "P16")
    assert verdict_differences(a, b) == [
        ("::test_fails_in_b", "passed", "failed"),
        ("::test_fails_in_both", "failed", "failed"),
        ("::test_only_in_a", "passed", "absent"),
        ("::test_other_defect", "xfailed (P05)", "xfailed (P06)"),
    ]
    assert verdict_differences(a, a) == [("::test_fails_in_both", "failed", "failed")]


def test_xpassed_without_a_defect_is_not_an_xfail():
    assert not Verdict("xpassed").same_as(Verdict("xfailed"))
    assert not Verdict("passed", "P16").same_as(Verdict("xfailed", "P16"))


def test_script_exit_codes(tmp_path):
    a, b = _junit(tmp_path, "a"), _junit(tmp_path, "b")
    run = lambda *args: subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)
    differ = run(a, b, "--names", "qemu", "libvirt")
    assert differ.returncode == 1
    assert "4 tests differ (qemu | libvirt):" in differ.stdout
    assert "  ::test_other_defect: xfailed (P05) | xfailed (P06)" in differ.stdout
    assert "qemu: 7 tests, 1 failed, 3 passed, 1 skipped, 2 xfailed" in differ.stdout
    assert "libvirt: 6 tests, 2 failed, 1 passed, 1 skipped, 1 xfailed, 1 xpassed" in differ.stdout
    (tmp_path / "bad.xml").write_text("<testsuite")
    bad = run(a, tmp_path / "bad.xml")
    assert bad.returncode == 2 and bad.stderr.startswith("compare_verdicts: cannot read ") and bad.stdout == ""


def test_script_agrees_on_equal_runs(tmp_path):
    sample = tmp_path / "ok"
    sample.mkdir()
    (sample / "test_ok.py").write_text("def test_ok(): pass\n")
    junit = _pytest_junit(sample / "test_ok.py", sample / "j.xml")
    done = subprocess.run([sys.executable, str(SCRIPT), str(junit), str(junit)], capture_output=True, text=True)
    assert done.returncode == 0 and "same verdict for every test in a and b" in done.stdout
