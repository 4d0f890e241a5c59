"""The benchmark's pure logic: the metric table, the program's result line, the statistics that flag
A/B changes only beyond the noise, the results JSON and its tables, and the plots."""

from __future__ import annotations

import json
import random

import pytest

from harness.bench.metrics import BY_NAME, GROUPS, METRICS, select_metrics
from harness.bench.results import comparison_lines, comparisons, load, runs_of, summary_lines
from harness.bench.run import parse_output
from harness.bench.stats import compare, noise, summarize
from harness.errors import UsageError
from harness.popcorn.payload import POPCORN_GUEST_DIR


def test_every_metric_is_one_the_guest_program_has():
    source = (POPCORN_GUEST_DIR / "pcn_bench.c").read_text()
    table = source[source.index("benches[] = {"):]
    for metric in METRICS:
        assert f'{{ "{metric.program_metric}", bench_{metric.program_metric}, {int(metric.popcorn)} }}' in table


def test_select_metrics_takes_names_and_groups_in_table_order_once():
    chosen = select_metrics("syscall,popcorn,migrate_rtt")
    assert [m.name for m in chosen] == [m.name for m in METRICS if m.popcorn] + ["syscall"]
    assert select_metrics("all") == METRICS
    assert {m.threads for m in GROUPS["threads"]} == {1, 2, 4, 8, 16, 32}


@pytest.mark.parametrize("text", ["bogus", "syscall,", "", "migrate_rtt,nope"])
def test_select_metrics_refuses_unknown_names(text):
    with pytest.raises(UsageError, match="--metrics: .* is not a metric or group"):
        select_metrics(text)


def test_metric_command_carries_the_abi_exports_and_arguments():
    command = BY_NAME["threads_8"].command("PCN_NR_MIGRATE=434", 7)
    assert command == "PCN_NR_MIGRATE=434 /opt/phc/bin/pcn_bench threads 7 1 8"
    assert BY_NAME["syscall"].command("", 3, tsc_mhz=2445.4) == "PHC_TSC_MHZ=2445.400 /opt/phc/bin/pcn_bench syscall 3 1 1"


def test_parse_output_takes_the_last_result_line():
    out = 'noise\n{"bench": "syscall", "unit": "ns", "clock_mhz": 2400.0, "samples": [1.5, 2.0], "error": null}\n'
    assert parse_output(out)["samples"] == [1.5, 2.0]
    assert parse_output("nothing here") is None
    assert parse_output('{"bench": "syscall", "samp') is None


def test_summary_of_samples():
    s = summarize([float(x) for x in range(1, 101)])
    assert (s.n, s.median) == (100, 50.5)
    assert 10 <= s.p10 <= 11 and 90 <= s.p90 <= 91
    assert summarize([]) is None and summarize([3.0]).median == 3.0


def _rounds(centre: float, spread: float, rounds: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.gauss(centre, spread) for _ in range(20)] for _ in range(rounds)]


def test_a_clear_slowdown_is_flagged():
    c = compare("m", _rounds(100, 3, 6, 1), _rounds(130, 3, 6, 2))
    assert c.flagged and c.verdict() == "slower" and c.p < 0.01 and 1.25 < c.ratio < 1.35


def test_the_same_distribution_is_not_flagged():
    c = compare("m", _rounds(100, 3, 6, 1), _rounds(100, 3, 6, 3))
    assert not c.flagged and c.verdict() == "same"


def test_a_significant_change_smaller_than_the_floor_is_not_flagged():
    """Every B round 3% slower, all alike: as significant as 6 rounds allow, but under MIN_CHANGE."""
    a = [[100.0] * 5 for _ in range(6)]
    b = [[103.0] * 5 for _ in range(6)]
    c = compare("m", a, b)
    assert c.p < 0.01 and not c.flagged


def test_a_change_within_the_rounds_noise_is_not_flagged():
    """A's round medians spread widely (MAD 15 around 100: noise 44%): B 20% slower is not beyond it."""
    a = [[m] * 3 for m in (70.0, 130.0, 85.0, 115.0, 100.0, 100.0)]
    b = [[120.0] * 3 for _ in range(6)]
    c = compare("m", a, b)
    assert c.threshold == pytest.approx(2 * 1.4826 * 0.15) and not c.flagged


def test_one_disturbed_round_does_not_hide_a_change():
    """Every B round 30% slower; one A round disturbed (5x): the noise and the verdict stay with the rest."""
    a = [[m] * 3 for m in (100.0, 101.0, 99.0, 500.0, 100.0, 100.0, 101.0, 99.0)]
    b = [[m] * 3 for m in (130.0, 131.0, 129.0, 130.0, 130.0, 131.0, 129.0, 130.0)]
    c = compare("m", a, b)
    assert c.threshold == pytest.approx(0.05) and c.flagged and c.verdict() == "slower"
    assert noise([90.0, 110.0, 100.0]) == pytest.approx(2 * 1.4826 * 0.1)


def test_too_few_rounds_are_untested():
    c = compare("m", _rounds(100, 1, 2, 1), _rounds(200, 1, 2, 2))
    assert c.p is None and c.verdict() == "untested" and not c.flagged
    assert compare("m", [], _rounds(1, 1, 3, 1)) is None


def _document(tmp_path):
    doc = {"version": 1, "created": "now", "accel": "tcg", "nodes": 2, "repeat": 6,
           "kernels": {"A": {"kernel": "/k/a", "release": "5.2.21", "popcorn": True},
                       "B": {"kernel": "/k/b", "release": "5.2.21", "popcorn": False}},
           "metrics": {"A": {"migrate_rtt": {"unit": "us", "clock": "host TSC", "clock_mhz": 2400.0, "rounds": _rounds(50000, 900, 6, 1),
                                             "errors": []},
                             "syscall": {"unit": "ns", "clock": "host TSC", "clock_mhz": 2400.0, "rounds": _rounds(300, 5, 6, 2), "errors": []},
                             "threads_1": {"unit": "us", "clock": "host TSC", "clock_mhz": 2400.0, "rounds": _rounds(60000, 900, 6, 3),
                                           "errors": []},
                             "threads_32": {"unit": "us", "clock": "host TSC", "clock_mhz": 2400.0,
                                            "rounds": _rounds(170000, 900, 6, 4), "errors": []}},
                       "B": {"migrate_rtt": {"unit": "", "clock_mhz": 0, "rounds": [],
                                             "errors": ["no Popcorn mesh on this kernel"]},
                             "syscall": {"unit": "ns", "clock": "host TSC", "clock_mhz": 2400.0, "rounds": _rounds(400, 5, 6, 5), "errors": []}}}}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(doc))
    return load(path)


def test_results_tables_and_comparisons(tmp_path):
    doc = _document(tmp_path)
    text = "\n".join(summary_lines(doc))
    assert "[A] /k/a (5.2.21, Popcorn mesh, host TSC 2400 MHz)" in text
    assert "[B] /k/b (5.2.21, no Popcorn, host TSC 2400 MHz)" in text
    assert "! no Popcorn mesh on this kernel" in text
    found = comparisons(runs_of(doc, "A"), runs_of(doc, "B"))
    assert [c.metric for c in found] == ["syscall"]  # migrate_rtt has no B samples
    assert found[0].verdict() == "slower"
    lines = comparison_lines(found, "A", "B")
    assert lines[1].lstrip().startswith("syscall") and lines[1].endswith("slower  <-")


def test_load_refuses_what_is_not_a_results_file(tmp_path):
    (tmp_path / "x.json").write_text('{"version": 7}')
    (tmp_path / "y.json").write_text("not json")
    for name in ("x.json", "y.json", "missing.json"):
        with pytest.raises(UsageError, match="not a benchmark results file"):
            load(tmp_path / name)


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    from harness.bench.plots import plot_bench, plot_boot, plot_snapshot

    doc = _document(tmp_path)
    found = comparisons(runs_of(doc, "A"), runs_of(doc, "B"))
    made = plot_bench(doc, found, tmp_path / "plots")
    assert [p.name for p in made] == ["bench-latency.png", "bench-threads.png", "bench-ab.png"]
    boot = {"kernel": "/k/bzImage", "results": {"1": {"median": {"guest_boot": 1.0, "overhead": 0.7}},
                                                 "2": {"median": {"guest_boot": 1.1, "overhead": 0.8}}}}
    snap = {"kernel": "/k/a", "results": {"2": {"boot": 2.0, "mesh": 0.8, "restores": [0.4, 0.38, 0.45]}}}
    made += [plot_boot(boot, tmp_path / "plots"), plot_snapshot(snap, tmp_path / "plots")]
    phased = {"kernel": "/k/bzImage", "results": {"2": {"median": {
        "guest_boot": 1.1, "overhead": 0.8, "rtt": 0.05, "preflight": 0.1,
        "phases": {"sweep and lease": 0.01, "keys": 0.02, "image": 0.1, "accelerator": 0.0, "network": 0.05,
                   "boot": 1.5, "ssh": 0.2}}}}}
    made.append(plot_boot(phased, tmp_path / "phased"))
    with_mesh = {"kernel": "/k/bzImage", "results": {"1": {"median": {
        **phased["results"]["2"]["median"], "mesh": 0.4, "bare_qemu": 1.4}}}}
    made.append(plot_boot(with_mesh, tmp_path / "mesh"))
    for path in made:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
