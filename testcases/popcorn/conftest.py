"""Mark the cases of ``known_defects.KNOWN_DEFECTS`` as strict expected failures."""

from __future__ import annotations

import pytest

from .known_defects import KNOWN_DEFECTS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add ``xfail(strict=True, reason=...)`` to every test named in the known-defects table."""
    for item in items:
        name = getattr(item, "originalname", None) or item.name
        reason = KNOWN_DEFECTS.get(item.name) or KNOWN_DEFECTS.get(name)
        if reason:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
