"""Build a kernel: source (+ series) + base config + fragments -> a cached artifact directory.

``build_kernel`` is the whole pipeline: prepare a pristine tree, apply the series, configure
(base, fragments, workarounds, ``olddefconfig``), verify the configuration, make (niced, ccache,
``O=``), install the modules, and publish ``bzImage``, ``vmlinux``, ``System.map``, ``.config``,
``build.log``, ``modules/`` and ``manifest.json`` under ``artifacts/<key>``. The key hashes every input
(source identity, patches, base, fragments, workarounds, toolchain), so the same inputs return the
cached artifact at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from harness.errors import UsageError
from harness.kernel import cache, kconfig_deps
from harness.kernel.beneath import copy_beneath, copy_tree_beneath, read_beneath
from harness.kernel.build_user import build_user, run_as
from harness.kernel.config import (
    ConfigOptionsDropped,
    DroppedOption,
    Fragment,
    base_config_command,
    base_identity,
    find_dropped,
    load_fragment,
    parse_config_text,
    requested_options,
)
from harness.kernel.make import MakeRunner, MakeSettings
from harness.kernel.manifest import make_manifest, module_files, read_manifest, write_manifest
from harness.kernel.series import Series, load_series
from harness.kernel.source import PreparedSource, prepare_source
from harness.kernel.toolchain import (
    Toolchain,
    Workaround,
    detect_toolchain,
    kernel_version,
    matching_workarounds,
    missing_build_tools,
)
from harness.kernel.worktree import BUILD_DIR_PREFIX, patched_tree

#: Kernel image, relative to the build directory, for the architectures the builder knows.
BZIMAGE = {"x86_64": "arch/x86/boot/bzImage"}

#: Files copied from the build directory into the artifact, as (source, name in the artifact).
ARTIFACT_FILES = (("vmlinux", "vmlinux"), ("System.map", "System.map"), (".config", ".config"))


@dataclass
class KernelArtifact:
    """A built kernel in its artifact directory (see the module docstring for the layout)."""

    dir: Path
    bzimage: Path
    modules_dir: Path | None
    manifest: dict
    cache_hit: bool

    @property
    def vmlinux(self) -> Path:
        """The uncompressed kernel with its symbol table (for gdb and oops symbolization)."""
        return self.dir / "vmlinux"

    @property
    def config(self) -> Path:
        """The final ``.config``."""
        return self.dir / ".config"

    @property
    def log(self) -> Path:
        """The full build log."""
        return self.dir / "build.log"

    @classmethod
    def load(cls, directory: Path, cache_hit: bool) -> KernelArtifact:
        """Describe an existing artifact directory."""
        modules = directory / "modules"
        return cls(dir=directory, bzimage=directory / "bzImage", modules_dir=modules if modules.is_dir() else None,
                   manifest=read_manifest(directory), cache_hit=cache_hit)


@dataclass
class BuildPlan:
    """Everything decided before make runs: inputs, their identities and the cache key."""

    source: PreparedSource
    series: Series | None
    base: str
    fragments: list[Fragment]
    workarounds: list[Workaround]
    toolchain: Toolchain
    kernel_version: str
    arch: str = "x86_64"
    notes: list[str] = field(default_factory=list)

    @property
    def config_inputs(self) -> dict:
        """What determines the ``.config``."""
        return {"base": base_identity(self.base), "fragments": [f.as_manifest()["sha256"] for f in self.fragments],
                "workarounds": [w.as_manifest() for w in self.workarounds], "arch": self.arch}

    @property
    def config_key(self) -> str:
        """Key of the configuration alone (names the build directory inside a tree)."""
        return cache.key_of(self.config_inputs)

    @property
    def key(self) -> str:
        """The artifact's content key: every input that changes the result."""
        return cache.key_of({"recipe": cache.RECIPE_VERSION, "source": self.source.source_id,
                             "series": self.series.as_manifest() if self.series else None,
                             "config": self.config_inputs, "toolchain": self.toolchain.as_manifest()})

    def workaround_fragment(self) -> Fragment | None:
        """The applicable workarounds' config lines as one last fragment (``None`` when there are none)."""
        lines = [f"# {w.id}: {w.why}\n" + "".join(f"{line}\n" for line in w.config)
                 for w in self.workarounds if w.config]
        return Fragment(name="workarounds", text="".join(lines), origin="harness/kernel/workarounds.toml") if lines else None


def plan_build(source: str, ref: str | None = None, series: str | None = None, fragments: Sequence[str] = (),
               base: str = "tinyconfig", root: Path | None = None) -> BuildPlan:
    """Resolve every input (cheap after the first time: sources are cached) and compute the cache key."""
    missing = missing_build_tools()
    if missing:
        raise UsageError(f"missing build tools: {', '.join(missing)} (apt-get install build-essential flex bison "
                         "bc libelf-dev libssl-dev kmod cpio)")
    base_config_command(base)  # validates --base early
    loaded_fragments = [load_fragment(spec) for spec in fragments]
    loaded_series = load_series(series) if series else None
    toolchain = detect_toolchain()
    build_user()  # who will run make (a bad $POPCORN_HARNESS_BUILD_USER is refused before anything is made)
    prepared = prepare_source(source, ref, root)
    version = kernel_version(prepared.tree)
    workarounds = matching_workarounds(version, toolchain.compiler, toolchain.compiler_version)
    return BuildPlan(source=prepared, series=loaded_series, base=base, fragments=loaded_fragments,
                     workarounds=workarounds, toolchain=toolchain, kernel_version=version,
                     notes=list(prepared.notes))


def build_kernel(source: str, ref: str | None = None, series: str | None = None, fragments: Sequence[str] = (),
                 base: str = "tinyconfig", jobs: int | None = None, nice: int = 10, use_cache: bool = True,
                 out: Path | None = None, allow_dropped: bool = False,
                 console: Console | None = None) -> KernelArtifact:
    """Build (or fetch from the cache) the kernel these inputs describe and return its artifact.

    ``source`` is a kernel tree, a tarball, or a git repository path/URL (with ``ref``); ``series`` a
    quilt series name or path; ``fragments`` config fragment names or paths, layered in order on
    ``base``. ``use_cache=False`` rebuilds (incrementally, in the same build directory). ``out`` also
    copies the artifact there. Raises ``UsageError`` for bad inputs, dropped options and patches that
    do not apply, ``InfraError`` (``BuildFailed``) when make fails.
    """
    console = console or Console(stderr=True, soft_wrap=True)
    if out is not None:
        _check_out(Path(out))
    root = cache.cache_root()
    plan = plan_build(source, ref, series, fragments, base, root)
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    final = cache.artifact_dir(plan.key, root)
    if use_cache and cache.is_complete_artifact(final):
        return _deliver(KernelArtifact.load(final, cache_hit=True), out)
    with cache.exclusive_lock("build", root):
        if use_cache and cache.is_complete_artifact(final):  # built by whoever held the lock before us
            return _deliver(KernelArtifact.load(final, cache_hit=True), out)
        tree = patched_tree(plan.source.tree, plan.source.source_id, plan.series, root) if plan.series else plan.source.tree
        artifact = _build_in(plan, tree, final, jobs or os.cpu_count() or 1, nice, allow_dropped, console)
    return _deliver(artifact, out)


def build_directory(tree: Path, plan: BuildPlan) -> Path:
    """The ``O=`` directory for this configuration, inside ``tree`` so the kernel uses ``srctree=..``."""
    return tree / f"{BUILD_DIR_PREFIX}{plan.config_key}"


def beside(objtree: Path, suffix: str) -> Path:
    """A path of root's next to the build user's ``objtree`` (its log, its fragments): ``<objtree>.<suffix>``."""
    return objtree.with_name(f"{objtree.name}.{suffix}")


#: Where ``make modules_install`` puts the modules inside the build directory, before root copies them out.
MODULES_STAGING = "_harness-modules"


def make_runner(plan: BuildPlan, tree: Path, objtree: Path, jobs: int, nice: int, console: Console) -> MakeRunner:
    """A make runner for ``tree`` building into ``objtree`` (made and handed to the build user, see
    :mod:`harness.kernel.build_user`), logging to ``<objtree>.log``."""
    user = build_user()
    user.check_reachable(objtree.parent)
    objtree.mkdir(parents=True, exist_ok=True)
    user.give(objtree)
    home = cache.cache_root() / "build-home"
    home.mkdir(mode=0o700, exist_ok=True)
    user.give(home)
    env = {k: str(v) for w in plan.workarounds for k, v in w.env.items()}
    settings = MakeSettings(srctree=tree, objtree=objtree, log=beside(objtree, "log"), jobs=jobs, nice=nice,
                            ccache=plan.toolchain.ccache, env=env, arch=plan.arch, user=user, home=home)
    return MakeRunner(settings, console)


def read_config(objtree: Path) -> dict:
    """The build directory's ``.config`` as options (read without following a link)."""
    return parse_config_text(read_beneath(objtree, ".config").decode(errors="replace"))


def configure(plan: BuildPlan, runner: MakeRunner, allow_dropped: bool, console: Console) -> list[DroppedOption]:
    """Make ``.config`` (base, fragments, workarounds, olddefconfig) and verify it against the requests.

    An unchanged result keeps the old ``.config``'s timestamp, so a rebuild with the same inputs is a
    no-op for make. Raises :class:`ConfigOptionsDropped` unless ``allow_dropped``.
    """
    objtree = runner.settings.objtree
    config = objtree / ".config"
    previous = read_beneath(objtree, ".config") if os.path.lexists(config) else None
    previous_times = (os.lstat(config).st_atime_ns, os.lstat(config).st_mtime_ns) if previous is not None else None
    fragment_dir = beside(objtree, "fragments")
    shutil.rmtree(fragment_dir, ignore_errors=True)
    fragment_dir.mkdir(mode=0o755)
    if Path(plan.base).is_file():
        base_copy = fragment_dir / "base.config"
        shutil.copyfile(plan.base, base_copy)
        base_copy.chmod(0o644)
        runner.stream(["cp", "--", str(base_copy), str(config)], "copying the base config")
    runner.run(base_config_command(plan.base), f"configuring ({Path(plan.base).name})")
    layers = [*plan.fragments, *filter(None, [plan.workaround_fragment()])]
    paths = []
    for index, fragment in enumerate(layers):
        path = fragment_dir / f"{index:02d}-{fragment.name}.config"
        path.write_text(fragment.text)
        path.chmod(0o644)
        paths.append(str(path))
    if paths:
        merge = [str(runner.settings.srctree / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(objtree),
                 str(config), *paths]
        runner.stream(merge, "merging config fragments")
    runner.run(["olddefconfig"], "resolving the configuration (olddefconfig)")
    if previous is not None and read_beneath(objtree, ".config") == previous:
        os.utime(config, ns=previous_times, follow_symlinks=False)
    final = read_config(objtree)
    dropped = find_dropped(requested_options(layers), final)
    dropped = [kconfig_deps.with_reason(runner.settings.srctree, final, d) for d in dropped]
    if dropped:
        console.print(f"[yellow]Kconfig dropped {len(dropped)} requested option(s):[/yellow]", highlight=False)
        for entry in dropped:
            console.print(f"  {entry.line()}", highlight=False, markup=False)
        if not allow_dropped:
            raise ConfigOptionsDropped(dropped)
    return dropped


def compile_kernel(runner: MakeRunner, modules: bool) -> None:
    """Build the kernel image and, when enabled, the modules."""
    runner.run(["bzImage", *(["modules"] if modules else [])], "compiling")


def _build_in(plan: BuildPlan, tree: Path, final: Path, jobs: int, nice: int, allow_dropped: bool,
              console: Console) -> KernelArtifact:
    started = time.monotonic()
    objtree = build_directory(tree, plan)
    runner = make_runner(plan, tree, objtree, jobs, nice, console)
    runner.settings.log.write_text("")
    dropped = configure(plan, runner, allow_dropped, console)
    modules_enabled = read_config(objtree).get("CONFIG_MODULES") == "y"
    compile_kernel(runner, modules_enabled)
    staging = Path(tempfile.mkdtemp(prefix=f".{plan.key}-", dir=final.parent if final.parent.exists() else _mkdir(final.parent)))
    staging.chmod(0o755)
    try:
        modules_dir = install_modules(runner, staging) if modules_enabled else None
        copy_beneath(objtree, BZIMAGE[plan.arch], staging / "bzImage")
        for name, dest in ARTIFACT_FILES:
            copy_beneath(objtree, name, staging / dest)
        release = read_beneath(objtree, "include/config/kernel.release").decode(errors="replace").strip()
        manifest = make_manifest(
            key=plan.key, kernel_release=release, kernel_version=plan.kernel_version,
            source=plan.source.description, series=plan.series.as_manifest() if plan.series else None,
            base=base_identity(plan.base), fragments=[f.as_manifest() for f in plan.fragments],
            workarounds=[w.as_manifest() for w in plan.workarounds], toolchain=plan.toolchain.as_manifest(),
            elapsed_s=time.monotonic() - started, files_compiled=runner.files_compiled,
            dropped=[d.line() for d in dropped], modules=module_files(modules_dir), notes=plan.notes)
        shutil.copyfile(runner.settings.log, staging / "build.log")
        write_manifest(staging, manifest)
        cache.publish_artifact(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return KernelArtifact.load(final, cache_hit=False)


def install_modules(runner: MakeRunner, staging: Path) -> Path | None:
    """``make modules_install`` (as the build user, into the build directory), then copy the modules to
    ``staging/modules`` (files and directories only: the ``build`` and ``source`` links into the build
    directory are not part of an artifact); ``None`` and no directory when no module was built."""
    objtree = runner.settings.objtree
    run_as(runner.settings.user, ["rm", "-rf", "--", str(objtree / MODULES_STAGING)], "clearing the modules staging")
    runner.run(["modules_install"], "installing modules",
               variables={"INSTALL_MOD_PATH": str(objtree / MODULES_STAGING), "INSTALL_MOD_STRIP": "1"})
    modules = staging / "modules"
    copy_tree_beneath(objtree, MODULES_STAGING, modules)
    if not module_files(modules):
        shutil.rmtree(modules, ignore_errors=True)
        return None
    return modules


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


#: What an artifact directory the builder made holds; ``--out`` replaces only a directory of these.
ARTIFACT_ENTRIES = frozenset({"bzImage", "build.log", "modules", "manifest.json", *(dest for _, dest in ARTIFACT_FILES)})


def is_artifact_dir(path: Path) -> bool:
    """True if ``path`` is a directory the builder made: a readable manifest with the builder's key and
    release, and nothing but artifact files beside it (not merely any directory holding a manifest.json)."""
    try:
        manifest = read_manifest(path)
        names = {entry.name for entry in path.iterdir()}
    except (OSError, ValueError):
        return False
    return (isinstance(manifest, dict) and isinstance(manifest.get("key"), str)
            and isinstance(manifest.get("kernel_release"), str) and not path.is_symlink()
            and names <= ARTIFACT_ENTRIES)


def _check_out(out: Path) -> None:
    """``--out`` must be new, empty, or an earlier artifact directory (which is then replaced)."""
    if out.is_symlink() or (out.exists() and (not out.is_dir() or (any(out.iterdir()) and not is_artifact_dir(out)))):
        raise UsageError(f"--out {out} exists and is not a kernel artifact directory: refusing to replace it")


def _deliver(artifact: KernelArtifact, out: Path | None) -> KernelArtifact:
    """Copy the artifact to ``out`` when asked (the cached copy stays)."""
    if out is None:
        return artifact
    out = Path(out)
    _check_out(out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(artifact.dir, out, symlinks=True, dirs_exist_ok=True)
    return KernelArtifact.load(out, cache_hit=artifact.cache_hit)
