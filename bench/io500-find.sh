#!/usr/bin/env bash
# IO500's find phase for data kept in BenchFS (bench/io500.sh sets it as the
# `external-script` of the `-a BENCHFS` run: IO500's own pfind walks only POSIX paths).
# IO500 calls it as
#   io500-find.sh DATADIR -newer RESDIR/timestampfile -size 3901c -name "*01*"
# and reads the last line, "MATCHED <matches>/<entries examined>", which
# `benchfs find --count` prints. The cluster comes from BENCHFS_REGISTRY or
# BENCHFS_SERVERS, as for every BenchFS client; BENCHFS_BIN names the CLI.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: io500-find.sh DATADIR [-newer FILE] [-size Nc] [-name PATTERN]" >&2; exit 2; }
args=(find "$1" --count)
shift
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || { echo "io500-find.sh: $1 needs a value" >&2; exit 2; }
  case $1 in
    -newer) args+=(--newer "$2") ;;
    -size) args+=(--size "$2") ;;
    -name) args+=(--name "$2") ;;
    *) echo "io500-find.sh: unsupported test $1 (supported: -newer, -size, -name)" >&2; exit 2 ;;
  esac
  shift 2
done
exec "${BENCHFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/benchfs}" "${args[@]}"
