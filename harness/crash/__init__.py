"""Crash detection: kernel reports on node consoles become findings (title, type, node, test).

- ``report``: the ``Finding`` data and the table of finding types;
- ``patterns``: the crash table (headers, title formats, culprit sources), modelled on syzkaller;
- ``parser``: console text -> findings, driven by that table;
- ``symbolize``: raw addresses -> ``func+0xoff`` from the kernel's System.map;
- ``task_dump``: a sysrq task dump -> tasks, their call traces and wait channels;
- ``taint``: /proc/sys/kernel/tainted decoded and compared before/after a test;
- ``watch``: what happened on a cluster's kernels during one test;
- ``plugin``: the pytest side (fail on findings, ``expect_crash``);
- ``lkdtm``: provoke failures on purpose through LKDTM.
"""
