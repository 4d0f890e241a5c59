"""Bridge the local terminal to an SSH channel (``cluster ssh``)."""

from __future__ import annotations

import os
import select
import shutil
import sys
import termios
import tty

import paramiko


def interactive_channel(channel: paramiko.Channel) -> int:
    """Run a shell on ``channel`` wired to stdin/stdout; raw mode when stdin is a terminal."""
    is_tty = sys.stdin.isatty()
    if is_tty:
        size = shutil.get_terminal_size()
        channel.get_pty(term=os.environ.get("TERM", "xterm"), width=size.columns, height=size.lines)
    channel.invoke_shell()
    saved = termios.tcgetattr(sys.stdin) if is_tty else None
    try:
        if is_tty:
            tty.setraw(sys.stdin.fileno())
        stdin_open = True
        while True:
            watch = [channel] + ([sys.stdin] if stdin_open else [])
            readable, _, _ = select.select(watch, [], [], 0.5)
            if channel in readable:
                data = channel.recv(65536)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if sys.stdin in readable:
                data = os.read(sys.stdin.fileno(), 4096)
                if data:
                    channel.sendall(data)
                else:
                    stdin_open = False
                    channel.shutdown_write()
            if channel.exit_status_ready() and not channel.recv_ready():
                break
    finally:
        if saved is not None:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)
    return channel.recv_exit_status()
