"""``popcorn-harness bench`` end to end on real VMs with the kernel under test (the CI kernel: no Popcorn):
an A/A comparison of the plain metrics, the Popcorn metrics refused per metric on a kernel without
Popcorn, a baseline comparison, and bad input refused in one line."""

from __future__ import annotations

import json
import re

import pytest

from harness.bench.metrics import GROUPS
from support import assert_usage_error, harness_env, leftovers, new_tag, run_cli

PLAIN = [m.name for m in GROUPS["plain"]]


@pytest.mark.xdist_group("bench-aa")
@pytest.mark.timeout(1800)
def test_the_same_kernel_against_itself_flags_nothing_and_plots(kernel, tmp_path):
    """``--against`` the same kernel: two clusters, 6 interleaved rounds of every plain metric on each.
    Every metric has its 6 rounds on both, timed with the TSC at the host's rate, both sides are compared, and no change is
    flagged (A/A: what is flagged here would be noise taken for a change). The JSON is a baseline the next
    run compares against (also A/A: nothing slower), and the plots are PNG files."""
    tag, out = new_tag(), tmp_path / "aa.json"
    env = harness_env(tag)
    common = ("--kernel", kernel, "--accel", "tcg", "--nodes", "1", "--metrics", "plain", "--iterations", "5")
    result = run_cli("bench", *common, "--repeat", "6", "--against", kernel, "--json", str(out), "--plots",
                     str(tmp_path / "plots"), env=env, timeout=1500)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert set(doc["kernels"]) == {"A", "B"} and doc["accel"] == "tcg"
    for label in ("A", "B"):
        assert set(doc["metrics"][label]) == set(PLAIN)
        for name, runs in doc["metrics"][label].items():
            assert runs["errors"] == [] and len(runs["rounds"]) == 6, (label, name, runs)
            assert all(len(r) == 5 and min(r) > 0 for r in runs["rounds"]), (label, name)
            assert runs["clock"] == "host TSC" and runs["clock_mhz"] > 100, (label, name)
    compared = re.findall(r"^  (\w+) .* (same|slower|faster|untested)(  <-)?$", result.stdout, re.MULTILINE)
    assert {name for name, _, _ in compared} == set(PLAIN), result.stdout
    assert [c for c in compared if c[1] != "same"] == [], result.stdout
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["bench-ab.png", "bench-latency.png"]
    assert leftovers(tag) == []

    again = run_cli("bench", *common, "--repeat", "3", "--metrics", "syscall,fork_exec", "--baseline", str(out),
                    "--json", str(tmp_path / "again.json"), env=env, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert f"A against baseline {out}:" in again.stdout
    assert re.search(r"^  syscall .* (same|untested)$", again.stdout, re.MULTILINE), again.stdout
    assert leftovers(tag) == []


@pytest.mark.xdist_group("bench-no-popcorn")
def test_popcorn_metrics_on_a_kernel_without_popcorn_are_errors_not_figures(kernel, tmp_path):
    """A Popcorn metric on a kernel without Popcorn is not run: its entry says why, the plain metric beside it
    is measured, and the command exits 1 (a run that did not measure everything asked for)."""
    tag, out = new_tag(), tmp_path / "b.json"
    result = run_cli("bench", "--kernel", kernel, "--accel", "tcg", "--metrics", "migrate_rtt,syscall", "--repeat", "1",
                     "--iterations", "3", "--json", str(out), env=harness_env(tag), timeout=900)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["kernels"]["A"]["popcorn"] is False
    assert doc["metrics"]["A"]["migrate_rtt"] == {"unit": "", "clock": "", "clock_mhz": 0.0, "rounds": [],
                                                  "errors": ["no Popcorn mesh on this kernel"]}
    assert len(doc["metrics"]["A"]["syscall"]["rounds"]) == 1
    assert "! no Popcorn mesh on this kernel" in result.stdout
    assert leftovers(tag) == []


@pytest.mark.parametrize("args, expected", [
    (["--repeat", "0"], "--repeat must be 1..100, got 0"),
    (["--iterations", "0"], "--iterations must be 1..100000, got 0"),
    (["--metrics", "migrate_rtt,warp"], "--metrics: 'warp' is not a metric or group"),
    (["--baseline", "/nonexistent/bench.json"], "/nonexistent/bench.json: not a benchmark results file"),
    (["--against", "/nonexistent/bzImage"], "kernel not found"),
])
def test_bench_bad_input(kernel, tmp_path, args, expected):
    """Refused in one line before anything is made, not even the results directory."""
    tag = new_tag()
    result = run_cli("bench", *args, "--kernel", kernel, "--json", str(tmp_path / "out" / "b.json"), env=harness_env(tag))
    assert_usage_error(result, tag, expected)
    assert not (tmp_path / "out").exists()


def test_pcn_quickack_sets_and_clears_quick_acks_on_a_route():
    """The guest tool behind ``bench --quickack``, run on the host in a scratch namespace: the connected
    route gets RTAX_QUICKACK 1, then 0 again; a device that does not exist is bad usage (exit 2)."""
    import subprocess

    from pyroute2 import NetNS
    from pyroute2 import netns as netns_tools

    from harness.popcorn.payload import build_popcorn_programs

    tool = str(build_popcorn_programs(names=["pcn_quickack"])["pcn_quickack"])
    name = f"phc-{new_tag()}-quickack"
    netns_tools.create(name)
    try:
        with NetNS(name) as ns:
            ns.link("add", ifname="qa0", kind="veth", peer="qa1")
            index = ns.link_lookup(ifname="qa0")[0]
            ns.addr("add", index=index, address="10.77.0.5", prefixlen=24)
            ns.link("set", index=index, state="up")

            def quickack() -> int | None:
                route = next(r for r in ns.get_routes(family=2, table=254) if r.get_attr("RTA_OIF") == index)
                metrics = route.get_attr("RTA_METRICS")
                return metrics.get_attr("RTAX_QUICKACK") if metrics else None

            def run(*args: str) -> int:
                return subprocess.run(["ip", "netns", "exec", name, tool, *args]).returncode

            assert quickack() is None
            assert run("10.77.0.0/24", "qa0", "10.77.0.5") == 0 and quickack() == 1
            assert run("10.77.0.0/24", "qa0", "10.77.0.5", "0") == 0 and not quickack()
            assert run("10.77.0.0/24", "nodev", "10.77.0.5") == 2
    finally:
        netns_tools.remove(name)
