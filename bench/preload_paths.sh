#!/usr/bin/env bash
# The interposer beside the mount and the C API, on the same 2 servers, interleaved:
#
#   bench/preload_paths.sh [FILES] [MIB] [REPS]
#
# bench/preload_paths.c creates, stats and removes FILES empty files, then writes MIB
# 1 MiB blocks to one file and reads them back, through: the C API (`api`); POSIX calls on
# the benchfs-fuse mount of the servers (`mount`); the same POSIX calls under
# LD_PRELOAD=libbenchfs_preload.so (`interposer`). Prints each line, the medians and the
# interposer's ratios to the mount and to the C API. For when IOR/mdtest are not built
# (bench/fuse_paths.sh runs them with an interposer column when they are).
#
# Needs root (FUSE) and a C compiler; uses target/release (BENCHFS_PROFILE=debug for
# target/debug), built with `cargo build --release -p benchfs -p benchfs-fuse -p benchfs-preload`.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-2000}
MIB=${2:-256}
REPS=${3:-3}
B=$PWD/target/${BENCHFS_PROFILE:-release}
W=$(mktemp -d /dev/shm/preload-paths.XXXXXX)
mkdir -p "$W/mnt"
# shellcheck source=bench/lib/servers.sh
. bench/lib/servers.sh
cleanup() {
  mountpoint -q "$W/mnt" && umount "$W/mnt"
  stop_servers
  rm -rf "$W"
}
trap cleanup EXIT
start_servers 2 "$W"
cc -O2 -o "$W/preload_paths" bench/preload_paths.c -Iinclude -L"$B" -lbenchfs -Wl,-rpath,"$B"
env -u BENCHFS_REGISTRY -u BENCHFS_SERVERS "$B/benchfs-fuse" --registry "$W/reg" "$W/mnt"
for _ in $(seq 50); do mountpoint -q "$W/mnt" && break; sleep 0.1; done

run() { # LABEL ARGS...: one line, kept for the summary
  local label=$1 out
  shift
  out=$("$@")
  printf '%-12s%s\n' "$label" "$out"
  printf '%s\t%s\n' "$label" "${out// /$'\t'}" >>"$W/results"
}
echo "            creates/s stats/s removes/s write-MiB/s read-MiB/s"
for rep in $(seq "$REPS"); do
  mkdir "$W/mnt/m$rep" "$W/mnt/i$rep" "$W/mnt/a$rep"
  run "api" env BENCHFS_REGISTRY="$W/reg" "$W/preload_paths" api "/a$rep" "$FILES" "$MIB"
  run "mount" "$W/preload_paths" posix "$W/mnt/m$rep" "$FILES" "$MIB"
  run "interposer" env LD_PRELOAD="$B/libbenchfs_preload.so" "$W/preload_paths" posix "$W/mnt/i$rep" "$FILES" "$MIB"
done
python3 bench/lib/ratios.py "$W/results" "files and 1 MiB blocks" creates,stats,removes,write,read interposer mount api
