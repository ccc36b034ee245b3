#!/usr/bin/env bash
# IO500 on BenchFS: through the C API (`api = BENCHFS`) and through the FUSE mount
# (`api = POSIX` on benchfs-fuse), with tmpfs and bindfs (a passthrough FUSE over
# tmpfs) beside them, all on this machine.
#
#   BENCHFS_IO500_DIR=/path/to/io500 bench/io500.sh [--config quick|standard]
#       [--np N] [--servers N] [--targets benchfs,fuse,tmpfs,bindfs]
#
# BENCHFS_IO500_DIR is an IO500 checkout you built with our backend (as for IOR, the
# project never downloads or builds IO500):
#   cd $BENCHFS_IO500_DIR && ./prepare.sh                    # once: fetches and builds IOR, pfind
#   ior_integration/install-into-ior.sh $BENCHFS_IO500_DIR   # adds -a BENCHFS to its build/ior
#   PKG_CONFIG_PATH=$PWD/target/release/pkgconfig IOR_EXTRA_CONFIGURE_FLAGS=--with-benchfs ./prepare.sh
#
# --config quick (default) shrinks every phase (1 MiB transfers, 64 MiB per rank for
# ior-easy, 5,000 files per rank for mdtest-easy, 5 s stonewall) so that four targets
# finish in minutes on 2 cores; its scores are not valid IO500 submissions.
# --config standard is IO500's own configuration (300 s stonewall, sizes as shipped):
# the one for a cluster, where servers and ranks run on many nodes (deploy/ starts
# the servers; point BENCHFS_REGISTRY at them and use --servers 0).
#
# The find phase: IO500's pfind reads directories with POSIX calls, so the FUSE,
# tmpfs and bindfs runs use it as shipped; the BENCHFS run uses bench/io500-find.sh
# (`benchfs find`, a parallel walk through the client) as IO500's external find.
#
# Prints the score and every phase per target, and writes them to
# results/io500-TIME.md; IO500's own outputs stay in results/io500-TIME/TARGET/.
# Environment: BENCHFS_BENCH_NO_BUILD=1 skips `cargo build`; MPIRUN (default mpirun)
# and MPIRUN_ARGS add to the launch; BENCHFS_REGISTRY with --servers 0 uses a running
# cluster instead of starting servers here.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

die() {
  echo "bench/io500.sh: $*" >&2
  exit 1
}

config=quick np=2 nservers=4 targets=benchfs,fuse,tmpfs,bindfs
while [[ $# -gt 0 ]]; do
  case $1 in
    --config) config=$2 ;;
    --np) np=$2 ;;
    --servers) nservers=$2 ;;
    --targets) targets=$2 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument $1 (--help lists them)" ;;
  esac
  shift 2 || die "$1 needs a value"
done
[[ $config == quick || $config == standard ]] || die "--config is quick or standard"

io500_dir=${BENCHFS_IO500_DIR:-}
[[ -n $io500_dir ]] || die "set BENCHFS_IO500_DIR to an IO500 checkout built with the BenchFS backend (see --help)"
[[ -x $io500_dir/io500 ]] || die "$io500_dir/io500 is not built (run its prepare.sh; see --help)"
if [[ ,$targets, == *,benchfs,* ]] && ! grep -q BENCHFS "$io500_dir/build/ior/src/aiori.c" 2>/dev/null; then
  die "$io500_dir/build/ior has no BENCHFS backend: run ior_integration/install-into-ior.sh $io500_dir and rebuild"
fi
command -v "${MPIRUN:-mpirun}" >/dev/null || die "${MPIRUN:-mpirun} is required"
mpi_args=(-np "$np")
[[ $(id -u) == 0 ]] && mpi_args+=(--allow-run-as-root)
"${MPIRUN:-mpirun}" --help 2>&1 | grep -q oversubscribe && mpi_args+=(--oversubscribe)
# shellcheck disable=SC2206 # MPIRUN_ARGS is a list of words by design
mpi_args+=(${MPIRUN_ARGS:-})

if [[ ${BENCHFS_BENCH_NO_BUILD:-0} != 1 ]]; then
  cargo build --quiet --release --workspace
fi
bin=$repo/target/release

stamp=$(date +%Y%m%d-%H%M%S)
out=$repo/results/io500-$stamp
mkdir -p "$out"
base=/tmp
[[ -d /dev/shm ]] && base=/dev/shm
work=$(mktemp -d "$base/benchfs-io500.XXXXXX")
pids=()
mounts=()
cleanup() {
  local m p
  for m in ${mounts[@]+"${mounts[@]}"}; do
    fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
  done
  for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
  for p in ${pids[@]+"${pids[@]}"}; do wait "$p" 2>/dev/null || true; done
  # The servers' logs go with the results: a failed phase is often explained there.
  for p in "$work"/s*.log; do if [[ -s $p ]]; then cp "$p" "$out/server-$(basename "$p")"; fi; done
  rm -rf "$work"
}
trap cleanup EXIT

# --- the servers --------------------------------------------------------------
if [[ $nservers -gt 0 ]]; then
  export BENCHFS_REGISTRY=$work/registry
  unset BENCHFS_SERVERS
  for i in $(seq 1 "$nservers"); do
    RUST_LOG=warn "$bin/benchfsd" --listen 127.0.0.1:0 --data-dir "$work/s$i" --registry "$BENCHFS_REGISTRY" \
      >"$work/s$i.out" 2>"$work/s$i.log" </dev/null &
    pids+=($!)
  done
  for i in $(seq 1 "$nservers"); do
    for _ in $(seq 1 600); do
      grep -q "^benchfsd listening on " "$work/s$i.out" 2>/dev/null && break
      kill -0 "${pids[$((i - 1))]}" 2>/dev/null || die "benchfsd $i exited: $(cat "$work/s$i.log")"
      sleep 0.1
    done
  done
fi
[[ -n ${BENCHFS_REGISTRY:-} ]] || die "no cluster: --servers 0 needs BENCHFS_REGISTRY"
"$bin/benchfs" status >"$out/status.txt" || die "benchfs status failed: $(cat "$out/status.txt")"

# --- one IO500 configuration per target -----------------------------------------
# write_config TARGET DATADIR API [FIND_SCRIPT]
write_config() {
  local ini=$work/$1.ini
  cat >"$ini" <<EOF
[global]
datadir = $2
timestamp-datadir = FALSE
resultdir = $out/$1
timestamp-resultdir = FALSE
api = $3
drop-caches = FALSE
verbosity = 1
EOF
  if [[ $config == quick ]]; then
    cat >>"$ini" <<EOF
[debug]
stonewall-time = 5
[ior-easy]
transferSize = 1m
blockSize = 64m
[mdtest-easy]
n = 5000
[ior-hard]
segmentCount = 2000
[mdtest-hard]
n = 2000
EOF
  fi
  if [[ -n ${4:-} ]]; then
    printf '[find]\nexternal-script = %s\n' "$4" >>"$ini"
  fi
  echo "$ini"
}

run_target() {
  local t=$1 ini
  case $t in
    benchfs)
      ini=$(write_config benchfs /io500 "BENCHFS --benchfs.registry=$BENCHFS_REGISTRY" "$repo/bench/io500-find.sh")
      ;;
    fuse)
      mkdir -p "$work/mnt-fuse"
      "$bin/benchfs-fuse" --registry "$BENCHFS_REGISTRY" "$work/mnt-fuse" || die "benchfs-fuse could not mount"
      mounts+=("$work/mnt-fuse")
      ini=$(write_config fuse "$work/mnt-fuse/io500-fuse" POSIX)
      ;;
    tmpfs)
      ini=$(write_config tmpfs "$work/tmpfs/io500" POSIX)
      ;;
    bindfs)
      command -v bindfs >/dev/null || die "bindfs is not installed (apt-get install bindfs)"
      mkdir -p "$work/bindfs-src" "$work/mnt-bindfs"
      bindfs "$work/bindfs-src" "$work/mnt-bindfs" || die "bindfs could not mount"
      mounts+=("$work/mnt-bindfs")
      ini=$(write_config bindfs "$work/mnt-bindfs/io500" POSIX)
      ;;
    *) die "unknown target $t (benchfs, fuse, tmpfs, bindfs)" ;;
  esac
  mkdir -p "$out/$t"
  echo "bench/io500.sh: $t ($config configuration, $np ranks)" >&2
  # IO500's exit status says nothing about validity; its [SCORE] line does.
  "${MPIRUN:-mpirun}" "${mpi_args[@]}" -x BENCHFS_REGISTRY "$io500_dir/io500" "$ini" >"$out/$t.txt" 2>&1 ||
    echo "bench/io500.sh: $t: io500 exited with $? (see $out/$t.txt)" >&2
}

IFS=, read -r -a list <<<"$targets"
for t in "${list[@]}"; do run_target "$t"; done

# --- the table -------------------------------------------------------------------
# IO500 prints "[RESULT]  PHASE  VALUE UNIT : time T seconds [INVALID]" per phase and
# "[SCORE ] Bandwidth B GiB/s : IOPS I kiops : TOTAL S [INVALID]".
{
  echo "IO500 ($config configuration), $np ranks, $nservers BenchFS servers, $(nproc) cores, $(date '+%Y-%m-%d %H:%M')."
  echo
  printf '| phase |'
  for t in "${list[@]}"; do printf ' %s |' "$t"; done
  printf '\n|---|'
  for _ in "${list[@]}"; do printf -- '---:|'; done
  echo
  phases=$(awk '/^\[RESULT\]/ {print $2}' "$out/${list[0]}.txt" 2>/dev/null || true)
  for p in $phases; do
    printf '| %s |' "$p"
    for t in "${list[@]}"; do
      awk -v p="$p" '$1 == "[RESULT]" && $2 == p {v = $3 " " $4; if (/INVALID/) v = v " (invalid)"} END {printf " %s |", v}' "$out/$t.txt"
    done
    echo
  done
  for f in Bandwidth IOPS TOTAL; do
    printf '| score: %s |' "$f"
    for t in "${list[@]}"; do
      awk -v f="$f" '/^\[SCORE/ {for (i = 1; i <= NF; i++) if ($i == f) v = $(i + 1) (f == "TOTAL" ? "" : " " $(i + 2))} END {printf " %s |", v}' "$out/$t.txt"
    done
    echo
  done
} | tee "$out.md"
echo "bench/io500.sh: outputs in $out/, table in $out.md" >&2
