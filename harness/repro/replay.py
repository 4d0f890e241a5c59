"""Replay a bundle N times, each on a fresh cluster, and count the runs that hit the same finding title.

The first choice is to re-run the recorded pytest node id in a nested pytest (the bundle's kernel, node
count, accelerator and seed, a fresh artifacts dir); the inner run's outcome comes from its JUnit XML and
its findings from the bundle it writes when it fails. When the test cannot be run (its file is gone from
this checkout), the recorded command log is replayed on a fresh cluster from the spec, node by node in
the order the commands started, and the consoles are scanned.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from harness.cluster.cluster import Cluster
from harness.cluster.progress import RichReporter
from harness.cluster.spec import ClusterSpec
from harness.crash.watch import ConsoleMark
from harness.errors import HarnessError
from harness.junit import summarize_junit
from harness.repro.bundle import BUNDLE_JSON, REPO, Bundle, load_bundle

#: Readies a fresh cluster before the command log replays on it (the CLI brings Popcorn's mesh up).
Prepare = Callable[[Cluster], None]

#: Seconds to let the consoles catch up after the last replayed command.
SETTLE_SECONDS = 2.0


@dataclass
class RunResult:
    """One replay: how it ran, what it saw, and whether that is the bundle's finding."""

    index: int
    how: str  # "pytest" or "commands"
    outcome: str  # failed, passed, skipped, error (the run itself broke)
    titles: list[str] = field(default_factory=list)
    reproduced: bool = False
    seconds: float = 0.0
    artifacts: str = ""
    note: str = ""


def runnable_test(bundle: Bundle, repo: Path = REPO) -> bool:
    """True when the bundle's node id names a test file of this checkout's ``testcases/`` (relative, no
    ``..``, no symlink out: a bundle's node id must never make pytest collect a file the bundle brought)."""
    path = bundle.nodeid.split("::")[0]
    if "::" not in bundle.nodeid or not re.fullmatch(r"testcases/[\w/.-]+\.py", path) or ".." in path.split("/"):
        return False
    suite = (repo / "testcases").resolve()
    resolved = (repo / path).resolve()
    return resolved.is_relative_to(suite) and resolved.is_file()


def pytest_has_option(option: str, repo: Path = REPO) -> bool:
    """True when pytest in ``repo`` (with the harness plugin and whatever else loads) knows ``option``."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"], cwd=repo,
                          capture_output=True, text=True, timeout=300)
    return re.search(rf"^\s+{re.escape(option)}[=\s,]", proc.stdout, re.MULTILINE) is not None


def pytest_command(bundle: Bundle, spec: ClusterSpec, run_dir: Path, seed: int | None) -> list[str]:
    """The nested pytest that re-runs the bundle's test (no xdist, no cache, the repo's ini without addopts)."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-o", "addopts=",
               f"--rootdir={REPO}", "-c", str(REPO / "tox.ini"), bundle.nodeid, f"--kernel={spec.kernel}", f"--nodes={spec.nodes}", f"--accel={spec.accel}",
               f"--boot-timeout={spec.boot_timeout:g}", f"--artifacts={run_dir}",
               f"--junitxml={run_dir / 'junit.xml'}"]
    return command + ([f"--seed={seed}"] if seed is not None else [])


def reproduces(bundle: Bundle, outcome: str, titles: list[str]) -> bool:
    """Did a run reproduce the bundle? Its title was seen (any failure counts when the bundle has none)."""
    return bundle.title in titles if bundle.title else outcome == "failed"


def run_pytest(bundle: Bundle, spec: ClusterSpec, run_dir: Path, seed: int | None) -> tuple[str, list[str], str]:
    """Re-run the test once; return (outcome, finding titles, note)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "pytest.log", "wb") as log:
        proc = subprocess.Popen(pytest_command(bundle, spec, run_dir, seed), cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            proc.wait()
        except KeyboardInterrupt:  # pytest got the SIGINT too: let it tear its cluster down
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    junit = run_dir / "junit.xml"
    if not junit.is_file():
        tail = (run_dir / "pytest.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
        return "error", [], f"pytest exited {proc.returncode} without a report: {tail[0]}"
    summary = summarize_junit(junit)
    counts = summary.counts
    outcome = ("failed" if counts["failed"] or counts["error"] else "passed" if counts["passed"] else
               "skipped" if counts["skipped"] or counts["xfailed"] else "error")
    titles = []
    for path in sorted(run_dir.glob(f"*/bundle/{BUNDLE_JSON}")):
        inner = load_bundle(path)
        titles += [f["title"] for f in inner.findings] or ([inner.title] if inner.title else [])
    if outcome == "failed" and not titles:
        titles = [message for _, message in summary.failures if message]
    note = next(iter(summary.skip_reasons), "") if outcome == "skipped" else ""
    return outcome, titles, note


def run_command_log(cluster, bundle: Bundle, echo: bool = False) -> list[str]:
    """Run the bundle's commands on ``cluster`` in the order they started; return what could not run
    (a dead node, an SSH error or a timeout: expected once the bug hits)."""
    problems = []
    for entry in bundle.command_log():
        node = cluster.node(entry["node"])
        if echo:
            print(f"[{node.name}] $ {entry['command']}", flush=True)
        if not node.alive():
            problems.append(f"{node.name} is down: skipped `{entry['command']}`")
            continue
        try:
            result = node.run(entry["command"], timeout=float(entry.get("timeout") or 60.0))
        except HarnessError as exc:
            problems.append(str(exc).splitlines()[0])
            continue
        if echo:
            print(result.stdout + result.stderr, end="", flush=True)
    return problems


def scan_consoles(mark) -> list:
    """The findings on every node's console since ``mark``."""
    return mark.findings_since()


def run_commands(bundle: Bundle, spec: ClusterSpec, run_dir: Path, reporter,
                 prepare: Prepare | None = None) -> tuple[str, list[str], str]:
    """Replay the command log once on a fresh cluster (after ``prepare(cluster)``, e.g. Popcorn's bring-up);
    return (outcome, finding titles, note)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with Cluster(spec, reporter=reporter) as cluster:
        if prepare is not None:
            prepare(cluster)
        mark = ConsoleMark(cluster.nodes)
        problems = run_command_log(cluster, bundle)
        time.sleep(SETTLE_SECONDS)
        findings = scan_consoles(mark)
        for node in cluster.nodes:
            (run_dir / f"{node.name}.console.log").write_text(node.console_text())
    (run_dir / "findings.json").write_text(json.dumps([f.__dict__ for f in findings], indent=1) + "\n")
    note = f"{len(problems)} command(s) did not complete: {problems[0]}" if problems else ""
    return ("failed" if findings else "passed"), [f.title for f in findings], note


def replay(bundle: Bundle, spec: ClusterSpec, runs: int, artifacts: Path, *, commands: bool = False,
           console=None, prepare: Prepare | None = None) -> list[RunResult]:
    """Replay ``bundle`` ``runs`` times; show progress on ``console`` (rich, stderr); write ``repro.json``.
    A command-log replay calls ``prepare(cluster)`` on each fresh cluster first."""
    console = console or Console(stderr=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    how = "commands" if commands or not runnable_test(bundle) else "pytest"
    if how == "commands" and not commands:
        console.print(escape(f"{bundle.nodeid} is not a test of this checkout: replaying its command log"),
                      highlight=False, soft_wrap=True)
    seed = bundle.seed
    if how == "pytest" and seed is not None and not pytest_has_option("--seed"):
        console.print(f"the bundle's seed is {seed}, but pytest here has no --seed option: replaying without it",
                      highlight=False, soft_wrap=True)
        seed = None
    results = []
    for index in range(1, runs + 1):
        run_dir = artifacts / f"run-{index}"
        label = f"run {index}/{runs}"
        started = time.monotonic()
        try:
            if how == "pytest":
                with console.status(escape(f"{label}: pytest {bundle.nodeid} ({spec.nodes} nodes)")):
                    outcome, titles, note = run_pytest(bundle, spec, run_dir, seed)
            else:
                console.print(f"{label}: replaying {len(bundle.command_log())} recorded command(s) on a fresh "
                              f"{spec.nodes}-node cluster", highlight=False, soft_wrap=True)
                with RichReporter() as reporter:
                    outcome, titles, note = run_commands(bundle, spec, run_dir, reporter, prepare)
        except HarnessError as exc:
            outcome, titles, note = "error", [], str(exc).splitlines()[0]
        result = RunResult(index, how, outcome, titles, reproduces(bundle, outcome, titles),
                           round(time.monotonic() - started, 1), str(run_dir), note)
        results.append(result)
        mark = "[green]reproduced[/green]" if result.reproduced else "[yellow]not reproduced[/yellow]"
        seen = f": {escape(', '.join(dict.fromkeys(titles)))}" if titles else ""
        console.print(f"{label}: {mark} ({outcome}, {result.seconds:.0f}s){seen}"
                      + (f" [dim]{escape(note)}[/dim]" if note else ""), highlight=False, soft_wrap=True)
    (artifacts / "repro.json").write_text(json.dumps({
        "bundle": str(bundle.directory), "nodeid": bundle.nodeid, "title": bundle.title, "how": how,
        "runs": [asdict(r) for r in results], "reproduced": sum(r.reproduced for r in results),
    }, indent=1) + "\n")
    return results


def titles_seen(results: list[RunResult]) -> dict[str, int]:
    """Each finding title and the number of runs that saw it, most seen first."""
    counts: dict[str, int] = {}
    for result in results:
        for title in dict.fromkeys(result.titles):
            counts[title] = counts.get(title, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))
