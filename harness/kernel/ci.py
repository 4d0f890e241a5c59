"""The CI kernel: Debian's ``linux-source-6.1`` with the guest and debug fragments, via the builder.

Tests, the benchmark and ``.ci/run`` share these inputs, so they share one cache entry.
"""

from __future__ import annotations

from pathlib import Path

from harness.kernel.build import KernelArtifact, build_kernel

#: Debian's kernel source package (``apt-get install linux-source-6.1``) puts its tarball here.
DEBIAN_SOURCE_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")

#: Config fragments of the CI kernel, in order.
CI_FRAGMENTS = ("qemu-guest", "debug")

#: The equivalent command line (what ``.ci/run`` runs).
CI_COMMAND = ("popcorn-harness kernel build --source /usr/src/linux-source-6.1.tar.xz "
              "--fragment qemu-guest --fragment debug")


def ci_kernel_available() -> bool:
    """True when the Debian source tarball is installed."""
    return DEBIAN_SOURCE_TARBALL.is_file()


def build_ci_kernel(**options) -> KernelArtifact:
    """Build (or fetch from the cache) the CI kernel; ``options`` go to :func:`build_kernel`."""
    return build_kernel(str(DEBIAN_SOURCE_TARBALL), fragments=CI_FRAGMENTS, **options)
