"""Unit tests of the verdict on a check program's run (harness.guest.programs.judge): each failure kind gives its
sign, a clean run passes."""

from __future__ import annotations

import json

import pytest

from harness.guest.protocol import judge, parse_checks


def plan(*names: str) -> str:
    return json.dumps({"plan": list(names)})


def check(name: str, ok: bool = True, node: int = 0, expected: str = "e", got: str = "g") -> str:
    return json.dumps({"check": name, "node": node, "ok": ok, "expected": expected, "got": got})


def output(*lines: str) -> str:
    return "\n".join(lines) + "\n"


CLEAN = output(plan("a", "b_1"), check("a"), "some other line", check("b_1", node=1))


def test_a_clean_run_passes():
    verdict = judge(CLEAN, 0, 0, program="pcn_x")
    assert verdict.ok
    assert verdict.signs() == [] and verdict.problems() == []
    assert verdict.plan == ("a", "b_1")
    assert [c.check for c in verdict.checks] == ["a", "b_1"]


def test_the_expected_exit_code_is_what_counts():
    assert judge(CLEAN, 7, 7).ok
    verdict = judge(CLEAN, 0, 7, stderr="boom", program="pcn_exit")
    assert verdict.signs() == ["exit:0"]
    assert verdict.problems() == ["pcn_exit exited 0 (expected 7); stderr: 'boom'"]


@pytest.mark.parametrize("code", [124, -1, 2])
def test_a_wrong_exit_code_is_its_sign(code):
    assert judge(CLEAN, code, 0).signs() == [f"exit:{code}"]


def test_a_failed_check_names_check_node_expected_and_got():
    out = output(plan("a", "b_1"), check("a"), check("b_1", ok=False, node=1, expected="0", got="EINVAL"))
    verdict = judge(out, 0)
    assert verdict.signs() == ["check:b_1"]
    assert verdict.problems() == ["check b_1 on node1: expected 0, got EINVAL"]
    assert verdict.problems(["alpha", "beta"]) == ["check b_1 on beta: expected 0, got EINVAL"]


def test_a_planned_check_missing():
    verdict = judge(output(plan("a", "b_1"), check("a")), 0, program="pcn_x")
    assert verdict.signs() == ["missing:b_1"]
    assert verdict.problems() == ["check b_1 missing from the output of pcn_x"]


def test_a_check_printed_twice():
    verdict = judge(output(plan("a", "b_1"), check("a"), check("b_1"), check("a")), 0)
    assert verdict.signs() == ["duplicate:a"]
    assert verdict.problems() == ["check a printed 2 times"]


def test_a_check_not_in_the_plan():
    verdict = judge(CLEAN + check("c") + "\n", 0, program="pcn_x")
    assert verdict.signs() == ["unexpected:c"]
    assert verdict.problems() == ["check c printed but not in the plan of pcn_x"]


@pytest.mark.parametrize("line", [
    '{"check": "a", "node": 0, "ok": tru',  # cut short
    '{"check": "a", "node": 0, "ok": 1, "expected": "", "got": ""}',  # ok not a boolean
    '{"check": "a", "node": "0", "ok": true}',  # node not a number
    '{"plan": "a b_1"}',  # plan not a list
    '{"nr": 437, "ret": 0}',  # some other object
    '{not json at all',
    '{"check": "a", "node": 0, "ok": true, "got": ' + "[" * 100_000 + "]" * 100_000 + "}",  # deeper than json's stack
    '{"check": ["a"], "node": 0, "ok": true}',  # name not a string
    '{"check": "a", "node": 0, "ok": true, "got": {"x": 1}}',  # got not a string
])
def test_a_malformed_line(line):
    verdict = judge(CLEAN + line + "\n", 0)
    assert verdict.signs() == ["malformed"]
    assert verdict.problems() == [f"malformed line: {line[:200]!r}"]


def test_a_line_not_starting_with_a_brace_is_not_judged():
    assert judge(CLEAN + 'text {"check": broken\n', 0).ok


def test_no_plan():
    verdict = judge(output(check("a"), check("b", ok=False)), 0, program="pcn_x")
    assert verdict.signs() == ["check:b", "no-plan"]  # without a plan nothing is missing or unexpected
    assert "pcn_x printed no plan" in verdict.problems()


def test_an_empty_output_has_no_plan():
    verdict = judge("", 0, program="pcn_x")
    assert verdict.signs() == ["no-plan"]
    assert verdict.problems() == ["pcn_x printed no plan and no checks"]


def test_an_empty_plan_checks_nothing():
    assert judge(output(plan()), 0).signs() == ["no-plan"]


def test_two_plans_are_malformed():
    verdict = judge(output(plan("a", "b_1"), check("a"), check("b_1"), plan("a")), 0, program="pcn_x")
    assert verdict.signs() == ["malformed"]
    assert verdict.problems() == ["pcn_x printed 2 plans"]


def test_a_plan_naming_a_check_twice_is_malformed():
    assert judge(output(plan("a", "a"), check("a")), 0).signs() == ["malformed", "no-plan"]


def test_the_watchdog_is_always_allowed_and_always_a_failure():
    out = output(plan("a", "b_1"), check("a"), check("watchdog", ok=False, got="still running after 90s"))
    assert judge(out, 124).signs() == ["check:watchdog", "exit:124", "missing:b_1"]


def test_a_record_overflow_is_always_allowed_and_always_a_failure():
    out = CLEAN + check("record_overflow", ok=False, got="300 checks recorded, 44 dropped") + "\n"
    verdict = judge(out, 0)
    assert verdict.signs() == ["check:record_overflow"]
    assert verdict.problems() == ["check record_overflow on node0: expected e, got 300 checks recorded, 44 dropped"]


def test_signs_are_sorted_and_unique():
    out = output(plan("a", "b", "c"), check("b", ok=False), check("b", ok=False), check("z"), "{x")
    verdict = judge(out, 3)
    assert verdict.signs() == ["check:b", "duplicate:b", "exit:3", "malformed", "missing:a", "missing:c",
                               "unexpected:z"]
    assert len(verdict.problems()) == 8  # each failed line, then one per other problem


def test_parse_checks_reads_the_well_formed_check_lines():
    out = CLEAN + '{"check": "cut' + "\n"
    assert [(c.check, c.node, c.ok) for c in parse_checks(out)] == [("a", 0, True), ("b_1", 1, True)]
