"""Choose the accelerator: ``tcg``, ``kvm``, or ``auto`` = KVM only if it really boots a guest.

``/dev/kvm`` can exist and open while guests still hang or QEMU aborts. So ``auto`` boots the kernel
once under KVM with no root file system: a working KVM reaches "Kernel panic" (no init) within a second
and QEMU exits (``panic=-1 -no-reboot``); anything else within the deadline means TCG. The answer is
cached per host boot and QEMU binary, so it is paid once.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from harness.vm.backends.qemu import qemu_binary
from harness.paths import locked, state_dir

PROBE_DEADLINE = 20.0
_ANNOUNCED: list[bool] = []


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_kvm(kernel: Path, deadline: float = PROBE_DEADLINE) -> tuple[bool, str]:
    """Boot ``kernel`` under KVM without an initrd; return (works, reason)."""
    if not os.path.exists("/dev/kvm"):
        return False, "/dev/kvm does not exist"
    with tempfile.TemporaryDirectory(prefix="phc-kvmprobe-") as tmp:
        console = Path(tmp) / "console.log"
        cmd = [
            qemu_binary(), "-accel", "kvm", "-cpu", "host", "-m", "128", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-kernel", str(kernel),
            "-append", "console=ttyS0 panic=-1", "-serial", f"file:{console}",
        ]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
