"""Delay, jitter and loss on one node's link, recorded in the fault log: ``cluster.link(1).delay(100)``."""

from __future__ import annotations

from harness.cluster.fault_log import FaultLog
from harness.cluster.netfaults import DIRECTIONS, NetworkFaults
from harness.cluster.node import Node
from harness.errors import UsageError


class Link:
    """Faults on one node's link (see ``harness/cluster/netfaults.py``).

    ``direction`` is ``"in"`` (frames the node receives), ``"out"`` (frames it sends) or ``"both"``
    (default). A delay ``d`` on both directions is a one-way latency of ``d`` each way: the round trip
    between this node and any other (and the harness, whose SSH goes over the same link) grows by
    ``2*d``; on one direction only, by ``d``.
    """

    def __init__(self, network: NetworkFaults, log: FaultLog, node: Node):
        self.network = network
        self.log = log
        self.node = node

    def _apply(self, kind: str, direction: str, **changes: float) -> "Link":
        directions = DIRECTIONS if direction == "both" else (direction,)
        if direction != "both" and direction not in DIRECTIONS:
            raise UsageError(f"direction must be in, out or both, got {direction!r}")
        self.network.shape(self.node.index, directions, **changes)
        self.log.add(kind, self.node.name, direction=direction, **changes)
        return self

    def delay(self, ms: float, jitter_ms: float = 0.0, direction: str = "both") -> "Link":
        """Hold each frame ``ms`` +- ``jitter_ms`` (uniform) milliseconds; 0 removes the delay."""
        return self._apply("delay", direction, delay_ms=ms, jitter_ms=jitter_ms)

    def loss(self, pct: float, direction: str = "both") -> "Link":
        """Drop each frame with probability ``pct`` percent; 0 removes the loss, 100 cuts the link."""
        return self._apply("loss", direction, loss_pct=pct)

    def clear(self) -> "Link":
        """Remove every delay and loss on this link."""
        self.network.clear(self.node.index)
        self.log.add("clear", self.node.name)
        return self
