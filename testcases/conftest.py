"""Shared test set-up: ``testcases/support.py`` importable as ``support``; the ``kernel`` fixture; the
known Popcorn defects (``popcorn/known_defects.py``) as xfails on every suite that names them."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from popcorn.known_defects import KNOWN_DEFECTS, RACY_DEFECTS  # noqa: E402  (needs the path above)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add ``xfail(reason=...)`` to every test named in a defects table (strict for the known ones)."""
    for item in items:
        name = getattr(item, "originalname", None) or item.name
        for table, strict in ((KNOWN_DEFECTS, True), (RACY_DEFECTS, False)):
            reason = table.get(item.name) or table.get(name)
            if reason:
                item.add_marker(pytest.mark.xfail(strict=strict, reason=reason))


@pytest.fixture
def kernel(request):
    """The kernel under test (--kernel); skips when there is none."""
    value = request.config.getoption("kernel")
    if not value:
        pytest.skip("no kernel: pass --kernel or set POPCORN_HARNESS_KERNEL")
    return value
