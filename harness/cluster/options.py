"""The options that describe a cluster, declared once: the CLI (argparse) and the pytest plugin both add
them from ``CLUSTER_OPTIONS``, so they have the same names, defaults and help everywhere."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.cluster.spec import ACCELERATORS, BACKENDS, ClusterSpec
from harness.vm.hosts import read_hosts_file

ACCEL_HELP = "auto: use KVM only if a probe guest really boots with it, else TCG (default auto)"
#: Where ``--kernel`` takes its default from.
KERNEL_ENV = "POPCORN_HARNESS_KERNEL"


@dataclass(frozen=True)
class Option:
    """One command-line option and the ``ClusterSpec`` field it sets."""

    flag: str
    spec_field: str
    kwargs: dict = field(default_factory=dict)
    #: Turns the option's value into the spec field's (None: as given).
    convert: Callable[[object], object] | None = None

    @property
    def dest(self) -> str:
        """The attribute name argparse and pytest give the option (``--boot-timeout`` -> ``boot_timeout``)."""
        return self.flag.lstrip("-").replace("-", "_")


CLUSTER_OPTIONS: tuple[Option, ...] = (
    Option("--nodes", "nodes", dict(type=int, default=2, help="number of nodes (default 2)")),
    Option("--kernel", "kernel", dict(default=os.environ.get(KERNEL_ENV, ""),
                                      help=f"bzImage file or kernel artifact dir (env {KERNEL_ENV})")),
    Option("--accel", "accel", dict(choices=ACCELERATORS, default="auto", help=ACCEL_HELP)),
    Option("--memory", "memory_mb", dict(type=int, default=256, metavar="MIB", help="memory per node (default 256)")),
    Option("--cpus", "cpus", dict(type=int, default=1, help="vCPUs per node (default 1)")),
    Option("--boot-timeout", "boot_timeout",
           dict(type=float, default=600.0, metavar="S", help="seconds for every node to boot (default 600)")),
    Option("--boot-stall", "boot_stall",
           dict(type=float, default=240.0, metavar="S",
                help="seconds a node's console may stay silent during boot before that node is booted "
                     "again (default 240)")),
    Option("--append", "cmdline", dict(default="", metavar="ARGS", help="extra kernel command-line arguments")),
    Option("--backend", "backend", dict(choices=BACKENDS, default="qemu",
                                        help="qemu: each node a QEMU process of the harness (default); libvirt: "
                                             "each node a transient domain of a libvirtd private to the cluster")),
    Option("--hosts", "hosts", dict(default="", metavar="FILE",
                                    help="run the nodes on the hosts a hosts file names, round robin (libvirt "
                                         "backend; one 'URI [COMMAND PREFIX]' a line: README, Clusters across "
                                         "hosts)"),
           convert=lambda path: read_hosts_file(path) if path else ()),
    Option("--gdb", "gdb", dict(action="store_true", help="give each node a gdb stub on a unix socket in the cluster's work dir")),
)


def add_cluster_options(add: Callable[..., object], only: Iterable[str] | None = None) -> None:
    """Declare the cluster options (or the flags in ``only``) with ``add``: an argparse parser's or group's
    ``add_argument``, or a pytest option group's ``addoption``."""
    wanted = set(only) if only is not None else None
    for option in CLUSTER_OPTIONS:
        if wanted is None or option.flag in wanted:
            add(option.flag, **option.kwargs)


def spec_from_options(get: Callable[[str], object], **overrides) -> ClusterSpec:
    """A ``ClusterSpec`` from the cluster options, read with ``get(dest)`` (``vars(args).get`` or pytest's
    ``config.getoption``); ``overrides`` replace fields (e.g. ``nodes``)."""
    values = {option.spec_field: (option.convert or (lambda v: v))(get(option.dest)) for option in CLUSTER_OPTIONS}
    return ClusterSpec(**{**{k: v for k, v in values.items() if v is not None}, **overrides})
