"""A private libvirt daemon for one cluster: ``libvirtd`` started inside the cluster's network namespace, so
the QEMUs it spawns live there too and a domain's ``<interface type='bridge'>`` lands on the cluster's own
bridge (nothing in the host's namespace: the isolation of the QEMU backend, kept).

A privileged libvirtd always uses ``/etc/libvirt``, ``/run/libvirt``, ``/var/lib/libvirt``,
``/var/log/libvirt`` and ``/var/cache/libvirt``: the daemon runs in a private mount namespace where those
are bind mounts of ``WORKDIR/libvirt/{etc,run,lib,log,cache}``, so the host's own libvirt (if any) is not
touched and several clusters' daemons run at once. Its socket is ``WORKDIR/libvirt/run/libvirt-sock``;
the URI ``qemu:///system?socket=...``. QEMU runs as root, without security driver, cgroups or virtlogd
(Debian 12's libvirt 9.0 without systemd: measured in the backend's feasibility study, README).
The daemon's command line names its work dir (``--config``), which carries the run id: the sweep finds
the daemon of a dead run by it (``harness.vm.leftovers.run_daemons``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from harness.errors import InfraError, UsageError
from harness.paths import state_dir
from harness.vm.runs import process_alive

#: The host paths a privileged libvirtd uses -> the work dir's directory bind-mounted there.
MOUNTS = {"/etc/libvirt": "etc", "/run/libvirt": "run", "/var/lib/libvirt": "lib",
          "/var/log/libvirt": "log", "/var/cache/libvirt": "cache"}

QEMU_CONF = """\
# written by popcorn-harness for one cluster's private libvirtd
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
"""

LIBVIRTD_CONF = """\
# written by popcorn-harness for one cluster's private libvirtd
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""

#: The QEMU capabilities libvirt probes on a fresh daemon's first domain (about 4.5 s under TCG here),
#: kept across runs and copied into each new daemon's cache.
CAPS_SUBDIR = Path("qemu") / "capabilities"


def libvirt_module():
    """libvirt-python (an optional dependency: imported when the libvirt backend runs), its errors raised
    and not also printed on stderr by its default handler."""
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt


def root_of(workdir: Path) -> Path:
    """The daemon's directory in a cluster's work dir."""
    return Path(workdir) / "libvirt"


def uri_of(workdir: Path) -> str:
    """The libvirt URI of the daemon of the cluster whose work dir is ``workdir``."""
    return f"qemu:///system?socket={root_of(workdir) / 'run' / 'libvirt-sock'}"


def preflight() -> None:
    """``UsageError`` unless libvirtd and the Python binding are installed and libvirt's QEMU user exists."""
    if shutil.which("libvirtd") is None:
        raise UsageError("the libvirt backend needs libvirtd (apt-get install libvirt-daemon "
                         "libvirt-daemon-driver-qemu)")
    try:
        import libvirt  # noqa: F401
    except ImportError:
        raise UsageError("the libvirt backend needs libvirt-python (pip install 'popcorn-harness[libvirt]'; "
                         "it compiles against libvirt-dev)") from None
    import pwd

    try:
        pwd.getpwnam("libvirt-qemu")  # libvirt resolves its built-in QEMU user before it reads qemu.conf
    except KeyError:
        raise UsageError("libvirtd needs the system user libvirt-qemu even when QEMU runs as root: "
                         "useradd --system --user-group --no-create-home libvirt-qemu") from None


def listen_conf(address: str) -> str:
    """The libvirtd.conf lines of a daemon that also takes ``qemu+tcp`` connections on ``address`` (no TLS,
    no authentication: for an emulated host inside a namespace of the harness's, never on a real network)."""
    return (f'listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "{address}"\nauth_tcp = "none"\n')


def start(netns: str, workdir: Path, timeout: float = 30.0, listen: str = "") -> int:
    """Start the daemon of the cluster in ``netns`` (state under ``root_of(workdir)``); return its pid once
    its socket answers. With ``listen`` (an address of ``netns``), it also takes ``qemu+tcp`` connections
    there (``listen_conf``). ``InfraError`` (with its log's tail) if it does not come up."""
    libvirt = libvirt_module()
    root = root_of(workdir)
    for sub in MOUNTS.values():
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "qemu.conf").write_text(QEMU_CONF)
    (root / "etc" / "libvirtd.conf").write_text(LIBVIRTD_CONF + (listen_conf(listen) if listen else ""))
    caps = state_dir("libvirt-caps")
    if any(caps.iterdir()):
        shutil.copytree(caps, root / "cache" / CAPS_SUBDIR, dirs_exist_ok=True)
    for mountpoint in MOUNTS:
        Path(mountpoint).mkdir(parents=True, exist_ok=True)
    binds = " && ".join(f"mount --bind {root / sub} {point}" for point, sub in MOUNTS.items())
    inner = f"{binds} && exec libvirtd {'--listen ' if listen else ''}--config {root / 'etc' / 'libvirtd.conf'} --pid-file /run/libvirt/libvirtd.pid"
    with (root / "libvirtd.out").open("wb") as out:
        process = subprocess.Popen(["ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private",
                                    "--", "sh", "-c", inner], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    (root / "pid").write_text(str(process.pid))  # exec all the way down: this pid is libvirtd's
    deadline = time.monotonic() + timeout
    while True:
        try:
            libvirt.open(uri_of(workdir)).close()
            return process.pid
        except libvirt.libvirtError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(workdir)
            tail = (root / "libvirtd.out").read_text(errors="replace").strip().splitlines()[-3:]
            raise InfraError(f"libvirtd did not come up in {netns}: " + " / ".join(tail))
        time.sleep(0.05)


def keep_capabilities(workdir: Path) -> None:
    """Keep the QEMU capabilities this daemon probed for the next daemons (``start`` copies them)."""
    probed = root_of(workdir) / "cache" / CAPS_SUBDIR
    if probed.is_dir():
        shutil.copytree(probed, state_dir("libvirt-caps"), dirs_exist_ok=True)


def stop(workdir: Path, timeout: float = 10.0) -> None:
    """Stop the daemon of ``workdir`` (SIGTERM, SIGKILL after ``timeout``). Domains outlive their daemon:
    destroy them first. Safe when it is not running."""
    pidfile = root_of(workdir) / "pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
            _reap(pid)
        if not process_alive(pid):
            break
    pidfile.unlink(missing_ok=True)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
