#!/usr/bin/env bash
# Runs a command on a BenchFS cluster started with mpirun, for sites without Slurm.
#
#   deploy/mpirun/benchfs-launch.sh --hostfile F [options] [-- COMMAND ARGS...]
#
# 1. starts one benchfsd per slot of the hostfile (or per host with --per-node) with
#    `mpirun`, each on node-local storage (LOCAL/benchfs-JOB/rankR) and a free port,
#    all registered in STATE/registry (STATE must be on a file system every host sees);
# 2. waits until every server is registered and `benchfs status` reaches all of them;
# 3. with --mount DIR, mounts benchfs-fuse on DIR on every host;
# 4. runs COMMAND here with BENCHFS_REGISTRY, BENCHFS_MOUNT, BENCHFS_HOSTFILE,
#    BENCHFS_BIN_DIR and BENCHFS_MPIRUN (the mpirun command line to reach the hosts)
#    set; default: IOR through the C API (-a BENCHFS) and, with --mount, IOR -a POSIX
#    on the mount (IOR from $BENCHFS_IOR_BIN or PATH; without IOR a put/get smoke test);
#    With BENCHFS_STAGE_IN="SRC:DST ..." set, `benchfs stage-in` copies those first (one
#    process per host, each a share; COMMAND does not run if it fails), and with
#    BENCHFS_STAGE_OUT, `benchfs stage-out` copies results out after COMMAND, also when
#    it failed or the launcher got SIGTERM/SIGINT (BENCHFS_STAGE_ARGS: extra arguments);
# 5. unmounts, stops the servers with SIGTERM and deletes their data, also when
#    anything above fails or the launcher is interrupted. Exits with COMMAND's status.
#
# A hostfile "localhost slots=3" gives three servers on this machine: each has its
# own port and data directory, and they listen on 127.0.0.1.
#
# Options:
#   --hostfile F      Open MPI hostfile (required)
#   --np N            number of servers (default: every slot; with --per-node, every host)
#   --per-node        one server per host, whatever the slots
#   --clients N       processes of the default IOR run (default: the number of servers)
#   --mount DIR       mount benchfs-fuse on DIR on every host
#   --fuse-args S     extra benchfs-fuse arguments, e.g. "--direct-io --threads 4"
#   --local DIR       node-local storage for the servers' data (default: /dev/shm,
#                     else $TMPDIR, else /tmp)
#   --state DIR       shared directory for the registry and logs
#                     (default: ./.benchfs-launch-PID; removed at the end unless --keep)
#   --bin DIR         benchfsd, benchfs, benchfs-fuse (default: $BENCHFS_BIN_DIR, else
#                     target/release, else target/debug of this checkout)
#   --iface IF        servers listen on this interface's IPv4 address
#   --port P          server port (default 0: a free port per server)
#   --threads T       benchfsd --threads
#   --mpirun-args S   extra mpirun arguments (one string, split on spaces)
#   --timeout S       seconds to wait for the cluster (default 120)
#   --keep            keep the state directory (registry, server logs)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHECKOUT=$(cd "$HERE/../.." && pwd)
# shellcheck source=deploy/lib/launch-common.sh source-path=SCRIPTDIR/../..
. "$HERE/../lib/launch-common.sh"

usage() {
  sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

HOSTFILE="" NP="" PER_NODE=0 CLIENTS="" MOUNT="" FUSE_ARGS="" LOCAL="" STATE="" BIN=""
IFACE="" PORT=0 THREADS="" MPIRUN_ARGS="" TIMEOUT=120 KEEP=0
while (($#)); do
  case $1 in
    --hostfile) HOSTFILE=$2 && shift ;;
    --np) NP=$2 && shift ;;
    --per-node) PER_NODE=1 ;;
    --clients) CLIENTS=$2 && shift ;;
    --mount) MOUNT=$2 && shift ;;
    --fuse-args) FUSE_ARGS=$2 && shift ;;
    --local) LOCAL=$2 && shift ;;
    --state) STATE=$2 && shift ;;
    --bin) BIN=$2 && shift ;;
    --iface) IFACE=$2 && shift ;;
    --port) PORT=$2 && shift ;;
    --threads) THREADS=$2 && shift ;;
    --mpirun-args) MPIRUN_ARGS=$2 && shift ;;
    --timeout) TIMEOUT=$2 && shift ;;
    --keep) KEEP=1 ;;
    -h | --help) usage ;;
    --) shift && break ;;
    *) bfs_log "unknown option $1" && usage ;;
  esac
  shift
done
CMD=("$@")

[[ -n $HOSTFILE ]] || bfs_die "--hostfile is required (e.g. a file with the line 'localhost slots=2')"
[[ -r $HOSTFILE ]] || bfs_die "cannot read hostfile $HOSTFILE"
HOSTFILE=$(cd "$(dirname "$HOSTFILE")" && pwd)/$(basename "$HOSTFILE")
command -v mpirun >/dev/null || bfs_die "mpirun not found (install Open MPI: apt-get install openmpi-bin)"
BIN=${BIN:-$(bfs_find_bin "$CHECKOUT")}
BIN=$(cd "$BIN" 2>/dev/null && pwd) || bfs_die "no such directory: $BIN"
[[ -x $BIN/benchfsd && -x $BIN/benchfs ]] || bfs_die "no benchfsd/benchfs in $BIN: cargo build --release first"
if [[ -n $MOUNT ]]; then
  [[ -x $BIN/benchfs-fuse ]] || bfs_die "--mount needs $BIN/benchfs-fuse (cargo build --release --workspace)"
  command -v fusermount3 >/dev/null || bfs_die "--mount needs fusermount3 (apt-get install fuse3)"
fi
if [[ -z $LOCAL ]]; then
  if [[ -d /dev/shm && -w /dev/shm ]]; then LOCAL=/dev/shm; else LOCAL=${TMPDIR:-/tmp}; fi
fi

# Hosts and slots of the hostfile (comments and blank lines skipped; slots default 1).
mapfile -t HOSTS < <(sed -e 's/#.*//' "$HOSTFILE" | awk 'NF {print $1}')
((${#HOSTS[@]})) || bfs_die "hostfile $HOSTFILE names no host"
SLOTS=$(sed -e 's/#.*//' "$HOSTFILE" | awk 'NF {s = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) {sub("slots=", "", $i); s = $i}; t += s} END {print t}')
if ((PER_NODE)); then NP=${NP:-${#HOSTS[@]}}; else NP=${NP:-$SLOTS}; fi
if ! [[ $NP =~ ^[0-9]+$ ]] || ((NP == 0)); then
  bfs_die "--np must be a positive number"
fi
CLIENTS=${CLIENTS:-$NP}

# Every host is this machine: listen on loopback, the only address sure to work.
HOST_ARGS=()
if [[ -n $IFACE ]]; then
  HOST_ARGS=(--iface "$IFACE")
elif ! printf '%s\n' "${HOSTS[@]}" | grep -qvE '^(localhost|127\.[0-9.]+|::1)$'; then
  HOST_ARGS=(--host 127.0.0.1)
fi

JOB="mpi-$(hostname -s 2>/dev/null || hostname)-$$"
STATE=${STATE:-$PWD/.benchfs-launch-$$}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
[[ -z $(ls -A "$STATE") ]] || bfs_die "state directory $STATE is not empty"

MPIRUN=(mpirun --hostfile "$HOSTFILE")
if [[ $(id -u) -eq 0 ]]; then
  MPIRUN+=(--allow-run-as-root --oversubscribe)
fi
# shellcheck disable=SC2206 # a list of words
[[ -n $MPIRUN_ARGS ]] && MPIRUN+=($MPIRUN_ARGS)
SERVER_MAP=(-np "$NP")
((PER_NODE)) && SERVER_MAP+=(--map-by ppr:1:node)
NODE_ARGS=(--state "$STATE" --local "$LOCAL" --job "$JOB" --bin "$BIN" --expect "$NP" --port "$PORT")
[[ -n $THREADS ]] && NODE_ARGS+=(--threads "$THREADS")
[[ -n $MOUNT ]] && NODE_ARGS+=(--mount "$MOUNT" --fuse-args "$FUSE_ARGS")

STEP_PID="" CMD_PID="" UP=0
RC=0
# One copying process per host, each with its share of the files and ranges.
stage() { bfs_stage "$1" "$2" "${MPIRUN[@]}" -x BENCHFS_REGISTRY -np "${#HOSTS[@]}" --map-by ppr:1:node; }
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  ((RC == 0)) && RC=$rc
  if [[ -n $CMD_PID ]] && kill -0 "$CMD_PID" 2>/dev/null; then
    bfs_log "stopping the command (pid $CMD_PID)"
    kill -TERM "$CMD_PID" 2>/dev/null || true
    wait "$CMD_PID" 2>/dev/null || true
  fi
  if [[ -n ${BENCHFS_STAGE_OUT:-} && $UP == 1 ]]; then
    stage stage-out "$BENCHFS_STAGE_OUT" || { bfs_log "stage-out failed"; ((RC)) || RC=1; }
  fi
  if [[ -n $STEP_PID ]]; then
    bfs_log "stopping the servers"
    bfs_stop "$STATE" "$STEP_PID" || { bfs_log "the server step ended with an error; see $STATE/servers.log"; ((RC)) || RC=1; }
  fi
  # Last resort on every host: a mount, server or data directory a crashed agent left.
  "${MPIRUN[@]}" -np "${#HOSTS[@]}" --map-by ppr:1:node \
    bash "$CHECKOUT/deploy/lib/benchfs-node.sh" sweep --state "$STATE" --local "$LOCAL" --job "$JOB" \
    ${MOUNT:+--mount "$MOUNT"} >>"$STATE/servers.log" 2>&1 || bfs_log "the sweep step failed; check $LOCAL/benchfs-$JOB on each host"
  if ((KEEP)); then
    bfs_log "state kept in $STATE"
  else
    rm -rf "$STATE"
  fi
  exit "$RC"
}
trap cleanup EXIT
trap 'RC=130; exit 130' INT
trap 'RC=143; exit 143' TERM HUP

bfs_log "starting $NP servers with mpirun (hosts: ${HOSTS[*]}; data on $LOCAL; registry $STATE/registry)"
"${MPIRUN[@]}" "${SERVER_MAP[@]}" bash "$CHECKOUT/deploy/lib/benchfs-node.sh" serve "${NODE_ARGS[@]}" "${HOST_ARGS[@]}" \
  >"$STATE/servers.log" 2>&1 </dev/null &
STEP_PID=$!
bfs_wait_ready "$STATE" "$NP" "$STEP_PID" "$BIN" "$TIMEOUT" || bfs_die "the cluster did not come up"
bfs_log "cluster up: $NP servers${MOUNT:+, mounted on $MOUNT on every host}"

export BENCHFS_REGISTRY=$STATE/registry BENCHFS_MOUNT=$MOUNT BENCHFS_HOSTFILE=$HOSTFILE BENCHFS_BIN_DIR=$BIN
BENCHFS_MPIRUN="${MPIRUN[*]}"
export BENCHFS_MPIRUN
UP=1
if [[ -n ${BENCHFS_STAGE_IN:-} ]]; then
  stage stage-in "$BENCHFS_STAGE_IN" || { UP=0 RC=1 && bfs_die "stage-in failed: not running the command (nor stage-out)"; }
fi

# IOR through the C API and, with --mount, through FUSE. Every status is checked by
# hand, so one failed run does not hide the other.
default_workload() {
  local ior rc=0
  ior=$(bfs_ior)
  if [[ -z $ior ]]; then
    bfs_log "no IOR (set BENCHFS_IOR_BIN or put ior on PATH): running a smoke test instead"
    bfs_smoke "$BIN" "$BENCHFS_REGISTRY"
    return
  fi
  local common=(-w -r -e -C -t 1m -b 64m -i 1 -F)
  if bfs_ior_has_benchfs "$ior"; then
    bfs_log "IOR through the C API: $ior -a BENCHFS, $CLIENTS processes"
    "${MPIRUN[@]}" -np "$CLIENTS" "$ior" -a BENCHFS --benchfs.registry="$BENCHFS_REGISTRY" "${common[@]}" \
      -o /ior.benchfs || rc=$?
  else
    bfs_log "$ior was built without the BENCHFS backend (see ior_integration/): skipping -a BENCHFS"
  fi
  if [[ -n $MOUNT ]]; then
    bfs_log "IOR through the FUSE mount: $ior -a POSIX -o $MOUNT/ior.posix, $CLIENTS processes"
    "${MPIRUN[@]}" -np "$CLIENTS" "$ior" -a POSIX "${common[@]}" -o "$MOUNT/ior.posix" || rc=$?
  fi
  return "$rc"
}

# In the background, with `wait`: a signal runs the trap at once, not after the command.
if ((${#CMD[@]})); then
  bfs_log "running: ${CMD[*]}"
  "${CMD[@]}" <&0 &
else
  default_workload &
fi
CMD_PID=$!
wait "$CMD_PID" || RC=$?
CMD_PID=""
bfs_log "command exited with status $RC"
exit "$RC"
