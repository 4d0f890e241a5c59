"""What a boot that ended in a kernel panic is called (harness.cluster.cluster.boot_panic): the report
that ended the kernel, not a soft lockup a starved TCG guest printed on the way (seen in CI)."""

from pathlib import Path

from harness.cluster.cluster import boot_panic

CORPUS = Path(__file__).parent / "data" / "crash"


def corpus_report(name: str) -> str:
    """The console text of a corpus file, without its TITLE/TYPE header."""
    return CORPUS.joinpath(name).read_text().split("\n\n", 1)[1]


NO_INIT = """[ 2461.547184] Run /no/such/init as init process
[ 2474.343195] Kernel panic - not syncing: Requested init /no/such/init failed (error -2).
[ 2474.357101] CPU: 0 PID: 1 Comm: swapper/0 Tainted: G             L     6.1.192 #1
[ 2474.364382] Call Trace:
[ 2474.367406]  <TASK>
[ 2474.369604]  dump_stack_lvl+0x4c/0x5f
[ 2475.131587]  panic+0x110/0x28a
[ 2475.154525]  kernel_init+0xb2/0x101
[ 2475.162525]  </TASK>
[ 2475.790344] Kernel Offset: disabled
"""
FATAL = "[   30.000000] Kernel panic - not syncing: Fatal exception\n[   30.000100] Kernel Offset: disabled\n"


def test_a_console_without_a_panic_has_no_boot_panic():
    assert boot_panic(corpus_report("006")) == ""


def test_the_panic_that_ended_the_boot_names_it_past_an_earlier_soft_lockup():
    assert boot_panic(NO_INIT) == "kernel panic: Requested init /no/such/init failed (error -2)."
    assert boot_panic(corpus_report("006") + NO_INIT) == "kernel panic: Requested init /no/such/init failed (error -2)."


def test_a_fatal_exception_is_named_by_the_oops_it_follows_not_by_an_earlier_soft_lockup():
    oops = corpus_report("004")
    assert boot_panic(oops + FATAL) == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert boot_panic(corpus_report("006") + oops + FATAL) == \
        "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"


def test_a_soft_lockup_that_panicked_the_kernel_is_its_own_title():
    lockup = corpus_report("006") + "[   40.0] Kernel panic - not syncing: softlockup: hung tasks\n"
    assert boot_panic(lockup) == "BUG: soft lockup in lkdtm_SOFTLOCKUP"
