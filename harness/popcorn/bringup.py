"""Detect Popcorn on a booted cluster and bring its message-layer mesh up.

Detection: the kernel must carry the message-layer module and answer ``get_node_info`` as Popcorn does
(a probe program fills a sentinel buffer: Popcorn writes ``my_nid`` and the node table; a 5.2 kernel
without Popcorn gives ENOSYS; on kernels >= 5.6 the number is ``openat2``, which fails and writes
nothing). Bring-up: ``insmod msg_socket.ko`` on every node at once, in node-id order (insmod blocks
until that node's part of the mesh is connected), wait for every insmod under one deadline, then check
through ``get_node_info`` that every node knows its id and sees every node online.
"""

from __future__ import annotations

import json
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError, InfraError, UsageError
from harness.guest.programs import GUEST_BIN
from harness.popcorn.abi import AbiProfile, check_node_count, select_profile
from harness.popcorn.nodes_file import write_nodes_file

READY_LINE = "Ready on TCP/IP"
_RC_FILE = "/run/phc-insmod.rc"
_LOG_FILE = "/run/phc-insmod.log"
#: Seconds between a node's own looks for its insmod's exit code (``insmod_state`` with a wait).
_RC_LOOK_S = 0.05
#: Seconds each node waits on its side for its insmod to return before answering "still running".
MESH_LOOK_S = 2.0


@dataclass(frozen=True)
class PopcornSupport:
    """Whether a kernel is Popcorn, and why (or why not)."""

    available: bool
    reason: str
    profile: AbiProfile
    probe: dict = field(default_factory=dict)


def module_paths(modules_root: Path | None) -> list[str]:
    """Module paths (relative to lib/modules/<release>) of the kernel, from modules.dep."""
    if modules_root is None or not (modules_root / "modules.dep").is_file():
        return []
    return [line.split(":", 1)[0] for line in (modules_root / "modules.dep").read_text().splitlines() if ":" in line]


def run_probe(node, profile: AbiProfile) -> dict:
    """Run ``pcn_probe`` on ``node``; return its JSON."""
    result = node.run(f"{profile.shell_exports()} {GUEST_BIN}/pcn_probe", timeout=30).check()
    return json.loads(result.stdout.strip().splitlines()[-1])


def detect(cluster, profile_override: str | None = None) -> PopcornSupport:
    """Decide whether the cluster's kernel has Popcorn (needs a booted node with ``pcn_probe``)."""
    paths = module_paths(cluster.kernel.modules_root)
    profile = select_profile(paths, profile_override)
    probe = run_probe(cluster.nodes[0], profile)
    release = cluster.kernel.release or "?"
    has_module = any(p.endswith(f"/{profile.module}.ko") for p in paths)
    speaks = probe["ret"] == 0 and probe["my_nid_written"] and probe["entries_written"] > 0
    if speaks and has_module:
        return PopcornSupport(True, f"kernel {release} speaks Popcorn ({profile.name})", profile, probe)
    syscall = (f"syscall {probe['nr']} (get_node_info) answered as Popcorn" if speaks else
               f"syscall {probe['nr']} is not Popcorn's get_node_info here (returned {probe['ret']}, "
               f"errno {probe['errno_name'] or probe['errno']}, wrote nothing)")
    module = f"{profile.module}.ko is present" if has_module else f"it has no {profile.module}.ko module"
    return PopcornSupport(False, f"kernel {release} is not a Popcorn kernel: {syscall}; {module}", profile, probe)


def start_insmod(node, profile: AbiProfile) -> None:
    """Start ``insmod`` of the profile's message layer on ``node`` in the background (it blocks until the
    node's part of the mesh is up); ``insmod_state`` tells how it ended."""
    module = shlex.quote(f"/lib/modules/{profile.module}.ko")
    node.run(f"rm -f {_RC_FILE}; (insmod {module} > {_LOG_FILE} 2>&1; echo $? > {_RC_FILE}) "
             f"</dev/null >/dev/null 2>&1 &", timeout=15).check()


def load_module_everywhere(cluster, profile: AbiProfile) -> dict[str, str]:
    """Start ``insmod`` on every node in node-id order, each in the background.

    Returns the nodes where it could not even be started (node name -> why).
    """
    failed = {}
    for node in cluster.nodes:
        try:
            start_insmod(node, profile)
        except HarnessError as exc:
            failed[node.name] = f"could not start insmod: {str(exc).splitlines()[0]}"
    return failed


def insmod_state(node, wait: float = 0.0) -> str | None:
    """None while ``insmod`` runs (or the node does not answer), "" when it returned 0, else why it failed.
    With ``wait``, the node itself waits up to that many seconds for insmod to return before it answers:
    one round trip instead of a poll every fraction of a second."""
    if not node.alive():
        return f"{node.vm.end_reason()} (code {node.vm.exit_code()})"
    looks = round(wait / _RC_LOOK_S)
    try:
        rc = node.run(f"i=0; while [ ! -s {_RC_FILE} ] && [ $i -lt {looks} ]; do sleep {_RC_LOOK_S}; i=$((i+1)); done; "
                      f"cat {_RC_FILE} 2>/dev/null", timeout=10 + 2 * wait).stdout.strip()
    except HarnessError:
        return None  # not answering: still pending until the deadline
    if not rc:
        return None
    if rc == "0":
        return ""
    return f"insmod exited {rc}: {node.run(f'cat {_LOG_FILE}', timeout=10).stdout.strip()}"


def wait_for_mesh(cluster, timeout: float, failed: dict[str, str] | None = None) -> None:
    """Wait until every node's insmod returned 0; name the nodes that never joined otherwise. The pending
    nodes are asked together, each waiting on its side for its insmod (``insmod_state``) up to
    ``MESH_LOOK_S`` at a time, so the harness learns of each end within a round trip."""
    deadline = time.monotonic() + timeout
    failed = dict(failed or {})
    pending = {node.name: node for node in cluster.nodes if node.name not in failed}
    with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
        while pending and (left := deadline - time.monotonic()) > 0:
            began = time.monotonic()
            asked = {name: pool.submit(insmod_state, node, min(MESH_LOOK_S, left)) for name, node in pending.items()}
            for name, future in asked.items():
                state = future.result()
                if state is not None:
                    if state:
                        failed[name] = state
                    del pending[name]
            if pending and time.monotonic() - began < MESH_LOOK_S / 2:
                time.sleep(0.5)  # a node answered at once without an end (SSH refused): do not spin
    if pending or failed:
        lines = [f"{name}: never joined within {timeout:.0f}s" for name in pending]
        lines += [f"{name}: {why}" for name, why in failed.items()]
        tails = "\n".join(f"--- {n.name} console tail:\n{n.console_tail(12)}" for n in cluster.nodes
                          if n.name in pending or n.name in failed)
        raise InfraError("Popcorn mesh did not come up: " + "; ".join(lines) + "\n" + tails)


def verify_mesh(cluster, profile: AbiProfile) -> list[dict]:
    """Every node knows its own id and sees exactly the cluster's nodes online.

    The arch of each entry is left to the conformance suite (``test_node_info``): the 5.2 tree records
    a node's own arch only when a peer's NODE_INFO message arrives, so it is a Popcorn defect to report,
    not a reason to refuse the mesh."""
    problems = []
    probes = cluster.parallel(lambda node: run_probe(node, profile))
    for node, probe in zip(cluster.nodes, probes):
        statuses = [entry["status"] for entry in probe["nodes"]]
        expected = [1] * len(cluster.nodes) + [0] * (len(statuses) - len(cluster.nodes))
        if probe["ret"] != 0 or probe["my_nid"] != node.index:
            problems.append(f"{node.name}: get_node_info gave ret {probe['ret']}, my_nid {probe['my_nid']}")
        elif statuses != expected:
            problems.append(f"{node.name}: online table {statuses}, expected {expected}")
    if problems:
        raise InfraError("Popcorn mesh is up but inconsistent: " + "; ".join(problems))
    return probes


def bring_up(cluster, profile: AbiProfile, timeout: float = 180.0) -> list[dict]:
    """Load the message layer on every node (its nodes file written: ``write_nodes_file``), wait for the
    mesh, verify it; return each node's probe."""
    check_node_count(len(cluster.nodes), profile)
    wait_for_mesh(cluster, timeout, load_module_everywhere(cluster, profile))
    return verify_mesh(cluster, profile)


def bring_up_if_popcorn(cluster, abi: str | None = None, timeout: float = 300.0, *, required: bool = False,
                        reporter=None) -> PopcornSupport:
    """Write the nodes file, detect Popcorn and, when the kernel has it, bring the mesh up (each node's phase
    goes to ``reporter``, default the cluster's); a non-Popcorn kernel is a ``UsageError`` when
    ``required``, else returned as is."""
    reporter = reporter or cluster.reporter
    write_nodes_file(cluster)
    support = detect(cluster, abi)
    if not support.available:
        if required:
            raise UsageError(f"--popcorn: {support.reason}")
        return support
    for node in cluster.nodes:
        reporter.phase(node.name, f"loading {support.profile.module}.ko")
    bring_up(cluster, support.profile, timeout)
    for node in cluster.nodes:
        reporter.phase(node.name, f"Popcorn node {node.index} online ({support.profile.name})")
    return support
