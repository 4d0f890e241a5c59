"""popcorn-harness: build, boot and test Popcorn Linux clusters of QEMU VMs."""

__version__ = "0.1.0"
