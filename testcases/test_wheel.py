"""The harness as a user installs it: a wheel built from this checkout, in a fresh venv, run from outside
any checkout. Every package imports from the venv, the packaged image recipe, config fragments and
Popcorn guest sources are found there, and the CLI boots a cluster with them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, harness_env, leftovers, new_tag

WHERE = """
import harness, harness.assets as a, harness.crash.parser, harness.popcorn.plugin, harness.pytest.plugin
from harness.popcorn.payload import POPCORN_GUEST_DIR
print(harness.__file__, a.IMAGES_DIR / "guest.toml", a.PATCHES_DIR / "configs" / "popcorn.config",
      POPCORN_GUEST_DIR / "pcn_probe.c", a.PATCHES_DIR / "popcorn-off" / "series", a.checkout(), sep="\\n")
"""


def run(*command, cwd, env=None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with the wheel of this checkout (its dependencies from the system's site-packages),
    built from a clean copy: a build/ or egg-info/ left in the checkout would smuggle files into it."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "artifacts",
                                                                 "__pycache__", ".pytest_cache"))
    # pip sets up an isolated build env (setuptools from PyPI): with eight workers' guests on two cores that
    # took over 600 s in a CI emulation. Its temp dirs go under root, so a pip killed by a timeout leaves
    # nothing in /tmp (one left pip-build-env-* there).
    (root / "tmp").mkdir()
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", source, cwd=root,
                env={**os.environ, "TMPDIR": str(root / "tmp")}, timeout=1200)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (root / "dist").glob("popcorn_harness-*.whl")
    made = run(sys.executable, "-m", "venv", "--system-site-packages", root / "venv", cwd=root)
    assert made.returncode == 0, made.stderr
    installed = run(root / "venv" / "bin" / "python", "-m", "pip", "install", "--no-deps", "-q", wheel, cwd=root)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return root / "venv"


@pytest.mark.xdist_group("wheel")
@pytest.mark.timeout(1800)  # the first of the group builds the module's wheel and venv
def test_every_package_and_data_file_comes_from_the_installed_wheel(venv, tmp_path):
    where = run(venv / "bin" / "python", "-c", WHERE, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    module, recipe, fragment, probe, series, checkout = where.stdout.splitlines()
    site = str(venv / "lib")
    assert module.startswith(site), f"harness imported from {module}, not from the venv"
    for path in (recipe, fragment, probe, series):
        assert path.startswith(site) and Path(path).is_file(), path
    assert checkout == "None", "an installed wheel has no test suite"


@pytest.mark.xdist_group("wheel")
@pytest.mark.timeout(1800)
def test_the_installed_cli_boots_a_cluster_outside_any_checkout(venv, kernel, tmp_path):
    cli = venv / "bin" / "popcorn-harness"
    tag = new_tag()
    env = harness_env(tag)
    helped = run(cli, "cluster", "up", "--help", cwd=tmp_path, env=env)
    assert helped.returncode == 0 and "--programs" in helped.stdout and "(default: none)" in helped.stdout, helped.stdout
    try:
        up = run(cli, "cluster", "up", "--nodes", "1", "--kernel", kernel, "--accel", "tcg", "--name", tag,
                 cwd=tmp_path, env=env, timeout=1200)
        assert up.returncode == 0, up.stderr[-3000:]
        listed = run(cli, "cluster", "exec", "node0", "--name", tag, "--", "ls /opt/phc/bin; cat /etc/popcorn/nodes",
                     cwd=tmp_path, env=env)
        assert (listed.returncode, listed.stdout) == (0, "pcn_bench\npcn_fuzz\npcn_probe\npcn_quickack\n10.77.0.1\n"), listed.stdout + listed.stderr
    finally:
        down = run(cli, "cluster", "down", "--name", tag, cwd=tmp_path, env=env)
    assert down.returncode == 0, down.stderr
    assert leftovers(tag) == []
