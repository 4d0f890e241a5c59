"""Choose the accelerator: ``tcg``, ``kvm``, or ``auto`` = KVM only if it really boots a guest.

``/dev/kvm`` can exist and open while guests still hang or QEMU aborts. So ``auto`` boots the kernel
once under KVM with no root file system: a working KVM reaches "Kernel panic" (no init) within a second
and QEMU exits (``panic=-1 -no-reboot``); anything else within the deadline means TCG. The answer is
cached per host boot and QEMU binary, so it is paid once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from harness.processes import die_with_parent
from harness.vm.backends.qemu import qemu_binary
from harness.paths import PREFIX, locked, state_dir

PROBE_DEADLINE = 20.0
_ANNOUNCED: list[bool] = []


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_name(owner_pid: int) -> str:
    """The ``-name`` of a KVM probe QEMU: the harness prefix and the pid of the process that runs it."""
    return f"{PREFIX}-kvmprobe-{owner_pid}"


def probe_owner(name: str) -> int | None:
    """The owner pid in a probe's ``-name`` (``probe_name``), or None for any other name."""
    match = re.fullmatch(rf"{PREFIX}-kvmprobe-(\d+)", name)
    return int(match.group(1)) if match else None


def probe_kvm(kernel: Path, deadline: float = PROBE_DEADLINE) -> tuple[bool, str]:
    """Boot ``kernel`` under KVM without an initrd; return (works, reason)."""
    if not os.path.exists("/dev/kvm"):
        return False, "/dev/kvm does not exist"
    with tempfile.TemporaryDirectory(prefix="phc-kvmprobe.") as tmp:
        console = Path(tmp) / "console.log"
        cmd = [
            qemu_binary(), "-name", probe_name(os.getpid()),
            "-accel", "kvm", "-cpu", "host", "-m", "128", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-kernel", str(kernel),
            "-append", "console=ttyS0 panic=-1", "-serial", f"file:{console}",
        ]
        # Dies with the harness (even on SIGKILL); a probe that outlived its owner anyway is swept by name.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_parent)
        try:
            out, _ = proc.communicate(timeout=deadline)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return False, f"a KVM guest did not reach its first panic within {deadline:.0f}s"
        text = console.read_text(errors="replace") if console.exists() else ""
        if "Kernel panic" in text:
            return True, "a KVM guest booted"
        last = out.decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return False, f"QEMU under KVM failed: {last[0][:160]}"


def resolve_accel(requested: str, kernel: Path, say=print) -> str:
    """Turn ``auto|kvm|tcg`` into ``kvm`` or ``tcg``; ``auto`` probes (cached) and says when it falls back."""
    if requested != "auto":
        return requested
    cache = state_dir() / "kvm-probe.json"
    key = f"{_boot_id()}:{qemu_binary()}"
    with locked(state_dir() / "kvm-probe.lock"):  # one probe per host, even with many xdist workers
        try:
            cached = json.loads(cache.read_text())
        except (OSError, ValueError):
            cached = {}
        if cached.get("key") != key:
            started = time.monotonic()
            works, reason = probe_kvm(kernel)
            cached = {"key": key, "works": works, "reason": reason, "seconds": round(time.monotonic() - started, 1)}
            cache.write_text(json.dumps(cached))
    if cached["works"]:
        return "kvm"
    if not _ANNOUNCED:
        say(f"KVM does not work here ({cached['reason']}); falling back to TCG")
        _ANNOUNCED.append(True)  # once per process
    return "tcg"
