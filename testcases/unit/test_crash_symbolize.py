"""Raw kernel addresses become ``func+0xoff/0xsize`` from System.map; symbolized text is left alone.

The first tests use a small hand-written map; the ``real map`` tests read the System.map of the kernel
under test (``--kernel`` / POPCORN_HARNESS_KERNEL, when it has one) and of the Popcorn reference kernel
(``../shared/kernels/popcorn-5.2.21`` from the project root, or POPCORN_REFERENCE_KERNEL), and check
the table against addresses read from that map by the test itself."""

import os
from collections import defaultdict
from pathlib import Path

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


REPO = Path(__file__).resolve().parents[2]
REFERENCE_ENV = "POPCORN_REFERENCE_KERNEL"
REFERENCE_DEFAULT = REPO.parent / "shared" / "kernels" / "popcorn-5.2.21"
#: Functions every x86-64 kernel has (5.2 tinyconfig and 6.1 alike), none a generic frame the parser skips.
WELL_KNOWN = ("do_exit", "vfs_read", "start_kernel")


def _map_beside(kernel: str | Path) -> Path:
    """Where ``SymbolTable.for_kernel`` looks: the artifact dir's System.map, or the one beside a bzImage."""
    path = Path(kernel)
    return (path if path.is_dir() else path.parent) / "System.map"


def _has_text_symbols(path: Path) -> bool:
    """False for a missing map and for a placeholder: Debian's stock kernel ships a one-line System.map
    ("The real System.map is in the linux-image-<version>-dbg package")."""
    if not path.is_file():
        return False
    with path.open(errors="replace") as lines:
        return any(len(parts) >= 3 and parts[1] in ("t", "T", "w", "W") for parts in map(str.split, lines))


def pytest_generate_tests(metafunc):
    """``real_map``: the System.map of each kernel there is (kernel under test, Popcorn reference)."""
    if "real_map" not in metafunc.fixturenames:
        return
    params, absent = [], []
    kernel = metafunc.config.getoption("kernel")
    if not kernel:
        absent.append("no kernel under test (--kernel, POPCORN_HARNESS_KERNEL)")
    elif _has_text_symbols(_map_beside(kernel)):
        params.append(pytest.param(_map_beside(kernel), id="kernel-under-test"))
    else:
        absent.append(f"the kernel under test ({kernel}) has no System.map with text symbols beside it")
    if os.environ.get(REFERENCE_ENV):  # asked for by name: a wrong path fails (in the test), it does not skip
        params.append(pytest.param(_map_beside(os.environ[REFERENCE_ENV]), id="popcorn-reference"))
    elif (REFERENCE_DEFAULT / "System.map").is_file():
        params.append(pytest.param(REFERENCE_DEFAULT / "System.map", id="popcorn-reference"))
    else:
        absent.append(f"no Popcorn reference kernel at {REFERENCE_DEFAULT} (set {REFERENCE_ENV})")
    if not params:
        params.append(pytest.param(None, id="no-kernel",
                                   marks=pytest.mark.skip(reason="no System.map to read: " + "; ".join(absent))))
    metafunc.parametrize("real_map", params)


def _text_symbols(path: Path) -> dict[int, set[str]]:
    """Text symbol names by address, read straight from ``path`` (independently of SymbolTable)."""
    by_address: dict[int, set[str]] = defaultdict(set)
    for line in path.read_text().splitlines():
        address, kind, name = line.split()[:3]
        if kind in ("t", "T", "w", "W"):
            by_address[int(address, 16)].add(name)
    return by_address


@pytest.fixture
def real(real_map):
    """(the table SymbolTable reads, the map's text symbols by address, their sorted addresses)."""
    assert real_map.is_file(), f"no System.map at {real_map}"
    table = SymbolTable.for_kernel(real_map.parent)
    assert table is not None, f"SymbolTable.for_kernel({real_map.parent}) found no System.map"
    by_address = _text_symbols(real_map)
    assert len(by_address) > 1000, f"{real_map} has only {len(by_address)} text addresses"
    return table, by_address, sorted(by_address)


def _address_of(by_address: dict[int, set[str]], name: str) -> int:
    [address] = [a for a, names in by_address.items() if name in names]
    return address


def test_real_map_gives_well_known_functions_with_their_offsets_and_sizes(real):
    table, by_address, addresses = real
    for name in WELL_KNOWN:
        start = _address_of(by_address, name)
        end = addresses[addresses.index(start) + 1]  # the next text symbol: where this one's size ends
        size = end - start
        assert size > 0
        names = by_address[start]  # aliases share an address; the table names it by one of them
        for offset in sorted({0, 1, size // 2, size - 1}):
            got = table.lookup(start + offset)
            assert got is not None, f"{name}+{offset:#x} ({start + offset:#x}) not found"
            symbol, _, rest = got.partition("+")
            assert symbol in names and rest == f"{offset:#x}/{size:#x}", (name, offset, got)
        assert table.lookup(end).partition("+")[0] in by_address[end], "the next address is the next symbol's"


def test_real_map_resolves_every_sampled_text_symbol(real):
    table, by_address, addresses = real
    sample = addresses[:-1:max(1, len(addresses) // 500)]  # ~500 spread over the text (not the last: no size)
    wrong = []
    for start in sample:
        end = addresses[addresses.index(start) + 1]
        got = table.lookup(start + (end - start) // 2)
        symbol, _, rest = (got or "").partition("+")
        if symbol not in by_address[start] or rest != f"{(end - start) // 2:#x}/{end - start:#x}":
            wrong.append((hex(start), sorted(by_address[start]), got))
    assert wrong == [], f"{len(wrong)} of {len(sample)} wrong: {wrong[:10]}"


def test_real_map_leaves_addresses_outside_the_text_unresolved(real):
    table, _, addresses = real
    assert table.lookup(addresses[0] - 1) is None
    assert table.lookup(addresses[-1]) is None and table.lookup(addresses[-1] + 0x100000) is None
    assert table.lookup(0xffffffffc0001000) is None  # module space
    line = "[    2.7]  ? 0xffffffffc0001000"
    assert table.symbolize_line(line) == line


def test_real_map_symbolizes_a_raw_report_and_gives_its_culprit(real):
    table, by_address, addresses = real
    start = _address_of(by_address, "do_exit")
    size = addresses[addresses.index(start) + 1] - start
    caller = _address_of(by_address, "vfs_read")
    caller_size = addresses[addresses.index(caller) + 1] - caller
    assert by_address[start] == {"do_exit"} and by_address[caller] == {"vfs_read"}, "aliased: pick others"
    raw = ("[    2.7] kernel BUG at kernel/exit.c:1!\n"
           "[    2.7] invalid opcode: 0000 [#1] SMP\n"
           f"[    2.7] RIP: 0010:0x{start + 0x10:x}\n"
           "[    2.7] Call Trace:\n"
           f"[    2.7]  0x{caller + 0x20:x}\n")
    [without] = parse(raw)
    assert (without.title, without.corrupted) == ("kernel BUG in corrupted", True)
    [finding] = parse(raw, symbols=table)
    assert (finding.title, finding.corrupted) == ("kernel BUG in do_exit", False)
    assert f"RIP: 0010:do_exit+0x10/{size:#x}" in finding.symbolized
    assert f"[    2.7]  vfs_read+0x20/{caller_size:#x}" in finding.symbolized
