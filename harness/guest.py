"""Guest programs: the C programs under ``testcases/guest/``, built static and carried in the image.

Each ``*.c`` file is one program (headers beside them are shared). They are compiled with the host's
gcc as static binaries, cached by the hash of all sources and the compiler version, and installed in
the guest under ``/opt/phc/bin/``. Programs report through JSON lines (see ``popcorn.h``):
``parse_checks`` reads them back so a failure names the check, the node, and what was expected and got.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError, UsageError
from harness.runtime import cache_root

GUEST_SOURCES = Path(__file__).resolve().parent.parent / "testcases" / "guest"
GUEST_BIN = "/opt/phc/bin"
CFLAGS = ("-static", "-O2", "-g", "-Wall", "-Werror", "-pthread", "-fno-omit-frame-pointer")


def _compiler_id() -> str:
    if shutil.which("gcc") is None:
        raise UsageError("gcc not found: guest programs need it (apt-get install gcc libc6-dev)")
    return subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]


def build_guest_programs(sources: Path = GUEST_SOURCES, cache: Path | None = None) -> dict[str, Path]:
    """Compile every program (cached); return name -> host path of the static binary."""
    programs = sorted(sources.glob("*.c"))
    digest = hashlib.sha256(_compiler_id().encode() + " ".join(CFLAGS).encode())
    for path in sorted(sources.glob("*.[ch]")) + sorted(sources.glob("*.S")):
        digest.update(path.name.encode() + path.read_bytes())
    out = (cache or cache_root() / "guest") / digest.hexdigest()[:24]
    if not (out / ".complete").exists():
        out.mkdir(parents=True, exist_ok=True)
        for source in programs:
            extra = sorted(str(p) for p in sources.glob(f"{source.stem}.*.S"))
            proc = subprocess.run(["gcc", *CFLAGS, "-I", str(sources), "-o", str(out / source.stem), str(source),
                                   *extra], capture_output=True, text=True)
            if proc.returncode != 0:
                raise InfraError(f"guest program {source.name} does not compile:\n{proc.stderr[-3000:]}")
        (out / ".complete").write_text("")
    return {p.stem: out / p.stem for p in programs}


def image_files(programs: dict[str, Path]) -> tuple[tuple[str, str], ...]:
    """``ClusterSpec.extra_files`` entries that put the programs in ``/opt/phc/bin``."""
    return tuple((str(path), f"{GUEST_BIN}/{name}") for name, path in sorted(programs.items()))


def with_guest_payload(spec):
    """The spec plus the guest programs (``/opt/phc/bin``) and Popcorn's message-layer module, so any
    cluster (test or hand-started) can run what the suites run. Call after preflight: it compiles."""
    import dataclasses

    from harness.popcorn.abi import PROFILES

    return dataclasses.replace(spec, extra_files=spec.extra_files + image_files(build_guest_programs()),
                               modules=tuple(sorted(set(spec.modules) | {p.module for p in PROFILES.values()})))


@dataclass(frozen=True)
class Check:
    """One check line of a guest program."""

    check: str
    node: int
    ok: bool
    expected: str
    got: str

    def describe(self, node_name: str = "") -> str:
        """'check X on node1: expected E, got G'."""
        where = node_name or f"node{self.node}"
        return f"check {self.check} on {where}: expected {self.expected}, got {self.got}"


def parse_checks(stdout: str) -> list[Check]:
    """The check lines of a program's output (other lines are ignored)."""
    checks = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{\"check\""):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        checks.append(Check(str(data["check"]), int(data.get("node", -1)), bool(data["ok"]),
                            str(data.get("expected", "")), str(data.get("got", ""))))
    return checks
