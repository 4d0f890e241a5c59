"""Kernel configuration: a base config plus layered fragments, then a check of what Kconfig kept.

The recipe is the kernel's own: ``make <base>`` (``tinyconfig``, ``defconfig``, or a given config file +
``olddefconfig``), ``scripts/kconfig/merge_config.sh -m`` with every fragment in order, then ``make
olddefconfig``. Kconfig silently drops what it cannot honour (an unmet ``depends on``, an option that
does not exist, a ``select`` that forces a value), so :func:`verify_config` compares every option the
fragments asked for with the final ``.config`` and :mod:`harness.kernel.kconfig_deps` says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.kernel.cache import sha256_bytes
from harness.assets import PATCHES_DIR

#: Directory of the shipped fragments; ``--fragment NAME`` means ``CONFIGS_DIR/NAME.config``.
CONFIGS_DIR = PATCHES_DIR / "configs"

#: Base configurations made by a make target; anything else must be a config file.
BASE_TARGETS = ("tinyconfig", "defconfig", "allnoconfig", "allmodconfig")

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


@dataclass(frozen=True)
class Fragment:
    """A config fragment: its name, text and the options it asks for."""

    name: str
    text: str
    origin: str

    @property
    def options(self) -> dict[str, str]:
        """The options this fragment sets (``"n"`` for ``# CONFIG_X is not set``)."""
        return parse_config_text(self.text)

    def as_manifest(self) -> dict:
        """The fragment as recorded in ``manifest.json`` and cache keys."""
        return {"name": self.name, "origin": self.origin, "sha256": sha256_bytes(self.text.encode())}


@dataclass(frozen=True)
class DroppedOption:
    """An option a fragment asked for that the final ``.config`` does not have."""

    option: str
    asked: str
    got: str
    fragment: str
    reason: str = ""

    def line(self) -> str:
        """One human line: ``CONFIG_X: asked y (frag), got n: reason``."""
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.option}: asked {self.asked} ({self.fragment}), got {self.got}{reason}"


class ConfigOptionsDropped(UsageError):
    """Kconfig dropped options a fragment asked for; ``.dropped`` lists them with the reasons."""

    def __init__(self, dropped: list[DroppedOption]) -> None:
        self.dropped = dropped
        super().__init__(f"Kconfig dropped {len(dropped)} option(s) the fragments asked for: "
                         + "; ".join(d.line() for d in dropped))


def parse_config_text(text: str) -> dict[str, str]:
    """Parse ``.config``/fragment text into ``{CONFIG_X: value}``; ``# CONFIG_X is not set`` gives ``"n"``."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if match := _SET.match(line):
            values[match.group(1)] = match.group(2)
        elif match := _UNSET.match(line):
            values[match.group(1)] = "n"
    return values


def load_fragment(spec: str) -> Fragment:
    """Load ``--fragment``: a path to a file, or a NAME meaning ``kernel-patches/configs/NAME.config``."""
    path = Path(spec)
    if not path.is_file():
        named = CONFIGS_DIR / f"{spec}.config"
        if not named.is_file():
            known = ", ".join(sorted(p.stem for p in CONFIGS_DIR.glob("*.config")))
            raise UsageError(f"no config fragment {spec!r} (not a file; shipped fragments: {known})")
        path = named
    text = path.read_text()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#") and not _SET.match(line):
            raise UsageError(f"{path}:{number}: not a config line: {line!r}")
    return Fragment(name=path.stem, text=text, origin=str(path.resolve()))


def requested_options(fragments: list[Fragment]) -> dict[str, tuple[str, str]]:
    """Merge the fragments' requests in order (later wins): ``{CONFIG_X: (value, fragment name)}``."""
    merged: dict[str, tuple[str, str]] = {}
    for fragment in fragments:
        for option, value in fragment.options.items():
            merged[option] = (value, fragment.name)
    return merged


def find_dropped(requested: dict[str, tuple[str, str]], final: dict[str, str]) -> list[DroppedOption]:
    """Compare requests with the final config; an absent option counts as ``n`` (Kconfig hid it)."""
    dropped = []
    for option, (asked, fragment) in requested.items():
        got = final.get(option, "n")
        if got != asked:
            dropped.append(DroppedOption(option=option, asked=asked, got=got if option in final else "n (absent)",
                                         fragment=fragment))
    return dropped


def base_config_command(base: str) -> list[str]:
    """The make goals that produce the base ``.config`` (a config file is copied in by the caller)."""
    if base in BASE_TARGETS:
        return [base]
    if not Path(base).is_file():
        raise UsageError(f"--base {base!r} is neither one of {', '.join(BASE_TARGETS)} nor a config file")
    return ["olddefconfig"]


def base_identity(base: str) -> dict:
    """How the base enters cache keys: the target name, or the config file's content hash."""
    if base in BASE_TARGETS:
        return {"target": base}
    return {"file": str(Path(base).resolve()), "sha256": sha256_bytes(Path(base).read_bytes())}
