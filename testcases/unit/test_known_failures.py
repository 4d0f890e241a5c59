"""Known failures are judged by their symptom: the signs of a failure must be exactly the known ones."""

import pytest

from harness.errors import CommandTimeout, InfraError
from harness.pytest.known_failures import (BUILD_KINDS, Defect, Evidence, FailedExpectation, KnownFailure, Symptom,
                                          build_kind, exception_signs, expect, table_by_test)

DEFECT = Defect("P99", "a test defect", "detail")
SPIN = KnownFailure("test_x", DEFECT, Symptom((r"check:watchdog",), (r"exit:124", r"finding:node0:INFO: rcu .*")),
                    (Evidence(3, 3, "key"),))


@pytest.mark.parametrize("signs", [
    ["check:watchdog"],
    ["check:watchdog", "exit:124"],
    ["check:watchdog", "exit:124", "finding:node0:INFO: rcu detected stall in __process_remote_works"],
])
def test_the_known_signs_are_an_expected_failure(signs):
    assert SPIN.verdict(False, signs) == ("xfailed", "P99 a test defect")


@pytest.mark.parametrize("signs, why", [
    (["exit:124"], "no sign matches 'check:watchdog'"),
    (["check:watchdog", "check:other"], "unexpected sign 'check:other'"),
    (["check:watchdog", "timeout:node0"], "unexpected sign 'timeout:node0'"),
    (["check:watchdog", "error:RuntimeError"], "unexpected sign 'error:RuntimeError'"),
    (["check:watchdog", "finding:node1:INFO: rcu detected stall in x"], "unexpected sign"),
    ([], "no sign matches"),
])
def test_any_other_failure_is_a_failure_with_both_symptoms(signs, why):
    outcome, text = SPIN.verdict(False, signs)
    assert outcome == "mismatch"
    assert why in text
    assert "expected symptom: check:watchdog (may also show: exit:124" in text
    assert "actual symptom:   " + (" + ".join(signs) or "(none)") in text


def test_a_pass_is_strict_unless_racy():
    assert SPIN.verdict(True, [])[0] == "xpass-strict"
    racy = KnownFailure("test_x", DEFECT, SPIN.symptom, racy=True)
    assert racy.verdict(True, [])[0] == "xpassed"
    assert racy.verdict(False, ["check:other"])[0] == "mismatch"


TWO_FACES = KnownFailure("test_w", DEFECT, Symptom((r"(timeout|infra):node0",), (r"check:watchdog",)),
                         alternatives=(Symptom((r"check:joined_[1-3]", r"missing:back_from_[1-3]")),), racy=True)


@pytest.mark.parametrize("signs", [
    ["timeout:node0"], ["infra:node0", "check:watchdog"],  # the first face
    ["check:joined_2", "missing:back_from_2"],  # the second
])
def test_a_failure_with_any_of_its_known_symptoms_is_expected(signs):
    assert TWO_FACES.verdict(False, signs)[0] == "xfailed"


@pytest.mark.parametrize("signs", [
    ["check:joined_2"],  # half of the second face
    ["check:joined_2", "missing:back_from_2", "check:watchdog"],  # the second face plus a sign only the first allows
    ["timeout:node0", "check:joined_2", "missing:back_from_2"],  # both faces at once: neither exactly
])
def test_a_mix_of_the_symptoms_is_no_known_one(signs):
    outcome, text = TWO_FACES.verdict(False, signs)
    assert outcome == "mismatch"
    assert ("expected symptom: (timeout|infra):node0 (may also show: check:watchdog), "
            "or else check:joined_[1-3] + missing:back_from_[1-3]") in text
    assert text.count("or else: ") == 1  # the differences from each symptom, one line each


def test_exception_signs():
    assert exception_signs(CommandTimeout("node1: `x` did not finish", node="node1")) == ["timeout:node1"]
    assert exception_signs(InfraError("node0: SSH connection lost", node="node0")) == ["infra:node0"]
    assert exception_signs(InfraError("no node")) == ["error:InfraError"]
    assert exception_signs(RuntimeError("x")) == ["error:RuntimeError"]
    with pytest.raises(FailedExpectation) as info:
        expect(False, "program_ended", "still running")
    assert exception_signs(info.value) == ["expect:program_ended"] and str(info.value) == "still running"
    expect(True, "never", "not raised")


def test_a_table_names_a_test_once():
    assert table_by_test([SPIN])["test_x"] is SPIN
    with pytest.raises(ValueError, match="listed twice"):
        table_by_test([SPIN, SPIN])


def test_a_builds_own_entry_wins_and_others_fall_back_to_the_entry_for_any_build():
    hung = KnownFailure("test_x", DEFECT, Symptom((r"finding:node0:INFO: task hung in \S+",)), build="detectors")
    only_there = KnownFailure("test_y", DEFECT, Symptom(("check:y",)), build="detectors")
    table = [SPIN, hung, only_there]
    assert table_by_test(table)["test_x"] is SPIN and "test_y" not in table_by_test(table)
    assert table_by_test(table, "detectors")["test_x"] is hung
    assert table_by_test(table, "detectors")["test_y"] is only_there
    assert table_by_test([hung, SPIN], "detectors")["test_x"] is hung  # order does not matter
    with pytest.raises(ValueError, match="listed twice for detectors"):
        table_by_test([hung, hung])
    with pytest.raises(ValueError, match="unknown build kind"):
        table_by_test([KnownFailure("test_z", DEFECT, SPIN.symptom, build="kasan")])


def test_the_build_kind_comes_from_the_options_that_change_symptoms():
    detectors = {option: "y" for option in BUILD_KINDS["detectors"]}
    assert build_kind(detectors) == "detectors"
    assert build_kind({**detectors, "CONFIG_PROVE_LOCKING": "n"}) == ""
    assert build_kind({}) == ""


def test_every_popcorn_entry_has_a_symptom_and_evidence_and_names_a_collected_test():
    import subprocess
    import sys
    from pathlib import Path

    from popcorn.known_defects import DETECTORS, KNOWN_FAILURES, REFERENCE

    root = Path(__file__).resolve().parents[2]
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                                "testcases/popcorn", "testcases/stress"], cwd=root, capture_output=True,
                               text=True).stdout
    names = {line.split("::")[-1] for line in collected.splitlines() if "::" in line}
    for known in KNOWN_FAILURES:
        assert known.test in names, f"{known.test} (known defect {known.defect.id}) is not a collected test"
        assert known.symptom.required, f"{known.test}: a known failure needs a required sign"
        assert sum(e.seen for e in known.evidence) >= 1, f"{known.test}: no run that showed the symptom"
        assert all(e.tried >= e.seen >= 0 for e in known.evidence), known.test
        assert any(e.kernel == {"": REFERENCE, "detectors": DETECTORS}[known.build] for e in known.evidence), known.test


STUCK_AT_PEER = KnownFailure("test_y", DEFECT, Symptom((r"timeout:node0", r"stuck:node1:__start_fault_handling")))


def test_a_stuck_sign_an_entry_names_is_required():
    assert STUCK_AT_PEER.verdict(False, ["stuck:node1:__start_fault_handling", "timeout:node0"])[0] == "xfailed"
    outcome, text = STUCK_AT_PEER.verdict(False, ["timeout:node0", "stuck:node1:page_server_get_userpage"])
    assert outcome == "mismatch" and "no sign matches 'stuck:node1:__start_fault_handling'" in text
    assert STUCK_AT_PEER.symptom.names("stuck", "node1") and not STUCK_AT_PEER.symptom.names("stuck", "node0")
    assert STUCK_AT_PEER.symptom.seen_while_running()


def test_a_stuck_sign_no_entry_names_is_not_a_failure_of_its_own():
    assert SPIN.verdict(False, ["check:watchdog", "stuck:node1:futex_wait_queue_me"])[0] == "xfailed"
    assert SPIN.verdict(False, ["stuck:node1:futex_wait_queue_me"])[0] == "mismatch"
