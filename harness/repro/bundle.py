"""Reproduction bundles: what a failed test leaves behind so that one command can replay it.

A bundle is a directory of plain files, written by the pytest plugin to ``<artifacts>/<test id>/bundle/``::

    bundle.json          format; test: pytest node id, rootdir, outcome, failure message; repo: checkout path,
                         commit, dirty; spec: the ClusterSpec as a dict; kernel: path, bzImage, vmlinux, release,
                         version and the artifact's manifest.json (or null); popcorn: was the mesh up, ABI
                         profile; seed (int or null); faults (the fault schedule: a list of dicts); findings
                         (dicts with at least "title" and "node"); title (what a replay must hit); commands:
                         per node, every command the test ran (start time, command, timeout, exit code);
                         consoles: per node, its console file; programs: guest path -> copy in programs/
    README               one paragraph: what failed and how to replay it
    node<i>.console.log  each node's console when the test ended
    programs/<name>      the guest programs (static binaries) the test's commands ran

Findings, seed and faults are optional. A finding is any dict with "title" and "node", an object with
``to_dict()`` (the crash parser's ``Finding``) or another dataclass.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.assets import checkout
from harness.errors import UsageError
from harness.guest.programs import GUEST_BIN
from harness.cluster.spec import ClusterSpec

FORMAT = 1
BUNDLE_JSON = "bundle.json"
README = "README"
PROGRAMS = "programs"
REPO = checkout() or Path.cwd()
#: The longest recorded command a replay runs (seconds).
MAX_COMMAND_TIMEOUT = 3600.0
#: The file name of a guest program (in ``GUEST_BIN`` and in a bundle's ``programs/``).
_NAME = r"[\w.+-]+"
_PROGRAM = re.compile(re.escape(GUEST_BIN) + rf"/({_NAME})")


def finding_dict(finding) -> dict:
    """A finding as plain data with at least ``title`` and ``node``."""
    if isinstance(finding, dict):
        data = dict(finding)
    elif hasattr(finding, "to_dict"):
        data = dict(finding.to_dict())
    elif dataclasses.is_dataclass(finding):
        data = dataclasses.asdict(finding)
    else:
        raise TypeError(f"not a finding: {finding!r}")
    if not isinstance(data.get("title"), str) or not data["title"]:
        raise ValueError(f"a finding needs a title: {data!r}"[:200])
    data["node"] = str(data.get("node") or "")
    return data


@functools.lru_cache(maxsize=4)
def repo_state(repo: Path = REPO) -> dict:
    """The checkout's path, HEAD commit and whether tracked files differ from it ("" and False outside git)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                                  timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"path": str(repo), "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


@dataclass
class Bundle:
    """A failed test, as plain data; ``directory`` is where it was read from or written to."""

    nodeid: str
    spec: dict
    kernel: dict
    commands: dict[str, list[dict]] = field(default_factory=dict)
    findings: list[dict] = field(default_factory=list)
    outcome: str = "failed"
    message: str = ""
    rootdir: str = ""
    seed: int | None = None
    faults: list[dict] = field(default_factory=list)
    popcorn: dict = field(default_factory=dict)
    repo: dict = field(default_factory=dict)
    consoles: dict[str, str] = field(default_factory=dict)
    programs: dict[str, str] = field(default_factory=dict)
    created: str = ""
    directory: Path | None = field(default=None, compare=False)

    @property
    def title(self) -> str:
        """What a replay must hit: the first finding's title, else the failure message's first line."""
        if self.findings:
            return self.findings[0]["title"]
        lines = self.message.strip().splitlines()
        return lines[0] if lines else ""

    def cluster_spec(self) -> ClusterSpec:
        """The recorded cluster spec."""
        return ClusterSpec.from_dict(self.spec)

    def command_log(self) -> list[dict]:
        """Every node's commands in the order they started, each with its ``node``."""
        merged = [dict(entry, node=node) for node, entries in self.commands.items() for entry in entries]
        return sorted(merged, key=lambda entry: entry.get("at") or 0)

    def replay_spec(self, kernel: str = "", gdb: bool | None = None,
                    rebuild: Callable[[str], str] | None = None) -> ClusterSpec:
        """The spec for a fresh cluster: ``kernel`` (if given) replaces the recorded one; each guest file
        comes from the bundle's copy (``copied_program``), else ``rebuild(program name)`` (today's build of
        that guest program, a host path or ""); the recorded host paths are never read (a bundle could
        name any host file), and a file found nowhere is left out."""
        spec = self.cluster_spec()
        files = []
        for _, guest in spec.extra_files:
            copy = self.copied_program(guest)
            if copy is not None:
                files.append((str(copy), guest))
            elif rebuild and _PROGRAM.fullmatch(guest) and (built := rebuild(guest.rsplit("/", 1)[1])):
                files.append((built, guest))
        changes: dict = {"extra_files": tuple(files), "kernel": kernel or self.kernel.get("path") or spec.kernel}
        if gdb is not None:
            changes["gdb"] = gdb
        return dataclasses.replace(spec, **changes)

    def copied_program(self, guest: str) -> Path | None:
        """The bundle's copy of guest file ``guest``: a regular file (no symlink) directly in the bundle's
        ``programs/``, or None. A bundle is data from elsewhere: it never names a host path to read."""
        name = self.programs.get(guest)
        if self.directory is None or not isinstance(name, str):
            return None
        copy = self.directory / name
        inside = copy.parent == self.directory / PROGRAMS and re.fullmatch(_NAME, copy.name) is not None
        return copy if inside and not copy.is_symlink() and copy.is_file() else None

    def to_dict(self) -> dict:
        """The bundle as JSON-ready data (what ``bundle.json`` holds)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "directory"}
        return {"format": FORMAT, **data, "title": self.title}

    @classmethod
    def from_dict(cls, data: dict) -> "Bundle":
        """Read ``to_dict`` output; raise ``ValueError`` (or ``UsageError`` for the spec) saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("bundle.json is not a JSON object")
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported bundle format {data.get('format')!r} (this harness reads {FORMAT})")
        missing = [key for key in ("nodeid", "spec", "kernel") if key not in data]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        names = {f.name for f in dataclasses.fields(cls)} - {"directory"}
        bundle = cls(**{key: value for key, value in data.items() if key in names})
        _check_types(bundle)
        bundle.findings = [finding_dict(f) for f in bundle.findings]
        bundle.cluster_spec().validate_values()  # unknown keys, wrong types, values out of bounds: UsageError
        return bundle


def _check_types(bundle: Bundle) -> None:
    expected = {"nodeid": str, "spec": dict, "kernel": dict, "commands": dict, "findings": list, "message": str,
                "faults": list, "popcorn": dict, "consoles": dict, "programs": dict}
    for name, kind in expected.items():
        if not isinstance(getattr(bundle, name), kind):
            raise ValueError(f"{name} must be a {kind.__name__}")
    if bundle.seed is not None and (isinstance(bundle.seed, bool) or not isinstance(bundle.seed, int)):
        raise ValueError(f"seed must be an integer or null, got {bundle.seed!r}")
    for node, entries in bundle.commands.items():
        if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("command"), str)
                                                    for e in entries):
            raise ValueError(f"commands of {node} must be a list of {{\"command\": ...}} objects")
        for entry in entries:
            timeout = entry.get("timeout", 60.0)
            if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                        or not 0 < timeout <= MAX_COMMAND_TIMEOUT):
                raise ValueError(f"a command timeout of {node} must be a number of seconds in (0, "
                                 f"{MAX_COMMAND_TIMEOUT:g}], got {timeout!r}")
    if not all(isinstance(fault, dict) for fault in bundle.faults):
        raise ValueError("faults must be a list of objects")
    if not all(isinstance(guest, str) and isinstance(copy, str) for guest, copy in bundle.programs.items()):
        raise ValueError("programs must map guest paths to file names in the bundle")


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle from its directory, its ``bundle.json`` or the test's artifacts dir holding ``bundle/``.
    Anything unreadable is a one-line ``UsageError``."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"bundle not found: {path}")
    candidates = [path] if path.is_file() else [path / BUNDLE_JSON, path / "bundle" / BUNDLE_JSON]
    file = next((c for c in candidates if c.is_file()), None)
    if file is None:
        raise UsageError(f"not a repro bundle: {path} has no {BUNDLE_JSON}")
    try:
        bundle = Bundle.from_dict(json.loads(file.read_text()))
    except (OSError, ValueError, TypeError, UsageError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"bad bundle {file}: {reason}") from None
    bundle.directory = file.parent.resolve()
    return bundle


def write_bundle(bundle: Bundle, directory: Path, consoles: dict[str, str]) -> Path:
    """Write ``bundle``, the nodes' console texts and the guest programs its commands ran into
    ``directory``; return the path of ``bundle.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle.consoles = {}
    for node, text in consoles.items():
        (directory / f"{node}.console.log").write_text(text)
        bundle.consoles[node] = f"{node}.console.log"
    bundle.programs = _copy_programs(bundle, directory)
    bundle.created = bundle.created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    bundle.directory = directory.resolve()
    (directory / BUNDLE_JSON).write_text(json.dumps(bundle.to_dict(), indent=1) + "\n")
    (directory / README).write_text(readme_text(bundle))
    return directory / BUNDLE_JSON


def _copy_programs(bundle: Bundle, directory: Path) -> dict[str, str]:
    used = {m.group(1) for entry in bundle.command_log() for m in _PROGRAM.finditer(entry["command"])}
    copied = {}
    for host, guest in bundle.spec.get("extra_files", []):
        name = guest.rsplit("/", 1)[-1]
        if guest == f"{GUEST_BIN}/{name}" and name in used and Path(host).is_file():
            (directory / PROGRAMS).mkdir(exist_ok=True)
            shutil.copy2(host, directory / PROGRAMS / name)
            copied[guest] = f"{PROGRAMS}/{name}"
    return copied


def readme_text(bundle: Bundle) -> str:
    """The bundle's README: what failed and the commands that replay it."""
    where = bundle.directory or "BUNDLE"
    return (
        f"Reproduction bundle of {bundle.nodeid} ({bundle.outcome}: {bundle.title or 'no finding'}).\n"
        f"Replay it: popcorn-harness repro {where} --runs 3   (a fresh cluster per run; counts the runs that hit "
        f"the same finding title)\n"
        f"Debug it:  popcorn-harness repro {where} --shell    (the same cluster with gdb stubs, a shell on each "
        f"node; --repl for Python)\n"
        f"Files: {BUNDLE_JSON} (spec, kernel, commands per node, seed, faults, findings, commit), "
        f"<node>.console.log, {PROGRAMS}/ (guest programs the commands ran).\n"
    )


def bundle_from_cluster(cluster, nodeid: str, *, findings=(), outcome: str = "failed", message: str = "",
                        seed: int | None = None, faults=(), popcorn: dict | None = None, rootdir: str = "") -> Bundle:
    """A bundle of ``cluster`` as it is now: its spec, kernel, each node's command log."""
    kernel = cluster.kernel
    manifest = kernel.file("manifest.json") if kernel else None
    kernel_info = {
        "path": str(kernel.artifact_dir or kernel.bzimage) if kernel else cluster.spec.kernel,
        "bzimage": str(kernel.bzimage) if kernel else "",
        "vmlinux": str(kernel.file("vmlinux") or "") if kernel else "",
        "release": kernel.release if kernel else "",
        "version": kernel.version if kernel else "",
        "manifest": json.loads(manifest.read_text()) if manifest else None,
    }
    return Bundle(nodeid=nodeid, spec=cluster.spec.to_dict(), kernel=kernel_info,
                  commands={node.name: [dict(entry) for entry in node.commands] for node in cluster.nodes},
                  findings=[finding_dict(f) for f in findings], outcome=outcome, message=message, rootdir=rootdir,
                  seed=seed, faults=[dict(fault) for fault in faults], popcorn=dict(popcorn or {}),
                  repo=repo_state())


def save_bundle(cluster, directory: Path, nodeid: str, **details) -> Path:
    """Write the bundle of ``cluster`` (``details``: see ``bundle_from_cluster``) with every node's console."""
    bundle = bundle_from_cluster(cluster, nodeid, **details)
    return write_bundle(bundle, directory, {node.name: node.console_text() for node in cluster.nodes})
