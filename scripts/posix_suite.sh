#!/usr/bin/env bash
# An external POSIX suite on tmpfs and on BenchFS, case by case (issue 22):
#
#   BENCHFS_PJDFSTEST_BIN=/path/to/pjdfstest scripts/posix_suite.sh [PATTERN...]
#
# BENCHFS_PJDFSTEST_BIN is the Rust pjdfstest (github.com/saidsay-so/pjdfstest, `rust/`,
# `cargo build --release`); this script neither fetches nor builds it. It runs the suite
# as root on a fresh tmpfs, then on `benchfs-fuse --allow-other` over 3 benchfsd on
# 127.0.0.1, with the same configuration, and prints each side's summary, then every case
# whose result differs (a case is one line of the suite's report: `rename::ctime::dir`).
# It exits 0 when no case that passes on tmpfs fails on BenchFS.
#
# The suite switches to two unprivileged users; BENCHFS_PJDFSTEST_USERS names them
# ("user:group user:group", default "nobody:nogroup daemon:daemon"; they must exist).
# Binaries come from BENCHFS_BIN_DIR (default target/release, then target/debug).
# The per-case reports stay in the work directory it prints when BENCHFS_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PJD=${BENCHFS_PJDFSTEST_BIN:?set BENCHFS_PJDFSTEST_BIN to the Rust pjdfstest binary}
B=${BENCHFS_BIN_DIR:-}
if [ -z "$B" ]; then
  B=$PWD/target/release
  [ -x "$B/benchfs-fuse" ] || B=$PWD/target/debug
fi
for exe in benchfsd benchfs-fuse; do
  [ -x "$B/$exe" ] || { echo "posix_suite: no $B/$exe (cargo build first)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "posix_suite: run as root (the suite changes owners)" >&2; exit 2; }
read -r -a users <<<"${BENCHFS_PJDFSTEST_USERS:-nobody:nogroup daemon:daemon}"
[ "${#users[@]}" = 2 ] || { echo "posix_suite: BENCHFS_PJDFSTEST_USERS needs two user:group" >&2; exit 2; }

W=$(mktemp -d /dev/shm/posix-suite.XXXXXX)
# The unprivileged users must reach both directories (mktemp made $W 0700).
chmod 0755 "$W"
mkdir -p "$W/tmpfs" "$W/mnt"
# shellcheck source=bench/lib/servers.sh
. bench/lib/servers.sh
cleanup() {
  for m in "$W/mnt" "$W/tmpfs"; do
    if mountpoint -q "$m"; then umount "$m" || umount -l "$m"; fi
  done
  stop_servers
  if [ "${BENCHFS_KEEP:-}" = 1 ]; then
    rm -rf "$W"/s[0-9]* "$W/reg"
    echo "posix_suite: reports kept in $W"
  else
    rm -rf "$W"
  fi
}
trap cleanup EXIT

# naptime: the suite's sleep between a change and the stat that should see new times.
# tmpfs stamps times from the coarse clock (a tick, up to 4 ms), so 1 ms lets tmpfs
# itself fail a dozen time cases; 10 ms lets every case tmpfs can pass, pass.
{
  echo '[features]'
  for f in posix_fallocate utimensat utime_now rename_ctime; do echo "$f = {}"; done
  echo '[settings]'
  echo 'naptime = 0.01'
  echo 'allow_remount = false'
  echo '[dummy_auth]'
  echo 'entries = ['
  for u in "${users[@]}"; do echo "  [\"${u%%:*}\", \"${u#*:}\"],"; done
  echo ']'
} >"$W/pjdfstest.toml"

run_suite() { # NAME DIR
  (cd "$2" && "$PJD" -c "$W/pjdfstest.toml" -p "$2" "${@:3}" >"$W/$1.out" 2>&1) || true
  sed -nE 's/^([A-Za-z0-9_:]+) +(ok|FAILED|skipped)$/\1 \2/p' "$W/$1.out" | sort >"$W/$1.cases"
  printf '%-8s %s\n' "$1" "$(grep '^Summary' "$W/$1.out" || echo 'no summary (see the report)')"
}

mount -t tmpfs -o mode=0755 tmpfs "$W/tmpfs"
run_suite tmpfs "$W/tmpfs" "$@"

start_servers 3 "$W"
env -u BENCHFS_SERVERS "$B/benchfs-fuse" --registry "$W/reg" --allow-other "$W/mnt"
for _ in $(seq 50); do mountpoint -q "$W/mnt" && break; sleep 0.1; done
mountpoint -q "$W/mnt" || { echo "posix_suite: benchfs-fuse did not mount" >&2; exit 1; }
run_suite benchfs "$W/mnt" "$@"

echo
echo "cases whose result differs (tmpfs -> BenchFS):"
join -a1 -a2 -e missing -o 0,1.2,2.2 "$W/tmpfs.cases" "$W/benchfs.cases" |
  awk '$2 != $3 { printf "  %-70s %s -> %s\n", $1, $2, $3 }'
tmpfs_ok=$(grep -c ' ok$' "$W/tmpfs.cases" || true)
both_ok=$(join "$W/tmpfs.cases" "$W/benchfs.cases" | awk '$2 == "ok" && $3 == "ok"' | wc -l)
echo
echo "BenchFS passes $both_ok of the $tmpfs_ok cases tmpfs passes"
[ "$both_ok" = "$tmpfs_ok" ]
