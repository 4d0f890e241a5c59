"""A VM's console is read from where a watcher stood, and its tail from the file's end: never the whole
file again (a guest that printed for hours has a console of hundreds of megabytes)."""

import os

from harness.vm.backends.base import CONSOLE_TAIL_BYTES, VMConfig
from harness.vm.backends.qemu import QemuBackend


def _vm(tmp_path):
    config = VMConfig(name="phc-x-0badc0de-node0", kernel=tmp_path / "bzImage", initrd=tmp_path / "initrd",
                      cmdline="", memory_mb=256, cpus=1, accel="tcg", mac="52:54:00:7c:00:00", tap_fd=-1,
                      console_path=tmp_path / "console.log", qmp_path=tmp_path / "qmp.sock")
    return QemuBackend().attach(config, os.getpid())


def test_since_reads_only_what_came_after_the_offset_and_tail_only_the_end(tmp_path, monkeypatch):
    vm = _vm(tmp_path)
    assert (vm.console_size(), vm.console_since(0), vm.console_tail()) == (0, "", "")  # no console yet
    old = b"x" * 1000 + b"\n"
    with open(vm.config.console_path, "wb") as console:
        console.write(old * 2048)  # 2 MB the watchers have seen
    mark = vm.console_size()
    assert mark == len(old) * 2048
    with open(vm.config.console_path, "ab") as console:
        console.write("[    9.0] caf\u00e9 line one\n[    9.1] line two\n".encode())
    assert vm.console_since(mark) == "[    9.0] caf\u00e9 line one\n[    9.1] line two\n"
    reads = []
    real_open = type(vm.config.console_path).open

    def counting_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        real_read = handle.read
        handle.read = lambda *a: reads.append(len(data := real_read(*a))) or data
        return handle

    monkeypatch.setattr(type(vm.config.console_path), "open", counting_open)
    assert vm.console_tail(2) == "[    9.0] caf\u00e9 line one\n[    9.1] line two"
    assert reads == [CONSOLE_TAIL_BYTES], "the tail read more than the console's end"
