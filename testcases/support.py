"""Helpers for the integration tests: what a run left on the machine, and running the harness in a subprocess."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2 import netns as _netns

from harness.cleanup import qemu_processes
from harness.runtime import RunRecord

REPO = Path(__file__).resolve().parent.parent


def leftovers(tag: str) -> list[str]:
    """Every namespace, QEMU process, temp dir and run record whose name carries ``tag``."""
    found = [f"netns {n}" for n in _netns.listnetns() if tag in n]
    found += [f"qemu {pid} {name}" for pid, name in qemu_processes().items() if tag in name]
    found += [f"tmpdir {p}" for p in Path(tempfile.gettempdir()).glob(f"*{tag}*")]
    found += [f"record {r.run_id}" for r in RunRecord.all() if tag in r.netns]
    with IPRoute() as ipr:
        found += [f"link {name}" for link in ipr.get_links()
                  if tag in (name := link.get_attr("IFLA_IFNAME") or "")]
    return found


def new_tag() -> str:
    """A unique worker tag: resources of a subprocess run are named ``phc-<tag>-<run id>``."""
    return "t" + secrets.token_hex(3)


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
