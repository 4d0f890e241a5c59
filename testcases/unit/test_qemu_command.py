"""Unit tests of the QEMU command line (pure function)."""

from pathlib import Path

from harness.vm.backends.base import VMConfig
from harness.vm.backends.qemu import qemu_command


def _config(**overrides):
    values = dict(name="phc-gw0-deadbeef-node1", kernel=Path("/k/bzImage"), initrd=Path("/w/initrd"),
                  cmdline="console=ttyS0 panic=-1", memory_mb=256, cpus=1, accel="tcg",
                  mac="52:54:00:7c:00:01", tap_fd=7, console_path=Path("/w/node1.console.log"),
                  qmp_path=Path("/w/node1.qmp"))
    values.update(overrides)
    return VMConfig(**values)


def _value(cmd, flag):
    return cmd[cmd.index(flag) + 1]


def test_direct_kernel_boot_that_ends_on_panic():
    cmd = qemu_command(_config(), binary="qemu")
    assert _value(cmd, "-kernel") == "/k/bzImage" and _value(cmd, "-initrd") == "/w/initrd"
    assert "panic=-1" in _value(cmd, "-append")
    assert "-no-reboot" in cmd
    assert _value(cmd, "-accel") == "tcg" and _value(cmd, "-cpu") == "max"


def test_console_qmp_and_tap_fd():
    cmd = qemu_command(_config(), binary="qemu")
    assert _value(cmd, "-chardev") == "file,id=console,path=/w/node1.console.log,append=on"
    assert _value(cmd, "-qmp") == "unix:/w/node1.qmp,server=on,wait=off"
    assert _value(cmd, "-netdev") == "tap,id=net0,fd=7"
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:7c:00:01,romfile=" in cmd
    assert _value(cmd, "-name").startswith("phc-gw0-deadbeef-node1")


def test_gdb_stub_only_when_asked_and_on_a_unix_socket():
    assert "-gdb" not in qemu_command(_config(), binary="qemu")
    cmd = qemu_command(_config(gdb_socket=Path("/w/node1.gdb")), binary="qemu")
    assert _value(cmd, "-gdb") == "chardev:gdb"
    assert "socket,id=gdb,path=/w/node1.gdb,server=on,wait=off" in cmd and "tcp:" not in " ".join(cmd)


def test_qemu_runs_in_its_seccomp_sandbox():
    assert _value(qemu_command(_config(), binary="qemu"), "-sandbox") == \
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"


def test_kvm_uses_the_host_cpu():
    cmd = qemu_command(_config(accel="kvm"), binary="qemu")
    assert _value(cmd, "-accel") == "kvm" and _value(cmd, "-cpu") == "host"


def test_a_restore_loads_its_state_from_the_given_fd_and_stays_paused():
    assert "-incoming" not in qemu_command(_config(), binary="qemu")
    restore = _config(incoming_state=Path("/w/snapshot/node1.state"))
    cmd = qemu_command(restore, binary="qemu", incoming_fd=9)
    assert _value(cmd, "-incoming") == "fd:9" and "-S" in cmd
    assert cmd[:-3] == qemu_command(_config(), binary="qemu"), \
        "a restore's machine must be the one whose state it loads"
