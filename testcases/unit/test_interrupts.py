"""Ctrl-C cannot be lost: an interrupt Python could only report as "Exception ignored" (it was raised in an
at-fork callback) is raised again in the main thread."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import types

import pytest

from harness.cli.main import keep_interrupts


def _swallowed(exc: BaseException, where: object = None):
    return types.SimpleNamespace(exc_type=type(exc), exc_value=exc, exc_traceback=None, err_msg="Exception ignored in",
                                 object=where)


@pytest.fixture
def hook():
    saved = sys.unraisablehook
    keep_interrupts()
    yield sys.unraisablehook
    sys.unraisablehook = saved


def test_a_swallowed_ctrl_c_is_raised_again_in_the_main_thread(hook):
    with pytest.raises(KeyboardInterrupt):
        hook(_swallowed(KeyboardInterrupt()))
        time.sleep(5)


def test_an_interrupted_after_fork_release_of_loggings_lock_gives_the_lock_back(hook):
    """os.fork ran logging's before-fork _acquireLock, then the interrupt was raised as _releaseLock started:
    the main thread still holds logging's lock. Another thread's first log call at a level its logger has not
    cached waits for that lock; after the hook it must go through (and the interrupt still comes)."""
    logging._acquireLock()  # what the before-fork callback did; the release never ran
    logged = threading.Event()

    def log_in_a_thread():
        logging.getLogger(f"phc-unit-{time.monotonic_ns()}").debug("after the fork")
        logged.set()

    with pytest.raises(KeyboardInterrupt):
        hook(_swallowed(KeyboardInterrupt(), logging._releaseLock))
        threading.Thread(target=log_in_a_thread, daemon=True).start()
        time.sleep(5)
    assert logged.wait(5), "another thread still waits for logging's lock"


class _InterruptedFinalizer:
    def __del__(self):
        raise KeyboardInterrupt


def test_a_ctrl_c_swallowed_in_a_main_thread_finalizer_is_raised_again(hook):
    """As the interpreter reports it: from a finalizer in the main thread, the hook running in that thread
    (an interrupt raised inside the hook would be swallowed as well)."""
    with pytest.raises(KeyboardInterrupt):
        _InterruptedFinalizer()  # dropped at once: __del__ raises, Python calls the hook
        time.sleep(5)


class _TimerStartedLate(threading.Timer):
    """The first timer's ``start()`` returns only after the timer fired, as on a loaded machine (CI: 8 workers
    on 2 cores): the signal lands in the hook itself."""

    slow = [True]

    def start(self):
        super().start()
        if self.slow.pop() if self.slow else False:
            time.sleep(1)  # the interrupt lands here, inside the hook


def test_a_ctrl_c_that_lands_inside_the_hook_is_raised_again_after_it(hook, monkeypatch):
    monkeypatch.setattr(threading, "Timer", _TimerStartedLate)
    _TimerStartedLate.slow[:] = [True]
    with pytest.raises(KeyboardInterrupt):
        _InterruptedFinalizer()
        time.sleep(5)
    assert not _TimerStartedLate.slow, "the slow first start did not run"


def test_a_swallowed_signal_exit_calls_that_signals_handler_again(hook):
    got = []
    saved = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        hook(_swallowed(SystemExit(128 + signal.SIGTERM)))
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert got == [signal.SIGTERM]


def test_other_unraisable_exceptions_go_to_the_previous_hook():
    seen = []
    saved = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        keep_interrupts()
        sys.unraisablehook(_swallowed(ValueError("x")))
        time.sleep(0.1)  # an interrupt, wrongly scheduled, would land here
    finally:
        sys.unraisablehook = saved
    assert [type(u.exc_value) for u in seen] == [ValueError]
