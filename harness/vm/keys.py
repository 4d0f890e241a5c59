"""Per-run SSH keys: a dropbear host key for the guests and an ed25519 client key for the harness."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class RunKeys:
    """Paths and public halves of one run's keys."""

    host_key: Path  # dropbear format, goes into the guest
    host_public: str  # "ssh-ed25519 AAAA..." pinned by the client
    client_key: Path  # OpenSSH private key, stays on the host
    client_public: str  # goes into the guests' authorized_keys


def generate_keys(directory: Path) -> RunKeys:
    """Create a fresh host key and client key in ``directory`` (mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    host_key = directory / "host_key"
    subprocess.run(["dropbearkey", "-t", "ed25519", "-f", str(host_key)], check=True, capture_output=True)
    out = subprocess.run(["dropbearkey", "-y", "-f", str(host_key)], check=True, capture_output=True, text=True)
    host_public = next(line for line in out.stdout.splitlines() if line.startswith("ssh-"))
    host_public = " ".join(host_public.split()[:2])

    private = Ed25519PrivateKey.generate()
    client_key = directory / "client_key"
    client_key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    client_key.chmod(0o600)
    client_public = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return RunKeys(host_key, host_public, client_key, client_public)
