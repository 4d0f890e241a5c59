"""The model of msg_socket.ko's nodes-file parser, and the harness's refusal of files it would misread."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.popcorn.nodes_file import KernelRefuses, in4_pton, kernel_reading, nodes_file_problems, nodes_file_text

#: (text, what the kernel reads) for files it reads; derived from in4_pton (net/core/utils.c) by hand.
READ = [
    ("10.77.0.1\n10.77.0.2\n", ["10.77.0.1", "10.77.0.2"]),
    ("10.77.0.1\n\n\n10.77.0.2\n", ["10.77.0.1", "10.77.0.2"]),  # blank lines vanish: ids shift
    ("10.77.0.1   \n", ["10.77.0.1"]),  # a trailing space ends the address
    ("10.77.0.1 # node0\n", ["10.77.0.1"]),  # so does a trailing comment
    ("10.77.0.1\r\n10.77.0.2\r\n", ["10.77.0.1", "10.77.0.2"]),
    ("10.77.0.1:30467\n", ["10.77.0.1"]),
    ("010.077.000.001\n", ["10.77.0.1"]),  # decimal, leading zeros ignored
    ("10.77.0.1x\n", ["10.77.0.1"]),  # 'x' is no hex digit: a delimiter
]

#: (text, part of the reason) for files the kernel refuses or reads past.
REFUSED = [
    ("# the cluster\n10.77.0.1\n", "'# the cluster' is no IPv4 address"),
    (" 10.77.0.1\n", "' 10.77.0.1' is no IPv4 address"),
    ("fd00::1\n", "'fd00::1' is no IPv4 address"),
    ("10.77.0.1a\n", "'10.77.0.1a' is no IPv4 address"),  # 'a' is a hex digit, not a decimal one
    ("10.77.0\n", "'10.77.0' is no IPv4 address"),
    ("10.77.0.1.5\n", "'10.77.0.1.5' is no IPv4 address"),
    ("10.77.0.256\n", "'10.77.0.256' is no IPv4 address"),
    ("10..0.1\n", "'10..0.1' is no IPv4 address"),
    ("10.77.0.1\n10.77.0.2", "the last line (bytes 10-18) has no newline"),
    ("1.1.1.1\n" * 33, "more than 32 addresses in one 512-byte read"),
    ("10.77.0.1" + " " * 498 + "\n10.77.0.2\n", "crosses the parser's 512-byte read boundary"),
]


@pytest.mark.parametrize("text, table", READ)
def test_what_the_kernel_reads(text, table):
    assert kernel_reading(text) == table


@pytest.mark.parametrize("text, reason", REFUSED)
def test_what_the_kernel_refuses(text, reason):
    with pytest.raises(KernelRefuses, match=reason.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        kernel_reading(text)


def test_in4_pton_takes_exactly_four_decimal_octets():
    assert in4_pton(b"0.0.0.0") == "0.0.0.0" and in4_pton(b"255.255.255.255") == "255.255.255.255"
    assert [in4_pton(t) for t in (b"", b".1.2.3", b"1.2.3.", b"1.2.3.4.", b"1.2.3.1000")] == [None] * 5


def test_a_file_the_harness_writes_has_no_problem():
    addresses = [f"10.77.0.{i}" for i in range(1, 33)]
    assert nodes_file_problems(nodes_file_text(addresses)) == []
    assert kernel_reading(nodes_file_text(addresses)) == addresses


@pytest.mark.parametrize("text, problem", [
    ("10.77.0.1\n\n10.77.0.2\n", "line 2 '' is not a dotted IPv4 address alone on its line"),
    ("10.77.0.1 # node0\n", "line 1 '10.77.0.1 # node0' is not a dotted IPv4 address alone on its line"),
    ("10.77.0.1\n10.77.0.2\n10.77.0.1\n", "line 3 repeats line 1 (10.77.0.1): the node with that address would "
                                          "take both ids"),
    ("", "no address in it"),
    ("10.77.0.1", "the kernel would not read it: the last line (bytes 0-8) has no newline"),
])
def test_problems_of_a_nodes_file(text, problem):
    assert any(p.startswith(problem) for p in nodes_file_problems(text)), nodes_file_problems(text)


def test_more_nodes_than_popcorn_takes_are_a_problem():
    text = "".join(f"10.77.{i // 200}.{i % 200 + 1}\n" for i in range(40))
    assert "40 addresses, more than the 32 nodes Popcorn takes" in nodes_file_problems(text)


def test_the_harness_refuses_to_write_a_file_the_kernel_would_misread_in_one_line():
    with pytest.raises(UsageError) as info:
        nodes_file_text(["10.77.0.1", "10.77.0.2", "10.77.0.1"])
    message = str(info.value)
    assert "\n" not in message
    assert message == ("refusing to write /etc/popcorn/nodes: line 3 repeats line 1 (10.77.0.1): the node with that "
                       "address would take both ids")
