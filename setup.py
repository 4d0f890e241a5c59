"""Which files a built wheel carries (the metadata is in pyproject.toml).

Every package under ``harness/`` (found, not listed), the data files beside the code (the kernel
toolchain's workarounds table, Popcorn's guest headers, run-time library and probe), and the two top-level directories
that are not Python: ``images/`` (the guest image recipe and its templates) and ``kernel-patches/``
(config fragments, patch series), mapped into the package as ``harness/data/`` where
``harness/assets.py`` finds them in an installed wheel.
"""

from setuptools import find_packages, setup

ASSETS = {"harness.data.images": "images", "harness.data.kernel_patches": "kernel-patches"}

setup(
    packages=find_packages(include=["harness", "harness.*"]) + [*ASSETS, "harness.data.images.templates",
                                                                  "harness.data.kernel_patches.configs"],
    package_dir=ASSETS,
    package_data={
        "harness.kernel": ["workarounds.toml"],
        "harness.popcorn": ["guest/*.c", "guest/*.h", "guest/runtime/*.c"],
        "harness.data.images": ["*.toml"],
        "harness.data.images.templates": ["*.j2"],
        "harness.data.kernel_patches": ["*.md", "*/series", "*/*.patch"],  # series dirs (popcorn-off/)
        "harness.data.kernel_patches.configs": ["*.config"],
    },
)
