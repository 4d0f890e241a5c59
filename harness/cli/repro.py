"""``popcorn-harness repro BUNDLE``: replay a failed test's reproduction bundle.

Every failed test leaves a bundle in ``<artifacts>/<test id>/bundle/`` (cluster spec, kernel and its
manifest, the commands each node ran, seed, fault schedule, consoles, findings, commit). ``--runs N``
re-runs the test N times, each on a fresh cluster, and reports how many runs hit the same finding title
(exit 0 if at least one did, 1 if none); a test gone from this checkout is replayed from its command log.
``--shell`` boots the bundle's cluster with gdb stubs and gives a shell on each node instead.
A bad bundle is one line on stderr and exit code 2, with nothing created.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.cli.common import cluster_name
from harness.errors import UsageError


def register(subparsers) -> None:
    """Add the ``repro`` command."""
    parser = subparsers.add_parser("repro", help="replay a failed test's bundle N times, or open a shell on its cluster",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="the bundle dir (<artifacts>/<test id>/bundle), its bundle.json, or the "
                                       "test's artifacts dir")
    parser.add_argument("--runs", type=int, default=3, help="replays, each on a fresh cluster (default 3)")
    parser.add_argument("--kernel", default="", help="boot this kernel (bzImage or artifact dir) instead of the bundle's")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="where each run's artifacts go (default ./artifacts/repro-<date>-<time>)")
    parser.add_argument("--commands", action="store_true",
                        help="replay the recorded command log on a fresh cluster even when the test still exists")
    parser.add_argument("--shell", action="store_true",
                        help="boot the bundle's cluster with gdb stubs and open a shell on each node (tmux panes)")
    parser.add_argument("--repl", action="store_true",
                        help="with --shell: a Python REPL (cluster, node0, node1..., bundle, replay()) instead of tmux")
    parser.add_argument("--name", default=None, type=cluster_name, help="with --shell: the cluster's name (default repro-<id>)")
    parser.set_defaults(func=cmd_repro)


def cmd_repro(args: argparse.Namespace) -> int:
    """Check the bundle, then replay it or open a shell on its cluster."""
    from harness.cluster.cluster import require_root
    from harness.kernel.artifact import locate_kernel
    from harness.repro.bundle import load_bundle

    if args.runs < 1:
        raise UsageError(f"--runs must be at least 1, got {args.runs}")
    if args.repl and not args.shell:
        raise UsageError("--repl goes with --shell")
    bundle = load_bundle(args.bundle)
    spec = bundle.replay_spec(args.kernel, rebuild=_rebuild_program)
    try:
        spec.validate()
        locate_kernel(spec.kernel)
    except UsageError as exc:
        raise UsageError(f"bundle {bundle.directory}: {exc}{'' if args.kernel else ' (pass --kernel)'}") from None
    require_root()
    if args.shell:
        return _shell(bundle, spec, args)
    return _replay(bundle, spec, args)


def _replay(bundle, spec, args: argparse.Namespace) -> int:
    from harness.repro.bundle import repo_state
    from harness.repro.replay import replay, titles_seen

    artifacts = (args.artifacts or Path("artifacts") / time.strftime("repro-%Y%m%d-%H%M%S")).resolve()
    print(f"replaying {bundle.nodeid} ({bundle.title or 'no finding'}) {args.runs} time(s); "
          f"kernel {spec.kernel}; artifacts {artifacts}", file=sys.stderr, flush=True)
    recorded, here = bundle.repo.get("commit", ""), repo_state()["commit"]
    if recorded and recorded != here:
        print(f"note: the bundle was recorded at commit {recorded[:12]}{' (dirty)' if bundle.repo.get('dirty') else ''}; "
              f"this checkout is at {here[:12] or 'no commit'}", file=sys.stderr, flush=True)
    results = replay(bundle, spec, args.runs, artifacts, commands=args.commands, prepare=_popcorn_prepare(bundle))
    hits = sum(result.reproduced for result in results)
    word = "reproduced" if hits else "not reproduced"
    print(f"{word} {hits}/{len(results)}: {bundle.title or '(any failure: the bundle has no finding)'}")
    seen = titles_seen(results)
    print("titles seen:" + ("" if seen else " none"))
    for title, count in seen.items():
        print(f"  {count}/{len(results)}  {title}")
    print(f"artifacts: {artifacts}")
    return 0 if hits else 1


def _rebuild_program(name: str) -> str:
    """Today's build of the suite's guest program ``name`` (host path), or "" if there is none."""
    from harness.cli.common import default_programs
    from harness.popcorn.payload import build_popcorn_programs

    path = build_popcorn_programs(default_programs()).get(name)
    return str(path) if path else ""


def _popcorn_prepare(bundle):
    """For a command-log replay: bring Popcorn's mesh up on each fresh cluster if it was up when the bundle
    was recorded (None otherwise)."""
    from harness.popcorn.bringup import bring_up_if_popcorn

    if not bundle.popcorn.get("available"):
        return None
    return lambda cluster: bring_up_if_popcorn(cluster, bundle.popcorn.get("profile"), required=True)


def _shell(bundle, spec, args: argparse.Namespace) -> int:
    from harness.cli.interactive import session
    from harness.repro.replay import run_command_log
    from harness.vm.runs import new_run_id

    name = args.name or f"repro-{new_run_id()[:6]}"
    notes = [f"bundle: {bundle.nodeid} ({bundle.title or 'no finding'}); seed {bundle.seed}; "
             f"{len(bundle.faults)} fault(s) scheduled", "recorded commands (replay() in the REPL runs them):"]
    notes += [f"  [{entry['node']}] {entry['command']}" for entry in bundle.command_log()] or ["  (none)"]

    def names(cluster) -> dict:
        def replay() -> list[str]:
            """Run the bundle's recorded commands on this cluster, echoing each; return what could not run."""
            return run_command_log(cluster, bundle, echo=True)

        return {"bundle": bundle, "replay": replay}

    return session(spec, name=name, abi=bundle.popcorn.get("profile"), use_repl=args.repl, payload=False,
                   names=names, notes=notes)
