"""Guest program threads stuck in the kernel (harness.cluster.stuck): the probe's output read, and a thread
stuck only when it stays in D without progress (page faults, CPU time) for the whole window."""

from harness.cluster.stuck import Sleeper, StuckThread, StuckThreads, sleeping_threads, stuck_sign

#: Shaped as PROBE prints on a guest (stat lines cut after their 22nd field).
OUTPUT = """pcn_futex
pcn_remote
---
futex_wait_queue_me	85 (pcn_futex) D 59 59 52 0 -1 4194560 111 0 0 0 0 3 0 0 20 0 3 0 312 5791744 91 18446744073709551615
0	87 (pcn_futex) D 59 59 52 0 -1 4194624 45 0 2 0 1 5 0 0 20 0 3 0 314 5791744 91 18446744073709551615
worker_thread	12 (kworker/0:1) D 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 18446744073709551615
90 (pcn_remote) S 59 59 52 0 -1 4194560 111 0 0 0 0 3 0 0 20 0 3 0 312 5791744 91 18446744073709551615
__start_fault_handling	91 (a (weird) name) D 59 59 52 0 -1 4194560 111 0 0 0 0 3 0 0 20 0 3 0 312 5791744 91 18446744073709551615
"""


def test_only_guest_program_threads_in_d_are_read_with_their_faults_and_cpu_time():
    assert sleeping_threads(OUTPUT) == {85: ("pcn_futex", (111, 0, 0, 3), "futex_wait_queue_me"),
                                        87: ("pcn_futex", (45, 2, 1, 5), "unknown")}
    assert sleeping_threads("---\n") == {}


def test_a_thread_is_stuck_after_the_window_in_d_without_progress():
    tracker = StuckThreads(stuck_s=30)
    threads = sleeping_threads(OUTPUT)
    assert tracker.look(threads, now=100) == []
    assert tracker.look(threads, now=129) == []
    assert [str(t) for t in tracker.look(threads, now=130)] == \
        ["pcn_futex[85] in futex_wait_queue_me", "pcn_futex[87] in unknown"]


def _sleepers(**progress):
    return {int(tid[1:]): Sleeper("pcn_futex", counters, "w") for tid, counters in progress.items()}


def test_progress_or_a_look_without_the_thread_in_d_starts_its_window_again():
    tracker = StuckThreads(stuck_s=30)
    assert tracker.look(_sleepers(t85=(1, 0, 0, 3), t87=(1, 0, 0, 5)), now=0) == []
    assert tracker.look(_sleepers(t85=(2, 0, 0, 3)), now=20) == []  # 85 took a fault, 87 left D
    assert tracker.look(_sleepers(t85=(2, 0, 0, 3), t87=(1, 0, 0, 5)), now=40) == []
    assert tracker.look(_sleepers(t85=(2, 0, 0, 3), t87=(1, 0, 0, 5)), now=50) == [StuckThread(85, "pcn_futex", "w")]
    assert tracker.look(_sleepers(t85=(2, 0, 0, 3), t87=(1, 0, 0, 5)), now=70) == \
        [StuckThread(85, "pcn_futex", "w"), StuckThread(87, "pcn_futex", "w")]


def test_a_thread_that_moves_to_another_wait_channel_starts_its_window_again():
    tracker = StuckThreads(stuck_s=1)
    assert tracker.look({85: Sleeper("p", (1, 0, 0, 3), "a")}, now=0) == []
    assert tracker.look({85: Sleeper("p", (1, 0, 0, 3), "b")}, now=1) == []
    assert tracker.look({85: Sleeper("p", (1, 0, 0, 3), "b")}, now=2) == [StuckThread(85, "p", "b")]


def test_a_stuck_thread_is_signed_by_its_node_and_wait_channel():
    assert stuck_sign("node1", StuckThread(85, "pcn_vma", "__start_fault_handling")) == \
        "stuck:node1:__start_fault_handling"
