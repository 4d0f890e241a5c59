"""``popcorn-harness bench`` on the Popcorn kernel, end to end: every Popcorn metric measured on a fresh
2-node cluster with its mesh up."""

from __future__ import annotations

import json
import statistics

import pytest

from harness.bench.metrics import GROUPS
from support import harness_env, leftovers, new_tag, run_cli

POPCORN_METRICS = [m.name for m in GROUPS["popcorn"]]


@pytest.mark.xdist_group("popcorn-bench-cli")
@pytest.mark.timeout(1800)
def test_bench_measures_every_popcorn_metric(popcorn_kernel, tmp_path):
    """Two rounds of every Popcorn metric (migration round trip, first touch read and write, page bounce,
    futex across nodes, 1-32 threads migrating at once), three samples each: every run ends with its
    samples and no error, no kernel report, timed with the TSC; and the figures are what the mechanisms
    imply: a migration round trip (two migrations, each several messages) costs more than fetching one
    page at the remote node, and 32 threads migrating at once take longer per round than one."""
    tag, out = new_tag(), tmp_path / "bench.json"
    result = run_cli("bench", "--kernel", popcorn_kernel, "--accel", "tcg", "--metrics", "popcorn", "--repeat", "2",
                     "--iterations", "3", "--json", str(out), env=harness_env(tag), timeout=1500)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["kernels"]["A"]["popcorn"] is True
    runs = doc["metrics"]["A"]
    assert list(runs) == POPCORN_METRICS
    for name, metric in runs.items():
        assert metric["errors"] == [] and len(metric["rounds"]) == 2, (name, metric)
        assert all(len(r) == 3 and min(r) > 0 for r in metric["rounds"]), (name, metric)
        assert metric["unit"] == "us" and metric["clock"] == "host TSC" and metric["clock_mhz"] > 100, (name, metric)

    def median(name):
        return statistics.median(s for r in runs[name]["rounds"] for s in r)

    assert median("migrate_rtt") > median("first_touch_read"), result.stdout
    assert median("threads_32") > median("threads_1"), result.stdout
    assert leftovers(tag) == []


@pytest.mark.xdist_group("popcorn-bench-cli")
@pytest.mark.timeout(1200)
def test_bench_with_quick_acks(popcorn_kernel, tmp_path):
    """``--quickack``: every node's cluster route is set to ACK at once before the snapshot (pcn_quickack,
    whose failure would fail the command), the migration and page metrics measure with it, and the results
    say so (a run to compare with one without it: README, "Popcorn's messages wait on delayed ACKs")."""
    tag, out = new_tag(), tmp_path / "bench.json"
    result = run_cli("bench", "--kernel", popcorn_kernel, "--accel", "tcg", "--metrics", "migrate_rtt,page_bounce",
                     "--repeat", "1", "--iterations", "3", "--quickack", "--json", str(out), env=harness_env(tag),
                     timeout=1000)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "TCP quick ACKs on the cluster route" in result.stdout
    doc = json.loads(out.read_text())
    assert doc["quick_acks"] is True
    assert all(m["errors"] == [] and len(m["rounds"][0]) == 3 for m in doc["metrics"]["A"].values()), doc["metrics"]
    assert leftovers(tag) == []
