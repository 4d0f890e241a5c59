"""Popcorn's nodes file, ``/etc/popcorn/nodes``: one IPv4 address a line, in node-id order (node id = line
index). ``msg_socket.ko`` reads it at load time to connect the mesh.

``kernel_reading`` is a model of the 5.2 tree's parser (``msg_layer/socket.c`` ``load_config_file`` with
``in4_pton`` of ``net/core/utils.c``), so the harness can say what the kernel makes of a file before it
loads the module: it reads 512-byte chunks, turns ``\\n`` and ``\\r`` into string ends, and parses each
non-empty string with ``in4_pton(s, -1, ..., delim=-1)``, which takes four decimal octets and stops at any
character that is not a hex digit, a dot or a colon (a space, ``#``...) but fails on ``a-f``; one
failure refuses the whole file. What it does not handle: an address split across two chunks (read as
two strings), a last string with no newline after it (``strlen`` runs on into bytes the read did not
write), more than 32 strings in one chunk (``ip_table[32]`` overflows), more chunks once 31 addresses
are read (ignored). ``nodes_file_problems`` turns those into one-line reasons; the harness refuses to
write a file that has any.
"""

from __future__ import annotations

import ipaddress

from harness.cluster.cluster import Cluster
from harness.errors import UsageError
from harness.vm import guest_image

NODES_FILE = "/etc/popcorn/nodes"
#: The parser's read size and its table size (``CONFIG_FILE_CHUNK_SIZE``, ``MAX_NUM_NODES``).
CHUNK_BYTES = 512
TABLE_SLOTS = 32


_DECIMAL = "0123456789"
_HEX = _DECIMAL + "abcdefABCDEF"


class KernelRefuses(ValueError):
    """The kernel's parser refuses the file (insmod fails with EINVAL) or its result is undefined."""


def in4_pton(text: bytes) -> str | None:
    """The address ``in4_pton(text, -1, dst, -1, &end)`` parses from ``text`` (up to its first NUL), as a
    dotted string, or None where it fails."""
    octets, value, digits = [], 0, 0
    for byte in text + b"\0":
        char = chr(byte)
        if char in ".:" or char not in _HEX:
            if digits == 0:
                return None
            octets.append(value)
            value, digits = 0, 0
            if char != ".":  # a delimiter (NUL, ':', or any other non-hex character)
                return ".".join(map(str, octets)) if len(octets) == 4 else None
            if len(octets) >= 4:
                return None
            continue
        if char not in _DECIMAL:  # a hex letter: a digit in hex, not in decimal
            return None
        value, digits = value * 10 + int(char), digits + 1
        if value > 255:
            return None
    raise AssertionError("unreachable: the NUL appended above ends the loop")


def kernel_reading(text: str) -> list[str]:
    """The node table ``msg_socket.ko`` reads from ``text``, index = node id; ``KernelRefuses`` (with the
    reason) where the kernel refuses the file or reads bytes the file did not give it."""
    data, table, offset = text.encode(), [], 0
    while len(table) < TABLE_SLOTS - 1:
        chunk = data[offset:offset + CHUNK_BYTES]
        if not chunk:
            break
        buffer = chunk.replace(b"\n", b"\0").replace(b"\r", b"\0")
        position = 0
        while position < len(chunk):
            end = buffer.find(b"\0", position)
            if end < 0:
                where = f"bytes {offset + position}-{offset + len(chunk) - 1}"
                if len(chunk) == CHUNK_BYTES:
                    raise KernelRefuses(f"the line at {where} crosses the parser's 512-byte read boundary: the "
                                        "kernel parses it in two halves, the first running past its buffer")
                raise KernelRefuses(f"the last line ({where}) has no newline: the kernel parses it on into "
                                    "bytes the read did not fill")
            piece = buffer[position:end]
            if piece:
                address = in4_pton(piece)
                if address is None:
                    raise KernelRefuses(f"{piece.decode(errors='replace')!r} is no IPv4 address to the kernel "
                                        "('invalid IP address in config file': the module does not load)")
                if len(table) >= TABLE_SLOTS:
                    raise KernelRefuses(f"more than {TABLE_SLOTS} addresses in one 512-byte read overflow the "
                                        "kernel's node table")
                table.append(address)
            position = end + 1
        offset += len(chunk)
    if data[offset:].strip():
        raise KernelRefuses(f"the kernel stops reading after {len(table)} addresses, at byte {offset}")
    return table


def nodes_file_problems(text: str, max_nodes: int = TABLE_SLOTS) -> list[str]:
    """Why ``text`` is not a nodes file the kernel reads as its author means it: one line per address
    (a dotted IPv4 address, nothing else), no address twice, at most ``max_nodes``, and read by the kernel
    (``kernel_reading``) as exactly those addresses. Empty when it is one."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    problems = [] if lines else ["no address in it"]
    for number, line in enumerate(lines, 1):
        try:
            ipaddress.IPv4Address(line)
        except ValueError:
            problems.append(f"line {number} {line!r} is not a dotted IPv4 address alone on its line")
    first_seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if line in first_seen:
            problems.append(f"line {number} repeats line {first_seen[line]} ({line}): the node with that "
                            "address would take both ids")
        first_seen.setdefault(line, number)
    if len(lines) > max_nodes:
        problems.append(f"{len(lines)} addresses, more than the {max_nodes} nodes Popcorn takes")
    try:
        read = kernel_reading(text)
    except KernelRefuses as exc:
        problems.append(f"the kernel would not read it: {exc}")
    else:
        if not problems and read != lines:
            problems.append(f"the kernel would read {read} from it, not {lines}")
    return problems


def nodes_file_text(addresses: list[str], max_nodes: int = TABLE_SLOTS) -> str:
    """The nodes file for nodes with ``addresses`` (rendered from ``images/templates/nodes.j2``);
    ``UsageError`` (one line: the first problem) if the kernel would not read it as those addresses."""
    text = guest_image.render_template("nodes.j2", addresses=addresses)
    problems = nodes_file_problems(text, max_nodes)
    if problems:
        raise UsageError(f"refusing to write {NODES_FILE}: {problems[0]}")
    return text


def write_nodes_file(cluster: Cluster) -> None:
    """Write the nodes file on every node of ``cluster``."""
    text = nodes_file_text([node.address for node in cluster.nodes]).encode()
    cluster.parallel(lambda node: node.ssh.put_bytes(text, NODES_FILE, 0o644))
