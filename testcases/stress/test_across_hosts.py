"""The Popcorn conformance suite on clusters that span two hosts (#15 item 4): two hosts emulated on this
machine (``harness/vm/emulated_hosts.py``: a namespace each with its own libvirtd on ``qemu+tcp``, on one
LAN), the suite's node-info, migration, memory-coherence and MADV_RELEASE tests run by a nested pytest with
``--backend libvirt --hosts``, so every 2- and 4-node cluster it boots (and restores from its snapshots) has
its nodes on both hosts and Popcorn's TCP mesh crosses the VXLAN overlay. The verdicts must be those of one machine: each test that
passes there passes, each known defect shows as its known defect."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness.junit import case_outcomes
from harness.vm import libvirtd
from harness.vm.emulated_hosts import EmulatedHosts
from support import REPO, leftovers, skip_without_libvirt

SUITE = ("testcases/popcorn/test_node_info.py", "testcases/popcorn/test_migrate.py",
         "testcases/popcorn/test_memory.py", "testcases/popcorn/test_madvise.py")
#: Verdicts these tests have on one machine (reference kernel, README "Verdicts"), by test name.
MUST_PASS = (
    "test_migrate_round_trip_keeps_thread_state[0]", "test_migrate_round_trip_keeps_thread_state[1]",
    "test_migrate_refusals", "test_propose_then_migrate_minus_1",
    "test_a_cluster_restored_from_its_snapshot_migrates_as_before", "test_migrate_round_trip_to_every_node_4",
    "test_node_info_lists_every_node", "test_node_info_bad_pointers_give_einval",
    "test_thread_status_and_proposal_without_migration", "test_node_info_lists_every_node_4",
    "test_pages_written_at_origin_and_remotely_read_back", "test_many_pages_coherent",
    "test_readers_on_two_nodes_then_origin_writes", "test_readers_on_four_nodes_then_origin_writes_4",
    "test_madv_release_at_remote_keeps_data",
)
KNOWN_DEFECTS = {  # test -> (its defect, the outcomes it may have: a racy defect may not show every time)
    "test_migrating_a_program_only_the_origin_has": ("P17", {"xfailed"}),
    "test_remote_thread_asking_for_a_third_node_is_refused_4": ("P12", {"xfailed"}),
    "test_node_info_lists_every_node_1": ("P02", {"xfailed"}),
    "test_threads_on_every_node_at_once_4[joined]": ("P16", {"xfailed", "xpassed"}),
    "test_threads_on_every_node_at_once_4[polled]": ("P16", {"xfailed", "xpassed"}),
    "test_madv_release_at_origin_of_distributed_process_keeps_data": ("P10", {"xfailed"}),
    "test_madv_release_invalid_arguments": ("P11", {"xfailed"}),
    "test_madv_release_in_undistributed_process": ("P09", {"xfailed"}),
    "test_another_process_reads_a_page_the_remote_node_wrote": ("P42", {"xfailed"}),
    "test_memory_views_of_a_page_the_remote_node_owns": ("P43", {"xfailed"}),
    "test_child_forked_before_migration_keeps_its_copy": ("P44", {"xfailed"}),
    "test_child_forked_while_the_remote_node_owns_a_page_reads_it": ("P45", {"xfailed"}),
}


@pytest.mark.xdist_group("popcorn-across-hosts")
@pytest.mark.timeout(2400)
def test_popcorn_suite_on_clusters_across_two_hosts(popcorn_kernel, tmp_path):
    """Each cluster's node *i* ran on host *i mod 2* (that host's libvirt kept a log of every domain it ran),
    and every test's verdict is its verdict on one machine."""
    skip_without_libvirt()
    with EmulatedHosts(2) as hosts:
        hosts_file = hosts.write_hosts_file(tmp_path / "hosts")
        junit = tmp_path / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "1", "-o", "addopts=",
                   *(str(REPO / path) for path in SUITE), f"--kernel={popcorn_kernel}", "--accel=tcg",
                   "--backend=libvirt", f"--hosts={hosts_file}", f"--artifacts={tmp_path / 'artifacts'}",
                   f"--junitxml={junit}"]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=2100)
        ran = {i: sorted(p.name for p in (libvirtd.root_of(hosts.daemon_dir(i)) / "log" / "qemu").glob("*.log"))
               for i in range(2)}
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    outcomes = case_outcomes(junit)
    for name in MUST_PASS:
        assert outcomes[name][0] == "passed", (name, outcomes[name])
    for name, (defect, allowed) in KNOWN_DEFECTS.items():
        outcome, text = outcomes[name]
        assert outcome in allowed and (outcome != "xfailed" or defect in text), (name, outcome, text[:300])
    nodes_on = {i: {int(m.group(1)) for name in names if (m := re.search(r"-node(\d+)\.log$", name))}
                for i, names in ran.items()}
    assert nodes_on == {0: {0, 2}, 1: {1, 3}}, ran
    assert leftovers(hosts.run_id) == []
