#!/usr/bin/env bash
# mdtest (and, with BENCHFS_IOR_BIN, IOR) through the C API against two builds of BenchFS,
# alternating, in one run: each build's own benchfsd (2 servers on /dev/shm) and its own
# libbenchfs.so, the same benchmark binaries. For "before and after" figures of a change:
#
#   git worktree add --detach /tmp/old REV && (cd /tmp/old && cargo build --release --lib --bin benchfsd)
#   BENCHFS_MDTEST_BIN=/path/to/mdtest [BENCHFS_IOR_BIN=/path/to/ior] \
#     bench/compare_builds.sh /tmp/old/target/release target/release [FILES] [REPS]
#
# mdtest and ior must be built with ior_integration/install-into-ior.sh. They link
# libbenchfs.so with a RUNPATH, which LD_LIBRARY_PATH (set here per build) overrides; the
# script checks with ldd that each build's binaries resolve to that build's library.
#
# Each repetition runs, per build (old, then new, on fresh servers):
#   mdtest -n FILES -u, 2 ranks: creation, stat and removal rates (ops/s);
#   ior -t 1m -b BLOCK -w -r -C -e, 2 ranks, file per process (-F) and one shared file:
#   write and read bandwidth (MiB/s). BLOCK is BENCHFS_IOR_BLOCK (default 512m per rank).
# Odd repetitions run old first, even ones new first. It prints each repetition's figures,
# then per metric each build's min, median and max and new/old of the medians and of the
# maxima (above 1: new is faster).
set -euo pipefail
MD=${BENCHFS_MDTEST_BIN:?set BENCHFS_MDTEST_BIN to an mdtest built with the BENCHFS backend}
IOR=${BENCHFS_IOR_BIN:-}
BLOCK=${BENCHFS_IOR_BLOCK:-512m}
usage="usage: compare_builds.sh OLD_RELEASE_DIR NEW_RELEASE_DIR [FILES] [REPS]"
OLD=$(realpath "${1:?$usage}")
NEW=$(realpath "${2:?$usage}")
N=${3:-2000}
REPS=${4:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=$(mktemp -d /dev/shm/compare-builds.XXXXXX)
# shellcheck source=bench/lib/servers.sh
. "$(dirname "$0")/lib/servers.sh"
trap 'stop_servers; rm -rf "$W"' EXIT

# A binary linked with DT_RPATH instead of RUNPATH would ignore LD_LIBRARY_PATH and
# measure the same library twice: refuse that rather than print a false comparison.
for bin in "$OLD" "$NEW"; do
  [[ -x $bin/benchfsd && -f $bin/libbenchfs.so ]] || { echo "$bin: no benchfsd or libbenchfs.so" >&2; exit 1; }
  for exe in "$MD" ${IOR:+"$IOR"}; do
    lib=$(LD_LIBRARY_PATH=$bin ldd "$exe" 2>/dev/null | awk '$1 == "libbenchfs.so" {print $3}') || true
    if [[ $(realpath -m "${lib:-none}") != "$bin/libbenchfs.so" ]]; then
      echo "$exe loads '$lib' with LD_LIBRARY_PATH=$bin, not $bin/libbenchfs.so" >&2
      exit 1
    fi
  done
done

# run LOG CMD...: runs a 2-rank MPI job with its output in LOG; on failure shows the
# log's tail (the work dir is removed on exit) and stops the script.
run() {
  local log=$1
  shift
  if ! mpirun -np 2 --oversubscribe --bind-to none "$@" >"$log" 2>&1; then
    echo "failed: $*" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}

# record BUILD METRIC VALUE: prints the figure and keeps it for the summary.
record() {
  printf '  %s %8.0f' "$2" "$3"
  echo "$2 $1 $3" >>"$W/results"
}

for rep in $(seq "$REPS"); do
  # old, new, then new, old: a load that rises or falls through the run favours neither.
  order=(old new)
  ((rep % 2)) || order=(new old)
  for build in "${order[@]}"; do
    bin=$OLD
    [[ $build == new ]] && bin=$NEW
    d=$W/$build$rep
    B=$bin start_servers 2 "$d"
    export BENCHFS_REGISTRY=$d/reg LD_LIBRARY_PATH=$bin
    printf 'rep %s %-4s' "$rep" "$build"
    run "$d.mdtest" "$MD" -a BENCHFS -n "$N" -u -d /md
    while read -r what value; do
      record "$build" "$what" "$value"
    done < <(awk '/^ +File (creation|stat|removal)/ {print $2, $4}' "$d.mdtest")
    if [[ -n $IOR ]]; then
      for layout in fpp shared; do
        flags=()
        [[ $layout == fpp ]] && flags=(-F)
        run "$d.ior-$layout" "$IOR" -a BENCHFS -t 1m -b "$BLOCK" -w -r -C -e "${flags[@]}" -o "/ior-$layout"
        while read -r what value; do
          record "$build" "ior-$layout-$what" "$value"
        done < <(awk '/^Summary of all tests/ {s = 1} s && ($1 == "write" || $1 == "read") {print $1, $2}' "$d.ior-$layout")
      done
    fi
    unset BENCHFS_REGISTRY LD_LIBRARY_PATH
    echo
    stop_servers
  done
done

# Per metric (in the order first seen): min, median and max of each build, and new/old
# of the medians and of the maxima (on a machine shared with other work, the best run
# is often the steadier figure).
echo
awk '
  { v[$1, $2, ++n[$1, $2]] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++m] = $1 } }
  # stats(KEY): sorts the figures of KEY (metric SUBSEP build) and sets lo, med and hi.
  function stats(k,   c, i, j, t, a) {
    c = n[k]
    for (i = 1; i <= c; i++) a[i] = v[k, i]
    for (i = 2; i <= c; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    lo = a[1]; hi = a[c]
    med = c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
  }
  END {
    printf "%-18s %9s %9s %9s %9s %9s %9s %9s %9s\n", "metric", "old min", "old med", "old max",
      "new min", "new med", "new max", "new/old", "(max)"
    for (i = 1; i <= m; i++) {
      k = order[i]
      stats(k SUBSEP "old"); ol = lo; om = med; oh = hi
      stats(k SUBSEP "new")
      printf "%-18s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.3f %9.3f\n", k, ol, om, oh, lo, med, hi,
        om ? med / om : 0, oh ? hi / oh : 0
    }
  }' "$W/results"
