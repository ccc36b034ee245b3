#!/usr/bin/env bash
# Many benchfsd on this machine: start-up, memory and descriptors per server and per
# connection, creates, readdir, status and placement balance per server count.
#
#   bench/scale.sh [--servers 1,4,16,64] [--clients 64] [--files 10000] [--big-mib 1024] [--reps 3]
#   bench/scale.sh --report results/scale-TIME.csv     (redo tables, plot and docs of a run)
#
# Every count is a parameter, so the same command runs on a bigger node (e.g.
# --servers 1,4,16,64,256 --clients 256 --files 100000 --big-mib 4096). Builds the release
# binaries and the driver (bench/run.sh's), then runs bench/scale.py, which writes
# results/scale-TIME.csv, docs/img/scale.png and the generated part of docs/scaling.md.
# BENCHFS_BENCH_NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "bench/scale.sh: python3 is required" >&2; exit 1; }
for a in "$@"; do
  case $a in
    -h | --help | --report | --report=*) exec python3 bench/scale.py "$@" ;; # nothing to build
  esac
done
# shellcheck source=bench/lib/driver.sh
source bench/lib/driver.sh
if [[ ${BENCHFS_BENCH_NO_BUILD:-0} != 1 ]]; then
  cargo build --quiet --release --bin benchfsd --bin benchfs
fi
DRIVER=$(build_driver) || { echo "bench/scale.sh: could not build the driver (bench/driver.rs)" >&2; exit 1; }
exec python3 bench/scale.py --driver "$DRIVER" --command "bench/scale.sh $*" "$@"
