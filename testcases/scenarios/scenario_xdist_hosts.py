"""Scenario for the xdist-workers-across-hosts test, run in a nested pytest (never collected by the main run)
with one local worker and one on an emulated host, ``--dist each`` (every worker runs every test): each worker
boots a cluster of its own where it runs and records where that was."""

import os


def test_boots_a_cluster_where_its_worker_runs(cluster, record_property):
    record_property("worker", os.environ.get("PYTEST_XDIST_WORKER", ""))
    record_property("worker_netns", os.stat("/proc/self/ns/net").st_ino)
    record_property("cwd", os.getcwd())
    record_property("run_id", cluster.run_id)
    assert cluster.nodes[0].succeed("echo up").strip() == "up"
