"""Run a function inside a named network namespace, on a throw-away thread.

``setns(2)`` with ``CLONE_NEWNET`` changes the namespace of the calling *thread* only, and a socket
keeps the namespace it was created in. So the harness opens sockets and tap devices inside a cluster's
namespace from a short-lived thread, then uses them from anywhere: no route from the host's namespace
into the cluster is ever needed.
"""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

from pyroute2 import netns as _netns

T = TypeVar("T")


def call_in_netns(name: str, fn: Callable[[], T]) -> T:
    """Call ``fn()`` on a new thread that has joined network namespace ``name``; return its result."""
    box: dict = {}

    def target() -> None:
        try:
            _netns.setns(name, flags=0)
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
