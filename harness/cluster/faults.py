"""Faults as a test API, after Jepsen's nemeses: crash, pause, partition, slow and lossy links.

Three layers:

- mechanisms: ``Node.crash/pause/resume`` (QMP), ``Cluster.partition/heal/link`` (``harness/cluster/netfaults.py``);
- a ``FaultLog`` on every cluster: each applied fault as plain data (seconds since the test started,
  kind, target, arguments), so a report or reproduction bundle can store it;
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

from harness.errors import UsageError
from harness.cluster.netfaults import DIRECTIONS

if TYPE_CHECKING:
    from harness.cluster.cluster import Cluster, Node

#: Every kind of fault, in the order ``choose_fault`` considers them.
KINDS = ("partition", "delay", "loss", "pause", "crash")
#: Kinds a test can choose without losing a node for the rest of the test.
RECOVERABLE = ("partition", "delay", "loss", "pause")
SPLITS = ("one", "halves", "random")


class FaultLog:
    """The faults applied to a cluster during one test, in order, as plain data."""

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self.entries: list[dict] = []
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def restart(self, seed: int | None = None) -> None:
        """Start a new test: forget the entries, take the new seed, count time from now."""
        with self._lock:
            self.seed, self.entries, self._started = seed, [], time.monotonic()

    def record(self, kind: str, target: object = None, **args: object) -> dict:
        """Append one entry and return it."""
        entry = {"t": round(time.monotonic() - self._started, 3), "kind": kind, "target": target, "args": args}
        with self._lock:
            self.entries.append(entry)
        return entry

    def kinds(self) -> list[str]:
        """The kinds of the entries, in order (for assertions)."""
        return [entry["kind"] for entry in self.entries]

    def targets(self, kind: str) -> set:
        """The targets of every entry of ``kind`` (e.g. the nodes crashed on purpose)."""
        with self._lock:
            return {entry["target"] for entry in self.entries if entry["kind"] == kind}

    def to_dict(self) -> dict:
        """``{"seed": ..., "faults": [...]}``, JSON-ready."""
        with self._lock:
            return {"seed": self.seed, "faults": [dict(e) for e in self.entries]}

    def to_json(self) -> str:
        """``to_dict`` as one JSON line."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def text(self) -> str:
        """One line per fault, for a test report."""
        lines = [f"seed {self.seed} (replay: --seed {self.seed})"]
        for e in self.entries:
            args = " ".join(f"{k}={v}" for k, v in e["args"].items())
            lines.append(f"{e['t']:8.3f}s  {e['kind']:<10} {json.dumps(e['target'])} {args}".rstrip())
        return "\n".join(lines)


class Link:
    """Faults on one node's link (see ``harness/cluster/netfaults.py``).

    ``direction`` is ``"in"`` (frames the node receives), ``"out"`` (frames it sends) or ``"both"``
    (default). A delay ``d`` on both directions is a one-way latency of ``d`` each way: the round trip
    between this node and any other (and the harness, whose SSH goes over the same link) grows by
    ``2*d``; on one direction only, by ``d``.
    """

    def __init__(self, cluster: "Cluster", node: "Node"):
        self.cluster = cluster
        self.node = node

    def _apply(self, kind: str, direction: str, **changes: float) -> "Link":
        directions = DIRECTIONS if direction == "both" else (direction,)
        if direction != "both" and direction not in DIRECTIONS:
            raise UsageError(f"direction must be in, out or both, got {direction!r}")
        self.cluster.network_faults().shape(self.node.index, directions, **changes)
        self.cluster.fault_log.record(kind, self.node.name, direction=direction, **changes)
        return self

    def delay(self, ms: float, jitter_ms: float = 0.0, direction: str = "both") -> "Link":
        """Hold each frame ``ms`` +- ``jitter_ms`` (uniform) milliseconds; 0 removes the delay."""
        return self._apply("delay", direction, delay_ms=ms, jitter_ms=jitter_ms)

    def loss(self, pct: float, direction: str = "both") -> "Link":
        """Drop each frame with probability ``pct`` percent; 0 removes the loss, 100 cuts the link."""
        return self._apply("loss", direction, loss_pct=pct)

    def clear(self) -> "Link":
        """Remove every delay and loss on this link."""
        self.cluster.network_faults().clear(self.node.index)
        self.cluster.fault_log.record("clear", self.node.name)
        return self


def node_groups(cluster: "Cluster", groups: list[list]) -> list[list[int]]:
    """Node indices of ``groups`` given as indices, names or addresses; a node may be in one group only."""
    resolved = [[cluster.node(member).index for member in group] for group in groups]
    seen: set[int] = set()
    for group in resolved:
        if seen & set(group):
            raise UsageError(f"a node is in two partition groups: {groups}")
        seen |= set(group)
    return resolved


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
