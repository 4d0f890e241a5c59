"""Unit tests of the image recipe: module dependency order, recipe contents, kernel detection."""

import shutil
import subprocess

import pytest

from harness.vm import guest_image as image
from harness.errors import UsageError
from harness.kernel.artifact import locate_kernel, read_bzimage_version


def _modules_tree(tmp_path):
    root = tmp_path / "lib/modules/6.1.0-test"
    (root / "kernel/drivers/net").mkdir(parents=True)
    (root / "kernel/drivers/virtio").mkdir(parents=True)
    for rel in ["kernel/drivers/net/virtio_net.ko", "kernel/drivers/net/net_failover.ko",
                "kernel/net/core/failover.ko", "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_pci.ko"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    (root / "modules.dep").write_text(
        "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n"
        "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
        "kernel/net/core/failover.ko:\n"
        "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/virtio/virtio_ring.ko:\n"
    )
    return root


def test_modules_load_in_dependency_order_without_duplicates(tmp_path):
    modules = image.resolve_modules(_modules_tree(tmp_path), ["virtio_pci", "virtio-net", "virtio"])
    assert modules.load_order == ["virtio_ring.ko", "virtio.ko", "virtio_pci.ko", "failover.ko",
                                  "net_failover.ko", "virtio_net.ko"]


def test_modules_the_kernel_lacks_are_skipped(tmp_path):
    assert image.resolve_modules(_modules_tree(tmp_path), ["e1000"]).load_order == []
    assert image.resolve_modules(None, ["virtio_net"]).load_order == []


def test_base_image_is_hermetic_and_cached(tmp_path):
    missing = [tool for tool in ("busybox", "dropbear", "cpio")  # dropbear lives in /usr/sbin
               if not (shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin"))]
    assert not missing, f"{', '.join(missing)} not installed: setup.sh installs busybox-static, dropbear-bin and cpio"
    recipe = image.Recipe.load()
    modules = image.resolve_modules(_modules_tree(tmp_path), ["virtio_net"])
    first = image.base_image(recipe, modules, cache=tmp_path / "cache")
    again = image.base_image(recipe, modules, cache=tmp_path / "cache")
    assert first == again and len(list((tmp_path / "cache").iterdir())) == 1
    listing = subprocess.run(["cpio", "-it", "--quiet"], input=first.read_bytes(), capture_output=True,
                             check=True).stdout.decode().split()
    for needed in ["init", "bin/busybox", "bin/sh", "sbin/ip", "usr/sbin/dropbear", "lib64/ld-linux-x86-64.so.2",
                   "lib/modules/virtio_net.ko", "etc/harness/modules.load", "etc/passwd", "dev/console"]:
        assert needed in listing, needed
    init = subprocess.run(["cpio", "-i", "--quiet", "--to-stdout", "init"], input=first.read_bytes(),
                          capture_output=True, check=True).stdout.decode()
    assert recipe.ready_marker in init and "phc.addr=" in init and "{{" not in init


def test_non_kernel_file_is_rejected(tmp_path):
    bogus = tmp_path / "bzImage"
    bogus.write_bytes(b"\0" * 4096)
    with pytest.raises(UsageError, match="not an x86 kernel image"):
        read_bzimage_version(bogus)
    with pytest.raises(UsageError, match="kernel not found"):
        locate_kernel(tmp_path / "missing")
    with pytest.raises(UsageError, match="no kernel given"):
        locate_kernel("")


def test_a_fake_boot_header_is_parsed(tmp_path):
    head = bytearray(0x1000)
    head[0x202:0x206] = b"HdrS"
    head[0x20E:0x210] = (0x300).to_bytes(2, "little")  # string at 0x300 + 0x200
    head[0x500:0x520] = b"6.1.0-test (me@host) #1 SMP\0"
    (tmp_path / "bzImage").write_bytes(head)
    kernel = locate_kernel(tmp_path)
    assert kernel.release == "6.1.0-test" and kernel.artifact_dir == tmp_path.resolve()
