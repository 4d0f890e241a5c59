"""The toolchain the builder runs with, and the known workarounds (``workarounds.toml``) that apply to it.

Old kernels meet new compilers: the table, keyed by kernel version and compiler version, says what to
change (config lines, environment) and why. Lookup is pure: :func:`matching_workarounds` takes versions.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UsageError

#: The table of known workarounds.
WORKAROUNDS_FILE = Path(__file__).with_name("workarounds.toml")

_CONSTRAINT = re.compile(r"^\s*(>=|<=|==|>|<)\s*([0-9][0-9.]*)\s*$")
_COMPARE = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
            ">": lambda a, b: a > b, "<": lambda a, b: a < b}


@dataclass(frozen=True)
class Workaround:
    """One row of the workaround table."""

    id: str
    kernel: str
    compiler: str
    compiler_version: str
    symptom: str
    why: str = ""
    config: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    alternative: str = ""

    def as_manifest(self) -> dict:
        """The workaround as recorded in manifests and cache keys."""
        return {"id": self.id, "config": list(self.config), "env": dict(self.env)}


@dataclass(frozen=True)
class Toolchain:
    """Compiler, binutils and ccache as found on this machine."""

    compiler: str
    compiler_version: str
    compiler_banner: str
    binutils: str
    ccache: str | None

    def as_manifest(self) -> dict:
        """The toolchain as recorded in manifests and cache keys (ccache is not part of the key)."""
        return {"compiler": self.compiler, "compiler_version": self.compiler_version,
                "compiler_banner": self.compiler_banner, "binutils": self.binutils}


def parse_version(text: str) -> tuple[int, ...]:
    """``"5.2.21"`` -> ``(5, 2, 21)``."""
    return tuple(int(part) for part in text.strip().split(".") if part)


def version_matches(version: str, constraints: str) -> bool:
    """True when ``version`` satisfies every comma-separated constraint (e.g. ``">=4.6, <6.0"``)."""
    have = parse_version(version)
    for constraint in filter(None, (c.strip() for c in constraints.split(","))):
        match = _CONSTRAINT.match(constraint)
        if not match:
            raise ValueError(f"bad version constraint {constraint!r}")
        op, bound = match.groups()
        want = parse_version(bound)
        width = max(len(have), len(want))
        if not _COMPARE[op](have + (0,) * (width - len(have)), want + (0,) * (width - len(want))):
            return False
    return True


def load_workarounds(path: Path = WORKAROUNDS_FILE) -> list[Workaround]:
    """Read the workaround table."""
    rows = tomllib.loads(path.read_text()).get("workaround", [])
    return [Workaround(**{**row, "config": tuple(row.get("config", ()))}) for row in rows]


def matching_workarounds(kernel_version: str, compiler: str, compiler_version: str,
                         table: list[Workaround] | None = None) -> list[Workaround]:
    """The workarounds that apply to this kernel version and compiler, in table order."""
    table = load_workarounds() if table is None else table
    return [w for w in table
            if w.compiler == compiler and version_matches(kernel_version, w.kernel)
            and version_matches(compiler_version, w.compiler_version)]


def kernel_version(tree: Path) -> str:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` read from a kernel tree's top-level Makefile."""
    fields = {}
    for line in (tree / "Makefile").read_text().splitlines()[:12]:
        if match := re.match(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)", line):
            fields[match.group(1)] = match.group(2) or "0"
    if len(fields) != 3:
        raise UsageError(f"{tree}/Makefile does not carry a kernel version")
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}.{fields['SUBLEVEL']}"


def detect_toolchain(cc: str = "gcc") -> Toolchain:
    """Find the compiler, binutils and ccache; a missing compiler is a usage error (install it)."""
    if not shutil.which(cc):
        raise UsageError(f"no {cc} on PATH: install the build dependencies (gcc make flex bison bc libelf-dev libssl-dev)")
    version = subprocess.run([cc, "-dumpfullversion"], capture_output=True, text=True).stdout.strip()
    banner = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    ld = subprocess.run(["ld", "--version"], capture_output=True, text=True).stdout.splitlines()
    ccache = shutil.which("ccache")
    return Toolchain(compiler="gcc" if "gcc" in cc else cc, compiler_version=version, compiler_banner=banner,
                     binutils=ld[0] if ld else "unknown", ccache=ccache)


def missing_build_tools() -> list[str]:
    """Build tools the kernel needs that are not on PATH."""
    return [tool for tool in ("make", "gcc", "ld", "flex", "bison", "bc", "perl", "patch", "tar", "depmod")
            if not shutil.which(tool)]
