"""The workaround table: version matching and lookup by kernel and compiler version."""

from __future__ import annotations

import pytest

from harness.kernel.config import parse_config_text
from harness.kernel.toolchain import (
    Workaround,
    load_workarounds,
    matching_workarounds,
    parse_version,
    version_matches,
)


@pytest.mark.parametrize(("version", "constraints", "expected"), [
    ("5.2.21", ">=4.6, <6.0", True),
    ("6.0", ">=4.6, <6.0", False),
    ("6.1.192", "<6.0", False),
    ("4.6", ">=4.6", True),
    ("12.2.0", ">=12", True),
    ("11.4.0", ">=12", False),
    ("12", "==12.0.0", True),
    ("5.2.21", "", True),
])
def test_version_matches(version, constraints, expected):
    assert version_matches(version, constraints) is expected


def test_bad_constraint_is_an_error():
    with pytest.raises(ValueError, match="bad version constraint"):
        version_matches("5.2", "~5")


def test_parse_version():
    assert parse_version("5.2.21") == (5, 2, 21)


def test_linux_52_on_gcc12_turns_stack_validation_off():
    found = matching_workarounds("5.2.21", "gcc", "12.2.0")
    assert [w.id for w in found] == ["objtool-libsubcmd-use-after-free"]
    config = parse_config_text("\n".join(found[0].config))
    assert config["CONFIG_STACK_VALIDATION"] == "n" and config["CONFIG_UNWINDER_ORC"] == "n"
    assert "use-after-free" in found[0].symptom


@pytest.mark.parametrize(("kernel", "compiler", "version"), [
    ("6.1.192", "gcc", "12.2.0"),  # fixed upstream in 6.0
    ("5.2.21", "gcc", "11.3.0"),   # older compiler: no warning
    ("5.2.21", "clang", "15.0.0"),
])
def test_no_workaround_where_none_is_known(kernel, compiler, version):
    assert matching_workarounds(kernel, compiler, version) == []


def test_lookup_is_driven_by_the_table_passed_in():
    table = [Workaround(id="x", kernel="<3", compiler="gcc", compiler_version=">=1", symptom="s")]
    assert [w.id for w in matching_workarounds("2.6.32", "gcc", "4.4", table)] == ["x"]
    assert matching_workarounds("3.0", "gcc", "4.4", table) == []


def test_every_table_row_is_well_formed():
    rows = load_workarounds()
    assert rows, "the shipped table is empty"
    for row in rows:
        version_matches("1.0", row.kernel)  # raises on a malformed constraint
        version_matches("1.0", row.compiler_version)
        assert row.symptom and (row.config or row.env), row.id
        assert len(parse_config_text("\n".join(row.config))) == len(row.config), row.id
