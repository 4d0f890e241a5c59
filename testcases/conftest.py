"""Shared test set-up: ``testcases/support.py`` importable as ``support``; the ``kernel`` fixture."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def kernel(request):
    """The kernel under test (--kernel); skips when there is none."""
    value = request.config.getoption("kernel")
    if not value:
        pytest.skip("no kernel: pass --kernel or set POPCORN_HARNESS_KERNEL")
    return value
