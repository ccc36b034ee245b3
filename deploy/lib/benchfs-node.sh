#!/usr/bin/env bash
# The per-node agent of the BenchFS launchers (deploy/slurm/benchfs.sbatch,
# deploy/mpirun/benchfs-launch.sh). `srun` or `mpirun` starts one copy per server.
#
#   benchfs-node.sh serve --state DIR --local DIR --job ID [options]
#   benchfs-node.sh sweep --state DIR --local DIR --job ID [--mount DIR]
#
# serve: starts one benchfsd on node-local storage (LOCAL/benchfs-JOB/rankR, so
# several servers on one host never share a data directory), registers it in
# STATE/registry; the first server of each host (local rank 0) then waits for the
# whole cluster and, with --mount, mounts benchfs-fuse there. It reports readiness
# with STATE/ready/RANK and keeps running until STATE/stop appears or it gets
# SIGTERM/SIGINT/SIGHUP; then it unmounts, stops benchfsd with SIGTERM (SIGKILL
# after 20 s) and deletes its data. It exits non-zero if benchfsd dies on its own.
#
# sweep: the last resort after a crash: unmounts a leftover mount, stops servers
# this job left on this host (by the pids they recorded) and deletes LOCAL/benchfs-JOB.
#
# Options:
#   --bin DIR       benchfsd, benchfs and benchfs-fuse (default: on PATH)
#   --expect N      servers in the cluster (benchfsd --expect N; serve waits for N before mounting)
#   --host IP       address to listen on (default: --iface's, else `hostname -I`'s first)
#   --iface IF      take the listening address from this interface
#   --port P        port (default 0: a free one; the registry carries the real one)
#   --threads T     benchfsd --threads
#   --mount DIR     mount benchfs-fuse on DIR on every host
#   --fuse-args S   extra benchfs-fuse arguments (one string, split on spaces)
# The rank comes from SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMIX_RANK or PMI_RANK;
# the local rank from SLURM_LOCALID or OMPI_COMM_WORLD_LOCAL_RANK.
set -euo pipefail

log() { echo "benchfs-node[$(hostname -s 2>/dev/null || hostname):${RANK:-?}]: $*" >&2; }
die() {
  log "$*"
  exit 1
}

MODE=${1:-}
[[ $MODE == serve || $MODE == sweep ]] || die "usage: $0 serve|sweep --state DIR --local DIR --job ID [options]"
shift
STATE="" LOCAL="" JOB="" BIN="" EXPECT=1 HOST="" IFACE="" PORT=0 THREADS="" MOUNT="" FUSE_ARGS=""
while (($#)); do
  case $1 in
    --state) STATE=$2 ;;
    --local) LOCAL=$2 ;;
    --job) JOB=$2 ;;
    --bin) BIN=$2 ;;
    --expect) EXPECT=$2 ;;
    --host) HOST=$2 ;;
    --iface) IFACE=$2 ;;
    --port) PORT=$2 ;;
    --threads) THREADS=$2 ;;
    --mount) MOUNT=$2 ;;
    --fuse-args) FUSE_ARGS=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
[[ -n $STATE && -n $LOCAL && -n $JOB ]] || die "--state, --local and --job are required"

RANK=${SLURM_PROCID:-${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${PMI_RANK:-0}}}}
LOCAL_RANK=${SLURM_LOCALID:-${OMPI_COMM_WORLD_LOCAL_RANK:-0}}
NODE_DIR=$LOCAL/benchfs-$JOB
DATA=$NODE_DIR/rank$RANK
REGISTRY=$STATE/registry
exe() { if [[ -n $BIN ]]; then echo "$BIN/$1"; else command -v "$1" || echo "$1"; fi; }

unmount() {
  local m=$1 i
  mountpoint -q "$m" 2>/dev/null || return 0
  for ((i = 0; i < 20; i++)); do
    fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || true
    mountpoint -q "$m" 2>/dev/null || return 0
    sleep 0.5
  done
  log "$m is busy; detaching it lazily"
  fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
}

# shellcheck disable=SC2317 # called from cleanup, which runs from the EXIT trap
# Stops one benchfsd by pid: SIGTERM (a clean stop), SIGKILL after 20 s. Returns its status.
stop_server() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "benchfsd $pid ignored SIGTERM for 20 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null
}

if [[ $MODE == sweep ]]; then
  [[ -n $MOUNT ]] && unmount "$MOUNT"
  for pidfile in "$NODE_DIR"/rank*.pid; do
    [[ -f $pidfile ]] || continue
    pid=$(<"$pidfile")
    # Only a benchfsd of this job: its command line names this job's data directory.
    if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-dir $NODE_DIR/"; then
      log "stopping leftover benchfsd $pid"
      kill -TERM "$pid" 2>/dev/null || true
      sleep 2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$NODE_DIR"
  exit 0
fi

if [[ -z $HOST && -n $IFACE ]]; then
  HOST=$(ip -4 -o addr show dev "$IFACE" 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
  [[ -n $HOST ]] || die "interface $IFACE has no IPv4 address"
fi
if [[ -z $HOST ]]; then
  HOST=$(hostname -I 2>/dev/null | awk '{print $1}')
  [[ -n $HOST ]] || HOST=$(hostname -i | awk '{print $1}')
fi

SERVER_PID="" MOUNTED=0 STOPPING=0
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
  local rc=$? status=0
  ((STOPPING)) && return
  STOPPING=1
  trap - EXIT INT TERM HUP
  rm -f "$STATE/ready/$RANK"
  if ((MOUNTED)); then
    unmount "$MOUNT"
  fi
  if [[ -n $SERVER_PID ]]; then
    stop_server "$SERVER_PID" || status=$?
    if ((status != 0)); then
      log "benchfsd exited with status $status; its log ($NODE_DIR/rank$RANK.log):"
      tail -n 20 "$NODE_DIR/rank$RANK.log" >&2 || true
      ((rc == 0)) && rc=$status
    fi
  fi
  rm -rf "$DATA" "$NODE_DIR/rank$RANK.pid"
  # The last agent on this host removes the job's directory (logs included: they
  # were copied to the shared state directory below).
  if [[ -f $NODE_DIR/rank$RANK.log ]]; then
    if mkdir -p "$STATE/logs"; then
      cp "$NODE_DIR/rank$RANK.log" "$STATE/logs/rank$RANK.log" 2>/dev/null || true
    fi
    rm -f "$NODE_DIR/rank$RANK.log" "$NODE_DIR/rank$RANK.out"
  fi
  rmdir "$NODE_DIR" 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

mkdir -p "$DATA" "$STATE/ready" "$REGISTRY"
# --expect: the ring forms only once all EXPECT servers registered, whoever asks first.
args=(--listen "$HOST:$PORT" --data-dir "$DATA" --registry "$REGISTRY" --expect "$EXPECT")
[[ -n $THREADS ]] && args+=(--threads "$THREADS")
RUST_LOG=${RUST_LOG:-info} "$(exe benchfsd)" "${args[@]}" >"$NODE_DIR/rank$RANK.out" 2>"$NODE_DIR/rank$RANK.log" </dev/null &
SERVER_PID=$!
echo "$SERVER_PID" >"$NODE_DIR/rank$RANK.pid"

for ((i = 0; ; i++)); do
  if grep -q '^benchfsd listening on ' "$NODE_DIR/rank$RANK.out" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    SERVER_PID=""
    log "benchfsd failed to start; its log:"
    cat "$NODE_DIR/rank$RANK.log" >&2 || true
    exit 1
  fi
  ((i < 600)) || die "benchfsd did not start within 60 s"
  sleep 0.1
done
ADDR=$(sed -n 's/^benchfsd listening on //p' "$NODE_DIR/rank$RANK.out")
log "benchfsd $SERVER_PID serving $ADDR from $DATA"

count_registered() { find "$REGISTRY" -maxdepth 1 -name 'server-*' 2>/dev/null | wc -l; }

if [[ -n $MOUNT && $LOCAL_RANK == 0 ]]; then
  # The mount joins the whole cluster, so wait until every server registered.
  for ((i = 0; $(count_registered) < EXPECT; i++)); do
    ((i < 1200)) || die "only $(count_registered) of $EXPECT servers registered after 120 s"
    kill -0 "$SERVER_PID" 2>/dev/null || die "benchfsd exited"
    [[ -e $STATE/stop ]] && exit 0
    sleep 0.1
  done
  mkdir -p "$MOUNT"
  mountpoint -q "$MOUNT" && die "$MOUNT is already a mount point"
  # benchfs-fuse returns once the mount is live and keeps serving in the background.
  # shellcheck disable=SC2086 # FUSE_ARGS is a list of words
  "$(exe benchfs-fuse)" --registry "$REGISTRY" $FUSE_ARGS "$MOUNT" ||
    die "benchfs-fuse could not mount $MOUNT"
  MOUNTED=1
  log "mounted BenchFS on $MOUNT"
fi
echo "$ADDR" >"$STATE/ready/$RANK"

# Serve until told to stop; a server that dies on its own is an error.
while [[ ! -e $STATE/stop ]]; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" && st=0 || st=$?
    SERVER_PID=""
    log "benchfsd exited on its own (status $st); its log:"
    tail -n 20 "$NODE_DIR/rank$RANK.log" >&2 || true
    exit 1
  fi
  sleep 0.2
done
exit 0
