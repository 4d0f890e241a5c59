"""Fixtures for the kernel builder's integration tests: one cached CI kernel build for the session."""

from __future__ import annotations

import pytest

from harness.kernel.ci import DEBIAN_SOURCE_TARBALL, build_ci_kernel, ci_kernel_available


def pytest_configure(config):
    """Register the marker of the tests that run real kernel builds."""
    config.addinivalue_line("markers", "kernel_build: runs real kernel builds (minutes of CPU; needs linux-source-6.1)")


@pytest.fixture(scope="session")
def debian_source() -> str:
    """Path of Debian's linux-source-6.1 tarball; fails when the package is not installed (setup.sh installs it)."""
    if not ci_kernel_available():
        pytest.fail(f"{DEBIAN_SOURCE_TARBALL} is absent: setup.sh installs linux-source-6.1")
    return str(DEBIAN_SOURCE_TARBALL)


@pytest.fixture(scope="session")
def ci_kernel(debian_source):
    """The CI kernel, built once (or taken from the cache) and shared by every test of the session."""
    return build_ci_kernel()
