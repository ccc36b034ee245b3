#!/usr/bin/env bash
# One command that benchmarks every BenchFS access path side by side:
#
#   bench/run.sh [--quick] [bench.py options]      (bench/run.sh --help lists them)
#
# Builds the release binaries and the benchmark driver (bench/driver.rs), then runs
# bench/bench.py: native tmpfs, bindfs, BenchFS through the async client, the C API,
# the FUSE mount, and IOR/mdtest (-a BENCHFS, -a POSIX) when BENCHFS_IOR_BIN (and
# BENCHFS_MDTEST_BIN) point at an IOR built with ior_integration/. Writes
# results/bench-TIME.csv, docs/img/bench-*.png and the generated section of
# docs/benchmarks.md. Run as root so page caches can be dropped before reads.
#
# `bench/run.sh --report results/bench-TIME.csv` redoes the tables, plots and docs of a
# saved run without running anything.
#
# Environment: BENCHFS_BENCH_NO_BUILD=1 skips the build; BENCHFS_BENCH_DRIVER=PATH
# uses that driver binary.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "bench/run.sh: $*" >&2
  exit 1
}

command -v python3 >/dev/null || die "python3 is required"
for a in "$@"; do
  case $a in
    -h | --help) exec python3 bench/bench.py --help ;;
    --report | --report=*) exec python3 bench/bench.py "$@" ;; # report only: nothing to build
  esac
done

# shellcheck source=bench/lib/driver.sh
source bench/lib/driver.sh

if [[ ${BENCHFS_BENCH_NO_BUILD:-0} != 1 ]]; then
  command -v cargo >/dev/null || die "cargo is required (or set BENCHFS_BENCH_NO_BUILD=1)"
  echo "bench/run.sh: cargo build --release --workspace" >&2
  cargo build --quiet --release --workspace
fi
DRIVER=${BENCHFS_BENCH_DRIVER:-}
if [[ -z $DRIVER ]]; then
  if [[ ${BENCHFS_BENCH_NO_BUILD:-0} == 1 && -x target/release/driver ]]; then
    DRIVER=$PWD/target/release/driver
  else
    DRIVER=$(build_driver) || die "could not build the driver (bench/driver.rs)"
  fi
fi
[[ -x $DRIVER ]] || die "no driver binary at $DRIVER"

exec python3 bench/bench.py --driver "$DRIVER" --command "bench/run.sh $*" "$@"
