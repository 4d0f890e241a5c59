"""The builder against a real Popcorn 5.2.21 tree: a bootable kernel plus msg_socket.ko, no manual step.

The tree is not part of this project: point ``POPCORN_SRC`` at a Popcorn checkout or bare repository
(and ``POPCORN_REF`` at a ref, default ``master`` for a repository). Without it these tests skip; with
one that does not exist they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cluster.cluster import Cluster
from harness.kernel.build import build_kernel
from harness.kernel.config import parse_config_text
from harness.cluster.spec import ClusterSpec

pytestmark = pytest.mark.kernel_build

POPCORN_FRAGMENTS = ["qemu-guest", "popcorn", "popcorn-debug"]


@pytest.fixture(scope="session")
def popcorn_kernel():
    source = os.environ.get("POPCORN_SRC")
    if not source:
        pytest.skip("POPCORN_SRC is not set: point it at a Popcorn 5.2 kernel tree or git repository")
    if not Path(source).exists():
        pytest.fail(f"POPCORN_SRC={source} does not exist")
    is_repo = (Path(source) / "HEAD").is_file() or (Path(source) / ".git").exists()
    ref = os.environ.get("POPCORN_REF", "master" if is_repo else None)
    return build_kernel(source, ref=ref, fragments=POPCORN_FRAGMENTS)


def test_popcorn_kernel_has_popcorn_and_msg_socket(popcorn_kernel):
    final = parse_config_text(popcorn_kernel.config.read_text())
    assert final["CONFIG_POPCORN"] == "y" and final["CONFIG_POPCORN_KMSG_SOCKET"] == "m"
    assert final.get("CONFIG_STACK_VALIDATION", "n") == "n"  # the GCC 12 workaround from the table
    assert [w["id"] for w in popcorn_kernel.manifest["config"]["workarounds"]] == ["objtool-libsubcmd-use-after-free"]
    assert popcorn_kernel.manifest["kernel_release"].startswith("5.2.21")
    release = popcorn_kernel.manifest["kernel_release"]
    installed = popcorn_kernel.modules_dir / "lib" / "modules" / release
    assert (installed / "modules.dep").is_file()
    assert [p.name for p in installed.rglob("msg_socket.ko")] == ["msg_socket.ko"]
    assert "msg_layer/msg_socket.ko" in (installed / "modules.dep").read_text()
    assert " T __x64_sys_popcorn_migrate" in (popcorn_kernel.dir / "System.map").read_text()


def test_popcorn_kernel_boots_in_a_two_node_cluster(popcorn_kernel):
    with Cluster(ClusterSpec(nodes=2, kernel=str(popcorn_kernel.dir))) as cluster:
        assert len(cluster.nodes) == 2
        for node in cluster.nodes:
            result = node.run("uname -r", timeout=60)
            assert result.exit_code == 0 and result.stdout.strip().startswith("5.2.21")
