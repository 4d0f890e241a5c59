"""The crash parser on short, real-shaped reports (one per table row without a captured log), and the
console mark."""

import pytest

from harness.crash.parser import parse
from harness.crash.watch import ConsoleMark

CLEAN = """[    0.000000] Linux version 6.1.0 (gcc 12) #1 SMP
[    1.234567] virtio_net virtio0 eth0: renamed
popcorn-harness: guest ready node0 uptime=2.1
[    3.000000] popcorn: Ready on TCP/IP
"""
TRACE = """[   10.000002] Call Trace:
[   10.000003]  <TASK>
[   10.000004]  ? unreliable_frame+0x1/0x2
[   10.000005]  dump_stack_lvl+0x4c/0x5f
[   10.000006]  __might_resched+0x10/0x20
[   10.000007]  _raw_spin_lock+0x10/0x20
[   10.000008]  culprit_fn.isra.0+0x11/0x22
[   10.000009]  caller_fn+0x11/0x22
[   10.000010]  </TASK>
"""


@pytest.mark.parametrize("header, title, kind", [
    ("BUG: scheduling while atomic: sh/60/0x00000002", "BUG: scheduling while atomic in culprit_fn", "atomic-sleep"),
    ("BUG: sleeping function called from invalid context at mm/slab.h:723",
     "BUG: sleeping function called from invalid context in culprit_fn", "atomic-sleep"),
    ("BUG: Bad page state in process sh  pfn:01234", "BUG: Bad page state", "memory-safety"),
    ("BUG: Bad rss-counter state mm:0000000024773095 idx:0 val:-1", "BUG: Bad rss-counter state", "memory-safety"),
    ("list_add corruption. next->prev should be prev (ffff8880), but was 0000 (next=ffff8880).",
     "BUG: corrupted list in culprit_fn", "memory-safety"),
    ("BUG: unable to handle page fault for address: ffffc90000000000",
     "BUG: unable to handle kernel paging request in culprit_fn", "memory-safety"),
    ("general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP",
     "general protection fault in culprit_fn", "memory-safety"),
    ("invalid opcode: 0000 [#1] SMP", "invalid opcode in culprit_fn", "bug"),
    ("BUG: KASAN: use-after-free in page_server_fn+0x1d2/0x340", "KASAN: use-after-free in page_server_fn",
     "memory-safety"),
    ("BUG: KASAN: slab-out-of-bounds in recv_handler+0x88/0x2a0", "KASAN: slab-out-of-bounds in recv_handler",
     "memory-safety"),
    ("rcu: INFO: rcu_sched self-detected stall on CPU", "INFO: rcu detected stall in culprit_fn", "hang"),
    ("INFO: task migrate:88 blocked for more than 120 seconds.", "INFO: task hung in culprit_fn", "hang"),
    ("Kernel panic - not syncing: Fatal exception", "kernel panic: Fatal exception", "panic"),
])
def test_each_header_gives_its_title_and_type(header, title, kind):
    [finding] = parse(CLEAN + f"[   10.000001] {header}\n" + TRACE, node="node1")
    assert (finding.node, finding.title, finding.type, finding.corrupted) == ("node1", title, kind, False)
    assert header in finding.excerpt and "Call Trace:" in finding.excerpt


def test_a_report_without_a_culprit_is_corrupted():
    [finding] = parse("[    5.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\n")
    assert (finding.title, finding.corrupted) == ("BUG: unable to handle kernel NULL pointer dereference in corrupted",
                                                  True)


def test_prefixes_of_both_console_formats_are_removed():
    """5.2 (plain timestamp) and 6.1 with the caller id (printk ``[ T123]`` / ``[ C1]``)."""
    line = "WARNING: CPU: 0 PID: 87 at kernel/popcorn/vma_server.c:370 vma_server_mremap_remote+0x0/0x8"
    for prefix in ("[    2.796519] ", "[    2.796519][   T87] ", "[    2.796519] [    C1] ", "<4>"):
        [finding] = parse(prefix + line + "\n")
        assert finding.title == "WARNING in vma_server_mremap_remote", prefix


def test_a_panic_after_an_oops_is_part_of_it_and_alone_is_reported():
    oops = "[    3.0] kernel BUG at mm/x.c:1!\n[    3.1] RIP: 0010:fn_with_bug+0x1/0x2\n[    3.2] ---[ end trace 0 ]---\n"
    panic = "[    3.3] Kernel panic - not syncing: Fatal exception\n"
    assert [f.title for f in parse(oops + panic)] == ["kernel BUG in fn_with_bug"]
    assert [f.title for f in parse(panic)] == ["kernel panic: Fatal exception"]


def test_clean_boot_has_no_findings():
    assert parse(CLEAN) == []


class FakeNode:
    def __init__(self, name, text):
        self.name, self.text = name, text

    def console_size(self):
        return len(self.text.encode())

    def console_since(self, offset):
        return self.text.encode()[offset:].decode()


def test_mark_sees_only_what_came_after_it_with_node_and_test():
    node = FakeNode("node1", CLEAN + "[    4.0] WARNING: CPU: 0 PID: 1 at a.c:1 before_fn+0x0/0x1\n")
    mark = ConsoleMark([node], test="tests/x.py::test_y")
    assert mark.findings_since() == []
    node.text += "[    5.0] WARNING: CPU: 0 PID: 1 at a.c:2 after_fn+0x0/0x1\n"
    [finding] = mark.findings_since()
    assert (finding.node, finding.test, finding.title) == ("node1", "tests/x.py::test_y", "WARNING in after_fn")


def test_a_second_boot_banner_after_the_mark_is_an_unexpected_reboot():
    node = FakeNode("node0", CLEAN)
    mark = ConsoleMark([node])
    node.text += "SeaBIOS (version 1.16.2-debian-1.16.2-1)\n[    0.000000] Linux version 6.1.0 (gcc 12) #1 SMP\n"
    assert [(f.title, f.type) for f in mark.findings_since()] == [("unexpected reboot", "reboot")]


def test_lockdep_report_names_the_function_taking_the_lock():
    """Lockdep's format (6.1): the culprit is the ``at:`` of the lock being acquired."""
    report = """[   10.1] ============================================
[   10.1] WARNING: possible recursive locking detected
[   10.1] 6.1.192 #1 Not tainted
[   10.1] --------------------------------------------
[   10.1] sh/59 is trying to acquire lock:
[   10.1] ffffffff81af35f8 (lock_me_up){+.+.}-{2:2}, at: culprit_fn+0x11/0x1c
[   10.1]
[   10.1] but task is already holding lock:
[   10.1] ffffffff81af35f8 (lock_me_up){+.+.}-{2:2}, at: holder_fn+0x11/0x1c
"""
    [finding] = parse(report)
    assert (finding.title, finding.type) == ("possible deadlock in culprit_fn", "lockdep")


def _stall(seconds: int, grace_period: int, rip: str) -> str:
    """A 5.2-shaped RCU stall report (as on the reference Popcorn kernel) caught at ``rip``."""
    return (f"[ {seconds}.000001] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:\n"
            f"[ {seconds}.000002] \t(detected by 0, t=5252 jiffies, g={grace_period}, q=82)\n"
            f"[ {seconds}.000003] remote_worker   R  running task        0    76      2 0x0000400c\n"
            f"[ {seconds}.000004] Call Trace:\n"
            f"[ {seconds}.000005]  <IRQ>\n"
            f"[ {seconds}.000006]  sched_show_task+0xdd/0xe8\n"
            f"[ {seconds}.000007]  rcu_sched_clock_irq+0x410/0x4ab\n"
            f"[ {seconds}.000008]  </IRQ>\n"
            f"[ {seconds}.000009] RIP: 0010:{rip}+0x0/0x1a\n")


def test_the_same_stall_printed_again_is_one_finding_holding_both_reports():
    """The RCU stall warning repeats for as long as its grace period does not end, its culprit sampled
    wherever the CPU was at that tick: one stall, one finding (a CI run saw the second print of a
    ``__wait_for_common`` stall titled ``timer_interrupt``); another grace period's stall is its own."""
    text = CLEAN + _stall(24, -479, "__wait_for_common") + _stall(87, -479, "timer_interrupt")
    [finding] = parse(text, node="node1")
    assert finding.title == "INFO: rcu detected stall in __wait_for_common"
    assert "timer_interrupt" in finding.excerpt and finding.excerpt.count("detected stalls") == 2
    later = parse(text + _stall(150, -475, "other_spin"), node="node1")
    assert [f.title for f in later] == ["INFO: rcu detected stall in __wait_for_common",
                                        "INFO: rcu detected stall in other_spin"]


@pytest.mark.timeout(10)  # a bound, not a measurement: before lines were cut and headers anchored, one
@pytest.mark.parametrize("line", [  # 80 KB line of "WARNING: " took 5.8 s, and 1 MB ones take minutes
    "WARNING: " * 120_000,
    "[    1.0] " + "BUG: " * 200_000,
    "Kernel panic - not syncing: " + " x" * 500_000,
    "x" * 1000 + "WARNING: " * 120_000,
])
def test_megabyte_lines_of_would_be_headers_are_cut_to_the_kernels_line_length(line):
    """A hostile guest's console: each line is read only up to the kernel's own limit (1024 characters),
    and a header must start near the line's beginning; the excerpt says how much was cut."""
    findings = parse(CLEAN + (line + "\n") * 20)
    assert all(len(f.excerpt) < 40 * 1100 for f in findings)
    if findings:
        assert "more characters cut]" in findings[0].excerpt
