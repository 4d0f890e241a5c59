"""Running the kernel's make: niced, logged to a file, with a rich progress line and error excerpts.

Every run appends its full output to the build log; the terminal only sees the phase, how many files
were compiled, and, when make fails, the first error lines of the log instead of a wall of output.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from harness.errors import InfraError
from harness.kernel.build_user import BuildUser
from harness.processes import end_group

#: Kbuild's quiet-mode lines that mean "one more file done", e.g. ``  CC      kernel/fork.o``.
STEP_LINE = re.compile(r"^\s{2}(CC|CC \[M\]|AS|AS \[M\]|HOSTCC|LD|LD \[M\]|AR|OBJCOPY|GEN|LDS)\s+(\S+)")

#: Log lines that mark an error, most specific first; the excerpt quotes the first of them.
ERROR_LINE = re.compile(r"(error:|fatal error|undefined reference|No rule to make target|^ERROR:|\*\*\* |Error \d+)")

#: How many error lines the excerpt shows.
EXCERPT_LINES = 12


@dataclass
class MakeSettings:
    """How make is run: where, as whom, with how many jobs, at what niceness, with which compiler and
    environment. ``home`` is the build user's ``HOME`` (its ccache lives there); ``log`` must be outside
    ``objtree``, which the build user controls."""

    srctree: Path
    objtree: Path
    log: Path
    jobs: int = os.cpu_count() or 1
    nice: int = 10
    cc: str = "gcc"
    ccache: str | None = None
    env: dict = field(default_factory=dict)
    arch: str = "x86_64"
    user: BuildUser = field(default_factory=BuildUser.current)
    home: Path | None = None

    def command(self, goals: list[str], variables: dict | None = None) -> list[str]:
        """The full make command line (under ``nice``) for these goals."""
        cc = f"{self.ccache} {self.cc}" if self.ccache else self.cc
        cmd = ["nice", "-n", str(self.nice), "make", "-C", str(self.srctree), f"O={self.objtree}",
               f"-j{self.jobs}", f"ARCH={self.arch}", f"CC={cc}"]
        cmd += [f"{k}={v}" for k, v in (variables or {}).items()]
        return cmd + goals

    def environment(self) -> dict:
        """make's environment: ours, the workarounds' variables, reproducible build identity, ccache settings."""
        env = {**os.environ, "KBUILD_BUILD_USER": "popcorn-harness", "KBUILD_BUILD_HOST": "harness",
               "CCACHE_NOHASHDIR": "1", **self.env}
        env.pop("MAKEFLAGS", None)
        if self.home is not None:
            env |= {"HOME": str(self.home), "CCACHE_DIR": str(self.home / "ccache")}
        return env


class BuildFailed(InfraError):
    """make failed; the message has the phase, the first error line and the log's path."""

    def __init__(self, phase: str, excerpt: list[str], log: Path) -> None:
        self.phase = phase
        self.excerpt = excerpt
        self.log = log
        first = excerpt[0].strip() if excerpt else "no error line found"
        super().__init__(f"kernel build failed while {phase}: {first} (full log: {log})")


def error_excerpt(lines: list[str], limit: int = EXCERPT_LINES) -> list[str]:
    """The first ``limit`` error lines of a make log (falling back to its last lines when none match)."""
    hits = [line.rstrip() for line in lines if ERROR_LINE.search(line) and "Waiting for unfinished jobs" not in line]
    return hits[:limit] if hits else [line.rstrip() for line in lines[-limit:]]


class MakeRunner:
    """Runs make goals for one build, counting compiled files and logging everything."""

    def __init__(self, settings: MakeSettings, console: Console | None = None) -> None:
        self.settings = settings
        self.console = console or Console(stderr=True)
        self.files_compiled = 0

    def run(self, goals: list[str], phase: str, variables: dict | None = None) -> None:
        """Run make for ``goals``; raise :class:`BuildFailed` with an excerpt when it fails."""
        self.stream(self.settings.command(goals, variables), phase)

    def stream(self, cmd: list[str], phase: str) -> None:
        """Run any build command (make, merge_config.sh) logged and with progress, like :meth:`run`."""
        settings = self.settings
        settings.log.parent.mkdir(parents=True, exist_ok=True)
        if not self.console.is_terminal:
            self.console.print(f"[kernel] {phase}", highlight=False, markup=False)
        with open(settings.log, "a", buffering=1) as log, Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[count]} files"),
            TextColumn("[dim]{task.fields[last]}"), TimeElapsedColumn(), console=self.console, transient=True,
            disable=not self.console.is_terminal,
        ) as progress:
            task = progress.add_task(phase, count=self.files_compiled, last="")
            log.write(f"\n### {phase}: {' '.join(cmd)}\n")
            log.flush()
            started = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace", env=settings.environment(), cwd=settings.objtree,
                                    **settings.user.popen_options())
            output: list[str] = []
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    log.write(line)
                    output.append(line)
                    if match := STEP_LINE.match(line):
                        self.files_compiled += match.group(1).startswith(("CC", "AS", "HOSTCC"))
                        progress.update(task, count=self.files_compiled, last=match.group(2)[-60:])
                code = proc.wait()
            finally:
                end_group(proc)
            log.write(f"### {phase}: exit {code} after {time.monotonic() - started:.1f}s\n")
        if code == 0 and self.console.is_terminal:
            self.console.print(f"[green]done[/green] {phase} ({time.monotonic() - started:.0f}s, "
                               f"{self.files_compiled} files compiled so far)", highlight=False)
        if code != 0:
            excerpt = error_excerpt(output)
            self.console.print(f"[red]kernel build failed while {phase}[/red]; first error lines "
                               f"(full log: {settings.log}):", highlight=False)
            for line in excerpt:
                self.console.print(f"  {line}", highlight=False, markup=False)
            raise BuildFailed(phase, excerpt, settings.log)
