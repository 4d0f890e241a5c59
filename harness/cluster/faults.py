"""Faults as a test API, after Jepsen's nemeses: crash, pause, partition, slow and lossy links.

Three layers:

- mechanisms: ``Node.crash/pause/resume`` (QMP), ``Cluster.partition/heal/link`` (``harness/cluster/netfaults.py``,
  ``harness/cluster/link.py``);
- a ``FaultLog`` on every cluster (``harness/cluster/fault_log.py``): each applied fault as plain data;
- choice: pure functions that pick faults (which node, which split, when, how long) from a
  ``random.Random``, and a ``FaultInjector`` that holds ``Random(seed)`` for one test, applies what it
  picks and undoes it. The same seed gives the same choices.

Nothing here outlives a test: the pytest ``faults`` fixture heals the network at teardown, and a crashed
or paused node leaves the cluster unhealthy, so the pool boots a fresh one for the next test.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from harness.cluster.fault_log import FaultLog
from harness.cluster.link import Link
from harness.cluster.node import Node
from harness.errors import UsageError

if TYPE_CHECKING:  # the injector drives a cluster it is handed; the cluster never imports this module
    from harness.cluster.cluster import Cluster

#: Every kind of fault, in the order ``choose_fault`` considers them.
KINDS = ("partition", "delay", "loss", "pause", "crash")
#: Kinds a test can choose without losing a node for the rest of the test.
RECOVERABLE = ("partition", "delay", "loss", "pause")
SPLITS = ("one", "halves", "random")


# -- choosing faults (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One fault to apply: ``at`` seconds after a schedule starts, undone ``duration`` seconds later
    (0: left for ``heal``/teardown)."""

    kind: str
    target: tuple  # node names; for a partition, a tuple of groups of node names
    args: dict = field(default_factory=dict)
    at: float = 0.0
    duration: float = 0.0

    def to_dict(self) -> dict:
        """Plain data (lists instead of tuples)."""
        return json.loads(json.dumps(asdict(self)))


def split(rng: random.Random, names: list[str], how: str = "random") -> list[list[str]]:
    """Two groups of ``names``: ``one`` isolates one node, ``halves`` splits a shuffled list in the
    middle (the larger half first), ``random`` cuts it at a random point. Each group is sorted."""
    if len(names) < 2:
        raise UsageError("a partition needs at least 2 nodes")
    if how not in SPLITS:
        raise UsageError(f"split must be one of {', '.join(SPLITS)}, got {how!r}")
    shuffled = list(names)
    rng.shuffle(shuffled)
    cut = {"one": 1, "halves": len(names) // 2, "random": rng.randint(1, len(names) - 1)}[how]
    groups = [sorted(shuffled[cut:]), sorted(shuffled[:cut])]
    return sorted(groups, key=len, reverse=True)


def choose_fault(rng: random.Random, names: list[str], kinds: tuple[str, ...] = RECOVERABLE, *,
                 max_delay_ms: int = 200, duration: tuple[float, float] = (1.0, 5.0), at: float = 0.0) -> Fault:
    """One fault among ``kinds`` on ``names``, all of its parameters drawn from ``rng``."""
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds:
        raise UsageError(f"fault kinds must be among {', '.join(KINDS)}, got {kinds}")
    kind = rng.choice(kinds)
    if kind == "partition" and len(names) < 2:
        kind = "delay"
    hold = round(rng.uniform(*duration), 3)
    if kind == "partition":
        groups = split(rng, names, rng.choice(SPLITS))
        return Fault(kind, tuple(tuple(g) for g in groups), {}, at, hold)
    node = rng.choice(names)
    if kind == "delay":
        args = {"ms": rng.randint(10, max_delay_ms), "direction": rng.choice(("in", "out", "both"))}
    elif kind == "loss":
        args = {"pct": rng.choice((10, 30, 50, 100)), "direction": rng.choice(("in", "out", "both"))}
    else:
        args = {}
    return Fault(kind, (node,), args, at, 0.0 if kind == "crash" else hold)


def choose_schedule(rng: random.Random, names: list[str], count: int, span: float,
                    kinds: tuple[str, ...] = RECOVERABLE, **options) -> list[Fault]:
    """``count`` faults starting at random times within ``span`` seconds, in start order."""
    starts = sorted(round(rng.uniform(0, span), 3) for _ in range(count))
    return [choose_fault(rng, names, kinds, at=start, **options) for start in starts]


# -- the injector ----------------------------------------------------------------------------------


class FaultInjector:
    """Chooses faults for one test from ``Random(seed)``, applies and undoes them, and heals.

    Every fault it (or the test, through the cluster) applies is in ``log``, which carries the seed.
    """

    def __init__(self, cluster: "Cluster", seed: int):
        self.cluster = cluster
        self.seed = seed
        self.rng = random.Random(seed)
        cluster.fault_log.restart(seed)

    @property
    def log(self) -> FaultLog:
        """The cluster's fault log for this test."""
        return self.cluster.fault_log

    @property
    def names(self) -> list[str]:
        """The node names, in index order."""
        return [node.name for node in self.cluster.nodes]

    def choose_node(self, exclude: tuple = ()) -> "Node":
        """A node drawn from the seed (``exclude``: nodes, names or indices to leave out)."""
        left = {self.cluster.node(x).name for x in exclude}
        candidates = [n for n in self.cluster.nodes if n.name not in left]
        return self.rng.choice(candidates)

    def choose_split(self, how: str = "random") -> list[list[str]]:
        """Partition groups drawn from the seed (see ``split``)."""
        return split(self.rng, self.names, how)

    def choose(self, kinds: tuple[str, ...] = RECOVERABLE, **options) -> Fault:
        """One fault drawn from the seed (see ``choose_fault``)."""
        return choose_fault(self.rng, self.names, kinds, **options)

    def schedule(self, count: int, span: float, kinds: tuple[str, ...] = RECOVERABLE, **options) -> list[Fault]:
        """A schedule drawn from the seed (see ``choose_schedule``)."""
        return choose_schedule(self.rng, self.names, count, span, kinds, **options)

    # Shorthands that keep the test's code short; each is recorded in the log.

    def crash(self, node) -> None:
        """Power loss on ``node`` (index, name, address or Node)."""
        self._node(node).crash()

    def pause(self, node) -> None:
        """Freeze ``node``'s vCPUs."""
        self._node(node).pause()

    def resume(self, node) -> None:
        """Continue ``node``'s vCPUs."""
        self._node(node).resume()

    def partition(self, groups: list[list]) -> None:
        """Cut IPv4 between ``groups`` (see ``Cluster.partition``)."""
        self.cluster.partition(groups)

    def link(self, node) -> Link:
        """Faults on ``node``'s link."""
        return self.cluster.link(self._node(node))

    def heal(self) -> bool:
        """Remove every partition and link fault (paused and crashed nodes stay as they are)."""
        return self.cluster.heal()

    def _node(self, node) -> "Node":
        return node if hasattr(node, "vm") else self.cluster.node(node)

    def apply(self, fault: Fault) -> None:
        """Apply a ``Fault`` now."""
        if fault.kind == "partition":
            self.partition([list(g) for g in fault.target])
            return
        node = self.cluster.node(fault.target[0])
        if fault.kind == "crash":
            node.crash()
        elif fault.kind == "pause":
            node.pause()
        elif fault.kind == "delay":
            self.link(node).delay(fault.args["ms"], fault.args.get("jitter_ms", 0.0),
                                  fault.args.get("direction", "both"))
        elif fault.kind == "loss":
            self.link(node).loss(fault.args["pct"], fault.args.get("direction", "both"))
        else:
            raise UsageError(f"unknown fault kind {fault.kind!r}")

    def undo(self, fault: Fault) -> None:
        """Undo a ``Fault`` (a crash cannot be undone)."""
        if fault.kind == "partition":
            self.heal()
        elif fault.kind == "pause":
            self.cluster.node(fault.target[0]).resume()
        elif fault.kind in ("delay", "loss"):
            self.link(fault.target[0]).clear()

    def run(self, schedule: list[Fault], stop: threading.Event | None = None) -> None:
        """Apply and undo ``schedule`` in real time (start now); return when all is done or ``stop`` is set.

        Faults that overlap are applied as they come; undoing a partition heals the network (also the
        link faults), so schedules of overlapping network faults are best kept to one kind."""
        stop = stop or threading.Event()
        start = time.monotonic()
        events = sorted([(f.at, 1, i, f) for i, f in enumerate(schedule)]
                        + [(f.at + f.duration, 0, i, f) for i, f in enumerate(schedule) if f.duration > 0],
                        key=lambda e: e[:3])
        for when, is_apply, _, fault in events:
            if stop.wait(max(0.0, start + when - time.monotonic())):
                return
            (self.apply if is_apply else self.undo)(fault)
