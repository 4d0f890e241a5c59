"""mmap, munmap, mprotect, mremap, brk and madvise made on a remote node: seen at the origin and back.

One operation per program run, so that a hang in one cannot hide the others.
"""

from __future__ import annotations

import pytest

from .checks import run_checks

OPERATIONS = {
    "mmap": ("remote_mmap", "origin_sees_mmap", "remote_sees_its_mmap_again"),
    "munmap": ("remote_munmap", "origin_sees_munmap"),
    "mprotect": ("remote_mprotect", "origin_sees_mprotect"),
    "mremap": ("remote_mremap", "origin_sees_mremap"),
    "dontneed": ("remote_madvise_dontneed", "remote_dontneed_reads_zero", "origin_sees_dontneed"),
    "brk": ("remote_sbrk", "origin_sees_brk"),
    "origin_mmap": ("remote_sees_origin_mmap",),
}


@pytest.mark.xdist_group("popcorn2")
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_remote_vma_operation_seen_at_origin_and_back(popcorn, operation):
    """The operation done remotely shows at the origin (origin_mmap: an origin mapping shows remotely)."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_vma", operation, "0", str(len(popcorn.nodes)),
               required=("migrate_to_peer", "migrate_back", *OPERATIONS[operation]))
