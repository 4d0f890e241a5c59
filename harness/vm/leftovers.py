"""Find and remove what earlier runs left behind: QEMU processes, namespaces, work dirs, leases.

A run is stale when its owner process is gone (or, for a detached CLI cluster, all its QEMU processes
are). Resources that carry the ``phc-`` prefix but belong to no live run (a run killed before it could
write its lease, or whose lease was lost) are removed too. Every removal re-checks that no live
lease claims the resource, so a sweep never touches a run that is starting at the same moment.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

from harness.processes import command_lines
from harness.vm import hosts
from harness.vm.accel import probe_owner
from harness.vm.network import remove_namespace
from harness.paths import PREFIX, locked, state_dir
from harness.vm.runs import RunLease, process_alive

log = logging.getLogger(__name__)
_RUN_IN_NAME = re.compile(rf"^{PREFIX}-[\w.]+-([0-9a-f]{{8}})(?:-|$)")


def _run_id_of(name: str) -> str | None:
    match = _RUN_IN_NAME.match(name)
    return match.group(1) if match else None


def _lease_exists(run_id: str) -> bool:
    return (RunLease.directory() / f"{run_id}.json").exists()


def qemu_processes() -> dict[int, str]:
    """Harness QEMU processes on this machine: pid -> the ``-name`` they were given."""
    found = {}
    for pid, argv in command_lines():
        if b"qemu-system" not in argv[0]:
            continue
        for flag, value in zip(argv, argv[1:]):
            value = value.removeprefix(b"guest=")  # libvirt names its QEMUs "-name guest=NAME,..."
            if flag == b"-name" and value.startswith(f"{PREFIX}-".encode()):
                found[pid] = value.decode().split(",")[0]
    return found


def _run_id_in_path(path: str) -> str | None:
    return next((rid for part in Path(path).parts if (rid := _run_id_of(part))), None)


#: Host daemons a run may start, by program name -> the option whose value is a path in the run's work dir.
RUN_DAEMONS = {b"libvirtd": b"--config", b"dropbear": b"-r"}  # libvirt's private daemons; emulated hosts' SSH


def run_daemons() -> dict[int, str]:
    """Daemons of harness runs (libvirt's private daemons, an emulated host's libvirtd and SSH server): pid ->
    run id, from the work dir path on their command line."""
    found = {}
    for pid, argv in command_lines():
        flag = RUN_DAEMONS.get(os.path.basename(argv[0]))
        for option, value in zip(argv, argv[1:]):
            if option == flag and (rid := _run_id_in_path(value.decode(errors="replace"))):
                found[pid] = rid
    return found


def kill_processes(pids: list[int], timeout: float = 10.0) -> None:
    """SIGKILL ``pids`` and wait until they are gone (zombies of other parents count as gone)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def release_run(lease: RunLease) -> list[str]:
    """Remove everything ``lease`` names; return what was removed."""
    removed = []
    if lease.workdir:  # a cluster across hosts: its domains and overlay there (harness.vm.hosts)
        for error in hosts.release_recorded(Path(lease.workdir)):
            log.warning("run %s: %s", lease.run_id, error)
    pids = [pid for pid, name in qemu_processes().items() if _run_id_of(name) == lease.run_id]
    if pids:
        kill_processes(pids)
        removed.append(f"QEMU processes {pids}")
    daemons = [pid for pid, rid in run_daemons().items() if rid == lease.run_id]
    if daemons:
        kill_processes(daemons)
        removed.append(f"daemons {daemons}")
    from pyroute2 import netns as _netns

    for name in _netns.listnetns():  # its own, and others of the run (an emulated host's)
        if name == lease.netns or _run_id_of(name) == lease.run_id:
            remove_namespace(name)
            removed.append(f"namespace {name}")
    if lease.workdir and Path(lease.workdir).exists():
        shutil.rmtree(lease.workdir, ignore_errors=True)
        removed.append(f"work dir {lease.workdir}")
    lease.delete()
    return removed


def sweeps_held_off():
    """A ``with`` block during which no sweep runs on this machine (one under way finishes first): the
    lock every sweep takes. For a look at what a dead run left, before a sweep (any cluster start's) can
    remove it."""
    return locked(state_dir("locks") / "sweep.lock")


def sweep_stale() -> list[str]:
    """Remove leftovers of dead runs; return a description of each thing removed. One sweep at a time on
    the machine (every cluster start sweeps, so xdist workers starting together would otherwise remove
    the same things at once, and the loser's removal fail its start)."""
    with sweeps_held_off():
        return _sweep_stale()


def _sweep_stale() -> list[str]:
    removed: list[str] = []
    for lease in RunLease.all():
        if lease.is_stale():
            log.info("removing stale run %s", lease.run_id)
            removed += release_run(lease)
    orphan_pids = [pid for pid, name in qemu_processes().items()
                   if ((rid := _run_id_of(name)) and not _lease_exists(rid))
                   or ((owner := probe_owner(name)) is not None and not process_alive(owner))]
    if orphan_pids:
        kill_processes(orphan_pids)
        removed.append(f"orphan QEMU processes {orphan_pids}")
    orphan_daemons = [pid for pid, rid in run_daemons().items() if not _lease_exists(rid)]
    if orphan_daemons:
        kill_processes(orphan_daemons)
        removed.append(f"orphan daemons {orphan_daemons}")
    from pyroute2 import netns as _netns

    for name in _netns.listnetns():
        rid = _run_id_of(name)
        if rid and not _lease_exists(rid):
            remove_namespace(name)
            removed.append(f"orphan namespace {name}")
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}-*"):
        rid = _run_id_of(path.name)
        if rid and path.is_dir() and not _lease_exists(rid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"orphan work dir {path}")
    return removed
