"""The harness runs as root: the files it locks and the directories it keeps state and caches in must be
its own, never a path another user prepared (a symlink to /etc/shadow where a lock file should be)."""

import os

import pytest

from harness.errors import UsageError
from harness.kernel.cache import exclusive_lock
from harness.paths import CACHE_ENV, ROOT_CACHE, cache_root, locked, private_dir, state_dir


def test_a_lock_file_is_never_opened_through_a_symlink(tmp_path):
    victim = tmp_path / "shadow"
    victim.write_text("secret\n")
    planted = tmp_path / "build.lock"
    planted.symlink_to(victim)
    with pytest.raises(UsageError, match="cannot open the lock file"):
        with locked(planted):
            pass
    assert victim.read_text() == "secret\n"
    with locked(tmp_path / "fresh.lock"):
        assert (tmp_path / "fresh.lock").stat().st_mode & 0o777 == 0o600


def test_the_build_lock_lives_in_the_private_state_dir_not_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("POPCORN_HARNESS_RUNDIR", str(tmp_path / "run"))
    with exclusive_lock("build"):
        assert (tmp_path / "run" / "locks" / "kernel-build.lock").is_file()
    assert oct((tmp_path / "run").stat().st_mode & 0o777) == oct(0o700)


@pytest.mark.parametrize("prepare", ["symlink", "other_owner", "world_writable"])
def test_a_state_dir_someone_else_prepared_is_refused(tmp_path, monkeypatch, prepare):
    target = tmp_path / "run"
    if prepare == "symlink":
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to(tmp_path / "elsewhere")
    else:
        target.mkdir()
        if prepare == "other_owner":
            os.chown(target, 1000, 1000)
        else:
            target.chmod(0o777)
    monkeypatch.setenv("POPCORN_HARNESS_RUNDIR", str(target))
    with pytest.raises(UsageError):
        state_dir("runs")
    with pytest.raises(UsageError):
        private_dir(target)


def test_roots_cache_does_not_follow_a_users_home(tmp_path, monkeypatch):
    """``sudo -E`` keeps the user's HOME and XDG_CACHE_HOME: root's cache stays in /var/cache, out of a
    directory that user could swap, and out of root's own 0700 home, which the build user cannot enter."""
    home = tmp_path / "home" / "user"
    (home / ".cache").mkdir(parents=True)
    os.chown(home / ".cache", 1000, 1000)
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    assert cache_root() == ROOT_CACHE


def test_a_cache_in_another_users_directory_is_refused(tmp_path, monkeypatch):
    """A cache root root would build and run from, inside a directory another user may change, is refused."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 1000, 1000)
    monkeypatch.setenv(CACHE_ENV, str(theirs / "cache"))
    with pytest.raises(UsageError, match=f"set {CACHE_ENV}"):
        cache_root()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
