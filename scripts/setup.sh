#!/usr/bin/env bash
# Installs what BenchFS needs on a Debian/Ubuntu machine: the build toolchain's
# system packages, FUSE, and (with --test) the tools the test suite drives: every
# tool that BENCHFS_REQUIRE=all (set by scripts/test.sh) makes the tests demand
# (the list is ALL in benchfs-testkit/src/require.rs; keep the two in step).
# Idempotent: installed packages are skipped. Needs root (or sudo) for apt.
set -euo pipefail

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

pkgs=(build-essential pkg-config fuse3)
if ((want_test)); then
  # build-essential already brings cc, c++, readelf and nm (the C API tests); fuse3
  # brings fusermount3; util-linux unshare, setpriv, mountpoint; openmpi-bin mpirun;
  # git and rsync run on the mount (benchfs-fuse/tests/links_tools.rs).
  pkgs+=(fio valgrind bindfs shellcheck iproute2 procps psmisc util-linux hostname openmpi-bin python3-matplotlib git rsync)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 1
fi

if ((want_test)) && ! command -v fsx >/dev/null; then
  echo "setup: installing fsx (the File System eXerciser) from crates.io"
  cargo install --quiet --locked fsx || cargo install --quiet fsx
fi

# FUSE needs the device node; containers sometimes lack it.
if [[ ! -e /dev/fuse ]]; then
  echo "setup: warning: /dev/fuse is missing; FUSE mounts (and their tests) will not work" >&2
fi
echo "setup: done"
