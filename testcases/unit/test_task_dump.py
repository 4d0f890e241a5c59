"""A sysrq task dump read from a console (harness.crash.task_dump): its tasks, their reliable frames and wait
channels named as the kernel's wchan (System.map); and the guest program threads in D there as the stuck
signs of a node that does not answer SSH (harness.cluster.stuck)."""

from harness.cluster.stuck import dumped_stuck_signs, program_names
from harness.crash.symbolize import SymbolTable
from harness.crash.task_dump import DumpedTask, dumped_tasks, wait_channel

# A sysrq task dump as Linux 5.2 prints it on the console (alt+sysrq+w, then the start of +l's output).
DUMP_5_2 = """\
[  133.201634] sysrq: SysRq : Show Blocked State
[  133.202012]   task                        PC stack   pid father
[  133.202570] pcn_vma         D    0   231    229 0x00000000
[  133.203001] Call Trace:
[  133.203200]  __schedule+0x2b0/0x850
[  133.203500]  ? __switch_to_asm+0x34/0x70
[  133.203800]  schedule+0x29/0x80
[  133.204100]  __rwsem_down_write_failed_common+0x1aa/0x2f0
[  133.204400]  rwsem_down_write_failed+0xe/0x10
[  133.204700]  __do_sys_brk+0x35/0x300
[  133.205000]  do_syscall_64+0x55/0x180
[  133.205300]  entry_SYSCALL_64_after_hwframe+0x44/0xa9
[  133.205600] RIP: 0033:0x4a1b2c
[  133.205900] kworker/0:1     D13456    12      2 0x80004000
[  133.206200] Workqueue: events process_remote_page_request
[  133.206500] Call Trace:
[  133.206800]  __schedule+0x2b0/0x850
[  133.207100]  _do_fork+0x11/0x300
[  133.207400] pcn_other       S    0   240    229 0x00000000
[  133.207700] Call Trace:
[  133.208000]  __schedule+0x2b0/0x850
[  133.208300]  _do_fork+0x11/0x300
[  133.208600] sysrq: SysRq : Show backtrace of all active CPUs
"""

# The same as Linux 6.1 prints it (no time stamps here).
DUMP_6_1 = """\
sysrq: Show Blocked State
task:phc_vfork_wait  state:D stack:0     pid:231   ppid:1      flags:0x00004002
Call Trace:
 <TASK>
 __schedule+0x2f1/0x900
 ? _raw_spin_lock+0x13/0x30
 schedule+0x5e/0xd0
 kernel_clone+0x2a1/0x3f0 [some_module]
 __do_sys_vfork+0x4f/0x70
 do_syscall_64+0x3b/0x90
 </TASK>
"""

SYSTEM_MAP = """\
ffffffff81030e01 T _do_fork
ffffffff8103a000 T kernel_clone
ffffffff8105c398 t __rwsem_down_write_failed_common
ffffffff81070000 T __do_sys_brk
ffffffff812695e8 T __sched_text_start
ffffffff812695f0 t __schedule
ffffffff8126984c T schedule
ffffffff8126af85 T rwsem_down_write_failed
ffffffff8126baf5 T __sched_text_end
ffffffff8126bbf8 T __lock_text_start
ffffffff8126bc00 T _raw_spin_lock
ffffffff8126bdfb T __lock_text_end
ffffffff81300000 T _etext
"""


def _table(tmp_path):
    (tmp_path / "System.map").write_text(SYSTEM_MAP)
    return SymbolTable.for_kernel(tmp_path)


def test_a_sysrq_dump_is_read_into_tasks_with_their_reliable_frames():
    assert dumped_tasks(DUMP_5_2) == [
        DumpedTask(231, "pcn_vma", "D", ("__schedule", "schedule", "__rwsem_down_write_failed_common",
                                         "rwsem_down_write_failed", "__do_sys_brk", "do_syscall_64",
                                         "entry_SYSCALL_64_after_hwframe")),
        DumpedTask(12, "kworker/0:1", "D", ()),  # its Workqueue line ends what is read of it
        DumpedTask(240, "pcn_other", "S", ("__schedule", "_do_fork"))]
    assert dumped_tasks(DUMP_6_1) == [DumpedTask(231, "phc_vfork_wait", "D", (
        "__schedule", "schedule", "kernel_clone", "__do_sys_vfork", "do_syscall_64"))]
    assert dumped_tasks("no dump here\n") == []


def test_the_wait_channel_of_a_trace_is_its_first_function_outside_the_scheduler_and_the_locks(tmp_path):
    table = _table(tmp_path)
    assert [table.in_scheduler(f) for f in ("schedule", "_raw_spin_lock", "_do_fork", "a_module_function")] == \
        [True, True, False, False]
    assert wait_channel(("__schedule", "schedule", "rwsem_down_write_failed", "__do_sys_brk"), table.in_scheduler) \
        == "__do_sys_brk"
    assert wait_channel(("__schedule", "__rwsem_down_write_failed_common"), table.in_scheduler) == \
        "__rwsem_down_write_failed_common"
    assert wait_channel(("__schedule", "schedule"), table.in_scheduler) == "unknown"
    assert wait_channel(("__schedule", "_do_fork"), None) == "unknown"
    assert SymbolTable([(1, "f"), (2, "g")]).in_scheduler("f") is None  # a map without the section bounds


def test_guest_program_threads_in_d_in_a_dump_give_stuck_signs(tmp_path):
    table = _table(tmp_path)
    programs = program_names(["/opt/phc/bin/pcn_vma", "/opt/phc/bin/pcn_other", "/etc/popcorn/nodes",
                              "/opt/phc/bin/phc_vfork_wait_long_name"])
    assert programs == {"pcn_vma", "pcn_other", "phc_vfork_wait_"}
    look = dumped_stuck_signs({"node1": DUMP_5_2, "node0": "(the console printed nothing)"}, programs,
                              table.in_scheduler)
    assert look == (["stuck:node1:__rwsem_down_write_failed_common"],
                    ["node1: pcn_vma[231] in __rwsem_down_write_failed_common (sysrq dump)"], [])
    look = dumped_stuck_signs({"node0": DUMP_6_1}, {"phc_vfork_wait"}, table.in_scheduler)
    assert look.signs == ["stuck:node0:kernel_clone"]
    assert dumped_stuck_signs({"node0": DUMP_6_1}, {"phc_vfork_wait"}, None).signs == ["stuck:node0:unknown"]
