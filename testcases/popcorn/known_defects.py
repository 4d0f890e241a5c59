"""Known defects of the Popcorn 5.2.21 tree, as data: each defect with its source location, and each test
it fails with the symptom it shows there and the runs that showed it.

``testcases/conftest.py`` gives every test named here the ``known_failure`` marker; the harness's pytest
plugin then judges the test by its symptom (``harness/pytest/known_failures.py``): it is an expected failure
only when it fails with exactly the signs below; any other failure (another check, another crash title,
an SSH error) fails the test and shows the expected and the actual symptom side by side; a pass fails
the run (XPASS strict: the defect is fixed, update this table), except for a racy defect, whose pass
is reported as xpassed.

Evidence: runs seen / runs tried on a kernel artifact (its manifest key); ``REFERENCE`` is the Popcorn
5.2.21 reference artifact (github:Zildj1an/popcorn-kernel 29f9775eb059, qemu-guest + popcorn +
popcorn-debug). Signs name nodes as the cluster does: node0 is the origin of every program here.
"""

from __future__ import annotations

from harness.pytest.known_failures import Defect, Evidence, KnownFailure, Symptom

REFERENCE = "d7d20c9b5501eac31513"
#: The same tree built with the kernel's own detectors too (``popcorn-harness run --popcorn-src TREE
#: --detectors``: + debug + detectors fragments; the ``detectors`` build kind), GCC 12.2, as the build user.
DETECTORS = "02b390793656fea52883"

#: The origin going silent, as the harness sees it from outside: a command there times out (or its SSH
#: connection drops), and at the end of the test node0 no longer answers (or its console shows the RCU
#: stall of the spinning task, P07, titled by the frame of the spin loop the stall caught it in:
#: __wait_for_common mostly, process_server_do_migration once, under load; timer_interrupt once, in the CI
#: emulation of the fuzz change, when the stall caught the spinning task in its timer interrupt;
#: popcorn_migrate, the syscall that calls process_server_do_migration, once in the CI emulation of the
#: rogue-peer change).
ORIGIN_SILENT = (r"(timeout|infra):node0",)
ORIGIN_SILENT_AFTERMATH = (
    r"finding:node0:INFO: rcu detected stall in "
    r"(__wait_for_common|process_server_do_migration|popcorn_migrate|timer_interrupt)",
    r"finding:node0:lost connection to node",
    r"finding:node0:no output from node",
)

#: P16's other face: one migrated thread never returns from its back-migration (its "back" line missing)
#: and the main thread's wait for it ends after 60 s (pcn_migrate threads: ETIMEDOUT), the program goes on.
THREAD_LOST = (r"check:thread_joined_for_[1-3]", r"missing:thread_back_from_[1-3]")

#: Where the threads of a P14 deadlock wait at the origin (stuck signs, harness/cluster/stuck.py): a page
#: fault that finds another fault of the same page in flight waits for it there, and it never ends.
ORIGIN_FAULT_WAIT = (r"stuck:node0:__start_fault_handling",)

_SHADOW_SPIN = (
    "the remote thread's origin task, which waits in __process_remote_works (kernel/popcorn/process_server.c:"
    "859-867) with wait_for_completion_interruptible_timeout: with a fatal signal pending that returns "
    "-ERESTARTSYS at once, remote_work is NULL, 'continue': a busy loop that never reaches do_exit; the kernel "
    "is non-preemptible with one vCPU, so the origin node stops answering SSH (console: rcu_sched stall, the "
    "task R in __wait_for_common <- process_server_do_migration)"
)

DEFECTS = {d.id: d for d in (
    Defect("P02", "own arch unknown without a peer",
           "a node records its own arch only in handle_node_info (kernel/popcorn/bundle.c:88-91), i.e. when a "
           "peer's NODE_INFO message arrives; a node with no peer (a 1-node mesh) reports itself online with "
           "arch -1 (unknown) forever, and on larger meshes get_node_info right after insmod can race the first "
           "message"),
    Defect("P03", "remote mremap is a stub",
           "mremap on a remote node is not forwarded: vma_server_mremap_remote (kernel/popcorn/vma_server.c:367) "
           "is a stub (WARN_ON_ONCE 'Does not support remote mremap yet', returns -EINVAL) whose result "
           "mm/mremap.c:627 ignores; the remote mremap goes on locally, the origin never sees it, and the "
           "program then hangs until its watchdog"),
    Defect("P04", "remote mprotect returns ENOMEM",
           "mprotect on a remote node returns -1 ENOMEM although the origin applied it: __do_sys_mprotect "
           "(mm/mprotect.c:438-442) forwards to the origin, then runs the local mprotect against the remote's "
           "VMAs, which are fetched on demand; a range the remote has not touched has no local VMA, so the "
           "local pass fails with ENOMEM"),
    Defect("P05", "remote brk takes mmap_sem twice",
           "brk on a remote node deadlocks on its own mmap_sem: __do_sys_brk takes mm->mmap_sem for write in the "
           "Popcorn down_write_trylock loop (mm/mmap.c:209-213) and then again with down_write_killable "
           "(mm/mmap.c:216); the remote thread sits in D state in __do_sys_brk, the program never returns "
           "(then the watchdog's exit hits P07)"),
    Defect("P06", "shared remote FUTEX_WAIT self-deadlocks at the origin",
           "futex_wait (kernel/futex.c:2714) takes a read fault handle with page_server_get_userpage "
           "(kernel/popcorn/page_server.c:1565) and holds it across futex_wait_setup, whose get_futex_key "
           "(kernel/futex.c:539, get_user_pages_fast FOLL_WRITE) write-faults on the same page; "
           "__start_fault_handling finds its own handle and fh_action 'L - R, L W' (kernel/popcorn/fh_action.c:29) "
           "is RETRY|WAIT, so the origin shadow thread waits for itself in D state; every other origin thread "
           "touching the page follows it; the process cannot be killed"),
    Defect("P07", "fatal signal on a migrated thread's origin task spins",
           "a fatal signal (SIGKILL, group exit, or a signal left pending) on the origin task of a migrated "
           "thread hits " + _SHADOW_SPIN),
    Defect("P08", "remote exit_group status lost",
           "exit_group(7) by the main thread on the remote node does not end the process at the origin: the "
           "remote logs 'EXITED [pid] remote / 0x700' but the origin task never exits and the status is lost; "
           "the process runs on until its watchdog, whose exit then hits P07; the same for exit_group(3) by a "
           "second thread at the remote node ('EXITED [pid] remote / 0x300'; the origin then spins in "
           "process_server_do_migration when the process is killed)"),
    Defect("P09", "MADV_RELEASE in a never-migrated process: NULL mm->remote",
           "madvise_release (mm/madvise.c:713) -> page_server_release_page_ownership -> clear_page_owner -> "
           "__get_page_info_mapped (kernel/popcorn/page_server.c:117) dereferences mm->remote, which is NULL "
           "(console: 'BUG: kernel NULL pointer dereference, address: 0000000000000030' in "
           "radix_tree_load_root); the process stays in D state"),
    Defect("P10", "MADV_RELEASE at the origin leaves pages ownerless",
           "page_server_release_page_ownership (kernel/popcorn/page_server.c:962-990) clears the origin's owner "
           "bit and invalidates the PTE unconditionally; the next access at the origin finds no owner and "
           "__claim_remote_page calls page_server_panic(peers == 0): 'kernel BUG at "
           "kernel/popcorn/page_server.c:623!'"),
    Defect("P11", "MADV_RELEASE of an unmapped range at a remote node returns 0",
           "__do_sys_madvise (mm/madvise.c:943-946) replaces the local result with the origin's, and the "
           "origin's process_madvise_release_from_remote (kernel/popcorn/page_server.c:936, called from "
           "kernel/popcorn/vma_server.c:517) always returns 0, not ENOMEM"),
    Defect("P12", "remote thread asking for a third node hits BUG_ON(at_remote)",
           "process_server_do_migration sends a remote thread on to a third node and calls "
           "__process_remote_works, whose BUG_ON(current->at_remote) fires on the remote node: 'kernel BUG at "
           "kernel/popcorn/process_server.c:854!' (in process_server_do_migration <- "
           "__x64_sys_popcorn_migrate); the program never finishes"),
    Defect("P13", "lost futex wakeup between pthread participants on different nodes",
           "after the barrier and the 800 mutex increments, in the condvar turn-taking, every participant ends "
           "in FUTEX_WAIT for good while the mutex word reads 0 (unlocked) at the origin: the unlocker's "
           "FUTEX_WAKE (forwarded to the origin and run by the shadow's process_remote_futex_request, "
           "kernel/popcorn/process_server.c:226) woke nobody, or its atomic exchange ran on a stale page copy "
           "and saw no waiter; the program's watchdog exit then hits P07. Four nodes hang every time; two nodes "
           "(0.8 s when they pass) hang rarely: once, in CI, under the load of eight test workers"),
    Defect("P14", "page-fault deadlock under concurrent migration",
           "threads going origin -> node -> origin while the origin's main thread waits for them (FUTEX_WAIT on "
           "a thread's tid word) deadlock in Popcorn's fault handling: at the origin the waiter sits in D "
           "state in __start_fault_handling <- page_server_handle_pte_fault <- get_user_pages_fast <- "
           "get_futex_key, on the remote node the threads sit in D state in __start_fault_handling <- "
           "__handle_localfault_at_remote for the same page (kernel/popcorn/page_server.c); nothing moves until "
           "the program's watchdog exits, which then hits P07. One thread making round trips suffices when "
           "it writes, at the remote node, on the page of the tid word the waiter's futex key is taken on (as "
           "a pthread does on its own thread control block); the same waiter reading that word instead of "
           "FUTEX_WAITing on it never hung"),
    Defect("P15", "no failure detection of a crashed node",
           "a remote node that dies without closing its TCP connections (power off) is never noticed: "
           "msg_layer/socket.c recv_handler blocks in kernel_recvmsg without keepalive or timeout, nothing "
           "marks the node offline, and the migrated thread's origin task waits in __process_remote_works for "
           "good (process_server.c:861 'continue' on every 1 s timeout): the program at the origin never ends "
           "(the origin itself still answers)"),
    Defect("P17", "a migration to a node without the program's executable hits a BUG there",
           "the remote worker opens the executable by the origin's path (remote_worker_main, "
           "kernel/popcorn/process_server.c): when that file is not on the remote node it logs 'popcorn: cannot "
           "open executable from PATH' and then 'kernel BUG at kernel/popcorn/process_server.c:721!' in "
           "remote_worker_main instead of refusing the migration; the migrating thread at the origin waits "
           "for good, and the program's watchdog exit then hits P07 (found by the harness: a program copied "
           "to the origin only)"),
    Defect("P18", "an unreadable migrate register set hits BUG_ON: any user crashes the node",
           "popcorn_migrate copies the register set with copy_from_user and BUG_ON(ret != 0) "
           "(kernel/popcorn/process_server.c:957 in __request_clone_remote, :463 in __do_back_migration) instead "
           "of returning an error: NULL, an unmapped page, a kernel address or a set that runs off its mapping, "
           "from uid 65534, give 'kernel BUG at kernel/popcorn/process_server.c:957!' (invalid opcode) in "
           "process_server_do_migration at the origin; the thread dies in the oops, the program's watchdog "
           "ends it (found by the harness: pcn_bad_args uregs)"),
    Defect("P19", "propose_migration has no permission check",
           "sys_popcorn_propose_migration (kernel/sched/core.c:4989-5011) looks the pid up and sets its "
           "migration_target_nid with no ptrace/credential check: uid 65534 sets the target of root's init "
           "(returns 0, Linux convention is EPERM as for sched_setaffinity)"),
    Defect("P20", "a migrated thread's getpid and getppid are the remote worker's",
           "the remote side runs the thread in a process of its own made from a kernel thread "
           "(remote_worker_main, kernel/popcorn/process_server.c:690-740): getpid at the remote node returns that "
           "process's id, getppid returns 2 (kthreadd), not the values the thread saw at the origin; getpid and "
           "gettid return the remote worker's pid and the remote thread's own tid, which equal the origin's "
           "values only when the two nodes' pid counters happen to agree (one run: remote pid 75 = origin pid "
           "75 but tid 76 != 75; another: pid 74 != 76, tid 75 != 76): getppid = 2 is the sign that always shows"),
    Defect("P21", "file descriptors and files do not follow a migrated thread",
           "the remote process has no file table of the program (a kernel thread's, empty) and the remote "
           "node's file system: write to a pipe, a file or stdout opened before the migration gives EBADF, "
           "open of the origin's file ENOENT; and ksys_write's own sanity check WARNs 'file write at remote "
           "thread is not supported yet' (fs/read_write.c:613, CONFIG_POPCORN_CHECK_SANITY)"),
    Defect("P22", "futex operations other than WAIT/WAKE in a distributed process WARN",
           "do_futex (kernel/futex.c:3650-3656) WARN_ONs every command but FUTEX_WAIT, WAIT_BITSET, WAKE and "
           "WAKE_BITSET once the process is distributed: FUTEX_WAKE_OP, CMP_REQUEUE, TRYLOCK_PI and UNLOCK_PI "
           "from a remote thread, forwarded to the origin, each print 'WARNING ... at kernel/futex.c:3652' "
           "there (the operations themselves then succeed); FUTEX_WAKE_OP can also oops at the origin: in one run "
           "of two, 'BUG: unable to handle kernel NULL pointer dereference' in fixup_user_fault (the forwarded "
           "op faulting in the second word for a task with no mm, it seems), the origin's waiter never woken"),
    Defect("P23", "a thread created at the remote node hits a BUG",
           "clone (a new thread) by a migrated thread at the remote node sends a Popcorn message to node -1: "
           "'kernel BUG at kernel/popcorn/pcn_kmsg.c:81!' (BUG_ON(to < 0) in __build_and_check_msg) on the remote "
           "node; the program never finishes"),
    Defect("P24", "fork at the remote node: the caller cannot wait for its child",
           "fork by a migrated thread at the remote node returns a pid, but wait4 for it returns ECHILD: the "
           "child is not the calling process's (the remote process is a kernel thread's child)"),
    Defect("P25", "the origin's mprotect(PROT_NONE) is not seen by a remote thread",
           "munmap at the origin reaches the remote node (its read of the page then fails with EFAULT), "
           "mprotect(PROT_NONE) does not: the remote thread still reads the page it fetched before"),
    Defect("P26", "a MAP_SHARED mapping is not reachable from the remote node",
           "a remote thread's read of a MAP_SHARED page (anonymous or of a file at the origin) faults: "
           "'pcn_remote[..]: segfault at <page> ... error 4' and 'EXITED [..] remote / 0xb' on the remote node, "
           "which then stalls (RCU stall in kthread / __wait_for_common); the program at the origin never ends. "
           "Cause: a remote node builds a VMA it lacks from the origin's answer (__update_vma, "
           "kernel/popcorn/vma_server.c:703-768), as anonymous only when the origin's VMA has no file, else by "
           "opening the file at the path the origin sent; a shared anonymous mapping's file is shmem named "
           "'/dev/zero (deleted)', which no node can open ('__update_vma: cannot find backing file /dev/zero "
           "(deleted)', -EIO, then the SIGSEGV; seen again with pcn_memory, 2026-12-05, a SIGSEGV on the read "
           "at the peer), and a file at the origin exists at the peer only by chance (another file if it does)"),
    Defect("P27", "signal handlers do not follow a migrated thread",
           "the remote process does not get the program's handlers (the copy of sighand->action in "
           "__request_clone_remote, kernel/popcorn/process_server.c:943-951, is commented out): a SIGUSR1 the "
           "remote thread sends itself is not handled (ignored, as by the kernel thread it was made from), and "
           "a SIGSEGV there kills the remote thread, after which the remote node stops answering and the "
           "program at the origin never ends"),
    Defect("P28", "a nodes file with an address across the 512-byte read is refused",
           "load_config_file (msg_layer/socket.c:502-560) parses each 512-byte read on its own, so an address "
           "that crosses the boundary is split in two: insmod fails with EINVAL on every node, although every "
           "line is valid (a long first line of trailing spaces puts the second address across byte 512)"),
    Defect("P29", "a nodes file that lists an address twice is accepted",
           "identify_myself (msg_layer/common.h:44-65) takes the last line that matches the node's address: with "
           "lines A, B, A node A becomes node 2, B node 1, and the mesh comes up with ids that are not the nodes' "
           "places in the file (no duplicate check)"),
    Defect("P30", "a nodes file with more than 32 addresses is accepted",
           "the inner loop of load_config_file has no bound on its 32-slot ip_table (msg_layer/socket.c:541-552): "
           "33 addresses in one read are all stored (past the table) and every node's insmod then waits for "
           "peers that do not exist instead of refusing the file"),
    Defect("P31", "an absolute futex deadline from a remote thread is read on the origin's clock (racy)",
           "a remote thread's FUTEX_WAIT_BITSET is forwarded to the origin (process_remote_futex_request, "
           "kernel/popcorn/process_server.c) with its absolute CLOCK_MONOTONIC deadline, which the origin then "
           "compares with its own monotonic clock: nodes booted at different times (or one whose clock ran "
           "fast) differ by seconds, so a 0.3 s deadline lasted 26.4 s in a CI emulation (or passes at once "
           "the other way); it shows only when the two nodes' monotonic clocks differ by more than ~50 ms. A "
           "relative FUTEX_WAIT goes the same way: the futex syscall turns its timeout into an absolute one on the "
           "caller's clock (kernel/futex.c, do_futex callers) before futex_wait forwards it, so a 0.3 s wait "
           "ended after 0.25 s of the remote's time in a CI emulation (the origin's clock ahead)"),
    Defect("P32", "the SSE control state (MXCSR) does not follow a migrating thread",
           "save_thread_info and restore_thread_info (arch/x86/kernel/process_server.c:50-180) carry the general "
           "registers of the caller's register set and the FS base only; the FPU state is neither sent nor "
           "restored: a rounding mode set with ldmxcsr at the remote node is gone back at the origin (MXCSR "
           "0x1f80, the origin task's own) and at the next node"),
    Defect("P33", "execve at the remote node hits a BUG",
           "execve by a migrated thread at the remote node: 'kernel BUG at kernel/popcorn/page_server.c:1692' in "
           "__handle_localfault_at_remote on the remote node (the new image's first fault), and the process "
           "dies of SIGSEGV instead of running the new program"),
    Defect("P34", "unloading the message layer with the mesh up oopses",
           "exit_kmsg_sock (msg_layer/socket.c:568-588) wakes the send and receive handler threads but does not "
           "stop them (no kthread_stop), then releases their sockets and frees the queues: on the node that runs "
           "rmmod, 'BUG: unable to handle kernel paging request' and a NULL pointer dereference in "
           "atomic_try_cmpxchg; the peer stops answering and a new insmod there waits for it forever"),
    Defect("P35", "a peer's NODE_INFO with an out-of-range arch oopses the node",
           "handle_node_info (kernel/popcorn/bundle.c:84-99) prints archs_sz[info->arch] and stores "
           "popcorn_nodes[info->nid] with neither index checked: a NODE_INFO whose arch is 1<<28 gives 'BUG: "
           "unable to handle kernel paging request' in handle_node_info on the receiving node"),
    Defect("P36", "a peer's message of an unknown type BUGs the node",
           "recv_handler (msg_layer/socket.c:104) answers a header type >= PCN_KMSG_TYPE_MAX with BUG_ON "
           "(CONFIG_POPCORN_CHECK_SANITY, on in the reference config) instead of dropping the message: 'kernel "
           "BUG at msg_layer/socket.c:104' in recv_handler, and that peer's receive thread is gone"),
    Defect("P37", "a peer's message header claiming size 0 oopses the node",
           "recv_handler (msg_layer/socket.c:105-110) checks only size > PCN_KMSG_MAX_SIZE; size 0 gives "
           "kmalloc(0) = ZERO_SIZE_PTR and the header memcpy into it: 'BUG: unable to handle kernel NULL "
           "pointer dereference' in recv_handler (a size below the 10-byte header overruns a short buffer)"),
    Defect("P38", "a peer that closes its connection freezes the node",
           "recv_handler's read loops (msg_layer/socket.c:91-100, 114-121) end only on ksock_recv() == -1, but "
           "kernel_recvmsg returns 0 at end of stream (and -errno on errors), so after the peer's FIN the "
           "receive thread loops forever without sleeping; with PREEMPT_NONE and one vCPU the node stops "
           "answering (SSH times out) and prints nothing. rmmod on a peer (P34) closes its sockets the same way"),
    Defect("P39", "fuzzing the calls not known to crash, on two nodes, leaves a fuzzer or a node stuck within 30 s",
           "pcn_fuzz without 'all' (migrations back and forth, page writes, madvise, MADV_RELEASE at the remote "
           "node, private futexes, mmap/munmap, the info calls) from two threads on each node: no run ended clean. "
           "Before the fuzzer stopped joining its workers by FUTEX_WAIT (which is P14 by itself), five runs of "
           "30 s hung, three of them with 'kernel BUG at kernel/popcorn/page_server.c:623' in __claim_remote_page "
           "(page_server_panic(peers == 0): a page that no other node owns), the others with a silent node. "
           "Since: a worker stuck in a page write ('stuck in touch', exit 3) on both nodes and 'BUG: Bad "
           "rss-counter state' at the fuzzer's exit; once (seed 1949785701) the fuzzer at node0 died of SIGSEGV "
           "reading its own futex word in a mapped read-write page at the origin. Split by calls (seed "
           "1949785701): migrate+touch and migrate+touch+futex ran clean, migrate+touch+map_unmap only showed "
           "P40, migrate+touch+madvise left node0 silent (no console output, SSH dead) or, seed 5, node0 silent and "
           "node1 stuck in touch with the rss-counter BUG; that needs two threads a node (one thread ran clean, "
           "so did migrate+madvise); P41 (a page written then discarded at the peer while the origin writes it) is "
           "one way in"),
    Defect("P40", "each munmap at the origin of a distributed process leaks the remote node's reply",
           "vma_server_munmap_origin (kernel/popcorn/vma_server.c:380-405) sends a VMA_OP_REQUEST to every node "
           "that has the process and waits for the VMA_OP_RESPONSE, but never gives that message back "
           "(pcn_kmsg_done), unlike every other VMA op: one message leaks per munmap. With "
           "CONFIG_POPCORN_CHECK_SANITY the 65th outstanding response makes pcn_kmsg_process WARN ('leaking "
           "received messages', pcn_kmsg.c:57) and print 'type 10' for each one after: 100 munmaps after a "
           "round trip printed it 36 times (100 - 64). Found by pcn_fuzz --calls migrate,touch,map_unmap"),
    Defect("P41", "a page the remote node writes and discards (DONTNEED) while the origin writes it deadlocks",
           "a thread at the remote node writes one page then madvise(MADV_DONTNEED)s it, again and again, while "
           "the origin's main thread writes the same page: the remote thread ends in D state in "
           "__start_fault_handling <- __handle_localfault_at_remote for that page and never comes back; at the "
           "program's watchdog exit the origin's main thread waits in __claim_local_page (wait_at_station, "
           "clearing its tid word at exit) and the origin task of the migrated thread spins in "
           "__wait_for_common (P07): the origin stops answering. "
           "The same page written at the peer while the origin discards it, or discarded at the peer while the "
           "origin writes it, passes: the remote write before the discard is what it takes. One way into P39's "
           "'stuck in touch' (pcn_fuzz --calls migrate,touch,madvise)"),
    Defect("P42", "another process reading a distributed process's memory at the origin hits a BUG",
           "handle_pte_fault (mm/memory.c:3886-3919) hands a fault to the page server only when the faulting task "
           "is of a distributed process (distributed_process(current)); for any other task a non-present PTE "
           "goes to page_server_panic(true, ...) (mm/memory.c:3918), where Linux calls do_swap_page: 'kernel "
           "BUG at kernel/popcorn/page_server.c:623!'. The origin's PTE of a page a remote node owns is such a "
           "PTE (__revoke_page_ownership clears its present bit and keeps the frame), and another process "
           "faults on it whenever it reads the distributed process's memory through get_user_pages_remote: "
           "pread of /proc/PID/mem (mem_rw -> access_remote_vm), as gdb and other debuggers do, and ptrace "
           "PEEKDATA, process_vm_readv, core dumps of the origin's pages the same way. The reader is killed "
           "(SIGSEGV from the BUG's oops); the node stays up. Found by pcn_memory foreign"),
    Defect("P43", "a page a remote node owns looks swapped out at the origin, and mincore WARNs on it",
           "the origin gives up a page by clearing only its PTE's present bit (pte_make_invalid, "
           "kernel/popcorn/pgtable.h:7, from __revoke_page_ownership), which leaves what every generic page-table "
           "walker takes for a swap entry (is_swap_pte: not none, not present), of swap type 16 (the top five "
           "bits: NX) on a kernel with no swap at all (no CONFIG_SWAP: it has no CONFIG_BLOCK). At the origin, "
           "for such a page: mincore hits WARN_ON(1) in mincore_pte_range (mm/mincore.c:166, the !CONFIG_SWAP "
           "branch), from any unprivileged process; /proc/PID/smaps and smaps_rollup count it as Swap "
           "(smaps_pte_entry, fs/proc/task_mmu.c:509-515), /proc/PID/pagemap reports it swapped "
           "(pte_to_pagemap_entry, task_mmu.c:1296) and, by the code, leaves it out of smaps' Rss, so memory tools (ps, top, pmap, "
           "smem) see a distributed process swapping where nothing swaps. Once the origin reads the page back "
           "every view is right again. Found by pcn_memory residency"),
    Defect("P44", "a child forked before its parent's page went to a remote node sees the parent's later writes",
           "fork shares the parent's anonymous frames with the child copy-on-write (copy_one_pte), and the origin's "
           "page server never breaks that sharing for an anonymous page (__handle_copy_on_write, "
           "kernel/popcorn/page_server.c:1736, returns false for any anonymous VMA): claiming the page back from "
           "the peer, __handle_localfault_at_origin takes the frame the origin's stale PTE maps (page_server.c:"
           "1839-1847), __claim_remote_page copies the peer's data into it (copy_to_user_page, page_server.c:"
           "1134-1136), and a later write at the origin makes the PTE writable in place (pte_mkwrite, "
           "page_server.c:1832): the child, which maps the same frame, reads the peer's write and then the "
           "parent's. A forked child's memory is no longer its own (a shell-out, a pre-forked worker, a "
           "fork-based snapshot). Found by pcn_memory fork_before"),
    Defect("P45", "a child forked while a remote node owns a page oopses on it, and the origin dies",
           "fork copies the origin's PTE of a page a remote node owns as it is (present bit cleared: copy_one_pte, "
           "mm/memory.c:709-730, takes it for a swap entry; no Popcorn hook), so the child's page table holds a "
           "non-present PTE that no page server serves: the child is not a distributed process (dup_mm resets "
           "mm->remote, kernel/fork.c:1062), its fault on that page goes to page_server_panic (mm/memory.c:3918), "
           "whose __get_page_info_mapped dereferences the child's NULL mm->remote ('BUG: kernel NULL pointer "
           "dereference' in radix_tree_load_root), then 'BUG: Bad page map' as the dying child's mm is torn down. "
           "The origin stopped answering in 1 of 3 runs; in the other 2 the parent went on with its own memory "
           "corrupted (its records came out as a check named '#x05') and died. Same crash site as P42, reached "
           "by the child's own page table. Found by pcn_memory fork_after"),
    Defect("P46", "a region the origin moves with mremap: reading a page the remote node owns there is a BUG",
           "mremap at the origin moves the region's PTEs (move_ptes) but not Popcorn's per-address page info "
           "(mm->remote->pages, keyed by the virtual address: __get_page_info_mapped, kernel/popcorn/"
           "page_server.c:110-120), and nothing tells the remote node (only a remote mremap is forwarded: "
           "mm/mremap.c:625-628). At the new address the origin's not-present PTE of a page the peer owns has no "
           "page info: __handle_localfault_at_origin finds it not PageDistributed and lets Linux handle it "
           "(VM_FAULT_CONTINUE, page_server.c:1791-1795), which takes the not-present PTE to page_server_panic "
           "(mm/memory.c:3918): 'kernel BUG at kernel/popcorn/page_server.c:623' ('page_server_panic: <addr> ... "
           "0', the info word 0), the thread killed holding its mmap_sem, the process stuck (its watchdog "
           "reports it). A page the origin wrote last moves fine. Found by pcn_vma origin_mremap"),
    Defect("P47", "MADV_FREE at the origin of a page a remote node owns: the peer's later writes are lost there",
           "madvise_free_pte_range (mm/madvise.c:355-371, no Popcorn hook: only MADV_RELEASE and a remote "
           "thread's madvise are Popcorn's) takes the origin's not-present PTE of a page the peer owns for a swap "
           "entry and clears it, telling nobody: the origin's page info still says the peer owns the page, the "
           "peer keeps its writable copy, and the origin's next fault on the now-empty PTE is a fresh anonymous "
           "page ('fresh at origin', kernel/popcorn/page_server.c:1776-1780). The peer's write after the "
           "MADV_FREE (which Linux keeps: a written page is no longer freed) never reaches the origin, which "
           "reads 0. The cleared PTE also leaks the origin's frame and miscounts the mm: 'BUG: Bad rss-counter "
           "state ... idx:1 val:1' and '... idx:2 val:-1' (MM_ANONPAGES, MM_SWAPENTS) at exit. Found by "
           "pcn_vma origin_free"),
    Defect("P48", "execve at the origin leaves the process's remote side running at the peer forever",
           "the peer's side of a process (its remote process, named as the program) ends only on the origin's "
           "TASK_EXIT_ORIGIN message, which __terminate_remotes sends from process_server_task_exit when the "
           "last task of a distributed mm exits (kernel/popcorn/process_server.c:263-300, 328-349). An execve at "
           "the origin drops the old mm without an exit (exec_mmap -> mmput -> free_remote_context, which only "
           "frees the context, kernel/fork.c:1123-1125), and the new image's exit is not a distributed one "
           "(its mm has no remote): nobody tells the peer, whose remote process of the old image stays in S "
           "state for good (one per re-exec or exec-based shell-out of a migrated program). The new image runs "
           "to its exit status. Found by pcn_remote origin_execve"),
    Defect("P16", "three threads migrating at once to three nodes deadlock in fault retry (racy)",
           "the thread on one node loops in the page-fault retry backoff (mm/memory.c:3894-3902, "
           "page_server_handle_pte_fault returns VM_FAULT_RETRY) while the origin's threads wait in D state in "
           "__start_fault_handling (kernel/popcorn/page_server.c) for the same pages; the process never "
           "finishes"),
)}


def _known(test: str, defect: str, required: tuple[str, ...], allowed: tuple[str, ...] = (),
           evidence: tuple[Evidence, ...] = (), racy: bool = False, build: str = "",
           alternatives: tuple[Symptom, ...] = ()) -> KnownFailure:
    return KnownFailure(test, DEFECTS[defect], Symptom(required, allowed), evidence, racy, build, alternatives)


def _runs(seen: int, tried: int, note: str) -> tuple[Evidence, ...]:
    return (Evidence(seen, tried, REFERENCE, note),)


#: Where most evidence comes from: main-job runs on the reference kernel (and targeted runs of the tests).
SESSION = "main-job runs of 2026-12-01"
#: Issue 10's first run of the new surface tests (remote life, bad arguments, nodes file, wire) on the reference.
NEW_SURFACE = "issue 10: targeted run of the new surface tests, 2026-12-01"
#: Taking P39's fuzz run apart by calls (pcn_fuzz --calls), with the fuzzer no longer joining its workers by
#: FUTEX_WAIT (P14), and the directed tests written from it.
FUZZ_SPLIT = "the fuzz split, 2026-12-03"
#: Issue 10's second session: the rest of a migrated thread's life (exit_group, execve, signals from other
#: processes, a signal in a forwarded futex wait, the two-step path).
#: The stuck-thread signs' first runs (each entry that requires one: 3 runs with it) and the joined/polled
#: pair of the threads test (7 runs of each).
WAITERS = "stuck signs and the waiters pair, 2026-12-04"
#: The P16 pair alone, 25 times, on one 4-node cluster restored between runs, beside four busy loops.
P16_UNDER_LOAD = "the P16 pair beside 4 busy loops, 2026-12-05"
REMOTE_LIFE = "issue 10: targeted run of the remote-life tests, 2026-12-02"
#: The first runs of the test of another process reading a distributed process's memory (P42).
FOREIGN_READ = "targeted runs of pcn_memory foreign, 2026-12-05"
#: The first runs of the test of the kernel's non-faulting views of a page a remote node owns (P43).
RESIDENCY = "targeted runs of pcn_memory residency, 2026-12-05"
#: The first runs of the fork tests (a child forked before the first migration, and while the peer owns a page).
FORK = "targeted runs of pcn_memory fork_before and fork_after, 2026-12-05"
#: The first runs of the test of a region the origin moves (pcn_vma origin_mremap, P46).
ORIGIN_MREMAP = "targeted runs of pcn_vma origin_mremap, 2026-12-05"
#: The first runs of the test of MADV_FREE at the origin (pcn_vma origin_free, P47).
ORIGIN_FREE = "targeted runs of pcn_vma origin_free, 2026-12-05"
#: The first runs of the test of execve at the origin after a round trip (pcn_remote origin_execve, P48).
ORIGIN_EXECVE = "targeted runs of pcn_remote origin_execve, 2026-12-05"
#: Issue 10's third session: the rogue peer (the harness listed in the nodes file as the last node).
ROGUE_PEER = "issue 10: targeted run of the rogue-peer tests, 2026-12-02"
#: The remote node gone after its process died (P23, P26, P27), as the crash watch sees it: an RCU stall of
#: the spinning remote worker (three titles seen), or no answer at all (seen in a CI emulation, no stall printed).
_REMOTE_GONE = (r"finding:node1:(lost connection to node|no output from node|"
                r"INFO: rcu detected stall in (kthread|__wait_for_common|remote_worker_main))")

KNOWN_FAILURES: list[KnownFailure] = [
    _known("test_node_info_lists_every_node_1", "P02", (r"check:node_info_entry_0",),
           evidence=_runs(2, 2, SESSION)),
    _known("test_remote_vma_operation_seen_at_origin_and_back[mremap]", "P03",
           (r"finding:node1:WARNING in vma_server_mremap_remote",),
           (r"check:remote_mremap", r"missing:origin_sees_mremap", r"check:watchdog", r"exit:124")
           + ORIGIN_SILENT + ORIGIN_SILENT_AFTERMATH, evidence=_runs(2, 2, SESSION)),
    _known("test_remote_vma_operation_seen_at_origin_and_back[mprotect]", "P04", (r"check:remote_mprotect",),
           evidence=_runs(3, 3, SESSION + "; guest rework run")),
    _known("test_remote_vma_operation_seen_at_origin_and_back[origin_munmaps]", "P40",
           (r"finding:node0:WARNING in pcn_kmsg_process",),
           evidence=(Evidence(2, 2, REFERENCE, FUZZ_SPLIT + ": the test's first runs ('type 10' 36 times)"),
                     Evidence(1, 1, REFERENCE, FUZZ_SPLIT + ": pcn_fuzz --calls migrate,touch,map_unmap --seed "
                                               "1949785701, on both nodes (each the origin of its fuzzer)"))),
    _known("test_remote_vma_operation_seen_at_origin_and_back[origin_mremap]", "P46",
           (r"finding:node0:kernel BUG in __handle_mm_fault",),
           (r"check:watchdog", r"exit:124", r"missing:(origin_reads_moved_remote_write|migrate_to_peer_again|"
                                            r"remote_reads_moved_pages|migrate_back_again)"),
           evidence=_runs(3, 3, ORIGIN_MREMAP)),
    _known("test_remote_vma_operation_seen_at_origin_and_back[origin_free]", "P47",
           (r"finding:node0:BUG: Bad rss-counter state", r"check:origin_sees_write_after_free"),
           evidence=_runs(3, 3, ORIGIN_FREE)),
    _known("test_remote_vma_operation_seen_at_origin_and_back[remote_write_dontneed_vs_writes]", "P41",
           ORIGIN_SILENT + (r"stuck:node1:__start_fault_handling",), ORIGIN_SILENT_AFTERMATH,
           evidence=(Evidence(3, 3, REFERENCE, FUZZ_SPLIT + ": the test's first runs (sysrq: the remote "
                                                           "thread in __start_fault_handling, the origin's in "
                                                           "__claim_local_page)"),
                     Evidence(3, 3, REFERENCE, WAITERS + " (with the stuck sign)"))),
    # The remote thread waits for its own mmap_sem (the rwsem's slow path is where wchan finds it).
    _known("test_remote_vma_operation_seen_at_origin_and_back[brk]", "P05",
           ORIGIN_SILENT + (r"stuck:node1:__rwsem_down_write_failed_common",), ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(3, 3, SESSION + "; guest rework run") + (Evidence(3, 3, REFERENCE, WAITERS + " (with the stuck sign)"),)),
    _known("test_futex_wait_woken_from_the_other_node[remote_wait]", "P06", ORIGIN_SILENT + ORIGIN_FAULT_WAIT,
           ORIGIN_SILENT_AFTERMATH, evidence=_runs(2, 2, SESSION) + (Evidence(3, 3, REFERENCE, WAITERS + " (with the stuck sign)"),)),
    _known("test_main_thread_exits_on_remote_node_with_its_status", "P08", ORIGIN_SILENT,
           ORIGIN_SILENT_AFTERMATH + (r"finding:node1:lost connection to node", r"finding:node1:no output from node"),
           evidence=_runs(4, 4, SESSION + "; 2 guest rework runs")),
    _known("test_process_exits_while_a_thread_is_remote", "P07", ORIGIN_SILENT, ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(2, 2, SESSION)),
    _known("test_sigkill_of_process_with_remote_thread", "P07", ORIGIN_SILENT, ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(2, 2, SESSION)),
    _known("test_madv_release_in_undistributed_process", "P09",
           (r"finding:node0:BUG: unable to handle kernel NULL pointer dereference in radix_tree_load_root",),
           ORIGIN_SILENT + ORIGIN_SILENT_AFTERMATH, evidence=_runs(2, 2, SESSION)),
    _known("test_madv_release_invalid_arguments", "P11", (r"check:remote_unmapped_range_enomem",),
           evidence=_runs(3, 3, SESSION + "; guest rework run")),
    _known("test_another_process_reads_a_page_the_remote_node_wrote", "P42",
           (r"finding:node0:kernel BUG in __handle_mm_fault", r"check:reader_sees_remote_write",
            r"check:reader_exited"), evidence=_runs(3, 3, FOREIGN_READ)),
    _known("test_memory_views_of_a_page_the_remote_node_owns", "P43",
           (r"finding:node0:WARNING in mincore_pte_range", r"check:pagemap_page_peer_owns",
            r"check:smaps_swap_page_peer_owns"), evidence=_runs(3, 3, RESIDENCY)),
    _known("test_child_forked_before_migration_keeps_its_copy", "P44",
           (r"check:child_sees_its_copy_after_remote_write", r"check:child_sees_its_copy_after_origin_write"),
           evidence=_runs(3, 3, FORK)),
    _known("test_child_forked_while_the_remote_node_owns_a_page_reads_it", "P45",
           (r"finding:node0:BUG: unable to handle kernel NULL pointer dereference in radix_tree_load_root",),
           (r"finding:node0:BUG: Bad page map",) + ORIGIN_SILENT + ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(3, 3, FORK)),
    _known("test_madv_release_at_origin_of_distributed_process_keeps_data", "P10",
           (r"finding:node0:kernel BUG in (__claim_remote_page|__handle_mm_fault)",),
           (r"check:watchdog", r"exit:124", r"missing:release_at_origin_of_distributed_process")
           + ORIGIN_SILENT + ORIGIN_SILENT_AFTERMATH, evidence=_runs(2, 2, SESSION)),
    _known("test_signal_to_origin_task_reaches_remote_thread", "P07", ORIGIN_SILENT, ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(2, 2, SESSION)),
    _known("test_remote_thread_asking_for_a_third_node_is_refused_4", "P12",
           (r"finding:node1:kernel BUG in process_server_do_migration",),
           (r"finding:node1:kernel BUG in handle_remote_task_pairing",) + ORIGIN_SILENT + ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(2, 2, SESSION)),
    _known("test_migrating_a_program_only_the_origin_has", "P17",
           (r"finding:node1:kernel BUG in remote_worker_main",), ORIGIN_SILENT + ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(3, 3, "the guest rework's self-check run; a targeted run; " + SESSION)),
    _known("test_pthread_mutex_condvar_barrier_across_nodes_4", "P13", ORIGIN_SILENT, ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(2, 2, SESSION)),
    _known("test_pthread_mutex_condvar_barrier_across_nodes", "P13", ORIGIN_SILENT, ORIGIN_SILENT_AFTERMATH,
           racy=True, evidence=(Evidence(1, 1, REFERENCE, "the CI run of issue 9's submission (node0 timed out)"),
                                Evidence(0, 3, REFERENCE, "targeted runs of the futex and exit tests, one on an "
                                                          "idle host, two beside six busy loops"))),
    _known("test_stress[storm]", "P14", ORIGIN_SILENT + ORIGIN_FAULT_WAIT, ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(2, 2, SESSION) + (Evidence(3, 3, REFERENCE, WAITERS + " (with the stuck sign)"),)),
    _known("test_round_trips_while_the_main_thread_waits[joined]", "P14", ORIGIN_SILENT + ORIGIN_FAULT_WAIT,
           ORIGIN_SILENT_AFTERMATH,
           evidence=(Evidence(3, 3, REFERENCE, WAITERS + " (with the stuck sign)"),
                     Evidence(3, 3, REFERENCE, FUZZ_SPLIT + ": the test's runs; [polled] passed in each"),
                     Evidence(2, 3, REFERENCE, FUZZ_SPLIT + ": its first version (150 trips, FUTEX_WAIT 1 s at a "
                                               "time, as phc_thread_join)"),
                     Evidence(4, 4, REFERENCE, FUZZ_SPLIT + ": pcn_fuzz --calls migrate, 1 or 2 workers, 10 s, "
                                               "joined by FUTEX_WAIT (0 of 2 hung when joined by polling)"))),
    _known("test_stress_4[storm]", "P14", ORIGIN_SILENT + ORIGIN_FAULT_WAIT, ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(2, 2, SESSION) + (Evidence(3, 3, REFERENCE, WAITERS + " (with the stuck sign)"),)),
    _known("test_crash_of_the_remote_node_ends_the_program[pingpong]", "P15", (r"expect:program_ended",),
           evidence=_runs(2, 2, SESSION)),
    _known("test_crash_of_the_remote_node_ends_the_program[rotate]", "P15", (r"expect:program_ended",),
           evidence=_runs(2, 2, SESSION)),
    # P16 shows two ways, in both waiters: the origin goes silent (a thread stuck at its node, in D in
    # wait_at_station <- __handle_localfault_at_remote, and the origin spinning in process_server_do_migration
    # after the program's watchdog: P07), or one thread never comes back from its back-migration while the
    # program goes on and ends after its 60 s wait for it (THREAD_LOST). [polled] (the main thread reads the
    # tid words instead of FUTEX_WAIT on them) fails too: P16 is not (only) P14 in the test's own join. Its
    # first THREAD_LOST: the origin's kernel logged the thread's back-migration from node2 (BACKMIG) and its
    # siblings' exits within 0.1 s, but that thread never returned to user space (its EXITED only at the
    # program's exit_group, 72 s later). The check's "got" now says where the lost thread waits at the origin.
    *[_known(f"test_threads_on_every_node_at_once_4[{waiter}]", "P16", ORIGIN_SILENT,
             ORIGIN_SILENT_AFTERMATH + (r"check:watchdog", r"exit:124"), racy=True,
             alternatives=(Symptom(THREAD_LOST),), evidence=evidence)
      for waiter, evidence in (
          ("joined", (Evidence(1, 2, REFERENCE, "earlier sessions: failed once, passed once"),
                      Evidence(1, 2, REFERENCE, SESSION), Evidence(0, 1, REFERENCE, "CI run on ea137cc"),
                      Evidence(1, 7, REFERENCE, WAITERS + " (the failure: node3's thread in D in wait_at_station "
                                                          "<- __handle_localfault_at_remote, the origin spinning "
                                                          "in process_server_do_migration after the watchdog)"),
                      Evidence(1, 1, REFERENCE, "CI run of ad05918, --backend qemu beside the libvirt run: "
                                                "THREAD_LOST (node2's thread; passed on libvirt in that run)"),
                      Evidence(1, 25, REFERENCE, P16_UNDER_LOAD + ": THREAD_LOST (node1's thread)"))),
          ("polled", (Evidence(0, 7, REFERENCE, "earlier sessions"),
                      Evidence(1, 1, REFERENCE, "CI emulation of 2026-12-04, both backends at once (8 QEMUs on 2 "
                                                "cores): test_across_hosts' nested run, a 4-node cluster over two "
                                                "emulated hosts: THREAD_LOST"),
                      Evidence(2, 25, REFERENCE, P16_UNDER_LOAD + ": the origin silent, node2's thread in D in "
                                                 "wait_at_station (both)"))))],
    _known("test_stress_4[futex]", "P14", ORIGIN_SILENT,
           ORIGIN_SILENT_AFTERMATH + (r"hang::test timed out \(every node still answers\)", r"check:watchdog",
                                      r"exit:124"), racy=True,
           evidence=(Evidence(1, 1, REFERENCE, "issue 9: a main-job run on a fresh machine, sysrq: "
                                               "__start_fault_handling under process_remote_page_request and under "
                                               "get_futex_key on node0"),
                     Evidence(0, 2, REFERENCE, SESSION))),
    *[_known(f"test_migrate_with_a_register_set_the_kernel_cannot_read[{kind}]", "P18",
             (r"finding:node0:kernel BUG in process_server_do_migration",),
             (r"check:watchdog", r"exit:124", r"missing:migrate_bad_uregs_refused", r"missing:good_migration_afterwards")
             + ORIGIN_SILENT + ORIGIN_SILENT_AFTERMATH, evidence=_runs(2, 2, NEW_SURFACE + "; its rerun"))
      for kind in ("null", "unmapped", "kernel", "partial")],
    _known("test_propose_migration_for_another_users_task_is_refused", "P19",
           (r"check:propose_for_another_users_task_eperm",), evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    _known("test_migrated_thread_at_the_remote_node[identity]", "P20",
           (r"check:remote_getppid_is_origin_ppid",),
           (r"check:remote_getpid_is_origin_pid", r"check:remote_gettid_is_origin_tid"),
           evidence=_runs(2, 2, NEW_SURFACE + "; its rerun") + (
               Evidence(1, 1, REFERENCE, "issue 12 session, targeted run of 2026-12-02: the gettid check failed "
                        "too (remote tid 75, origin 76)"),
               Evidence(1, 1, REFERENCE, "issue 12 session, full Popcorn run of 2026-12-02: getpid matched by "
                        "coincidence (75 = 75), gettid did not (76, origin 75); getppid 2 as always"))),
    _known("test_migrated_thread_at_the_remote_node[files]", "P21",
           (r"finding:node1:WARNING in write", r"check:remote_write_to_pipe", r"check:remote_write_to_open_file",
            r"check:remote_open_file_by_path", r"check:remote_read_new_file", r"check:remote_close_new_file",
            r"missing:remote_write_to_stdout", r"check:remote_write_to_stdout_returns", r"check:origin_reads_pipe",
            r"check:origin_reads_file_write"), evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    *[_known(f"test_migrated_thread_at_the_remote_node[{mode}]", "P22", (r"finding:node0:WARNING in do_futex",),
             evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")) for mode in ("futex_requeue", "futex_pi")],
    _known("test_migrated_thread_at_the_remote_node[futex_wake_op]", "P22", (r"finding:node0:WARNING in do_futex",),
           (r"finding:node0:BUG: unable to handle kernel NULL pointer dereference in fixup_user_fault",
            r"check:origin_waiter_woken", r"check:origin_sees_wake_op_store", r"missing:remote_wake_op_wakes_one",
            r"missing:back_at_origin", r"finding:node1:lost connection to node"),
           evidence=(Evidence(2, 2, REFERENCE, NEW_SURFACE + "; its rerun: the WARNING both times"),
                     Evidence(1, 2, REFERENCE, "the oops in fixup_user_fault and the lost wake-up: the rerun"),
                     Evidence(1, 1, REFERENCE, "issue 14, the suites at -n 8, 2026-12-03: the oops at the origin, "
                                               "and node1 lost its connection to it"))),
    _known("test_migrated_thread_at_the_remote_node[thread]", "P23",
           (r"finding:node1:kernel BUG in __build_and_check_msg",),
           (r"check:watchdog", r"exit:124", r"missing:remote_clone_returns_0", r"missing:remote_thread_ends",
            r"missing:remote_thread_ran_there", r"missing:back_at_origin", _REMOTE_GONE) + ORIGIN_SILENT
           + ORIGIN_SILENT_AFTERMATH, evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    _known("test_migrated_thread_at_the_remote_node[fork]", "P24", (r"check:remote_wait_gets_exit_5",),
           evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    _known("test_migrated_thread_at_the_remote_node[origin_vma]", "P25", (r"check:remote_sees_origin_mprotect_none",),
           evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    *[_known(f"test_migrated_thread_at_the_remote_node[{mode}]", "P26", ORIGIN_SILENT + (_REMOTE_GONE,),
             (r"check:watchdog", r"exit:124", r"missing:(migrated|remote_reads_shared_(anon|file)|back_at_origin|"
              r"origin_sees_remote_write_to_shared_(anon|file)|file_holds_remote_write)") + ORIGIN_SILENT_AFTERMATH,
             evidence=_runs(3, 3, NEW_SURFACE + "; its rerun; the CI emulation"))
      for mode in ("shared_anon", "shared_file")],
    _known("test_migrated_thread_at_the_remote_node[sigaction]", "P27", (r"check:handler_ran_at_remote",),
           evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    _known("test_migrated_thread_at_the_remote_node[segv]", "P27", ORIGIN_SILENT + (_REMOTE_GONE,),
           (r"check:watchdog", r"exit:124", r"missing:(migrated|segv_handler_ran_at_remote|back_at_origin)")
           + ORIGIN_SILENT_AFTERMATH,
           evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    _known("test_msg_socket_with_an_odd_nodes_file[address_across_the_512_byte_read]", "P28",
           (r"expect:outcome node0 refused, node1 refused",), evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    _known("test_msg_socket_with_an_odd_nodes_file[duplicate_address]", "P29",
           (r"expect:outcome node0 joined 2, node1 joined 1",), evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    _known("test_msg_socket_with_an_odd_nodes_file[more_than_32_addresses]", "P30",
           (r"expect:outcome node0 waiting, node1 waiting",), evidence=_runs(2, 2, NEW_SURFACE + "; its rerun")),
    _known("test_migrated_thread_at_the_remote_node[exit_group]", "P08", ORIGIN_SILENT,
           ORIGIN_SILENT_AFTERMATH + (r"check:remote_exit_group_by_second_thread_ends_process", _REMOTE_GONE),
           evidence=_runs(2, 2, REMOTE_LIFE + "; its rerun")),
    *[_known(f"test_migrated_thread_at_the_remote_node[{mode}]", "P07", ORIGIN_SILENT,
             ORIGIN_SILENT_AFTERMATH + (rf"check:({checks})", _REMOTE_GONE), evidence=_runs(2, 2, REMOTE_LIFE + "; its rerun"))
      for mode, checks in (("kill_pid", "kill_pid_handled_at_remote"),
                           ("stop_cont", "remote_process_(stops|continues|exits_0)"))],
    _known("test_migrated_thread_at_the_remote_node[execve]", "P33",
           (r"finding:node1:kernel BUG in __handle_localfault_at_remote", r"check:remote_execve_runs_new_image"),
           evidence=_runs(3, 3, "issue 10's first session (by hand); " + REMOTE_LIFE + "; its rerun")),
    _known("test_execve_at_the_origin_after_a_round_trip", "P48", (r"expect:peer_keeps_nothing",),
           evidence=_runs(3, 3, ORIGIN_EXECVE)),
    _known("test_migrated_thread_at_the_remote_node[futex_signal]", "P27",
           (r"check:remote_futex_wait_interrupted", r"check:handler_ran_at_remote"),
           evidence=_runs(2, 2, REMOTE_LIFE + "; its rerun")),
    _known("test_two_step_path_keeps_state_set_at_the_first_remote_node_4", "P32",
           (r"check:mxcsr_set_at_first_intact_back_at_origin", r"check:mxcsr_set_at_first_intact_at_second"),
           evidence=(Evidence(1, 1, REFERENCE, REMOTE_LIFE + " (at node2; the origin not checked yet)"),
                     Evidence(1, 1, REFERENCE, REMOTE_LIFE + ": its rerun, both checks"))),
    _known("test_a_node_that_restarts_its_module_rejoins", "P34",
           (r"finding:node1:BUG: unable to handle kernel (paging request|NULL pointer dereference) in "
            r"atomic_try_cmpxchg",),
           (r"finding:node1:BUG: unable to handle kernel (paging request|NULL pointer dereference) in "
            r"atomic_try_cmpxchg",
            # node1's new insmod: waits for the silent node0, or (both runs of 2026-12-02's evening) reports
            # itself joined as node 1
            r"expect:outcome node0 (not answering|joined 0), node1 (waiting|not answering|joined 1)",
            r"finding:node0:(lost connection to node|no output from node|INFO: rcu detected stall in \S+)"),
           evidence=(*_runs(2, 2, "issue 10's first session (by hand); " + REMOTE_LIFE),
                     Evidence(2, 2, REFERENCE, "main-job run and a targeted run of 2026-12-02 evening: node0 not "
                                               "answering, node1's new insmod joined 1"))),
    _known("test_a_rogue_peer_message_is_dropped[node_info_arch_out_of_range]", "P35",
           (r"finding:node0:BUG: unable to handle kernel paging request in handle_node_info",),
           evidence=_runs(3, 3, ROGUE_PEER + "; its rerun; the CI emulation of the change")),
    _known("test_a_rogue_peer_message_is_dropped[type_out_of_range]", "P36",
           (r"finding:node0:kernel BUG in recv_handler",), evidence=_runs(3, 3, ROGUE_PEER + "; its rerun; the CI emulation of the change")),
    _known("test_a_rogue_peer_message_is_dropped[size_zero]", "P37",
           (r"finding:node0:BUG: unable to handle kernel NULL pointer dereference in recv_handler",),
           evidence=_runs(3, 3, ROGUE_PEER + "; its rerun; the CI emulation of the change")),
    _known("test_a_rogue_peer_message_is_dropped[hang_up]", "P38", (r"expect:node0 answers",),
           (r"finding:node0:(lost connection to node|no output from node|INFO: rcu detected stall in \S+)",),
           evidence=_runs(3, 3, ROGUE_PEER + "; its rerun; the CI emulation of the change")),
    # Both signs: a fuzzer stuck while every node stays up and quiet would be another defect. P40 (munmap at
    # the origin) may show too, when a node's fuzzer did more than 64 of them.
    _known("test_fuzz_of_the_calls_not_known_to_crash", "P39",
           (r"expect:every fuzzer ends",
            r"finding:node\d:(kernel BUG in __claim_remote_page|lost connection to node|no output from node"
            r"|BUG: Bad rss-counter state)"),
           (r"finding:node\d:kernel BUG in __claim_remote_page",
            r"finding:node\d:(lost connection to node|no output from node|INFO: rcu detected stall in \S+)",
            r"finding:node\d:BUG: Bad rss-counter state.*", r"finding:node\d:WARNING in pcn_kmsg_process",
            r"(timeout|infra):node\d"),
           racy=True, evidence=(Evidence(4, 4, REFERENCE, "issue 10: popcorn-harness fuzz --seconds 30, seeds 11-14 "
                                                          "(3 with the BUG)"),
                                Evidence(2, 2, REFERENCE, "issue 10: the stress case's first two runs (node0 lost; "
                                                          "the BUG)"),
                                Evidence(1, 1, REFERENCE, "CI of 35c37c5: node1 stuck in touch, Bad rss-counter "
                                                          "state"),
                                Evidence(2, 2, REFERENCE, FUZZ_SPLIT + ": seed 1949785701 with the FUTEX_WAIT join "
                                                          "(SIGSEGV at node0) and without (both stuck in touch); "
                                                          "Bad rss-counter state in both"),
                                Evidence(1, 1, REFERENCE, FUZZ_SPLIT + ": the stress case with the polling fuzzer "
                                                          "(the __claim_remote_page BUG on both nodes)"))),
    _known("test_migrated_thread_at_the_remote_node[futex_timeout]", "P31", (r"check:remote_timed_wait_times_out",),
           racy=True, evidence=(Evidence(1, 1, REFERENCE, "the CI emulation of issue 11/12's change: ETIMEDOUT "
                                                          "after 0.25 s for 0.3 s"),
                                Evidence(0, 4, REFERENCE, NEW_SURFACE + "; its rerun; two CI emulations"))),
    _known("test_migrated_thread_at_the_remote_node[futex_deadline]", "P31", (r"check:remote_wait_bitset_times_out",),
           racy=True, evidence=(Evidence(1, 1, REFERENCE, "the CI emulation of issue 10's change: 26.42 s for 0.3 s"),
                                Evidence(0, 2, REFERENCE, NEW_SURFACE + "; its rerun (nodes booted together)"))),
]


# --- The detectors build -------------------------------------------------------------------------------------
# The same defects on the DETECTORS build look different: the soft-lockup detector (20 s) names a spinning
# task before the RCU stall does (21 s), lockdep's lock_is_held_type is often the frame it is caught in, the
# hung-task detector (30 s) names tasks left in D state, lockdep names a recursive lock, and a task that oopsed
# in atomic context then trips DEBUG_ATOMIC_SLEEP on its way out. A detectors entry is the any-build entry
# with the signs below added to what it allows, and where the any-build entry's required sign never shows on
# this build (an oops title whose frame lockdep changes), the sign it shows instead.

#: A spinning task as the soft-lockup detector or the RCU stall catches it on the detectors build, by the
#: frames seen: P07's origin loop (__wait_for_common), the remote worker of a dead process
#: (remote_worker_main, __wait_for_common), lockdep's code inside those loops (lock_is_held_type,
#: arch_local_irq_save: the rerun caught the remote worker there).
_SPIN_FRAMES = (r"(__wait_for_common|remote_worker_main|process_server_do_migration|popcorn_migrate|timer_interrupt|"
                r"kthread|lock_is_held_type|arch_local_irq_save)")


def _spin(nodes: str) -> str:
    return rf"finding:{nodes}:(BUG: soft lockup|INFO: rcu detected stall) in {_SPIN_FRAMES}"


#: The exit of a task that oopsed holding a lock or with preemption off (CONFIG_DEBUG_ATOMIC_SLEEP).
def _oops_exit(node: str) -> str:
    return rf"finding:{node}:BUG: sleeping function called from invalid context in ___might_sleep"


_REMOTE_GONE_DETECTORS = (r"finding:node1:(lost connection to node|no output from node)", _spin("node1"))
DETECTORS_RUN = "issue 10: the main job on the detectors build and a targeted rerun of these tests, 2026-12-03"
_ANY_BUILD = {known.test: known for known in KNOWN_FAILURES}


def _on_detectors(test: str, also: tuple[str, ...], required: tuple[str, ...] | None = None,
                  evidence: tuple[Evidence, ...] = (Evidence(2, 2, DETECTORS, DETECTORS_RUN),)) -> KnownFailure:
    """The detectors build's entry for ``test``: its any-build entry, allowing ``also`` too, requiring
    ``required`` instead of the any-build entry's required signs when given."""
    base = _ANY_BUILD[test]
    if required is None:
        required = base.symptom.required
    else:  # what the any-build entry required may still show
        also = base.symptom.required + also
    return KnownFailure(test, base.defect, Symptom(required, base.symptom.allowed + also), evidence, base.racy,
                        "detectors", base.alternatives)


_REMOTE = "test_migrated_thread_at_the_remote_node"
KNOWN_FAILURES += [
    *[_on_detectors(f"{_REMOTE}[{mode}]", (_spin(r"node[01]"),), required=ORIGIN_SILENT + (
        rf"({'|'.join(_REMOTE_GONE_DETECTORS)})",)) for mode in ("shared_anon", "shared_file", "segv")],
    *[_on_detectors(test, (_spin(r"node[01]"),)) for test in (
        f"{_REMOTE}[exit_group]", f"{_REMOTE}[kill_pid]", f"{_REMOTE}[stop_cont]",
        "test_main_thread_exits_on_remote_node_with_its_status", "test_process_exits_while_a_thread_is_remote",
        "test_signal_to_origin_task_reaches_remote_thread", "test_sigkill_of_process_with_remote_thread")],
    # lockdep names P05 itself: the second down_write of mmap_sem in __do_sys_brk
    _on_detectors("test_remote_vma_operation_seen_at_origin_and_back[brk]", (_spin("node0"),),
                  required=ORIGIN_SILENT + (r"finding:node1:possible deadlock in brk",)),
    # the origin's threads, left waiting for the dead node's pages, in D state
    *[_on_detectors(f"test_crash_of_the_remote_node_ends_the_program[{kind}]",
                    (r"finding:node0:INFO: task hung in __claim_(local|remote)_page",)) for kind in ("pingpong", "rotate")],
    # every remote participant waits in D state for the origin's answer to its forwarded futex call
    _on_detectors("test_pthread_mutex_condvar_barrier_across_nodes_4",
                  (_spin("node0"), r"finding:node[1-3]:INFO: task hung in process_server_do_futex_at_remote")),
    _on_detectors("test_madv_release_in_undistributed_process", (_oops_exit("node0"),)),
    *[_on_detectors(f"test_a_rogue_peer_message_is_dropped[{kind}]", (_oops_exit("node0"),))
      for kind in ("node_info_arch_out_of_range", "size_zero", "type_out_of_range")],
    _on_detectors("test_a_rogue_peer_message_is_dropped[hang_up]", (r"finding:node0:BUG: soft lockup in \S+",)),
    # node1's oops in the freed socket's wait queue: lockdep's __lock_acquire is the frame it is caught in
    _on_detectors("test_a_node_that_restarts_its_module_rejoins",
                  (_oops_exit("node1"), r"finding:node0:BUG: soft lockup in \S+"),
                  required=(r"finding:node1:BUG: unable to handle kernel (paging request|NULL pointer dereference) in "
                            r"(atomic_try_cmpxchg|__lock_acquire|remove_wait_queue)",)),
    _on_detectors("test_fuzz_of_the_calls_not_known_to_crash",
                  (_spin(r"node\d"), r"finding:node\d:INFO: task hung in (__handle_localfault_at_remote|"
                                     r"__start_fault_handling|__claim_(local|remote)_page)")),
]
