"""Pure logic of the faults: seeded choices, the fault log, link shapes and the partition filter program."""

from __future__ import annotations

import ipaddress
import json
import random
import struct
from types import SimpleNamespace

import pytest

from harness.errors import UsageError
from harness.cluster.faults import KINDS, RECOVERABLE, FaultInjector, FaultLog, choose_fault, choose_schedule, split
from harness.cluster.netfaults import Shape, drop_sources_program

NAMES = ["node0", "node1", "node2", "node3", "node4"]


def test_same_seed_same_choices_other_seed_other_choices():
    def choices(seed):
        rng = random.Random(seed)
        return ([f.to_dict() for f in choose_schedule(rng, NAMES, 20, 60.0, KINDS)],
                split(rng, NAMES, "random"), choose_fault(rng, NAMES).to_dict())

    assert choices(1234) == choices(1234)
    assert choices(1234) != choices(1235)


@pytest.mark.parametrize("how", ["one", "halves", "random"])
def test_split_makes_two_disjoint_nonempty_groups_covering_every_node(how):
    for seed in range(50):
        groups = split(random.Random(seed), NAMES, how)
        assert len(groups) == 2 and all(groups)
        assert sorted(groups[0] + groups[1]) == NAMES
        assert len(groups[0]) >= len(groups[1])
        if how == "one":
            assert len(groups[1]) == 1
        if how == "halves":
            assert len(groups[1]) == len(NAMES) // 2


def test_split_refuses_one_node_and_unknown_kinds():
    with pytest.raises(UsageError):
        split(random.Random(0), ["node0"])
    with pytest.raises(UsageError):
        split(random.Random(0), NAMES, "thirds")
    with pytest.raises(UsageError):
        choose_fault(random.Random(0), NAMES, ("flood",))


def test_chosen_faults_are_well_formed():
    rng = random.Random(7)
    seen = set()
    for _ in range(300):
        fault = choose_fault(rng, NAMES, KINDS, max_delay_ms=80, duration=(0.5, 2.0))
        seen.add(fault.kind)
        if fault.kind == "partition":
            assert sorted(sum(map(list, fault.target), [])) == NAMES
        else:
            assert len(fault.target) == 1 and fault.target[0] in NAMES
        if fault.kind == "crash":
            assert fault.duration == 0.0
        else:
            assert 0.5 <= fault.duration <= 2.0
        if fault.kind == "delay":
            assert 10 <= fault.args["ms"] <= 80
        if fault.kind in ("delay", "loss"):
            assert fault.args["direction"] in ("in", "out", "both")
        json.dumps(fault.to_dict())
    assert seen == set(KINDS)
    assert {choose_fault(rng, NAMES).kind for _ in range(200)} == set(RECOVERABLE)


def test_schedule_is_in_start_order_within_the_span():
    schedule = choose_schedule(random.Random(3), NAMES, 10, 30.0)
    starts = [f.at for f in schedule]
    assert starts == sorted(starts) and all(0 <= s <= 30.0 for s in starts)


def test_a_one_node_cluster_gets_no_partition():
    assert {choose_fault(random.Random(s), ["node0"], ("partition",)).kind for s in range(20)} == {"delay"}


def test_fault_log_records_in_order_with_the_seed_and_restarts():
    log = FaultLog(seed=42)
    log.add("partition", [["node0"], ["node1"]])
    log.add("delay", "node1", direction="in", delay_ms=100, jitter_ms=0)
    log.add("heal", reason="teardown")
    data = json.loads(log.to_json())
    assert data["seed"] == 42
    assert [e["kind"] for e in data["faults"]] == log.kinds() == ["partition", "delay", "heal"]
    assert data["faults"][1] == {"t": data["faults"][1]["t"], "kind": "delay", "target": "node1",
                                 "args": {"direction": "in", "delay_ms": 100, "jitter_ms": 0}}
    times = [e["t"] for e in data["faults"]]
    assert times == sorted(times) and times[0] >= 0
    assert "seed 42 (replay: --seed 42)" in log.text() and "delay" in log.text()
    log.restart(seed=43)
    assert log.to_dict() == {"seed": 43, "faults": []}


def _fake_cluster(n):
    nodes = [SimpleNamespace(name=f"node{i}", index=i) for i in range(n)]
    return SimpleNamespace(nodes=nodes, fault_log=FaultLog(),
                           node=lambda x: next(node for node in nodes if x in (node.name, node.index)))


def test_injector_choices_depend_only_on_the_seed():
    def picks(seed):
        faults = FaultInjector(_fake_cluster(4), seed)
        return (faults.choose_node().name, faults.choose_node(exclude=(0, "node1")).name, faults.choose_split("one"),
                faults.choose().to_dict(), [f.to_dict() for f in faults.schedule(5, 10.0)])

    assert picks(99) == picks(99)
    assert len({json.dumps(picks(seed)) for seed in range(10)}) > 1
    faults = FaultInjector(_fake_cluster(4), 5)
    assert faults.log.seed == 5
    assert all(faults.choose_node(exclude=(0, 1, 2)).name == "node3" for _ in range(10))


def test_shape_holds_drops_and_validates():
    rng = random.Random(0)
    assert Shape().idle and Shape().hold(rng) == 0.0
    assert all(Shape(loss_pct=100).hold(rng) is None for _ in range(100))
    holds = [Shape(delay_ms=100, jitter_ms=20).hold(rng) for _ in range(1000)]
    assert all(0.08 <= h <= 0.12 for h in holds) and max(holds) - min(holds) > 0.03
    dropped = sum(Shape(loss_pct=30).hold(rng) is None for _ in range(2000))
    assert 450 < dropped < 750
    for bad in (Shape(delay_ms=-1), Shape(loss_pct=101), Shape(jitter_ms=-5)):
        with pytest.raises(UsageError):
            bad.validate()


def _run_filter(program: bytes, frame: bytes) -> int:
    """Interpret the eBPF subset the partition filter uses; return the program's verdict."""
    regs = [0] * 11
    pc = 0
    while True:
        code, regs_byte, off, imm = struct.unpack_from("<BBhi", program, pc * 8)
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if code == 0xBF:
            regs[dst] = regs[src]
        elif code == 0xB7:
            regs[dst] = imm
        elif code in (0x28, 0x20):  # LD_ABS half/word: out of bounds ends the program with 0
            size = 2 if code == 0x28 else 4
            if imm + size > len(frame):
                return 0
            regs[0] = int.from_bytes(frame[imm:imm + size], "big")
        elif code in (0x16, 0x56):
            equal = (regs[dst] & 0xFFFFFFFF) == (imm & 0xFFFFFFFF)
            if equal == (code == 0x16):
                pc += off
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def _frame(src: str, ethertype: int = 0x0800) -> bytes:
    ip = bytes(12) + ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address("10.77.0.9").packed
    return bytes(12) + ethertype.to_bytes(2, "big") + ip


def test_partition_program_drops_only_ipv4_from_the_blocked_sources():
    blocked = ["10.77.0.2", "10.77.0.3", "200.1.2.3"]  # the last has the top bit set (signed immediate)
    program = drop_sources_program(blocked)
    assert len(program) == 8 * (8 + len(blocked))
    for source in blocked:
        assert _run_filter(program, _frame(source)) == 2, source  # TC_ACT_SHOT
    for source in ("10.77.0.1", "10.77.0.254", "10.77.0.4", "200.1.2.4"):
        assert _run_filter(program, _frame(source)) == 0, source  # TC_ACT_OK
    assert _run_filter(program, _frame("10.77.0.2", ethertype=0x0806)) == 0  # ARP passes
    assert _run_filter(program, bytes(20)) == 0  # a runt frame passes
    assert _run_filter(drop_sources_program([]), _frame("10.77.0.2")) == 0
