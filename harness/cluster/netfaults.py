"""Network faults inside a cluster's namespace: partitions (eBPF on the taps) and slow or lossy links.

Partitions are kernel filters. Every node's tap gets a ``clsact`` qdisc with one eBPF program on its
egress hook (the frames the bridge delivers *to* that node) that drops IPv4 frames whose source address
belongs to a node of another group. Since every tap carries such a filter, a partition cuts both
directions. Frames to or from the harness (its address is in no group), and ARP, still pass, so SSH keeps
working. The program is a dozen instructions assembled here and loaded with ``bpf(2)``; pyroute2 attaches
it (``cls_bpf`` in direct-action mode, no ``act_gact`` needed).

Link faults (delay, jitter, loss) are made in user space, because ``sch_netem`` is often absent from the
host kernel (it is on the development machine, a Firecracker guest built without it, and there are no
modules to load). A ``LinkShaper`` takes the node's tap out of the bridge and relays its frames through a
harness-owned tap on the bridge, holding each frame for its delay or dropping it, separately for the
frames the node receives (``in``) and sends (``out``). ``clear`` puts the tap back on the bridge.
"""

from __future__ import annotations

import ctypes
import heapq
import ipaddress
import logging
import os
import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass

from pyroute2 import NetNS

from harness.errors import InfraError, UsageError
from harness.vm.netns import call_in_netns
from harness.vm.network import BRIDGE, open_tap_device, tap_name

log = logging.getLogger(__name__)

DIRECTIONS = ("in", "out")
_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_CLSACT_EGRESS = "ffff:fff3"
_QUEUE_LIMIT = 10_000  # frames held per link before new ones are dropped (netem's default is 1000)

# -- eBPF: the partition filter --------------------------------------------------------------------

_BPF_SYSCALL = {"x86_64": 321, "aarch64": 280}
_BPF_PROG_LOAD = 5
_BPF_PROG_TYPE_SCHED_CLS = 3
_TC_ACT_OK, _TC_ACT_SHOT = 0, 2


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One eBPF instruction: opcode, registers, offset, 32-bit immediate (little endian)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _s32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def drop_sources_program(sources: list[str]) -> bytes:
    """eBPF bytecode for a tc classifier: drop IPv4 frames whose source is one of ``sources``.

    ::

        r6 = r1                      ; LD_ABS reads the packet through r6
        r0 = be16 [12]               ; ethertype
        if w0 != 0x0800 goto pass
        r0 = be32 [26]               ; IPv4 source address
        if w0 == src_1 goto drop ... ; one test per blocked address
        pass: r0 = TC_ACT_OK; exit
        drop: r0 = TC_ACT_SHOT; exit
    """
    n = len(sources)
    code = [
        _insn(0xBF, dst=6, src=1),                       # mov r6, r1
        _insn(0x28, imm=12),                             # ldabsh
        _insn(0x56, dst=0, off=n + 1, imm=0x0800),       # jne32 w0, 0x800, pass
        _insn(0x20, imm=26),                             # ldabsw
    ]
    for i, address in enumerate(sources):
        value = int(ipaddress.IPv4Address(address))
        code.append(_insn(0x16, dst=0, off=n + 1 - i, imm=_s32(value)))  # jeq32 w0, addr, drop
    code += [
        _insn(0xB7, dst=0, imm=_TC_ACT_OK), _insn(0x95),  # pass
        _insn(0xB7, dst=0, imm=_TC_ACT_SHOT), _insn(0x95),  # drop
    ]
    return b"".join(code)


def load_tc_program(code: bytes, name: str) -> int:
    """Load eBPF ``code`` as a tc classifier program; return its fd (the caller closes it)."""
    number = _BPF_SYSCALL.get(os.uname().machine)
    if number is None:
        raise InfraError(f"partitions: no bpf(2) syscall number known for {os.uname().machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"GPL")
    log_buf = ctypes.create_string_buffer(1 << 16)
    attr = ctypes.create_string_buffer(struct.pack(
        "<IIQQIIQII16s", _BPF_PROG_TYPE_SCHED_CLS, len(code) // 8, ctypes.addressof(insns),
        ctypes.addressof(license_), 1, len(log_buf), ctypes.addressof(log_buf), 0, 0, name.encode()[:15]), 64)
    fd = libc.syscall(ctypes.c_long(number), ctypes.c_long(_BPF_PROG_LOAD), attr, ctypes.c_uint(64))
    if fd < 0:
        err = ctypes.get_errno()
        raise InfraError(f"partitions: loading the eBPF filter failed: {os.strerror(err)}\n"
                         f"{log_buf.value.decode(errors='replace')}")
    return fd


# -- user-space link shaping -----------------------------------------------------------------------


@dataclass
class Shape:
    """What one direction of a link does to frames."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0

    def validate(self) -> None:
        """Raise ``UsageError`` for values netem would refuse too."""
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise UsageError(f"delay and jitter must be >= 0 ms, got {self.delay_ms}, {self.jitter_ms}")
        if not 0 <= self.loss_pct <= 100:
            raise UsageError(f"loss must be between 0 and 100 %, got {self.loss_pct}")

    @property
    def idle(self) -> bool:
        """True if the direction passes frames untouched."""
        return not (self.delay_ms or self.jitter_ms or self.loss_pct)

    def hold(self, rng: random.Random) -> float | None:
        """Seconds to hold the next frame, or None to drop it."""
        if self.loss_pct and rng.random() * 100 < self.loss_pct:
            return None
        delay = self.delay_ms + (rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0)
        return max(0.0, delay) / 1000.0


def relay_name(index: int) -> str:
    """Name of the harness-owned bridge port that stands in for node ``index``'s tap while shaped."""
    return f"rly{index}"


def _packet_socket(ifname: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        sock.bind((ifname, _ETH_P_ALL))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class LinkShaper:
    """Delay, jitter and loss on one node's link, both directions, by a relay thread.

    ``in`` is what the node receives (bridge -> node), ``out`` what it sends (node -> bridge). The guest
    side is a packet socket on the node's tap (which leaves the bridge), the bridge side a tap the
    harness holds. Frames are held in a time-ordered queue (jitter can reorder them, as with netem).
    """

    def __init__(self, namespace: str, index: int, rng: random.Random):
        self.namespace = namespace
        self.index = index
        self.shapes = {direction: Shape() for direction in DIRECTIONS}
        self._rng = rng
        self._lock = threading.Lock()
        self._guest: socket.socket | None = None
        self._bridge_fd = -1
        self._wake_r, self._wake_w = -1, -1
        self._stop = False
        self._thread: threading.Thread | None = None
        self.frames = {"in": 0, "out": 0, "dropped": 0}

    def start(self) -> None:
        """Put the relay between the node's tap and the bridge."""
        tap, relay = tap_name(self.index), relay_name(self.index)
        try:
            self._guest = call_in_netns(self.namespace, lambda: _packet_socket(tap))
            self._bridge_fd = call_in_netns(self.namespace, lambda: open_tap_device(relay))
            os.set_blocking(self._bridge_fd, False)
            self._wake_r, self._wake_w = os.pipe()
            with NetNS(self.namespace) as ipr:
                bridge = ipr.link_lookup(ifname=BRIDGE)[0]
                ipr.link("set", index=ipr.link_lookup(ifname=relay)[0], master=bridge, state="up")
                self._thread = threading.Thread(target=self._run, name=f"shaper-{self.namespace}-{tap}",
                                                daemon=True)
                self._thread.start()
                ipr.link("set", index=ipr.link_lookup(ifname=tap)[0], master=0)
        except BaseException:
            self.stop()
            raise

    def set(self, direction: str, shape: Shape) -> None:
        """Change one direction's shape (takes effect for the next frame)."""
        shape.validate()
        with self._lock:
            self.shapes[direction] = shape

    @property
    def idle(self) -> bool:
        """True if neither direction does anything."""
        return all(shape.idle for shape in self.shapes.values())

    def stop(self) -> None:
        """Put the node's tap back on the bridge and remove the relay. Frames still held are lost."""
        self._stop = True
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=10)
            self._thread = None
        for fd in (self._bridge_fd, self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._bridge_fd = self._wake_r = self._wake_w = -1
        if self._guest is not None:
            self._guest.close()
            self._guest = None
        with NetNS(self.namespace) as ipr:
            taps = ipr.link_lookup(ifname=tap_name(self.index))
            if taps:  # gone if the node's QEMU exited
                ipr.link("set", index=taps[0], master=ipr.link_lookup(ifname=BRIDGE)[0])

    def _run(self) -> None:
        queue: list[tuple[float, int, str, bytes]] = []
        seq = 0
        guest, bridge_fd, wake = self._guest, self._bridge_fd, self._wake_r
        while not self._stop:
            timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
            try:
                readable, _, _ = select.select([guest, bridge_fd, wake], [], [], timeout)
            except (OSError, ValueError):
                return
            for source in readable:
                for direction, frame in self._read(source):
                    with self._lock:
                        hold = self.shapes[direction].hold(self._rng)
                    if hold is None or len(queue) >= _QUEUE_LIMIT:
                        self.frames["dropped"] += 1
                        continue
                    seq += 1
                    heapq.heappush(queue, (time.monotonic() + hold, seq, direction, frame))
            now = time.monotonic()
            while queue and queue[0][0] <= now:
                _, _, direction, frame = heapq.heappop(queue)
                self._send(direction, frame)

    def _read(self, source) -> list[tuple[str, bytes]]:
        frames = []
        try:
            if source is self._guest:
                while True:
                    frame, address = self._guest.recvfrom(65536)
                    if address[2] != _PACKET_OUTGOING:  # not our own sends towards the guest
                        frames.append(("out", frame))
            elif source == self._bridge_fd:
                while True:
                    frames.append(("in", os.read(self._bridge_fd, 65536)))
            else:
                os.read(source, 64)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:  # the tap went away (the node's QEMU exited)
            log.debug("%s: relay read failed: %s", tap_name(self.index), exc)
            self._stop = True
        return frames

    def _send(self, direction: str, frame: bytes) -> None:
        try:
            if direction == "in":
                self._guest.send(frame)
            else:
                os.write(self._bridge_fd, frame)
            self.frames[direction] += 1
        except OSError as exc:  # a full queue or a vanished tap: the frame is lost, as on a wire
            log.debug("%s: relay send failed: %s", tap_name(self.index), exc)


# -- the faults of one cluster network -------------------------------------------------------------


class NetworkFaults:
    """The partition and link faults currently applied to one cluster's network."""

    def __init__(self, namespace: str, addresses: list[str], rng: random.Random | None = None):
        self.namespace = namespace
        self.addresses = addresses  # node index -> address
        self.groups: list[list[int]] = []
        self.shapers: dict[int, LinkShaper] = {}
        self._rng = rng or random.Random()

    def partition(self, groups: list[list[int]]) -> None:
        """Replace any partition with ``groups`` (node indices); nodes in no group are unaffected."""
        self.unpartition()
        self.groups = [list(g) for g in groups]
        group_of = {index: g for g, members in enumerate(groups) for index in members}
        with NetNS(self.namespace) as ipr:
            for index, group in group_of.items():
                blocked = [self.addresses[other] for other, g in group_of.items() if g != group]
                taps = ipr.link_lookup(ifname=tap_name(index))
                if not blocked or not taps:
                    continue
                fd = load_tc_program(drop_sources_program(blocked), f"phc_part{index}")
                try:
                    ipr.tc("add", "clsact", taps[0])
                    ipr.tc("add-filter", "bpf", taps[0], ":1", fd=fd, name=f"phc-partition-{index}",
                           parent=_CLSACT_EGRESS, classid=1, direct_action=True)
                finally:
                    os.close(fd)

    def unpartition(self) -> bool:
        """Remove the partition filters; True if there were any."""
        removed = False
        with NetNS(self.namespace) as ipr:
            for index in range(len(self.addresses)):
                taps = ipr.link_lookup(ifname=tap_name(index))
                if taps and any(q.get_attr("TCA_KIND") == "clsact" for q in ipr.get_qdiscs(taps[0])):
                    ipr.tc("del", "clsact", taps[0])
                    removed = True
        self.groups = []
        return removed

    def shape(self, index: int, directions: tuple[str, ...], **changes: float) -> None:
        """Change delay/jitter/loss of node ``index``'s link in ``directions``; idle links are unshaped."""
        shaper = self.shapers.get(index)
        if shaper is None:
            shaper = LinkShaper(self.namespace, index, random.Random(self._rng.random()))
            for direction in directions:  # validate before anything changes
                Shape(**{**vars(shaper.shapes[direction]), **changes}).validate()
            shaper.start()
            self.shapers[index] = shaper
        for direction in directions:
            shaper.set(direction, Shape(**{**vars(shaper.shapes[direction]), **changes}))
        if shaper.idle:
            self.clear(index)

    def clear(self, index: int) -> bool:
        """Remove node ``index``'s link faults; True if it had any."""
        shaper = self.shapers.pop(index, None)
        if shaper is not None:
            shaper.stop()
        return shaper is not None

    def heal(self) -> bool:
        """Remove every partition and link fault; True if anything was applied."""
        cleared = [self.clear(index) for index in list(self.shapers)]
        return self.unpartition() or any(cleared)

    def state(self) -> dict:
        """What is applied now, as plain data."""
        return {"groups": self.groups,
                "links": {i: {d: vars(s) for d, s in sh.shapes.items()} for i, sh in self.shapers.items()}}
