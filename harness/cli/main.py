"""The ``popcorn-harness`` command line: a thin face over the library.

Each sub-command lives in its own module under ``harness/cli/`` and exposes
``register(subparsers)``; this module only assembles them and turns harness errors into one-line
messages with the error's exit code (2 for bad input). The sub-commands import the library inside the
functions that run them: ``--help`` and a usage error then stay fast (no paramiko, pyroute2 or QMP).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from harness.errors import HarnessError

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "harness.cli.run",
    "harness.cli.cluster",
    "harness.cli.cc",
    "harness.cli.repro",
    "harness.cli.fuzz",
    "harness.cli.bench",
    "harness.cli.kernel",
    "harness.cli.clean",
)


class _Parser(argparse.ArgumentParser):
    """argparse parser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser with every registered sub-command."""
    parser = _Parser(
        prog="popcorn-harness",
        description=(
            "Build a Popcorn Linux kernel, boot it on a cluster of QEMU VMs in an isolated network "
            "namespace, bring the Popcorn mesh up and test it."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def keep_interrupts() -> None:
    """Make Ctrl-C (and a signal handler's ``SystemExit(128 + N)``) impossible to lose. A signal that lands
    while ``os.fork`` runs its at-fork callbacks (pyroute2 forks to reach a namespace) raises inside one,
    and Python only prints "Exception ignored in: <function _releaseLock>": the run would go on booting.
    Such an exception is raised again in the main thread instead (seen in CI: a SIGINT while booting), a
    moment later and from another thread: the hook itself runs in the thread whose callback failed, often
    the main thread, and an interrupt raised there, inside the hook, was swallowed too ("Exception ignored
    in sys.unraisablehook", seen in CI: the booting session went on for 300 s). An interrupt raised as
    logging's after-fork ``_releaseLock`` starts leaves logging's module lock held by the main thread for
    good: the first log call of another thread on a level its logger has not cached yet then waits for it
    forever (a teardown's worker threads, say); the hook gives that lock back."""
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        signum = signal_of(unraisable.exc_value)
        if signum is None:
            previous(unraisable)
            return
        release_lock_left_by(unraisable.object)
        send_to_main_thread_later(signum)

    sys.unraisablehook = hook


def signal_of(exc: BaseException) -> int | None:
    """The signal whose handler raised ``exc``: SIGINT for ``KeyboardInterrupt``, N for ``SystemExit(128 + N)``
    (the harness's handlers for SIGTERM and SIGHUP), else None."""
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    if isinstance(exc, SystemExit) and isinstance(exc.code, int) and exc.code > 128:
        return exc.code - 128
    return None


def send_to_main_thread_later(signum: int) -> None:
    """Send ``signum`` to the main thread in a moment (a real signal: it also ends a sleep or a wait), from
    a timer thread. Starting that thread waits for it to run: on a loaded machine the signal can land in
    that wait, in this very call, which may run inside the unraisable hook where an interrupt is swallowed
    again (seen in CI, 8 workers on 2 cores): such an interrupt is caught and sent once more."""
    main = threading.main_thread().ident
    try:
        threading.Timer(0.01, signal.pthread_kill, (main, signum)).start()
    except (KeyboardInterrupt, SystemExit) as again:
        send_to_main_thread_later(signal_of(again) or signum)


#: After-fork callbacks (run in the parent) that release a lock their before-fork twin took, with that
#: lock: an exception raised as one starts, before its release, leaves the lock held.
_FORK_RELEASES = tuple((callback, lock) for callback, lock in [
    (getattr(logging, "_releaseLock", None), getattr(logging, "_lock", None)),
] if callback is not None and hasattr(lock, "_is_owned"))


def release_lock_left_by(callback: object) -> None:
    """If ``callback`` is an after-fork release (``_FORK_RELEASES``) that was interrupted and its lock is
    still held by this thread, release it."""
    for release, lock in _FORK_RELEASES:
        if callback is release and lock._is_owned():
            lock.release()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    keep_interrupts()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse cannot give a positional list after options and "--" (exec NODE --name X -- CMD);
        # sub-commands that take a trailing command declare it with ``trailing="cmd"``.
        trailing = getattr(args, "trailing", None)
        if not trailing:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if extra[0] == "--":
            extra = extra[1:]
        setattr(args, trailing, getattr(args, trailing) + extra)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except HarnessError as exc:
        print(f"popcorn-harness: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("popcorn-harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
