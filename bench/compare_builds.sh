#!/usr/bin/env bash
# mdtest through the C API against two builds of BenchFS, alternating, in one run: each
# build's own benchfsd (2 servers on /dev/shm) and its own libbenchfs.so, the same mdtest.
# For "before and after" figures of a protocol or server change:
#
#   git worktree add --detach /tmp/old REV && (cd /tmp/old && cargo build --release --lib --bin benchfsd)
#   BENCHFS_MDTEST_BIN=/path/to/mdtest bench/compare_builds.sh /tmp/old/target/release target/release [FILES] [REPS]
#
# mdtest must be built with ior_integration/install-into-ior.sh (it finds libbenchfs.so
# through LD_LIBRARY_PATH, which this script sets per build). Prints, per repetition and
# build, mdtest's creation, stat and removal rates (-n FILES -u, 2 ranks).
set -euo pipefail
MD=${BENCHFS_MDTEST_BIN:?set BENCHFS_MDTEST_BIN to an mdtest built with the BENCHFS backend}
OLD=$(realpath "${1:?usage: compare_builds.sh OLD_RELEASE_DIR NEW_RELEASE_DIR [FILES] [REPS]}")
NEW=$(realpath "${2:?usage: compare_builds.sh OLD_RELEASE_DIR NEW_RELEASE_DIR [FILES] [REPS]}")
N=${3:-2000}
REPS=${4:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=$(mktemp -d /dev/shm/compare-builds.XXXXXX)
pids=()
stop() {
  if ((${#pids[@]})); then kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; fi
  pids=()
}
trap 'stop; rm -rf "$W"' EXIT
for rep in $(seq "$REPS"); do
  for build in old new; do
    bin=$OLD
    [[ $build == new ]] && bin=$NEW
    d=$W/$build$rep
    for i in 0 1; do
      "$bin/benchfsd" --listen 127.0.0.1:0 --data-dir "$d/s$i" --registry "$d/reg" >/dev/null 2>"$d.log$i" &
      pids+=($!)
    done
    sleep 1
    printf 'rep %s %-4s' "$rep" "$build"
    BENCHFS_REGISTRY=$d/reg LD_LIBRARY_PATH=$bin mpirun -np 2 --oversubscribe --bind-to none \
      "$MD" -a BENCHFS -n "$N" -u -d /md 2>&1 |
      grep -E "^ +File (creation|stat|removal)" | awk '{printf "  %s %8.0f", $2, $4}'
    echo
    stop
  done
done
