"""Popcorn ABI profiles: everything that differs between Popcorn kernels, as one table of data.

``ssrg-5.2`` is the 5.2.21 tree (ssrg-vt/popcorn-kernel), read from its source: syscalls 434..437
(``arch/x86/entry/syscalls/syscall_64.tbl``), ``popcorn_get_node_info(int *my_nid, info)`` with two
arguments writing all 32 (MAX_POPCORN_NODES) entries, a 4-int thread status, ``propose_migration``,
and the socket message layer at top-level ``msg_layer/``. ``rfc-2020`` is the RFC posting to LKML of
29 April 2020 ("[RFC 0/9] Popcorn Linux Distributed Thread Execution", Javier Malave), read from its
patches: [RFC 4/9] adds three syscalls, 434 ``popcorn_migrate``, 435 ``popcorn_get_thread_status``, 436
``popcorn_get_node_info`` (no ``propose_migration``); [RFC 1/9] defines them in kernel/sched/core.c:
``get_node_info(int *my_nid, info, int len)`` writes ``len`` entries, ``get_thread_status`` three ints
(current nid, peer nid, peer pid), and both answer a bad user pointer with -EINVAL; [RFC 5/9]
``include/popcorn/bundle.h`` sets ``MAX_POPCORN_NODES`` 32 (62 is only the bound it may be raised to,
the number LWN quoted); the message-layer patch puts ``msg_socket.ko`` in ``drivers/msg_layer/`` on TCP
port 30467 with ``MAX_NUM_NODES`` 32. No kernel of that posting is at hand, so the suite has never run
on it: the profile is verified against the posting's text, not against a booted kernel.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from harness.errors import UsageError


@dataclass(frozen=True)
class AbiProfile:
    """What the harness expects of one Popcorn ABI."""

    name: str
    syscalls: dict[str, int]  # migrate, thread_status, node_info, and propose_migration where it exists
    node_info_args: int
    max_nodes: int  # entries get_node_info writes / node ids it accepts
    thread_status_fields: tuple[str, ...]
    has_propose_migration: bool
    module: str  # the socket message layer module
    module_dir: str  # where the module sits in the source tree
    verified: bool  # read from the kernel's own source or posted patches (True), or only from a description
    msg_port: int = 30467  # the socket message layer's TCP port (msg_layer/socket.c PORT)
    bad_pointer_errno: int = errno.EFAULT  # what a Popcorn syscall returns for a user pointer it cannot use
    notes: str = ""

    def environment(self) -> dict[str, str]:
        """Environment for the guest programs (``popcorn.h`` reads the syscall numbers from it)."""
        names = {"migrate": "PCN_NR_MIGRATE", "propose_migration": "PCN_NR_PROPOSE",
                 "thread_status": "PCN_NR_THREAD_STATUS", "node_info": "PCN_NR_NODE_INFO"}
        # A syscall the profile lacks gets -1: the guest programs' calls then fail with ENOSYS instead of
        # reaching their 5.2-tree default number, which is another Popcorn syscall in the RFC.
        env = {variable: str(self.syscalls.get(name, -1)) for name, variable in names.items()}
        env["PCN_MAX_NODES"] = str(self.max_nodes)
        env["PCN_NODE_INFO_ARGS"] = str(self.node_info_args)
        env["PCN_THREAD_STATUS_INTS"] = str(len(self.thread_status_fields))
        env["PCN_BAD_POINTER_ERRNO"] = str(self.bad_pointer_errno)
        return env

    def shell_exports(self) -> str:
        """``export A=1 B=2;`` for a shell command line."""
        return "export " + " ".join(f"{k}={v}" for k, v in sorted(self.environment().items())) + ";"


PROFILES: dict[str, AbiProfile] = {
    "ssrg-5.2": AbiProfile(
        name="ssrg-5.2",
        syscalls={"migrate": 434, "propose_migration": 435, "thread_status": 436, "node_info": 437},
        node_info_args=2,
        max_nodes=32,
        thread_status_fields=("current_nid", "proposed_nid", "peer_nid", "peer_pid"),
        has_propose_migration=True,
        module="msg_socket",
        module_dir="msg_layer",
        verified=True,
        bad_pointer_errno=errno.EINVAL,  # kernel/sched/core.c: access_ok/copy_to_user failures return -EINVAL
        notes=("bad user pointers give EINVAL, not EFAULT; no signal forwarding hooks in kernel/signal.c; "
               "434-437 are upstream's pidfd_open, clone3, close_range, openat2 since Linux 5.3-5.6, so glibc "
               ">= 2.34 pthread_create (clone3 = 435 = propose_migration here) fails with EINVAL and never "
               "falls back to clone; a never-migrated thread reports peer nid and pid -1"),
    ),
    "rfc-2020": AbiProfile(
        name="rfc-2020",
        syscalls={"migrate": 434, "thread_status": 435, "node_info": 436},
        node_info_args=3,
        max_nodes=32,
        thread_status_fields=("current_nid", "peer_nid", "peer_pid"),
        has_propose_migration=False,
        module="msg_socket",
        module_dir="drivers/msg_layer",
        verified=True,
        bad_pointer_errno=errno.EINVAL,  # [RFC 1/9] kernel/sched/core.c: access_ok/copy_to_user give -EINVAL
        notes=("read from the LKML posting of 29 April 2020 ([RFC 1/9], [RFC 4/9], [RFC 5/9] and the message "
               "layer patch), never booted here; get_node_info loops to the caller's len with no bound, so a "
               "len above 32 reads popcorn_nodes[] past its end (by reading; untested)"),
    ),
}

DEFAULT_PROFILE = "ssrg-5.2"


def check_node_count(nodes: int, profile: AbiProfile | None = None) -> None:
    """Raise ``UsageError`` when a Popcorn mesh of ``nodes`` nodes is larger than ``profile`` accepts (its
    message layer's ``max_nodes``), or, with no profile yet (before detection), than any profile accepts."""
    limit, who = (profile.max_nodes, f"the {profile.name} ABI") if profile else \
        (max(p.max_nodes for p in PROFILES.values()), "any Popcorn ABI the harness knows")
    if nodes > limit:
        raise UsageError(f"a Popcorn mesh of {nodes} nodes is larger than {who} accepts ({limit})")


def get_profile(name: str) -> AbiProfile:
    """The profile called ``name``; ``UsageError`` listing the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown ABI profile {name!r} (known: {', '.join(PROFILES)})") from None


def select_profile(module_paths: list[str], override: str | None = None) -> AbiProfile:
    """Pick the profile: ``override`` if given, else by where the kernel's message-layer module sits.

    ``module_paths`` are paths relative to ``lib/modules/<release>/`` (``kernel/msg_layer/msg_socket.ko``
    for the 5.2 tree, ``kernel/drivers/msg_layer/msg_socket.ko`` for the RFC layout).
    """
    if override:
        return get_profile(override)
    for profile in sorted(PROFILES.values(), key=lambda p: -len(p.module_dir)):
        suffix = f"{profile.module_dir}/{profile.module}.ko"
        if any(path.endswith(suffix) for path in module_paths):
            return profile
    return PROFILES[DEFAULT_PROFILE]
