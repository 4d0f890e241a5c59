"""Taint values decode to flags; a taint gained during a test is a finding unless a report explains it;
findings round-trip through JSON."""

import json

from harness.crash.finding import Finding, silence_kind_finding
from harness.crash.taint import decode, describe, new_taint_findings, read_taint


def test_decode_and_describe():
    assert decode(0) == [] and describe(0) == "not tainted"
    assert decode(512) == [("W", "warning")]
    assert [letter for letter, _ in decode(128 | 512 | 16384)] == ["D", "W", "L"]
    assert describe(1 << 30) == "? (bit 30)"


def test_gained_taint_is_a_finding_unless_explained():
    before = {"node0": 0, "node1": 512, "node2": 0}
    after = {"node0": 512, "node1": 512, "node2": 128}
    [finding] = new_taint_findings(before, after, explained={"node2"}, test="t.py::test_x")
    assert (finding.title, finding.type, finding.node, finding.test) == (
        "kernel tainted: W (warning)", "taint", "node0", "t.py::test_x")
    assert finding.excerpt == "/proc/sys/kernel/tainted: 0 -> 512"


def test_unreadable_taint_is_no_finding():
    assert new_taint_findings({"node0": None}, {"node0": 512}, set()) == []
    assert new_taint_findings({"node0": 0}, {"node0": None}, set()) == []


class Result:
    def __init__(self, stdout, ok=True):
        self.stdout, self.ok = stdout, ok


class Node:
    """Records the commands it is given (read_taint swallows any exception a check in ``run`` would raise)."""

    def __init__(self, reply):
        self.reply, self.commands = reply, []

    def run(self, command, timeout, logged=True):
        self.commands.append((command, logged))
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_read_taint_from_a_node():
    nodes = [Node(Result("512\n")), Node(Result("", ok=False)), Node(TimeoutError("no SSH"))]
    assert [read_taint(node) for node in nodes] == [512, None, None]
    for node in nodes:  # one read each, kept out of the test's command log
        assert node.commands == [("cat /proc/sys/kernel/tainted", False)]


def test_finding_round_trips_through_json():
    finding = Finding("kernel BUG in lkdtm_BUG", "bug", "node1", "t.py::test_x", "excerpt", "", False)
    assert Finding.from_dict(json.loads(json.dumps(finding.to_dict()))) == finding
    lost = silence_kind_finding("lost-connection", "node1", "t.py::test_x")
    assert (lost.title, lost.type, lost.node) == ("lost connection to node", "lost-connection", "node1")


class VMNode:
    """A node whose console, liveness and SSH answers a test sets."""

    def __init__(self, name, taint="0\n"):
        self.name, self.text, self.taint, self.up, self.cap = name, "[    1.0] booted\n", taint, True, 1 << 20

    def console_size(self):
        return len(self.text.encode())

    def console_since(self, offset):
        return self.text.encode()[offset:].decode()

    def console_tail(self, lines=30):
        return "\n".join(self.text.splitlines()[-lines:])

    def alive(self):
        return self.up

    def flooded(self):
        return not self.up and self.console_size() >= self.cap

    def run(self, command, timeout, logged=True):
        if self.taint is None:
            raise TimeoutError("no SSH channel")
        return Result(self.taint)

    def silence(self):
        return "QEMU is gone" if not self.up else "" if self.taint is not None else "no SSH channel"


def test_a_node_that_stops_answering_is_a_verdict_unless_a_report_explains_it():
    from harness.crash.watch import CrashWatch

    names = ("node0", "node1", "node2", "node3", "node4", "node5")
    quiet, chatty, reported, dead, fine, flooding = (VMNode(n) for n in names)
    watch = CrashWatch([quiet, chatty, reported, dead, fine, flooding], test="t.py::test_x")
    quiet.taint = chatty.taint = reported.taint = flooding.taint = None
    chatty.text += "[    2.0] lkdtm: Performing direct entry HARDLOCKUP\n"
    reported.text += "[    2.0] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [sh:60]\n"
    dead.up = flooding.up = False
    flooding.text += "y\n" * (flooding.cap // 2)
    found = [(f.node, f.title, f.type) for f in watch.findings()]
    assert found == [("node2", "BUG: soft lockup in corrupted", "hang"),
                     ("node0", "no output from node", "no-output"),
                     ("node1", "lost connection to node", "lost-connection"),
                     ("node3", "lost connection to node", "lost-connection"),
                     ("node5", "console flood from node", "flood")]
