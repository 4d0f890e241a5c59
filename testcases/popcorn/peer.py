"""A rogue peer: the harness posing as a Popcorn node, to send the nodes messages no real node would.

msg_socket.ko knows a peer by its source address alone (``__accept_client`` matches it against the nodes
file), so a nodes file that lists the harness's own address as the last node id makes the harness a peer:
every node accepts its connection during bring-up, reads whatever it sends as messages and hands them to
the message handlers. The peer reads what the nodes send it (each node's ``NODE_INFO`` broadcast when it
joins), so a test can replay real messages as well as forge new ones.

Wire format (include/popcorn/pcn_kmsg.h, types.h of the 5.2 tree): a packed header
``{int from_nid:6; prio:2; type:8; size_t size}`` (10 bytes, ``size`` counting the header), then the
payload; ``NODE_INFO`` (type 0) carries ``{int nid; int bundle_id; int arch}``.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

HEADER = struct.Struct("<HQ")
NODE_INFO = struct.Struct("<iii")  # nid, bundle_id, arch
TYPE_NODE_INFO = 0
#: PCN_KMSG_TYPE_MAX of the 5.2 tree: the first type no handler table has a slot for.
TYPE_MAX = 33
PRIO_NORMAL = 1


def message(msg_type: int, payload: bytes = b"", from_nid: int = 0, size: int | None = None) -> bytes:
    """One message: the header (``size`` defaults to the true length) and ``payload``."""
    bits = (from_nid & 0x3F) | (PRIO_NORMAL << 6) | ((msg_type & 0xFF) << 8)
    return HEADER.pack(bits, HEADER.size + len(payload) if size is None else size) + payload


def node_info(nid: int, arch: int, from_nid: int) -> bytes:
    """A ``NODE_INFO`` message saying node ``nid`` is of architecture ``arch``."""
    return message(TYPE_NODE_INFO, NODE_INFO.pack(nid, -1, arch), from_nid)


def split_messages(data: bytes) -> list[bytes]:
    """The whole messages in ``data`` (a byte stream from one node), each with its header."""
    out, at = [], 0
    while at + HEADER.size <= len(data):
        size = HEADER.unpack_from(data, at)[1]
        if size < HEADER.size or at + size > len(data):
            break
        out.append(data[at:at + size])
        at += size
    return out


def message_type(msg: bytes) -> int:
    """The type field of ``msg``'s header."""
    return (HEADER.unpack_from(msg)[0] >> 8) & 0xFF


class RoguePeer:
    """The harness as Popcorn node ``nid``, connected to every node at ``addresses`` (node ids 0..n-1)."""

    def __init__(self, network, addresses: list[str], port: int):
        self.network = network
        self.addresses = addresses
        self.port = port
        self.nid = len(addresses)
        self.sockets: list[socket.socket | None] = [None] * len(addresses)
        self.received = [bytearray() for _ in addresses]
        self._readers: list[threading.Thread] = []

    def join(self, seconds: float) -> None:
        """Connect to every node's message port, retrying while the node is not listening yet (its insmod
        starts it); raise ``TimeoutError`` naming the nodes not reached within ``seconds``."""
        deadline = time.monotonic() + seconds
        while None in self.sockets:
            for index, address in enumerate(self.addresses):
                if self.sockets[index] is None:
                    try:
                        self.sockets[index] = self.network.connect(address, self.port, timeout=5)
                    except OSError:
                        continue
                    self.sockets[index].settimeout(1.0)
                    reader = threading.Thread(target=self._read, args=(index,), daemon=True)
                    reader.start()
                    self._readers.append(reader)
            if None in self.sockets:
                if time.monotonic() > deadline:
                    missing = [a for a, s in zip(self.addresses, self.sockets) if s is None]
                    raise TimeoutError(f"the rogue peer could not connect to {', '.join(missing)} "
                                       f"within {seconds:.0f}s")
                time.sleep(1.0)

    def _read(self, index: int) -> None:
        sock = self.sockets[index]
        while sock is not None and sock.fileno() >= 0:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            self.received[index] += data

    def messages_from(self, index: int) -> list[bytes]:
        """The whole messages node ``index`` has sent the peer so far."""
        return split_messages(bytes(self.received[index]))

    def wait_node_info(self, seconds: float) -> list[bytes]:
        """Each node's ``NODE_INFO`` broadcast (sent when its insmod completes), in node order; raise
        ``TimeoutError`` naming the nodes that sent none within ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            infos = [next((m for m in self.messages_from(i) if message_type(m) == TYPE_NODE_INFO), None)
                     for i in range(len(self.addresses))]
            if None not in infos:
                return infos
            if time.monotonic() > deadline:
                missing = [f"node{i}" for i, m in enumerate(infos) if m is None]
                raise TimeoutError(f"no NODE_INFO from {', '.join(missing)} within {seconds:.0f}s")
            time.sleep(0.5)

    def send(self, index: int, data: bytes) -> None:
        """Send ``data`` to node ``index`` as they are."""
        self.sockets[index].sendall(data)

    def hang_up(self, index: int, reset: bool = False) -> None:
        """Close the connection to node ``index``: an orderly close (FIN), or with ``reset`` an abort (RST)."""
        sock, self.sockets[index] = self.sockets[index], None
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def close(self) -> None:
        """Close every connection still open."""
        for index, sock in enumerate(self.sockets):
            if sock is not None:
                self.sockets[index] = None
                sock.close()
