"""Helpers for the integration tests: what a run left on the machine, and running the harness in a subprocess."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2 import netns as _netns

from harness.guest.programs import GUEST_BIN
from harness.processes import command_lines
from harness.vm import libvirtd
from harness.vm.leftovers import RUN_DAEMONS, qemu_processes
from harness.vm.runs import RunLease

REPO = Path(__file__).resolve().parent.parent
#: The suite's guest programs (the ini option ``guest_programs`` hands them to the harness).
GUEST_PROGRAMS = REPO / "testcases" / "guest"
#: Guest programs of the harness's own tests (not Popcorn's): phc_vfork_wait.
HARNESS_GUEST_PROGRAMS = REPO / "testcases" / "scenarios" / "guest"
#: Where phc_vfork_wait's parent waits (its /proc wchan), by kernel: kernel_clone since 5.10, _do_fork before.
VFORK_WAIT_CHANNEL = r"(kernel_clone|_do_fork)"


def leftovers(tag: str) -> list[str]:
    """Every namespace, QEMU process, temp dir and run lease whose name carries ``tag``."""
    found = [f"netns {n}" for n in _netns.listnetns() if tag in n]
    found += [f"qemu {pid} {name}" for pid, name in qemu_processes().items() if tag in name]
    found += [f"tmpdir {p}" for p in Path(tempfile.gettempdir()).glob(f"*{tag}*")]
    found += [f"lease {r.run_id}" for r in RunLease.all() if tag in r.netns]
    found += [f"{os.path.basename(argv[0]).decode()} {pid}" for pid, argv in command_lines()
              if os.path.basename(argv[0]) in RUN_DAEMONS and tag.encode() in b" ".join(argv)]
    with IPRoute() as ipr:
        found += [f"link {name}" for link in ipr.get_links()
                  if tag in (name := link.get_attr("IFLA_IFNAME") or "")]
    return found


def assert_usage_error(result: subprocess.CompletedProcess, tag: str, expected: str) -> None:
    """The CLI refused bad input: exit code 2, one line on stderr naming ``expected``, no stdout, no leftovers."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("popcorn-harness: error: ") and expected in lines[0], lines[0]
    assert result.stdout == ""
    assert leftovers(tag) == []


def new_tag() -> str:
    """A unique worker tag: resources of a subprocess run are named ``phc-<tag>-<run id>``."""
    return "t" + secrets.token_hex(3)


def default_sigint() -> None:
    """``preexec_fn`` for a child a test sends SIGINT: restore SIGINT's default disposition, so Python
    installs its KeyboardInterrupt handler. A runner that starts the suite in the background with job
    control off (``cmd &`` in a script) has SIGINT ignored, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def harness_env(tag: str, **extra: str) -> dict[str, str]:
    """Environment for a subprocess run whose resources carry ``tag``."""
    env = dict(os.environ)
    env["PYTEST_XDIST_WORKER"] = tag
    env.pop("PYTEST_XDIST_TESTRUNUID", None)
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m harness ARGS`` and capture its output."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def pytest_command(target: str, kernel: str, artifacts: Path, *extra: str) -> list[str]:
    """Command line of a nested pytest run of one scenario file (no xdist, no cache)."""
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-s",
            "-o", "addopts=", str(REPO / "testcases" / "scenarios" / target), f"--kernel={kernel}",
            f"--artifacts={artifacts}", "--accel=tcg", *extra]


def lkdtm_built_in(kernel) -> bool:
    """True when ``kernel`` (a path or a ``KernelImage``) has ``CONFIG_LKDTM=y`` in the ``.config`` of its
    artifact dir (the CI kernel does): a test may skip for want of LKDTM only on a kernel where this is False."""
    from harness.kernel.artifact import locate_kernel

    config = (kernel if hasattr(kernel, "file") else locate_kernel(kernel)).file(".config")
    return config is not None and "CONFIG_LKDTM=y" in config.read_text().splitlines()


def own_cluster_spec(pool, nodes: int, **changes):
    """The pool's spec for a cluster a test boots itself (``changes`` applied); skips without a kernel."""
    import dataclasses

    import pytest

    spec = dataclasses.replace(pool.spec(nodes), **changes)
    if not spec.kernel:
        pytest.skip("no kernel: pass --kernel or set POPCORN_HARNESS_KERNEL")
    return spec


#: Starts GUEST_BIN's phc_vfork_wait detached, then waits (30 s at most, else fails) until its parent is in D:
#: a look right after it returns sees the thread stuck, however slowly a loaded guest starts the program.
VFORK_WAITER_START = (
    f"(setsid {GUEST_BIN}/phc_vfork_wait 600 > /dev/null 2>&1 < /dev/null &); i=0; "
    "until grep -qs '(phc_vfork_wait) D ' /proc/[0-9]*/stat; do "
    "i=$((i + 1)); [ $i -lt 300 ] || { echo 'phc_vfork_wait not in D after 30 s' >&2; exit 1; }; sleep 0.1; done"
)


def start_vfork_waiter(node) -> None:
    """Start phc_vfork_wait on ``node`` (built on the host, put in /opt/phc/bin), detached; return once its
    parent sits in the kernel in D (``VFORK_WAIT_CHANNEL``), where it stays until killed, as a guest program
    stuck in a kernel would."""
    from harness.guest.programs import build_guest_programs

    binary = build_guest_programs(HARNESS_GUEST_PROGRAMS, names=["phc_vfork_wait"])["phc_vfork_wait"]
    node.put(binary, f"{GUEST_BIN}/phc_vfork_wait", mode=0o755)
    node.succeed(VFORK_WAITER_START, timeout=60)


def panic_node(node, seconds: float = 60.0) -> None:
    """Crash ``node``'s kernel (sysrq c) and wait until its QEMU exits (panic=-1, -no-reboot). The command
    ends with the VM, as ``InfraError`` naming the node, not with a ``CommandTimeout`` after ``seconds``."""
    import time

    import pytest

    from harness.errors import InfraError

    with pytest.raises(InfraError, match=rf"^{node.name}: (its VM ended \(QEMU exited\)|SSH connection lost) "):
        node.run("echo c > /proc/sysrq-trigger", timeout=seconds)
    deadline = time.monotonic() + seconds
    while node.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not node.alive(), "QEMU should exit on a guest panic (panic=-1, -no-reboot)"


def tcp_delivers(src, dst, wait_s: float = 10.0) -> bool:
    """True if a line ``src`` sends over TCP reaches a listener on ``dst`` within ``wait_s`` seconds. Each
    call listens on a fresh port (a listener an earlier test left behind cannot take the line) and ends
    its listener."""
    import secrets

    token, port = secrets.token_hex(8), 5000 + secrets.randbelow(1000)
    dst.succeed(f"rm -f /tmp/tcp-{port}; (timeout {wait_s + 30:g} nc -l -p {port} > /tmp/tcp-{port} &);"
                f" for i in $(seq 100); do netstat -ltn | grep -q ':{port} ' && exit 0; sleep 0.1; done; exit 1",
                timeout=30)
    src.run(f"echo {token} | nc -w 5 {dst.address} {port}", timeout=30)
    # Wait by the guest's clock, not by a count of sleeps: on a loaded host (8 workers on 2 cores) each
    # `sleep` of a loop costs far more than it asks for (50 x 0.2 s once took over 40 s).
    got = dst.run(f"end=$(($(date +%s) + {int(wait_s)})); until [ -s /tmp/tcp-{port} ] || "
                  f"[ $(date +%s) -ge $end ]; do sleep 0.2; done;"
                  f" cat /tmp/tcp-{port}; rm -f /tmp/tcp-{port}; killall nc 2>/dev/null; true",
                  timeout=wait_s + 60).stdout
    return got.strip() == token


def skip_without_libvirt() -> None:
    """Skip the calling test where the libvirt backend cannot run (libvirtd, libvirt-python or the
    libvirt-qemu user missing: ./setup.sh installs them), saying what is missing."""
    import pytest

    from harness.errors import UsageError

    try:
        libvirtd.preflight()
    except UsageError as exc:
        pytest.skip(str(exc))
