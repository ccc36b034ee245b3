#!/usr/bin/env bash
# mdtest through every path side by side, in one run, interleaved (issue 14's table):
#
#   BENCHFS_MDTEST_BIN=/path/to/mdtest bench/fuse_paths.sh [FILES_PER_RANK] [REPS]
#
# For each repetition: `-a BENCHFS` (the C API) on 2 benchfsd; `-a POSIX` on benchfs-fuse
# over those servers, by default and with --runtime-threads 2 --threads 1 (requests as
# runtime tasks, the mount before issue 14); the same two on the embedded server; bindfs
# over tmpfs; tmpfs; and `-a POSIX` under the interposer (LD_PRELOAD=libbenchfs_preload.so)
# on the default mount of the servers. mdtest -n FILES -u with 2 MPI ranks. Prints the creation, stat and
# removal rates of each line, then the medians and the issue's ratios (each mount line
# against bindfs and against the C API, median against median).
#
# With BENCHFS_IOR_BIN also set, then IOR 1 MiB transfers (-b IOR_BLOCK per rank, default
# 128m; -w -r -C -e: fsync after writing, and the read of a file closed since, which the
# mount reads from the servers), file per process and one shared file with 2 ranks, and one
# process alone, through the C API, the mount of the same servers, and that mount with
# --direct-io, and that mount under the interposer (one process also on tmpfs); then
# medians and each mount and interposer line against the C API (and tmpfs).
#
# Needs root (FUSE, bindfs), mpirun, bindfs, and an IOR/mdtest built with
# ior_integration/install-into-ior.sh against target/release.
set -euo pipefail
cd "$(dirname "$0")/.."
MD=${BENCHFS_MDTEST_BIN:?set BENCHFS_MDTEST_BIN to an mdtest built with the BENCHFS backend}
N=${1:-2000}
REPS=${2:-3}
B=$PWD/target/release
export LD_LIBRARY_PATH=$B OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun -np 2 --oversubscribe --bind-to none)
W=$(mktemp -d /dev/shm/fuse-paths.XXXXXX)
mkdir -p "$W/mnt" "$W/bind" "$W/bsrc" "$W/native"
# shellcheck source=bench/lib/servers.sh
. bench/lib/servers.sh
cleanup() {
  for m in "$W/mnt" "$W/bind"; do mountpoint -q "$m" && umount "$m"; done
  stop_servers
  rm -rf "$W"
}
trap cleanup EXIT
start_servers 2 "$W"
bindfs "$W/bsrc" "$W/bind"

LABEL=
rates() { # prints one line's rates and keeps them for the summary
  grep -E "^ +File (creation|stat|removal)" | awk -v label="$LABEL" -v out="$W/results" \
    '{printf "%s %10.0f  ", $2, $4; r[$2]=$4} END{print ""; printf "%s\t%s\t%s\t%s\n", label, r["creation"], r["stat"], r["removal"] >> out}'
}
mount_on() { # ARGS...: mount benchfs-fuse on $W/mnt
  env -u BENCHFS_REGISTRY -u BENCHFS_SERVERS "$B/benchfs-fuse" "$W/mnt" "$@"
  for _ in $(seq 50); do mountpoint -q "$W/mnt" && return; sleep 0.1; done
  echo "benchfs-fuse did not mount" >&2
  exit 1
}
run_posix() { # LABEL DIR [MPI FLAGS...]
  LABEL=$1
  printf '%-24s' "$1"
  "${MPI[@]}" "${@:3}" "$MD" -a POSIX -n "$N" -u -d "$2" 2>&1 | rates
}
PRELOAD=(-x "LD_PRELOAD=$B/libbenchfs_preload.so")
for rep in $(seq "$REPS"); do
  echo "repetition $rep"
  LABEL="C API (-a BENCHFS)"
  printf '%-24s' "$LABEL"
  BENCHFS_REGISTRY=$W/reg "${MPI[@]}" "$MD" -a BENCHFS -n "$N" -u -d "/md$rep" 2>&1 | rates
  for mode in "" "--threads 1 --runtime-threads 2"; do
    label=${mode:+ (tasks)}
    # shellcheck disable=SC2086 # $mode is a list of flags
    mount_on --registry "$W/reg" $mode
    run_posix "fuse, 2 servers$label" "$W/mnt/md$rep"
    [ -z "$mode" ] && run_posix "interposer, 2 servers" "$W/mnt/ip$rep" "${PRELOAD[@]}"
    umount "$W/mnt"
    rm -rf "$W/emb"
    # shellcheck disable=SC2086
    mount_on --data-dir "$W/emb" $mode
    run_posix "fuse, embedded$label" "$W/mnt/md$rep"
    umount "$W/mnt"
  done
  run_posix "bindfs over tmpfs" "$W/bind/md$rep"
  run_posix "tmpfs" "$W/native/md$rep"
done
python3 bench/lib/ratios.py "$W/results" mdtest creation,stat,removal fuse "bindfs over tmpfs" "C API (-a BENCHFS)"
python3 bench/lib/ratios.py "$W/results" mdtest creation,stat,removal interposer "fuse, 2 servers" "C API (-a BENCHFS)"

[ -n "${BENCHFS_IOR_BIN:-}" ] || { echo "IOR skipped: BENCHFS_IOR_BIN is not set"; exit 0; }
ior_rates() { # prints one IOR line's bandwidths (the summary's Max) and keeps them
  awk -v label="$LABEL" -v out="$W/ior" '/^(write|read) +[0-9]/ {r[$1] = $2}
    END {printf "%-40s write %8.0f  read %8.0f MiB/s\n", label, r["write"], r["read"];
         printf "%s\t%s\t%s\n", label, r["write"], r["read"] >> out}'
}
IOR_ARGS=(-t 1m -b "${IOR_BLOCK:-128m}" -w -r -C -e)
echo
for rep in $(seq "$REPS"); do
  echo "IOR repetition $rep"
  for layout in "file per process" "shared file" "one process"; do
    F=() NP=(-np 2)
    case $layout in
      "file per process") F=(-F) ;;
      "one process") NP=(-np 1) ;;
    esac
    RUN=(mpirun "${NP[@]}" --oversubscribe --bind-to none "$BENCHFS_IOR_BIN")
    LABEL="C API, $layout"
    BENCHFS_REGISTRY=$W/reg "${RUN[@]}" -a BENCHFS "${IOR_ARGS[@]}" "${F[@]}" -o "/ior$rep${F[*]}${NP[1]}" 2>&1 | ior_rates
    for mode in "" "--direct-io"; do
      # shellcheck disable=SC2086 # $mode is a flag or nothing
      mount_on --registry "$W/reg" $mode
      LABEL="mount${mode:+ $mode}, $layout"
      "${RUN[@]}" -a POSIX "${IOR_ARGS[@]}" "${F[@]}" -o "$W/mnt/ior$rep" 2>&1 | ior_rates
      rm -f "$W/mnt/ior$rep"*
      if [ -z "$mode" ]; then
        LABEL="interposer, $layout"
        mpirun "${NP[@]}" --oversubscribe --bind-to none "${PRELOAD[@]}" "$BENCHFS_IOR_BIN" -a POSIX \
          "${IOR_ARGS[@]}" "${F[@]}" -o "$W/mnt/ip$rep" 2>&1 | ior_rates
        rm -f "$W/mnt/ip$rep"*
      fi
      umount "$W/mnt"
    done
    if [ "$layout" = "one process" ]; then
      LABEL="tmpfs, $layout"
      "${RUN[@]}" -a POSIX "${IOR_ARGS[@]}" -o "$W/native/ior$rep" 2>&1 | ior_rates
      rm -f "$W/native/ior$rep"*
    fi
  done
done
python3 bench/lib/ratios.py "$W/ior" IOR write,read mount "C API, *" "tmpfs, *"
python3 bench/lib/ratios.py "$W/ior" IOR write,read interposer "C API, *" "mount, *"
