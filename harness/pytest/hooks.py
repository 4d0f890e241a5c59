"""Hooks a domain plugin implements to build on the generic cluster fixtures (``harness/popcorn/plugin.py``
is one: it adds its payload to every cluster, brings its mesh up after each boot, and records its state in
repro bundles). The generic layers know nothing of the domain."""

from __future__ import annotations

import pytest


@pytest.hookspec(firstresult=True)
def pytest_harness_cluster_spec(config, spec):
    """Return the ``ClusterSpec`` to boot instead of ``spec`` (e.g. with more guest files), or None."""


def pytest_harness_cluster_started(config, cluster):
    """A cluster of the worker's pool has booted (every node answers SSH): prepare it for the tests."""


def pytest_harness_bundle_details(config, cluster):
    """Return a dict of extra keyword arguments for ``save_bundle`` of a failed test on ``cluster``."""
