"""Unit tests of repro bundles: write/read round trip, what is copied, bad bundles, replay verdicts."""

import json
from types import SimpleNamespace

import pytest

from harness.crash.finding import Finding
from harness.errors import UsageError
from harness.pytest.artifacts import replay_inputs
from harness.repro.bundle import BUNDLE_JSON, REPO, Bundle, finding_dict, load_bundle, write_bundle
from harness.repro.replay import RunResult, pytest_command, reproduces, runnable_test, titles_seen
from harness.cluster.spec import ClusterSpec


class CrashFinding:
    """Stands in for the crash parser's Finding (title/type/node/test/excerpt, ``to_dict()``)."""

    def to_dict(self):
        return {"title": "BUG: KASAN: use-after-free in foo", "type": "KASAN", "node": "node0", "test": "t",
                "excerpt": "..."}


def _bundle(tmp_path, **changes):
    program = tmp_path / "build" / "pcn_migrate"
    program.parent.mkdir(exist_ok=True)
    program.write_bytes(b"\x7fELF fake")
    unused = tmp_path / "build" / "pcn_vma"
    unused.write_bytes(b"\x7fELF other")
    spec = ClusterSpec(nodes=2, kernel="/k/artifact", accel="tcg",
                       extra_files=((str(program), "/opt/phc/bin/pcn_migrate"), (str(unused), "/opt/phc/bin/pcn_vma")))
    data = dict(
        nodeid="testcases/popcorn/test_migrate.py::test_there_and_back[2]", spec=spec.to_dict(),
        kernel={"path": "/k/artifact", "release": "5.2.21", "manifest": {"key": "abc", "kernel_release": "5.2.21"}},
        commands={"node0": [{"at": 2.0, "command": "/opt/phc/bin/pcn_migrate --to 1", "timeout": 60, "exit_code": 1}],
                  "node1": [{"at": 1.0, "command": "insmod /lib/modules/x.ko", "timeout": 30, "exit_code": 0}]},
        findings=[Finding(title="kernel BUG at kernel/popcorn/page_server.c:623!", type="bug", node="node1", excerpt="..."),
                  {"title": "Kernel panic - not syncing: Fatal exception", "node": "node1"}, CrashFinding()],
        message="kernel failure on node1 during the test", seed=1234,
        faults=[{"at": 0.5, "kind": "partition", "nodes": ["node1"]}], popcorn={"available": True, "profile": "ssrg-5.2"},
        repo={"path": "/repo", "commit": "deadbeef", "dirty": False},
    )
    data.update(changes)
    data["findings"] = [finding_dict(f) for f in data["findings"]]
    return Bundle(**data)


def test_a_bundle_round_trips_through_its_directory(tmp_path):
    bundle = _bundle(tmp_path)
    path = write_bundle(bundle, tmp_path / "bundle", {"node0": "boot 0\n", "node1": "boot 1\nkernel BUG at ...\n"})
    for where in (path.parent, path, path.parent.parent):  # the dir, bundle.json, the test's artifacts dir
        loaded = load_bundle(where)
        assert loaded.to_dict() == bundle.to_dict()
        assert loaded.directory == path.parent.resolve()
    assert loaded.title == "kernel BUG at kernel/popcorn/page_server.c:623!"
    assert loaded.seed == 1234 and loaded.faults == [{"at": 0.5, "kind": "partition", "nodes": ["node1"]}]
    assert [f["title"] for f in loaded.findings][2] == "BUG: KASAN: use-after-free in foo"
    assert loaded.cluster_spec() == ClusterSpec.from_dict(bundle.spec)
    assert (path.parent / "node1.console.log").read_text().endswith("kernel BUG at ...\n")
    assert loaded.consoles == {"node0": "node0.console.log", "node1": "node1.console.log"}
    readme = (path.parent / "README").read_text()
    assert f"popcorn-harness repro {path.parent.resolve()} --runs" in readme and "--shell" in readme
    on_disk = json.loads(path.read_text())
    assert on_disk["format"] == 1 and on_disk["title"] == loaded.title and on_disk["kernel"]["manifest"]["key"] == "abc"


def test_only_the_guest_programs_the_commands_ran_are_copied_and_a_replay_uses_the_copies(tmp_path):
    bundle = _bundle(tmp_path)
    write_bundle(bundle, tmp_path / "bundle", {})
    assert bundle.programs == {"/opt/phc/bin/pcn_migrate": "programs/pcn_migrate"}
    assert (tmp_path / "bundle" / "programs" / "pcn_migrate").read_bytes() == b"\x7fELF fake"
    (tmp_path / "build" / "pcn_migrate").unlink()
    spec = load_bundle(tmp_path / "bundle").replay_spec(kernel="/other/kernel", gdb=True)
    assert spec.kernel == "/other/kernel" and spec.gdb and spec.nodes == 2
    assert dict((guest, host) for host, guest in spec.extra_files)["/opt/phc/bin/pcn_migrate"] == \
        str((tmp_path / "bundle" / "programs" / "pcn_migrate").resolve())


def test_a_file_found_nowhere_is_left_out_of_the_replay_spec(tmp_path):
    bundle = _bundle(tmp_path)
    bundle.spec["extra_files"].append([str(tmp_path / "gone.txt"), "/etc/gone.txt"])
    write_bundle(bundle, tmp_path / "bundle", {})
    spec = load_bundle(tmp_path / "bundle").replay_spec()
    assert "/etc/gone.txt" not in [guest for _, guest in spec.extra_files]
    assert spec.kernel == "/k/artifact"


def test_the_command_log_merges_the_nodes_in_start_order(tmp_path):
    log = _bundle(tmp_path).command_log()
    assert [(e["node"], e["command"]) for e in log] == [("node1", "insmod /lib/modules/x.ko"),
                                                         ("node0", "/opt/phc/bin/pcn_migrate --to 1")]


def test_without_findings_the_title_is_the_failure_message(tmp_path):
    assert _bundle(tmp_path, findings=[], message="AssertionError: 3 != 4\nmore").title == "AssertionError: 3 != 4"
    assert _bundle(tmp_path, findings=[], message="").title == ""


def test_seed_and_faults_are_optional(tmp_path):
    bundle = _bundle(tmp_path, seed=None, faults=[], findings=[])
    write_bundle(bundle, tmp_path / "b", {})
    data = json.loads((tmp_path / "b" / BUNDLE_JSON).read_text())
    del data["seed"], data["faults"], data["findings"]
    (tmp_path / "b" / BUNDLE_JSON).write_text(json.dumps(data))
    loaded = load_bundle(tmp_path / "b")
    assert (loaded.seed, loaded.faults, loaded.findings) == (None, [], [])


@pytest.mark.parametrize("damage, expected", [
    (lambda d: "{not json", "bad bundle"),
    (lambda d: dict(d, format=99), "unsupported bundle format 99"),
    (lambda d: {k: v for k, v in d.items() if k != "spec"}, "missing spec"),
    (lambda d: dict(d, spec=dict(d["spec"], colour="blue")), "unknown cluster spec keys: colour"),
    (lambda d: dict(d, seed="abc"), "seed must be an integer or null"),
    (lambda d: dict(d, findings=[{"node": "node1"}]), "a finding needs a title"),
    (lambda d: dict(d, commands={"node0": ["ls"]}), "commands of node0"),
    (lambda d: [1, 2], "not a JSON object"),
    (lambda d: dict(d, spec=dict(d["spec"], memory_mb="lots")), "memory_mb must be int"),
    (lambda d: dict(d, spec=dict(d["spec"], nodes=True)), "nodes must be int"),
    (lambda d: dict(d, spec=dict(d["spec"], memory_mb=10 ** 9)), "memory must be at most"),
    (lambda d: dict(d, spec=dict(d["spec"], cpus=4096)), "cpus must be at most 64"),
    (lambda d: dict(d, spec=dict(d["spec"], boot_timeout=float("nan"))), "--boot-timeout must be at most"),
    (lambda d: dict(d, spec=dict(d["spec"], extra_files=[["/etc/shadow", "../../x"]])), "guest path"),
    (lambda d: dict(d, spec=dict(d["spec"], extra_files="abc")), "extra_files must be"),
    (lambda d: dict(d, commands={"node0": [{"command": "ls", "timeout": float("nan")}]}), "command timeout of node0"),
    (lambda d: dict(d, commands={"node0": [{"command": "ls", "timeout": 1e12}]}), "command timeout of node0"),
    (lambda d: dict(d, programs={"/opt/phc/bin/x": 3}), "programs must map"),
])
def test_a_damaged_bundle_is_a_one_line_usage_error(tmp_path, damage, expected):
    bundle = _bundle(tmp_path)
    path = write_bundle(bundle, tmp_path / "bundle", {})
    damaged = damage(json.loads(path.read_text()))
    path.write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    with pytest.raises(UsageError) as info:
        load_bundle(path.parent)
    message = str(info.value)
    assert message.startswith(f"bad bundle {path}") and expected in message and "\n" not in message


def test_a_missing_bundle_or_a_dir_without_one_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="bundle not found"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(UsageError, match="not a repro bundle"):
        load_bundle(tmp_path)


def test_a_run_reproduces_when_it_sees_the_bundle_title(tmp_path):
    bundle = _bundle(tmp_path)
    assert reproduces(bundle, "failed", ["Oops: x", bundle.title])
    assert not reproduces(bundle, "failed", ["Oops: x"])
    assert not reproduces(bundle, "passed", [])
    untitled = _bundle(tmp_path, findings=[], message="")
    assert reproduces(untitled, "failed", []) and not reproduces(untitled, "passed", [])


def test_titles_seen_counts_runs_not_lines():
    runs = [RunResult(1, "pytest", "failed", ["A", "B", "A"]), RunResult(2, "pytest", "failed", ["A"]),
            RunResult(3, "pytest", "passed", [])]
    assert titles_seen(runs) == {"A": 2, "B": 1}


def test_the_replay_command_passes_the_seed_only_when_there_is_one(tmp_path):
    bundle = _bundle(tmp_path)
    spec = bundle.cluster_spec()
    command = pytest_command(bundle, spec, tmp_path / "run-1", 1234)
    assert bundle.nodeid in command and "--nodes=2" in command and "--accel=tcg" in command
    assert f"--artifacts={tmp_path / 'run-1'}" in command and command[-1] == "--seed=1234"
    assert not any(arg.startswith("--seed") for arg in pytest_command(bundle, spec, tmp_path, None))


def test_a_test_gone_from_the_checkout_is_not_runnable(tmp_path):
    assert runnable_test(_bundle(tmp_path, nodeid="testcases/test_cli.py::test_help_explains_itself"))
    assert not runnable_test(_bundle(tmp_path, nodeid="testcases/removed_long_ago.py::test_x"))
    assert not runnable_test(_bundle(tmp_path, nodeid=""))


def test_a_node_id_outside_the_checkouts_testcases_is_never_run(tmp_path):
    """A bundle's node id becomes pytest's argument: one naming a file the bundle brought (an absolute path,
    '..', a symlink out of testcases/) would make pytest collect that file's conftest.py as root."""
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "conftest.py").write_text("open('/tmp/phc-pwned', 'w')\n")
    (evil / "test_x.py").write_text("def test_x(): pass\n")
    for nodeid in (f"{evil}/test_x.py::test_x", "testcases/../../evil/test_x.py::test_x",
                   f"testcases/{'../' * 8}{str(evil / 'test_x.py').lstrip('/')}::test_x", "conftest.py::x"):
        assert not runnable_test(_bundle(tmp_path, nodeid=nodeid)), nodeid
    repo = tmp_path / "repo"
    (repo / "testcases").mkdir(parents=True)
    (repo / "testcases" / "test_link.py").symlink_to(evil / "test_x.py")
    assert not runnable_test(_bundle(tmp_path, nodeid="testcases/test_link.py::test_x"), repo=repo)
    command = pytest_command(_bundle(tmp_path), ClusterSpec(kernel="/k"), tmp_path / "run", None)
    assert "--rootdir=" + str(REPO) in command and command[command.index("-c") + 1] == str(REPO / "tox.ini")


def test_a_replay_reads_no_host_path_the_bundle_names(tmp_path):
    """Guest files of a replay come only from regular files in the bundle's programs/: not a recorded host
    path (here a secret of the host), not a programs/ entry that climbs out or is a symlink."""
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    bundle = _bundle(tmp_path)
    bundle.spec["extra_files"] += [[str(secret), "/root/secret"], [str(secret), "/opt/phc/bin/climb"],
                                   [str(secret), "/opt/phc/bin/linked"]]
    path = write_bundle(bundle, tmp_path / "bundle", {})
    data = json.loads(path.read_text())
    data["programs"].update({"/opt/phc/bin/climb": "programs/../../secret", "/opt/phc/bin/linked": "programs/linked"})
    (path.parent / "programs" / "linked").symlink_to(secret)
    path.write_text(json.dumps(data))
    spec = load_bundle(path.parent).replay_spec()
    hosts = dict((guest, host) for host, guest in spec.extra_files)
    assert set(hosts) == {"/opt/phc/bin/pcn_migrate"}, hosts
    assert hosts["/opt/phc/bin/pcn_migrate"] == str(path.parent.resolve() / "programs" / "pcn_migrate")


def test_seed_and_fault_schedule_come_from_the_fault_log_else_the_seed_option():
    def item(properties, seed_option=None):
        return SimpleNamespace(user_properties=properties,
                               config=SimpleNamespace(getoption=lambda name, default=None: seed_option if name == "seed" else default))

    log = json.dumps({"seed": 7, "faults": [{"t": 1.5, "kind": "pause", "target": "node1", "args": {}}]})
    assert replay_inputs(item([("seed", 7), ("faults", log)])) == (7, [{"t": 1.5, "kind": "pause", "target": "node1",
                                                                         "args": {}}])
    assert replay_inputs(item([("seed", "8")], seed_option=99)) == (8, [])
    assert replay_inputs(item([], seed_option=99)) == (99, [])
    assert replay_inputs(item([])) == (None, [])
