"""Real builds of Debian's linux-source-6.1 through the builder (one cached build shared by the session)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cluster.boot_check import boot_check
from harness.kernel.bisect import BASE_STEP, bisect_build
from harness.kernel.build import build_kernel
from harness.kernel.ci import CI_FRAGMENTS, build_ci_kernel
from harness.kernel.config import ConfigOptionsDropped, parse_config_text
from harness.kernel.series import PatchDoesNotApply

#: One worker runs these tests one after another: each build takes the machine-wide build lock, and a test
#: that waited there for another worker's bisect build outlived the 900 s pytest-timeout in a CI emulation
#: (its worker was killed) although its own work takes a minute.
pytestmark = [pytest.mark.kernel_build, pytest.mark.xdist_group("kernel-build")]

DATA = Path(__file__).with_name("data")

#: make's niceness in these tests. The builder nices make (10) so a developer's machine stays usable; here
#: eight workers' TCG guests fill both cores, and a niced `make tinyconfig` got so little CPU that it
#: outlived the 900 s pytest-timeout in a CI emulation. The tests check the builder, not the scheduler.
NICE = 0


def test_ci_kernel_artifact_has_the_promised_layout(ci_kernel):
    for name in ("bzImage", "vmlinux", "System.map", ".config", "build.log", "manifest.json"):
        assert (ci_kernel.dir / name).is_file(), name
    assert ci_kernel.bzimage.read_bytes()[0x202:0x206] == b"HdrS"  # the x86 boot protocol magic
    assert ci_kernel.vmlinux.read_bytes()[:4] == b"\x7fELF"
    assert " T start_kernel" in (ci_kernel.dir / "System.map").read_text()
    manifest = ci_kernel.manifest
    assert manifest["kernel_release"].startswith("6.1.")
    assert manifest["source"]["kind"] == "tarball" and len(manifest["source"]["sha256"]) == 64
    assert [f["name"] for f in manifest["config"]["fragments"]] == list(CI_FRAGMENTS)
    assert manifest["config"]["dropped"] == []
    assert manifest["toolchain"]["compiler"] == "gcc" and "Binutils" in manifest["toolchain"]["binutils"]
    assert manifest["build"]["elapsed_s"] > 0


def test_ci_kernel_config_has_what_the_fragments_asked(ci_kernel):
    final = parse_config_text(ci_kernel.config.read_text())
    for option in ("LKDTM", "RUNTIME_TESTING_MENU", "DEBUG_FS", "PROVE_LOCKING", "DETECT_HUNG_TASK",
                   "SOFTLOCKUP_DETECTOR", "VIRTIO_NET", "SERIAL_8250_CONSOLE", "DEVTMPFS_MOUNT", "MAGIC_SYSRQ"):
        assert final.get(f"CONFIG_{option}") == "y", option


def test_same_inputs_are_a_cache_hit(ci_kernel):
    started = time.monotonic()
    again = build_ci_kernel()
    assert again.cache_hit and again.dir == ci_kernel.dir
    assert time.monotonic() - started < 30  # hashing is memoised; only the source check remains


def test_cli_prints_the_artifact_dir_last(ci_kernel, debian_source):
    cmd = [sys.executable, "-m", "harness", "kernel", "build", "--source", debian_source,
           *[arg for name in CI_FRAGMENTS for arg in ("--fragment", name)]]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(ci_kernel.dir)
    assert "cache hit" in result.stderr


def test_cli_rejects_an_unknown_fragment_in_one_line(debian_source):
    cmd = [sys.executable, "-m", "harness", "kernel", "build", "--source", debian_source, "--fragment", "nope"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no config fragment 'nope'" in result.stderr


def test_an_option_that_cannot_be_set_is_reported_with_its_reason(debian_source, tmp_path):
    fragment = tmp_path / "impossible.config"
    fragment.write_text("CONFIG_LKDTM=y\n# CONFIG_RUNTIME_TESTING_MENU is not set\nCONFIG_NO_SUCH_OPTION_AT_ALL=y\n")
    with pytest.raises(ConfigOptionsDropped) as dropped:
        build_kernel(debian_source, fragments=["qemu-guest", str(fragment)], nice=NICE)
    reasons = {d.option: d.reason for d in dropped.value.dropped}
    assert set(reasons) == {"CONFIG_LKDTM", "CONFIG_NO_SUCH_OPTION_AT_ALL"}
    assert "RUNTIME_TESTING_MENU=n" in reasons["CONFIG_LKDTM"]
    assert reasons["CONFIG_NO_SUCH_OPTION_AT_ALL"] == "no such option in this kernel's Kconfig"


def test_a_patch_that_does_not_apply_is_named_and_stops(debian_source):
    with pytest.raises(PatchDoesNotApply) as failure:
        build_kernel(debian_source, series=str(DATA / "bad-series"), fragments=list(CI_FRAGMENTS), nice=NICE)
    assert failure.value.index == 2
    assert "patch 2/2 '0002-wrong-context.patch' does not apply" in str(failure.value)


#: Bisect builds compile several kernels; with eight VM workers on two cores one took longer than the
#: global 900 s pytest-timeout.
BISECT_TIMEOUT_S = 2700


@pytest.mark.timeout(BISECT_TIMEOUT_S)
def test_bisect_build_stops_at_the_patch_that_breaks_the_build(debian_source, ci_kernel):
    report = bisect_build(debian_source, str(DATA / "bisect-series"), fragments=list(CI_FRAGMENTS), nice=NICE)
    rows = [(s.index, s.name, s.builds) for s in report.steps]
    assert rows == [(0, BASE_STEP, True), (1, "0001-harmless-comment.patch", True),
                    (2, "0002-break-panic-c.patch", False)]
    failure = report.first_failure
    assert failure.index == 2
    assert "kernel/panic.c" in failure.error and "error" in failure.error


@pytest.mark.timeout(BISECT_TIMEOUT_S)
def test_bisect_build_boots_each_step_on_one_node(debian_source, ci_kernel, tmp_path):
    series = tmp_path / "one-good-patch"
    series.mkdir()
    (series / "0001-harmless-comment.patch").write_bytes((DATA / "bisect-series" / "0001-harmless-comment.patch").read_bytes())
    (series / "series").write_text("0001-harmless-comment.patch\n")
    report = bisect_build(debian_source, str(series), fragments=list(CI_FRAGMENTS), boot_check=boot_check,
                          nice=NICE)
    assert [(s.index, s.builds, s.boots) for s in report.steps] == [(0, True, True), (1, True, True)], \
        [s.error for s in report.steps]
    assert report.first_failure is None
