"""Pure logic of a user's own program: ``cluster up --add`` values, ``cc``'s gcc command, the exit code of
``cluster run``, and ``cluster cp``'s NODE:PATH."""

import pytest

from harness.cli.cluster import _remote
from harness.crash.finding import Finding
from harness.errors import UsageError
from harness.guest.programs import compile_command
from harness.popcorn.own_program import EXIT_KERNEL_FINDING, EXIT_TIMEOUT, ProgramRun, parse_add


def test_add_takes_a_file_and_an_absolute_guest_path(tmp_path):
    local = tmp_path / "data.bin"
    local.write_bytes(b"x")
    assert parse_add(str(local)) == (str(local), "/root/data.bin")
    assert parse_add(f"{local}:/opt/x/../y/data") == (str(local), "/opt/y/data")
    for bad in (str(tmp_path), str(tmp_path / "nope"), f"{local}:relative", f"{local}:/dir/"):
        with pytest.raises(UsageError):
            parse_add(bad)


def test_cc_adds_the_guest_needs_before_and_the_runtime_only_when_linking(tmp_path):
    runtime = [tmp_path / "rt.c"]
    linked = compile_command(["-O2", "-o", "demo", "demo.c"], [tmp_path], runtime)
    assert linked == ["gcc", "-static", "-pthread", "-D_GNU_SOURCE", f"-I{tmp_path}", "-O2", "-o", "demo", "demo.c",
                      str(runtime[0])]
    assert compile_command(["-c", "demo.c"], [tmp_path], runtime)[-1] == "demo.c"


@pytest.mark.parametrize("run, code", [
    (ProgramRun("p", 0), 0),
    (ProgramRun("p", 7), 7),
    (ProgramRun("p", None, timed_out=True), EXIT_TIMEOUT),
    (ProgramRun("p", None, error="SSH connection lost"), EXIT_KERNEL_FINDING),
    (ProgramRun("p", 0, findings=[Finding("WARNING in f", "warning", node="node1")]), EXIT_KERNEL_FINDING),
    (ProgramRun("p", None, timed_out=True, findings=[Finding("x", "hang", node="node0")]), EXIT_KERNEL_FINDING),
])
def test_cluster_run_exit_code(run, code):
    assert run.exit_status() == code
    assert run.ok == (code == 0)


def test_a_run_that_did_not_end_says_where_it_waits():
    run = ProgramRun("p", None, timed_out=True, stuck=["node0: p[57] in __start_fault_handling"])
    assert run.summary() == "p: did not end in time (stuck in the kernel: node0: p[57] in __start_fault_handling); " \
                            "no kernel finding"
    assert ProgramRun("p", None, timed_out=True).summary() == "p: did not end in time; no kernel finding"


def test_node_path_of_cp():
    assert _remote("node1:/root/x") == ("node1", "/root/x")
    assert _remote("all:/tmp/") == ("all", "/tmp/")
    assert _remote("2:/a") == ("2", "/a")
    assert _remote("/tmp/local") is None and _remote("node1:relative") is None and _remote("host:/x") is None
