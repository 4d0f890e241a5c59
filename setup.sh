#!/usr/bin/env bash
# popcorn-harness set-up and entry point. Idempotent: installs only what is missing.
#
#   ./setup.sh              install the system packages and the Python project
#   ./setup.sh run [ARGS]   install, then the main job: popcorn-harness run ARGS
#                           (set POPCORN_SRC=/path/or/git-url to test a Popcorn kernel; --stock otherwise)
#   ./setup.sh test [ARGS]  install, build the CI kernel (cached), then: pytest -n 8 testcases/ ARGS (the
#                           harness's own tests; five of its suites on --backend libvirt after), then the Popcorn
#                           suites on a Popcorn kernel when one is given:
#                           POPCORN_KERNEL=artifact dir or bzImage, or POPCORN_SRC=tree or git URL (built, cached),
#                           on both backends at once (POPCORN_BACKENDS, default "qemu libvirt"; libvirt's clusters
#                           across POPCORN_LIBVIRT_HOSTS emulated hosts, default 2), verdicts compared
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  qemu-system-x86 qemu-utils busybox-static dropbear-bin iproute2 kmod cpio util-linux
  gcc make flex bison bc libelf-dev libssl-dev ccache xz-utils patch git gdb tmux
  linux-source-6.1
  # the libvirt backend: the daemon and its QEMU driver (not libvirt-daemon-system: it brings polkit and
  # a NAT network), virsh, and what libvirt-python compiles against
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config
  # partitions of a cluster across hosts (nftables rules on each host's bridge; here the emulated hosts)
  nftables
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
  if [ "$(cd / && python3 -c "import harness, paramiko, pyroute2, qemu.qmp, rich, xdist, pytest_timeout, jinja2, scipy, matplotlib, libvirt
print(harness.__file__)" 2>/dev/null)" != "$here" ] || ! command -v popcorn-harness >/dev/null; then
    echo "setup: installing the popcorn-harness Python project" >&2
    python3 -m pip install -q --disable-pip-version-check -e '.[bench,libvirt]'
  fi
}

install_libvirt_user() {
  # libvirtd resolves its built-in QEMU user at start even when QEMU runs as root (the harness's daemons)
  getent passwd libvirt-qemu >/dev/null || as_root useradd --system --user-group --no-create-home \
    --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu
}

ci_kernel() {
  # The CI kernel: Debian's linux-source-6.1 with the guest and debug fragments, built by the harness.
  popcorn-harness kernel build --source /usr/src/linux-source-6.1.tar.xz \
    --fragment qemu-guest --fragment debug | tail -n 1
}

popcorn_kernel() {
  # The Popcorn kernel to judge: POPCORN_KERNEL as given, or built from POPCORN_SRC (cached); else "".
  if [ -n "${POPCORN_KERNEL:-}" ]; then
    echo "$POPCORN_KERNEL"
  elif [ -n "${POPCORN_SRC:-}" ]; then
    popcorn-harness kernel build --source "$POPCORN_SRC" ${POPCORN_REF:+--ref "$POPCORN_REF"} \
      --fragment qemu-guest --fragment popcorn --fragment popcorn-debug | tail -n 1
  fi
}

run_popcorn_suites() {
  # The Popcorn suites on kernel $1 on each backend of POPCORN_BACKENDS (default: qemu libvirt) at once,
  # two workers each; then the parity of their verdicts. The first backend's output goes to the terminal,
  # the others' to artifacts/popcorn-BACKEND/run.log (printed after). All use one fault and stress seed
  # (POPCORN_SEED, default random), so the runs make the same choices. The libvirt run's clusters span
  # POPCORN_LIBVIRT_HOSTS hosts emulated on this machine (default 2; 1: this machine only), so the whole
  # suite also runs across hosts. Returns non-zero if any run failed or two runs gave a test different verdicts.
  local kernel="$1" rc=0 first="" backend pids=() backends seed="${POPCORN_SEED:-$(( (RANDOM << 15) | RANDOM ))}"
  local hosts="${POPCORN_LIBVIRT_HOSTS:-2}"
  read -r -a backends <<< "${POPCORN_BACKENDS:-qemu libvirt}"
  suites_on() {
    popcorn-harness run --kernel "$kernel" --backend "$1" --artifacts "artifacts/popcorn-$1" -n 2 \
      $([ "$1" = libvirt ] && [ "$hosts" -gt 1 ] && echo "--emulated-hosts $hosts") -- --seed="$seed"
  }
  for backend in "${backends[@]}"; do
    mkdir -p "artifacts/popcorn-$backend"
    if [ -z "$first" ]; then
      first="$backend"
      suites_on "$backend" &
    else
      suites_on "$backend" > "artifacts/popcorn-$backend/run.log" 2>&1 &
    fi
    pids+=($!)
  done
  for i in "${!backends[@]}"; do
    local code=0
    wait "${pids[$i]}" || code=$?
    [ "${backends[$i]}" = "$first" ] || { echo "setup: --backend ${backends[$i]}:" >&2; cat "artifacts/popcorn-${backends[$i]}/run.log"; }
    echo "setup: Popcorn suites on --backend ${backends[$i]}: exit $code" >&2
    [ "$code" = 0 ] || rc=1
  done
  for backend in "${backends[@]:1}"; do
    python3 scripts/compare_verdicts.py --names "$first" "$backend" \
      "artifacts/popcorn-$first/junit.xml" "artifacts/popcorn-$backend/junit.xml" || rc=1
  done
  return "$rc"
}

#: The harness's own suites that run on the libvirt backend too (the qemu backend's run is pytest -n 8 testcases/).
LIBVIRT_SUITES=(testcases/test_cluster.py testcases/test_faults.py testcases/test_crash_detection.py
  testcases/test_hang_watchdog.py testcases/test_repro.py)

run_tests() {
  # The harness's own tests on the CI kernel (its cluster, fault, crash-detection, watchdog and repro suites
  # on the libvirt backend too), then the Popcorn suites on the Popcorn kernel (if any) on both backends.
  local harness_rc=0 popcorn_rc=0 popcorn
  POPCORN_HARNESS_KERNEL="${POPCORN_HARNESS_KERNEL:-$(ci_kernel)}"
  export POPCORN_HARNESS_KERNEL
  popcorn="$(popcorn_kernel)"
  echo "setup: testing the harness with kernel $POPCORN_HARNESS_KERNEL" >&2
  python3 -m pytest -n 8 testcases/ "$@" || harness_rc=$?
  echo "setup: the harness's cluster, fault, crash-detection, watchdog and repro suites on --backend libvirt" >&2
  python3 -m pytest -n 2 --backend=libvirt "${LIBVIRT_SUITES[@]}" --artifacts=artifacts/harness-libvirt \
    --junitxml=artifacts/harness-libvirt/junit.xml || harness_rc=$?
  if [ -n "$popcorn" ]; then
    echo "setup: testing the Popcorn kernel $popcorn on ${POPCORN_BACKENDS:-qemu libvirt}" >&2
    run_popcorn_suites "$popcorn" || popcorn_rc=$?
    echo "setup: harness tests exit $harness_rc, Popcorn suites exit $popcorn_rc" >&2
  else
    echo "setup: harness tests exit $harness_rc; no Popcorn test ran: no Popcorn kernel given" \
      "(set POPCORN_KERNEL to a Popcorn kernel artifact dir or bzImage, or POPCORN_SRC to a Popcorn tree)" >&2
  fi
  [ "$harness_rc" = 0 ] && [ "$popcorn_rc" = 0 ]
}

install_system
install_python
install_libvirt_user
case "${1:-}" in
  run) shift; exec popcorn-harness run "$@" ;;
  test) shift; run_tests "$@" ;;
  "") echo "setup: done. Next: ./setup.sh run --stock   or   ./setup.sh test" >&2 ;;
  *) echo "setup: unknown action '$1' (run, test)" >&2; exit 2 ;;
esac
