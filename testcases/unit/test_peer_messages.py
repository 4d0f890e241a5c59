"""The rogue peer's wire format (testcases/popcorn/peer.py): headers as msg_socket.ko packs them, and the
split of a node's byte stream into whole messages."""

from __future__ import annotations

from popcorn.peer import HEADER, TYPE_NODE_INFO, message, message_type, node_info, split_messages


def test_a_header_packs_from_nid_prio_and_type_into_two_bytes_then_the_size():
    msg = message(7, b"xy", from_nid=3)
    assert len(msg) == 12 and msg[10:] == b"xy"
    bits, size = HEADER.unpack_from(msg)
    assert (bits & 0x3F, (bits >> 6) & 3, bits >> 8, size) == (3, 1, 7, 12)
    assert message_type(msg) == 7
    assert HEADER.unpack_from(message(0, size=0))[1] == 0


def test_a_node_info_message_is_the_header_and_three_ints():
    msg = node_info(2, 1, from_nid=2)
    assert len(msg) == 22 and message_type(msg) == TYPE_NODE_INFO
    assert msg[10:] == (2).to_bytes(4, "little") + (-1).to_bytes(4, "little", signed=True) + (1).to_bytes(4, "little")


def test_a_stream_splits_into_whole_messages_and_leaves_a_partial_one():
    first, second = node_info(0, 1, 0), message(5, b"abc", from_nid=0)
    assert split_messages(first + second + second[:4]) == [first, second]
    assert split_messages(b"") == []
    assert split_messages(message(5, size=3)) == [], "a size shorter than the header ends the split"
