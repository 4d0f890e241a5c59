"""mmap, munmap, mprotect, mremap, brk and madvise made on a remote node: seen at the origin and back."""

from __future__ import annotations

import pytest

from .checks import run_checks


@pytest.mark.xdist_group("popcorn2")
def test_remote_vma_operations_seen_at_origin_and_back(popcorn):
    """Each operation done remotely shows at the origin; an origin mapping shows remotely."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_vma", "ops", "0", str(len(popcorn.nodes)),
               required=("origin_sees_mmap", "origin_sees_munmap", "origin_sees_mprotect", "origin_sees_mremap",
                         "origin_sees_dontneed", "origin_sees_brk", "remote_sees_origin_mmap"))
