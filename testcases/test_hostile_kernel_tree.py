"""A kernel tree's own code runs as an unprivileged build user, and what it leaves is read without links.

The trees here are tiny stand-ins for a kernel tree from elsewhere: their Makefile answers the goals the
builder asks for (``tinyconfig``, ``olddefconfig``, ``bzImage``, ``modules_install``, ``mrproper``)
and records who ran it, and leaves a process behind; the hostile one also tries to write where only root may and plants links to a
root-only file where the builder expects its results. The real kernels' builds as the build user are
in ``testcases/kernel/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.errors import InfraError, UsageError
from harness.kernel.build import build_kernel
from harness.kernel.build_user import BUILD_USER_ENV, DEFAULT_BUILD_ID
from harness.paths import CACHE_ENV

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the build user is what a harness running as root uses")

MAKEFILE = """\
VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 0
EXTRAVERSION =
O ?= .
RESULTS = $(O)/arch/x86/boot/bzImage $(O)/vmlinux $(O)/System.map $(O)/include/config/kernel.release

tinyconfig olddefconfig:
\tprintf 'CONFIG_MODULES=y\\n' > $(O)/.config

bzImage modules:
\tmkdir -p $(O)/arch/x86/boot $(O)/include/config
\tfor f in $(RESULTS); do id -u > $$f; done
\t-touch {forbidden}
\t(sleep 297 > /dev/null 2>&1 &)
{hostile}

modules_install:
\tmkdir -p $(INSTALL_MOD_PATH)/lib/modules/6.1.0/kernel
\tid -u > $(INSTALL_MOD_PATH)/lib/modules/6.1.0/kernel/probe.ko
\tln -s $(O) $(INSTALL_MOD_PATH)/lib/modules/6.1.0/build
\tln -s {secret} $(INSTALL_MOD_PATH)/lib/modules/6.1.0/kernel/secret.ko

mrproper:
\tid -u > mrproper-ran-as
\trm -f .config
"""

#: The hostile tree's extra bzImage recipe line: its System.map becomes a link to the root-only secret.
HOSTILE = "\tln -sf {secret} $(O)/System.map"


@pytest.fixture
def reachable_cache(monkeypatch):
    """A kernel cache the build user can reach (``tmp_path`` is inside pytest's 0700 directory)."""
    cache = Path(tempfile.mkdtemp(prefix="phc-test-cache-", dir="/var/tmp"))
    cache.chmod(0o755)
    monkeypatch.setenv(CACHE_ENV, str(cache))
    monkeypatch.delenv(BUILD_USER_ENV, raising=False)
    yield cache
    shutil.rmtree(cache)


@pytest.fixture
def secret(reachable_cache):
    """A file only root may read, in a directory the build user can enter."""
    path = reachable_cache.parent / f"{reachable_cache.name}-secret"
    path.write_text("root's secret\n")
    path.chmod(0o600)
    yield path
    path.unlink()


def make_tree(where: Path, secret: Path, forbidden: Path, hostile: bool) -> Path:
    """A stand-in kernel tree with a leftover ``.config`` (so the builder runs ``mrproper`` in its copy)."""
    tree = where / ("hostile-tree" if hostile else "tree")
    tree.mkdir()
    text = MAKEFILE.format(forbidden=forbidden, secret=secret, hostile=HOSTILE.format(secret=secret) if hostile else "")
    (tree / "Makefile").write_text(text)
    (tree / "Kconfig").write_text("config MODULES\n\tbool\n")
    (tree / ".config").write_text("CONFIG_MODULES=y\n")
    return tree


def test_a_trees_make_runs_as_the_build_user_and_only_its_results_are_copied(reachable_cache, secret, tmp_path):
    forbidden = Path("/root") / f"phc-written-by-make-{os.getpid()}"
    tree = make_tree(tmp_path, secret, forbidden, hostile=False)
    artifact = build_kernel(str(tree), nice=0)
    for name in ("bzImage", "vmlinux", "System.map"):
        assert (artifact.dir / name).read_text() == f"{DEFAULT_BUILD_ID}\n", name
    assert artifact.manifest["kernel_release"] == str(DEFAULT_BUILD_ID)
    source_tree = next((reachable_cache / "kernels" / "sources").glob("dir-*/tree"))
    assert (source_tree / "mrproper-ran-as").read_text() == f"{DEFAULT_BUILD_ID}\n"
    assert not (source_tree / ".config").exists()
    assert os.lstat(source_tree).st_uid == 0 and os.lstat(source_tree / "Makefile").st_uid == 0
    objtree, = (path for path in source_tree.glob("_build-*") if "." not in path.name)
    assert os.lstat(objtree).st_uid == DEFAULT_BUILD_ID
    modules = artifact.dir / "modules" / "lib" / "modules" / "6.1.0"
    assert (modules / "kernel" / "probe.ko").read_text() == f"{DEFAULT_BUILD_ID}\n"
    assert not (modules / "build").exists() and not os.path.lexists(modules / "kernel" / "secret.ko")
    assert not forbidden.exists(), "the tree's Makefile wrote into root's home"
    assert left_running("sleep 297") == [], "a process the Makefile started outlived its step"


def left_running(command: str) -> list[int]:
    """Pids of the build user's processes whose command line is ``command``."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if proc.stat().st_uid == DEFAULT_BUILD_ID and (proc / "cmdline").read_bytes().replace(b"\0", b" ").strip() == command.encode():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_a_link_planted_by_the_tree_is_refused_not_followed(reachable_cache, secret, tmp_path):
    tree = make_tree(tmp_path, secret, Path("/root/phc-unused"), hostile=True)
    with pytest.raises(InfraError, match="System.map cannot be read as a plain file"):
        build_kernel(str(tree), nice=0)
    leaked = [path for path in reachable_cache.rglob("*")
              if path.is_file() and not path.is_symlink() and b"root's secret" in path.read_bytes()]
    assert leaked == []
    assert not list((reachable_cache / "kernels").glob("artifacts/*/manifest.json"))


def test_a_cache_the_build_user_cannot_reach_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # pytest's tmp dirs are 0700
    monkeypatch.delenv(BUILD_USER_ENV, raising=False)
    tree = make_tree(tmp_path, tmp_path / "none", Path("/root/phc-unused"), hostile=False)
    with pytest.raises(UsageError, match=r"the build user \(uid 65100\) cannot enter .* set POPCORN_HARNESS_CACHE"):
        build_kernel(str(tree), nice=0)


@pytest.mark.parametrize("value", ["root", "0", "0:0", "1000:0"])
def test_root_as_the_build_user_is_refused(reachable_cache, tmp_path, monkeypatch, value):
    monkeypatch.setenv(BUILD_USER_ENV, value)
    tree = make_tree(tmp_path, tmp_path / "none", Path("/root/phc-unused"), hostile=False)
    with pytest.raises(UsageError, match="is root"):
        build_kernel(str(tree), nice=0)


def test_a_named_build_user_is_used(reachable_cache, secret, tmp_path, monkeypatch):
    monkeypatch.setenv(BUILD_USER_ENV, "nobody")
    tree = make_tree(tmp_path, secret, Path("/root/phc-unused"), hostile=False)
    artifact = build_kernel(str(tree), nice=0)
    assert (artifact.dir / "bzImage").read_text() == "65534\n"
