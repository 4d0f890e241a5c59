"""Pictures of the benchmarks (PNG, matplotlib): latency distributions, thread scaling and A/B ratios of
``popcorn-harness bench``; the boot-time breakdown per node count (``scripts/bench_boot.py --json``) and
snapshot restore against boot (``scripts/bench_snapshot.py --json``). Each function writes its files
into a directory and returns their paths."""

from __future__ import annotations

import statistics
from pathlib import Path

from harness.bench.metrics import BY_NAME, THREAD_COUNTS
from harness.bench.stats import Comparison, summarize

#: Colours of kernels A and B (and a flagged A/B change).
COLOURS = {"A": "#1f77b4", "B": "#ff7f0e", "flagged": "#d62728", "same": "#7f7f7f"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _samples(document: dict, label: str, metric: str) -> list[float]:
    runs = document["metrics"].get(label, {}).get(metric, {})
    return [s for r in runs.get("rounds", []) for s in r]


def plot_latency(document: dict, out: Path) -> Path | None:
    """Box plots of every measured metric but the thread scaling, one panel each, kernels side by side."""
    plt = _pyplot()
    labels = list(document["kernels"])
    names = [n for n in BY_NAME if not n.startswith("threads_")
             and any(_samples(document, label, n) for label in labels)]
    if not names:
        return None
    cols = min(4, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        data = [_samples(document, label, name) for label in labels]
        shown = [(label, d) for label, d in zip(labels, data) if d]
        parts = ax.boxplot([d for _, d in shown], patch_artist=True, showfliers=True, widths=0.6)
        ax.set_xticks(range(1, len(shown) + 1), [label for label, _ in shown])
        for patch, (label, _) in zip(parts["boxes"], shown):
            patch.set_facecolor(COLOURS.get(label, "#999999"))
            patch.set_alpha(0.6)
        unit = next((m.get("unit") for m in (document["metrics"].get(lb, {}).get(name, {}) for lb in labels)
                     if m.get("unit")), "")
        flat = [s for d in data for s in d if s > 0]
        if flat and max(flat) / max(min(flat), 1e-9) > 30:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"Sample distributions ({document['accel']}, {document['repeat']} rounds)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out / "bench-latency.png")


def plot_threads(document: dict, out: Path) -> Path | None:
    """Round time (median, 10th-90th percentile band) and time per thread against the number of threads
    migrating at once."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    drawn = False
    for label in document["kernels"]:
        points = [(k, summarize(_samples(document, label, f"threads_{k}"))) for k in THREAD_COUNTS]
        points = [(k, s) for k, s in points if s is not None]
        if not points:
            continue
        drawn = True
        ks = [k for k, _ in points]
        colour = COLOURS.get(label, "#999999")
        left.plot(ks, [s.median / 1e3 for _, s in points], "o-", color=colour, label=label)
        left.fill_between(ks, [s.p10 / 1e3 for _, s in points], [s.p90 / 1e3 for _, s in points], color=colour,
                          alpha=0.2)
        right.plot(ks, [s.median / 1e3 / k for k, s in points], "o-", color=colour, label=label)
    if not drawn:
        plt.close(fig)
        return None
    for ax, title in ((left, "all threads there and back (ms)"), (right, "per thread (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(THREAD_COUNTS, [str(k) for k in THREAD_COUNTS])
        ax.set_xlabel("threads migrating at once")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out / "bench-threads.png")


def plot_ab(found: list[Comparison], out: Path, title: str = "B / A") -> Path | None:
    """Each metric's ratio of medians B/A; flagged changes in red, the noise threshold as a grey band."""
    if not found:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(found) + 1.2))
    ys = range(len(found))
    ax.barh(ys, [c.ratio - 1 for c in found], left=1,
            color=[COLOURS["flagged"] if c.flagged else COLOURS["same"] for c in found])
    for y, c in zip(ys, found):
        ax.plot([1 - c.threshold, 1 + c.threshold], [y, y], color="black", alpha=0.35, linewidth=6,
                solid_capstyle="butt")
        ax.text(max(c.ratio, 1) + 0.01, y, f"x{c.ratio:.2f}" + (f" p={c.p:.3f}" if c.p is not None else ""),
                va="center", fontsize=7)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_yticks(list(ys), [c.metric for c in found], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ratio of medians (grey: noise threshold; red: flagged)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out / "bench-ab.png")


def plot_bench(document: dict, found: list[Comparison], out: Path) -> list[Path]:
    """Every plot of a ``popcorn-harness bench`` run that has data."""
    made = [plot_latency(document, out), plot_threads(document, out), plot_ab(found, out)]
    return [path for path in made if path is not None]


def plot_boot(document: dict, out: Path) -> Path:
    """``bench_boot.py``'s JSON: the time to a ready cluster per node count, stacked by start-up phase
    (``Cluster.timings``, then the mesh where the file has it; older files: guest kernel boot and harness
    overhead), with the goal (1.15 x (guest boot + one SSH round trip)) marked where the file has the round
    trip, and the same guests booted by bare QEMU (+ one round trip) where it has that."""
    plt = _pyplot()
    results = document["results"]
    nodes = sorted(results, key=int)
    medians = [results[n]["median"] for n in nodes]
    fig, ax = plt.subplots(figsize=(8.5, 3.6))
    bottom = [0.0] * len(nodes)
    if all("phases" in m for m in medians):
        parts = {"preflight": [m.get("preflight", 0.0) for m in medians]}
        for phase in medians[0]["phases"]:
            parts[phase] = [m["phases"].get(phase, 0.0) for m in medians]
        if all("mesh" in m for m in medians):
            parts["mesh"] = [m["mesh"] for m in medians]
    else:
        parts = {"guest kernel boot": [m["guest_boot"] for m in medians],
                 "harness overhead": [m["overhead"] for m in medians]}
    colours = plt.get_cmap("tab10")
    for i, (phase, values) in enumerate(parts.items()):
        ax.bar(nodes, values, bottom=bottom, label=phase, color=colours(i))
        bottom = [b + v for b, v in zip(bottom, values)]
    if all("rtt" in m for m in medians):
        ax.plot(nodes, [1.15 * (m["guest_boot"] + m["rtt"]) for m in medians], "k_", markersize=30, mew=2,
                label="goal: 1.15 x (guest boot + 1 SSH round trip)")
    if all("bare_qemu" in m for m in medians):
        ax.plot(nodes, [m["bare_qemu"] + m["rtt"] for m in medians], "_", color="#17becf", markersize=30, mew=2,
                label="the same guests under bare QEMU + 1 round trip")
    ax.set_xlabel("nodes")
    ax.set_ylabel("seconds to a ready cluster" if "mesh" in parts else "seconds to every node answering SSH")
    ax.set_title(f"Where start-up goes: {Path(document['kernel']).name}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, not over them
    fig.tight_layout()
    return _save(fig, out / "boot-breakdown.png")


def plot_snapshot(document: dict, out: Path) -> Path:
    """``bench_snapshot.py``'s JSON: boot (+ mesh) against restore from the snapshot, per node count."""
    plt = _pyplot()
    results = document["results"]
    nodes = sorted(results, key=int)
    xs = range(len(nodes))
    boot = [results[n]["boot"] for n in nodes]
    mesh = [results[n]["mesh"] or 0 for n in nodes]
    restore = [statistics.median(results[n]["restores"]) for n in nodes]
    spread = [[r - min(results[n]["restores"]) for n, r in zip(nodes, restore)],
              [max(results[n]["restores"]) - r for n, r in zip(nodes, restore)]]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar([x - 0.2 for x in xs], boot, 0.4, label="boot -> SSH", color=COLOURS["B"])
    ax.bar([x - 0.2 for x in xs], mesh, 0.4, bottom=boot, label="Popcorn mesh", color="#ffbb78")
    ax.bar([x + 0.2 for x in xs], restore, 0.4, yerr=spread, capsize=3, label="restore -> SSH (min-max)",
           color=COLOURS["A"])
    ax.set_xticks(list(xs), [f"{n} nodes" for n in nodes])
    ax.set_ylabel("seconds")
    ax.set_title(f"Cluster from snapshot vs boot: {Path(document['kernel']).name}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out / "snapshot-vs-boot.png")
