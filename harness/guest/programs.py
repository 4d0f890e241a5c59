"""Guest programs: C programs built static on the host and carried in the guest image.

Each ``*.c`` file of the source directories is one program; headers in any of them are shared. They are
compiled with the host's gcc as static binaries, cached by the hash of all sources, the compiler version
and any extra defines, and installed in the guest under ``GUEST_BIN`` (``/opt/phc/bin``: ``phc`` is the
popcorn-harness's short prefix, also in namespace and work-dir names). What a program prints is read by
``harness/guest/protocol.py``. Which directories: the caller says (the Popcorn layer adds its own probe
and headers, ``harness/popcorn/payload.py``; the test suite hands over ``testcases/guest``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.errors import InfraError, UsageError
from harness.paths import cache_root

GUEST_BIN = "/opt/phc/bin"
CFLAGS = ("-static", "-O2", "-g", "-Wall", "-Werror", "-pthread", "-fno-omit-frame-pointer")


def _compiler_id() -> str:
    if shutil.which("gcc") is None:
        raise UsageError("gcc not found: guest programs need it (apt-get install gcc libc6-dev)")
    return subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]


def invert_check(name: str) -> str:
    """The define that makes a program print check ``name`` with its ok inverted (popcorn.h)."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise UsageError(f"not a check name: {name!r}")
    return f'PHC_INVERT_CHECK="{name}"'


def build_guest_programs(sources: Path | Sequence[Path], cache: Path | None = None, defines: Iterable[str] = (),
                         names: Iterable[str] | None = None, runtime: Sequence[Path] = ()) -> dict[str, Path]:
    """Compile every program of ``sources`` (one directory or several; or only ``names``), cached; return
    name -> host path of the static binary.

    ``defines``: extra preprocessor definitions, each passed as ``-D<define>`` (``'PHC_CLOBBER_CALLEE_SAVED'``,
    ``invert_check('status_before')``); they are part of the cache key, so each set gets its own build.
    ``runtime``: C files linked into every program (a run-time library), also part of the key."""
    runtime = [Path(r) for r in runtime]
    dirs = [Path(sources)] if isinstance(sources, (str, Path)) else [Path(d) for d in sources]
    programs = sorted((p for d in dirs for p in d.glob("*.c")), key=lambda p: p.stem)
    if names is not None:
        wanted = set(names)
        unknown = wanted - {p.stem for p in programs}
        if unknown:
            raise UsageError(f"no guest program named {', '.join(sorted(unknown))} in {', '.join(map(str, dirs))}")
        programs = [p for p in programs if p.stem in wanted]
    flags = (*CFLAGS, *(f"-D{d}" for d in sorted(set(defines))))
    includes = [arg for d in dirs for arg in ("-I", str(d))]
    digest = hashlib.sha256(_compiler_id().encode() + "\0".join(flags).encode())
    digest.update(("\0programs:" + " ".join(p.stem for p in programs)).encode())
    for path in [p for d in dirs for p in sorted(d.glob("*.[ch]")) + sorted(d.glob("*.S"))] + runtime:
        digest.update(path.name.encode() + path.read_bytes())
    out = (cache or cache_root() / "guest") / digest.hexdigest()[:24]
    if not (out / ".complete").exists():
        # Built in a directory of this process's own, then renamed into place: workers building the same
        # set at once never write one file together (the loser of the rename drops its copy).
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        try:
            for source in programs:
                extra = sorted(str(p) for p in source.parent.glob(f"{source.stem}.*.S"))
                proc = subprocess.run(["gcc", *flags, *includes, "-o", str(staging / source.stem), str(source),
                                       *extra, *map(str, runtime)], capture_output=True, text=True)
                if proc.returncode != 0:
                    raise InfraError(f"guest program {source.name} does not compile:\n{proc.stderr[-3000:]}")
            (staging / ".complete").write_text("")
            if out.exists() and not (out / ".complete").exists():
                shutil.rmtree(out, ignore_errors=True)  # a half-built set of an older harness
            with contextlib.suppress(OSError):  # another process's set is already in place
                os.rename(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return {p.stem: out / p.stem for p in programs}


#: gcc options after which gcc does not link (the run-time library is then not added).
_NO_LINK = ("-c", "-S", "-E", "-M", "-MM")


def compile_command(gcc_args: Sequence[str], includes: Sequence[Path] = (), runtime: Sequence[Path] = ()) -> list[str]:
    """The gcc command line that builds the user's ``gcc_args`` as a static guest binary: ``-static``,
    ``-pthread``, ``-D_GNU_SOURCE`` and ``-I`` for each of ``includes`` first (the user's own options come
    after and win), and the ``runtime`` C files when gcc links."""
    links = not any(arg in _NO_LINK for arg in gcc_args)
    return ["gcc", "-static", "-pthread", "-D_GNU_SOURCE", *(f"-I{d}" for d in includes), *gcc_args,
            *(map(str, runtime) if links else ())]


def image_files(programs: dict[str, Path]) -> tuple[tuple[str, str], ...]:
    """``ClusterSpec.extra_files`` entries that put the programs in ``/opt/phc/bin``."""
    return tuple((str(path), f"{GUEST_BIN}/{name}") for name, path in sorted(programs.items()))
