"""SSH to the nodes with paramiko: run commands with a timeout, copy files in and out.

Connections are opened from inside the cluster's network namespace (the socket is made there and handed
to paramiko), authenticated with the run's client key, and the guest's host key is pinned: no
passwords, no trust on first use. Copies go through ``cat`` on an exec channel, so the guest needs no
SFTP server.
"""

from __future__ import annotations

import base64
import logging
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import paramiko

from harness.errors import CommandTimeout, InfraError, OutputFlood
from harness.vm.terminal import interactive_channel

log = logging.getLogger(__name__)

#: Seconds between two looks, while a command runs, at whether the node's VM still runs.
VM_LOOK_S = 0.5

#: The most a command's output (stdout and stderr together) may hold, in bytes: it is kept in memory, and
#: a guest program that prints past it is flooding. The command is stopped and ``OutputFlood`` raised.
OUTPUT_CAP_BYTES = 64 * 1024 * 1024

#: The most a file copied from a node may hold, in bytes (a guest file can be /dev/zero, or a symlink to it).
COPY_CAP_BYTES = 256 * 1024 * 1024

#: Where a command's output goes as it arrives: ``sink(data, is_stderr)``.
OutputSink = Callable[[bytes, bool], None]


def _discard(data: bytes, is_stderr: bool) -> None:
    """The default sink: the output is only collected."""


@dataclass(frozen=True)
class CommandResult:
    """What a command on a node did."""

    node: str
    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True if the command exited 0."""
        return self.exit_code == 0

    def check(self) -> "CommandResult":
        """Return self, or raise ``InfraError`` with the output if the command failed."""
        if not self.ok:
            raise InfraError(
                f"{self.node}: `{self.command}` exited {self.exit_code}\n"
                f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-2000:]}"
            )
        return self


class NodeConnection:
    """One SSH connection to one node."""

    def __init__(
        self,
        node: str,
        address: str,
        open_socket: Callable[[str, int, float], socket.socket],
        client_key: Path,
        host_public: str,
        console_tail: Callable[[], str] = lambda: "",
        vm_alive: Callable[[], bool] = lambda: True,
        vm_end_reason: Callable[[], str] = lambda: "QEMU exited",
    ):
        self.node = node
        self.address = address
        self._open_socket = open_socket
        self._pkey = paramiko.Ed25519Key.from_private_key_file(str(client_key))
        key_type, key_b64 = host_public.split()[:2]
        self._host_key = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_b64))
        self._console_tail = console_tail
        self._vm_alive = vm_alive
        self._vm_end_reason = vm_end_reason
        self._client: paramiko.SSHClient | None = None

    def connect(self, timeout: float = 60.0) -> None:
        """Connect, retrying until ``timeout`` (sshd may still be starting); a VM that ends meanwhile ends the
        wait at once."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self._vm_alive():
                raise self._vm_gone("while the harness connected")
            try:
                self._client = self._connect_once(min(30.0, max(1.0, deadline - time.monotonic())))
                return
            except (OSError, paramiko.SSHException, EOFError) as exc:
                last_error = exc
                time.sleep(0.3)
        raise InfraError(
            f"{self.node}: no SSH connection to {self.address} within {timeout:.0f}s ({last_error})\n"
            f"console tail:\n{self._console_tail()}"
        )

    def _connect_once(self, timeout: float) -> paramiko.SSHClient:
        sock = self._open_socket(self.address, 22, timeout)
        client = paramiko.SSHClient()
        client.get_host_keys().add(self.address, self._host_key.get_name(), self._host_key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.address, username="root", pkey=self._pkey, sock=sock, timeout=timeout,
                banner_timeout=timeout, auth_timeout=timeout, allow_agent=False, look_for_keys=False,
            )
        except BaseException:
            client.close()
            sock.close()
            raise
        client.get_transport().set_keepalive(5)
        return client

    @property
    def connected(self) -> bool:
        """True if the transport is up."""
        transport = self._client.get_transport() if self._client else None
        return bool(transport and transport.is_active())

    def _vm_gone(self, doing: str) -> InfraError:
        return InfraError(f"{self.node}: its VM ended ({self._vm_end_reason()}) {doing}\n"
                          f"console tail:\n{self._console_tail()}", node=self.node)

    def _channel(self, timeout: float = 30.0) -> paramiko.Channel:
        if not self._vm_alive():
            raise self._vm_gone("before the command")
        if not self.connected:
            raise InfraError(f"{self.node}: SSH connection lost\nconsole tail:\n{self._console_tail()}", node=self.node)
        try:
            return self._client.get_transport().open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise CommandTimeout(f"{self.node}: no SSH channel within {timeout:g}s ({exc})\n"
                                 f"console tail:\n{self._console_tail()}", node=self.node) from None

    def run(self, command: str, timeout: float = 60.0, stdin: bytes | None = None,
            sink: OutputSink | None = None) -> CommandResult:
        """Run ``command`` with ``sh -c`` semantics; raise ``CommandTimeout`` after ``timeout`` seconds.
        ``sink(data, is_stderr)`` gets the output as it arrives (the result holds all of it too)."""
        channel = self._channel(min(timeout, 30.0))
        try:
            return self._run_on(channel, command, timeout, stdin, sink)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise InfraError(f"{self.node}: SSH failed during `{command}` ({exc})\n"
                             f"console tail:\n{self._console_tail()}", node=self.node) from None
        finally:
            channel.close()

    def _run_on(self, channel: paramiko.Channel, command: str, timeout: float, stdin: bytes | None,
                sink: OutputSink | None = None) -> CommandResult:
        """Execute on an open channel, collecting output until exit or the deadline."""
        sink = sink or _discard
        channel.exec_command(command)
        if stdin is not None:
            channel.sendall(stdin)
        channel.shutdown_write()
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        next_look = time.monotonic() + VM_LOOK_S
        while True:
            got = False
            while channel.recv_ready():
                chunk = channel.recv(65536)
                out += chunk
                sink(chunk, False)
                got = True
            while channel.recv_stderr_ready():
                chunk = channel.recv_stderr(65536)
                err += chunk
                sink(chunk, True)
                got = True
            if len(out) + len(err) > OUTPUT_CAP_BYTES:
                raise OutputFlood(f"{self.node}: `{command}` printed over {OUTPUT_CAP_BYTES // 2**20} MiB: stopped "
                                  f"(the output cap); its last bytes: {bytes(out[-200:]).decode(errors='replace')!r}",
                                  node=self.node)
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            if time.monotonic() > deadline:
                raise CommandTimeout(
                    f"{self.node}: `{command}` did not finish within {timeout:g}s\n"
                    f"console tail:\n{self._console_tail()}", node=self.node)
            if not self.connected:
                raise InfraError(f"{self.node}: SSH connection lost during `{command}`\n"
                                 f"console tail:\n{self._console_tail()}", node=self.node)
            if time.monotonic() > next_look:  # SSH would not notice a peer whose tap is gone until timeout
                next_look = time.monotonic() + VM_LOOK_S
                if not self._vm_alive():
                    raise self._vm_gone(f"during `{command}`")
            if not got:
                time.sleep(0.01)
        return CommandResult(self.node, command, channel.recv_exit_status(),
                             out.decode(errors="replace"), err.decode(errors="replace"))

    def put_bytes(self, data: bytes, remote: str, mode: int = 0o644, timeout: float = 120.0) -> None:
        """Write ``data`` to ``remote`` on the node (parents created)."""
        quoted = shlex.quote(remote)
        self.run(f"mkdir -p \"$(dirname {quoted})\" && cat > {quoted} && chmod {mode:o} {quoted}",
                 timeout=timeout, stdin=data).check()

    def put(self, local: Path, remote: str, mode: int | None = None, timeout: float = 120.0) -> None:
        """Copy a host file to the node, keeping its permission bits unless ``mode`` is given."""
        local = Path(local)
        self.put_bytes(local.read_bytes(), remote, mode if mode is not None else local.stat().st_mode & 0o777, timeout)

    def copy_out(self, remote: str, write: Callable[[bytes], object], timeout: float = 120.0) -> None:
        """Stream the node's file ``remote`` to ``write``, chunk by chunk: at most ``COPY_CAP_BYTES``, within
        ``timeout`` seconds overall (``OutputFlood``, ``CommandTimeout``: the copy is stopped)."""
        channel = self._channel()
        try:
            channel.exec_command(f"cat {shlex.quote(remote)}")
            deadline, total = time.monotonic() + timeout, 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandTimeout(f"{self.node}: reading {remote} took over {timeout:g}s", node=self.node)
                channel.settimeout(min(left, VM_LOOK_S))
                try:
                    chunk = channel.recv(65536)
                except socket.timeout:
                    if not self._vm_alive():
                        raise self._vm_gone(f"while reading {remote}") from None
                    continue
                if not chunk:
                    break
                total += len(chunk)
                if total > COPY_CAP_BYTES:
                    raise OutputFlood(f"{self.node}: {remote} holds over {COPY_CAP_BYTES // 2**20} MiB: not copied "
                                      "(the copy cap)", node=self.node)
                try:
                    write(chunk)
                except OSError as exc:  # the host side (a full disk), not SSH
                    raise InfraError(f"{self.node}: cannot save {remote} on the host: {exc}", node=self.node) from exc
            if channel.recv_exit_status() != 0:
                raise InfraError(f"{self.node}: cannot read {remote}: {channel.recv_stderr(4096).decode().strip()}")
        except (socket.timeout, paramiko.SSHException, EOFError, OSError) as exc:
            raise InfraError(f"{self.node}: SSH failed while reading {remote} ({exc})", node=self.node) from None
        finally:
            channel.close()

    def get_bytes(self, remote: str, timeout: float = 120.0) -> bytes:
        """Read a file from the node (bounded as ``copy_out``)."""
        data = bytearray()
        self.copy_out(remote, data.extend, timeout)
        return bytes(data)

    def get(self, remote: str, local: Path, timeout: float = 120.0) -> None:
        """Copy a file from the node to the host, streamed (bounded as ``copy_out``; a failed copy leaves
        no partial file)."""
        local = Path(local)
        out = local.open("wb")
        try:
            with out:
                self.copy_out(remote, out.write, timeout)
        except BaseException:
            local.unlink(missing_ok=True)
            raise

    def interactive(self) -> int:
        """Open a login shell with a pty on this terminal until it exits; return its exit status."""
        channel = self._channel()
        return interactive_channel(channel)

    def close(self) -> None:
        """Close the connection."""
        if self._client is not None:
            self._client.close()
            self._client = None
