"""mmap, munmap, mprotect, mremap, brk and madvise made on a remote node: seen at the origin and back.

One operation per program run, so that a hang in one cannot hide the others.
"""

from __future__ import annotations

import pytest

from .checks import run_checks

OPERATIONS = ("mmap", "munmap", "mprotect", "mremap", "dontneed", "brk", "origin_mmap", "origin_mremap",
              "origin_free", "origin_munmaps", "dontneed_vs_remote_writes", "remote_dontneed_vs_writes",
              "remote_write_dontneed_vs_writes")


@pytest.mark.xdist_group("popcorn2-vma")
@pytest.mark.parametrize("operation", OPERATIONS)
def test_remote_vma_operation_seen_at_origin_and_back(popcorn, operation):
    """The operation done remotely shows at the origin (origin_mmap: an origin mapping shows remotely;
    origin_mremap: a region the origin moves reads right at its new place, a page the peer wrote included;
    origin_free: a page the origin MADV_FREEs, then the peer writes, reads as the peer's write at the origin;
    origin_munmaps: a hundred munmaps at the origin of a distributed process, each answered by the remote
    node, leave no kernel report: on a kernel with CONFIG_POPCORN_CHECK_SANITY more than 64 replies not
    freed make pcn_kmsg_process warn; the DONTNEED races: one page written on one node while the other
    node discards it 1000 times, or writes then discards it, both sides must end)."""
    run_checks(popcorn, popcorn.nodes[0], "pcn_vma", operation, "0", str(len(popcorn.nodes)))
