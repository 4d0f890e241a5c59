"""scripts/suite_time.py: a run's time split into boots, the pool's work after tests, hangs and the rest."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "suite_time.py"

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" time="100.0" tests="3">
 <testcase classname="testcases.popcorn.test_migrate" name="test_a" time="40.0">
  <properties><property name="harness_boot_s" value="12.50"/><property name="harness_after_s" value="0.50"/></properties>
 </testcase>
 <testcase classname="testcases.popcorn.test_exit" name="test_b" time="90.0">
  <properties><property name="symptom_actual" value="finding:node0:X + timeout:node0"/>
   <property name="cluster_reset" value="restored"/><property name="harness_after_s" value="1.00"/></properties>
 </testcase>
 <testcase classname="testcases.test_cluster" name="test_c" time="10.0">
  <properties><property name="harness_boot_s" value="0.50"/><property name="cluster_switch" value="restored"/></properties>
 </testcase>
</testsuite></testsuites>
"""


def test_the_breakdown_adds_up(tmp_path):
    spec = importlib.util.spec_from_file_location("suite_time", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "junit.xml").write_text(JUNIT)
    lines = module.summarize(tmp_path / "junit.xml", top=2)
    assert lines[0].endswith("wall 100 s, 3 tests, summed test time 140 s (x1.40 in parallel)")
    assert lines[1].split() == ["getting", "clusters", "13", "s", "(1", "boot(s),", "mesh", "and", "snapshot",
                                "included;", "1", "parked", "cluster(s)", "restored)"]
    assert lines[2].split()[3:6] == ["2", "s", "(artifacts,"] and "1 restore(s)" in lines[2]
    assert lines[3].split()[4] == "90"
    assert lines[4].split()[2] == "36"  # 140 - 13 - 1.5 - 90
    assert lines[5] == "  by suite: popcorn conformance 130 s, harness 10 s"
    assert "testcases.popcorn.test_exit::test_b" in lines[7]
