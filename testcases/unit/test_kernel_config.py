"""Config fragments, the verification of the final ``.config`` and the reasons for dropped options.

The Kconfig trees here are small real Kconfig files written by the tests (the reader is the same one
that reads a kernel tree).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.kernel.config import (
    CONFIGS_DIR,
    DroppedOption,
    Fragment,
    find_dropped,
    load_fragment,
    parse_config_text,
    requested_options,
)
from harness.kernel.kconfig_deps import conjuncts, evaluate, explain, read_kconfig, with_reason

KCONFIG = """\
mainmenu "test"

config MODULES
\tbool "modules"

config ARCH_SUPPORTS_POPCORN
\tbool

config TRANSPARENT_HUGEPAGE
\tbool "THP"
\thelp
\t  Not a keyword here:
\t  config FAKE_IN_HELP
\t  if SOMETHING

config POPCORN
\tbool "Popcorn"
\tdepends on ARCH_SUPPORTS_POPCORN && !TRANSPARENT_HUGEPAGE && \\
\t\t!SWAP

config SWAP
\tbool "swap"

source "sub/Kconfig"

config LOCKDEP
\tbool

config PROVE_LOCKING
\tbool "prove"
\tselect LOCKDEP

choice
\tprompt "allocator"
config SLUB
\tbool "SLUB"
config SLOB
\tbool "SLOB"
endchoice

config SOCK
\ttristate "socket"
\tdepends on m && INET

config INET
\tbool "inet"
"""

SUB_KCONFIG = """\
menuconfig RUNTIME_TESTING_MENU
\tbool "runtime testing"

if RUNTIME_TESTING_MENU

config LKDTM
\ttristate "lkdtm"
\tdepends on DEBUG_FS

endif # RUNTIME_TESTING_MENU

config DEBUG_FS
\tbool "debugfs"
"""


@pytest.fixture
def kconfig_tree(tmp_path) -> Path:
    (tmp_path / "Kconfig").write_text(KCONFIG)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Kconfig").write_text(SUB_KCONFIG)
    return tmp_path


def test_parse_config_text_reads_set_unset_and_strings():
    text = 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_D=30\n# comment\n'
    assert parse_config_text(text) == {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": '"x y"', "CONFIG_D": "30"}


def test_load_fragment_by_name_and_rejects_garbage(tmp_path):
    assert load_fragment("qemu-guest").options["CONFIG_VIRTIO_NET"] == "y"
    bad = tmp_path / "bad.config"
    bad.write_text("CONFIG_A=y\nTHIS IS NOT CONFIG\n")
    with pytest.raises(UsageError, match="bad.config:2: not a config line"):
        load_fragment(str(bad))
    with pytest.raises(UsageError, match="no config fragment 'nope'.*qemu-guest"):
        load_fragment("nope")


def test_later_fragments_win():
    first = Fragment("a", "CONFIG_X=y\nCONFIG_Y=y\n", "a")
    second = Fragment("b", "# CONFIG_X is not set\n", "b")
    assert requested_options([first, second]) == {"CONFIG_X": ("n", "b"), "CONFIG_Y": ("y", "a")}


def test_find_dropped_compares_requests_with_the_final_config():
    requested = {"CONFIG_POPCORN": ("y", "popcorn"), "CONFIG_SWAP": ("n", "popcorn"),
                 "CONFIG_GONE": ("n", "popcorn"), "CONFIG_MSG": ("m", "popcorn"), "CONFIG_OK": ("y", "g")}
    final = {"CONFIG_SWAP": "y", "CONFIG_MSG": "y", "CONFIG_OK": "y"}
    dropped = {d.option: d for d in find_dropped(requested, final)}
    assert set(dropped) == {"CONFIG_POPCORN", "CONFIG_SWAP", "CONFIG_MSG"}
    assert dropped["CONFIG_POPCORN"].got == "n (absent)"
    assert dropped["CONFIG_SWAP"].asked == "n" and dropped["CONFIG_SWAP"].got == "y"


def test_evaluate_kconfig_expressions():
    final = {"CONFIG_A": "y", "CONFIG_B": "m", "CONFIG_MODULES": "y", "CONFIG_N": "10", "CONFIG_S": '"abc"'}
    assert evaluate("A && B", final) == 1
    assert evaluate("A || C", final) == 2
    assert evaluate("!C && (A || B)", final) == 2
    assert evaluate("!A", final) == 0
    assert evaluate("m", final) == 1
    assert evaluate("m", {}) == 0  # 'm' needs MODULES
    assert evaluate("N >= 8", final) == 2
    assert evaluate('S = "abc"', final) == 2
    assert conjuncts("A && (B || C) && !D") == ["A", "(B || C)", "!D"]


def test_reader_follows_sources_and_skips_help_text(kconfig_tree):
    index = read_kconfig(kconfig_tree)
    assert "FAKE_IN_HELP" not in index.entries
    assert index.entries["LKDTM"][0].depends == ["RUNTIME_TESTING_MENU", "DEBUG_FS"]
    assert index.entries["POPCORN"][0].depends == ["ARCH_SUPPORTS_POPCORN && !TRANSPARENT_HUGEPAGE && !SWAP"]
    assert index.selected_by["LOCKDEP"] == [("PROVE_LOCKING", "")]
    assert index.entries["SLOB"][0].in_choice


def test_popcorn_dropped_by_an_excluded_option_names_it(kconfig_tree):
    final = {"CONFIG_ARCH_SUPPORTS_POPCORN": "y", "CONFIG_TRANSPARENT_HUGEPAGE": "y"}
    reason = explain("POPCORN", "y", final, read_kconfig(kconfig_tree))
    assert reason == "depends on !TRANSPARENT_HUGEPAGE [TRANSPARENT_HUGEPAGE=y]"


def test_lkdtm_without_its_menu_names_the_menu(kconfig_tree):
    reason = explain("LKDTM", "y", {"CONFIG_DEBUG_FS": "y"}, read_kconfig(kconfig_tree))
    assert reason == "depends on RUNTIME_TESTING_MENU [RUNTIME_TESTING_MENU=n]"


@pytest.mark.parametrize(("name", "asked", "final", "expected"), [
    ("NO_SUCH", "y", {}, "no such option"),
    ("LOCKDEP", "y", {}, "has no prompt: only a select from another option can set it (selected by PROVE_LOCKING)"),
    ("LOCKDEP", "n", {"CONFIG_LOCKDEP": "y", "CONFIG_PROVE_LOCKING": "y"}, "forced on by select from PROVE_LOCKING=y"),
    ("SLUB", "n", {"CONFIG_SLUB": "y"}, "member of a choice"),
    ("SOCK", "m", {"CONFIG_INET": "y"}, "depends on m [] "),
])
def test_other_reasons(kconfig_tree, name, asked, final, expected):
    assert expected.strip() in explain(name, asked, final, read_kconfig(kconfig_tree))


def test_with_reason_fills_the_dropped_entry(kconfig_tree):
    dropped = DroppedOption("CONFIG_LKDTM", "y", "n (absent)", "debug")
    filled = with_reason(kconfig_tree, {}, dropped)
    assert filled.line() == ("CONFIG_LKDTM: asked y (debug), got n (absent): depends on RUNTIME_TESTING_MENU "
                             "[RUNTIME_TESTING_MENU=n]; depends on DEBUG_FS [DEBUG_FS=n]")


def test_shipped_fragments_ask_for_what_popcorn_and_the_guest_need():
    popcorn = load_fragment("popcorn").options
    for excluded in ("TRANSPARENT_HUGEPAGE", "SWAP", "CMA", "KSM", "MEM_SOFT_DIRTY", "MIGRATION", "COMPACTION"):
        assert popcorn[f"CONFIG_{excluded}"] == "n"
    assert popcorn["CONFIG_ADVISE_SYSCALLS"] == "y" and popcorn["CONFIG_POPCORN_KMSG_SOCKET"] == "m"
    debug = load_fragment("debug").options
    assert debug["CONFIG_LKDTM"] in ("y", "m") and debug["CONFIG_RUNTIME_TESTING_MENU"] == "y"
    guest = load_fragment("qemu-guest").options
    for needed in ("SERIAL_8250_CONSOLE", "VIRTIO_NET", "BLK_DEV_INITRD", "DEVTMPFS_MOUNT", "MODULES", "FUTEX",
                   "UNIX98_PTYS", "PRINTK_TIME", "MAGIC_SYSRQ", "INET"):
        assert guest[f"CONFIG_{needed}"] == "y", needed
    assert load_fragment("detectors").options["CONFIG_DEBUG_LIST"] == "y"
    kasan = load_fragment("kasan").options
    assert kasan["CONFIG_KASAN"] == kasan["CONFIG_KASAN_GENERIC"] == kasan["CONFIG_KASAN_OUTLINE"] == "y"
    off = load_fragment("popcorn-off").options
    assert off["CONFIG_POPCORN"] == "n"
    assert {k: v for k, v in popcorn.items() if not k.startswith("CONFIG_POPCORN")} == \
        {k: v for k, v in off.items() if k != "CONFIG_POPCORN"}  # only Popcorn differs
    assert sorted(p.name for p in CONFIGS_DIR.glob("*.config")) == [
        "debug.config", "detectors.config", "kasan.config", "popcorn-debug.config", "popcorn-off.config",
        "popcorn.config", "qemu-guest.config", "vng.config"]
    vng = load_fragment("vng").options
    assert vng["CONFIG_9P_FS"] == vng["CONFIG_NET_9P_VIRTIO"] == vng["CONFIG_OVERLAY_FS"] == "y"
