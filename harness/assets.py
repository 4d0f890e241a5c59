"""Where the harness's files that are not Python live: the guest image recipe (``images/``) and the
kernel config fragments and patch series (``kernel-patches/``), and, in a checkout, the test suite.

In a checkout they sit at the repository's top level. A built wheel carries ``images/`` and
``kernel-patches/`` inside the package, as ``harness/data/`` (``setup.py`` maps them there), and
has no test suite.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = PACKAGE.parent


def asset_dir(name: str) -> Path:
    """The directory ``name`` (``images`` or ``kernel-patches``): inside the installed package if it was
    built as a wheel, else at the top of the checkout."""
    bundled = PACKAGE / "data" / name.replace("-", "_")
    return bundled if bundled.is_dir() else _CHECKOUT / name


def checkout() -> Path | None:
    """The checkout the harness runs from (the directory with ``testcases/``), or None when it runs from
    an installed wheel."""
    return _CHECKOUT if (_CHECKOUT / "testcases").is_dir() else None


IMAGES_DIR = asset_dir("images")
PATCHES_DIR = asset_dir("kernel-patches")
