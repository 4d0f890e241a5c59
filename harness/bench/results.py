"""Benchmark results: the JSON a run writes (and a later run compares against), and the tables printed.

JSON (version 1): ``{"version", "created", "accel", "nodes", "repeat", "kernels": {label: {"kernel",
"release", "popcorn"}}, "metrics": {label: {metric: {"unit", "rounds": [[sample, ...], ...], "errors", "clock_mhz", "clock"}}}}``
(a ``MetricRuns`` each)
(``clock``: "host TSC" (the rate measured on the host), "calibrated TSC" (in the guest) or
"CLOCK_MONOTONIC"; ``clock_mhz``: the TSC rate used, 0 for CLOCK_MONOTONIC).
A baseline file is such a JSON; its kernel ``A`` is what a later run's kernel A is compared with.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from harness.bench.metrics import BY_NAME
from harness.bench.run import MetricRuns, Target
from harness.bench.stats import Comparison, compare, summarize
from harness.errors import UsageError

VERSION = 1


def to_json(targets: list[Target], accel: str, nodes: int, repeat: int, quick_acks: bool = False) -> dict:
    """The results of ``targets`` as the JSON document (``quick_acks``: measured with ``--quickack``)."""
    return {
        "version": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "accel": accel, "nodes": nodes,
        "repeat": repeat, "quick_acks": quick_acks,
        "kernels": {t.label: {"kernel": t.kernel, "release": getattr(t.cluster.kernel, "release", None),
                              "popcorn": t.profile is not None} for t in targets},
        "metrics": {t.label: {name: dataclasses.asdict(runs) for name, runs in t.results.items()} for t in targets},
    }


def load(path: Path) -> dict:
    """A results JSON from ``path``; ``UsageError`` (one line) when it is not one."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a benchmark results file ({exc})") from None
    if not isinstance(document, dict) or document.get("version") != VERSION or "metrics" not in document:
        raise UsageError(f"{path}: not a benchmark results file of version {VERSION}")
    return document


def runs_of(document: dict, label: str) -> dict[str, MetricRuns]:
    """Metric name -> ``MetricRuns`` of kernel ``label`` in a results document."""
    known = {f.name for f in dataclasses.fields(MetricRuns)}
    return {name: MetricRuns(**{k: v for k, v in m.items() if k in known})
            for name, m in document["metrics"].get(label, {}).items()}


def summary_lines(document: dict) -> list[str]:
    """A table per kernel: each metric's median, 10th-90th percentiles, samples and rounds, and errors."""
    lines = [f"accelerator {document['accel']}, {document['nodes']} node(s), {document['repeat']} round(s)"
             f"{', TCP quick ACKs on the cluster route' if document.get('quick_acks') else ''}; "
             "median (10th-90th percentile) over all rounds' samples"]
    for label, kernel in document["kernels"].items():
        runs_by_name = runs_of(document, label)
        clocks = sorted({(r.clock or "TSC", round(r.clock_mhz)) for r in runs_by_name.values() if r.rounds})
        clock = ", ".join(f"{name} {mhz} MHz" if mhz else "CLOCK_MONOTONIC" for name, mhz in clocks)
        lines.append(f"[{label}] {kernel['kernel']} ({kernel.get('release') or '?'}"
                     f"{', Popcorn mesh' if kernel['popcorn'] else ', no Popcorn'}{', ' + clock if clock else ''})")
        for name, runs in runs_by_name.items():
            s = summarize(runs.samples())
            figure = (f"{s.median:>10.1f} {runs.unit:<2} ({s.p10:.1f}-{s.p90:.1f}), {s.n} samples in "
                      f"{len(runs.rounds)} round(s)") if s else f"{'-':>10}"
            lines.append(f"  {name:<18} {figure}")
            for error in runs.errors:
                lines.append(f"  {'':<18} ! {error}")
    return lines


def comparisons(a: dict[str, MetricRuns], b: dict[str, MetricRuns]) -> list[Comparison]:
    """Every metric both sides measured, B against A, in the metric table's order."""
    names = [n for n in BY_NAME if n in a and n in b] + sorted(n for n in a if n in b and n not in BY_NAME)
    found = (compare(name, a[name].rounds, b[name].rounds) for name in names)
    return [c for c in found if c is not None]


def comparison_lines(found: list[Comparison], a_name: str, b_name: str) -> list[str]:
    """The comparison table: medians of round medians, B/A, p, the noise threshold, the verdict."""
    lines = [f"{b_name} against {a_name}: flagged when p < 0.01 and the change exceeds the noise "
             "(2 x 1.4826 x MAD of either side's round medians, at least 5%)"]
    for c in found:
        p = f"p={c.p:.3f}" if c.p is not None else "p=-    "
        lines.append(f"  {c.metric:<18} {c.median_a:>10.1f} -> {c.median_b:>10.1f}  x{c.ratio:<6.3f} {p}  "
                     f"noise {c.threshold * 100:4.1f}%  {c.verdict()}{'  <-' if c.flagged else ''}")
    if not found:
        lines.append("  (no metric measured on both sides)")
    return lines
