"""MADV_RELEASE (advice 20): success keeps data coherent; bad arguments give madvise's errors."""

from __future__ import annotations

import pytest

from .checks import run_checks


def _run(popcorn, mode: str, **kw):
    return run_checks(popcorn, popcorn.nodes[0], "pcn_madvise", mode, "0", str(len(popcorn.nodes)), timeout=90, **kw)


@pytest.mark.xdist_group("popcorn2-madvise")
def test_madv_release_at_remote_keeps_data(popcorn):
    """MADV_RELEASE at a remote node returns 0; data stays coherent, a later remote write reaches the origin."""
    _run(popcorn, "remote")


@pytest.mark.xdist_group("popcorn2-madvise")
def test_madv_release_at_origin_of_distributed_process_keeps_data(popcorn):
    """MADV_RELEASE at the origin of a process that has migrated returns 0; data stays intact."""
    _run(popcorn, "origin")


@pytest.mark.xdist_group("popcorn2-madvise")
def test_madv_release_invalid_arguments(popcorn):
    """EINVAL unaligned / wrapping length / unknown advice, ENOMEM unmapped, 0 for length 0; both sides."""
    _run(popcorn, "errors")


@pytest.mark.xdist_group("popcorn2-madvise")
def test_madv_release_in_undistributed_process(popcorn):
    """MADV_RELEASE in a process that never migrated returns 0 and keeps its data."""
    _run(popcorn, "local")
