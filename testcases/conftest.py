"""Shared test set-up: ``testcases/support.py`` importable as ``support``; the ``kernel`` and
``popcorn_kernel`` fixtures; the
known Popcorn defects (``popcorn/known_defects.py``) as ``known_failure`` markers on every suite that names
them (the harness's plugin judges such a test by its symptom)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness.errors import UsageError  # noqa: E402
from harness.kernel.artifact import locate_kernel  # noqa: E402
from harness.kernel.config import parse_config_text  # noqa: E402
from harness.pytest.known_failures import BUILD_KINDS, build_kind, table_by_test  # noqa: E402
from popcorn.known_defects import KNOWN_FAILURES  # noqa: E402  (needs the path above)


def kernel_build_kind(config: pytest.Config) -> str:
    """The build kind (``harness.pytest.known_failures.BUILD_KINDS``) of the kernel under test, from the
    ``.config`` in its artifact dir; ``""`` without one."""
    value = config.getoption("kernel", default=None)
    try:
        dot_config = locate_kernel(value).file(".config") if value else None
    except UsageError:
        return ""
    return build_kind(parse_config_text(dot_config.read_text(errors="replace"))) if dot_config else ""


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which build's known-defect symptoms judge the run, when it is not the default build's."""
    kind = kernel_build_kind(config)
    if kind:
        return (f"known defects: the symptoms of the {kind} build ({', '.join(BUILD_KINDS[kind])} on in the "
                "kernel's .config), else those of any build")
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    """The suite's own option: --stress-duration."""
    parser.getgroup("popcorn-harness").addoption(
        "--stress-duration", type=int, default=30, help="seconds each stress case (testcases/stress) runs (default 30)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test named in the known-defects table (for the kernel's build kind) with
    ``known_failure(entry)``."""
    table = table_by_test(KNOWN_FAILURES, kernel_build_kind(config))
    for item in items:
        known = table.get(item.name)
        if known is not None:
            item.add_marker(pytest.mark.known_failure(known))


@pytest.fixture
def kernel(request):
    """The kernel under test (--kernel); skips when there is none."""
    value = request.config.getoption("kernel")
    if not value:
        pytest.skip("no kernel: pass --kernel or set POPCORN_HARNESS_KERNEL")
    return value


@pytest.fixture
def popcorn_kernel(kernel):
    """The kernel under test, when it is given as Popcorn (for tests that boot clusters of their own, e.g.
    through the CLI); skips otherwise."""
    from harness.popcorn.claim import popcorn_claim

    if not popcorn_claim(kernel):
        pytest.skip(f"needs a Popcorn kernel: {kernel} has no msg_socket.ko and no popcorn fragment")
    return kernel


@pytest.fixture
def own_cluster(request, cluster_pool):
    """Boot clusters of the test's own: ``own_cluster(nodes, **spec_changes)`` starts one and returns it.
    Each is stopped after the test; a failed test first keeps every node's console log and dmesg under
    ``<artifacts>/<test id>/own-cluster-K/`` (the pool's artifacts are of the pool's cluster, not these)."""
    from harness.cluster.cluster import Cluster
    from harness.pytest.artifacts import CALL_EXCINFO, save_artifacts, test_dir
    from support import own_cluster_spec

    clusters = []

    def boot(nodes: int, **changes):
        cluster = Cluster(own_cluster_spec(cluster_pool, nodes, **changes))
        clusters.append(cluster)
        cluster.start()
        return cluster

    yield boot
    failed = request.node.stash.get(CALL_EXCINFO, None) is not None
    directory = test_dir(request.config.getoption("artifacts"), request.node.nodeid)
    for k, cluster in enumerate(clusters):
        try:
            if failed and cluster.nodes:
                save_artifacts(cluster, directory / f"own-cluster-{k}")
        finally:
            cluster.stop()
