"""Unit tests of the newc writer, checked by GNU cpio itself."""

import os
import shutil
import stat
import subprocess

from harness.vm.cpio import CpioArchive


def _cpio() -> str:
    """GNU cpio, which checks the writer (a missing one fails the test: it is no optional tool)."""
    found = shutil.which("cpio")
    assert found, "GNU cpio is not installed: setup.sh installs it"
    return found


def _extract(archive: CpioArchive, directory):
    subprocess.run([_cpio(), "-idm", "--quiet", "--no-absolute-filenames"], input=archive.to_bytes(),
                   cwd=directory, check=True)


def test_files_dirs_and_symlinks_extract_with_content_and_modes(tmp_path):
    archive = CpioArchive()
    archive.add_file("/etc/deep/nested/file", b"hello\n", 0o640)
    archive.add_file("/bin/tool", b"\x7fELF" + bytes(range(256)) * 3, 0o755)
    archive.add_dir("/root", 0o700)
    archive.add_symlink("/bin/sh", "/bin/tool")
    _extract(archive, tmp_path)
    assert (tmp_path / "etc/deep/nested/file").read_bytes() == b"hello\n"
    assert stat.S_IMODE((tmp_path / "etc/deep/nested/file").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "bin/tool").stat().st_mode) == 0o755
    assert (tmp_path / "bin/tool").read_bytes()[4:] == bytes(range(256)) * 3
    assert stat.S_IMODE((tmp_path / "root").stat().st_mode) == 0o700
    assert os.readlink(tmp_path / "bin/sh") == "/bin/tool"


def test_listing_has_parents_before_children_and_device_nodes():
    archive = CpioArchive()
    archive.add_file("/a/b/c", b"x")
    archive.add_chardev("/dev/console", 5, 1)
    listing = subprocess.run([_cpio(), "-itv", "--quiet"], input=archive.to_bytes(), capture_output=True,
                             check=True).stdout.decode()
    names = [line.split()[-1] for line in listing.splitlines()]
    assert names == ["a", "a/b", "a/b/c", "dev", "dev/console"]
    console = next(line for line in listing.splitlines() if line.endswith("dev/console"))
    assert console.startswith("crw-------") and "5," in console


def test_same_content_gives_same_bytes():
    def build(order):
        archive = CpioArchive()
        for name in order:
            archive.add_file(name, name.encode())
        return archive.to_bytes()

    assert build(["/x", "/y/z", "/a"]) == build(["/a", "/x", "/y/z"])
