"""Bisectability: apply a series one patch at a time, build incrementally after each, optionally check
each built kernel with a boot check the caller hands in (the CLI boots it on a 1-node cluster:
``harness.cluster.boot_check``; the kernel layer boots nothing itself).

The work happens in a fresh hard-linked copy of the pristine tree (``trees/bisect-<id>``) with its own
build directory; because build directories sit inside their tree (``srctree=..``), ccache serves the
base build from any earlier build of the same configuration.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from harness.errors import HarnessError
from harness.kernel import cache
from harness.kernel.beneath import copy_beneath
from harness.kernel.build import (
    BZIMAGE,
    BuildPlan,
    build_directory,
    compile_kernel,
    configure,
    install_modules,
    make_runner,
    plan_build,
    read_config,
)
from harness.kernel.make import BuildFailed, MakeRunner
from harness.kernel.series import PatchDoesNotApply, apply_patch, load_series
from harness.kernel.worktree import linked_copy

#: Name of the step that builds the tree before any patch.
BASE_STEP = "(base tree)"

#: A boot check: given a staged kernel directory, (booted?, error).
BootCheck = Callable[[Path], "tuple[bool, str]"]


@dataclass
class BisectStep:
    """One row of the report: a patch (or the base tree), whether it built and booted, and why not."""

    index: int
    name: str
    builds: bool | None = None
    boots: bool | None = None
    error: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the step built and (if a boot was tried) booted."""
        return bool(self.builds) and self.boots is not False


@dataclass
class BisectReport:
    """The result of a bisect-build: the series name and one step per patch tried."""

    series_name: str
    steps: list[BisectStep] = field(default_factory=list)

    @property
    def first_failure(self) -> BisectStep | None:
        """The first step that did not build or did not boot."""
        return next((step for step in self.steps if not step.ok), None)


def bisect_build(source: str, series: str, ref: str | None = None, fragments: Sequence[str] = (),
                 base: str = "tinyconfig", jobs: int | None = None, nice: int = 10,
                 boot_check: BootCheck | None = None, keep_going: bool = False,
                 console: Console | None = None) -> BisectReport:
    """Build the base tree, then each patch of ``series`` on top of the previous ones; return the table.

    With ``boot_check``, each kernel that built is staged (``bzImage`` + ``modules/``) and handed to it.
    Stops at the first patch that does not apply, does not build or does not boot, unless
    ``keep_going`` (a patch that does not apply always stops it).
    """
    console = console or Console(stderr=True, soft_wrap=True)
    root = cache.cache_root()
    plan = plan_build(source, ref, None, fragments, base, root)
    loaded = load_series(series)
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    tree = root / "trees" / f"bisect-{cache.key_of({'source': plan.source.source_id, 'series': loaded.as_manifest()})}"
    report = BisectReport(series_name=loaded.name)
    total = len(loaded.patches)
    with cache.exclusive_lock("build", root):
        if tree.exists():
            shutil.rmtree(tree)
        linked_copy(plan.source.tree, tree)
        objtree = build_directory(tree, plan)
        runner = make_runner(plan, tree, objtree, jobs or os.cpu_count() or 1, nice, console)
        base_step = _build_step(BisectStep(0, BASE_STEP), plan, runner, boot_check, console)
        report.steps.append(base_step)
        if not base_step.ok:
            return report
        for index, patch in enumerate(loaded.patches, start=1):
            step = BisectStep(index, patch.name)
            try:
                apply_patch(tree, patch, index, total)
            except PatchDoesNotApply as exc:
                step.builds, step.error = False, str(exc)
                report.steps.append(step)
                _say(console, step, total)
                break
            report.steps.append(_build_step(step, plan, runner, boot_check, console, total))
            if not step.ok and not keep_going:
                break
    return report


def _build_step(step: BisectStep, plan: BuildPlan, runner: MakeRunner, boot_check: BootCheck | None, console: Console,
                total: int = 0) -> BisectStep:
    started = time.monotonic()
    try:
        configure(plan, runner, allow_dropped=False, console=console)
        modules = read_config(runner.settings.objtree).get("CONFIG_MODULES") == "y"
        compile_kernel(runner, modules)
        step.builds = True
    except BuildFailed as exc:
        step.builds, step.error = False, exc.excerpt[0].strip() if exc.excerpt else str(exc)
    except HarnessError as exc:
        step.builds, step.error = False, str(exc)
    if step.builds and boot_check is not None:
        step.boots, step.error = boot_check(_stage_kernel(runner, step, modules))
    step.elapsed_s = time.monotonic() - started
    _say(console, step, total)
    return step


def _stage_kernel(runner: MakeRunner, step: BisectStep, modules: bool) -> Path:
    """Lay out a minimal artifact (``bzImage`` + ``modules/``) for booting this step's kernel."""
    objtree = runner.settings.objtree
    staged = objtree.parent / "_bisect-boot" / f"{step.index:03d}"
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    copy_beneath(objtree, BZIMAGE[runner.settings.arch], staged / "bzImage")
    if modules:
        install_modules(runner, staged)
    return staged


def _say(console: Console, step: BisectStep, total: int) -> None:
    what = "built" if step.builds else "FAILED"
    booted = {True: ", booted", False: ", did NOT boot", None: ""}[step.boots]
    where = f"patch {step.index}/{total} {step.name}" if step.index else step.name
    console.print(f"[kernel] {where}: {what}{booted} ({step.elapsed_s:.0f}s){': ' + step.error if step.error else ''}",
                  highlight=False, markup=False)
