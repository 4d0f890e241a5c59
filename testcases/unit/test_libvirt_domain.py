"""Unit tests of the libvirt backend's domain XML (pure) and of its daemon's place in a run's work dir."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.vm import libvirtd
from harness.vm.backends.base import VMConfig
from harness.vm.backends.libvirt import domain_xml


def _config(**overrides):
    values = dict(name="phc-gw0-deadbeef-node1", kernel=Path("/k/bzImage"), initrd=Path("/w/initrd"),
                  cmdline="console=ttyS0 panic=-1", memory_mb=256, cpus=2, accel="tcg",
                  mac="52:54:00:7c:00:01", tap_fd=-1, console_path=Path("/w/node1.console.log"),
                  qmp_path=Path("/w/node1.qmp"), tap_name="tap1", workdir=Path("/w"))
    values.update(overrides)
    return VMConfig(**values)


def test_the_domain_is_the_qemu_backends_machine():
    domain = ET.fromstring(domain_xml(_config()))
    assert domain.get("type") == "qemu" and domain.find("cpu").get("mode") == "maximum"  # -accel tcg -cpu max
    assert domain.findtext("name") == "phc-gw0-deadbeef-node1"
    assert domain.findtext("memory") == "256" and domain.findtext("vcpu") == "2"
    os_ = domain.find("os")
    assert (os_.findtext("kernel"), os_.findtext("initrd"), os_.findtext("cmdline")) == \
        ("/k/bzImage", "/w/initrd", "console=ttyS0 panic=-1")
    assert os_.find("type").get("machine") == "q35"
    # a guest panic (panic=-1) resets the machine, and a reset ends the domain, as -no-reboot ends QEMU
    assert domain.findtext("on_reboot") == "destroy" and domain.findtext("on_crash") == "destroy"
    serial = domain.find("devices/serial")
    assert serial.get("type") == "file"
    assert serial.find("source").attrib == {"path": "/w/node1.console.log", "append": "on"}
    nic = domain.find("devices/interface")
    assert nic.get("type") == "bridge" and nic.find("source").get("bridge") == "br0"
    assert nic.find("target").get("dev") == "tap1" and nic.find("mac").get("address") == "52:54:00:7c:00:01"
    assert nic.find("rom").get("enabled") == "no"  # romfile=, as on QEMU


def test_kvm_and_text_that_is_not_xml():
    domain = ET.fromstring(domain_xml(_config(accel="kvm", cmdline="a='<b>' & c")))
    assert domain.get("type") == "kvm" and domain.find("cpu").get("mode") == "host-passthrough"
    assert domain.find("os").findtext("cmdline") == "a='<b>' & c"
    with pytest.raises(KeyError):
        domain_xml(_config(accel="auto"))  # always resolved before a VM is made


def test_the_daemon_lives_in_the_runs_work_dir():
    assert libvirtd.root_of(Path("/tmp/phc-gw0-deadbeef-x")) == Path("/tmp/phc-gw0-deadbeef-x/libvirt")
    assert libvirtd.uri_of(Path("/tmp/w")) == "qemu:///system?socket=/tmp/w/libvirt/run/libvirt-sock"
