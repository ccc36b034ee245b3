#!/usr/bin/env bash
# FUSE vs native: the benchfs-fuse mount (against the same benchfsd servers for every
# variant) compared with native tmpfs and with bindfs (a passthrough FUSE file system over
# tmpfs: the cost of FUSE itself), in one run.
#
# Workloads (fio):
#   seqwrite  1 MiB sequential writes of one $SIZE file, fsync at the end   -> MiB/s
#   seqread   1 MiB sequential reads of that file (a fresh open)            -> MiB/s
#   create    $NFILES empty files created in one directory (filecreate)     -> creates/s
#   rand4k    4 jobs of O_DIRECT 4 KiB random reads, 5 s (many requests in flight: what
#             the session threads are for)                                  -> IOPS
# With RANDOM_MATRIX=1 also issue 14's matrix of 4 KiB random I/O, 5 s each, in IOPS:
#   rand{read,write}-{buf,dio}{1,4}: reads or writes, through the page cache or
#   --direct=1, 1 or 4 jobs.
# Each is run $RUNS times per target; the table shows min / median.
#
# Targets: native (tmpfs), bindfs (FUSE over tmpfs), benchfs-tN (the mount with N session
# threads, for each N in $THREADS_LIST), benchfs-dio (--direct-io, $DIO_THREADS threads).
# Servers: $SERVERS benchfsd on 127.0.0.1 with their data on tmpfs, started once.
#
# Usage (as root, or with /dev/fuse and fusermount3 usable):
#   benchfs-fuse/bench/fuse_vs_native.sh            # release build, defaults below
#   SIZE=1G RUNS=5 THREADS_LIST="1 2 4 8" benchfs-fuse/bench/fuse_vs_native.sh
# Output: a table on stdout and one JSON line per measurement in
# $RESULTS_DIR/fuse_vs_native-<timestamp>.jsonl (default results/ at the repository root).
set -euo pipefail

SIZE=${SIZE:-512M}
NFILES=${NFILES:-5000}
RUNS=${RUNS:-3}
SERVERS=${SERVERS:-3}
THREADS_LIST=${THREADS_LIST:-"1 2 4"}
DIO_THREADS=${DIO_THREADS:-2}
PROFILE=${PROFILE:-release}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RESULTS_DIR=${RESULTS_DIR:-$ROOT/results}

die() { echo "fuse_vs_native: $*" >&2; exit 1; }
command -v fio >/dev/null || die "fio is not installed (apt-get install fio)"
command -v python3 >/dev/null || die "python3 is needed to read fio's JSON"
if [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ]; then die "/dev/fuse is not usable here"; fi
HAVE_BINDFS=1
command -v bindfs >/dev/null || { HAVE_BINDFS=0; echo "note: bindfs not installed: the bindfs column is skipped" >&2; }

echo "building ($PROFILE) ..." >&2
if [ "$PROFILE" = release ]; then
    (cd "$ROOT" && cargo build --release --quiet --bin benchfsd -p benchfs -p benchfs-fuse --bin benchfs-fuse)
    BIN=$ROOT/target/release
else
    (cd "$ROOT" && cargo build --quiet --bin benchfsd -p benchfs -p benchfs-fuse --bin benchfs-fuse)
    BIN=$ROOT/target/debug
fi

WORK=$(mktemp -d /dev/shm/benchfs-bench.XXXXXX 2>/dev/null || mktemp -d)
MNTS=()
PIDS=()
cleanup() {
    set +e
    for m in "${MNTS[@]}"; do mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- servers, shared by every benchfs variant ---
ADDRS=()
for i in $(seq 1 "$SERVERS"); do
    mkdir -p "$WORK/srv$i"
    RUST_LOG=error "$BIN/benchfsd" --listen 127.0.0.1:0 --data-dir "$WORK/srv$i" >"$WORK/srv$i.out" &
    PIDS+=("$!")
    for _ in $(seq 100); do grep -qs 'listening on' "$WORK/srv$i.out" && break; sleep 0.05; done
    line=$(grep 'listening on' "$WORK/srv$i.out") || die "benchfsd $i did not start"
    ADDRS+=("${line#benchfsd listening on }")
done
SERVER_LIST=$(IFS=,; echo "${ADDRS[*]}")
echo "servers: $SERVER_LIST (data on $(df --output=fstype "$WORK" | tail -1))" >&2

mount_benchfs() { # target name, extra args... (returns once the mount is live)
    local name=$1 m=$WORK/mnt-$1; shift
    mkdir -p "$m"
    "$BIN/benchfs-fuse" "$m" --servers "$SERVER_LIST" "$@"
    MNTS+=("$m"); TARGETS+=("$name"); DIR[$name]=$m
}

TARGETS=()
declare -A DIR
mkdir -p "$WORK/native"; TARGETS+=(native); DIR[native]=$WORK/native
if [ $HAVE_BINDFS = 1 ]; then
    mkdir -p "$WORK/bindsrc" "$WORK/mnt-bindfs"
    bindfs "$WORK/bindsrc" "$WORK/mnt-bindfs"
    MNTS+=("$WORK/mnt-bindfs"); TARGETS+=(bindfs); DIR[bindfs]=$WORK/mnt-bindfs
fi
for t in $THREADS_LIST; do
    mount_benchfs "benchfs-t$t" --threads "$t"
done
mount_benchfs benchfs-dio --direct-io --threads "$DIO_THREADS"

mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/fuse_vs_native-$(date +%Y%m%dT%H%M%S).jsonl
HOST_INFO="$(nproc) cores, kernel $(uname -r)"

# fio_metric JSONFILE FIELD: FIELD is bw (MiB/s of the job's read or write side) or iops.
fio_metric() {
    python3 - "$1" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
side = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
print(f'{side["bw_bytes"] / 2**20:.1f}' if sys.argv[2] == "bw" else f'{side["iops"]:.0f}')
PY
}

run_fio() { # target, workload, run -> prints the metric
    local d=${DIR[$1]}/bench-$3 json=$WORK/fio.json
    mkdir -p "$d"
    case $2 in
        seqwrite) fio --name=seq --directory="$d" --filename=seq.bin --rw=write --bs=1M --size="$SIZE" \
                      --ioengine=psync --end_fsync=1 --output-format=json >"$json"; fio_metric "$json" bw ;;
        seqread)  fio --name=seq --directory="$d" --filename=seq.bin --rw=read --bs=1M --size="$SIZE" \
                      --ioengine=psync --output-format=json >"$json"; fio_metric "$json" bw ;;
        rand4k)   fio --name=rand --directory="$d" --rw=randread --bs=4k --size=64M --numjobs=4 --direct=1 \
                      --ioengine=psync --time_based --runtime=5 --group_reporting --output-format=json >"$json"
                  fio_metric "$json" iops ;;
        rand*-*)  local rw=${2%%-*} kind=${2#*-}
                  fio --name=rand --directory="$d" --rw="$rw" --bs=4k --size=64M --numjobs="${kind: -1}" \
                      --direct="$([ "${kind:0:3}" = dio ] && echo 1 || echo 0)" --ioengine=psync --time_based \
                      --runtime=5 --group_reporting --output-format=json >"$json"
                  fio_metric "$json" iops ;;
        create)   mkdir -p "$d/c"
                  fio --name=create --directory="$d/c" --ioengine=filecreate --nrfiles="$NFILES" --filesize=4k \
                      --openfiles=1 --output-format=json >"$json"; fio_metric "$json" iops ;;
    esac
}

# Runs are the outer loop, so a change in machine load hits every target alike.
WORKLOADS=(seqwrite seqread rand4k create)
if [ "${RANDOM_MATRIX:-0}" = 1 ]; then
    for rw in randread randwrite; do
        for kind in buf1 buf4 dio1 dio4; do WORKLOADS+=("$rw-$kind"); done
    done
fi
declare -A RES
for run in $(seq 1 "$RUNS"); do
    for target in "${TARGETS[@]}"; do
        for w in "${WORKLOADS[@]}"; do
            v=$(run_fio "$target" "$w" "$run")
            RES[$target/$w]="${RES[$target/$w]:-} $v"
            case $w in create) unit=creates/s ;; rand*) unit=IOPS ;; *) unit=MiB/s ;; esac
            printf '{"target":"%s","workload":"%s","run":%d,"value":%s,"unit":"%s","size":"%s","nfiles":%d,"servers":%d,"host":"%s"}\n' \
                "$target" "$w" "$run" "$v" "$unit" "$SIZE" "$NFILES" \
                "$SERVERS" "$HOST_INFO" >>"$OUT"
        done
        rm -rf "${DIR[$target]}/bench-$run"
    done
done

minmed() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {printf "%s / %s", a[1], a[int((NR+1)/2)]}'; }
echo
echo "FUSE vs native ($HOST_INFO; $SERVERS servers on tmpfs; size $SIZE; $NFILES files; min / median of $RUNS)"
printf '%-12s %20s %20s %20s %20s\n' target "seqwrite MiB/s" "seqread MiB/s" "rand4k x4 IOPS" "create files/s"
for target in "${TARGETS[@]}"; do
    printf '%-12s %20s %20s %20s %20s\n' "$target" \
        "$(echo "${RES[$target/seqwrite]}" | minmed)" \
        "$(echo "${RES[$target/seqread]}" | minmed)" \
        "$(echo "${RES[$target/rand4k]}" | minmed)" \
        "$(echo "${RES[$target/create]}" | minmed)"
done
if [ "${RANDOM_MATRIX:-0}" = 1 ]; then
    echo
    echo "4 KiB random I/O, IOPS, min / median (and median / bindfs's median)"
    for w in "${WORKLOADS[@]:4}"; do
        base=$(echo "${RES[bindfs/$w]:-}" | minmed | awk '{print $3}')
        for target in "${TARGETS[@]}"; do
            mm=$(echo "${RES[$target/$w]}" | minmed)
            ratio=$(awk -v m="${mm##* }" -v b="${base:-0}" 'BEGIN {if (b > 0) printf "%.2f", m / b; else print "n/a"}')
            printf '%-18s %-12s %24s  %s\n' "$w" "$target" "$mm" "$ratio"
        done
    done
fi
echo "raw results: $OUT"
