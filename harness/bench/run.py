"""Running the benchmark: kernels booted as clusters (``Target``), metrics run in interleaved rounds.

Every kernel under test is one cluster, booted once, its Popcorn mesh brought up when it has Popcorn,
and saved as a snapshot. A round runs every metric once on every kernel; rounds alternate the kernels'
order (A B, B A, ...), so a drift of the machine (another job, thermal state) falls on both alike. A
metric whose run fails (the program's own error, a kernel report on a console, a node that stops
answering) records its error and the cluster is restored from its snapshot before the next metric.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
from dataclasses import dataclass, field

from harness.bench.metrics import PROGRAM, Metric
from harness.guest.programs import GUEST_BIN
from harness.crash.watch import ConsoleMark
from harness.errors import HarnessError

#: Seconds a run may take beyond its guest watchdog (``iterations * 2 + 60`` s) before SSH gives up.
RUN_GRACE_S = 30


@dataclass
class MetricRuns:
    """One metric on one kernel: its unit, the samples of every round, and the errors of failed rounds."""

    unit: str = ""
    rounds: list[list[float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    clock_mhz: float = 0.0
    clock: str = ""

    def samples(self) -> list[float]:
        """Every sample of every round."""
        return [s for r in self.rounds for s in r]


@dataclass
class Target:
    """A kernel under benchmark: its label (A, B), its cluster, whether its Popcorn mesh is up (and with
    which ABI profile), and its results by metric name."""

    label: str
    kernel: str
    cluster: object
    profile: object | None
    results: dict[str, MetricRuns] = field(default_factory=dict)
    lost: str = ""

    def can_run(self, metric: Metric) -> str:
        """Why ``metric`` cannot run here ('' when it can)."""
        if self.lost:
            return f"cluster lost: {self.lost}"
        if metric.popcorn and self.profile is None:
            return "no Popcorn mesh on this kernel"
        if metric.popcorn and len(self.cluster.nodes) < 2:
            return "needs 2 nodes"
        return ""


#: Host calibrations ``host_tsc_mhz`` takes the median of: one run (itself the median of five 60 ms
#: measurements) once came out at 30 MHz for a 2445 MHz TSC on a CI machine loaded with eight test workers.
HOST_CALIBRATIONS = 5


def host_tsc_mhz() -> float:
    """The host's TSC rate in MHz, measured by ``pcn_bench`` run on the host against its CLOCK_MONOTONIC
    (precise there): the rate of every guest's TSC too, since QEMU's TCG counts the host's TSC and KVM
    passes it through. The median of ``HOST_CALIBRATIONS`` runs. 0 on a host that is not x86_64 (the
    guests then calibrate for themselves)."""
    from harness.popcorn.payload import build_popcorn_programs

    if platform.machine() != "x86_64":
        return 0.0
    binary = build_popcorn_programs(names=[PROGRAM])[PROGRAM]
    rates = []
    for _ in range(HOST_CALIBRATIONS):
        proc = subprocess.run([str(binary), "syscall", "1", "-1"], capture_output=True, text=True, timeout=60)
        rates.append(float((parse_output(proc.stdout) or {}).get("clock_mhz") or 0.0))
    return statistics.median(rates)


def set_quick_acks(cluster, on: bool = True) -> None:
    """Make TCP on the cluster's route ACK at once (``on``) or as usual in every node (the guest program
    ``pcn_quickack``): Popcorn's messages go without TCP_NODELAY, so with delayed ACKs a message can wait
    for the peer's ACK (40 ms); measuring with and without tells that wait from Popcorn's own time."""
    subnet = cluster.spec.subnet
    cluster.parallel(lambda node: node.succeed(f"{GUEST_BIN}/pcn_quickack {subnet} eth0 {node.address} {int(on)}"))


def parse_output(stdout: str) -> dict | None:
    """The result line ``pcn_bench`` printed (None when there is none)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith('{"bench"'):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def run_once(target: Target, metric: Metric, iterations: int, tsc_mhz: float = 0.0) -> tuple[dict, str]:
    """Run ``metric`` once on ``target``'s node 0: (the program's result line, or {}; the error, '' when
    none). A kernel report printed on any node meanwhile is an error too."""
    exports = target.profile.shell_exports() if target.profile is not None else ""
    mark = ConsoleMark(target.cluster.nodes, test=f"bench {metric.name}")
    node = target.cluster.nodes[0]
    try:
        result = node.run(metric.command(exports, iterations, tsc_mhz=tsc_mhz), timeout=iterations * 2 + 60 + RUN_GRACE_S,
                          logged=False)
        output, error = parse_output(result.stdout), ""
        if output is None:
            error = f"no result line (exit {result.exit_code}): {(result.stderr or result.stdout).strip()[-200:]}"
    except HarnessError as exc:
        output, error = None, str(exc).splitlines()[0]
    findings = mark.findings_since()
    if findings:
        error = f"kernel report on {findings[0].node}: {findings[0].title}" + (f"; {error}" if error else "")
    if output is not None and output.get("error") and not error:
        error = output["error"]
    return output or {}, error


def recover(target: Target, reporter) -> None:
    """After a failed run: restore ``target``'s cluster from its snapshot (marks it lost if that fails)."""
    reporter.info(f"{target.label}: restoring the cluster from its snapshot")
    try:
        target.cluster.restore_snapshot()
    except HarnessError as exc:
        target.lost = str(exc).splitlines()[0]


def run_rounds(targets: list[Target], metrics: tuple[Metric, ...], repeat: int, iterations: int | None,
               reporter, tsc_mhz: float = 0.0) -> None:
    """Run ``repeat`` rounds of every metric on every target (order alternating per round), filling each
    target's ``results``; ``iterations`` overrides every metric's default sample count; ``tsc_mhz`` is the
    guests' TSC rate (``host_tsc_mhz``; 0: each run calibrates in its guest)."""
    for r in range(repeat):
        for target in targets if r % 2 == 0 else targets[::-1]:
            for metric in metrics:
                runs = target.results.setdefault(metric.name, MetricRuns())
                why_not = target.can_run(metric)
                if why_not:
                    if not runs.errors or runs.errors[-1] != why_not:
                        runs.errors.append(why_not)
                    continue
                reporter.phase(target.label, f"round {r + 1}/{repeat}: {metric.name}")
                output, error = run_once(target, metric, iterations or metric.iterations, tsc_mhz)
                runs.unit = runs.unit or output.get("unit", "")
                runs.clock_mhz = output.get("clock_mhz") or runs.clock_mhz
                runs.clock = output.get("clock") or runs.clock
                samples = list(output.get("samples", []))
                if error:
                    runs.errors.append(f"round {r + 1}: {error}")
                    reporter.info(f"{target.label} {metric.name}: {error}")
                    recover(target, reporter)
                elif samples:
                    runs.rounds.append(samples)
