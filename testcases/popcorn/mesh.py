"""Loading the message layer by hand on a cluster of a test's own, and what each node's insmod came to:
``refused`` (it failed; the node stays up), ``joined N`` (loaded, and get_node_info says node id N),
``waiting`` (still blocked in insmod, waiting for a peer), or the node's loss."""

from __future__ import annotations

import time

from harness.crash.parser import parse
from harness.errors import HarnessError
from harness.popcorn.bringup import insmod_state, run_probe
from harness.popcorn.nodes_file import NODES_FILE


class OutcomeDiffers(AssertionError):
    """A case's outcome, or a kernel report, with its signs (``harness/pytest/known_failures.py``)."""

    def __init__(self, signs: list[str], message: str):
        super().__init__(message + "".join(f"\n  {sign}" for sign in signs))
        self.signs = signs


def put_nodes_file(node, text: str) -> None:
    """Write ``text`` as ``node``'s nodes file, as is."""
    node.ssh.put_bytes(text.encode(), NODES_FILE, 0o644)


def insmod_outcome(node, profile) -> tuple[str, str]:
    """(outcome, detail) of ``node``'s insmod: outcome ``waiting``, ``refused``, ``joined N``, ``loaded, ...``
    or the node's loss; detail says why (insmod's output, the QEMU exit)."""
    try:
        state = insmod_state(node)
        if state is None:
            return ("waiting", "") if node.run("true", timeout=20).exit_code == 0 else ("not answering", "")
        if state:
            return ("QEMU exited", state) if not node.alive() else ("refused", state)
        probe = run_probe(node, profile)
    except HarnessError as exc:
        return "not answering", str(exc).splitlines()[0]
    if probe["ret"] != 0:
        return f"loaded, get_node_info {probe['ret']}", ""
    return f"joined {probe['my_nid']}", ""


def settle(nodes, profile, seconds: float) -> list[tuple[str, str]]:
    """Every node's ``insmod_outcome`` once none is ``waiting`` any more, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        outcomes = [insmod_outcome(node, profile) for node in nodes]
        if time.monotonic() > deadline or all(o != "waiting" for o, _ in outcomes):
            return outcomes
        time.sleep(2)


def console_signs(cluster) -> list[str]:
    """``finding:NODE:TITLE`` for every kernel report on the consoles of ``cluster``'s nodes."""
    return [f"finding:{f.node}:{f.title}" for node in cluster.nodes for f in parse(node.console_text(), node.name)]


def judge_outcome(cluster, outcomes: list[tuple[str, str]], expected: tuple[str, ...]) -> None:
    """Raise ``OutcomeDiffers`` when the outcomes are not ``expected`` or a console shows a kernel report
    (signs ``expect:outcome node0 X, node1 Y`` and ``finding:NODE:TITLE``)."""
    got = tuple(o for o, _ in outcomes)
    signs = console_signs(cluster)
    if got != expected:
        signs.append("expect:outcome " + ", ".join(f"node{i} {o}" for i, o in enumerate(got)))
    if signs:
        details = "; ".join(f"node{i}: {d}" for i, (_, d) in enumerate(outcomes) if d)
        raise OutcomeDiffers(signs, f"expected {expected}, got {got}" + (f" ({details})" if details else ""))
