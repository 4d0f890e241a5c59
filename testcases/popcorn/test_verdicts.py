"""The suite's verdicts can be trusted (nested pytest runs on the Popcorn kernel under test):

- a known-defect test is an expected failure only with its known symptom: failing another way is a
  failure that shows both symptoms, and passing is XPASS(strict), a failure;
- a run on a kernel given as Popcorn in which no Popcorn test ran fails, with one line saying why;
- a kernel given as Popcorn that does not answer as Popcorn fails the Popcorn tests instead of
  skipping them (``--require-popcorn`` on a kernel that is not Popcorn: this one runs where the kernel
  under test is not Popcorn, the others where it is).
"""

from __future__ import annotations

import subprocess

import pytest

from harness.popcorn.claim import popcorn_claim
from harness.junit import case_outcomes, summarize_junit
from support import harness_env, new_tag, pytest_command

SCENARIO = "scenario_verdicts.py"


def _nested(kernel: str, tmp_path, *extra: str) -> tuple[subprocess.CompletedProcess, dict[str, tuple[str, str]]]:
    """Run the scenario file with ``extra`` arguments; return the process and name -> (outcome, message)."""
    artifacts = tmp_path / "artifacts"
    proc = subprocess.run(pytest_command(SCENARIO, kernel, artifacts, "-rA", *extra), env=harness_env(new_tag()),
                          capture_output=True, text=True, timeout=900)
    outcomes = case_outcomes(artifacts / "junit.xml")
    return proc, outcomes


@pytest.mark.xdist_group("verdicts-nested")
def test_a_known_defect_holds_only_with_its_symptom(popcorn_kernel, tmp_path):
    proc, outcomes = _nested(popcorn_kernel, tmp_path, "-k", "known_defect")
    log = proc.stdout[-4000:]
    assert proc.returncode == 1, log
    seen, other, passing = (outcomes[f"test_known_defect_{n}"] for n in
                            ("with_its_symptom", "test_failing_another_way", "test_that_passes"))
    assert seen[0] == "xfailed" and seen[1].startswith("P11 "), (seen, log)
    detail = next(d["detail"] for d in summarize_junit(tmp_path / "artifacts" / "junit.xml").known_defects
                  if d["outcome"] == "xfailed")
    assert "check remote_unmapped_range_enomem on node" in detail, detail  # the xfail keeps what the check got
    assert other[0] == "failed", (other, log)
    assert "not with the symptom of known defect P11" in other[1], other
    assert "expected symptom: check:remote_unmapped_range_enomem" in other[1], other
    assert "actual symptom:   error:InfraError" in other[1], other
    assert passing[0] == "failed" and "[XPASS(strict)] P11 " in passing[1], (passing, log)


@pytest.mark.xdist_group("verdicts-nested")
def test_a_run_with_no_popcorn_test_on_a_popcorn_kernel_fails(popcorn_kernel, tmp_path):
    proc, outcomes = _nested(popcorn_kernel, tmp_path, "-k", "skips_itself")
    assert outcomes == {"test_popcorn_test_that_skips_itself": ("skipped", outcomes["test_popcorn_test_that_skips_itself"][1])}
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "no Popcorn test ran (1 collected)" in proc.stdout, proc.stdout[-3000:]
    assert "the kernel is given as Popcorn (its modules include msg_layer/msg_socket.ko), so the run fails" \
        in proc.stdout, proc.stdout[-3000:]


@pytest.mark.xdist_group("verdicts-nested")
def test_a_kernel_given_as_popcorn_that_does_not_answer_fails_instead_of_skipping(kernel, tmp_path):
    """--require-popcorn on a kernel that is not Popcorn (the CI kernel): the Popcorn test fails with the
    probe's answer, and the run fails. (Runs where the kernel under test is not Popcorn.)"""
    if popcorn_claim(kernel):
        pytest.skip(f"needs a kernel that is not Popcorn: {kernel} is one")
    proc, outcomes = _nested(kernel, tmp_path, "-k", "with_its_symptom", "--require-popcorn")
    outcome, message = outcomes["test_known_defect_with_its_symptom"]
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert outcome == "error", (outcome, message)
    assert "the kernel is given as Popcorn (--require-popcorn) but does not answer as Popcorn: kernel " in message, message
    assert "is not a Popcorn kernel: syscall 437 is not Popcorn's get_node_info here" in message, message
