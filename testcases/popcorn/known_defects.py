"""Known defects of the Popcorn 5.2 tree: test name -> the defect, precisely, with its source location.

Applied by ``conftest.py`` as ``xfail(strict=True)``: the case stays as written and keeps running, and
an unexpected pass (the defect fixed) fails the run so this table gets updated. ``RACY_DEFECTS`` holds
races that were seen to fail but also pass on other runs: they are ``xfail(strict=False)``, because a
strict xfail cannot hold a defect that only shows up some of the time; move an entry to the main table
once its program reproduces it every run.
"""

_SHADOW_SPIN = (
    "the remote thread's origin task, which waits in __process_remote_works (kernel/popcorn/process_server.c:"
    "859-867) with wait_for_completion_interruptible_timeout: with a fatal signal pending that returns "
    "-ERESTARTSYS at once, remote_work is NULL, 'continue': a busy loop that never reaches do_exit; the kernel "
    "is non-preemptible with one vCPU, so the origin node stops answering SSH (console: rcu_sched stall, the "
    "task R in __wait_for_common <- process_server_do_migration)"
)

KNOWN_DEFECTS: dict[str, str] = {
    "test_node_info_lists_every_node_1":
        "a node records its own arch only in handle_node_info (kernel/popcorn/bundle.c:88-91), i.e. when a "
        "peer's NODE_INFO message arrives; a node with no peer (a 1-node mesh) reports itself online with "
        "arch -1 (unknown) forever, and on larger meshes get_node_info right after insmod can race the first "
        "message (seen: bring-up of a 1-node cluster, node0 'arch of online nodes [-1, ...]')",
    "test_remote_vma_operation_seen_at_origin_and_back[mremap]":
        "mremap on a remote node is not forwarded: vma_server_mremap_remote (kernel/popcorn/vma_server.c:367) "
        "is a stub (WARN_ON_ONCE 'Does not support remote mremap yet', returns -EINVAL) whose result "
        "mm/mremap.c:627 ignores; the remote mremap goes on locally, the origin never sees it, and the "
        "program then hangs (watchdog output never arrives within 120 s)",
    "test_futex_wait_woken_from_the_other_node[remote_wait]":
        "a shared (non-private) FUTEX_WAIT forwarded from a remote thread self-deadlocks at the origin: "
        "futex_wait (kernel/futex.c:2714) takes a read fault handle with page_server_get_userpage "
        "(kernel/popcorn/page_server.c:1565, fault_flags 0) and holds it across futex_wait_setup, whose "
        "get_futex_key (kernel/futex.c:539, get_user_pages_fast FOLL_WRITE) write-faults on the same page; "
        "__start_fault_handling finds its own handle and fh_action 'L - R, L W' (kernel/popcorn/fh_action.c:29) "
        "is RETRY|WAIT, so the origin shadow thread waits for itself in D state; every other origin thread "
        "touching the page (main, watchdog) follows it into D; the process cannot be killed",
    "test_main_thread_exits_on_remote_node_with_its_status":
        "exit_group(7) by the main thread on the remote node does not end the process at the origin: the remote "
        "logs 'EXITED [pid] remote / 0x700' but the origin task never exits (no EXITED for it at the origin, the "
        "status 7 is lost); the process runs on until the watchdog's exit_group(124) after 100 s, whose SIGKILL "
        "then hits " + _SHADOW_SPIN,
    "test_process_exits_while_a_thread_is_remote":
        "exit(0) at the origin while a thread is remote: the group exit's SIGKILL hits " + _SHADOW_SPIN,
    "test_sigkill_of_process_with_remote_thread":
        "kill -9 of a process whose thread is remote (the `kill` itself times out): the SIGKILL hits "
        + _SHADOW_SPIN,
    "test_madv_release_in_undistributed_process":
        "MADV_RELEASE in a process that never migrated oopses: madvise_release (mm/madvise.c:713) -> "
        "page_server_release_page_ownership -> clear_page_owner -> __get_page_info_mapped "
        "(kernel/popcorn/page_server.c:117) dereferences mm->remote, which is NULL (console: 'BUG: kernel NULL "
        "pointer dereference, address: 0000000000000030' in radix_tree_load_root); the process stays in D state",
    "test_madv_release_invalid_arguments":
        "check remote_unmapped_range_enomem: at a remote node MADV_RELEASE of an unmapped range returns 0, not "
        "ENOMEM: __do_sys_madvise (mm/madvise.c:943-946) replaces the local result with the origin's, and the "
        "origin's process_madvise_release_from_remote (kernel/popcorn/page_server.c:936, called from "
        "kernel/popcorn/vma_server.c:517) always returns 0",
    "test_madv_release_at_origin_of_distributed_process_keeps_data":
        "MADV_RELEASE at the origin of a distributed process gives up pages no other node holds: "
        "page_server_release_page_ownership (kernel/popcorn/page_server.c:962-990) clears the origin's owner bit "
        "and invalidates the PTE unconditionally; the next access at the origin finds no owner and "
        "__claim_remote_page calls page_server_panic(peers == 0): 'kernel BUG at kernel/popcorn/page_server.c:623!'",
    "test_remote_vma_operation_seen_at_origin_and_back[mprotect]":
        "check remote_mprotect: mprotect on a remote node returns -1 ENOMEM although the origin applied it "
        "(origin_sees_mprotect passes): __do_sys_mprotect (mm/mprotect.c:438-442) forwards to the origin, then "
        "runs the local mprotect against the remote's VMAs, which are fetched on demand; a range the remote has "
        "not touched has no local VMA, so the local pass fails with ENOMEM",
    "test_remote_vma_operation_seen_at_origin_and_back[brk]":
        "brk on a remote node deadlocks on its own mmap_sem: __do_sys_brk takes mm->mmap_sem for write in the "
        "Popcorn down_write_trylock loop (mm/mmap.c:209-213) and then again with down_write_killable (mm/mmap.c:216); "
        "the remote thread sits in D state in __do_sys_brk (sysrq-w), the program never returns (then the "
        "watchdog's SIGKILL hits " + _SHADOW_SPIN + ")",
    "test_signal_to_origin_task_reaches_remote_thread":
        "a signal to a migrated thread's origin task is not forwarded (kernel/signal.c has no Popcorn hook) and "
        "the pending SIGUSR1 makes that task spin: " + _SHADOW_SPIN,
    "test_remote_thread_asking_for_a_third_node_is_refused_4":
        "a remote thread asking to migrate to a third node is not refused: process_server_do_migration sends it "
        "on and calls __process_remote_works, whose BUG_ON(current->at_remote) fires on the remote node: "
        "'kernel BUG at kernel/popcorn/process_server.c:854!' (node1, in process_server_do_migration <- "
        "__x64_sys_popcorn_migrate); the program never finishes",
    "test_pthread_mutex_condvar_barrier_across_nodes_4":
        "lost futex wakeup with one participant on each of four nodes (2 nodes pass): after the barrier and the "
        "800 mutex increments, in the condvar turn-taking, every participant ends in FUTEX_WAIT for good: the "
        "origin's main thread and the origin shadows of the node-1 and node-3 threads on the mutex word with val "
        "2 (contended), node 2's on the condvar (op 0x189), while the mutex word reads 0 (unlocked) at the "
        "origin: the unlocker's FUTEX_WAKE (forwarded to the origin and run by the shadow's "
        "process_remote_futex_request, kernel/popcorn/process_server.c:226) woke nobody, or its atomic exchange "
        "ran on a stale page copy and saw no waiter; the program's watchdog exit then hits the origin spin "
        "(process_server.c:859-867); seen in 5 of 5 runs (sysrq-w: remote threads in wait_at_station <- "
        "process_server_do_futex_at_remote)",
    # -- stress and faults (testcases/stress) --
    **{f"test_stress{suffix}[storm]": (
        "page-fault deadlock under concurrent migration: threads going origin -> node -> origin while the "
        "origin's main thread waits for them (FUTEX_WAIT on a thread's tid word) deadlock in Popcorn's fault "
        "handling: at the origin the waiter sits in D state in __start_fault_handling <- "
        "page_server_handle_pte_fault <- get_user_pages_fast <- get_futex_key, on the remote node the "
        "threads sit in D state in __start_fault_handling <- __handle_localfault_at_remote for the same page "
        "(kernel/popcorn/page_server.c); nothing moves until the program's watchdog exits, which then hits "
        "the origin spin (process_server.c:859-867, sysrq-l: R in __process_remote_works); seen in 3 of 3 "
        "runs on 2 and 4 nodes") for suffix in ("", "_4")},
    **{f"test_crash_of_the_remote_node_ends_the_program[{mode}]": (
        "no failure detection: a remote node that dies without closing its TCP connections (power off) is "
        "never noticed; msg_layer/socket.c recv_handler blocks in kernel_recvmsg without keepalive or "
        "timeout, nothing marks the node offline, and the migrated thread's origin task waits in "
        "__process_remote_works for good (process_server.c:861 'continue' on every 1 s timeout): the program "
        "at the origin never ends (the origin itself still answers); seen in 2 of 2 runs") for mode in
        ("pingpong", "rotate")},
}

RACY_DEFECTS: dict[str, str] = {
    "test_threads_on_every_node_at_once_4":
        "race, seen in some runs and not others: three threads migrated at once to nodes 1-3: the thread on node 2 loops in the page-fault retry "
        "backoff (mm/memory.c:3894-3902, page_server_handle_pte_fault returns VM_FAULT_RETRY) while the "
        "origin's threads wait in D state in __start_fault_handling (kernel/popcorn/page_server.c) for the "
        "same pages: a fault deadlock; the process never finishes",
}
