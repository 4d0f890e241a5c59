"""Network faults on a cluster across hosts: partitions as nftables rules on every host's bridge.

On one machine every node's tap is in the cluster's namespace and a partition is an eBPF filter on it
(``harness.cluster.netfaults``). Across hosts a node's tap is on its host: a partition there is the run's
``bridge`` table on each host (``harness.vm.hosts.host_partition_script``, through the host's command
prefix), which drops IPv4 frames to a node from the nodes of other groups, whether they come from a node on
the same host or over the overlay. The partition lives on the hosts, so any process (a later ``cluster
heal``) can heal it, and the run's teardown and the sweep of a dead run remove it with the run's bridge.
Link faults (delay, loss) relay a tap's frames through the harness: not across hosts.
"""

from __future__ import annotations

from harness.errors import UsageError
from harness.vm.hosts import Hosts, host_partition_script, host_unpartition_script, tap_on_host

NO_LINK_FAULTS = "link faults (delay, loss) need every node's tap on this machine: not on a cluster across hosts"


class HostNetworkFaults:
    """The partition applied to one cluster across ``hosts`` (run ``run_id``; node index -> ``addresses``).
    The same calls as ``harness.cluster.netfaults.NetworkFaults``."""

    def __init__(self, hosts: Hosts, run_id: str, addresses: list[str]):
        self.hosts = hosts
        self.run_id = run_id
        self.addresses = addresses
        self.groups: list[list[int]] = []

    def partition(self, groups: list[list[int]]) -> None:
        """Replace any partition with ``groups`` (node indices); nodes in no group are unaffected."""
        group_of = {index: g for g, members in enumerate(groups) for index in members}
        for host in self.hosts.hosts:
            blocked = {tap_on_host(self.run_id, index): [self.addresses[other] for other, g in group_of.items()
                                                         if g != group]
                       for index, group in group_of.items() if self.hosts.of_node(index) == host}
            host.run_script(host_partition_script(self.run_id, blocked), self.hosts.netns)
        self.groups = [list(g) for g in groups]

    def unpartition(self) -> bool:
        """Remove the partition from every host (also one another process made); True if there was one."""
        removed = [host.run_script(host_unpartition_script(self.run_id), self.hosts.netns) for host in self.hosts.hosts]
        self.groups = []
        return any("removed" in out for out in removed)

    def shape(self, index: int, directions: tuple[str, ...], **changes: float) -> None:
        """Link faults: refused (``UsageError``)."""
        raise UsageError(NO_LINK_FAULTS)

    def clear(self, index: int) -> bool:
        """No link has faults: False."""
        return False

    def heal(self) -> bool:
        """Remove the partition; True if there was one."""
        return self.unpartition()

    def state(self) -> dict:
        """What is applied now, as plain data."""
        return {"groups": self.groups, "links": {}}
