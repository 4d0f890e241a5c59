"""The hang watchdog ends a test early when told its known symptom shows, and only then (fake nodes: the
real-VM side is the Popcorn suite's known hangs, which end at their console symptom)."""

import time

from harness.cluster import watchdog
from harness.cluster.watchdog import HangWatchdog


class FakeVM:
    def __init__(self):
        self.powered_off = False

    def power_off(self, timeout):
        self.powered_off = True


class FakeNode:
    def __init__(self, name):
        self.name, self.vm, self.ssh = name, FakeVM(), self

    def console_size(self):
        return 0

    def console_since(self, offset):
        return ""

    def close(self):
        pass


class FakeCluster:
    def __init__(self):
        self.nodes = [FakeNode("node0"), FakeNode("node1")]


def test_ends_early_once_the_check_gives_a_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(watchdog, "EARLY_POLL_S", 0.05)
    answers = iter([None, None, ("the console shows it", ["timeout:node0"])])
    cluster = FakeCluster()
    dog = HangWatchdog(cluster, 60, tmp_path, "t", end_early=lambda: next(answers, ("late", []))).start()
    deadline = time.monotonic() + 5
    while not dog.fired and time.monotonic() < deadline:
        time.sleep(0.02)
    dog.cancel()
    assert dog.fired and dog.ended_early == "the console shows it" and dog.early_signs == ["timeout:node0"]
    assert dog.findings == [] and all(node.vm.powered_off for node in cluster.nodes)
    assert list(tmp_path.iterdir()) == []  # no dumps: the symptom is on the console already


def test_a_check_that_never_answers_leaves_the_test_alone(monkeypatch, tmp_path):
    monkeypatch.setattr(watchdog, "EARLY_POLL_S", 0.05)
    calls = []
    cluster = FakeCluster()
    dog = HangWatchdog(cluster, 60, tmp_path, "t", end_early=lambda: calls.append(1)).start()
    time.sleep(0.5)
    dog.cancel()
    assert len(calls) >= 3 and not dog.fired and not dog.ended_early
    assert not any(node.vm.powered_off for node in cluster.nodes)
