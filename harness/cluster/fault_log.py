"""The fault log: every fault applied to a cluster during one test, as plain data (seconds since the
test started, kind, target, arguments), so a report or a reproduction bundle can store and replay it."""

from __future__ import annotations

import json
import threading
import time


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

    def add(self, kind: str, target: object = None, **args: object) -> dict:
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
