"""The harness's exception types.

Two families, as in the NixOS test driver: ``UsageError`` is bad input from the user (the CLI prints one
line and exits 2, having created nothing), ``InfraError`` is the harness or the guest failing to do what
was asked (boot timeouts, lost SSH connections, dead QEMU processes).
"""


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""

    exit_code = 1


class UsageError(HarnessError):
    """Bad input: wrong arguments, missing files, missing rights or tools. Exit code 2."""

    exit_code = 2


class InfraError(HarnessError):
    """The machinery failed: a VM did not boot, a node stopped answering, a command timed out. ``node``
    names the node it happened on, when there is one."""

    exit_code = 1

    def __init__(self, message: str, node: str = ""):
        super().__init__(message)
        self.node = node


class CommandTimeout(InfraError):
    """A command on a node did not finish in time. The message names the node and has its console tail."""


class OutputFlood(InfraError):
    """A node sent more than the harness takes: a command's output or a file copied from it went past its
    cap (``harness.vm.ssh``). The command or copy was stopped; the message names the node and the cap."""
