"""Raw kernel addresses become ``func+0xoff/0xsize`` from System.map; symbolized text is left alone."""

import pytest

from harness.crash.parser import parse
from harness.crash.symbolize import SymbolTable

SYSTEM_MAP = """\
0000000000000000 D __per_cpu_start
ffffffff81000000 T _stext
ffffffff811f20b5 t direct_entry
ffffffff811f2170 t lkdtm_do_action
ffffffff811f254d t lkdtm_BUG
ffffffff811f254f t lkdtm_WARNING
ffffffff811f255a t lkdtm_WARNING_MESSAGE
ffffffff81600b58 T _etext
ffffffff81800000 D some_data
"""


@pytest.fixture
def table(tmp_path):
    (tmp_path / "System.map").write_text(SYSTEM_MAP)
    (tmp_path / "bzImage").write_bytes(b"")
    return SymbolTable.for_kernel(tmp_path / "bzImage")


@pytest.mark.parametrize("raw, expected", [
    ("[    2.7] RIP: 0010:0xffffffff811f254d", "[    2.7] RIP: 0010:lkdtm_BUG+0x0/0x2"),
    ("[    2.7]  ? 0xffffffff811f20b6", "[    2.7]  ? direct_entry+0x1/0xbb"),
    ("[    2.7]  0xffffffff811f20b6", "[    2.7]  direct_entry+0x1/0xbb"),
    ("[    2.7][   T59]  0xffffffff811f20b6", "[    2.7][   T59]  direct_entry+0x1/0xbb"),
    ("[    2.7]  [<ffffffff811f20b6>]", "[    2.7]  [<ffffffff811f20b6>] direct_entry+0x1/0xbb"),
])
def test_raw_addresses_are_symbolized(table, raw, expected):
    assert table.symbolize_line(raw) == expected


@pytest.mark.parametrize("line", [
    "[    2.7]  [<ffffffff811f20b6>] direct_entry+0xa5/0xbb",    # already symbolized (old style)
    "[    2.7] RIP: 0010:lkdtm_BUG+0x0/0x2",                      # already symbolized
    "[    2.7] RIP: 0033:0x47b7a0",                               # user space
    "[    2.7] RAX: ffffffff811f254d RBX: ffff888000db7000",      # a register, not a frame
    "[    2.7]  ? 0xffffffffc0001000",                            # beyond the kernel's text (a module)
])
def test_lines_that_need_nothing_are_unchanged(table, line):
    assert table.symbolize_line(line) == line


def test_a_raw_report_gets_its_culprit_and_a_symbolized_excerpt(table):
    raw = ("[    2.7] kernel BUG at drivers/misc/lkdtm/bugs.c:78!\n"
           "[    2.7] invalid opcode: 0000 [#1] SMP\n"
           "[    2.7] RIP: 0010:0xffffffff811f254d\n"
           "[    2.7] Call Trace:\n"
           "[    2.7]  0xffffffff811f2160\n")
    [without] = parse(raw)
    assert (without.title, without.corrupted) == ("kernel BUG in corrupted", True)
    [finding] = parse(raw, symbols=table)
    assert (finding.title, finding.corrupted) == ("kernel BUG in lkdtm_BUG", False)
    assert finding.excerpt == raw.rstrip("\n")
    assert "RIP: 0010:lkdtm_BUG+0x0/0x2" in finding.symbolized and "direct_entry+0xab/0xbb" in finding.symbolized


def test_no_system_map_means_no_table(tmp_path):
    assert SymbolTable.for_kernel(tmp_path) is None
    assert SymbolTable.for_kernel("") is None


def test_the_ci_kernel_map_reads_when_present():
    """The real System.map of the CI kernel, when this machine has it."""
    from pathlib import Path

    path = Path.home() / ".cache/popcorn-harness/kernels/artifacts/3a42027f6aabaf307103"
    if not (path / "System.map").is_file():
        pytest.skip("CI kernel artifact not built on this machine")
    table = SymbolTable.for_kernel(path)
    assert table.lookup(0xffffffff811f254d) == "lkdtm_BUG+0x0/0x2"
