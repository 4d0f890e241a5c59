"""The crash table: which console line starts which kernel report, and how its title is made.

Modelled on syzkaller's pkg/report/linux.go (its idea, not its code): each row has a header regular
expression (searched in a console line with the timestamp and ``[ T123]``/``[ C1]`` caller prefix
removed), a title format, a type (``harness.crash.finding.TYPES``) and where the culprit function comes
from, in order:

- ``header``: the header's own ``func`` group (``WARNING: ... at FILE:LINE func+0x..``);
- ``rip``: the kernel-mode ``RIP: 0010:func+0x..`` line (``IP:`` on old kernels);
- ``trace``: the first frame after ``Call Trace:`` that is reliable (no ``?``) and not generic;
- ``at``: the first lockdep ``..., at: func+0x..`` line (the lock being taken).

Generic frames (``GENERIC_SKIP``, plus a row's own ``skip``) are passed over: BUG/WARN/trap
machinery (any function with ``panic`` in its name, so Popcorn's ``page_server_panic`` BUG wrapper
names its caller), locking, scheduling, list and refcount helpers, so the title names the caller;
syscall wrapper prefixes (``__x64_sys_``...) are stripped. A row that
needs a culprit and finds none gives the title with ``corrupted`` as the function (syzkaller's
convention) and marks the report corrupted.

Titles: ``kernel BUG at FILE:LINE!`` becomes ``kernel BUG in FUNC`` (the function with the BUG_ON),
as in syzkaller: the line number moves with every patch, the function rarely does. FILE:LINE stays in
the excerpt's header line.

A ``follows`` row (``Kernel panic - not syncing: Fatal exception``, panics of the lockup detectors)
is a consequence: it is reported only when no other report came before it in the same text. The boot
banner is an "unexpected reboot" only after earlier kernel output in the same text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A function name in a frame or RIP line: ``name`` of ``name+0x..``, ``name.isra.0+0x..``.
FUNC = r"(?P<func>[A-Za-z0-9_]+)(?:\.[A-Za-z0-9_.]+)?\+0x"
#: A raw address in brackets, as old kernels print before each frame.
PC = r"\[<?(?:0x)?[0-9a-f]+>?\]"


@dataclass(frozen=True)
class Oops:
    """One row of the crash table."""

    header: str
    title: str
    type: str
    culprit: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    follows: bool = False
    #: Counts only after earlier kernel output in the same text (a second boot banner).
    after_kernel_output: bool = False
    #: A pattern whose first group names the event a report is about; a later report of this row with
    #: the same value repeats the earlier one (the RCU stall warning printed again, every few seconds,
    #: for the same grace period, its culprit sampled wherever the stalled CPU happened to be).
    repeats_by: str = ""


#: Frames of the interrupt that sampled a stall, not of the stalled code: the timer tick (APIC or, on 5.2
#: under TCG, the legacy IRQ0 ``timer_interrupt`` through ``do_IRQ``; seen in CI titling a Popcorn stall
#: "timer_interrupt"), the stall reporter itself.
_STALL_SKIP = ("rcu", "timer_interrupt", "sysvec_", "^irq_", "tick_", "update_process_times", "hrtimer",
               "^__handle_irq_event", "^handle_irq", "^handle_(edge|level|fasteoi)_irq", "^do_IRQ$",
               "^common_interrupt$", "watchdog", "^sched_show_task", "^show_", "^print_", "backtrace", "^nmi_")
_SCHED_SKIP = ("sched", "^context_switch", "^__switch_to", "wait_for_", "_wait$", "^wait_", "msleep",
               "completion")

#: The table, most specific rows first (the first row whose header matches a line starts a report).
OOPSES: tuple[Oops, ...] = (
    # lockdep (before the generic WARNING row)
    Oops(r"(?:WARNING|INFO): possible (?:circular|recursive) locking", "possible deadlock in {func}",
         "lockdep", ("at",)),
    Oops(r"(?:WARNING|INFO): possible irq lock inversion|(?:WARNING|INFO): \S+-safe -> \S+-unsafe lock order",
         "possible deadlock in {func}", "lockdep", ("at",)),
    Oops(r"(?:WARNING|INFO): inconsistent lock state", "inconsistent lock state in {func}", "lockdep",
         ("at",)),
    Oops(r"(?:BUG|WARNING): lock held when returning to user space", "BUG: lock held when returning to user space in {func}",
         "lockdep", ("at",)),
    Oops(r"WARNING: bad unlock balance detected", "WARNING: bad unlock balance in {func}", "lockdep",
         ("trace",)),
    Oops(r"BUG: .*still has locks held", "BUG: still has locks held in {func}", "lockdep", ("at", "trace")),
    # data corruption reported by CONFIG_DEBUG_LIST (message line, then a WARNING or kernel BUG)
    Oops(r"list_(?:add|del|replace)(?:_rcu)? corruption|kernel BUG at lib/list_debug\.c",
         "BUG: corrupted list in {func}", "memory-safety", ("trace", "rip"), ("list_", "_list_")),
    Oops(r"refcount_t: ", "WARNING: refcount bug in {func}", "warning", ("rip", "trace"), ("refcount",)),
    # BUG: ...
    Oops(r"BUG: (?:unable to handle kernel |kernel |Kernel )NULL pointer dereference",
         "BUG: unable to handle kernel NULL pointer dereference in {func}", "null-deref", ("rip", "trace")),
    Oops(r"BUG: unable to handle (?:kernel paging request|page fault for address)",
         "BUG: unable to handle kernel paging request in {func}", "memory-safety", ("rip", "trace")),
    Oops(r"BUG: soft lockup", "BUG: soft lockup in {func}", "hang", ("rip", "trace"), _STALL_SKIP),
    Oops(r"BUG: scheduling while atomic", "BUG: scheduling while atomic in {func}", "atomic-sleep",
         ("trace",), _SCHED_SKIP),
    Oops(r"BUG: sleeping function called from invalid context",
         "BUG: sleeping function called from invalid context in {func}", "atomic-sleep", ("trace",),
         _SCHED_SKIP),
    Oops(r"BUG: Bad page (?P<what>state|map|cache)", "BUG: Bad page {what}", "memory-safety"),
    # check_mm() at an mm's teardown: a per-mm page counter (file, anon, swap, shmem) is not back to zero;
    # no stack to name a culprit (syzkaller titles it the same way). Seen under Popcorn fuzzing (P39).
    Oops(r"BUG: Bad rss-counter state", "BUG: Bad rss-counter state", "memory-safety"),
    Oops(r"BUG: stack guard page was hit", "BUG: stack guard page was hit in {func}", "memory-safety",
         ("rip", "trace")),
    Oops(r"BUG: (?P<what>spinlock|rwlock) (?P<how>lockup suspected|already unlocked|recursion|cpu recursion"
         r"|bad magic|wrong owner|wrong CPU)", "BUG: {what} {how} in {func}", "lockdep", ("trace",)),
    Oops(r"BUG: workqueue lockup", "BUG: workqueue lockup", "hang"),
    # KASAN (kernel-patches/configs/kasan.config): 'BUG: KASAN: use-after-free in func+0x../0x..', then
    # 'Read of size 8 at addr ... by task ...'; the header names the faulting function (syzkaller's
    # title adds Read/Write from the next line)
    Oops(r"BUG: KASAN: (?P<what>[a-z-]+) in " + FUNC, "KASAN: {what} in {func}", "memory-safety",
         ("header", "trace")),
    Oops(r"BUG: (?P<what>[^,:]+)", "BUG: {what} in {func}", "bug", ("rip", "trace")),
    # kernel BUG at FILE:LINE! (BUG_ON); the "invalid opcode" line after it belongs to the same report
    Oops(r"kernel BUG at (?P<where>\S+?)!?$", "kernel BUG in {func}", "bug", ("rip", "trace")),
    # WARN(): the function is in the header itself
    Oops(r"WARNING: .*? at \S+:\d+ " + FUNC, "WARNING in {func}", "warning", ("header", "rip", "trace")),
    Oops(r"WARNING: ", "WARNING in {func}", "warning", ("rip", "trace")),
    # hangs
    Oops(r"INFO: task .{1,64}? blocked for more than \d+ seconds", "INFO: task hung in {func}", "hang",
         ("trace",), _SCHED_SKIP),
    Oops(r"INFO: rcu_\w+ (?:self-)?detected(?: expedited)? stalls?", "INFO: rcu detected stall in {func}",
         "hang", ("rip", "trace"), _STALL_SKIP, repeats_by=r"\bg=(-?\d+)"),
    Oops(r"watchdog: Watchdog detected hard LOCKUP", "BUG: hard lockup in {func}", "hang", ("rip", "trace"),
         _STALL_SKIP),
    # traps without a BUG: header
    Oops(r"general protection fault", "general protection fault in {func}", "memory-safety", ("rip", "trace")),
    Oops(r"invalid opcode: ", "invalid opcode in {func}", "bug", ("rip", "trace")),
    Oops(r"PANIC: double fault", "kernel panic: double fault in {func}", "panic", ("rip", "trace")),
    Oops(r"Oops: ", "Oops in {func}", "bug", ("rip", "trace")),
    # panics: consequences of an earlier report first, then any other
    Oops(r"Kernel panic - not syncing: (?P<msg>Fatal exception(?: in interrupt)?|softlockup: hung tasks"
         r"|hung_task: blocked tasks|panic_on_warn set|Hard LOCKUP|RCU Stall)", "kernel panic: {msg}", "panic",
         follows=True),
    Oops(r"Kernel panic - not syncing: (?P<msg>.*?)\s*$", "kernel panic: {msg}", "panic"),
    # the kernel starting again (the harness boots with -no-reboot, so this is a triple fault or kexec)
    Oops(r"^Linux version \d", "unexpected reboot", "reboot", after_kernel_output=True),
)

#: Frames never taken as the culprit: the machinery that prints a report or traps, locking,
#: scheduling, generic helpers. Searched (``re.search``) in the function name.
GENERIC_SKIP: tuple[str, ...] = (
    "panic", "dump_stack", "show_stack", "show_regs", "^__warn", "warn_slowpath", "report_bug",
    "^handle_bug", "^exc_", "^asm_exc_", "^do_error_trap", "^do_trap", "^die", "^__die", "^oops_",
    "^do_int3", "^lock_acquire", "^lock_release", "lockdep", "^_raw_", "^do_raw_", "^queued_", "^__raw_",
    "spin_lock", "spin_unlock", "^mutex_", "^__mutex_", "^down", "^up_", "^up$", "printk", "^__might_sleep",
    "__might_resched", "might_fault", "^mem(?:cpy|set|move|cmp)$", "^str(?:cpy|ncpy|len|cmp|ncmp)$",
    "^copy_(?:to|from)_user", "^kasan_", "^__kasan", "^__sanitizer", "^__ubsan", "^ubsan_",
    "wait_for_completion", "_indirect_thunk_", "^entry_SYSCALL", "^do_syscall_64", "^syscall_enter", "^do_softirq", "^__do_softirq",
)

#: Prefixes stripped from a culprit (syscall entry wrappers), as syzkaller does.
STRIP_PREFIXES: tuple[str, ...] = ("__x64_sys_", "__ia32_sys_", "__se_sys_", "__do_sys_", "__sys_", "ksys_", "sys_")

#: Lines that end a report.
REPORT_END = re.compile(r"---\[ end (?:trace [0-9a-f]+|Kernel panic)")
#: Where a call trace starts, and a frame in it (optional ``?`` = unreliable, optional raw addresses).
CALL_TRACE = re.compile(r"Call Trace:|Call trace:|Backtrace:")
FRAME = re.compile(r"^(?P<unreliable>\?\s+)?(?:" + PC + r"\s+){0,2}(?P<unreliable2>\?\s+)?" + FUNC)
TRACE_MARKER = re.compile(r"^</?(?:TASK|IRQ|NMI|SOFTIRQ|EOI)>$")
RIP = re.compile(r"\b(?:RIP|IP): (?:0010:)?(?:" + PC + r"\s+)?" + FUNC)
LOCK_AT = re.compile(r", at: (?:" + PC + r"\s+)?" + FUNC)
#: The console line prefix: log level, timestamp, caller id (``[ T123]``, ``[ C1]``).
LINE_PREFIX = re.compile(r"^(?:<\d>)?\s*(?:\[\s*\d+\.\d+\]\s?)?(?:\[\s*[CT]\d+\]\s?)?\s*")

#: The longest console line the parser reads: the kernel never prints a longer one (printk's LOG_LINE_MAX
#: is 1024 - 32 bytes), so only a guest's own output (or garbage) is cut, and every pattern then runs on
#: bounded input however hostile the guest.
MAX_LINE = 1024
#: A report header starts within this many characters of its line (after the console prefix): some
#: subsystems put a word before it ("rcu: INFO: rcu_sched detected stalls"). Anchoring each header this
#: way keeps a line full of would-be headers ("WARNING: WARNING: ...") linear to scan.
HEADER_START = 64

COMPILED: tuple[tuple[Oops, re.Pattern], ...] = tuple(
    (row, re.compile(rf"^.{{0,{HEADER_START}}}?(?:{row.header})")) for row in OOPSES)


def _unnamed(header: str) -> str:
    """``header`` with its named groups made plain, so that headers can be joined in one alternation."""
    return re.sub(r"\(\?P<\w+>", "(?:", header)


def _unanchored(header: str) -> str:
    """``header`` without a leading ``^`` or trailing ``$``: it then matches wherever the anchored one did."""
    return header.removeprefix("^").removesuffix("$")


#: Matches a console line (prefix removed) exactly when some row of ``COMPILED`` does: one regex instead of
#: one per row for the lines that are no header, which is nearly all of them.
ANY_HEADER = re.compile(rf"^.{{0,{HEADER_START}}}?(?:{'|'.join(f'(?:{_unnamed(row.header)})' for row in OOPSES)})")
#: Found somewhere in any console text that holds a header line (a superset: headers unanchored, anywhere):
#: text it is not found in holds no report, and a flood of megabytes is passed over at regex speed.
MAYBE_HEADER = re.compile("|".join(f"(?:{_unanchored(_unnamed(row.header))})" for row in OOPSES))
