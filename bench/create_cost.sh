#!/usr/bin/env bash
# Where a create through the mount of a cluster spends its time: CPU and context switches
# per create of each process (the mount's daemon, each benchfsd), and system-wide context
# switches per create, around 2 processes each creating N empty files (open O_CREAT + close)
# in a directory of their own, as `mdtest -u` does.
#
#   bench/create_cost.sh [N] [MOUNT_FLAGS...]
#
# With PERF=1 it also records the daemon (PERF=server: the first benchfsd) with
# `perf record -g` into create_cost.perf.data for `perf report`. Needs root (FUSE), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000}
shift || true
B=$PWD/target/release
W=$(mktemp -d /dev/shm/create-cost.XXXXXX)
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
env -u BENCHFS_REGISTRY -u BENCHFS_SERVERS "$B/benchfs-fuse" "$W/mnt" --registry "$W/reg" "$@"
for _ in $(seq 50); do mountpoint -q "$W/mnt" && break; sleep 0.1; done
daemon=$(pgrep -n -f "benchfs-fuse $W/mnt")
mkdir "$W/mnt/d0" "$W/mnt/d1"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
system_switches() { awk '/^ctxt/ {print $2}' /proc/stat; }
procs=("$daemon" "${servers[@]}")
declare -A cpu0 sw0
for p in "${procs[@]}"; do cpu0[$p]=$(cpu_ticks "$p"); sw0[$p]=$(switches "$p"); done
case ${PERF:-} in
  "") ;;
  server) perf record -F 2000 -g -p "${servers[0]}" -o create_cost.perf.data 2>/dev/null & perf_pid=$! ;;
  *) perf record -F 2000 -g -p "$daemon" -o create_cost.perf.data 2>/dev/null & perf_pid=$! ;;
esac
s0=$(system_switches)
t0=$(date +%s.%N)
creators=()
for d in d0 d1; do
  python3 -c '
import os, sys
for i in range(int(sys.argv[2])):
    os.close(os.open(f"{sys.argv[1]}/f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
' "$W/mnt/$d" "$N" &
  creators+=($!)
done
wait "${creators[@]}"
t1=$(date +%s.%N)
s1=$(system_switches)
if [ -n "${PERF:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
total=$((2 * N))
hz=$(getconf CLK_TCK)
python3 - "$total" "$t0" "$t1" "$s0" "$s1" <<PY
import sys
n, t0, t1, s0, s1 = int(sys.argv[1]), *map(float, sys.argv[2:4]), *map(int, sys.argv[4:6])
print(f"{n} creates: {n / (t1 - t0):,.0f} creates/s, {(s1 - s0) / n:.1f} context switches per create (whole machine)")
PY
for p in "${procs[@]}"; do
  us=$(( ($(cpu_ticks "$p") - ${cpu0[$p]}) * 1000000 / hz / total ))
  sw=$(( ($(switches "$p") - ${sw0[$p]}) * 10 / total ))
  printf '%-12s pid %-7s %4d us CPU, %d.%d switches per create\n' "$(cat /proc/"$p"/comm)" "$p" "$us" $((sw / 10)) $((sw % 10))
done
