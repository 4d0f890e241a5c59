"""Who runs a kernel tree's own code (make, merge_config.sh, mrproper): never root.

A kernel tree's Makefiles and scripts come from elsewhere (a tarball, a git URL, a user's directory);
when the harness runs as root, they run as an unprivileged build user instead: by default uid and gid
:data:`DEFAULT_BUILD_ID`, which has no account (Debian reserves 65000-65533 for local use and no
package allocates them), or the user named by ``$POPCORN_HARNESS_BUILD_USER`` (a name, ``uid`` or
``uid:gid``). That user owns only the build directories and its ccache; the source trees, the logs and
the artifacts stay root's. Everything root reads back from a build directory goes through
:mod:`harness.kernel.beneath`, which never follows a link the build may have planted.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError, UsageError
from harness.processes import die_with_parent, end_group

#: The environment variable naming the build user (a user name, ``uid`` or ``uid:gid``).
BUILD_USER_ENV = "POPCORN_HARNESS_BUILD_USER"

#: uid and gid of the default build user, which needs no account.
DEFAULT_BUILD_ID = 65100

#: The build user's file mode creation mask: the trees it makes are readable, never writable, by others.
BUILD_UMASK = 0o022


@dataclass(frozen=True)
class BuildUser:
    """The identity a kernel tree's code runs under; ``uid`` equal to ours means no switch."""

    uid: int
    gid: int

    @classmethod
    def current(cls) -> BuildUser:
        """Ourselves (what a harness that is not root builds as)."""
        return cls(os.geteuid(), os.getegid())

    @property
    def switches(self) -> bool:
        """True when commands run as another user than the harness."""
        return self.uid != os.geteuid()

    def describe(self) -> str:
        """``uid N`` (and its account name when it has one), for messages."""
        try:
            return f"uid {self.uid} ({pwd.getpwuid(self.uid).pw_name})"
        except KeyError:
            return f"uid {self.uid}"

    def popen_options(self) -> dict:
        """``subprocess`` keyword arguments that run a command as this user, in a process group of its own
        (so :func:`harness.processes.end_group` reaches whatever it left running), killed if we die."""
        options = {"process_group": 0, "umask": BUILD_UMASK, "preexec_fn": die_with_parent}
        if self.switches:
            options |= {"user": self.uid, "group": self.gid, "extra_groups": []}
        return options

    def give(self, path: Path) -> None:
        """Hand ``path`` (a directory root made) to this user, recursively and without following links;
        nothing to do when it already is this user's or there is no switch."""
        if self.switches and os.lstat(path).st_uid != self.uid:
            _chown_tree(path, self.uid, self.gid, "handing {path} to the build user")

    def take_back(self, path: Path) -> None:
        """Make ``path`` root's again (recursively, links themselves rather than their targets), after the
        build user had it; nothing to do without a switch."""
        if self.switches:
            _chown_tree(path, os.geteuid(), os.getegid(), "taking {path} back from the build user")

    def check_reachable(self, path: Path) -> None:
        """Refuse (``UsageError``) a build under ``path`` when this user cannot reach it, e.g. a cache in
        root's 0700 home: every directory from ``/`` down must let the build user through."""
        if not self.switches:
            return
        for directory in [*reversed(Path(path).parents), Path(path)]:
            try:
                info = os.stat(directory)
            except FileNotFoundError:
                return
            if not _searchable(info, self.uid, self.gid):
                raise UsageError(f"the build user ({self.describe()}) cannot enter {directory} (mode "
                                 f"{stat.S_IMODE(info.st_mode):o}) on the way to the kernel cache's {path}: set "
                                 f"POPCORN_HARNESS_CACHE to a directory it can reach, e.g. under /var/cache")


def _chown_tree(path: Path, uid: int, gid: int, what: str) -> None:
    """``chown -R -P`` (links themselves, never their targets); ``InfraError`` naming ``what`` on failure."""
    result = subprocess.run(["chown", "-R", "-P", f"{uid}:{gid}", "--", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise InfraError(f"{what.format(path=path)} failed: {result.stderr.strip()[:300]}")


def _searchable(info: os.stat_result, uid: int, gid: int) -> bool:
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def build_user() -> BuildUser:
    """The user kernel trees' code runs as: ourselves when the harness is not root, else
    ``$POPCORN_HARNESS_BUILD_USER`` or :data:`DEFAULT_BUILD_ID`; root itself is refused (``UsageError``)."""
    if os.geteuid() != 0:
        return BuildUser.current()
    spec = os.environ.get(BUILD_USER_ENV, "").strip()
    user = parse_build_user(spec) if spec else BuildUser(DEFAULT_BUILD_ID, DEFAULT_BUILD_ID)
    if user.uid == 0 or user.gid == 0:
        raise UsageError(f"{BUILD_USER_ENV}={spec} is root: a kernel tree's make runs as an unprivileged user; "
                         "name another user, uid or uid:gid")
    return user


def parse_build_user(spec: str) -> BuildUser:
    """``name``, ``uid`` or ``uid:gid`` -> :class:`BuildUser` (a name takes its account's group);
    ``UsageError`` for an unknown name or a malformed value."""
    uid_text, _, gid_text = spec.partition(":")
    if uid_text.isdigit() and (not gid_text or gid_text.isdigit()):
        return BuildUser(int(uid_text), int(gid_text or uid_text))
    if gid_text:
        raise UsageError(f"{BUILD_USER_ENV}={spec!r}: give a user name, a uid, or uid:gid in numbers")
    try:
        account = pwd.getpwnam(uid_text)
    except KeyError:
        raise UsageError(f"{BUILD_USER_ENV}={spec!r}: no such user") from None
    return BuildUser(account.pw_uid, account.pw_gid)


def run_as(user: BuildUser, cmd: list[str], what: str, cwd: Path | None = None, env: dict | None = None) -> str:
    """Run ``cmd`` as ``user`` (own process group, ended afterwards); return its output or raise
    ``InfraError`` naming ``what`` with the last lines of its output."""
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                               cwd=cwd, env=env, **user.popen_options())
    try:
        output, _ = process.communicate()
    finally:
        end_group(process)
    if process.returncode != 0:
        tail = output.strip().splitlines()[-3:]
        raise InfraError(f"{what} failed: {' / '.join(tail)}")
    return output
