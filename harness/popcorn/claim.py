"""Whether a kernel is *given as* Popcorn, before anything boots: then a failed detection is an error.

A kernel artifact claims Popcorn when it carries a Popcorn message-layer module (``msg_socket.ko`` in
any ABI profile's place) or its ``manifest.json`` says it was built with the ``popcorn`` config fragment.
Detection on the booted cluster (``harness.popcorn.bringup.detect``) then has to agree: a Popcorn claim
with a kernel that does not answer as Popcorn (wrong ABI profile, a syscall answering ENOSYS, module
missing) is a failed run, never a silent skip of every Popcorn test.
"""

from __future__ import annotations

import json

from harness.errors import HarnessError
from harness.kernel.artifact import locate_kernel
from harness.kernel.manifest import MANIFEST_NAME
from harness.popcorn.abi import PROFILES
from harness.popcorn.bringup import module_paths


def popcorn_claim(kernel: str) -> str:
    """Why ``kernel`` (a bzImage or artifact dir) is given as a Popcorn kernel, or "" when it is not."""
    if not kernel:
        return ""
    try:
        image = locate_kernel(kernel)
    except HarnessError:
        return ""
    paths = module_paths(image.modules_root)
    for profile in PROFILES.values():
        suffix = f"{profile.module_dir}/{profile.module}.ko"
        if any(path.endswith(suffix) for path in paths):
            return f"its modules include {suffix}"
    manifest = image.file(MANIFEST_NAME)
    if manifest is not None:
        try:
            fragments = [f.get("name") for f in json.loads(manifest.read_text())["config"]["fragments"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            fragments = []
        if "popcorn" in fragments:
            return "it was built with the popcorn config fragment (manifest.json)"
    return ""
