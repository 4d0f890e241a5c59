"""The guest programs' side of the check protocol, run on the host (no VM, no Popcorn): every mode of
every check program declares a plan the verdict accepts; placeholders expand for the node count; the
inversion switch, the record overflow and the watchdog show in the verdict's signs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.guest.programs import build_guest_programs, invert_check
from harness.guest.protocol import judge
from harness.popcorn.payload import POPCORN_GUEST_DIR, build_popcorn_programs
from support import GUEST_PROGRAMS

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

#: The suite's programs, which print checks (the probe, pcn_probe, prints one JSON object for the bring-up).
CHECK_PROGRAMS = sorted(p.stem for p in GUEST_PROGRAMS.glob("pcn_*.c"))


@pytest.fixture(scope="module")
def programs() -> dict[str, Path]:
    return build_popcorn_programs(GUEST_PROGRAMS)


def run(binary: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def modes_of(binary: Path) -> list[str]:
    """The modes a program names when asked for an unknown one."""
    proc = run(binary, "no-such-mode", "0", "2")
    assert proc.returncode == 2 and proc.stdout == ""
    found = re.search(r"modes: (.*)", proc.stderr)
    assert found, proc.stderr
    return found.group(1).split()


def plan_of(binary: Path, mode: str, origin: int = 0, nodes: int = 2, env: dict[str, str] | None = None):
    proc = run(binary, mode, str(origin), str(nodes), env={"PHC_PLAN_ONLY": "1", **(env or {})})
    verdict = judge(proc.stdout, proc.returncode, 0, proc.stderr)
    assert proc.returncode == 0 and verdict.plan is not None, (proc.stdout, proc.stderr)
    if not verdict.plan:  # a mode about other nodes on a 1-node cluster: the verdict fails such a run
        assert nodes == 1 and verdict.signs() == ["no-plan"], (proc.stdout, proc.stderr)
        return verdict.plan
    # exactly one well-formed plan, nothing else printed: every planned check is missing, nothing more
    assert verdict.signs() == sorted(f"missing:{name}" for name in verdict.plan), verdict.problems()
    return verdict.plan


def test_the_check_programs_are_the_ones_the_self_test_covers():
    from testcases.popcorn.test_suite_self_check import CASES

    assert sorted(case[0] for case in CASES) == CHECK_PROGRAMS


@pytest.mark.parametrize("program", CHECK_PROGRAMS)
def test_every_mode_declares_a_plan(programs, program):
    for mode in modes_of(programs[program]):
        for origin, nodes in ((0, 1), (0, 2), (1, 4)):
            names = plan_of(programs[program], mode, origin, nodes)
            assert names or nodes == 1, (mode, origin, nodes)
            assert all(re.fullmatch(r"[a-z0-9_]+", name) for name in names), names
            assert not {"watchdog", "record_overflow"} & set(names)


def test_placeholders_expand_for_the_nodes(programs):
    plan = plan_of(programs["pcn_migrate"], "roundtrip", origin=1, nodes=3)
    assert [n for n in plan if n.startswith("callee_saved_intact_on_")] == ["callee_saved_intact_on_0",
                                                                           "callee_saved_intact_on_2"]
    assert plan[0] == "status_before" and len(plan) == 1 + 12 * 2
    plan = plan_of(programs["pcn_node_info"], "info", env={"PCN_MAX_NODES": "4"})
    assert plan == ("node_info_returns_0", "node_info_my_nid", "node_info_entries_written",
                    *(f"node_info_entry_{i}" for i in range(4)))
    assert plan_of(programs["pcn_futex"], "pthread", nodes=1) == ("participants_joined", "mutex_counter",
                                                                   "condvar_turns", "barrier_rounds")


def test_the_self_test_inverts_planned_checks(programs):
    from testcases.popcorn.test_suite_self_check import CASES

    for program, mode, _extra, check, _timeout in CASES:
        assert check in plan_of(programs[program], mode), (program, mode, check)


# -- a program of our own on the same headers ---------------------------------------------------------

PROGRAM = r'''
#include "program.h"
#include "thread.h"

static void mode_pass(void)
{
	char name[32];
	int d;

	phc_check("direct", 1, "1", "%d", 1);
	for (d = 0; d < phc_nr_nodes; d++)
		if (d != phc_origin) {
			snprintf(name, sizeof(name), "recorded_%d", d);
			phc_record(name, d, 1, "1", "%d", 1);
		}
}

static void mode_overflow(void)
{
	char name[32];
	int i;

	for (i = 0; i < phc_max_nodes; i++) {
		snprintf(name, sizeof(name), "n_%d", i);
		phc_record(name, phc_origin, 1, "1", "1");
	}
}

static void mode_hang(void)
{
	phc_check("before", 1, "1", "1");
	phc_record("recorded_before_the_hang", phc_origin, 1, "1", "1");
	sleep(30);
	phc_check("after", 1, "1", "1");
}

static int sleeper(void *arg)
{
	struct timespec ts = { .tv_sec = (long)(intptr_t)arg };

	phc_raw_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0);
	return 0;
}

/* A thread that outlives the wait for it, and one that does not: where each is. */
static void mode_lost(void)
{
	struct phc_thread asleep = { 0 }, done = { 0 };
	char where[160];
	int ret;

	phc_thread_start(&asleep, sleeper, (void *)(intptr_t)30);
	phc_thread_start(&done, sleeper, (void *)(intptr_t)0);
	ret = phc_thread_wait_exit(&asleep, 1, 10); /* before the look: an argument's order is not C's to keep */
	phc_check("asleep", ret == -ETIMEDOUT, "ETIMEDOUT", "%s", phc_thread_whereabouts(&asleep, where, sizeof(where)));
	ret = phc_thread_join(&done, 5);
	phc_check("done", ret == 0, "0", "%s", phc_thread_whereabouts(&done, where, sizeof(where)));
}

static const struct phc_mode modes[] = {
	{ "lost", mode_lost, "asleep done" },
	{ "pass", mode_pass, "direct recorded_{other}" },
	{ "overflow", mode_overflow, "n_{slot}" },
	{ "hang", mode_hang, "before recorded_before_the_hang after" },
	{ "bad", mode_pass, "direct recorded_{nodes}" },
};

int main(int argc, char **argv)
{
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 2);
}
'''


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """The guest headers and our program, in a source directory of their own."""
    directory = tmp_path_factory.mktemp("guest")
    for header in POPCORN_GUEST_DIR.glob("*.h"):
        shutil.copy(header, directory)
    (directory / "phc_selftest.c").write_text(PROGRAM)
    return directory


def build(sources: Path, cache: Path, *defines: str) -> Path:
    return build_guest_programs(sources, cache, defines=defines)["phc_selftest"]


def judged(binary: Path, mode: str, expect_exit: int = 0, env: dict[str, str] | None = None):
    proc = run(binary, mode, "0", "3", env=env)
    return judge(proc.stdout, proc.returncode, expect_exit, proc.stderr, "phc_selftest")


def test_a_program_that_keeps_its_plan_passes(sources, tmp_path):
    verdict = judged(build(sources, tmp_path), "pass")
    assert verdict.ok, verdict.problems()
    assert verdict.plan == ("direct", "recorded_1", "recorded_2")
    assert [(c.check, c.node) for c in verdict.checks] == [("direct", 0), ("recorded_1", 1), ("recorded_2", 2)]


def test_the_inversion_switch_fails_exactly_that_check(sources, tmp_path):
    direct = build(sources, tmp_path, invert_check("direct"))
    recorded = build(sources, tmp_path, invert_check("recorded_2"))
    assert direct != recorded  # the defines are part of the cache key
    assert judged(direct, "pass").signs() == ["check:direct"]
    assert judged(recorded, "pass").signs() == ["check:recorded_2"]
    assert judged(build(sources, tmp_path), "pass").ok  # and the plain build is still there, passing


def test_a_record_overflow_is_reported(sources, tmp_path):
    verdict = judged(build(sources, tmp_path), "overflow", env={"PCN_MAX_NODES": "300"})
    assert verdict.signs() == ["check:record_overflow"] + sorted(f"missing:n_{i}" for i in range(256, 300))
    overflow = [c for c in verdict.checks if c.check == "record_overflow"]
    assert len(overflow) == 1 and overflow[0].got == "300 checks recorded, 44 dropped"
    assert judged(build(sources, tmp_path), "overflow", env={"PCN_MAX_NODES": "256"}).ok


def test_the_watchdog_flushes_what_was_recorded_and_exits_124(sources, tmp_path):
    verdict = judged(build(sources, tmp_path), "hang")
    assert verdict.signs() == ["check:watchdog", "exit:124", "missing:after"]
    assert "check watchdog on node0: expected program finished in time, got still running after 2s" in verdict.problems()


def test_a_thread_lost_in_the_kernel_is_shown_where_it_waits(sources, tmp_path):
    """The whereabouts a failed wait prints (pcn_migrate's thread_joined_for_N, P16): the lost thread's
    tid, scheduler state and wait channel; a thread that has exited says so."""
    verdict = judged(build(sources, tmp_path), "lost")
    assert verdict.ok, verdict.problems()
    got = {c.check: c.got for c in verdict.checks}
    assert re.fullmatch(r"tid \d+: state S, wchan \w*nanosleep\w*", got["asleep"]), got
    assert got["done"] == "exited"


def test_an_unknown_placeholder_is_a_usage_error_before_any_output(sources, tmp_path):
    proc = run(build(sources, tmp_path), "bad", "0", "2")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "invalid placeholder" in proc.stderr
    assert judge(proc.stdout, proc.returncode).signs() == ["exit:2", "no-plan"]


def test_workers_building_the_same_programs_at_once_get_one_whole_set(tmp_path):
    """xdist workers build the guest programs at the same moment: each compiles on its own and one set
    is renamed into place; every caller gets working binaries and nothing half-built is left."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("one", "two"):
        (source / f"{name}.c").write_text(f'#include <stdio.h>\nint main(void) {{ puts("{name}"); return 0; }}\n')
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: build_guest_programs(source, cache=tmp_path / "cache"), range(4)))
    assert all(result == results[0] for result in results)
    assert [subprocess.run([str(results[0][n])], capture_output=True, text=True).stdout for n in ("one", "two")] \
        == ["one\n", "two\n"]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [results[0]["one"].parent.name]
