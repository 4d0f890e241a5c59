"""A stock Debian kernel (``linux-image-amd64``) as a bootable artifact dir, cached.

Downloads the package Debian's ``linux-image-amd64`` points to with ``apt-get download``, unpacks it with
``dpkg-deb -x`` and lays it out like a build artifact: ``bzImage``, ``System.map``, ``.config``,
``modules/lib/modules/<release>/`` (with ``modules.dep`` made by ``depmod``) and ``manifest.json``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.errors import InfraError, UsageError
from harness.paths import cache_root

METAPACKAGE = "linux-image-amd64"


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    if shutil.which(cmd[0]) is None:
        raise UsageError(f"{cmd[0]} not found: the stock kernel needs Debian's apt and dpkg")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InfraError(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


def resolve_package(metapackage: str = METAPACKAGE) -> str:
    """Name of the real kernel package the metapackage depends on (e.g. linux-image-6.1.0-56-amd64)."""
    out = _run(["apt-cache", "depends", metapackage])
    match = re.search(r"Depends: (linux-image-[\w.+-]+)", out)
    if not match:
        raise InfraError(f"cannot resolve {metapackage} (run apt-get update?)")
    return match.group(1)


def stock_kernel(package: str | None = None, root: Path | None = None) -> Path:
    """Return the artifact dir of a stock Debian kernel, downloading and unpacking it once."""
    package = package or resolve_package()
    target = (root or cache_root() / "stock") / package
    if (target / "manifest.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpack-") as tmp:
        tmp_path = Path(tmp)
        _run(["apt-get", "download", package], cwd=tmp_path)
        deb = next(tmp_path.glob("*.deb"))
        unpacked = tmp_path / "root"
        _run(["dpkg-deb", "-x", str(deb), str(unpacked)])
        out = tmp_path / "artifact"
        out.mkdir()
        release = package.removeprefix("linux-image-")
        shutil.move(unpacked / "boot" / f"vmlinuz-{release}", out / "bzImage")
        shutil.move(unpacked / "boot" / f"System.map-{release}", out / "System.map")
        shutil.move(unpacked / "boot" / f"config-{release}", out / ".config")
        (out / "modules" / "lib").mkdir(parents=True)
        shutil.move(unpacked / "lib" / "modules", out / "modules" / "lib" / "modules")
        _run(["depmod", "-b", str(out / "modules"), release])
        manifest = {"kind": "debian-stock", "package": package, "deb": deb.name, "release": release}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target
