#!/usr/bin/env bash
# popcorn-harness set-up and entry point. Idempotent: installs only what is missing.
#
#   ./setup.sh              install the system packages and the Python project
#   ./setup.sh run [ARGS]   install, then the main job: popcorn-harness run ARGS
#                           (set POPCORN_SRC=/path/or/git-url to test a Popcorn kernel; --stock otherwise)
#   ./setup.sh test [ARGS]  install, build the CI kernel (cached), then: pytest -n 8 testcases/ ARGS
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  qemu-system-x86 qemu-utils busybox-static dropbear-bin iproute2 kmod cpio util-linux
  gcc make flex bison bc libelf-dev libssl-dev ccache xz-utils patch git
  linux-source-6.1
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_system() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

install_python() {
  # (Re)install when a dependency is missing or the installed harness is another checkout's.
  local here; here="$(pwd)/harness/__init__.py"
  if [ "$(cd / && python3 -c "import harness, paramiko, pyroute2, qemu.qmp, rich, xdist, pytest_timeout, jinja2
print(harness.__file__)" 2>/dev/null)" != "$here" ] || ! command -v popcorn-harness >/dev/null; then
    echo "setup: installing the popcorn-harness Python project" >&2
    python3 -m pip install -q --disable-pip-version-check -e .
  fi
}

ci_kernel() {
  # The CI kernel: Debian's linux-source-6.1 with the guest and debug fragments, built by the harness.
  popcorn-harness kernel build --source /usr/src/linux-source-6.1.tar.xz \
    --fragment qemu-guest --fragment debug | tail -n 1
}

install_system
install_python
case "${1:-}" in
  run) shift; exec popcorn-harness run "$@" ;;
  test)
    shift
    POPCORN_HARNESS_KERNEL="${POPCORN_HARNESS_KERNEL:-$(ci_kernel)}"
    export POPCORN_HARNESS_KERNEL
    echo "setup: testing with kernel $POPCORN_HARNESS_KERNEL" >&2
    exec python3 -m pytest -n 8 testcases/ "$@" ;;
  "") echo "setup: done. Next: ./setup.sh run --stock   or   ./setup.sh test" >&2 ;;
  *) echo "setup: unknown action '$1' (run, test)" >&2; exit 2 ;;
esac
