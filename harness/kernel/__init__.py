"""Kernels: locating a bootable image and its modules, fetching a stock one, building one."""
