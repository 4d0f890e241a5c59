"""The console scanner finds kernel failures in real-looking console text, and nothing in clean text."""

import pytest

from harness.console import scan

CLEAN = """[    0.000000] Linux version 6.1.0 (gcc 12) #1 SMP
[    1.234567] virtio_net virtio0 eth0: renamed
popcorn-harness: guest ready node0 uptime=2.1
[    3.000000] popcorn: Ready on TCP/IP
"""


@pytest.mark.parametrize("line, kind, title", [
    ("[   12.5] BUG: kernel NULL pointer dereference, address: 0000000000000008",
     "BUG", "BUG: kernel NULL pointer dereference, address: 0000000000000008"),
    ("[    9.1] kernel BUG at kernel/popcorn/process_server.c:123!", "kernel BUG",
     "kernel BUG at kernel/popcorn/process_server.c:123!"),
    ("[    3.3] WARNING: CPU: 0 PID: 77 at mm/memory.c:100 foo+0x1/0x2", "WARNING",
     "WARNING: CPU: 0 PID: 77 at mm/memory.c:100 foo+0x1/0x2"),
    ("[  130.0] INFO: task migrate:88 blocked for more than 120 seconds.", "INFO: task hung",
     "INFO: task migrate:88 blocked for more than 120 seconds"),
    ("[    5.0] Kernel panic - not syncing: sysrq triggered crash", "Kernel panic",
     "Kernel panic - not syncing: sysrq triggered crash"),
    ("[    7.0] general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP",
     "general protection fault", "general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP"),
])
def test_failure_lines_are_found_with_kind_and_title(line, kind, title):
    findings = scan(CLEAN + line + "\n[   99.0] Call Trace:\n", node="node1")
    assert [(f.node, f.kind, f.title) for f in findings] == [("node1", kind, title)]
    assert "Call Trace:" in findings[0].excerpt


def test_clean_boot_has_no_findings():
    assert scan(CLEAN) == []
