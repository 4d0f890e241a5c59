"""The guest image: a hermetic initramfs built from ``images/guest.toml`` and cached by content hash.

The image is two cpio archives, concatenated (the kernel unpacks both):

* the **base**: static busybox, dropbear with its shared libraries, the rendered init and config
  templates, and the kernel modules the guest needs. It depends only on its inputs, so it is cached
  under ``<cache>/images/<sha256>.cpio`` and built once.
* the **overlay**: this run's host key, the client's public key, and the caller's extra files (test
  binaries, ``.ko`` files). Small, built per run.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from harness.assets import IMAGES_DIR
from harness.errors import UsageError
from harness.vm.cpio import CpioArchive
from harness.paths import cache_root

RECIPE = IMAGES_DIR / "guest.toml"
#: Kernel command-line parameters the init script reads, e.g. ``phc.name=node0``.
PARAM_PREFIX = "phc."
_LDD_LINE = re.compile(r"(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)")


@dataclass(frozen=True)
class Recipe:
    """The parsed ``guest.toml``."""

    binaries: dict[str, str]
    templates: dict[str, tuple[str, int]]
    directories: dict[str, int]
    load_modules: tuple[str, ...]
    ready_marker: str
    path: Path = RECIPE

    @classmethod
    def load(cls, path: Path = RECIPE) -> "Recipe":
        """Read a recipe file."""
        data = tomllib.loads(path.read_text())
        return cls(
            binaries=dict(data.get("binaries", {})),
            templates={k: (v[0], v[1]) for k, v in data.get("templates", {}).items()},
            directories=dict(data.get("directories", {})),
            load_modules=tuple(data.get("modules", {}).get("load", ())),
            ready_marker=data["guest"]["ready_marker"],
            path=path,
        )


@dataclass
class ModuleSet:
    """Kernel modules to put in the image: ``files`` (flat names) and the boot ``load_order``."""

    files: dict[str, Path] = field(default_factory=dict)  # "virtio_net.ko" -> host path
    load_order: list[str] = field(default_factory=list)


def _norm(name: str) -> str:
    return name.removesuffix(".ko").replace("-", "_")


def resolve_modules(modules_root: Path | None, names: tuple[str, ...] | list[str]) -> ModuleSet:
    """Resolve module names with their dependencies (from ``modules.dep``) into a load order.

    Modules built into the kernel (``modules.builtin``) and names the kernel does not have at all are
    skipped: the same recipe serves a modular distribution kernel and a built-in tinyconfig one.
    """
    result = ModuleSet()
    if modules_root is None or not (modules_root / "modules.dep").is_file():
        return result
    deps: dict[str, tuple[str, list[str]]] = {}
    for line in (modules_root / "modules.dep").read_text().splitlines():
        if ":" not in line:
            continue
        path, _, rest = line.partition(":")
        deps[_norm(Path(path).name)] = (path, rest.split())
    for name in names:
        entry = deps.get(_norm(name))
        if entry is None:
            continue
        path, dep_paths = entry
        # modprobe loads the dependency list from its end: the last one has no dependencies left.
        for rel in [*reversed(dep_paths), path]:
            flat = Path(rel).name
            if flat not in result.files:
                result.files[flat] = modules_root / rel
                result.load_order.append(flat)
    return result


def _shared_libraries(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if out.returncode != 0 or "not a dynamic executable" in out.stdout + out.stderr:
        return []
    return [Path(m.group(1)) for m in map(_LDD_LINE.search, out.stdout.splitlines()) if m]


def find_binary(name: str) -> Path:
    """Locate a host binary the image needs; ``UsageError`` with the package hint if missing."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise UsageError(f"{name} not found on this machine (install it: see README, setup)")
    return Path(found)


def render_template(template: str, **context) -> str:
    """Render a jinja2 template from ``images/templates/``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(IMAGES_DIR / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    return env.get_template(template).render(**context)


def build_base(recipe: Recipe, modules: ModuleSet) -> CpioArchive:
    """Assemble the base archive (not yet written)."""
    archive = CpioArchive()
    for path, mode in recipe.directories.items():
        archive.add_dir(path, mode)
    archive.add_chardev("/dev/console", 5, 1)
    archive.add_chardev("/dev/null", 1, 3, 0o666)
    for guest_path, host_name in recipe.binaries.items():
        host = find_binary(host_name)
        archive.add_file(guest_path, host.read_bytes(), 0o755)
        for lib in _shared_libraries(host):
            archive.add_file(str(lib), lib.resolve().read_bytes(), 0o755)
    busybox = find_binary(recipe.binaries.get("/bin/busybox", "busybox"))
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        for directory in ("/bin", "/sbin", "/usr/bin", "/usr/sbin"):
            if f"{directory}/{applet}" not in archive:
                archive.add_symlink(f"{directory}/{applet}", "/bin/busybox")
    context = {"param_prefix": PARAM_PREFIX, "ready_marker": recipe.ready_marker}
    for guest_path, (template, mode) in recipe.templates.items():
        archive.add_file(guest_path, render_template(template, **context).encode(), mode)
    archive.add_dir("/lib/modules")
    for flat, host in modules.files.items():
        archive.add_file(f"/lib/modules/{flat}", host.read_bytes(), 0o644)
    archive.add_file("/etc/harness/modules.load", "".join(f"{m}\n" for m in modules.load_order).encode())
    return archive


def base_image(recipe: Recipe, modules: ModuleSet, cache: Path | None = None) -> Path:
    """Return the cached base archive for these inputs, building it on a miss."""
    digest = hashlib.sha256()
    digest.update(recipe.path.read_bytes())
    for template in sorted((IMAGES_DIR / "templates").glob("*")):
        digest.update(template.name.encode() + template.read_bytes())
    for name in sorted(recipe.binaries.values()):
        host = find_binary(name)
        digest.update(host.read_bytes())
        for lib in _shared_libraries(host):
            digest.update(str(lib).encode() + lib.resolve().read_bytes())
    for flat in modules.load_order:
        digest.update(flat.encode() + modules.files[flat].read_bytes())
    target = (cache or cache_root() / "images") / f"{digest.hexdigest()[:32]}.cpio"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(build_base(recipe, modules).to_bytes())
        tmp.replace(target)
    return target


def build_overlay(host_key: Path, client_public: str, extra_files: list[tuple[Path, str]],
                  extra_modules: dict[str, Path]) -> bytes:
    """The per-run archive: keys, extra files (keeping their exec bit) and extra modules."""
    archive = CpioArchive()
    archive.add_file("/etc/dropbear/host_key", host_key.read_bytes(), 0o600)
    archive.add_file("/root/.ssh/authorized_keys", (client_public + "\n").encode(), 0o600)
    archive.add_dir("/root", 0o700)
    archive.add_dir("/root/.ssh", 0o700)
    archive.add_dir("/etc/dropbear", 0o700)
    for host, guest in extra_files:
        mode = 0o755 if os.access(host, os.X_OK) else 0o644
        archive.add_file(guest, host.read_bytes(), mode)
    for flat, host in extra_modules.items():
        archive.add_file(f"/lib/modules/{flat}", host.read_bytes(), 0o644)
    return archive.to_bytes()


def assemble_initrd(base: Path, overlay: bytes, target: Path) -> Path:
    """Write base + overlay as one initrd file for ``-initrd``."""
    with target.open("wb") as out, base.open("rb") as src:
        shutil.copyfileobj(src, out)
        out.write(overlay)
    return target
