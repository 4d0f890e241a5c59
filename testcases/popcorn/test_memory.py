"""Page coherence: pages written on one node read on another, many pages, many readers then a writer."""

from __future__ import annotations

import pytest

from .checks import run_checks

def _run(popcorn, mode: str, *extra: str, **kw):
    return run_checks(popcorn, popcorn.nodes[0], "pcn_memory", mode, "0", str(len(popcorn.nodes)), *extra, **kw)


@pytest.mark.xdist_group("popcorn2-memory")
def test_pages_written_at_origin_and_remotely_read_back(popcorn):
    """A few pages both ways: written at the origin, read remotely, rewritten, read back."""
    _run(popcorn, "pages", "4")


@pytest.mark.xdist_group("popcorn2-memory")
def test_many_pages_coherent(popcorn):
    """1024 pages (4 MiB) both ways. Time is not what this checks: 24 s at -n 2 here, over 150 s at -n 8 (a
    page's fetch costs about 40 ms when it waits on a delayed ACK, which load makes frequent: README,
    "Popcorn's messages wait on delayed ACKs")."""
    _run(popcorn, "pages", "1024", timeout=420)  # under the hang watchdog's 480 s


@pytest.mark.xdist_group("popcorn2-memory")
def test_readers_on_two_nodes_then_origin_writes(popcorn):
    """The origin and a remote thread read one page; the origin writes it; the remote reader sees it."""
    _run(popcorn, "readers")


@pytest.mark.nodes(4)
@pytest.mark.xdist_group("popcorn4-memory")
def test_readers_on_four_nodes_then_origin_writes_4(popcorn):
    """Readers on four nodes share one page; the origin's write reaches every one."""
    _run(popcorn, "readers")


@pytest.mark.xdist_group("popcorn2-memory")
def test_another_process_reads_a_page_the_remote_node_wrote(popcorn):
    """Another process at the origin reads this one's memory, as a debugger does (/proc/PID/mem, from an
    ordinary process): a page the peer wrote last must read as the peer's write, and the origin and the peer
    must still see that write afterwards."""
    _run(popcorn, "foreign")


@pytest.mark.xdist_group("popcorn2-memory")
def test_memory_views_of_a_page_the_remote_node_owns(popcorn):
    """The kernel's views of a process's memory that walk its page table without faulting (mincore,
    smaps_rollup, pagemap), taken at the origin of a page the peer wrote last: the page is resident and
    nothing is swapped (the guest has no swap), before, while the peer owns it, and after the origin read it."""
    _run(popcorn, "residency")


@pytest.mark.xdist_group("popcorn2-memory")
def test_child_forked_before_migration_keeps_its_copy(popcorn):
    """fork() gives the child its own copy of the parent's memory: the parent's page going to the peer,
    written there and read back at the origin, then written at the origin, leaves the child's copy as it was
    at the fork."""
    _run(popcorn, "fork_before")


@pytest.mark.xdist_group("popcorn2-memory")
def test_child_forked_while_the_remote_node_owns_a_page_reads_it(popcorn):
    """A child forked at the origin while the peer owns a page (the main thread wrote it there) reads the
    peer's write, and keeps it when the parent writes the page again."""
    _run(popcorn, "fork_after")
