"""A bounded, seeded fuzz run of the Popcorn system calls on a cluster whose mesh is up.

Every node runs the guest fuzzer (``harness/popcorn/guest/pcn_fuzz.c``) at once, as the origin of its own
process, for ``seconds``: worker threads draw Popcorn calls, madvise and futex operations and migrations
from the node's own seed (``node_seed``). Each node's run is two recorded commands, a background launch
and a wait for its exit code, so a reproduction bundle's command log replays the same concurrent run.
Afterwards the nodes are judged as a test's are (``CrashWatch``: console reports, new taint, a node that
stopped answering), and where a fuzzer that did not end is stuck in the kernel is looked at
(``harness.cluster.stuck``): every distinct finding title is one bundle (``save_bundles``), and
``summary_lines`` gives the titles with their counts, what each node's fuzzer did and where it is stuck.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.cluster.watchdog import stuck_look
from harness.crash.finding import Finding
from harness.crash.watch import CrashWatch
from harness.errors import HarnessError
from harness.guest.programs import GUEST_BIN
from harness.repro.bundle import save_bundle

PROGRAM = "pcn_fuzz"
#: The fuzzer's source: its table of ops is the one list of op names (``fuzz_ops``).
SOURCE = Path(__file__).parent / "guest" / f"{PROGRAM}.c"
#: One row of that table: ``{ "name", op_function, weight, known_bad },``.
_OP_ROW = re.compile(r'^\s*\{ "(\w+)", op_\w+, \d+, ([01]) \},', re.MULTILINE)
_OUT = "/run/phc-fuzz.out"
_RC = "/run/phc-fuzz.rc"
#: Seconds a node's fuzzer may run past ``seconds`` (its workers' way back, the main thread's join).
GRACE_S = 45
#: Worker threads per node.
DEFAULT_THREADS = 2


def fuzz_ops() -> dict[str, bool]:
    """The fuzzer's ops, name -> whether it is left out by default (known to crash the 5.2.21 tree), read
    from its table in ``SOURCE``."""
    return {name: bad == "1" for name, bad in _OP_ROW.findall(SOURCE.read_text())}


def node_seed(seed: int, index: int) -> int:
    """The seed of node ``index``'s fuzzer: distinct per node, fixed by the run's ``seed``."""
    return (seed * 1_000_003 + index * 7_919 + 1) % (1 << 63)


@dataclass
class NodeRun:
    """What one node's fuzzer came to: its exit code (None: never known), its summary line, and why the
    wait for it failed (the node stopped answering), if it did."""

    exit_code: int | None = None
    summary: dict | None = None
    problem: str = ""


@dataclass
class FuzzRun:
    """One fuzz run: its parameters, each node's ``NodeRun``, the findings (console reports, new taint, nodes
    that stopped answering) and the fuzzer threads stuck in the kernel at the end (``node1: pcn_fuzz[88] in
    __start_fault_handling``)."""

    seed: int
    seconds: int
    threads: int
    all_calls: bool
    calls: tuple[str, ...] = ()
    nodes: dict[str, NodeRun] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)

    def not_ended(self) -> list[str]:
        """The nodes whose fuzzer did not end on its own with exit 0 (stuck, killed, or its node lost)."""
        return [name for name, node in self.nodes.items() if node.exit_code != 0]

    def titles(self) -> Counter:
        """Finding title -> how many times it was reported (over all nodes)."""
        return Counter(finding.title for finding in self.findings)

    @property
    def nodeid(self) -> str:
        """The name a bundle of this run carries: the command that reproduces it."""
        extra = f" --threads {self.threads}" + (" --all-calls" if self.all_calls else "")
        extra += f" --calls {','.join(self.calls)}" if self.calls else ""
        return f"popcorn-harness fuzz --seed {self.seed} --seconds {self.seconds}{extra}"


def fuzz_command(profile, seed: int, seconds: int, index: int, nodes: int, threads: int, all_calls: bool,
                 calls: tuple[str, ...] = ()) -> str:
    """The shell command that starts node ``index``'s fuzzer in the background (returns at once); ``calls``
    (op names) draws only those ops."""
    choice = [f"only={','.join(calls)}"] if calls else ["all"] if all_calls else []
    args = [f"{GUEST_BIN}/{PROGRAM}", str(node_seed(seed, index)), str(seconds), str(index), str(nodes),
            str(threads)] + choice
    return (f"rm -f {_RC} {_OUT}; ({profile.shell_exports()} {shlex.join(args)} > {_OUT} 2>&1; "
            f"echo $? > {_RC}) </dev/null >/dev/null 2>&1 &")


def wait_command(seconds: int) -> str:
    """The shell command that waits (at most ``seconds`` + ``GRACE_S``) for the fuzzer's exit code, then
    prints it and the fuzzer's output."""
    limit = seconds + GRACE_S
    return (f"i=0; while [ ! -s {_RC} ] && [ $i -lt {limit} ]; do sleep 1; i=$((i+1)); done; "
            f"echo \"rc=$(cat {_RC} 2>/dev/null)\"; cat {_OUT} 2>/dev/null")


def parse_wait(output: str) -> NodeRun:
    """A ``NodeRun`` from ``wait_command``'s output."""
    run = NodeRun()
    match = re.search(r"^rc=(\d*)$", output, re.MULTILINE)
    if match and match.group(1):
        run.exit_code = int(match.group(1))
    for line in output.splitlines():
        if line.startswith('{"fuzz"'):
            try:
                run.summary = json.loads(line)["fuzz"]
            except (ValueError, KeyError):
                pass
    if run.exit_code is None:
        run.problem = "still running after the wait (the fuzzer or its node is stuck)"
    return run


def run_fuzz(cluster, profile, seed: int, seconds: int, *, threads: int = DEFAULT_THREADS, all_calls: bool = False,
             calls: tuple[str, ...] = (), reporter=None) -> FuzzRun:
    """Fuzz every node of ``cluster`` (its Popcorn mesh up, ``profile`` its ABI) at once for ``seconds``;
    each node's progress goes to ``reporter`` (default the cluster's). The nodes' command logs hold only
    the fuzz commands afterwards (what a bundle replays)."""
    reporter = reporter or cluster.reporter
    run = FuzzRun(seed, seconds, threads, all_calls, calls)
    for node in cluster.nodes:
        node.commands.clear()
    watch = CrashWatch(cluster.nodes, test=run.nodeid)
    for node in cluster.nodes:
        node.run(fuzz_command(profile, seed, seconds, node.index, len(cluster.nodes), threads, all_calls, calls),
                 timeout=20).check()
        reporter.phase(node.name, f"fuzzing for {seconds}s (seed {node_seed(seed, node.index)})")
    for node in cluster.nodes:
        try:
            result = node.run(wait_command(seconds), timeout=seconds + GRACE_S + 30)
            run.nodes[node.name] = parse_wait(result.stdout)
        except HarnessError as exc:
            run.nodes[node.name] = NodeRun(problem=str(exc).splitlines()[0])
        done = run.nodes[node.name]
        reporter.phase(node.name, f"fuzzer exited {done.exit_code}" if done.exit_code is not None else
                       f"fuzzer: {done.problem}")
    if run.not_ended():
        run.stuck = stuck_look(cluster).threads
    run.findings = watch.findings()
    return run


def save_bundles(cluster, run: FuzzRun, artifacts: Path, profile) -> dict[str, Path]:
    """One reproduction bundle per distinct finding title, in ``artifacts/finding-<n>/bundle``; title -> dir."""
    saved = {}
    for number, title in enumerate(run.titles(), 1):
        findings = [f for f in run.findings if f.title == title]
        saved[title] = artifacts / f"finding-{number}" / "bundle"
        save_bundle(cluster, saved[title], run.nodeid, findings=findings, outcome="failed", message=title,
                    seed=run.seed, popcorn={"available": True, "profile": profile.name})
    return saved


def summary_lines(run: FuzzRun, bundles: dict[str, Path]) -> list[str]:
    """The run's summary: each finding title with its count and its bundle (when ``bundles`` has one), then
    what each node's fuzzer did."""
    titles, not_ended = run.titles(), run.not_ended()
    lines = [f"fuzz seed {run.seed}, {run.seconds}s, {run.threads} thread(s) per node"
             f"{', every call (also those known to crash)' if run.all_calls else ''}: "
             f"{len(titles)} distinct finding title(s)"
             + (f"; fuzzer did not end on {', '.join(not_ended)}" if not_ended else "")]
    for title, count in titles.most_common():
        lines.append(f"  {count}x  {title}" + (f"  -> popcorn-harness repro {bundles[title]}" if title in bundles else ""))
    for name, node in run.nodes.items():
        if node.summary:
            calls = node.summary.get("calls", {})
            stuck = f", stuck in {node.summary['stuck']}" if node.summary.get("stuck") else ""
            lines.append(f"  {name}: exit {node.exit_code}, {sum(calls.values())} calls"
                         f" ({', '.join(f'{op} {n}' for op, n in calls.items() if n)}){stuck}")
        else:
            lines.append(f"  {name}: exit {node.exit_code}, no summary" + (f": {node.problem}" if node.problem else ""))
    lines += [f"  stuck in the kernel: {thread}" for thread in run.stuck]
    return lines
